"""The per-container shim: owns a container's stdio and reaps it (containerd-shim, conmon).

`python -m kube.cri.runtime.shim --bundle DIR --id ID --log FILE [--mode runc|process]` runs in
its own session, so the runtime can restart without killing containers or losing their output.
The runtime starts it at CRI StartContainer (as containerd creates its task then). It makes
itself a child subreaper, runs the container (`runc run --detach`: created and started by one
runc, whose init process then re-parents to the shim) with pipes as its stdout and stderr, turns
what comes out of them into CRI log lines, waits for the container's init to exit and records
the exit in the bundle.

Attach (CRI `Attach`, `kubectl attach`): the shim owns the container's stdio, so it listens on
`attach.sock` in the bundle; every client connected there gets a copy of the output and may
write to the container's stdin, which is a pipe when the container asked for stdin (a `stdin`
file in the bundle: `open`, or `once` for stdinOnce, where the first client's leaving closes
it). A tty container (`process.terminal`) gets its pseudo-terminal from runc over
`--console-socket`; the shim keeps the master: output, input and resizes all go through it.
On the socket each message is `[channel][length: 4 bytes][data]`: 1 stdout and 2 stderr from
the shim; 0 stdin, 4 a resize (`{"Width": w, "Height": h}`), 255 `[0]` stdin closed from the
client. When the container exits the shim closes every client after the last output.

    shim.pid    the shim's pid
    created     the container's init pid, once it runs (or `error`: why it could not)
    notify      a FIFO the runtime made: the shim writes a line to it after `created`/`error`
    exit        {"exit_code": N, "finished_at": ns, "signal": S}, when it has exited

In process mode (no runc or not root) it runs the process from config.json directly, with the
rootfs as its working root but no isolation.

The runtime starts shims through one launcher (`python -m kube.cri.runtime.shim --launcher`,
`launcher()`): a process that has imported this module once and forks a shim per request, as a
zygote does. Python's start-up and imports cost more CPU than the shim's own work (some 50 ms
per container, and 100 containers start at once on 2 cores); a fork of the launcher costs about
a millisecond. The forked shim is the same program as a started one: it daemonizes into its own
session, so neither the launcher nor the runtime outliving it matters.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import gc
import json
import os
import pty
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from kube.cri.runtime.logs import LogWriter

PR_SET_CHILD_SUBREAPER = 36
PR_SET_NAME = 15
ATTACH_SOCKET = "attach.sock"
NOTIFY = "notify"  # a FIFO the runtime reads: a line when `created` or `error` is written
STDIN, STDOUT, STDERR, RESIZE, CLOSE = 0, 1, 2, 4, 255
HEADER = struct.Struct(">BI")
SEND_TIMEOUT = 5.0


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def unix_connect(path: Path) -> socket.socket:
    """A connected Unix socket to `path`, however long (sun_path holds 107 bytes: a longer
    path is reached through /proc/self/fd of its directory)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(str(path)) < 100:
            sock.connect(str(path))
        else:
            directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{directory}/{path.name}")
            finally:
                os.close(directory)
    except OSError:
        sock.close()
        raise
    return sock


def read_message(sock: socket.socket) -> tuple[int, bytes] | None:
    """One `[channel][length][data]` message, or None at the end of the stream."""
    head = _read_exactly(sock, HEADER.size)
    if head is None:
        return None
    channel, size = HEADER.unpack(head)
    data = _read_exactly(sock, size) if size else b""
    return None if data is None else (channel, data)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = b""
    while len(chunks) < size:
        try:
            chunk = sock.recv(size - len(chunks))
        except OSError:
            return None
        if not chunk:
            return None
        chunks += chunk
    return chunks


def message(channel: int, data: bytes) -> bytes:
    return HEADER.pack(channel, len(data)) + data


