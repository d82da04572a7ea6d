"""`kube runtime`'s gRPC server: CRI RuntimeService and ImageService on a unix socket.

The servicers translate runtime.v1 messages to and from the plain records of
`kube.cri.runtime.runtime.Runtime`; errors become gRPC status codes as the other runtimes give
them (NOT_FOUND for an unknown sandbox, container or image, FAILED_PRECONDITION for a state that
does not allow the call, UNKNOWN with the runtime's words otherwise). Calls the built-in runtime
does not implement yet answer UNIMPLEMENTED, which the kubelet tolerates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube._generated.cri import runtime_v1_pb2_grpc as pb_grpc
from kube.cri.runtime.containers import ContainerError, ContainerRequest
from kube.cri.runtime.hostports import HostPort
from kube.cri.runtime.images import Image, ImageError
from kube.cri.runtime.runtime import RUNTIME_NAME, NotFound, Runtime, SandboxRequest
from kube.cri.runtime.sandbox import NetworkError
from kube.cri.runtime.spec import Mount, Resources
from kube.cri.runtime.state import ContainerRecord, SandboxRecord
from kube.cri.runtime.stats import CpuRate, read_usage
from kube.cri.runtime.streaming import (
    AttachRequest,
    ExecRequest,
    PortForwardRequest,
    StreamingServer,
    attach_socket,
    exec_command,
)
from kube.version import __version__

log = logging.getLogger("kube.runtime.server")

API_VERSION = "v1"
BLOCKING_THREADS = 32
NAMESPACE_NODE = 2  # runtime.v1.NamespaceMode.NODE
_T = TypeVar("_T")


async def _guard(context: Any, call: Callable[[], Awaitable[_T]]) -> _T:
    """Runs `call`, turning the runtime's exceptions into gRPC status codes."""
    try:
        return await call()
    except NotFound as err:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(err))
    except ImageError as err:
        await context.abort(grpc.StatusCode.NOT_FOUND, str(err))
    except (ContainerError, NetworkError) as err:
        await context.abort(grpc.StatusCode.UNKNOWN, str(err))
    except TimeoutError:
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "command timed out")
    raise AssertionError("unreachable")


async def _found(runtime: Runtime, container_id: str) -> ContainerRecord:
    return runtime.container(container_id)


