"""The SQLite store's single writer: one thread, one connection, group commit.

Every write of `SQLiteBackend` (create, update, delete, compact) becomes a `WriteOp` on a
queue. `Writer` owns the only write connection and runs in its own thread: it blocks for the
first op, drains whatever else is pending (up to `batch_limit`), and applies the whole batch
in ONE `BEGIN IMMEDIATE ... COMMIT` transaction. While it waits for the commit's fsync, new
ops pile up and form the next batch, so the cost of durability is shared by every writer
waiting at that moment (group commit). Only after COMMIT returned does it hand the outcomes
and the committed events, in revision order, to `publish` (acknowledged means durable).

Each op writes at most one row, with one INSERT, after its checks (a SELECT of the key's
newest row). A failed check writes nothing, and a failed INSERT is undone by SQLite's
statement rollback, so one op failing never touches the other ops of its batch; that is
what a SAVEPOINT per op would buy, without its cost. Any other SQLite error (disk full,
I/O error) fails the whole batch: it is rolled back and every op in it gets the error.

The log row layout (see `sqlite.py` for the table):
  created rows   created=1, create_revision=0 (it is the row's own id), old_value NULL;
                 prev_revision is the tombstone this create follows, or 0;
  update rows    prev_revision = the mod revision replaced, old_value = the value replaced;
  tombstones     deleted=1, value = the last value (the DELETE event's kv), old_value NULL.
`UNIQUE(name, prev_revision)` makes a second successor of the same row impossible, so even
a writer that skipped the checks could not fork a key's history.
"""

from __future__ import annotations

import contextlib
import enum
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kube.storage.backend import (
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
    WatchEvent,
)

# The columns every history read selects, in the order `row_event` expects.
LOG_COLUMNS = "id, name, created, deleted, create_revision, prev_revision, value, old_value"

