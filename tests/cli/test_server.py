"""`kube server` as a user runs it: a real process, real SQLite, real etcd, bad input."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.etcd import EtcdProcess

KUBE = str(Path(sys.executable).parent / "kube")
UP_LINE = "kube server is up"
LAST_LINE = "stop with Ctrl-C"  # the end of the announcement


def start_server(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [KUBE, "server", "--disable-agent", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_up(proc: subprocess.Popen[str], timeout: float = 30.0) -> list[str]:
    """Lines printed up to the end of the 'is up' announcement."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=5)
            pytest.fail(f"kube server exited {proc.returncode} before it was up: {err}")
        lines.append(line.rstrip("\n"))
        if LAST_LINE in line:
            return lines
    proc.kill()
    pytest.fail(f"kube server not up within {timeout}s; printed {lines}")


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.fixture
def server_proc() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def run_kube(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_server_on_sqlite_starts_keeps_its_data_dir_and_stops_cleanly(
    tmp_path: Path, server_proc: list[subprocess.Popen[str]]
) -> None:
    data = tmp_path / "data"
    proc = start_server("--data-dir", str(data), "--secure-port", "0")
    server_proc.append(proc)
    lines = wait_until_up(proc)
    up = next(line for line in lines if UP_LINE in line)
    assert str(data) in up
    kubeconfig = data / "admin.kubeconfig"
    assert any(f"kubeconfig: {kubeconfig}" in line for line in lines)
    assert kubeconfig.is_file()
    db = data / "db" / "state.db"
    assert db.is_file()
    code, out, _ = stop(proc)
    assert code == 0
    assert "kube server stopped" in out
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_server_on_a_real_etcd(tmp_path: Path, server_proc: list[subprocess.Popen[str]]) -> None:
    with EtcdProcess() as etcd:
        proc = start_server(
            "--data-dir",
            str(tmp_path),
            "--storage",
            "etcd",
            "--etcd-servers",
            etcd.endpoints[0],
            "--secure-port",
            "0",
        )
        server_proc.append(proc)
        lines = wait_until_up(proc)
        assert any(f"etcd at {etcd.endpoints[0]}" in line for line in lines)
        code, _, _ = stop(proc)
        assert code == 0


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unknown_storage_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_kube("server", "--data-dir", str(data), "--storage", "mysql")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "unknown --storage 'mysql'" in line
    assert "sqlite, etcd" in line
    assert not data.exists()


def test_unknown_controller_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_kube("server", "--data-dir", str(data), "--controllers", "*,-nope")
    assert result.returncode == 2
    line = one_line_error(result)
    assert '--controllers: "nope" is not in the list of known controllers' in line
    assert not data.exists()


def test_negative_client_qps_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = run_kube("server", "--data-dir", str(tmp_path / "d"), "--kube-api-qps=-1")
    assert result.returncode == 2
    assert one_line_error(result) == "kube server: --kube-api-qps -1 must not be negative"
    assert not (tmp_path / "d").exists()


def test_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_kube("server", "--data-dir", str(blocker / "data"))
    assert result.returncode == 2
    line = one_line_error(result)
    assert "is not writable" in line
    assert "--data-dir" in line


def test_corrupt_database_is_one_line_and_left_untouched(tmp_path: Path) -> None:
    db = tmp_path / "db" / "state.db"
    db.parent.mkdir()
    garbage = os.urandom(8192)
    db.write_bytes(garbage)
    result = run_kube("server", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    line = one_line_error(result)
    assert str(db) in line
    assert db.read_bytes() == garbage


def test_unreachable_etcd_is_one_line(tmp_path: Path) -> None:
    with EtcdProcess() as etcd:
        dead = etcd.endpoints[0]
    result = run_kube(
        "server", "--data-dir", str(tmp_path), "--storage", "etcd", "--etcd-servers", dead
    )
    assert result.returncode == 1
    line = one_line_error(result)
    assert dead in line
    assert "etcd" in line


def test_version() -> None:
    result = run_kube("version")
    assert result.returncode == 0
    assert "Kubernetes v1.37" in result.stdout


def test_unknown_subcommand_is_one_line() -> None:
    result = run_kube("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in one_line_error(result)


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name: state, parent pid, ...; None when
    the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_running(pid: int) -> bool:
    """Alive and not a zombie (PID 1 here is no init system, so orphans are never reaped)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def children_of(pid: int) -> dict[int, str]:
    """Running child processes of `pid`: their pid and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != pid or fields[0] == "Z":
            continue
        with contextlib.suppress(OSError):
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return found


def test_controller_manager_and_scheduler_run_as_child_processes_that_end_with_the_server(
    tmp_path: Path, server_proc: list[subprocess.Popen[str]]
) -> None:
    proc = start_server(
        "--data-dir",
        str(tmp_path),
        "--secure-port",
        "0",
        "--kube-api-qps=0",
        "--kube-api-burst=500",
    )
    server_proc.append(proc)
    lines = wait_until_up(proc)
    assert any("controller-manager (own process)" in line for line in lines)
    children = children_of(proc.pid)
    commands = sorted(cmd.split()[3] for cmd in children.values() if "kube.cli.main" in cmd)
    assert commands == ["controller-manager", "scheduler"]
    # The server's client throttling flags reach both.
    assert all("--kube-api-qps=0 --kube-api-burst=500" in cmd for cmd in children.values())
    proc.kill()  # no chance to stop its rows: the children must go with it
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_running(p) for p in children):
        time.sleep(0.1)
    assert [p for p in children if is_running(p)] == []


def test_in_process_runs_no_child_processes(
    tmp_path: Path, server_proc: list[subprocess.Popen[str]]
) -> None:
    proc = start_server("--data-dir", str(tmp_path), "--secure-port", "0", "--in-process")
    server_proc.append(proc)
    lines = wait_until_up(proc)
    assert any("scheduler (in process)" in line for line in lines)
    assert children_of(proc.pid) == {}
    code, _, _ = stop(proc)
    assert code == 0
