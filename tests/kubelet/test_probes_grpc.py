"""gRPC probes against an in-process grpc.health.v1 server (grpcio, on loopback).

What a user sees: a container whose Health/Check answers SERVING passes; NOT_SERVING, an
unknown service, a server without the Health service, a slow answer and nobody listening
fail with upstream's messages (pkg/probe/grpc), which the kubelet puts in the Unhealthy event
("Readiness probe failed: service unhealthy (responded with "NOT_SERVING")"); and the prober's
readiness follows the server's status through ProbeManager and run_probe.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from kube._generated.grpc.health.v1 import health_pb2 as pb
from kube._generated.grpc.health.v1 import health_pb2_grpc as pb_grpc
from kube.client.clock import FakeClock
from kube.kubelet.grpcprobe import go_code, go_duration, grpc_action
from kube.kubelet.probes import READINESS, ProbeManager, Target, run_probe

SERVING = pb.HealthCheckResponse.SERVING
NOT_SERVING = pb.HealthCheckResponse.NOT_SERVING


class Health(pb_grpc.HealthServicer):  # type: ignore[misc]
    """A health server whose answers the test sets: status per service, an optional delay."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {"": SERVING, "db": SERVING}
        self.delay = 0.0
        self.agents: list[str] = []
        self.asked: list[str] = []

    async def Check(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        metadata = dict(context.invocation_metadata() or ())
        self.agents.append(str(metadata.get("user-agent", "")))
        self.asked.append(request.service)
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.service not in self.statuses:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return pb.HealthCheckResponse(status=self.statuses[request.service])


@pytest.fixture
async def health() -> AsyncIterator[tuple[Health, int]]:
    servicer = Health()
    server = grpc.aio.server()
    pb_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, port
    finally:
        await server.stop(None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _settle() -> None:
    """Lets the worker publish what the runner returned (no I/O in between)."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_go_formats() -> None:
    assert [go_duration(s) for s in (1, 5, 1.5, 0.5, 0.25)] == [
        "1s",
        "5s",
        "1.5s",
        "500ms",
        "250ms",
    ]
    assert go_code(grpc.StatusCode.NOT_FOUND) == "NotFound"
    assert go_code(grpc.StatusCode.CANCELLED) == "Canceled"
    assert go_code(grpc.StatusCode.UNAVAILABLE) == "Unavailable"


async def test_serving_is_healthy_and_the_service_is_asked_for(
    health: tuple[Health, int],
) -> None:
    servicer, port = health
    assert await grpc_action("127.0.0.1", port, "", 2) == (True, "service healthy")
    assert await grpc_action("127.0.0.1", port, "db", 2) == (True, "service healthy")
    assert servicer.asked == ["", "db"]
    assert all(agent.startswith("kube-probe/") for agent in servicer.agents)


async def test_anything_but_serving_fails_with_upstreams_words(
    health: tuple[Health, int],
) -> None:
    servicer, port = health
    servicer.statuses["db"] = NOT_SERVING
    assert await grpc_action("127.0.0.1", port, "db", 2) == (
        False,
        'service unhealthy (responded with "NOT_SERVING")',
    )
    servicer.statuses["db"] = pb.HealthCheckResponse.UNKNOWN
    assert await grpc_action("127.0.0.1", port, "db", 2) == (
        False,
        'service unhealthy (responded with "UNKNOWN")',
    )
    assert await grpc_action("127.0.0.1", port, "cache", 2) == (
        False,
        "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
    )
    servicer.delay = 1.0
    assert await grpc_action("127.0.0.1", port, "", 0.5) == (
        False,
        "timeout: health rpc did not complete within 500ms",
    )


async def test_a_server_without_the_health_service() -> None:
    server = grpc.aio.server()
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        ok, output = await grpc_action("127.0.0.1", port, "", 2)
    finally:
        await server.stop(None)
    assert not ok
    assert output.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): "
    )


async def test_nobody_listening_is_a_connect_timeout() -> None:
    port = _free_port()
    assert await grpc_action("127.0.0.1", port, "", 0.3) == (
        False,
        f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: '
        "context deadline exceeded",
    )


async def test_readiness_follows_the_health_server_through_the_prober(
    health: tuple[Health, int],
) -> None:
    """The kubelet's prober with run_probe: ready while SERVING, not ready (and an Unhealthy
    event) once the service answers NOT_SERVING."""
    servicer, port = health
    clock = FakeClock(1000.0)
    done: asyncio.Queue[tuple[bool, str]] = asyncio.Queue()

    async def runner(kind: str, probe: dict[str, Any], target: Target) -> tuple[bool, str]:
        result = await run_probe(None, kind, probe, target)  # type: ignore[arg-type]
        done.put_nowait(result)
        return result

    events: list[tuple[str, str, str]] = []
    manager = ProbeManager(
        runner,
        lambda _uid: None,
        lambda _pod, _c, kind, reason, message: events.append((kind, reason, message)),
        clock=clock,
        wall=clock.now,
    )
    pod = {"metadata": {"name": "p", "namespace": "default", "uid": "u"}}
    container = {
        "name": "api",
        "readinessProbe": {
            "grpc": {"port": port, "service": "db"},
            "periodSeconds": 5,
            "failureThreshold": 1,
        },
    }
    try:
        manager.update(pod, [container], {"api": ("c1", True, 1000.0)}, "127.0.0.1")
        assert await asyncio.wait_for(done.get(), 5) == (True, "service healthy")
        await _settle()
        assert manager.probed("u", "api", "c1").ready is True
        servicer.statuses["db"] = NOT_SERVING
        await clock.advance(5)
        assert await asyncio.wait_for(done.get(), 5) == (
            False,
            'service unhealthy (responded with "NOT_SERVING")',
        )
        await _settle()
        assert manager.probed("u", "api", "c1").ready is False
        assert events == [
            (
                "Warning",
                "Unhealthy",
                'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")',
            )
        ]
        assert servicer.asked == ["db", "db"]
        assert READINESS in {kind for (_uid, _name, kind) in manager.workers}
    finally:
        await manager.close()