def _labels_match(labels: dict[str, str], selector: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class RuntimeServicer(pb_grpc.RuntimeServiceServicer):
    """runtime.v1.RuntimeService over a `Runtime`."""

    def __init__(self, runtime: Runtime, streaming: StreamingServer | None = None) -> None:
        self.runtime = runtime
        self.streaming = streaming
        self.cpu_rate = CpuRate()

    async def Version(self, request: Any, context: Any) -> Any:
        return pb.VersionResponse(
            version="0.1.0",
            runtime_name=RUNTIME_NAME,
            runtime_version=__version__,
            runtime_api_version=API_VERSION,
        )

    async def Status(self, request: Any, context: Any) -> Any:
        network = self.runtime.network.ready or self.runtime.mode == "process"
        conditions = [
            pb.RuntimeCondition(type="RuntimeReady", status=True),
            pb.RuntimeCondition(
                type="NetworkReady",
                status=network,
                reason="" if network else "NetworkPluginNotReady",
                message="" if network else "the node has no pod CIDR yet",
            ),
        ]
        return pb.StatusResponse(
            status=pb.RuntimeStatus(conditions=conditions),
            info={"mode": self.runtime.mode, "bridge": self.runtime.network.bridge},
        )

    async def UpdateRuntimeConfig(self, request: Any, context: Any) -> Any:
        cidr = request.runtime_config.network_config.pod_cidr
        if cidr:
            try:
                self.runtime.network.set_cidr(cidr.split(",")[0])
            except ValueError as err:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        return pb.UpdateRuntimeConfigResponse()

    # -- sandboxes -------------------------------------------------------------------------

    async def RunPodSandbox(self, request: Any, context: Any) -> Any:
        config = request.config
        meta = config.metadata
        namespaces = config.linux.security_context.namespace_options
        sandbox_request = SandboxRequest(
            name=meta.name,
            uid=meta.uid,
            namespace=meta.namespace,
            attempt=meta.attempt,
            hostname=config.hostname,
            log_directory=config.log_directory,
            labels=dict(config.labels),
            annotations=dict(config.annotations),
            dns_servers=list(config.dns_config.servers),
            dns_searches=list(config.dns_config.searches),
            dns_options=list(config.dns_config.options),
            host_network=namespaces.network == NAMESPACE_NODE,
            cgroup_parent=config.linux.cgroup_parent,
            runtime_handler=request.runtime_handler,
            port_mappings=[
                HostPort(m.protocol, m.container_port, m.host_port, m.host_ip)
                for m in config.port_mappings
            ],
        )
        record = await _guard(context, lambda: self.runtime.run_sandbox(sandbox_request))
        return pb.RunPodSandboxResponse(pod_sandbox_id=record.id)

    async def StopPodSandbox(self, request: Any, context: Any) -> Any:
        if request.pod_sandbox_id in self.runtime.sandboxes:
            await _guard(context, lambda: self.runtime.stop_sandbox(request.pod_sandbox_id))
        return pb.StopPodSandboxResponse()

    async def RemovePodSandbox(self, request: Any, context: Any) -> Any:
        await _guard(context, lambda: self.runtime.remove_sandbox(request.pod_sandbox_id))
        return pb.RemovePodSandboxResponse()

    @staticmethod
    def _sandbox_meta(record: SandboxRecord) -> Any:
        return pb.PodSandboxMetadata(
            name=record.name, uid=record.uid, namespace=record.namespace, attempt=record.attempt
        )

    async def PodSandboxStatus(self, request: Any, context: Any) -> Any:
        async def status() -> Any:
            record = self.runtime.sandbox(request.pod_sandbox_id)
            return pb.PodSandboxStatusResponse(
                status=pb.PodSandboxStatus(
                    id=record.id,
                    metadata=self._sandbox_meta(record),
                    state=pb.PodSandboxState.Name(record.state),
                    created_at=record.created_at,
                    network=pb.PodSandboxNetworkStatus(ip=record.ip),
                    labels=record.labels,
                    annotations=record.annotations,
                    runtime_handler=record.runtime_handler,
                ),
                info={"netns": record.netns_path} if request.verbose else {},
            )

        return await _guard(context, status)

    async def ListPodSandbox(self, request: Any, context: Any) -> Any:
        wanted = request.filter
        selector = dict(wanted.label_selector)  # a protobuf map is slow to read per item
        items = []
        for record in list(self.runtime.sandboxes.values()):
            if wanted.id and not record.id.startswith(wanted.id):
                continue
            if wanted.HasField("state") and record.state != wanted.state.state:
                continue
            if not _labels_match(record.labels, selector):
                continue
            items.append(
                pb.PodSandbox(
                    id=record.id,
                    metadata=self._sandbox_meta(record),
                    state=pb.PodSandboxState.Name(record.state),
                    created_at=record.created_at,
                    labels=record.labels,
                    annotations=record.annotations,
                    runtime_handler=record.runtime_handler,
                )
            )
        return pb.ListPodSandboxResponse(items=items)

    # -- containers ------------------------------------------------------------------------

    async def CreateContainer(self, request: Any, context: Any) -> Any:
        config = request.config
        linux = config.linux
        security = linux.security_context
        resources = linux.resources
        container_request = ContainerRequest(
            name=config.metadata.name,
            attempt=config.metadata.attempt,
            image=config.image.image,
            command=list(config.command),
            args=list(config.args),
            env=[(kv.key, _text(kv.value)) for kv in config.envs],
            working_dir=config.working_dir,
            mounts=[
                Mount(m.container_path, m.host_path, readonly=m.readonly) for m in config.mounts
            ],
            labels=dict(config.labels),
            annotations=dict(config.annotations),
            log_path=_log_path(request.sandbox_config.log_directory, config.log_path),
            resources=Resources(
                cpu_shares=resources.cpu_shares,
                cpu_quota=resources.cpu_quota,
                cpu_period=resources.cpu_period,
                memory_limit_bytes=resources.memory_limit_in_bytes,
                memory_swap_bytes=resources.memory_swap_limit_in_bytes,
            ),
            run_as_user=security.run_as_user.value if security.HasField("run_as_user") else None,
            run_as_group=security.run_as_group.value if security.HasField("run_as_group") else None,
            supplemental_groups=tuple(security.supplemental_groups),
            readonly_rootfs=security.readonly_rootfs,
            privileged=security.privileged,
            tty=config.tty,
            stdin=config.stdin,
            stdin_once=config.stdin_once,
        )
        if self.runtime.images.resolve(container_request.image) is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"image {container_request.image!r} not found (kube image import FILE)",
            )
        record = await _guard(
            context,
            lambda: self.runtime.create_container(request.pod_sandbox_id, container_request),
        )
        return pb.CreateContainerResponse(container_id=record.id)

    async def StartContainer(self, request: Any, context: Any) -> Any:
        await _guard(context, lambda: self.runtime.start_container(request.container_id))
        return pb.StartContainerResponse()

    async def StopContainer(self, request: Any, context: Any) -> Any:
        await _guard(
            context, lambda: self.runtime.stop_container(request.container_id, request.timeout)
        )
        return pb.StopContainerResponse()

    async def RemoveContainer(self, request: Any, context: Any) -> Any:
        await _guard(context, lambda: self.runtime.remove_container(request.container_id))
        return pb.RemoveContainerResponse()

    def _image_spec(self, record: ContainerRecord) -> Any:
        return pb.ImageSpec(image=record.image, user_specified_image=record.image)

    async def ListContainers(self, request: Any, context: Any) -> Any:
        wanted = request.filter
        selector = dict(wanted.label_selector)  # a protobuf map is slow to read per item
        items = []
        for record in list(self.runtime.container_records.values()):
            if wanted.id and not record.id.startswith(wanted.id):
                continue
            if wanted.pod_sandbox_id and not record.sandbox_id.startswith(wanted.pod_sandbox_id):
                continue
            # Labels first: the state reads the container's files, and the kubelet lists
            # one pod's containers at a time (all of them per pod would be quadratic).
            if not _labels_match(record.labels, selector):
                continue
            state = self.runtime.container_state(record)
            if wanted.HasField("state") and state != wanted.state.state:
                continue
            items.append(
                pb.Container(
                    id=record.id,
                    pod_sandbox_id=record.sandbox_id,
                    metadata=pb.ContainerMetadata(name=record.name, attempt=record.attempt),
                    image=self._image_spec(record),
                    image_ref=record.image_id,
                    image_id=record.image_id,
                    state=pb.ContainerState.Name(state),
                    created_at=record.created_at,
                    labels=record.labels,
                    annotations=record.annotations,
                )
            )
        return pb.ListContainersResponse(containers=items)

    async def ContainerStatus(self, request: Any, context: Any) -> Any:
        async def status() -> Any:
            record = self.runtime.container(request.container_id)
            state = self.runtime.container_state(record)
            return pb.ContainerStatusResponse(
                status=pb.ContainerStatus(
                    id=record.id,
                    metadata=pb.ContainerMetadata(name=record.name, attempt=record.attempt),
                    state=pb.ContainerState.Name(state),
                    created_at=record.created_at,
                    started_at=record.started_at,
                    finished_at=record.finished_at,
                    exit_code=record.exit_code,
                    image=self._image_spec(record),
                    image_ref=record.image_id,
                    image_id=record.image_id,
                    reason=record.reason,
                    message=record.message,
                    labels=record.labels,
                    annotations=record.annotations,
                    mounts=[
                        pb.Mount(
                            container_path=m["container_path"],
                            host_path=m["host_path"],
                            readonly=m["readonly"],
                        )
                        for m in record.mounts
                    ],
                    log_path=record.log_path,
                )
            )

        return await _guard(context, status)

    async def ExecSync(self, request: Any, context: Any) -> Any:
        if not request.cmd:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cmd must not be empty")
        result = await _guard(
            context,
            lambda: self.runtime.exec_sync(
                request.container_id, list(request.cmd), int(request.timeout)
            ),
        )
        return pb.ExecSyncResponse(
            stdout=result.stdout, stderr=result.stderr, exit_code=result.exit_code
        )

    async def Exec(self, request: Any, context: Any) -> Any:
        """A one-time URL on the streaming server (kube.cri.runtime.streaming)."""
        if self.streaming is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no streaming server")
        if not request.cmd:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "cmd must not be empty")
        if not (request.stdin or request.stdout or request.stderr):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "one of stdin, stdout, or stderr must be set"
            )
        assert self.streaming is not None
        record = await _guard(context, lambda: _found(self.runtime, request.container_id))
        url = self.streaming.prepare(
            ExecRequest(
                record.id,
                list(request.cmd),
                bool(request.tty),
                bool(request.stdin),
                bool(request.stdout),
                bool(request.stderr),
            )
        )
        return pb.ExecResponse(url=url)

    async def Attach(self, request: Any, context: Any) -> Any:
        """A one-time URL where the container's stdio is relayed (kube.cri.runtime.streaming)."""
        if self.streaming is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no streaming server")
        if not (request.stdin or request.stdout or request.stderr):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "one of stdin, stdout, or stderr must be set"
            )
        assert self.streaming is not None
        record = await _guard(context, lambda: _found(self.runtime, request.container_id))
        attach = AttachRequest(
            record.id, bool(request.tty), bool(request.stdin), bool(request.stdout),
            bool(request.stderr),
        )  # fmt: skip
        return pb.AttachResponse(url=self.streaming.prepare(attach))

    async def PortForward(self, request: Any, context: Any) -> Any:
        """A one-time URL for a SPDY port-forward session into the sandbox's network."""
        if self.streaming is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, "no streaming server")
        assert self.streaming is not None

        async def sandbox() -> SandboxRecord:
            return self.runtime.sandbox(request.pod_sandbox_id)

        record = await _guard(context, sandbox)
        netns = "" if record.host_network else record.netns_path
        describe = f"pod {record.namespace}/{record.name}" if record.name else "pod"
        forward = PortForwardRequest(record.id, netns, describe)
        return pb.PortForwardResponse(url=self.streaming.prepare(forward))

    async def ReopenContainerLog(self, request: Any, context: Any) -> Any:
        return pb.ReopenContainerLogResponse()

    # -- stats (kube.cri.runtime.stats) ----------------------------------------------------

    def _stats(self, record: ContainerRecord) -> Any:
        """CPU and memory of one container from its cgroup (empty where there is none)."""
        now = time.time_ns()
        stats = pb.ContainerStats(
            attributes=pb.ContainerAttributes(
                id=record.id,
                metadata=pb.ContainerMetadata(name=record.name, attempt=record.attempt),
                labels=record.labels,
                annotations=record.annotations,
            )
        )
        if not record.cgroups_path:
            return stats
        usage = read_usage(record.cgroups_path, now)
        if usage.cpu_ns is not None:
            stats.cpu.timestamp = now
            stats.cpu.usage_core_nano_seconds.value = usage.cpu_ns
            rate = self.cpu_rate.rate(record.id, now, usage.cpu_ns)
            if rate is not None:
                stats.cpu.usage_nano_cores.value = rate
        if usage.memory_usage is not None:
            memory = stats.memory
            memory.timestamp = now
            memory.usage_bytes.value = usage.memory_usage
            memory.working_set_bytes.value = usage.working_set or 0
            for name, value in (
                ("rss_bytes", usage.rss),
                ("page_faults", usage.page_faults),
                ("major_page_faults", usage.major_page_faults),
                ("available_bytes", usage.available),
            ):
                if value is not None:
                    getattr(memory, name).value = value
        return stats

    async def ContainerStats(self, request: Any, context: Any) -> Any:
        record = await _guard(context, lambda: _found(self.runtime, request.container_id))
        return pb.ContainerStatsResponse(stats=self._stats(record))

    async def ListContainerStats(self, request: Any, context: Any) -> Any:
        """Stats of the running containers the filter selects (id/sandbox prefixes, labels)."""
        wanted = request.filter
        selector = dict(wanted.label_selector)  # a protobuf map is slow to read per item
        found = []
        for record in list(self.runtime.container_records.values()):
            if wanted.id and not record.id.startswith(wanted.id):
                continue
            if wanted.pod_sandbox_id and not record.sandbox_id.startswith(wanted.pod_sandbox_id):
                continue
            if not _labels_match(record.labels, selector):
                continue
            if self.runtime.container_state(record) != pb.CONTAINER_RUNNING:
                continue
            found.append(self._stats(record))
        self.cpu_rate.forget(set(self.runtime.container_records))
        return pb.ListContainerStatsResponse(stats=found)


