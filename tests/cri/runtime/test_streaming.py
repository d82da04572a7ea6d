"""The runtime's streaming server: one-time exec URLs, pipes and a pty over the channel protocol.

The command runner is replaced by one that runs /bin/sh on this machine, so what a kubelet
relaying `kubectl exec` would see (frames per channel, the exit Status) is checked without a
container.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from kube.cri.runtime.streaming import ExecRequest, StreamingServer


async def _local(container_id: str, cmd: list[str], tty: bool) -> tuple[list[str], str | None]:
    return cmd, None


@pytest.fixture
async def server() -> AsyncIterator[StreamingServer]:
    streaming = StreamingServer(_local)
    await streaming.start()
    try:
        yield streaming
    finally:
        await streaming.stop()


async def _run(url: str, send: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws,
    ):
        assert ws.protocol == "v5.channel.k8s.io"
        for frame in send:
            await ws.send_bytes(frame)
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            frames.append(message.data)
    return frames


def _channel(frames: list[bytes], channel: int) -> bytes:
    return b"".join(f[1:] for f in frames if f[0] == channel)


async def test_pipes_carry_stdin_stdout_stderr_and_the_exit(server: StreamingServer) -> None:
    request = ExecRequest(
        "c1", ["/bin/sh", "-c", "cat; echo err >&2; exit 4"], False, True, True, True
    )
    url = server.prepare(request)
    frames = await _run(url, [b"\x00hello\n", b"\xff\x00"])  # stdin, then v5 close of stdin
    assert _channel(frames, 1) == b"hello\n"
    assert _channel(frames, 2) == b"err\n"
    status = json.loads(_channel(frames, 3))
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]


async def test_a_tty_merges_output_and_takes_resizes(server: StreamingServer) -> None:
    script = "read line; echo got $line; stty size"
    url = server.prepare(ExecRequest("c1", ["/bin/sh", "-c", script], True, True, True, False))
    resize = b"\x04" + json.dumps({"Width": 100, "Height": 30}).encode()
    frames = await _run(url, [resize, b"\x00abc\n"])
    out = _channel(frames, 1).replace(b"\r\n", b"\n")
    assert b"got abc\n" in out
    assert b"30 100\n" in out
    assert json.loads(_channel(frames, 3)) == {"metadata": {}, "status": "Success"}


async def test_a_url_works_once(server: StreamingServer) -> None:
    url = server.prepare(ExecRequest("c1", ["/bin/true"], False, False, True, True))
    assert json.loads(_channel(await _run(url, []), 3))["status"] == "Success"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 404
