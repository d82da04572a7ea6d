"""Components of `kube server` run as child processes of their own.

Python runs one thread of bytecode at a time per process, so an API server sharing its process
with the controller-manager and the scheduler gets at most one core for all three. Upstream runs
them as separate processes; `kube server` does the same by default: each of these rows starts
`kube controller-manager` / `kube scheduler` with the server's admin kubeconfig, and

- the child tells the parent it is ready through a pipe (`KUBE_READY_FD`), when its own ready
  event is set (the same moment the in-process row would report ready);
- the child dies with the parent (`KUBE_PARENT_PID`: PR_SET_PDEATHSIG), so a SIGKILLed server
  leaves no controllers behind;
- a child that exits on its own (a lost leader Lease: upstream's components exit and are
  restarted by their supervisor) is started again after a short pause; one that keeps failing
  right after starting fails the row, and with it the server.

Stopping the row sends SIGTERM, waits up to `STOP_GRACE` seconds, then SIGKILLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

log = logging.getLogger("kube.server")

READY_FD_ENV = "KUBE_READY_FD"
PARENT_PID_ENV = "KUBE_PARENT_PID"
STOP_GRACE = 10.0
RESTART_PAUSE = 1.0
QUICK_EXIT = 5.0  # a child that dies sooner than this after starting is failing, not restarting
QUICK_EXITS_ALLOWED = 3
_PR_SET_PDEATHSIG = 1


class ChildFailed(Exception):
    """The child kept exiting right after it started."""


def die_with_parent() -> None:
    """In a child started by `run_child`: be killed when the parent process ends.

    SIGKILL rather than SIGTERM: a parent that ended without stopping its rows took the API
    server with it, and a graceful stop would only wait on it (releasing the leader Lease)."""
    parent = os.environ.pop(PARENT_PID_ENV, "")
    if not parent or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if str(os.getppid()) != parent:  # the parent ended before the signal was armed
        os._exit(1)


def notify_when_ready(ready: asyncio.Event) -> asyncio.Task[None] | None:
    """In a child started by `run_child`: write one line to the parent once `ready` is set."""
    fd_text = os.environ.pop(READY_FD_ENV, "")
    if not fd_text:
        return None
    fd = int(fd_text)

    async def notify() -> None:
        try:
            await ready.wait()
            with contextlib.suppress(OSError):
                os.write(fd, b"ready\n")
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)

    return asyncio.create_task(notify(), name="notify-parent-ready")


def kube_command(*args: str) -> list[str]:
    """`kube ARGS...` with this interpreter, whatever way this process was started."""
    return [
        sys.executable,
        "-m",
        "kube.cli.main",
        *args,
    ]


async def run_child(name: str, argv: Sequence[str], ready: asyncio.Event) -> None:
    """Run `argv` (a `kube` command) as the `name` row until cancelled; see the module doc."""
    quick_exits = 0
    while True:
        started = time.monotonic()
        code = await _run_once(name, argv, ready)
        if time.monotonic() - started < QUICK_EXIT:
            quick_exits += 1
            if quick_exits >= QUICK_EXITS_ALLOWED:
                raise ChildFailed(f"kept exiting right after starting (last exit code {code})")
        else:
            quick_exits = 0
        log.warning("%s exited with code %s; starting it again", name, code)
        await asyncio.sleep(RESTART_PAUSE)


async def _run_once(name: str, argv: Sequence[str], ready: asyncio.Event) -> int:
    read_fd, write_fd = os.pipe()
    env = dict(os.environ, **{READY_FD_ENV: str(write_fd), PARENT_PID_ENV: str(os.getpid())})
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, pass_fds=(write_fd,), stdin=asyncio.subprocess.DEVNULL
        )
    finally:
        os.close(write_fd)
    log.info("%s: started as process %d", name, process.pid)
    reader = asyncio.create_task(_wait_ready(read_fd, ready), name=f"{name}-ready")
    try:
        return await process.wait()
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        if process.returncode is None:
            await _stop(process)


async def _wait_ready(read_fd: int, ready: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    stream = asyncio.StreamReader()
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), pipe)
    try:
        if (await stream.readline()).strip() == b"ready":
            ready.set()
        await stream.read()  # until the child closes its end
    finally:
        transport.close()


async def _stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.shield(asyncio.wait_for(process.wait(), STOP_GRACE))
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await asyncio.shield(process.wait())
