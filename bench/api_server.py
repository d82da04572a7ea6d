"""A real `kube server` subprocess for the API benchmarks, started and stopped by its PID.

The server runs exactly as a user runs it (`kube server --data-dir <tmp> --secure-port 0`,
SQLite, HTTPS), in its own process, so the load generator (another process) and the server
never share an event loop. Readiness is the line `kube server is up` on stdout (what
tests/e2e/conftest.py waits for); the URL and the admin kubeconfig come from the lines after
it. The server's log goes to a file in the data dir, never to a pipe nobody drains (a full
pipe would stall the server and show up as latency).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
READY_LINE = "kube server is up"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class ServerFailed(RuntimeError):
    """`kube server` exited or never said it was up; the message carries its log's tail."""


@dataclass(frozen=True)
class RunningServer:
    pid: int
    url: str
    kubeconfig: Path
    data_dir: Path
    log: Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine spent busy (not idle or in iowait) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _read_until_ready(proc: subprocess.Popen[str], log: Path) -> tuple[str, Path]:
    assert proc.stdout is not None
    url = ""
    kubeconfig: Path | None = None
    up = False
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise ServerFailed(f"kube server exited: {log.read_text()[-2000:]}")
        if READY_LINE in line:
            up = True
        elif up and line.strip().startswith("apiserver:"):
            url = line.split(":", 1)[1].strip()
        elif up and line.strip().startswith("kubeconfig:"):
            kubeconfig = Path(line.split(":", 1)[1].strip())
        if url and kubeconfig is not None:
            return url, kubeconfig
    raise ServerFailed(f"kube server not up after {START_TIMEOUT_S:.0f} s")


def _drain(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM this PID (and only it), then SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def kube_server(
    data_dir: Path | None = None, extra_args: Sequence[str] = ()
) -> Iterator[RunningServer]:
    """Run `kube server` on SQLite in a temporary data dir for the duration of the block.

    `extra_args` go to `kube server` as they are, e.g. `--controllers=` to measure the API
    server without the in-process controllers (whose informers watch through the same loop).
    """
    with tempfile.TemporaryDirectory(prefix="kube-bench-") as tmp:
        root = data_dir or Path(tmp)
        log_path = root / "server.log"
        with log_path.open("w") as log:
            command = [str(BIN / "kube"), "server", "--disable-agent", "--data-dir", str(root)]
            command += ["--secure-port", "0"]
            proc = subprocess.Popen(
                [*command, *extra_args],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            drain: threading.Thread | None = None
            try:
                url, kubeconfig = _read_until_ready(proc, log_path)
                # Keep draining stdout past readiness so a later line can never block the
                # server on a full pipe (closing it instead would break its next print).
                drain = threading.Thread(target=_drain, args=(proc,), daemon=True)
                drain.start()
                yield RunningServer(proc.pid, url, kubeconfig, root, log_path)
            finally:
                _stop(proc)
                if drain is not None:
                    drain.join(timeout=5)
                assert proc.stdout is not None
                proc.stdout.close()
