"""The gRPC probe (`grpc: {port, service}`, GA in 1.27): grpc.health.v1.Health/Check on the pod.

As upstream's pkg/probe/grpc: the kubelet connects in plaintext to `<podIP>:<port>` with the
user agent `kube-probe/<major>.<minor>` and calls Check with the probe's `service` (empty when
unset). Only the answer SERVING is a success; everything else is a failure whose output is
upstream's words, which end up in the Unhealthy event:

- no connection within the timeout (refused, nobody listening; a blocking dial retries until
  the deadline): `timeout: failed to connect service "10.244.0.5:9000" within 1s: context
  deadline exceeded`;
- the server has no Health service: `error: this server does not implement the grpc health
  protocol (grpc.health.v1.Health): <message>`;
- no answer in time: `timeout: health rpc did not complete within 1s`;
- another RPC error: `error: health rpc probe failed: rpc error: code = <Code> desc = <msg>`;
- an answer other than SERVING: `service unhealthy (responded with "NOT_SERVING")`.

The whole probe (connect and call) shares one deadline of `timeoutSeconds`, as upstream's one
context. The health protocol is compiled from proto/grpc/health/v1/health.proto.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc

from kube._generated.grpc.health.v1 import health_pb2 as pb
from kube._generated.grpc.health.v1 import health_pb2_grpc as pb_grpc
from kube.kubelet.handlers import USER_AGENT


def go_duration(seconds: float) -> str:
    """A duration as Go's %v prints a time.Duration for whole and fractional seconds/ms."""
    if seconds >= 1 or seconds == 0:
        text = f"{seconds:.9f}".rstrip("0").rstrip(".")
        return f"{text}s"
    milli = seconds * 1000
    return f"{milli:.6f}".rstrip("0").rstrip(".") + "ms"


def go_code(code: grpc.StatusCode) -> str:
    """grpc-go's name of a status code (codes.Code.String): NOT_FOUND -> NotFound."""
    if code == grpc.StatusCode.CANCELLED:
        return "Canceled"
    if code == grpc.StatusCode.OK:
        return "OK"
    return "".join(part.capitalize() for part in code.name.split("_"))


def _address(host: str, port: int) -> str:
    """net.JoinHostPort: IPv6 hosts in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def grpc_action(host: str, port: int, service: str, seconds: float) -> tuple[bool, str]:
    """One Health/Check of `service` at host:port within `seconds`: (ok, upstream's output)."""
    address = _address(host, port)
    shown = go_duration(seconds)
    deadline = time.monotonic() + seconds
    options = [("grpc.primary_user_agent", USER_AGENT), ("grpc.enable_retries", 0)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), seconds)
        except TimeoutError:
            return False, (
                f'timeout: failed to connect service "{address}" within {shown}: '
                "context deadline exceeded"
            )
        stub: Any = pb_grpc.HealthStub(channel)  # type: ignore[no-untyped-call]
        left = max(deadline - time.monotonic(), 0.001)
        try:
            answer = await stub.Check(pb.HealthCheckRequest(service=service), timeout=left)
        except grpc.aio.AioRpcError as err:
            code = err.code()
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return False, (
                    "error: this server does not implement the grpc health protocol "
                    f"(grpc.health.v1.Health): {err.details() or ''}"
                )
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"timeout: health rpc did not complete within {shown}"
            return False, (
                "error: health rpc probe failed: "
                f"rpc error: code = {go_code(code)} desc = {err.details() or ''}"
            )
    if answer.status != pb.HealthCheckResponse.SERVING:
        try:
            name = pb.HealthCheckResponse.ServingStatus.Name(answer.status)
        except ValueError:  # a status newer than this proto: Go prints its number
            name = str(answer.status)
        return False, f'service unhealthy (responded with "{name}")'
    return True, "service healthy"