class Stdio:
    """The container's stdin and the attached clients (see the module docstring)."""

    def __init__(self, stdin: int | None, once: bool, terminal: int | None) -> None:
        self.stdin = stdin
        self.once = once
        self.terminal = terminal
        self.clients: list[socket.socket] = []
        self.lock = threading.Lock()
        self.attached = False

    def broadcast(self, channel: int, data: bytes) -> None:
        frame = message(channel, data)
        with self.lock:
            for client in list(self.clients):
                try:
                    client.sendall(frame)
                except OSError:
                    self.clients.remove(client)
                    client.close()

    def close_stdin(self) -> None:
        with self.lock:
            if self.stdin is not None and self.terminal is None:
                with contextlib.suppress(OSError):
                    os.close(self.stdin)
                self.stdin = None

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            client.settimeout(SEND_TIMEOUT)
            with self.lock:
                first = not self.attached
                self.attached = True
                self.clients.append(client)
            threading.Thread(target=self._client, args=(client, first), daemon=True).start()

    def _client(self, client: socket.socket, first: bool) -> None:
        while True:
            try:
                got = read_message(client)
            except TimeoutError:
                continue
            if got is None:
                break
            channel, data = got
            if channel == STDIN and data and self.stdin is not None:
                with contextlib.suppress(OSError):
                    os.write(self.stdin, data)
            elif channel == RESIZE and self.terminal is not None:
                _resize(self.terminal, data)
            elif channel == CLOSE and data[:1] == bytes([STDIN]) and self.once and first:
                self.close_stdin()
        with self.lock:
            if client in self.clients:
                self.clients.remove(client)
        client.close()
        if self.once and first:
            self.close_stdin()  # stdinOnce: the first attach's leaving closes stdin

    def close_all(self) -> None:
        with self.lock:
            for client in self.clients:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)
                client.close()
            self.clients.clear()


def _resize(fd: int, data: bytes) -> None:
    try:
        size = json.loads(data)
        rows, cols = int(size.get("Height", 0)), int(size.get("Width", 0))
    except (ValueError, TypeError, AttributeError):
        return
    with contextlib.suppress(OSError):
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _pump(fd: int, stream: str, writer: LogWriter, stdio: Stdio | None = None) -> None:
    channel = STDERR if stream == "stderr" else STDOUT
    with os.fdopen(fd, "rb", buffering=0) as source:
        while True:
            try:
                data = source.read(65536)
            except OSError:
                return
            if not data:
                return
            writer.write(stream, data)
            if stdio is not None:
                stdio.broadcast(channel, data)


