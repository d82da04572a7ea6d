"""The per-container shim: owns a container's stdio and reaps it (containerd-shim, conmon).

`python -m kube.cri.runtime.shim --bundle DIR --id ID --log FILE [--mode runc|process]` runs in
its own session, so the runtime can restart without killing containers or losing their output.
It makes itself a child subreaper, creates the container (`runc create`, whose init process
then re-parents to the shim) with pipes as its stdout and stderr, turns what comes out of them
into CRI log lines, waits for the container's init to exit and records the exit in the bundle:

    shim.pid    the shim's pid
    created     the container's init pid, once it exists (or `error`: why it could not)
    exit        {"exit_code": N, "finished_at": ns, "signal": S}, when it has exited

In process mode (no runc or not root) it runs the process from config.json directly, with the
rootfs as its working root but no isolation.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kube.cri.runtime.logs import LogWriter

PR_SET_CHILD_SUBREAPER = 36


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _pump(fd: int, stream: str, writer: LogWriter) -> None:
    with os.fdopen(fd, "rb", buffering=0) as source:
        while True:
            try:
                data = source.read(65536)
            except OSError:
                return
            if not data:
                return
            writer.write(stream, data)


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


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


def _start_process(bundle: Path, config: dict[str, Any], out_w: int, err_w: int) -> int:
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
        stdin=subprocess.DEVNULL,
        stdout=out_w,
        stderr=err_w,
        start_new_session=True,
    )
    return child.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kube-shim")
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--mode", choices=["runc", "process"], default="runc")
    parser.add_argument("--runc", default="runc")
    parser.add_argument("--runc-root", default="/run/kube-runc")
    args = parser.parse_args(argv)
    bundle: Path = args.bundle
    if os.fork() > 0:
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
        if args.mode == "runc":
            pid_file = bundle / "init.pid"
            done = subprocess.run(
                [
                    args.runc,
                    "--root",
                    args.runc_root,
                    "create",
                    "--bundle",
                    str(bundle),
                    "--pid-file",
                    str(pid_file),
                    args.id,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                check=False,
            )
            if done.returncode != 0:
                os.close(out_w)
                os.close(err_w)
                message = os.read(err_r, 65536).decode(errors="replace").strip()
                _write(bundle / "error", message or f"runc create exited {done.returncode}")
                return 1
            pid = int(pid_file.read_text().strip())
        else:
            config = json.loads((bundle / "config.json").read_text())
            pid = _start_process(bundle, config, out_w, err_w)
    except (OSError, ValueError) as err:
        _write(bundle / "error", str(err))
        return 1
    os.close(out_w)
    os.close(err_w)
    pumps = [
        threading.Thread(target=_pump, args=(out_r, "stdout", writer), daemon=True),
        threading.Thread(target=_pump, args=(err_r, "stderr", writer), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    _write(bundle / "created", str(pid))
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


if __name__ == "__main__":
    sys.exit(main())
