"""A real `kube server` in its own process for a harness, started and stopped by its PID.

The harnesses measure a component (the scheduler, ...) in their own process against an API
server that runs exactly as a user runs it (`kube server --data-dir <tmp> --secure-port 0`,
SQLite, HTTPS) in another, so the two never share an event loop or a GIL. Readiness is the
line `kube server is up` on stdout, followed by the `apiserver:` URL and the `kubeconfig:`
path. The server's log goes to a file in the data dir, never to a pipe nobody drains (a full
pipe would stall the server and show up as latency); stdout is drained after readiness.
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
from typing import Any

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


def _kube_command() -> list[str]:
    """The `kube` of this interpreter's environment, or `python -m kube.cli.main`."""
    script = Path(sys.executable).parent / "kube"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "kube.cli.main"]


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


def stop(
    proc: subprocess.Popen[Any],
    sig: signal.Signals = signal.SIGTERM,
    timeout: float = STOP_TIMEOUT_S,
) -> None:
    """Send `sig` to this PID (and only it), then SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    os.kill(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def kube_server(extra_args: Sequence[str] = ()) -> Iterator[RunningServer]:
    """Run `kube server` on SQLite in a temporary data dir for the duration of the block.

    `extra_args` go to `kube server` as they are, e.g. `--controllers= --disable-scheduler`
    for a bare API server.
    """
    with tempfile.TemporaryDirectory(prefix="kube-bench-") as tmp:
        root = Path(tmp)
        log_path = root / "server.log"
        with log_path.open("w") as log:
            command = [*_kube_command(), "server", "--disable-agent", "--data-dir", str(root)]
            command += ["--secure-port", "0"]
            proc = subprocess.Popen(
                [*command, *extra_args],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                text=True,
                # Its own session: a Ctrl-C meant for the harness must not kill the server
                # under it; the harness ends its run and then stops the server by PID.
                start_new_session=True,
            )
            drain: threading.Thread | None = None
            try:
                url, kubeconfig = _read_until_ready(proc, log_path)
                drain = threading.Thread(target=_drain, args=(proc,), daemon=True)
                drain.start()
                yield RunningServer(proc.pid, url, kubeconfig, root, log_path)
            finally:
                stop(proc)
                if drain is not None:
                    drain.join(timeout=5)
                assert proc.stdout is not None
                proc.stdout.close()
