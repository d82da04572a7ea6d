"""Probes: the threshold state machine and the workers' timing, on a FakeClock.

What the kubelet then shows: `ready` follows the readiness probe after successThreshold
successes / failureThreshold failures, nothing is probed before initialDelaySeconds, liveness
and readiness wait for the startup probe, a liveness failure is published once (then the
worker holds until a new instance), and every failed probe is an Unhealthy event with
upstream's "Liveness probe failed: <output>" message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kube.client.clock import FakeClock
from kube.kubelet.handlers import http_action, resolve_port, tcp_action
from kube.kubelet.probes import (
    LIVENESS,
    READINESS,
    STARTUP,
    ProbeManager,
    ProbeState,
    Target,
    Timing,
)
from kube.version import KUBERNETES_MAJOR, KUBERNETES_MINOR

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u"}}


def test_thresholds_and_initial_results() -> None:
    readiness = ProbeState(READINESS, Timing(success_threshold=2, failure_threshold=3))
    readiness.reset("c1")
    assert readiness.result is False  # not ready until a probe succeeds
    assert readiness.observe(True) is False  # one success of two
    assert readiness.observe(True) is True
    assert readiness.result is True
    assert [readiness.observe(False) for _ in range(3)] == [False, False, True]
    assert readiness.result is False
    assert readiness.on_hold is False  # readiness keeps probing

    liveness = ProbeState(LIVENESS, Timing(failure_threshold=2))
    liveness.reset("c1")
    assert liveness.result is True
    assert liveness.observe(False) is False
    assert liveness.observe(True) is False  # a success resets the failure run
    assert liveness.observe(False) is False
    assert liveness.observe(False) is True
    assert liveness.result is False
    assert liveness.on_hold is True
    liveness.reset("c2")  # the restarted instance starts alive
    assert (liveness.result, liveness.on_hold) == (True, False)

    startup = ProbeState(STARTUP, Timing())
    startup.reset("c1")
    assert startup.result is None


def test_timing_defaults_as_upstream() -> None:
    assert Timing.of({}, READINESS) == Timing(0, 10, 1, 1, 3)
    probe = {"periodSeconds": 2, "timeoutSeconds": 5, "successThreshold": 4, "failureThreshold": 1}
    assert Timing.of(probe, LIVENESS).success_threshold == 1  # must be 1 for liveness
    assert Timing.of(probe, READINESS) == Timing(0, 2, 5, 4, 1)


class Script:
    """A fake prober: answers from a list, records when it was asked."""

    def __init__(self, clock: FakeClock, answers: dict[str, list[bool]]) -> None:
        self.clock = clock
        self.answers = answers
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, kind: str, probe: dict[str, Any], target: Target) -> tuple[bool, str]:
        self.calls.append((kind, self.clock.now()))
        answers = self.answers[kind]
        ok = answers.pop(0) if len(answers) > 1 else answers[0]
        return ok, "" if ok else "HTTP probe failed with statuscode: 500"


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_readiness_waits_for_initial_delay_then_follows_results() -> None:
    clock = FakeClock(1000.0)
    script = Script(clock, {READINESS: [False, True, True, False]})
    changes: list[str] = []
    events: list[tuple[str, str, str]] = []
    manager = ProbeManager(
        script,
        changes.append,
        lambda _pod, _c, kind, reason, message: events.append((kind, reason, message)),
        clock=clock,
        wall=clock.now,
    )
    container = {
        "name": "web",
        "readinessProbe": {"httpGet": {"port": 80}, "initialDelaySeconds": 5, "periodSeconds": 2},
    }
    manager.update(POD, [container], {"web": ("c1", True, 1000.0)}, "10.0.0.2")
    await _settle()
    assert script.calls == []  # within initialDelaySeconds
    assert manager.probed("u", "web", "c1").ready is False
    for _ in range(3):
        await clock.advance(2)
    assert [t for _, t in script.calls] == [1006.0]
    assert events == [
        ("Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500")
    ]
    await clock.advance(2)
    assert manager.probed("u", "web", "c1").ready is True
    assert changes == ["u"]
    for _ in range(3):
        await clock.advance(2)
    assert manager.probed("u", "web", "c1").ready is True  # two failures of three
    await clock.advance(2)
    assert manager.probed("u", "web", "c1").ready is False
    assert changes == ["u", "u"]
    # No probe, no opinion: a container without probes is started and ready.
    assert manager.probed("u", "other", "c9").ready is True
    await manager.close()
    assert manager.workers == {}


async def test_liveness_failure_is_published_once_and_waits_for_a_new_instance() -> None:
    clock = FakeClock(0.0)
    script = Script(clock, {LIVENESS: [False]})
    manager = ProbeManager(script, lambda _uid: None, lambda *_: None, clock=clock, wall=clock.now)
    container = {
        "name": "c",
        "livenessProbe": {
            "exec": {"command": ["false"]},
            "periodSeconds": 1,
            "failureThreshold": 3,
        },
    }
    manager.update(POD, [container], {"c": ("c1", True, 0.0)}, "10.0.0.2")
    await _settle()
    assert manager.failed("u", "c", "c1") is None
    await clock.advance(1)
    assert manager.failed("u", "c", "c1") is None  # two failures of three
    await clock.advance(1)
    assert manager.failed("u", "c", "c1") == "liveness"
    calls = len(script.calls)
    for _ in range(5):
        await clock.advance(1)
    assert len(script.calls) == calls  # on hold: the kubelet restarts the container
    manager.update(POD, [container], {"c": ("c2", True, clock.now())}, "10.0.0.2")
    await _settle()
    assert manager.failed("u", "c", "c2") is None
    assert len(script.calls) == calls + 1
    await manager.close()


async def test_startup_probe_gates_liveness_and_readiness() -> None:
    clock = FakeClock(0.0)
    script = Script(clock, {STARTUP: [False, False, True], READINESS: [True], LIVENESS: [True]})
    manager = ProbeManager(script, lambda _uid: None, lambda *_: None, clock=clock, wall=clock.now)
    container = {
        "name": "c",
        "startupProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1, "failureThreshold": 30},
        "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
        "livenessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
    }
    manager.update(POD, [container], {"c": ("c1", True, 0.0)}, "10.0.0.2")
    await _settle()
    await clock.advance(1)
    assert {k for k, _ in script.calls} == {STARTUP}
    assert manager.probed("u", "c", "c1").started is False
    await clock.advance(1)
    assert manager.probed("u", "c", "c1").started is True
    await clock.advance(1)
    await clock.advance(1)
    kinds = [k for k, _ in script.calls]
    assert kinds.count(STARTUP) == 3  # not probed again once started
    assert READINESS in kinds
    assert LIVENESS in kinds
    assert manager.probed("u", "c", "c1").ready is True
    await manager.close()


def test_named_ports() -> None:
    container = {"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}
    assert resolve_port("http", container) == 8080
    assert resolve_port(81, container) == 81
    with pytest.raises(ValueError, match="couldn't find port: nope"):
        resolve_port("nope", container)


async def test_http_and_tcp_handlers_against_a_local_server() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = (await reader.readuntil(b"\r\n\r\n")).decode()
        code = "200 OK" if request.startswith("GET /healthz ") else "503 Unavailable"
        # upstream: kube-probe/<major>.<minor> of the release the node runs
        assert f"User-Agent: kube-probe/{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}\r\n" in request
        writer.write(
            f"HTTP/1.1 {code}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode()
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert await http_action({"path": "/healthz", "port": port}, {}, "127.0.0.1", 2) == (
            True,
            "ok",
        )
        assert await http_action({"path": "/bad", "port": port}, {}, "127.0.0.1", 2) == (
            False,
            "HTTP probe failed with statuscode: 503",
        )
        assert await tcp_action("127.0.0.1", port, 2) == (True, "")
    finally:
        server.close()
        await server.wait_closed()
    ok, output = await tcp_action("127.0.0.1", port, 2)
    assert not ok
    assert output == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    ok, output = await http_action({"path": "/", "port": port}, {}, "127.0.0.1", 2)
    assert not ok
    assert output.startswith(f'Get "http://127.0.0.1:{port}/": dial tcp')
