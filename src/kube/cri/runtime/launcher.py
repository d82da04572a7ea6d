"""The runtime's side of the shim launcher (kube.cri.runtime.shim `launcher()`).

Starting a shim as a program costs a Python start-up and the shim's imports per container:
about 50 ms of CPU and 100 ms of wall time each, which is most of a container's start when 100
pods start at once on 2 cores. The launcher is one long-lived child process that has imported
the shim once and forks one per request. `ShimLauncher.launch` asks it (one request at a time:
the launcher answers once it has forked, about a millisecond), starting it on first use and
again after it died; when it cannot be used it returns None and the caller executes the shim as a
program, so a broken launcher costs speed, never containers.

The launcher reads requests from a pipe: it exits when this process closes it or exits, and the
shims it forked live on in their own sessions (their containers survive a runtime restart).
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
import weakref
from pathlib import Path

log = logging.getLogger("kube.runtime.launcher")

MAX_FAILURES = 3  # launchers that died before the runtime gives up on them


class ShimLauncher:
    """One `python -m kube.cri.runtime.shim --launcher` process, started when first needed."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self.failures = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._finalizer: weakref.finalize[..., ShimLauncher] | None = None

    def launch(self, argv: list[str], stderr: Path) -> int | None:
        """Forks a shim with `argv` (the shim's `main` arguments), its stderr appended to
        `stderr`; the shim's pid, or None if the launcher is not usable (or could not fork).

        Blocking (a pipe write and a line read): call it from a thread.
        """
        with self._lock:
            if self.failures >= MAX_FAILURES:
                return None
            try:
                process = self._ensure()
                assert process.stdin is not None
                assert process.stdout is not None
                request = {"argv": argv, "stderr": str(stderr)}
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
                reply = process.stdout.readline()
                if not reply:
                    raise OSError(f"the shim launcher exited ({process.wait()})")
                answer = json.loads(reply)
                if "error" in answer:
                    log.warning("shim launcher: %s; starting this shim as a program", answer)
                    return None
                return int(answer["pid"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                self.failures += 1
                log.warning("shim launcher: %s; starting this shim as a program", err)
                self._close()
                return None

    def start(self) -> bool:
        """Starts the launcher ahead of the first container (`kube runtime` does at start-up):
        its Python start-up and imports, about 100 ms, are then not part of the first pods'
        start, when their sandboxes keep both cores busy. False if it could not be started.

        Blocking (a process start): call it from a thread.
        """
        with self._lock:
            if self.failures >= MAX_FAILURES:
                return False
            try:
                self._ensure()
            except OSError as err:
                self.failures += 1
                log.warning("shim launcher: %s", err)
                return False
            return True

    def close(self) -> None:
        """Ends the launcher (its shims and their containers keep running)."""
        with self._lock:
            self._close()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._close()
        process = subprocess.Popen(
            [self.python, "-m", "kube.cri.runtime.shim", "--launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C of the runtime's terminal is not the shims'
        )
        self._process = process
        # Closing the pipe ends the launcher; reaping it keeps a zombie (and a ResourceWarning)
        # away when the runtime object goes before the process does.
        self._finalizer = weakref.finalize(self, _stop, process)
        return process

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
        self._process = None


def _stop(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
