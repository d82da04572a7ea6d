"""The built-in runtime's state and operations, in plain Python: what the CRI server serves.

`Runtime` keeps what must outlive a reboot under its root directory and what describes the
running pods under a state directory, as containerd does (`root` /var/lib/containerd, `state`
/run/containerd):

    <root>/images/          the content store (kube.cri.runtime.images)
    <root>/snapshots/<id>/  each container's writable layer (the overlay's upper and work dirs)
    <state>/sandboxes/<id>  each sandbox's record and its hosts, resolv.conf and hostname files
    <state>/containers/<id> each container's bundle (config.json, rootfs mount point) and record
    <state>/network/        address allocations per bridge
    <state>/runc/           runc's own state (its --root)
    <state>/bin/runc        a link to this process's sealed copy of runc (kube.cri.runtime.sealed)

The state directory is kept in memory (`memory_backed`): a tmpfs is mounted on it unless it is
one already (as /run is, where systemd boots the machine). Pods do not outlive a reboot, and
neither does their state; a snapshot left without a container is removed when the runtime
starts. Every container start writes a dozen files there (the bundle, runc's state, the
shim's), and on a disk that churns through pods each file's inode allocation and journal entry
made the runtime's CPU a pod about a tenth higher.

Everything is reloaded when a runtime starts, so restarting `kube runtime` keeps the pods
running (their shims keep their stdio and reap them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kube.cri.runtime import hostports
from kube.cri.runtime.containers import (
    ContainerError,
    ContainerManager,
    ContainerRequest,
    ExecResult,
    detect_mode,
    mount_filesystem,
)
from kube.cri.runtime.hostports import HostPort
from kube.cri.runtime.images import ImageStore
from kube.cri.runtime.sandbox import PodNetwork, hosts_file, resolv_conf
from kube.cri.runtime.sealed import sealed_binary
from kube.cri.runtime.state import (
    CONTAINER_RUNNING,
    SANDBOX_NOTREADY,
    SANDBOX_READY,
    ContainerRecord,
    SandboxRecord,
    load_containers,
    load_sandboxes,
    new_id,
    save,
)

log = logging.getLogger("kube.runtime")

RUNTIME_NAME = "kube-runtime"
HOSTPORTS = "hostports"  # in a sandbox's directory: it has DNAT rules (kube.cri.runtime.hostports)
CGROUP_ROOT = Path("/sys/fs/cgroup")
_T = TypeVar("_T")


class NotFound(Exception):
    """No sandbox or container with that id."""


@dataclass
class SandboxRequest:
    """What RunPodSandbox asks for, in plain Python."""

    name: str
    uid: str
    namespace: str
    attempt: int = 0
    hostname: str = ""
    log_directory: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    dns_servers: list[str] = field(default_factory=list)
    dns_searches: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    host_network: bool = False
    cgroup_parent: str = ""
    runtime_handler: str = ""
    port_mappings: list[HostPort] = field(default_factory=list)


SYSTEM_ROOT = Path("/var/lib/kube/runtime")
SYSTEM_STATE = Path("/run/kube/runtime")
MEMORY_FILESYSTEMS = (0x01021994, 0x858458F6)  # statfs f_type of tmpfs and ramfs


def default_root() -> Path:
    if env := os.environ.get("KUBE_RUNTIME_ROOT"):
        return Path(env)
    if os.geteuid() == 0:
        return SYSTEM_ROOT
    return Path.home() / ".local" / "share" / "kube" / "runtime"


def default_state(root: Path) -> Path:
    """The state directory that goes with `root`: $KUBE_RUNTIME_STATE, /run/kube/runtime for
    the system root, else `<root>-state` beside it (two runtimes never share one)."""
    if env := os.environ.get("KUBE_RUNTIME_STATE"):
        return Path(env)
    if root == SYSTEM_ROOT:
        return SYSTEM_STATE
    return root.with_name(root.name + "-state")


def memory_backed(state: Path) -> bool:
    """Makes `state` a directory kept in memory: a tmpfs is mounted on it (mode 0711) unless its
    filesystem is one already. True if it is in memory; False when it cannot be (not root: the
    directory is used as it is)."""
    state.mkdir(parents=True, exist_ok=True)
    if _filesystem_type(state) in MEMORY_FILESYSTEMS:
        return True
    if os.geteuid() != 0:
        return False
    try:
        mount_filesystem("tmpfs", state, "mode=0711")
    except OSError as err:
        log.warning("state %s stays on disk: %s", state, err)
        return False
    return True


def _filesystem_type(path: Path) -> int:
    """statfs(2)'s f_type (os.statvfs does not give it): the first field of struct statfs, a
    native long on 64-bit Linux (x86_64, arm64)."""
    buffer = ctypes.create_string_buffer(512)  # more than struct statfs takes (120 bytes)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(os.fsencode(path), buffer) != 0:
        return 0
    return int.from_bytes(buffer.raw[: ctypes.sizeof(ctypes.c_long)], sys.byteorder)


class Runtime:
    """Images and writable layers under `root`, sandboxes and containers under `state`."""

    def __init__(
        self,
        root: Path,
        *,
        state: Path | None = None,
        bridge: str = "kube0",
        pod_cidr: str | None = None,
        mode: str | None = None,
        runc: str = "runc",
    ) -> None:
        self.root = root
        self.state = state = state or default_state(root)
        self.state_in_memory = memory_backed(state)
        self.mode = mode or detect_mode()
        self.images = ImageStore(root / "images")
        self.network = PodNetwork(state / "network", bridge, pod_cidr)
        self.sandbox_root = state / "sandboxes"
        if self.mode == "runc":  # runc from a sealed memfd: no copy of itself per `runc init`
            runc = sealed_binary(runc, state / "bin") or runc
        self.containers = ContainerManager(
            state / "containers",
            self.images,
            mode=self.mode,
            runc=runc,
            runc_root=state / "runc",
            snapshots=root / "snapshots",
        )
        self.sandbox_root.mkdir(parents=True, exist_ok=True)
        (state / "containers").mkdir(parents=True, exist_ok=True)
        self.sandboxes: dict[str, SandboxRecord] = load_sandboxes(self.sandbox_root)
        self.container_records: dict[str, ContainerRecord] = load_containers(state / "containers")
        self.containers.remove_orphan_snapshots(set(self.container_records))
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    # -- sandboxes -------------------------------------------------------------------------

    def sandbox(self, sandbox_id: str) -> SandboxRecord:
        record = self.sandboxes.get(sandbox_id) or self._by_prefix(self.sandboxes, sandbox_id)
        if record is None:
            raise NotFound(f"pod sandbox {sandbox_id!r} not found")
        return record

    def container(self, container_id: str) -> ContainerRecord:
        found = self.container_records.get(container_id) or self._by_prefix(
            self.container_records, container_id
        )
        if found is None:
            raise NotFound(f"container {container_id!r} not found")
        return found

    @staticmethod
    def _by_prefix(records: dict[str, _T], prefix: str) -> _T | None:
        if len(prefix) < 6:
            return None
        matches = [v for k, v in records.items() if k.startswith(prefix)]
        return matches[0] if len(matches) == 1 else None

    async def run_sandbox(self, request: SandboxRequest) -> SandboxRecord:
        record = SandboxRecord(
            id=new_id(),
            name=request.name,
            uid=request.uid,
            namespace=request.namespace,
            attempt=request.attempt,
            hostname=request.hostname or request.name,
            log_directory=request.log_directory,
            labels=dict(request.labels),
            annotations=dict(request.annotations),
            created_at=time.time_ns(),
            host_network=request.host_network,
            cgroup_parent=request.cgroup_parent,
            runtime_handler=request.runtime_handler,
        )
        directory = self.sandbox_root / record.id
        await asyncio.to_thread(directory.mkdir, parents=True)
        try:
            if not request.host_network and self.mode == "runc":
                attachment = await self.network.attach(record.id)
                record.netns, record.netns_path = attachment.netns, attachment.netns_path
                record.ip = attachment.ip
                if await hostports.install(record.id, record.ip, request.port_mappings):
                    (directory / HOSTPORTS).write_text(hostports.table_name(record.id) + "\n")
            # In a thread: a busy disk holds up the event loop, and every other call, otherwise.
            await asyncio.to_thread(_write_sandbox_files, directory, record, request)
        except BaseException:
            await hostports.remove(record.id)
            await self.network.detach(record.id)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        self.sandboxes[record.id] = record
        log.info(
            "sandbox %s for pod %s/%s: ip %s",
            record.id[:12],
            record.namespace,
            record.name,
            record.ip or "-",
        )
        return record

    async def stop_sandbox(self, sandbox_id: str) -> None:
        record = self.sandbox(sandbox_id)
        async with self._lock(record.id):
            for container in self.sandbox_containers(record.id):
                if self.containers.state(container) == CONTAINER_RUNNING:
                    await self.containers.stop(container, 0)
            if record.state != SANDBOX_NOTREADY:
                if (self.sandbox_root / record.id / HOSTPORTS).exists():
                    await hostports.remove(record.id)
                await self.network.detach(record.id)
                record.state = SANDBOX_NOTREADY
                save(record, self.sandbox_root / record.id, "sandbox.json")

    async def remove_sandbox(self, sandbox_id: str) -> None:
        try:
            record = self.sandbox(sandbox_id)
        except NotFound:
            return  # RemovePodSandbox is idempotent
        await self.stop_sandbox(record.id)
        for container in self.sandbox_containers(record.id):
            await self.remove_container(container.id)
        async with self._lock(record.id):
            shutil.rmtree(self.sandbox_root / record.id, ignore_errors=True)
            self.sandboxes.pop(record.id, None)
            if record.cgroup_parent and not any(
                s.cgroup_parent == record.cgroup_parent for s in self.sandboxes.values()
            ):
                remove_cgroup(record.cgroup_parent)

    def sandbox_containers(self, sandbox_id: str) -> list[ContainerRecord]:
        return [c for c in self.container_records.values() if c.sandbox_id == sandbox_id]

    # -- containers ------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, request: ContainerRequest) -> ContainerRecord:
        sandbox = self.sandbox(sandbox_id)
        if sandbox.state != SANDBOX_READY:
            raise ContainerError(f"pod sandbox {sandbox_id} is not ready")
        record = await self.containers.create(sandbox, self.sandbox_root / sandbox.id, request)
        self.container_records[record.id] = record
        return record

    async def start_container(self, container_id: str) -> None:
        record = self.container(container_id)
        async with self._lock(record.id):
            await self.containers.start(record)

    async def stop_container(self, container_id: str, grace: int) -> None:
        record = self.container(container_id)
        async with self._lock(record.id):
            await self.containers.stop(record, grace)

    async def remove_container(self, container_id: str) -> None:
        try:
            record = self.container(container_id)
        except NotFound:
            return
        async with self._lock(record.id):
            await self.containers.remove(record)
            self.container_records.pop(record.id, None)

    def container_state(self, record: ContainerRecord) -> int:
        return self.containers.state(record)

    async def exec_sync(self, container_id: str, cmd: list[str], seconds: int) -> ExecResult:
        return await self.containers.exec_sync(self.container(container_id), cmd, seconds)


def _write_sandbox_files(directory: Path, record: SandboxRecord, request: SandboxRequest) -> None:
    """The sandbox's hosts, hostname and resolv.conf files, its log directory and its record."""
    (directory / "hosts").write_text(hosts_file(record.ip, record.hostname))
    (directory / "hostname").write_text(record.hostname + "\n")
    (directory / "resolv.conf").write_text(
        resolv_conf(request.dns_servers, request.dns_searches, request.dns_options)
    )
    if request.log_directory:
        Path(request.log_directory).mkdir(parents=True, exist_ok=True)
    save(record, directory, "sandbox.json")


def remove_cgroup(path: str) -> None:
    """Removes an (empty) cgroup directory in every hierarchy, deepest first; best effort."""
    relative = path.strip("/")
    if not relative:
        return
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        target = hierarchy / relative
        if target.is_dir() and not target.is_symlink():
            for directory in sorted(
                (p for p in target.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
            ):
                _rmdir(directory)
            _rmdir(target)


def _rmdir(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.rmdir()
