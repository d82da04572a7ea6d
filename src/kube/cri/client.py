"""The kubelet's CRI client: runtime.v1 RuntimeService and ImageService over a unix socket.

Thin on purpose: callers build runtime.v1 messages (`kube._generated.cri.runtime_v1_pb2`) and
get messages back, so the kubelet drives `kube runtime`, containerd or CRI-O alike. Every call
has a deadline (upstream's default runtime request timeout is 2 minutes; most calls here use
less) and failures are `grpc.aio.AioRpcError` with the runtime's status code.
"""

from __future__ import annotations

from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube._generated.cri import runtime_v1_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT = 120.0


def channel_target(endpoint: str) -> str:
    """The gRPC target of a CRI endpoint (`unix:///run/x.sock`, or a bare socket path)."""
    if endpoint.startswith("unix://"):
        return endpoint
    if "://" in endpoint:
        raise ValueError(f"endpoint {endpoint!r}: only unix:// sockets are supported")
    return f"unix://{endpoint}"


def not_found(err: BaseException) -> bool:
    return isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.NOT_FOUND


class RuntimeClient:
    """One channel to a CRI runtime; `runtime` and `images` are the generated stubs."""

    def __init__(self, endpoint: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.channel = grpc.aio.insecure_channel(channel_target(endpoint))
        self.runtime: Any = pb_grpc.RuntimeServiceStub(self.channel)  # type: ignore[no-untyped-call]
        self.images: Any = pb_grpc.ImageServiceStub(self.channel)  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> RuntimeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def call(self, method: str, request: Any, deadline: float | None = None) -> Any:
        """RuntimeService.`method`(request) with a deadline."""
        return await getattr(self.runtime, method)(request, timeout=deadline or self.timeout)

    async def image_call(self, method: str, request: Any, deadline: float | None = None) -> Any:
        """ImageService.`method`(request) with a deadline."""
        return await getattr(self.images, method)(request, timeout=deadline or self.timeout)

    async def version(self) -> Any:
        return await self.call("Version", pb.VersionRequest(version="v1"), deadline=10)
