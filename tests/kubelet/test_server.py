"""The kubelet's server: logs read from CRI log files, exec over the channel WebSocket protocol.

Served over plain HTTP by aiohttp's test server, with a fake runtime (`Containers`) so that
what `kubectl logs` and `kubectl exec` would receive is checked byte for byte.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kube.cri.runtime.logs import LogWriter, format_line, parse_line
from kube.kubelet.server import (
    ContainerRef,
    ExecResult,
    KubeletServer,
    LogOptions,
    exit_status,
    log_options,
    render,
    stream_log,
    tail_offset,
)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def write_log(path: Path, lines: list[tuple[int, str, bytes]]) -> None:
    with path.open("wb") as sink:
        writer = LogWriter(sink, max_line=16)
        for ns, stream, data in lines:
            writer.write(stream, data, now_ns=ns)
        writer.close(now_ns=T0 + 9_000_000_000)


class FakeContainers:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.alive = True
        self.results: dict[str, ExecResult] = {}
        self.commands: list[list[str]] = []

    async def find(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> ContainerRef | None:
        if (namespace, pod, container) != ("default", "web", "c"):
            return None
        return ContainerRef("cid", str(self.log_path))

    async def running(self, container_id: str) -> bool:
        return self.alive

    async def exec_sync(self, container_id: str, cmd: list[str]) -> ExecResult:
        self.commands.append(cmd)
        return self.results.get(cmd[0], ExecResult(b"", b"", 0))

    async def exec_url(
        self, container_id: str, cmd: list[str], tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str | None:
        return None  # no streaming runtime: ExecSync


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "0.log"
    write_log(
        path,
        [
            (T0, "stdout", b"one\n"),
            (T0 + 1_500_000_000, "stderr", b"two\n"),
            (T0 + 2_000_000_000, "stdout", b"three\nfour"),  # "four" ends partial at close
        ],
    )
    return path


def read_all(path: Path, options: LogOptions) -> bytes:
    async def collect() -> bytes:
        ref = ContainerRef("cid", str(path))
        return b"".join([p async for p in stream_log(ref, options, _never)])

    return asyncio.run(collect())


async def _never() -> bool:
    return False


def test_the_log_is_the_containers_output_in_order(log_file: Path) -> None:
    assert read_all(log_file, LogOptions()) == b"one\ntwo\nthree\nfour"


def test_timestamps_prefix_each_line_with_rfc3339nano(log_file: Path) -> None:
    out = read_all(log_file, LogOptions(timestamps=True)).decode().splitlines()
    assert out[0] == "2023-11-14T22:13:20Z one"
    assert out[1] == "2023-11-14T22:13:21.5Z two"
    assert out[3] == "2023-11-14T22:13:29Z four"


def test_tail_lines(log_file: Path) -> None:
    assert read_all(log_file, LogOptions(tail_lines=1)) == b"four"
    assert read_all(log_file, LogOptions(tail_lines=2)) == b"three\nfour"
    assert read_all(log_file, LogOptions(tail_lines=0)) == b""
    assert read_all(log_file, LogOptions(tail_lines=100)) == b"one\ntwo\nthree\nfour"


def test_tail_offset_over_many_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(
        b"".join(format_line(T0, "stdout", b"x" * 1000 + b"%d" % i) for i in range(200))
    )
    offset = tail_offset(str(path), 3)
    tail = path.read_bytes()[offset:].splitlines()
    assert [parse_line(line)[3][-3:] for line in tail] == [b"197", b"198", b"199"]


def test_long_lines_come_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    write_log(path, [(T0, "stdout", b"a" * 40 + b"\nb\n")])  # split into P lines of 16 bytes
    assert read_all(path, LogOptions()) == b"a" * 40 + b"\nb\n"


def test_since_and_limit_bytes(log_file: Path) -> None:
    since = LogOptions(since_ns=T0 + 1_000_000_000)
    assert read_all(log_file, since) == b"two\nthree\nfour"
    assert read_all(log_file, LogOptions(limit_bytes=6)) == b"one\ntw"


def test_log_options_from_the_query() -> None:
    options = log_options(
        {"follow": "true", "tailLines": "5", "timestamps": "true", "sinceSeconds": "10"},
        now=1000.0,
    )
    assert options.follow
    assert options.timestamps
    assert options.tail_lines == 5
    assert options.since_ns == 990 * 1_000_000_000
    assert log_options({"sinceTime": "2023-11-14T22:13:21Z"}).since_ns == T0 + 1_000_000_000


def test_render_drops_garbage() -> None:
    assert render(b"not-a-log-line", LogOptions()) is None


async def test_follow_streams_new_lines_until_the_container_stops(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(format_line(T0, "stdout", b"first"))
    alive = True

    async def running() -> bool:
        return alive

    got: list[bytes] = []
    ref = ContainerRef("cid", str(path))

    async def follow() -> None:
        async for piece in stream_log(ref, LogOptions(follow=True), running, poll=0.01):
            got.append(piece)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    assert got == [b"first\n"]
    with path.open("ab") as f:
        f.write(format_line(T0, "stdout", b"second"))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(got) == 2:
            break
    assert got == [b"first\n", b"second\n"]
    alive = False
    with path.open("ab") as f:
        f.write(format_line(T0, "stdout", b"last words"))
    await asyncio.wait_for(task, 5)
    assert b"".join(got) == b"first\nsecond\nlast words\n"


# -- over HTTP ----------------------------------------------------------------------------


async def _client(containers: FakeContainers) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(KubeletServer(containers).application()))
    await client.start_server()
    return client


async def test_container_logs_endpoint(log_file: Path) -> None:
    client = await _client(FakeContainers(log_file))
    try:
        answer = await client.get("/containerLogs/default/web/c?tailLines=2")
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert await answer.read() == b"three\nfour"
        missing = await client.get("/containerLogs/default/web/other")
        assert missing.status == 404
        assert (await missing.json())["message"] == 'container "other" in pod "web" not found'
        bad = await client.get("/containerLogs/default/web/c?tailLines=x")
        assert bad.status == 400
    finally:
        await client.close()


async def _exec(client: TestClient[Any, Any], query: str, protocol: str) -> list[bytes]:
    frames: list[bytes] = []
    async with client.ws_connect(f"/exec/default/web/c?{query}", protocols=(protocol,)) as ws:
        assert ws.protocol == protocol
        async for message in ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                break
            frames.append(message.data)
    return frames


@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
async def test_exec_sends_output_then_success(tmp_path: Path, protocol: str) -> None:
    containers = FakeContainers(tmp_path / "0.log")
    containers.results["echo"] = ExecResult(b"hi\n", b"", 0)
    client = await _client(containers)
    try:
        frames = await _exec(client, "command=echo&command=hi&stdout=true&stderr=true", protocol)
    finally:
        await client.close()
    assert containers.commands == [["echo", "hi"]]
    assert frames[0] == b"\x01hi\n"
    assert frames[-1][0] == 3
    assert json.loads(frames[-1][1:]) == {"metadata": {}, "status": "Success"}


async def test_exec_non_zero_exit_is_a_failure_status(tmp_path: Path) -> None:
    containers = FakeContainers(tmp_path / "0.log")
    containers.results["sh"] = ExecResult(b"", b"oops\n", 3)
    client = await _client(containers)
    try:
        frames = await _exec(
            client,
            "command=sh&command=-c&command=exit+3&stdout=true&stderr=true",
            "v5.channel.k8s.io",
        )
    finally:
        await client.close()
    assert frames[0] == b"\x02oops\n"
    status = json.loads(frames[-1][1:])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status == exit_status(ExecResult(b"", b"", 3), ["sh", "-c", "exit 3"])


async def test_exec_needs_a_command_and_an_upgrade(tmp_path: Path) -> None:
    client = await _client(FakeContainers(tmp_path / "0.log"))
    try:
        answer = await client.get("/exec/default/web/c?stdout=true")
        assert answer.status == 400
        assert (await answer.json())["message"] == "you must specify at least 1 command"
        plain = await client.get("/exec/default/web/c?command=ls&stdout=true")
        assert plain.status == 400
        assert (await plain.json())["message"] == "Upgrade request required"
    finally:
        await client.close()
