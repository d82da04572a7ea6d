"""The shim launcher: one process that forks a shim per container instead of a Python start-up.

What a user of the runtime sees must not change: the forked shim runs the container's process,
writes its output as CRI log lines and its exit code, and keeps running when the launcher (or
the runtime that started it) goes away. A launcher that cannot serve makes `launch` return None,
and the runtime starts that shim as a program instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

from kube.cri.runtime.launcher import MAX_FAILURES, ShimLauncher


def _bundle(tmp_path: Path, script: str) -> Path:
    """A process-mode bundle running `sh -c script` (the host's sh linked into the rootfs)."""
    bundle = tmp_path / "bundle"
    (bundle / "rootfs" / "bin").mkdir(parents=True)
    (bundle / "rootfs" / "bin" / "sh").symlink_to("/bin/sh")
    config = {
        "process": {"args": ["sh", "-c", script], "env": ["PATH=/bin"], "cwd": "/"},
    }
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _argv(bundle: Path, log: Path) -> list[str]:
    return ["--bundle", str(bundle), "--id", "c1", "--log", str(log), "--mode", "process"]


def _wait_for(path: Path, seconds: float = 10.0) -> str:
    """The text of `path` once it exists and is not empty."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and (text := path.read_text()):
            return text
        time.sleep(0.02)
    raise AssertionError(f"{path} did not appear")


def _kill_shim(bundle: Path) -> None:
    """Ends a test's container and its shim (by the pids the shim recorded)."""
    for name in ("created", "shim.pid"):
        try:
            pid = int((bundle / name).read_text())
        except (OSError, ValueError):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL) if name == "created" else os.kill(pid, signal.SIGKILL)


def test_a_forked_shim_runs_the_process_logs_and_records_its_exit(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "echo hello; echo oops >&2; exit 3")
    log = tmp_path / "logs" / "c.log"
    launcher = ShimLauncher()
    try:
        pid = launcher.launch(_argv(bundle, log), bundle / "shim.log")
        exit_record = json.loads(_wait_for(bundle / "exit"))
    finally:
        launcher.close()
    assert exit_record["exit_code"] == 3
    lines = [line.split(" ", 1)[1] for line in log.read_text().splitlines()]
    assert sorted(lines) == ["stderr F oops", "stdout F hello"]
    assert int((bundle / "created").read_text()) > 0
    assert pid == int((bundle / "shim.pid").read_text())  # the forked process is the shim
    assert launcher.pid is None


def test_the_shim_outlives_the_launcher(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "echo up; exec sleep 30")
    launcher = ShimLauncher()
    try:
        shim_pid = launcher.launch(_argv(bundle, tmp_path / "c.log"), bundle / "shim.log")
        assert shim_pid == int(_wait_for(bundle / "shim.pid"))
        _wait_for(bundle / "created")
        launcher.close()  # as when the runtime restarts
        time.sleep(0.2)
        os.kill(shim_pid, 0)  # still there: raises ProcessLookupError if it went
        assert not (bundle / "exit").exists()
        # A second launch starts a new launcher.
        other = _bundle(tmp_path / "2", "exit 0")
        assert launcher.launch(_argv(other, tmp_path / "d.log"), other / "shim.log") is not None
        assert json.loads(_wait_for(other / "exit"))["exit_code"] == 0
    finally:
        _kill_shim(bundle)
        launcher.close()


def test_a_bad_request_is_answered_and_the_launcher_keeps_serving(tmp_path: Path) -> None:
    launcher = ShimLauncher()
    try:
        process = launcher._ensure()
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(b"not json\n")
        process.stdin.flush()
        assert "error" in json.loads(process.stdout.readline())
        bundle = _bundle(tmp_path, "exit 0")
        assert launcher.launch(_argv(bundle, tmp_path / "c.log"), bundle / "shim.log") is not None
        # A shim that cannot start (an empty bundle) says why where the runtime looks.
        empty = tmp_path / "empty"
        empty.mkdir()
        assert launcher.launch(_argv(empty, tmp_path / "m.log"), empty / "shim.log") is not None
        assert "config.json" in _wait_for(empty / "error", 5)
    finally:
        launcher.close()


def test_without_a_usable_launcher_launch_says_so(tmp_path: Path) -> None:
    launcher = ShimLauncher(python=str(tmp_path / "no-such-python"))
    bundle = _bundle(tmp_path, "exit 0")
    for _ in range(MAX_FAILURES + 1):
        assert launcher.launch(_argv(bundle, tmp_path / "c.log"), bundle / "shim.log") is None
    assert launcher.failures == MAX_FAILURES


def test_a_launcher_started_ahead_serves_the_first_launch(tmp_path: Path) -> None:
    """`kube runtime` starts the launcher at start-up: the first container's start then pays
    no Python start-up, and is forked by that same launcher."""
    launcher = ShimLauncher()
    try:
        assert launcher.start()
        started = launcher.pid
        assert started is not None
        assert launcher.start()  # already running: the same process
        assert launcher.pid == started
        bundle = _bundle(tmp_path, "exit 0")
        assert launcher.launch(_argv(bundle, tmp_path / "c.log"), bundle / "shim.log") is not None
        assert launcher.pid == started
        assert json.loads(_wait_for(bundle / "exit"))["exit_code"] == 0
    finally:
        launcher.close()


def test_a_launcher_that_cannot_start_ahead_says_so(tmp_path: Path) -> None:
    launcher = ShimLauncher(python=str(tmp_path / "no-such-python"))
    assert not launcher.start()
    assert launcher.failures == 1
    assert launcher.pid is None
