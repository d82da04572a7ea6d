"""kube.kubelet.spdyexec: kubectl's v5.channel.k8s.io WebSocket translated to a runtime's SPDY
streams (containerd). A fake runtime on loopback takes the upgrade, checks the streams
client-go's remotecommand v4 opens, answers stdin on stdout (upper-cased) until stdin's FIN,
then writes the Status on the error stream and ends the session."""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from kube.cri.runtime.portforward import (
    DICTIONARY,
    FLAG_FIN,
    SYN_REPLY,
    SYN_STREAM,
    WINDOW_UPDATE,
    control_frame,
    data_frame,
    decode_headers,
    encode_headers,
)
from kube.kubelet import spdyexec, spdytunnel

SWITCH = (
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    b"X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n"
)
SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()


class FakeSpdyRuntime:
    def __init__(self) -> None:
        self.streams: dict[str, int] = {}
        self.stdin = b""
        self.resizes: list[bytes] = []
        self.window_updates = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(SWITCH)
        inflate = zlib.decompressobj(zdict=DICTIONARY)
        deflate = zlib.compressobj(zdict=DICTIONARY)
        try:
            while True:
                first, second = struct.unpack(">II", await reader.readexactly(8))
                flags, length = second >> 24, second & 0xFFFFFF
                payload = await reader.readexactly(length) if length else b""
                if first & 0x80000000:
                    kind = first & 0xFFFF
                    if kind == SYN_STREAM:
                        (stream_id,) = struct.unpack_from(">I", payload, 0)
                        headers = decode_headers(inflate, payload[10:])
                        self.streams[headers["streamtype"]] = stream_id
                        reply = struct.pack(">I", stream_id) + encode_headers(deflate, {})
                        writer.write(control_frame(SYN_REPLY, 0, reply))
                    elif kind == WINDOW_UPDATE:
                        self.window_updates += 1
                    continue
                if first == self.streams.get("resize"):
                    self.resizes.append(payload)
                elif first == self.streams.get("stdin"):
                    self.stdin += payload
                    if payload:
                        writer.write(data_frame(self.streams["stdout"], 0, payload.upper()))
                    if flags & FLAG_FIN:
                        if "stderr" in self.streams:  # none with a tty
                            writer.write(data_frame(self.streams["stderr"], 0, b"done\n"))
                        writer.write(data_frame(self.streams["error"], FLAG_FIN, SUCCESS))
                        await writer.drain()
                        return
                await writer.drain()
        finally:
            writer.close()


async def _exec(runtime: FakeSpdyRuntime, send: list[bytes], tty: bool = False) -> list[Any]:
    server = await asyncio.start_server(runtime.handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/exec/t0ken"

    async def handler(request: web.Request) -> web.StreamResponse:
        reader, writer = await spdytunnel.upgrade(url, spdyexec.STREAM_PROTOCOL)
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        session = spdyexec.ExecSession(ws, reader, writer)
        session.open_streams(stdin=True, stdout=True, stderr=True, tty=tty)
        await session.run()
        return ws

    app = web.Application()
    app.router.add_get("/exec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    received: list[Any] = []
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(
                f"http://127.0.0.1:{port}/exec", protocols=("v5.channel.k8s.io",)
            ) as ws,
        ):
            assert ws.protocol == "v5.channel.k8s.io"
            for frame in send:
                await ws.send_bytes(frame)
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    break
                received.append((message.data[0], message.data[1:]))
    finally:
        await runner.cleanup()
        server.close()
    return received


async def test_stdin_and_its_end_reach_the_runtime_and_the_output_comes_back() -> None:
    runtime = FakeSpdyRuntime()
    received = await asyncio.wait_for(
        _exec(runtime, [b"\x00hello ", b"\x00world", b"\xff\x00"]), 10
    )
    assert set(runtime.streams) == {"error", "stdin", "stdout", "stderr"}
    assert runtime.stdin == b"hello world"
    out = b"".join(data for channel, data in received if channel == 1)
    assert out == b"HELLO WORLD"
    assert (2, b"done\n") in received
    assert received[-1] == (3, SUCCESS)  # the result last, then the socket closes


async def test_a_tty_has_a_resize_stream_and_no_stderr() -> None:
    runtime = FakeSpdyRuntime()
    resize = b'\x04{"Width":80,"Height":24}'
    received = await asyncio.wait_for(_exec(runtime, [resize, b"\x00x", b"\xff\x00"], tty=True), 10)
    assert set(runtime.streams) == {"error", "stdin", "stdout", "resize"}
    assert runtime.resizes == [b'{"Width":80,"Height":24}']
    assert received == [(1, b"X"), (3, SUCCESS)]
