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

`Attach` answers `/attach/<token>`: the same channels, relayed to the container's shim, which
owns its stdio (kube.cri.runtime.shim: output copies, stdin, the tty's resizes); when the
container exits, a Success status and the socket closes. `PortForward` answers
`/portforward/<token>` for a sandbox: a WebSocket with `SPDY/3.1+portforward.k8s.io` carrying
a SPDY session (kube.cri.runtime.portforward), whose connections are dialled on loopback
inside the pod's network namespace (a socket made in a thread that has joined it).

Listens on loopback only: the kubelet is on the same machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import pty
import secrets
import signal
import socket
import struct
import termios
import time
import tty
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from kube.cri.runtime import portforward, shim
from kube.cri.runtime.containers import ContainerError
from kube.cri.runtime.runtime import Runtime
from kube.cri.runtime.shim import ATTACH_SOCKET, resolve_in_rootfs
from kube.cri.runtime.state import CONTAINER_RUNNING

log = logging.getLogger("kube.runtime.streaming")

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
TOKEN_TTL = 60.0
READ = 32 * 1024
_R = TypeVar("_R")

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


@dataclass(frozen=True)
class AttachRequest:
    container_id: str
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool


@dataclass(frozen=True)
class PortForwardRequest:
    sandbox_id: str
    netns_path: str  # "" for the host's network (hostNetwork pods, process mode)
    describe: str


Request = ExecRequest | AttachRequest | PortForwardRequest
# (container id) -> the shim's attach socket, or an error when it is not running
AttachSocket = Callable[[str], Path]
CLONE_NEWNET = 0x40000000


def _socket_in(netns_path: str) -> socket.socket:
    """A TCP socket of the network namespace at `netns_path`, made by this thread after joining
    it (setns affects only the calling thread), which then goes back to its own."""
    if not netns_path:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {netns_path}")
        finally:
            os.close(target)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            if libc.setns(own, CLONE_NEWNET) != 0:
                # This thread would stay in the pod's namespace: unusable, so fail loudly.
                raise SystemExit("setns back to the runtime's network namespace failed")
    finally:
        os.close(own)


async def dial_in(netns_path: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connects to 127.0.0.1:`port` as seen inside the network namespace (upstream dials
    localhost in the sandbox's namespace)."""
    sock = await asyncio.to_thread(_socket_in, netns_path)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 10.0
        )
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


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


async def _client_frames(ws: web.WebSocketResponse) -> AsyncIterator[tuple[int, bytes]]:
    """The client's (channel, data) frames until it closes: binary, or text (the Python client
    sends its writes of `str` as text frames, the channel byte first, as upstream's server
    accepts). Empty and other messages are skipped."""
    async for message in ws:
        if message.type == WSMsgType.BINARY and message.data:
            frame = bytes(message.data)
        elif message.type == WSMsgType.TEXT and message.data:
            frame = str(message.data).encode()
        elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            return
        else:
            continue
        yield frame[0], frame[1:]


class StreamingServer:
    """One-time exec URLs and the WebSocket endpoint that runs them."""

    def __init__(
        self,
        command: Command,
        address: str = "127.0.0.1",
        attach_socket: AttachSocket | None = None,
    ) -> None:
        self.command = command
        self.address = address
        self.attach_socket = attach_socket
        self.port = 0
        self.pending: dict[str, tuple[float, Request]] = {}
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/exec/{token}", self.exec)
        app.router.add_get("/attach/{token}", self.attach)
        app.router.add_get("/portforward/{token}", self.port_forward)
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

    def prepare(self, request: Request) -> str:
        """Registers a request and returns its URL (the CRI Exec/Attach/PortForward url)."""
        now = time.monotonic()
        for token, (made, _) in list(self.pending.items()):
            if now - made > TOKEN_TTL:
                del self.pending[token]
        token = secrets.token_urlsafe(16)
        self.pending[token] = (now, request)
        kind = {ExecRequest: "exec", AttachRequest: "attach"}.get(type(request), "portforward")
        return f"http://{self.address}:{self.port}/{kind}/{token}"

    def _take(self, request: web.Request, kind: type[_R]) -> _R:
        entry = self.pending.get(request.match_info["token"])
        if entry is None or not isinstance(entry[1], kind):
            raise web.HTTPNotFound(text="unknown or expired token")
        del self.pending[request.match_info["token"]]
        if time.monotonic() - entry[0] > TOKEN_TTL:
            raise web.HTTPNotFound(text="unknown or expired token")
        return entry[1]

    async def exec(self, request: web.Request) -> web.StreamResponse:
        req = self._take(request, ExecRequest)
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        try:
            if req.tty:
                code = await self._run_tty(ws, req)
            else:
                code = await self._run_pipes(ws, req)
            status = exit_status(code, req.cmd)
        except (ContainerError, OSError) as err:
            log.warning("exec in %s failed: %r", req.container_id, err)
            status = _internal(err)
        with contextlib.suppress(ConnectionResetError):
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        """Relays the client to the container's shim until the container exits (or the
        client leaves); then upstream's Success status on channel 3."""
        req = self._take(request, AttachRequest)
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        try:
            if self.attach_socket is None:
                raise ContainerError("attach is not supported by this runtime")
            path = self.attach_socket(req.container_id)
            sock = await asyncio.to_thread(shim.unix_connect, path)
            try:
                await self._relay_attach(ws, req, sock)
            finally:
                sock.close()
        except (ContainerError, OSError) as err:
            log.warning("attach to %s failed: %r", req.container_id, err)
            status = _internal(err)
        with contextlib.suppress(ConnectionResetError):
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
        return ws

    async def _relay_attach(
        self, ws: web.WebSocketResponse, req: AttachRequest, sock: socket.socket
    ) -> None:
        loop = asyncio.get_running_loop()
        sock.settimeout(None)

        async def output() -> None:
            while True:
                got = await asyncio.to_thread(shim.read_message, sock)
                if got is None:
                    return
                channel, data = got
                if req.tty:
                    channel = STDOUT
                if (channel == STDOUT and req.stdout) or (channel == STDERR and req.stderr):
                    with contextlib.suppress(ConnectionResetError):
                        await ws.send_bytes(bytes([channel]) + data)

        async def feed() -> None:
            async for channel, data in _client_frames(ws):
                if channel == STDIN and req.stdin and data:
                    await loop.run_in_executor(None, sock.sendall, shim.message(STDIN, data))
                elif channel == RESIZE and req.tty:
                    await loop.run_in_executor(None, sock.sendall, shim.message(RESIZE, data))
                elif channel == CLOSE and data[:1] == bytes([STDIN]):
                    await loop.run_in_executor(None, sock.sendall, shim.message(CLOSE, data[:1]))

        reader = asyncio.create_task(output())
        feeder = asyncio.create_task(feed())
        try:
            await asyncio.wait([reader, feeder], return_when=asyncio.FIRST_COMPLETED)
        finally:
            feeder.cancel()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # ends the reader's blocking read
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await reader
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await feeder

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        """A SPDY/3.1 port-forward session tunnelled in the WebSocket's binary messages."""
        req = self._take(request, PortForwardRequest)
        ws = web.WebSocketResponse(protocols=(portforward.PROTOCOL,), max_msg_size=0)
        await ws.prepare(request)

        async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await dial_in(req.netns_path, port)

        session = portforward.PortForwardSession(ws.send_bytes, dial, req.describe)
        try:
            async for received in ws:
                if received.type == WSMsgType.BINARY:
                    await session.feed(bytes(received.data))
                elif received.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except portforward.ProtocolError as err:
            log.warning("port-forward to %s: %s", req.describe, err)
        finally:
            await session.close()
            with contextlib.suppress(ConnectionResetError):
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
            async for channel, data in _client_frames(ws):
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
            async for channel, data in _client_frames(ws):
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


def _internal(err: BaseException) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": str(err) or type(err).__name__,
        "reason": "InternalError",
        "code": 500,
    }


def attach_socket(runtime: Runtime) -> AttachSocket:
    """Where a running container's shim listens for attach clients."""

    def path(container_id: str) -> Path:
        record = runtime.container(container_id)
        if runtime.containers.state(record) != CONTAINER_RUNNING:
            raise ContainerError(f"container {record.id} is not running")
        return runtime.containers.bundle(record.id) / ATTACH_SOCKET

    return path


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