SQL_LATEST = (
    "SELECT id, created, deleted, create_revision, value FROM log "
    "WHERE name = ? ORDER BY id DESC LIMIT 1"
)
SQL_CURRENT = "SELECT seq FROM sqlite_sequence WHERE name = 'log'"
SQL_COMPACTED = "SELECT value FROM meta WHERE key = 'compacted'"
_SQL_INSERT = (
    "INSERT INTO log (name, created, deleted, create_revision, prev_revision, value, old_value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Superseded rows (the predecessor of a row at or below the compaction point) and tombstones,
# among the rows added since the previous compaction. Rows are chained through prev_revision,
# so this reaches every row the new compaction point makes unreadable and nothing else.
_SQL_COMPACT = (
    "DELETE FROM log WHERE id IN ("
    " SELECT prev_revision FROM log WHERE id > :lo AND id <= :hi AND prev_revision != 0"
    " UNION ALL SELECT id FROM log WHERE id > :lo AND id <= :hi AND deleted)"
)
_SQL_SET_COMPACTED = "UPDATE meta SET value = ? WHERE key = 'compacted'"

COMPACT_CHUNK = 10_000  # revisions forgotten per transaction, so writers never wait long


def revision_of(conn: sqlite3.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def current_kv(key: str, row: tuple[Any, ...]) -> KeyValue:
    """The KeyValue of a `SQL_LATEST` row (id, created, deleted, create_revision, value)."""
    rev, created, _, create_revision, value = row
    return KeyValue(key, value, rev if created else create_revision, rev)


def row_event(row: tuple[Any, ...]) -> WatchEvent:
    """The watch event a log row (selected as `LOG_COLUMNS`) stands for."""
    rev, key, created, deleted, create_revision, prev_revision, value, old_value = row
    if created:
        return WatchEvent(EventType.CREATE, KeyValue(key, value, rev, rev), None)
    kv = KeyValue(key, value, create_revision, rev)
    if deleted:
        prev = KeyValue(key, value, create_revision, prev_revision)
        return WatchEvent(EventType.DELETE, kv, prev)
    prev = KeyValue(key, old_value, create_revision, prev_revision)
    return WatchEvent(EventType.UPDATE, kv, prev)


class OpKind(enum.Enum):
    CREATE = 1
    UPDATE = 2
    DELETE = 3
    COMPACT = 4


@dataclass(slots=True)
class WriteOp:
    """One write request. `token` is the submitter's (the backend's asyncio future)."""

    kind: OpKind
    key: str
    value: bytes
    expected: int  # update/delete: the mod revision to compare; compact: the revision
    token: Any


Outcome = KeyValue | StorageError | None  # None: a compaction succeeded
Outcomes = list[tuple[WriteOp, Outcome]]
Events = list[WatchEvent]
Publish = Callable[[Outcomes, Events], None]


class Writer:
    """The thread that applies every write, in batches, over the only write connection.

    Invariant: a batch's outcomes and events are published only after its COMMIT returned,
    and batches are published in commit order, so events leave in revision order.
    `commits` counts transactions that wrote log rows, `writes` the rows they wrote.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        publish: Publish,
        *,
        batch_limit: int = 512,
        compact_keep: int = 1000,
        compact_interval: float = 0.0,
    ) -> None:
        self._conn = conn
        self._publish = publish
        self._batch_limit = batch_limit
        self._compact_keep = compact_keep
        self._compact_interval = compact_interval
        self._queue: queue.SimpleQueue[WriteOp | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)
        self.commits = 0
        self.writes = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, op: WriteOp) -> None:
        self._queue.put(op)

    def stop(self) -> None:
        """Ask the thread to finish every op submitted so far, then exit (see `join`)."""
        self._queue.put(None)

    def join(self) -> None:
        self._thread.join()

    # -- the thread ------------------------------------------------------------------------

    def _run(self) -> None:
        next_compaction = self._schedule_compaction()
        try:
            while True:
                timeout = None if next_compaction is None else next_compaction - time.monotonic()
                try:
                    first = self._queue.get(timeout=None if timeout is None else max(timeout, 0))
                except queue.Empty:
                    first = _NO_OP
                batch: list[WriteOp | None] = [first]
                while len(batch) < self._batch_limit:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not self._apply_batch(batch):
                    return
                if next_compaction is not None and time.monotonic() >= next_compaction:
                    self._auto_compact()
                    next_compaction = self._schedule_compaction()
        finally:
            self._conn.close()

    def _schedule_compaction(self) -> float | None:
        if self._compact_interval <= 0:
            return None
        return time.monotonic() + self._compact_interval

    def _apply_batch(self, batch: list[WriteOp | None]) -> bool:
        """Apply `batch` in order; False once the stop marker was seen."""
        group: list[WriteOp] = []
        for op in batch:
            if op is _NO_OP:
                continue
            if op is None:
                self._commit_group(group)
                return False
            if op.kind is OpKind.COMPACT:
                self._commit_group(group)
                group = []
                self._publish([(op, self._compact_op(op.expected))], [])
            else:
                group.append(op)
        self._commit_group(group)
        return True

    def _commit_group(self, group: list[WriteOp]) -> None:
        if not group:
            return
        conn = self._conn
        outcomes: list[tuple[WriteOp, Outcome]] = []
        events: list[WatchEvent] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in group:
                try:
                    event = self._apply(op)
                except StorageError as err:
                    outcomes.append((op, err))
                    continue
                except sqlite3.IntegrityError as err:  # UNIQUE(name, prev_revision)
                    outcomes.append((op, StorageError(f"write to {op.key} lost a race: {err}")))
                    continue
                outcomes.append((op, event.kv))
                events.append(event)
            conn.execute("COMMIT")
        except Exception as err:  # SQLite (disk full, I/O error) or a bug: fail the batch
            self._rollback()
            failure = StorageError(f"SQLite write failed, nothing was written: {err}")
            self._publish([(op, failure) for op in group], [])
            return
        self.commits += 1
        self.writes += len(events)
        self._publish(outcomes, events)

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    def _apply(self, op: WriteOp) -> WatchEvent:
        """Check and write one op inside the open transaction; raise StorageError to refuse."""
        conn, key = self._conn, op.key
        row = conn.execute(SQL_LATEST, (key,)).fetchone()
        if op.kind is OpKind.CREATE:
            if row is not None and not row[2]:
                raise KeyExistsError(key)
            prev = row[0] if row is not None else 0
            rev = conn.execute(_SQL_INSERT, (key, 1, 0, 0, prev, op.value, None)).lastrowid
            assert rev is not None
            return WatchEvent(EventType.CREATE, KeyValue(key, op.value, rev, rev), None)
        if row is None or row[2]:
            raise KeyNotFoundError(key)
        current = current_kv(key, row)
        if op.kind is OpKind.UPDATE:
            if current.mod_revision != op.expected:
                raise ConflictError(key, op.expected, current)
            params = (key, 0, 0, current.create_revision, current.mod_revision, op.value, row[4])
            rev = conn.execute(_SQL_INSERT, params).lastrowid
            assert rev is not None
            kv = KeyValue(key, op.value, current.create_revision, rev)
            return WatchEvent(EventType.UPDATE, kv, current)
        if op.expected and current.mod_revision != op.expected:
            raise ConflictError(key, op.expected, current)
        params = (key, 0, 1, current.create_revision, current.mod_revision, current.value, None)
        rev = conn.execute(_SQL_INSERT, params).lastrowid
        assert rev is not None
        kv = KeyValue(key, current.value, current.create_revision, rev)
        return WatchEvent(EventType.DELETE, kv, current)

    def _compact_op(self, revision: int) -> Outcome:
        try:
            self._compact(revision)
        except StorageError as err:
            return err
        except sqlite3.Error as err:
            self._rollback()
            return StorageError(f"SQLite compaction failed: {err}")
        return None

    def _auto_compact(self) -> None:
        conn = self._conn
        try:
            target = revision_of(conn, SQL_CURRENT) - self._compact_keep
            if target > revision_of(conn, SQL_COMPACTED):
                self._compact(target)
        except sqlite3.Error:
            self._rollback()  # the next period tries again

    def _compact(self, revision: int) -> None:
        """Forget history at or below `revision`, COMPACT_CHUNK revisions per transaction."""
        conn = self._conn
        compacted = revision_of(conn, SQL_COMPACTED)
        if revision <= compacted:
            raise CompactedError(revision, compacted)
        current = revision_of(conn, SQL_CURRENT)
        if revision > current:
            raise FutureRevisionError(revision, current)
        low = compacted
        while low < revision:
            high = min(revision, low + COMPACT_CHUNK)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_SQL_COMPACT, {"lo": low, "hi": high})
            conn.execute(_SQL_SET_COMPACTED, (high,))
            conn.execute("COMMIT")
            low = high


# A wake-up with nothing to write (the queue wait timed out for an automatic compaction).
_NO_OP = WriteOp(OpKind.COMPACT, "", b"", 0, None)
