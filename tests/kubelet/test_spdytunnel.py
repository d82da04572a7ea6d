"""kube.kubelet.spdytunnel: the upgrade to SPDY/3.1 a runtime like containerd takes kubectl's
port-forward session over, and the byte copy between that connection and kubectl's WebSocket.
A fake runtime on loopback answers the upgrade and echoes the session's bytes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from kube.kubelet import spdytunnel

SWITCH = (
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
)


class FakeRuntime:
    """Answers one upgrade with `answer`, then echoes (upper-cased) what it gets."""

    def __init__(self, answer: bytes = SWITCH) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(self.answer)
        await writer.drain()
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()
        self.closed.set()
        writer.close()

    async def stop(self) -> None:
        if self.requests:  # the handler ends when the kubelet's side has closed
            await asyncio.wait_for(self.closed.wait(), 5)
        if self.server is not None:
            self.server.close()

    async def url(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/portforward/tok3n?x=1"


@pytest.fixture
async def runtime() -> AsyncIterator[FakeRuntime]:
    fake = FakeRuntime()
    yield fake
    await fake.stop()


async def test_the_upgrade_names_spdy_and_the_stream_protocol(runtime: FakeRuntime) -> None:
    reader, writer = await spdytunnel.upgrade(await runtime.url(), "portforward.k8s.io")
    request = runtime.requests[0].decode()
    assert request.startswith("POST /portforward/tok3n?x=1 HTTP/1.1\r\n")
    assert "Upgrade: SPDY/3.1\r\n" in request
    assert "Connection: Upgrade\r\n" in request
    assert "X-Stream-Protocol-Version: portforward.k8s.io\r\n" in request
    writer.write(b"session bytes")
    assert await reader.readexactly(13) == b"SESSION BYTES"
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
    ],
)
async def test_a_runtime_that_does_not_switch_is_an_error(answer: bytes) -> None:
    fake = FakeRuntime(answer)
    try:
        with pytest.raises(spdytunnel.TunnelError):
            await spdytunnel.upgrade(await fake.url(), "portforward.k8s.io")
    finally:
        await fake.stop()


async def test_the_tunnel_copies_both_ways_and_ends_the_runtime_side(
    runtime: FakeRuntime,
) -> None:
    url = await runtime.url()

    async def handler(request: web.Request) -> web.StreamResponse:
        reader, writer = await spdytunnel.upgrade(url, "portforward.k8s.io")
        ws = web.WebSocketResponse(protocols=("SPDY/3.1+portforward.k8s.io",))
        await ws.prepare(request)
        await spdytunnel.tunnel(ws, reader, writer)
        return ws

    app = web.Application()
    app.router.add_get("/pf", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"http://127.0.0.1:{port}/pf", protocols=("SPDY/3.1+portforward.k8s.io",)
            ) as ws,
        ):
            assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
            await ws.send_bytes(b"syn-stream")
            message = await ws.receive(timeout=5)
            assert message.data == b"SYN-STREAM"
        # kubectl went away: the runtime's connection ends too.
        await asyncio.wait_for(runtime.closed.wait(), 5)
    finally:
        await runner.cleanup()
