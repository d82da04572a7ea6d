"""The actions probes and lifecycle hooks run: exec in the container, HTTP GET, TCP connect.

Exec goes through the CRI's ExecSync (so it works with any runtime); httpGet and tcpSocket
connect from the kubelet to the pod IP (or `host`), with a named port resolved from the
container's ports. Each returns (ok, output) where output is what upstream's prober reports:
the command's output, "HTTP probe failed with statuscode: 503", "dial tcp ...: connect:
connection refused", and so on, which ends up in the Unhealthy event's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import aiohttp
import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.version import KUBERNETES_MAJOR, KUBERNETES_MINOR

USER_AGENT = f"kube-probe/{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}"  # the served release, as upstream
MAX_BODY = 10 * 1024  # upstream reads at most 10 KiB of a probe's answer


def resolve_port(port: Any, container: dict[str, Any]) -> int:
    """An int port, or a named one looked up in the container's ports (upstream's rules)."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for item in container.get("ports") or []:
        if item.get("name") == text:
            return int(item.get("containerPort", 0))
    raise ValueError(f"couldn't find port: {text} in {container.get('name', '')}")


async def exec_action(
    cri: RuntimeClient, container_id: str, command: list[str], seconds: float
) -> tuple[bool, str, str]:
    """Runs `command` in the container: (exited 0, its output, the error as upstream says it).

    `seconds` 0 means no limit of its own (a hook is bounded by the grace period instead).
    """
    request = pb.ExecSyncRequest(container_id=container_id, cmd=command, timeout=int(seconds))
    shown = " ".join(command)
    try:
        answer = await cri.call("ExecSync", request, deadline=(seconds or 120) + 5)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            message = f'command "{shown}" timed out'
            return False, message, message
        return False, "", err.details() or str(err.code())
    output = (bytes(answer.stdout) + bytes(answer.stderr)).decode(errors="replace")
    if answer.exit_code != 0:
        stderr = bytes(answer.stderr).decode(errors="replace")
        return False, output, f"command '{shown}' exited with {answer.exit_code}: {stderr}"
    return True, output, ""


def _dial_error(host: str, port: int, err: BaseException) -> str:
    """How Go's net.Dial describes a failure (what upstream's messages contain)."""
    if isinstance(err, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(err, TimeoutError):
        return f"dial tcp {host}:{port}: i/o timeout"
    return f"dial tcp {host}:{port}: {err}"


async def tcp_action(host: str, port: int, seconds: float) -> tuple[bool, str]:
    """Connects (and closes); ok when the connection is accepted."""
    try:
        async with asyncio.timeout(seconds):
            _reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as err:
        return False, _dial_error(host, port, err)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, ""


async def http_action(
    get: dict[str, Any], container: dict[str, Any], pod_ip: str, seconds: float
) -> tuple[bool, str]:
    """An httpGet; ok for a status of 200..399, as upstream (redirects are not followed)."""
    scheme = str(get.get("scheme") or "HTTP").lower()
    host = str(get.get("host") or pod_ip)
    try:
        port = resolve_port(get.get("port", 80 if scheme == "http" else 443), container)
    except ValueError as err:
        return False, str(err)
    path = str(get.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown}:{port}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for item in get.get("httpHeaders") or []:
        headers[str(item.get("name", ""))] = str(item.get("value", ""))
    context: ssl.SSLContext | bool = False
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.get(url, headers=headers, allow_redirects=False, ssl=context) as answer,
        ):
            body = (await answer.content.read(MAX_BODY)).decode(errors="replace")
            code = answer.status
    except TimeoutError:
        return False, (
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
            "headers)"
        )
    except aiohttp.ClientConnectorError as err:
        return False, f'Get "{url}": {_dial_error(host, port, err.os_error)}'
    except aiohttp.ClientError as err:
        return False, f'Get "{url}": {err}'
    if 200 <= code < 400:
        return True, body
    return False, f"HTTP probe failed with statuscode: {code}"
