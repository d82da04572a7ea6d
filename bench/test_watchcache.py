"""A LIST body of 10,000 pods: encoding the list object against assembling cached item bytes.

`negotiated` is what the list handler did before the watch cache (and still does when
storage serves the list): build the `PodList` dict and encode it whole with
`negotiation.encode`. `cached` is `watchcache.encode_list` over a warm cache: the items'
JSON or protobuf bytes were made once and the body is their concatenation. Both produce the
same bytes (asserted). The pods are bench.api_load's (a Deployment's pod), not the 61 KB
golden fuzzer fixture. Run with

    .venv/bin/pytest bench/test_watchcache.py --benchmark-only -q
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench.api_load import pod
from kube.api.meta import list_object
from kube.api.resources import REGISTRY
from kube.apiserver import negotiation
from kube.apiserver.store import ObjectStore, Page
from kube.apiserver.strategies import strategy_for
from kube.apiserver.watchcache import Reflector, WatchCache, encode_list
from kube.storage.sqlite import SQLiteBackend

PODS = 10_000
FORMATS = {"json": negotiation.JSON, "protobuf": negotiation.PROTOBUF}


def _filled() -> tuple[WatchCache, Page]:
    """A pods cache over a SQLite store of PODS pods, and a LIST page served by it."""

    async def fill(root: Path) -> tuple[WatchCache, Page]:
        backend = SQLiteBackend(root / "state.db")
        await backend.start()
        row = REGISTRY.get("", "v1", "pods")
        assert row is not None
        store = ObjectStore(backend, row, strategy_for("Pod", True, group="", version="v1"))
        for i in range(PODS):
            obj = pod(f"pod-{i:06d}", "bench")
            await backend.create(row.key("bench", obj["metadata"]["name"]), store.encode(obj))
        reflector = Reflector(backend)
        cache = store.cache = WatchCache(reflector, row, store.decode)
        page = await store.list("bench", shared=True)
        await reflector.close()
        await backend.close()
        return cache, page

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(fill(Path(tmp)))


@pytest.fixture(scope="module")
def filled() -> tuple[WatchCache, Page]:
    return _filled()


def _negotiated(media: str, page: Page) -> bytes:
    items = [dict(o) for o in page.items]
    for obj in items:
        obj.pop("apiVersion", None)
        obj.pop("kind", None)
    body = list_object("v1", "PodList", items, str(page.resource_version))
    return negotiation.encode(negotiation.Output(media), body)


@pytest.mark.parametrize("path", ["negotiated", "cached"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_list_body(benchmark: Any, filled: tuple[WatchCache, Page], fmt: str, path: str) -> None:
    cache, page = filled
    media = FORMATS[fmt]
    benchmark.group = f"LIST body of {PODS} pods, {fmt}"
    want = _negotiated(media, page)
    if path == "negotiated":
        assert benchmark(_negotiated, media, page) == want
    else:
        assert encode_list(cache, media, page) == want  # warms the item bytes
        assert benchmark(encode_list, cache, media, page) == want