class ImageServicer(pb_grpc.ImageServiceServicer):
    """runtime.v1.ImageService over the content store; PullImage only finds local images."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @staticmethod
    def _image(image: Image) -> Any:
        uid = image.config.get("User", "")
        message = pb.Image(
            id=image.id,
            repo_tags=image.repo_tags,
            repo_digests=image.repo_digests,
            size=image.size,
            spec=pb.ImageSpec(image=image.id),
        )
        name = str(uid).partition(":")[0]
        if name.isdigit():
            message.uid.value = int(name)
        elif name:
            message.username = name
        return message

    async def ListImages(self, request: Any, context: Any) -> Any:
        wanted = request.filter.image.image
        images = self.runtime.images.all()
        if wanted:
            found = self.runtime.images.resolve(wanted)
            images = [found] if found is not None else []
        return pb.ListImagesResponse(images=[self._image(i) for i in images])

    async def ImageStatus(self, request: Any, context: Any) -> Any:
        image = self.runtime.images.resolve(request.image.image)
        if image is None:
            return pb.ImageStatusResponse()
        return pb.ImageStatusResponse(image=self._image(image))

    async def PullImage(self, request: Any, context: Any) -> Any:
        ref = request.image.image
        image = self.runtime.images.resolve(ref)
        if image is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"pull access denied for {ref}: no registry is reachable from this node; "
                "load the image with `kube image import FILE`",
            )
        assert image is not None
        return pb.PullImageResponse(image_ref=image.id)

    async def RemoveImage(self, request: Any, context: Any) -> Any:
        with contextlib.suppress(ImageError):  # removing an absent image succeeds (CRI)
            self.runtime.images.remove(request.image.image)
        return pb.RemoveImageResponse()

    async def ImageFsInfo(self, request: Any, context: Any) -> Any:
        root = self.runtime.images.root
        root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(root)
        return pb.ImageFsInfoResponse(
            image_filesystems=[
                pb.FilesystemUsage(
                    timestamp=time.time_ns(),
                    fs_id=pb.FilesystemIdentifier(mountpoint=str(root)),
                    used_bytes=pb.UInt64Value(value=usage.used),
                )
            ]
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _log_path(directory: str, relative: str) -> str:
    if not relative:
        return ""
    return str(Path(directory) / relative) if directory else relative


def socket_path(endpoint: str) -> Path:
    """The file of a `unix:///path` endpoint (a bare path is taken as is)."""
    if endpoint.startswith("unix://"):
        return Path(endpoint[len("unix://") :])
    if "://" in endpoint:
        raise ValueError(f"endpoint {endpoint!r}: only unix:// sockets are supported")
    return Path(endpoint)


async def serve(runtime: Runtime, endpoint: str, ready: asyncio.Event | None = None) -> None:
    """Serves the CRI on `endpoint` until cancelled."""
    # Blocking work goes to threads (netlink in a pod's namespace, mounts, the bundles' and
    # records' files), most of it waiting on the kernel or the disk: asyncio's default of
    # cpus + 4 threads queued a sandbox's files behind other pods' netlink and mounts.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="runtime")
    )
    path = socket_path(endpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    server = grpc.aio.server()
    streaming = StreamingServer(exec_command(runtime), attach_socket=attach_socket(runtime))
    await streaming.start()
    servicer = RuntimeServicer(runtime, streaming)
    pb_grpc.add_RuntimeServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    pb_grpc.add_ImageServiceServicer_to_server(ImageServicer(runtime), server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"unix://{path}")
    await server.start()
    # The shim launcher's start-up, ahead of the first container (kube.cri.runtime.launcher).
    warm = (
        asyncio.create_task(asyncio.to_thread(runtime.containers.launcher.start))
        if runtime.mode == "runc"
        else None
    )
    os.chmod(path, 0o660)
    log.info("CRI listening on unix://%s (mode %s, root %s)", path, runtime.mode, runtime.root)
    if ready is not None:
        ready.set()
    try:
        await server.wait_for_termination()
    finally:
        if warm is not None:
            warm.cancel()
        await streaming.stop()
        await server.stop(grace=1.0)
        path.unlink(missing_ok=True)
