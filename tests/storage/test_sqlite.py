"""What only the SQLite backend promises: group commit, its file, its lock, its compaction.

The contract shared with etcd is in `test_conformance.py`; these tests look inside the store.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kube.storage.backend import (
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    UnavailableError,
    WatchEvent,
)
from kube.storage.sqlite import SQLiteBackend

WAIT = 10.0  # seconds a test waits for something asynchronous before failing


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    backend = SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    async def collect() -> list[WatchEvent]:
        out: list[WatchEvent] = []
        async for event in events:
            out.append(event)
            if len(out) == n:
                break
        return out

    return await asyncio.wait_for(collect(), WAIT)


def rows(path: Path) -> list[tuple[int, str, int, int]]:
    """(id, name, created, deleted) of every log row, read with a plain connection."""
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT id, name, created, deleted FROM log ORDER BY id"))


async def test_cas_race_has_exactly_one_winner(store: SQLiteBackend) -> None:
    kv = await store.create("/registry/pods/ns/a", b"v0")
    results = await asyncio.gather(
        store.update("/registry/pods/ns/a", b"one", expected_revision=kv.mod_revision),
        store.update("/registry/pods/ns/a", b"two", expected_revision=kv.mod_revision),
        return_exceptions=True,
    )
    [winner] = [r for r in results if not isinstance(r, BaseException)]
    [loser] = [r for r in results if isinstance(r, BaseException)]
    assert isinstance(loser, ConflictError)
    assert loser.current == winner
    assert await store.get("/registry/pods/ns/a") == winner
    # The loser wrote nothing: one create and one update.
    assert await store.current_revision() == kv.mod_revision + 1


async def test_group_commit_puts_concurrent_writes_in_fewer_transactions(
    store: SQLiteBackend,
) -> None:
    before = store.commits
    created = await asyncio.gather(
        *(store.create(f"/registry/pods/ns/p{i}", b"x") for i in range(64))
    )
    assert store.writes == 64
    assert store.commits - before < 64
    assert sorted(kv.mod_revision for kv in created) == list(range(1, 65))


async def test_a_failed_write_only_fails_itself_within_a_batch(store: SQLiteBackend) -> None:
    results = await asyncio.gather(
        *(store.create("/registry/pods/ns/same", b"%d" % i) for i in range(8)),
        *(store.create(f"/registry/pods/ns/other{i}", b"o") for i in range(8)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 7
    assert all(isinstance(f, KeyExistsError) for f in failures)
    # Nine rows written, revisions 1..9 with no hole left by the failures.
    assert [row[0] for row in rows(store.path)] == list(range(1, 10))
    assert await store.count("/registry/pods/ns/") == 9


async def test_history_reads_survive_compaction_of_older_revisions(store: SQLiteBackend) -> None:
    a1 = await store.create("/registry/pods/ns/a", b"a1")  # 1
    b1 = await store.create("/registry/pods/ns/b", b"b1")  # 2
    await store.delete("/registry/pods/ns/b")  # 3
    a2 = await store.update("/registry/pods/ns/a", b"a2", expected_revision=a1.mod_revision)  # 4
    for i in range(4):  # 5..8
        await store.create(f"/registry/pods/ns/c{i}", b"c")
    a3 = await store.update("/registry/pods/ns/a", b"a3", expected_revision=a2.mod_revision)  # 9

    await store.compact(6)

    assert await store.compacted_revision() == 6
    # a1 was replaced at 4 <= 6: gone. a2 is a's value at 6..8: kept. b's tombstone: gone.
    assert [(r[0], r[1]) for r in rows(store.path) if r[1].endswith(("/a", "/b"))] == [
        (4, "/registry/pods/ns/a"),
        (9, "/registry/pods/ns/a"),
    ]
    assert await store.get("/registry/pods/ns/a", revision=7) == a2
    assert await store.get("/registry/pods/ns/a") == a3
    assert await store.get("/registry/pods/ns/b", revision=7) is None
    assert [kv.key for kv in (await store.list("/registry/pods/", revision=7)).kvs] == [
        "/registry/pods/ns/a",
        "/registry/pods/ns/c0",
        "/registry/pods/ns/c1",
        "/registry/pods/ns/c2",
    ]
    for revision in (b1.mod_revision, 6):
        with pytest.raises(CompactedError):
            await store.get("/registry/pods/ns/a", revision=revision)
        with pytest.raises(CompactedError):
            await store.list("/registry/pods/", revision=revision)
    with pytest.raises(CompactedError):
        await take(store.watch("/registry/", since=5), 1)
    replay = await take(store.watch("/registry/", since=6), 3)
    assert [e.revision for e in replay] == [7, 8, 9]
    assert replay[2].prev_kv == a2

    # As etcd: compacting again to an old point, or to the future, is an error.
    with pytest.raises(CompactedError):
        await store.compact(6)
    with pytest.raises(FutureRevisionError):
        await store.compact(10)
    # The newest row of a live key is never removed, even when compacting everything.
    await store.compact(9)
    assert await store.get("/registry/pods/ns/a") == a3
    assert await store.count("/registry/pods/") == 5
    # A key whose tombstone was compacted away can be created again.
    again = await store.create("/registry/pods/ns/b", b"b2")
    assert again.create_revision == again.mod_revision == 10


async def test_automatic_compaction_keeps_the_newest_revisions(tmp_path: Path) -> None:
    store = SQLiteBackend(tmp_path / "state.db", compact_keep=10, compact_interval=0.02)
    await store.start()
    try:
        kv = await store.create("/registry/leases/ns/l", b"0")
        for i in range(49):
            kv = await store.update(
                "/registry/leases/ns/l", b"%d" % i, expected_revision=kv.mod_revision
            )
        for _ in range(int(WAIT / 0.01)):  # the writer compacts every 20 ms
            if await store.compacted_revision() >= 40:
                break
            await asyncio.sleep(0.01)
        assert await store.compacted_revision() == 40
        assert await store.get("/registry/leases/ns/l") == kv
        assert await store.get("/registry/leases/ns/l", revision=41) is not None
    finally:
        await store.close()


async def test_watch_replays_history_then_goes_live_without_gaps(store: SQLiteBackend) -> None:
    async def write(worker: int, n: int) -> None:
        for i in range(n):
            kv = await store.create(f"/registry/pods/w{worker}/p{i}", b"v")
            if i % 3 == 0:
                await store.update(kv.key, b"v2", expected_revision=kv.mod_revision)
            if i % 5 == 0:
                await store.delete(kv.key)

    # More history than one replay page, written concurrently so it is group-committed.
    await asyncio.gather(*(write(w, 100) for w in range(16)))
    history = await store.current_revision()
    assert history > 1000
    events = store.watch("/registry/pods/", since=10)
    live_writers = asyncio.gather(*(write(w, 40) for w in range(16, 24)))
    first = await take(events, history - 10)
    await live_writers
    total = await store.current_revision()
    rest = await take(events, total - history)
    revisions = [e.revision for e in first + rest]
    assert revisions == list(range(11, total + 1))
    # Replayed and live events look the same: each update's prev_kv is the event before it.
    by_key: dict[str, WatchEvent] = {}
    for event in first + rest:
        previous = by_key.get(event.kv.key)
        if event.type is EventType.CREATE:
            assert event.prev_kv is None
        elif previous is not None:
            assert event.prev_kv == previous.kv
        by_key[event.kv.key] = event
    await events.aclose()


async def test_reopening_keeps_data_and_continues_revisions(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteBackend(path)
    await store.start()
    a = await store.create("/registry/pods/ns/a", b"a")
    await store.create("/registry/pods/ns/b", b"b")
    await store.delete("/registry/pods/ns/b")  # the newest row is a tombstone ...
    await store.compact(3)  # ... and compaction removes it: the revision must not go back
    await store.close()
    await store.close()  # idempotent

    store = SQLiteBackend(path)
    await store.start()
    try:
        assert await store.current_revision() == 3
        assert await store.compacted_revision() == 3
        assert await store.get("/registry/pods/ns/a") == a
        c = await store.create("/registry/pods/ns/c", b"c")
        assert c.mod_revision == 4
    finally:
        await store.close()


async def test_writes_submitted_before_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SQLiteBackend(path)
    await store.start()
    writes = [asyncio.create_task(store.create(f"/registry/pods/ns/p{i}", b"x")) for i in range(50)]
    await asyncio.sleep(0)  # the tasks submit their writes
    await store.close()
    assert len(await asyncio.gather(*writes)) == 50
    with pytest.raises(UnavailableError, match="closed"):
        await store.create("/registry/pods/ns/late", b"x")
    assert len(rows(path)) == 50


async def test_closing_the_store_ends_its_watches(tmp_path: Path) -> None:
    store = SQLiteBackend(tmp_path / "state.db")
    await store.start()
    events = store.watch("/registry/", since=0)
    await store.create("/registry/pods/ns/a", b"a")
    assert len(await take(events, 1)) == 1

    async def drain() -> list[WatchEvent]:
        return [event async for event in events]

    waiting = asyncio.create_task(drain())
    await asyncio.sleep(0.01)
    await store.close()
    assert await asyncio.wait_for(waiting, WAIT) == []
    with pytest.raises(UnavailableError):
        await take(store.watch("/registry/", since=0), 1)


async def test_a_corrupt_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(os.urandom(8192))
    store = SQLiteBackend(path)
    with pytest.raises(UnavailableError) as err:
        await store.start()
    message = str(err.value)
    assert str(path) in message
    assert "not a valid SQLite database" in message
    assert "move it away or restore a backup" in message
    # The failed start released its lock: once the file is moved away, the store opens.
    path.rename(tmp_path / "state.db.bad")
    await store.start()
    await store.close()


async def test_a_database_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(UnavailableError, match="another program"):
        await SQLiteBackend(path).start()


async def test_an_unwritable_data_dir_is_refused_with_the_fix(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # root writes through permission bits: use a "directory" that is a regular file.
        blocker = tmp_path / "file"
        blocker.write_text("not a directory")
        path = blocker / "state.db"
    else:
        data = tmp_path / "data"
        data.mkdir(mode=0o500)
        path = data / "state.db"
    with pytest.raises(UnavailableError) as err:
        await SQLiteBackend(path).start()
    assert str(path.parent) in str(err.value)
    assert "choose a writable --data-dir" in str(err.value)


async def test_a_second_opener_is_refused_and_told_who_holds_it(store: SQLiteBackend) -> None:
    second = SQLiteBackend(store.path)
    with pytest.raises(UnavailableError) as err:
        await second.start()
    assert f"pid {os.getpid()}" in str(err.value)
    assert "in use" in str(err.value)
    await store.create("/registry/pods/ns/a", b"still works")


async def test_the_file_is_intact_after_a_mixed_workload(store: SQLiteBackend) -> None:
    async def churn(worker: int) -> None:
        for i in range(30):
            key = f"/registry/configmaps/ns/w{worker}-{i % 7}"
            current = await store.get(key)
            try:
                if current is None:
                    await store.create(key, os.urandom(100 + i))
                elif i % 4 == 0:
                    await store.delete(key, expected_revision=current.mod_revision)
                else:
                    await store.update(key, os.urandom(200), expected_revision=current.mod_revision)
            except (ConflictError, KeyExistsError):
                pass

    await asyncio.gather(*(churn(w) for w in range(8)))
    await store.compact(await store.current_revision() // 2)
    await asyncio.gather(*(churn(w) for w in range(8)))
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # Compare-and-swap's guard: no row ever has two successors.
        assert conn.execute(
            "SELECT COUNT(*) FROM"
            " (SELECT 1 FROM log GROUP BY name, prev_revision HAVING COUNT(*) > 1)"
        ).fetchone() == (0,)
    conn.close()