def _receive_console(listener: socket.socket) -> int:
    """The pty master runc sends over --console-socket."""
    listener.settimeout(10.0)
    connection, _ = listener.accept()
    with connection:
        _, fds, _, _ = socket.recv_fds(connection, 1024, 1)
    if not fds:
        raise OSError("runc sent no console")
    return fds[0]


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def _announce(bundle: Path, name: str, text: str) -> None:
    """Writes `created` or `error` in the bundle, then says so on the bundle's `notify` FIFO,
    which the runtime reads (kube.cri.runtime.containers): it waits for the start without
    looking at the files again and again. No FIFO or no reader: the runtime looks at the files."""
    _write(bundle / name, text)
    try:
        fd = os.open(bundle / NOTIFY, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_in_rootfs(rootfs: Path, argv0: str, env: list[str]) -> Path | None:
    """Where `argv0` is inside `rootfs` (searching the process's PATH for a bare name)."""
    if "/" in argv0:
        candidate = rootfs / argv0.lstrip("/")
        return candidate if candidate.exists() else None
    path = next((e.partition("=")[2] for e in env if e.startswith("PATH=")), "/bin:/usr/bin")
    for directory in path.split(":"):
        candidate = rootfs / directory.lstrip("/") / argv0
        if os.path.lexists(candidate):
            return candidate
    return None


def _start_process(
    bundle: Path, config: dict[str, Any], out_w: int, err_w: int, stdin: int | None
) -> subprocess.Popen[bytes]:
    """The container's process, started; the caller keeps the Popen (a dropped one may reap
    the child in its finalizer, and the shim's own wait would then miss the exit code)."""
    process = config["process"]
    rootfs = bundle / "rootfs"
    args: list[str] = process["args"]
    env: list[str] = process.get("env") or []
    executable = resolve_in_rootfs(rootfs, args[0], env)
    if executable is None:
        raise FileNotFoundError(f'exec: "{args[0]}": executable file not found in $PATH')
    cwd = rootfs / str(process.get("cwd") or "/").lstrip("/")
    child = subprocess.Popen(
        args,
        executable=str(executable),
        env=dict(e.partition("=")[::2] for e in env),
        cwd=str(cwd if cwd.is_dir() else rootfs),
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=out_w,
        stderr=err_w,
        start_new_session=True,
    )
    return child


def main(argv: list[str] | None = None, *, daemonize: bool = True) -> int:
    """The shim; `daemonize=False` when the launcher forked it (already its own process, whose
    parent does not wait for it)."""
    parser = argparse.ArgumentParser(prog="kube-shim")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--mode", choices=["runc", "process"], default="runc")
    parser.add_argument("--runc", default="runc")
    parser.add_argument("--runc-root", default="/run/kube-runc")
    args = parser.parse_args(argv)
    bundle: Path = args.bundle.absolute()
    if daemonize and os.fork() > 0:
        os._exit(0)  # daemonize: the runtime waits only for this first process
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _subreaper()
    _write(bundle / "shim.pid", str(os.getpid()))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    sink = args.log.open("ab")
    writer = LogWriter(sink)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        config = json.loads((bundle / "config.json").read_text())
        terminal = bool(config["process"].get("terminal"))
    except (OSError, ValueError, KeyError, AttributeError) as err:
        _announce(bundle, "error", f"the bundle's config.json: {err}")  # the runtime waits on it
        return 1
    stdin_mode = (bundle / "stdin").read_text().strip() if (bundle / "stdin").exists() else ""
    in_r: int | None = None
    in_w: int | None = None
    if stdin_mode and not terminal:
        in_r, in_w = os.pipe()
    master: int | None = None
    # runc hands a tty's console over a socket: only a terminal container needs the directory.
    console_dir = tempfile.mkdtemp(prefix="kube-console-") if terminal else ""
    try:
        if args.mode == "runc":
            pid_file = bundle / "init.pid"
            console: list[str] = []
            listener: socket.socket | None = None
            if terminal:
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.bind(f"{console_dir}/console.sock")
                listener.listen(1)
                console = ["--console-socket", f"{console_dir}/console.sock"]
            done = subprocess.run(
                [
                    args.runc,
                    "--root",
                    args.runc_root,
                    "run",
                    "--detach",  # CRI StartContainer: created and started in one runc
                    "--bundle",
                    str(bundle),
                    "--pid-file",
                    str(pid_file),
                    *console,
                    args.id,
                ],
                stdin=subprocess.DEVNULL if in_r is None else in_r,
                stdout=out_w,
                stderr=err_w,
                check=False,
            )
            if done.returncode != 0:
                os.close(out_w)
                os.close(err_w)
                message = os.read(err_r, 65536).decode(errors="replace").strip()
                _announce(bundle, "error", message or f"runc run exited {done.returncode}")
                return 1
            if listener is not None:
                with listener:
                    master = _receive_console(listener)
            pid = int(pid_file.read_text().strip())
        else:
            slave: int | None = None
            if terminal:
                master, slave = pty.openpty()
            child = _start_process(
                bundle,
                config,
                out_w if slave is None else slave,
                err_w if slave is None else slave,
                in_r if slave is None else slave,
            )
            pid = child.pid
            if slave is not None:
                os.close(slave)
    except (OSError, ValueError) as err:
        _announce(bundle, "error", str(err))
        return 1
    finally:
        if console_dir:
            shutil.rmtree(console_dir, ignore_errors=True)
    os.close(out_w)
    os.close(err_w)
    if in_r is not None:
        os.close(in_r)
    stdio = Stdio(in_w if master is None else master, stdin_mode == "once", master)
    pumps = [
        threading.Thread(target=_pump, args=(out_r, "stdout", writer, stdio), daemon=True),
        threading.Thread(target=_pump, args=(err_r, "stderr", writer, stdio), daemon=True),
    ]
    if master is not None:
        pumps.append(
            threading.Thread(
                target=_pump, args=(os.dup(master), "stdout", writer, stdio), daemon=True
            )
        )
    for pump in pumps:
        pump.start()
    attach = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        (bundle / ATTACH_SOCKET).unlink()
    os.chdir(bundle)  # a relative name: the bundle's path may not fit in sun_path
    attach.bind(ATTACH_SOCKET)
    attach.listen(16)
    threading.Thread(target=stdio.serve, args=(attach,), daemon=True).start()
    _announce(bundle, "created", str(pid))
    status = 0
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            # Not our child (yet): a re-parented init shows up on a later wait.
            time.sleep(0.05)
            if not Path(f"/proc/{pid}").exists():
                status = 255 << 8
                break
            continue
        if reaped == pid:
            break
    for pump in pumps:
        pump.join(timeout=2.0)
    stdio.close_all()
    attach.close()
    with contextlib.suppress(FileNotFoundError):
        (bundle / ATTACH_SOCKET).unlink()
    writer.close()
    sink.close()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        code = 128 + sig
    else:
        sig = 0
        code = os.WEXITSTATUS(status)
    _write(
        bundle / "exit",
        json.dumps({"exit_code": code, "finished_at": time.time_ns(), "signal": sig}),
    )
    return 0


def launcher(requests: BinaryIO, replies: BinaryIO) -> int:
    """Forks a shim for each request line until `requests` ends (the runtime went away).

    A request is `{"argv": [...main's arguments], "stderr": PATH}`; the reply line is
    `{"pid": N}` once the shim is forked (it goes on by itself: the runtime learns the rest
    from the bundle's files), or `{"error": why}`. The shim's stdin and stdout are /dev/null
    and its stderr is PATH, as when the runtime executes the shim itself. The launcher ignores
    SIGCHLD, so the kernel reaps the shims it forked (no second fork to daemonize, and no wait
    that would make a slow start hold up the next one).

    What the launcher has allocated is frozen (gc.freeze) before the first fork: a forked shim's
    collections then never walk, and so never copy, the pages of the objects it inherited.
    """
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    gc.collect()
    gc.freeze()
    for line in requests:
        try:
            request = json.loads(line)
            argv = [str(a) for a in request["argv"]]
            stderr = str(request["stderr"])
            pid = os.fork()
        except (ValueError, KeyError, TypeError, OSError) as err:
            replies.write(json.dumps({"error": str(err) or type(err).__name__}).encode() + b"\n")
            replies.flush()
            continue
        if pid == 0:  # pragma: no cover - the forked shim (its work shows in the bundle)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the shim waits for its container
            _forked_shim(argv, stderr)
        replies.write(json.dumps({"pid": pid}).encode() + b"\n")
        replies.flush()
    return 0


def _forked_shim(argv: list[str], stderr: str) -> None:  # pragma: no cover - a forked child
    """The launcher's child: the stdio a started shim would have, then `main`; never returns."""
    code = 1
    try:
        # Its command line stays the launcher's; `ps -o comm`, pgrep and top show `kube-shim`.
        ctypes.CDLL(None).prctl(PR_SET_NAME, b"kube-shim", 0, 0, 0)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(err, 2)
        os.close(err)
        code = main(argv, daemonize=False)
    except SystemExit as exiting:
        code = exiting.code if isinstance(exiting.code, int) else 1
    except BaseException as err:
        traceback.print_exc()
        _report_failure(argv, err)
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(code)


def _report_failure(argv: list[str], err: BaseException) -> None:  # pragma: no cover
    """An unexpected failure of a forked shim, in the bundle's `error` file the runtime waits
    on (unless the container was already created: then its exit tells)."""
    if "--bundle" not in argv[:-1]:
        return
    bundle = Path(argv[argv.index("--bundle") + 1])
    if not (bundle / "created").exists():
        with contextlib.suppress(OSError):
            _announce(bundle, "error", f"shim: {type(err).__name__}: {err}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--launcher"]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.exit(launcher(sys.stdin.buffer, sys.stdout.buffer))
    sys.exit(main())
