"""The embedded store: etcd semantics on one SQLite file, the way k3s's kine does it.

Table layout. All history lives in one append-only table:

    log(id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the revision
        name, created, deleted,                 -- key; create row? tombstone row?
        create_revision, prev_revision,         -- the key's create; the row this one replaces
        value, old_value,                       -- new value; replaced value (for prev_kv)
        UNIQUE(name, prev_revision))            + index (name, id)
    meta(key, value)                            -- 'compacted': the compaction point

* Revision = row id. Every write appends exactly one row, so the AUTOINCREMENT counter is
  the global revision (`sqlite_sequence` keeps it even when compaction removes the newest
  row), and a key's value at revision R is its newest row with id <= R, unless that row is a
  tombstone.
* Compare-and-swap via UNIQUE. A row names the row it replaces in `prev_revision`; two
  successors of one row would violate UNIQUE(name, prev_revision). The single writer also
  checks the expected revision first, to answer with `ConflictError` and the current value.
* Group commit. All writes go through one writer thread and its connection
  (`sqlite_writer.Writer`), which commits everything pending in one transaction and then
  resolves the callers' futures and publishes the events, in revision order, on the event loop.
  Durability is `synchronous=FULL` in WAL mode: a write is acknowledged after COMMIT.
* Reads. WAL readers never block the writer. A point `get` and the revision counters run on
  the event loop's own connection (an indexed lookup is cheaper than a thread hop); lists,
  counts and watch replays run in a small pool of reader threads, each read in one read
  transaction, so a list's rows and its revision come from one snapshot.
* Watch handoff. A watch first subscribes to the live feed, then replays the log rows after
  `since` from a snapshot whose newest revision is H, then yields live events above H.
  Anything committed before the subscription is in the snapshot; anything not in the
  snapshot was committed, and so published, after the subscription: no revision is skipped
  or repeated. Each watcher buffers live events in an unbounded queue of its own, so a slow
  watcher never blocks the writer or other watchers (it only costs memory).
* Compaction deletes the rows that a row at or below the compaction point replaced, and
  tombstones at or below it; the newest row of every live key survives. It runs on request
  (`compact`) and, when `compact_interval` is set, every interval keeping `compact_keep`
  revisions.
* One process per file: `start` takes `flock` on `<path>.lock` and names the holder if busy.

Closing the backend finishes the writes already submitted, then ends every watch: a watch
iterator yields the events it already holds and then stops (StopAsyncIteration).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from kube.storage.backend import (
    CompactedError,
    FutureRevisionError,
    KeyValue,
    ListResult,
    StorageError,
    UnavailableError,
    WatchEvent,
    prefix_end,
)
from kube.storage.sqlite_writer import (
    LOG_COLUMNS,
    SQL_COMPACTED,
    SQL_CURRENT,
    SQL_LATEST,
    Events,
    OpKind,
    Outcomes,
    WriteOp,
    Writer,
    current_kv,
    revision_of,
    row_event,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB,
    UNIQUE (name, prev_revision)
);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('compacted', 0), ('schema', 1);
"""

# One statement, so one snapshot: the compaction point, the current revision and the key's
# newest row at or below a revision.
_SQL_GET_AT = (
    "SELECT (SELECT value FROM meta WHERE key = 'compacted'),"
    " (SELECT seq FROM sqlite_sequence WHERE name = 'log'),"
    " kv.id, kv.created, kv.deleted, kv.create_revision, kv.value"
    " FROM (SELECT 1) LEFT JOIN (SELECT id, created, deleted, create_revision, value FROM log"
    " WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1) AS kv"
)
_REPLAY_PAGE = 1000
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
_NOT_A_DATABASE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


