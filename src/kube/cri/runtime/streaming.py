"""The runtime's streaming server: CRI `Exec` answered with a URL the kubelet connects to.

As containerd's and CRI-O's streaming servers (k8s.io/kubelet/pkg/cri/streaming): the `Exec`
RPC only registers the request under a one-time token (valid 1 minute) and returns
`http://127.0.0.1:<port>/exec/<token>`; the kubelet then opens a WebSocket there with the
client's subprotocol (`v5.channel.k8s.io` / `v4.channel.k8s.io`) and relays the client's
frames. The command runs as `runc exec` with pipes for stdin, stdout and stderr, or, with a
tty, as `runc exec -t` on a pseudo-terminal of ours, which runc bridges to the one it makes in
the container (a resize on channel 4 sets our terminal's size and sends runc SIGWINCH, which
copies it in; runc only hands a console's master out over `--console-socket` when it detaches,
and then its exit code is lost). Process mode runs the command on pipes or
our pty directly. When the command ends its metav1.Status goes on channel 3 and the socket
closes.

Listens on loopback only: the kubelet is on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import pty
import secrets
import signal
import struct
import termios
import time
import tty
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from kube.cri.runtime.containers import ContainerError
from kube.cri.runtime.runtime import Runtime
from kube.cri.runtime.shim import resolve_in_rootfs
from kube.cri.runtime.state import CONTAINER_RUNNING

log = logging.getLogger("kube.runtime.streaming")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0
READ = 32 * 1024

# (container id, command, tty) -> (argv, cwd)
Command = Callable[[str, list[str], bool], Awaitable[tuple[list[str], str | None]]]


@dataclass(frozen=True)
class ExecRequest:
    container_id: str
    cmd: list[str]
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool


def exit_status(code: int, cmd: list[str]) -> dict[str, Any]:
    """The metav1.Status for channel 3 (upstream's remotecommand for a CodeExitError)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(cmd)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _set_size(fd: int, data: bytes) -> None:
    try:
        size = json.loads(data)
        rows, cols = int(size.get("Height", 0)), int(size.get("Width", 0))
    except (ValueError, TypeError, AttributeError):
        return
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _frame(message: Any) -> bytes | None:
    """A client frame as bytes: binary, or text (the Python client sends its writes of `str`
    as text frames, the channel byte first, as upstream's server accepts)."""
    if message.type == WSMsgType.BINARY and message.data:
        return bytes(message.data)
    if message.type == WSMsgType.TEXT and message.data:
        return str(message.data).encode()
    return None


class StreamingServer:
    """One-time exec URLs and the WebSocket endpoint that runs them."""

    def __init__(self, command: Command, address: str = "127.0.0.1") -> None:
        self.command = command
        self.address = address
        self.port = 0
        self.pending: dict[str, tuple[float, ExecRequest]] = {}
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self.exec)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.address, 0)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        log.info("streaming server on http://%s:%d", self.address, self.port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def prepare(self, request: ExecRequest) -> str:
        """Registers an exec and returns its URL (the CRI ExecResponse.url)."""
        now = time.monotonic()
        for token, (made, _) in list(self.pending.items()):
            if now - made > TOKEN_TTL:
                del self.pending[token]
        token = secrets.token_urlsafe(16)
        self.pending[token] = (now, request)
        return f"http://{self.address}:{self.port}/exec/{token}"

    async def exec(self, request: web.Request) -> web.StreamResponse:
        entry = self.pending.pop(request.match_info["token"], None)
        if entry is None or time.monotonic() - entry[0] > TOKEN_TTL:
            raise web.HTTPNotFound(text="unknown or expired exec token")
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            if entry[1].tty:
                code = await self._run_tty(ws, entry[1])
            else:
                code = await self._run_pipes(ws, entry[1])
            status = exit_status(code, entry[1].cmd)
        except (ContainerError, OSError) as err:
            log.warning("exec in %s failed: %r", entry[1].container_id, err)
            status = {
                "metadata": {},
                "status": "Failure",
                "message": str(err) or type(err).__name__,
                "reason": "InternalError",
                "code": 500,
            }
        with contextlib.suppress(ConnectionResetError):
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
        return ws

    async def _run_pipes(self, ws: web.WebSocketResponse, req: ExecRequest) -> int:
        argv, cwd = await self.command(req.container_id, req.cmd, False)
        pipe = asyncio.subprocess.PIPE
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=pipe if req.stdin else asyncio.subprocess.DEVNULL,
            stdout=pipe,
            stderr=pipe,
            cwd=cwd,
        )

        async def pump(stream: asyncio.StreamReader | None, channel: int, wanted: bool) -> None:
            assert stream is not None
            while data := await stream.read(READ):
                if wanted:
                    with contextlib.suppress(ConnectionResetError):
                        await ws.send_bytes(bytes([channel]) + data)

        async def feed() -> None:
            async for message in ws:
                frame = _frame(message)
                if frame is None:
                    if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        break
                    continue
                channel, data = frame[0], frame[1:]
                if channel == STDIN and process.stdin is not None and data:
                    process.stdin.write(data)
                    with contextlib.suppress(ConnectionResetError):
                        await process.stdin.drain()
                elif channel == CLOSE and data[:1] == bytes([STDIN]) and process.stdin:
                    process.stdin.close()
            if process.stdin is not None:
                process.stdin.close()

        feeder = asyncio.create_task(feed())
        try:
            await asyncio.gather(
                pump(process.stdout, STDOUT, req.stdout), pump(process.stderr, STDERR, req.stderr)
            )
            return await process.wait()
        finally:
            feeder.cancel()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    async def _run_tty(self, ws: web.WebSocketResponse, req: ExecRequest) -> int:
        loop = asyncio.get_running_loop()
        argv, cwd = await self.command(req.container_id, req.cmd, True)
        master, slave = pty.openpty()
        tty.setraw(slave)  # runc (or the command) sets the terminal up; echo once, not twice
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, start_new_session=True
            )
        except OSError:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        output: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(master, READ)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(master)
            output.put_nowait(data)

        loop.add_reader(master, readable)

        async def pump() -> None:
            while data := await output.get():
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_bytes(bytes([STDOUT]) + data)

        async def feed() -> None:
            async for message in ws:
                frame = _frame(message)
                if frame is None:
                    if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        break
                    continue
                channel, data = frame[0], frame[1:]
                if channel == STDIN and data:
                    with contextlib.suppress(OSError):
                        os.write(master, data)
                elif channel == RESIZE:
                    _set_size(master, data)
                    # runc copies its terminal's size into the container's on SIGWINCH.
                    with contextlib.suppress(ProcessLookupError):
                        process.send_signal(signal.SIGWINCH)

        feeder = asyncio.create_task(feed())
        pumper = asyncio.create_task(pump())
        try:
            code = await process.wait()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pumper, 1.0)  # what the terminal still holds
            return code
        finally:
            feeder.cancel()
            pumper.cancel()
            loop.remove_reader(master)
            os.close(master)
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


def exec_command(runtime: Runtime) -> Command:
    """How the runtime runs an exec: `runc exec` (`-t` for a tty), or in process mode the
    command resolved inside the container's root directory."""

    async def command(container_id: str, cmd: list[str], tty: bool) -> tuple[list[str], str | None]:
        record = runtime.container(container_id)
        containers = runtime.containers
        if containers.state(record) != CONTAINER_RUNNING:
            raise ContainerError(f"container {record.id} is not running")
        if containers.mode == "runc":
            flags = ["-t"] if tty else []
            root = str(containers.runc_root)
            return [containers.runc, "--root", root, "exec", *flags, record.id, *cmd], None
        rootfs = containers.bundle(record.id) / "rootfs"
        config = json.loads((containers.bundle(record.id) / "config.json").read_text())
        executable = resolve_in_rootfs(rootfs, cmd[0], config["process"]["env"])
        if executable is None:
            raise ContainerError(f"exec: {cmd[0]!r}: not found")
        return [str(executable), *cmd[1:]], str(rootfs)

    return command
