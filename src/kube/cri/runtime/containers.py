"""Containers of the built-in runtime: an OCI bundle each, run by runc through a shim.

CreateContainer makes the bundle `<state>/containers/<id>/`: the rootfs (an overlay mount over
the image's layer directories with the container's own upper and work dirs, its snapshot in
`<root>/snapshots/<id>/`; where overlayfs cannot be used, a copy of the layers there and a link
to it), `config.json` (kube.cri.runtime.spec) and `container.json` (the record).
StartContainer starts the shim (kube.cri.runtime.shim, forked by the runtime's shim launcher,
kube.cri.runtime.launcher), which runs `runc run --detach` and keeps the container's stdio,
writing the CRI log file the kubelet named: one runc and no Python start-up per
container, as containerd creates its task only at StartContainer. StopContainer sends SIGTERM,
waits the grace period, then SIGKILL; the exit code and time come from the file the shim writes
when the container's init is reaped.

Process mode (no runc, or not root) runs the image's process directly from the copied rootfs,
without namespaces or cgroups: enough to run a pod's programs on a machine that cannot isolate
them, and `kube doctor` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from kube.cri.runtime.images import Image, ImageStore, assemble_copy
from kube.cri.runtime.launcher import ShimLauncher
from kube.cri.runtime.spec import (
    ContainerSpec,
    Mount,
    Resources,
    command_line,
    merge_env,
    oci_config,
)
from kube.cri.runtime.state import (
    CONTAINER_CREATED,
    CONTAINER_EXITED,
    CONTAINER_RUNNING,
    ContainerRecord,
    SandboxRecord,
    new_id,
    save,
)

log = logging.getLogger("kube.runtime.containers")

RECORD = "container.json"
CGROUP_ROOT = Path("/sys/fs/cgroup")
CREATE_TIMEOUT = 30.0
SHIM_CHECK_PERIOD = 1.0  # seconds between looks at a running container's shim process
SHIM_POLL_FIRST, SHIM_POLL_MAX = 0.005, 0.04  # seconds between looks for the shim's `created`
SHIM_NOTIFY_CHECK = 1.0  # seconds between looks at the files while the notify FIFO is open
NOTIFY = "notify"  # the FIFO the shim writes a line to once `created` or `error` is written
# Containers started at once (each a shim's `runc run`); the others wait their turn, in order.
# Two a core: on 2 cores 4 slots gave a lower p99 than 6 or 10 for 100 pods, quiet or beside
# two busy loops (0.73-0.93 s against 0.82-1.04 s quiet), and less CPU a start (less contention).
START_SLOTS = int(
    os.environ.get("KUBE_RUNTIME_START_SLOTS", str(max(2, 2 * (os.cpu_count() or 1))))
)
START_SLOT_HOLD = 2.0  # seconds a start may keep its slot: a slow runc does not stop the rest


class ContainerError(Exception):
    """A container operation failed; the message says why (runc's own words where it spoke)."""


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


def detect_mode() -> str:
    """`runc` when runc is on PATH and we are root; otherwise `process`."""
    if os.geteuid() == 0 and shutil.which("runc") is not None:
        return "runc"
    return "process"


@dataclass
class ContainerRequest:
    """What CreateContainer asks for, in plain Python (the server translates the protobuf)."""

    name: str
    image: str
    attempt: int = 0
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    working_dir: str = ""
    mounts: list[Mount] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    resources: Resources = field(default_factory=Resources)
    run_as_user: int | None = None
    run_as_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()  # extra GIDs (the pod's fsGroup first)
    readonly_rootfs: bool = False
    privileged: bool = False
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False


class ContainerManager:
    """Bundles, shims and runc for every container under `root`."""

    def __init__(
        self,
        root: Path,
        images: ImageStore,
        *,
        mode: str = "runc",
        runc: str = "runc",
        runc_root: Path | None = None,
        snapshots: Path | None = None,
    ) -> None:
        self.root = root
        self.snapshots = snapshots or root
        self.images = images
        self.mode = mode
        self.runc = runc
        self.runc_root = runc_root or Path("/run/kube-runc") / str(abs(hash(str(root))) % 10**8)
        self._shim_checked: dict[str, float] = {}  # container id -> monotonic time of the check
        self.launcher = ShimLauncher()
        self.start_slots = asyncio.Semaphore(START_SLOTS) if START_SLOTS > 0 else None

    def bundle(self, container_id: str) -> Path:
        return self.root / container_id

    def snapshot(self, container_id: str) -> Path:
        """The container's writable layer (kept on disk: it is the container's files)."""
        return self.snapshots / container_id

    def remove_orphan_snapshots(self, containers: set[str]) -> None:
        """Snapshots of containers the state no longer has (it went with a reboot)."""
        if self.snapshots == self.root or not self.snapshots.is_dir():
            return
        for path in self.snapshots.iterdir():
            if path.name not in containers:
                log.info("removing the snapshot of a container that is gone: %s", path.name)
                shutil.rmtree(path, ignore_errors=True)

    # -- create ----------------------------------------------------------------------------

    def build_spec(
        self, sandbox: SandboxRecord, sandbox_dir: Path, image: Image, request: ContainerRequest
    ) -> ContainerSpec:
        """The OCI spec inputs for `request` in `sandbox` (pure apart from reading nothing)."""
        config = image.config
        argv = command_line(
            list(config.get("Entrypoint") or []),
            list(config.get("Cmd") or []),
            request.command,
            request.args,
        )
        if not argv:
            raise ContainerError(f"no command specified for container {request.name!r}")
        uid, gid = _image_user(str(config.get("User") or ""))
        if request.run_as_user is not None:
            uid = request.run_as_user
        if request.run_as_group is not None:
            gid = request.run_as_group
        mounts = list(request.mounts)
        taken = {m.container_path for m in mounts}
        for name, target in (
            ("hosts", "/etc/hosts"),
            ("resolv.conf", "/etc/resolv.conf"),
            ("hostname", "/etc/hostname"),
        ):
            if target not in taken and (sandbox_dir / name).exists():
                mounts.append(Mount(target, str(sandbox_dir / name), readonly=False))
        cgroup_parent = sandbox.cgroup_parent or "/kubepods"
        return ContainerSpec(
            args=argv,
            env=merge_env(list(config.get("Env") or []), request.env),
            cwd=request.working_dir or str(config.get("WorkingDir") or "/"),
            uid=uid,
            gid=gid,
            # As containerd: the primary group, then the CRI's supplemental groups.
            additional_gids=list(dict.fromkeys([gid, *request.supplemental_groups])),
            hostname=sandbox.hostname,
            netns_path=None
            if sandbox.host_network or not sandbox.netns_path
            else sandbox.netns_path,
            mounts=mounts,
            resources=request.resources,
            cgroups_path=f"{cgroup_parent.rstrip('/')}/{'{id}'}",
            readonly_rootfs=request.readonly_rootfs,
            privileged=request.privileged,
            tty=request.tty,
        )

    async def create(
        self, sandbox: SandboxRecord, sandbox_dir: Path, request: ContainerRequest
    ) -> ContainerRecord:
        image = self.images.resolve(request.image)
        if image is None:
            raise ContainerError(f"image {request.image!r} not found (kube image import FILE)")
        spec = self.build_spec(sandbox, sandbox_dir, image, request)
        container_id = new_id()
        spec.cgroups_path = spec.cgroups_path.replace("{id}", container_id)
        bundle = self.bundle(container_id)
        record = ContainerRecord(
            id=container_id,
            sandbox_id=sandbox.id,
            name=request.name,
            attempt=request.attempt,
            image=request.image,
            image_id=image.id,
            labels=dict(request.labels),
            annotations=dict(request.annotations),
            log_path=request.log_path,
            created_at=time.time_ns(),
            mounts=[
                {
                    "container_path": m.container_path,
                    "host_path": m.host_path,
                    "readonly": m.readonly,
                }
                for m in request.mounts
            ],
            mode=self.mode,
            cgroups_path=spec.cgroups_path if self.mode == "runc" else "",
        )
        try:
            # One thread for the bundle's directory, rootfs and files: a busy disk would hold
            # up the event loop, and every other call, otherwise.
            await asyncio.to_thread(
                self._make_bundle, bundle, self.images.layer_dirs(image), spec, record, request
            )
        except BaseException:
            await self._discard(record)
            raise
        return record

    def _make_bundle(
        self,
        bundle: Path,
        layers: list[Path],
        spec: ContainerSpec,
        record: ContainerRecord,
        request: ContainerRequest,
    ) -> None:
        """The bundle: its directory, rootfs, config.json, stdin mode and the record."""
        bundle.mkdir(parents=True)
        record.rootfs_mounted = self._make_rootfs(bundle, layers)
        # Compact: json's C encoder (with an indent it is Python's, four times slower).
        (bundle / "config.json").write_text(json.dumps(oci_config(spec)))
        if request.stdin:  # the shim keeps a stdin pipe for attach (kube.cri.runtime.shim)
            (bundle / "stdin").write_text("once" if request.stdin_once else "open")
        save(record, bundle, RECORD)

    def _make_rootfs(self, bundle: Path, layers: list[Path]) -> bool:
        """An overlay rootfs when we are root and the kernel allows; else a copy. True: mounted.

        The writable layer (upper and work dirs, or the copy) is the container's snapshot, on
        disk; the bundle, in the runtime's state, has the mount point (or a link to the copy)."""
        rootfs = bundle / "rootfs"
        snapshot = self.snapshot(bundle.name)
        separate = snapshot != bundle
        if separate:
            snapshot.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and layers:
            rootfs.mkdir()
            upper, work = snapshot / "upper", snapshot / "work"
            upper.mkdir()
            work.mkdir()
            lower = ":".join(str(p) for p in reversed(layers))
            try:
                mount_overlay(rootfs, f"lowerdir={lower},upperdir={upper},workdir={work}")
                return True
            except OSError as err:
                log.warning("overlay mount failed (%s); copying the layers", err)
            rootfs.rmdir()
        if separate:
            (snapshot / "rootfs").mkdir()
            assemble_copy(layers, snapshot / "rootfs")
            rootfs.symlink_to(snapshot / "rootfs")
        else:
            rootfs.mkdir()
            assemble_copy(layers, rootfs)
        return False

    async def _spawn_shim(self, record: ContainerRecord) -> None:
        bundle = self.bundle(record.id)
        log_path = Path(record.log_path) if record.log_path else bundle / "container.log"
        argv = [
            "--bundle",
            str(bundle),
            "--id",
            record.id,
            "--log",
            str(log_path),
            "--mode",
            self.mode,
            "--runc",
            self.runc,
            "--runc-root",
            str(self.runc_root),
        ]
        notify = await asyncio.to_thread(_open_notify, bundle)  # before the shim writes to it
        try:
            await self._launch(argv, bundle)
            await self._wait_created(bundle, notify)
        finally:
            if notify is not None:
                os.close(notify)

    async def _launch(self, argv: list[str], bundle: Path) -> None:
        """Starts the shim; it daemonizes (forks, and its parent exits at once), so it
        outlives us."""
        launched = await asyncio.to_thread(self.launcher.launch, argv, bundle / "shim.log")
        if launched is None:
            with (bundle / "shim.log").open("ab") as shim_log:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "kube.cri.runtime.shim",
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=shim_log,
                    start_new_session=True,
                )
                await process.wait()

    async def _wait_created(self, bundle: Path, notify: int | None) -> None:
        """Until the shim has written `created` (or `error`: raised). The shim says so on the
        `notify` FIFO, so a start waits without waking: looking at the files with a growing
        pause (5 to 40 ms) cost each start some 30 wake-ups of the event loop and two stats
        each (3,000 for 100 containers starting in about a second), and up to 40 ms. Without
        the FIFO, or once its writer has gone, the files are looked at with that growing pause;
        with it, once a second as well (the shim may die before it writes)."""
        loop = asyncio.get_running_loop()
        created, error = os.path.join(bundle, "created"), os.path.join(bundle, "error")
        woken = asyncio.Event()
        listening = notify is not None

        def readable() -> None:
            nonlocal listening
            assert notify is not None
            try:
                data = os.read(notify, 64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:  # the writer went away: no more lines, and no busy wake-ups
                loop.remove_reader(notify)
                listening = False
            woken.set()

        if notify is not None:
            loop.add_reader(notify, readable)
        try:
            deadline = loop.time() + CREATE_TIMEOUT
            pause = SHIM_POLL_FIRST
            while True:
                if _started(created, error):
                    return
                left = deadline - loop.time()
                if left <= 0:
                    raise ContainerError(f"the shim did not start container {bundle.name} in time")
                wait = min(left, SHIM_NOTIFY_CHECK if listening else pause)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await woken.wait()
                woken.clear()
                pause = min(pause * 2, SHIM_POLL_MAX)
        finally:
            if notify is not None and listening:
                loop.remove_reader(notify)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, record: ContainerRecord) -> None:
        if record.started_at:
            raise ContainerError(f"container {record.id} was already started")
        await self._spawn_in_turn(record)
        record.started_at = time.time_ns()
        await asyncio.to_thread(save, record, self.bundle(record.id), RECORD)

    async def _spawn_in_turn(self, record: ContainerRecord) -> None:
        """`_spawn_shim` once one of START_SLOTS is free, in the order the starts came.

        `runc run` is about 25 ms of CPU (kernel time mostly: namespaces, mounts, cgroups);
        started all at once, the 30-40 containers of a burst of pods shared both cores and all
        finished together, the first as late as the last (the oldest pods 2 s after their
        creation with 100 pods). In turn, each is started as soon as it can be, and the oldest
        pods are Running first. A start keeps its slot for at most START_SLOT_HOLD seconds, so
        a slow runc holds up the others no longer than that.
        """
        slots = self.start_slots
        if slots is None:
            await self._spawn_shim(record)
            return
        await slots.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                slots.release()

        late = asyncio.get_running_loop().call_later(START_SLOT_HOLD, release)
        try:
            await self._spawn_shim(record)
        finally:
            late.cancel()
            release()

    def state(self, record: ContainerRecord) -> int:
        """The CRI state, refreshing the record's exit fields from the shim's files."""
        if not record.finished_at:
            # A str and os.path: the PLEG asks for every container's state each second.
            if not os.path.exists(f"{self.root}/{record.id}/exit"):
                if record.started_at and self._shim_gone(record.id):
                    bundle = self.bundle(record.id)
                    record.exit_code = 255
                    record.finished_at = time.time_ns()
                    record.reason = "Unknown"
                    record.message = "the container's shim went away"
                    save(record, bundle, RECORD)
            else:
                bundle = self.bundle(record.id)
                exit_file = bundle / "exit"
                try:
                    info = json.loads(exit_file.read_text())
                except ValueError:
                    info = None
                if info is not None:
                    record.exit_code = int(info["exit_code"])
                    record.finished_at = int(info["finished_at"])
                    record.reason = "Completed" if record.exit_code == 0 else "Error"
                    if record.exit_code != 0 and oom_killed(record.cgroups_path):
                        record.reason = "OOMKilled"
                    save(record, bundle, RECORD)
        if record.finished_at:
            return CONTAINER_EXITED
        if record.started_at:
            return CONTAINER_RUNNING
        return CONTAINER_CREATED

    def _shim_gone(self, container_id: str) -> bool:
        """Whether the shim died without writing the exit file; looked at once a second.

        The PLEG lists every container each second and the kubelet each pod's on every sync:
        reading the shim's pid file and /proc on each of those was most of the runtime's time
        with 100 pods. A shim that dies is seen within SHIM_CHECK_PERIOD.
        """
        now = time.monotonic()
        if now - self._shim_checked.get(container_id, -SHIM_CHECK_PERIOD) < SHIM_CHECK_PERIOD:
            return False
        self._shim_checked[container_id] = now
        return not _alive(self.bundle(container_id) / "shim.pid")

    async def stop(self, record: ContainerRecord, grace: int) -> None:
        """SIGTERM, `grace` seconds, then SIGKILL; returns once the container has exited."""
        if self.state(record) != CONTAINER_RUNNING:
            return
        if grace > 0:
            await self._signal(record, "TERM")
            if await self._wait_exit(record, float(grace)):
                return
        await self._signal(record, "KILL")
        if not await self._wait_exit(record, 10.0):
            raise ContainerError(f"container {record.id} did not exit after SIGKILL")

    async def _wait_exit(self, record: ContainerRecord, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.state(record) == CONTAINER_EXITED:
                return True
            await asyncio.sleep(0.05)
        return self.state(record) == CONTAINER_EXITED

    async def _signal(self, record: ContainerRecord, name: str) -> None:
        if self.mode == "runc":
            args = ["--all"] if name == "KILL" else []
            await self._runc("kill", *args, record.id, name, check=False)
            return
        pid_text = (self.bundle(record.id) / "created").read_text().strip()
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pid_text), getattr(signal, f"SIG{name}"))

    async def remove(self, record: ContainerRecord) -> None:
        if self.state(record) == CONTAINER_RUNNING:
            await self.stop(record, 0)
        await self._discard(record)

    async def _discard(self, record: ContainerRecord) -> None:
        self._shim_checked.pop(record.id, None)
        bundle = self.bundle(record.id)
        if self.mode == "runc":
            await self._runc("delete", "--force", record.id, check=False)
        rootfs = bundle / "rootfs"
        if await asyncio.to_thread(os.path.ismount, rootfs):
            await asyncio.to_thread(
                subprocess.run, ["umount", "-l", str(rootfs)], capture_output=True, check=False
            )
        await asyncio.to_thread(shutil.rmtree, bundle, True)
        await asyncio.to_thread(shutil.rmtree, self.snapshot(record.id), True)

    async def exec_sync(self, record: ContainerRecord, cmd: list[str], seconds: int) -> ExecResult:
        """Runs `cmd` in the container, collecting its output (`runc exec`)."""
        if self.state(record) != CONTAINER_RUNNING:
            raise ContainerError(f"container {record.id} is not running")
        if self.mode == "runc":
            argv = [self.runc, "--root", str(self.runc_root), "exec", record.id, *cmd]
            cwd = None
        else:
            from kube.cri.runtime.shim import resolve_in_rootfs

            rootfs = self.bundle(record.id) / "rootfs"
            config = json.loads((self.bundle(record.id) / "config.json").read_text())
            executable = resolve_in_rootfs(rootfs, cmd[0], config["process"]["env"])
            if executable is None:
                return ExecResult(b"", f"exec: {cmd[0]!r}: not found\n".encode(), 127)
            argv, cwd = [str(executable), *cmd[1:]], str(rootfs)
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), seconds or None)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        return ExecResult(out, err, process.returncode or 0)

    async def _runc(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            self.runc,
            "--root",
            str(self.runc_root),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if check and process.returncode != 0:
            raise ContainerError(f"runc {args[0]}: {err.decode().strip() or out.decode().strip()}")
        return out.decode()


def _started(created: str, error: str) -> bool:
    """Whether the shim has written `created`; its `error`, raised (two stats, the start's
    only file reads while it waits)."""
    if os.path.exists(created):
        return True
    if os.path.exists(error):
        with open(error) as why:
            raise ContainerError(why.read().strip())
    return False


def _open_notify(bundle: Path) -> int | None:
    """The read end of a new `notify` FIFO in the bundle (kube.cri.runtime.shim `_announce`),
    non-blocking; None where a FIFO cannot be made (the files are looked at instead)."""
    path = bundle / NOTIFY
    try:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path, 0o600)
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        log.warning("no start notification for %s: %s", bundle.name, err)
        return None