class SQLiteBackend:
    """`Backend` on one SQLite file in WAL mode (see the module docstring for the design).

    `commits` and `writes` count write transactions and the writes they carried; with many
    concurrent writers `commits` grows much slower than `writes` (group commit).
    """

    name = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        compact_keep: int = 1000,
        compact_interval: float = 0.0,
        readers: int = 2,
        batch_limit: int = 512,
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._compact_keep = compact_keep
        self._compact_interval = compact_interval  # seconds; 0 turns automatic compaction off
        self._reader_count = readers
        self._batch_limit = batch_limit
        self._busy_timeout = busy_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock_fd: int | None = None
        self._conn: sqlite3.Connection | None = None  # the event loop's read connection
        self._writer: Writer | None = None
        self._readers: _Readers | None = None
        self._watches: weakref.WeakSet[_Watch] = weakref.WeakSet()
        self._open = False

    @property
    def commits(self) -> int:
        return self._writer.commits if self._writer else 0

    @property
    def writes(self) -> int:
        return self._writer.writes if self._writer else 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._open:
            return
        loop = asyncio.get_running_loop()
        self._lock_fd = _lock(self.path)
        try:
            write_conn = await asyncio.to_thread(self._open_writer)
            self._conn = self._connect(query_only=True)
        except BaseException:
            self._release()
            raise
        self._loop = loop
        self._writer = Writer(
            write_conn,
            self._publish,
            batch_limit=self._batch_limit,
            compact_keep=self._compact_keep,
            compact_interval=self._compact_interval,
        )
        self._writer.start()
        self._readers = _Readers(lambda: self._connect(query_only=True), self._reader_count)
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        assert self._writer is not None
        assert self._readers is not None
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        for watch in list(self._watches):
            watch.end()
        await asyncio.to_thread(self._readers.close)
        self._release()

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def _connect(self, *, query_only: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
        )
        if query_only:
            conn.execute("PRAGMA query_only = ON")
        return conn

    def _open_writer(self) -> sqlite3.Connection:
        """Open (or create) the database, check it, and return the write connection."""
        path = self.path
        try:
            conn = self._connect(query_only=False)
        except sqlite3.Error as err:
            raise _open_error(path, err) from err
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise UnavailableError(f"cannot put {path} in WAL mode (journal mode {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise UnavailableError(
                    f"{path} is not a valid SQLite database ({problem}); "
                    "move it away or restore a backup"
                )
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if tables and "log" not in tables:
                raise UnavailableError(
                    f"{path} is an SQLite database of another program (tables: "
                    f"{', '.join(sorted(tables))}); choose another --data-dir"
                )
            conn.executescript(_SCHEMA)
        except sqlite3.Error as err:
            conn.close()
            raise _open_error(path, err) from err
        except BaseException:
            conn.close()
            raise
        return conn

    # -- reads -----------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        if not self._open or self._conn is None:
            raise UnavailableError(f"the SQLite store {self.path} is closed")
        return self._conn

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._open or self._readers is None:
            raise UnavailableError(f"the SQLite store {self.path} is closed")
        return await self._readers.run(fn, *args)

    async def current_revision(self) -> int:
        return revision_of(self._reader(), SQL_CURRENT)

    async def compacted_revision(self) -> int:
        return revision_of(self._reader(), SQL_COMPACTED)

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        conn = self._reader()
        if revision <= 0:
            row = conn.execute(SQL_LATEST, (key,)).fetchone()
            return None if row is None or row[2] else current_kv(key, row)
        compacted, current, *found = conn.execute(_SQL_GET_AT, (key, revision)).fetchone()
        _check_revision(revision, compacted, current or 0)
        return None if found[0] is None or found[2] else current_kv(key, tuple(found))

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_after: str = "",
    ) -> ListResult:
        return await self._read(_list, prefix, revision, limit, start_after)

    async def count(self, prefix: str) -> int:
        return await self._read(_count, prefix)

    # -- writes ----------------------------------------------------------------------------

    async def _write(self, kind: OpKind, key: str, value: bytes, expected: int) -> Any:
        if not self._open or self._writer is None or self._loop is None:
            raise UnavailableError(f"the SQLite store {self.path} is closed")
        future: asyncio.Future[Any] = self._loop.create_future()
        self._writer.submit(WriteOp(kind, key, value, expected, future))
        return await future

    async def create(self, key: str, value: bytes) -> KeyValue:
        kv: KeyValue = await self._write(OpKind.CREATE, key, value, 0)
        return kv

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        kv: KeyValue = await self._write(OpKind.UPDATE, key, value, expected_revision)
        return kv

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        kv: KeyValue = await self._write(OpKind.DELETE, key, b"", expected_revision)
        return kv

    async def compact(self, revision: int) -> None:
        """Forget history at or below `revision`.

        As etcd: `CompactedError` if `revision` is not above the current compaction point,
        `FutureRevisionError` if it is above the current revision.
        """
        await self._write(OpKind.COMPACT, "", b"", revision)

    def _publish(self, outcomes: Outcomes, events: Events) -> None:
        """Called by the writer thread after each commit: hand the batch to the event loop."""
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self._loop.call_soon_threadsafe(self._deliver, outcomes, events)

    def _deliver(self, outcomes: Outcomes, events: Events) -> None:
        for op, outcome in outcomes:
            future: asyncio.Future[Any] = op.token
            if future.done():  # the caller was cancelled; the write stands regardless
                continue
            if isinstance(outcome, StorageError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if events:
            for watch in list(self._watches):
                watch.push(events)

    # -- watch -----------------------------------------------------------------------------

    def watch(self, prefix: str, *, since: int) -> _Watch:
        return _Watch(self, prefix, since)

    def _subscribe(self, watch: _Watch) -> None:
        if not self._open:
            raise UnavailableError(f"the SQLite store {self.path} is closed")
        self._watches.add(watch)

    def _unsubscribe(self, watch: _Watch) -> None:
        self._watches.discard(watch)


class _Watch:
    """One watch: replay from the log, then live events, each revision once and in order.

    The backend holds watches weakly: an iterator dropped without `aclose` unsubscribes
    when it is collected.
    """

    def __init__(self, backend: SQLiteBackend, prefix: str, since: int) -> None:
        self._backend = backend
        self._prefix = prefix
        self._cursor = since  # replay: the last revision read from the log
        self._horizon = -1  # the snapshot's revision; live events at or below it are replayed
        self._replayed: deque[WatchEvent] = deque()
        self._live: deque[WatchEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._state = "new"  # new -> replay -> live -> (ending ->) done

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> WatchEvent:
        try:
            if self._state == "new":
                self._backend._subscribe(self)
                self._state = "replay"
            while True:
                if self._replayed:
                    return self._replayed.popleft()
                if self._state == "replay":
                    await self._replay_page()
                    continue
                while self._live:
                    event = self._live.popleft()
                    if event.revision > self._horizon:
                        return event
                if self._state != "live":
                    raise StopAsyncIteration
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
        except asyncio.CancelledError:
            raise  # the caller gave up on this call, not on the watch: nothing is lost
        except BaseException:
            self._finish()
            raise

    async def _replay_page(self) -> None:
        upto = None if self._horizon < 0 else self._horizon
        events, horizon = await self._backend._read(_replay, self._prefix, self._cursor, upto)
        if self._horizon < 0:
            self._horizon = max(horizon, self._cursor)
        if events:
            self._cursor = events[-1].revision
            self._replayed.extend(events)
        if len(events) < _REPLAY_PAGE and self._state == "replay":
            self._state = "live"

    def push(self, events: list[WatchEvent]) -> None:
        """Live events from the writer, on the event loop."""
        prefix = self._prefix
        if prefix:
            self._live.extend(e for e in events if e.kv.key.startswith(prefix))
        else:
            self._live.extend(events)
        if self._live and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def end(self) -> None:
        """The backend closed: yield what is already held, then stop."""
        if self._state in ("replay", "live"):
            self._state = "ending"
        elif self._state == "new":
            self._state = "done"
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _finish(self) -> None:
        self._state = "done"
        self._replayed.clear()
        self._live.clear()
        self._backend._unsubscribe(self)

    async def aclose(self) -> None:
        self._finish()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Readers:
    """A few threads, each with its own read connection, for reads too big for the loop."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], count: int) -> None:
        self._connect = connect
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(count, thread_name_prefix="sqlite-read")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            result = loop.run_in_executor(self._executor, self._call, fn, args)
        except RuntimeError as err:  # the executor was shut down under us
            raise UnavailableError(f"the SQLite store is closed ({err})") from err
        return await result

    def _call(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._conns.append(conn)
        return fn(conn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for conn in self._conns:
            conn.close()


# -- read transactions (run in reader threads) ------------------------------------------------


def _check_revision(revision: int, compacted: int, current: int) -> None:
    if revision <= compacted:
        raise CompactedError(revision, compacted)
    if revision > current:
        raise FutureRevisionError(revision, current)


def _snapshot(conn: sqlite3.Connection, revision: int) -> int:
    """Begin a read transaction; check `revision` against it; return the revision to read."""
    conn.execute("BEGIN")
    current = revision_of(conn, SQL_CURRENT)
    if revision <= 0:
        return current
    _check_revision(revision, revision_of(conn, SQL_COMPACTED), current)
    return revision


def _key_range(prefix: str, start_after: str = "") -> tuple[str, list[str]]:
    """SQL conditions on `name` for keys under `prefix` after `start_after`, and their params."""
    conds, params = ["name >= ?"], [prefix]
    if start_after and start_after >= prefix:
        conds, params = ["name > ?"], [start_after]
    end = prefix_end(prefix)
    if end is not None:
        conds.append("name < ?")
        params.append(end)
    return " AND ".join(conds), params


def _list(
    conn: sqlite3.Connection, prefix: str, revision: int, limit: int, start_after: str
) -> ListResult:
    try:
        at = _snapshot(conn, revision)
        where, params = _key_range(prefix, start_after)
        rows = conn.execute(
            "SELECT id, name, created, create_revision, value FROM log AS kv"
            f" WHERE {where} AND id <= ? AND NOT deleted"
            " AND id = (SELECT MAX(id) FROM log WHERE name = kv.name AND id <= ?)"
            " ORDER BY name LIMIT ?",
            (*params, at, at, limit + 1 if limit > 0 else -1),
        ).fetchall()
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
    more = 0 < limit < len(rows)
    if more:
        rows = rows[:limit]
    kvs = [
        KeyValue(name, value, rev if created else cr, rev) for rev, name, created, cr, value in rows
    ]
    return ListResult(kvs, at, more)


def _count(conn: sqlite3.Connection, prefix: str) -> int:
    where, params = _key_range(prefix)
    row = conn.execute(
        f"SELECT COUNT(*) FROM log AS kv WHERE {where} AND NOT deleted"
        " AND id = (SELECT MAX(id) FROM log WHERE name = kv.name)",
        params,
    ).fetchone()
    return int(row[0])


def _replay(
    conn: sqlite3.Connection, prefix: str, after: int, upto: int | None
) -> tuple[list[WatchEvent], int]:
    """Up to _REPLAY_PAGE events under `prefix` in (after, upto]; upto None: the snapshot's."""
    try:
        conn.execute("BEGIN")
        compacted = revision_of(conn, SQL_COMPACTED)
        if after < compacted:
            raise CompactedError(after + 1, compacted)
        horizon = revision_of(conn, SQL_CURRENT) if upto is None else upto
        where, params = _key_range(prefix)
        rows = conn.execute(
            f"SELECT {LOG_COLUMNS} FROM log WHERE id > ? AND id <= ? AND {where}"
            " ORDER BY id LIMIT ?",
            (after, horizon, *params, _REPLAY_PAGE),
        ).fetchall()
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
    return [row_event(row) for row in rows], horizon


# -- opening -----------------------------------------------------------------------------------


def _lock(path: Path) -> int:
    """Create the data directory if needed and take `<path>.lock`; return its descriptor."""
    directory = path.parent
    if directory.exists() and not directory.is_dir():
        raise UnavailableError(
            f"cannot write to {directory}: it is a file, not a directory; "
            "choose a writable --data-dir"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UnavailableError(
            f"cannot create the data directory {directory}: {err.strerror or err}; "
            "choose a writable --data-dir"
        ) from err
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError as err:
        raise UnavailableError(
            f"cannot write to {directory}: permission denied; choose a writable --data-dir"
        ) from err
    except OSError as err:
        raise UnavailableError(
            f"cannot write to {directory}: {err.strerror or err}; choose a writable --data-dir"
        ) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise UnavailableError(
            f"{path} is in use by another kube server ({holder}, holding {lock_path}); "
            "stop it or choose another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    return fd


def _open_error(path: Path, err: sqlite3.Error) -> UnavailableError:
    name = getattr(err, "sqlite_errorname", "")
    if name in _NOT_A_DATABASE:
        return UnavailableError(
            f"{path} is not a valid SQLite database ({err}); move it away or restore a backup"
        )
    return UnavailableError(
        f"cannot open {path}: {err}; check that it is a writable file "
        "or choose a writable --data-dir"
    )
