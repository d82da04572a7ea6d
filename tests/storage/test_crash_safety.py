"""Acknowledged means durable: SIGKILL in the middle of a write loop loses no acknowledged write."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kube.storage.sqlite import SQLiteBackend
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def kill_mid_loop(db: Path, run: str, acks_before_kill: int) -> dict[str, tuple[int, str]]:
    """Run the writer, SIGKILL it after `acks_before_kill` acks; the last ack of each key."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_writer", str(db), run],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acked: dict[str, tuple[int, str]] = {}
    seen = 0
    try:
        for line in proc.stdout:
            if line.startswith("ack "):
                _, key, rev, value = line.split()
                acked[key] = (int(rev), value)
                seen += 1
                if seen == acks_before_kill:
                    proc.send_signal(signal.SIGKILL)
                    break
        # Acks already written to the pipe before the kill count too.
        for line in proc.stdout:
            if line.startswith("ack "):
                _, key, rev, value = line.split()
                acked[key] = (int(rev), value)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err
    return acked


async def test_sigkill_mid_write_loop_loses_no_acknowledged_write(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    acked: dict[str, tuple[int, str]] = {}
    for round_ in range(3):
        acked |= kill_mid_loop(db, f"r{round_}", acks_before_kill=400 + 300 * round_)

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    store = SQLiteBackend(db)
    await store.start()
    try:
        highest = max(rev for rev, _ in acked.values())
        assert await store.current_revision() >= highest
        for key, (rev, value) in acked.items():
            kv = await store.get(key)
            assert kv is not None, f"acknowledged {key} at revision {rev} is gone"
            assert kv.mod_revision >= rev
            if kv.mod_revision == rev:
                assert kv.value == value.encode()
        after = await store.create("/registry/configmaps/crash/after", b"x")
        assert after.mod_revision > highest
    finally:
        await store.close()