def mount_filesystem(kind: str, target: Path, options: str) -> None:
    """mount(2) of a `kind` filesystem (overlay, tmpfs) on `target`: the system call itself,
    not the `mount` program (a fork and exec per container of a large process, when 100 start
    at once). OSError with the kernel's reason when it fails."""
    libc = ctypes.CDLL(None, use_errno=True)
    name = kind.encode()
    if libc.mount(name, os.fsencode(target), name, 0, options.encode()) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {kind} on {target}: {os.strerror(errno)}")


def mount_overlay(target: Path, options: str) -> None:
    mount_filesystem("overlay", target, options)


def _image_user(user: str) -> tuple[int, int]:
    """The numeric uid/gid of an image's USER (names resolve to root in this first cut)."""
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else 0
    gid = int(group) if group.isdigit() else 0
    return uid, gid


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def oom_killed(cgroups_path: str) -> bool:
    """Whether the kernel's OOM killer killed a process of the container's memory cgroup
    (cgroups v1 `memory.oom_control`, v2 `memory.events`: the `oom_kill` counter)."""
    if not cgroups_path:
        return False
    relative = cgroups_path.strip("/")
    for events in (
        CGROUP_ROOT / "memory" / relative / "memory.oom_control",
        CGROUP_ROOT / relative / "memory.events",
    ):
        try:
            lines = events.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                return True
    return False
