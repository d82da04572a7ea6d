"""The storage contract every backend keeps: etcd v3 semantics over a flat key space.

The API server is the only user of this module. It stores each object under
`/registry/<resource>/[<namespace>/]<name>` and relies on four properties, which the
conformance suite (`tests/storage/test_conformance.py`) checks on every backend:

1. **One global revision.** Every successful write (create, update, delete) bumps a single
   counter shared by all keys; the new value is the written key's `mod_revision`, and it is
   what becomes `metadata.resourceVersion`. Reads report the revision they were served at.
2. **Compare-and-swap on the key's mod revision.** `update` and `delete` take the revision
   the caller last saw; if the key moved on since, nothing is written and `ConflictError`
   carries the current value (HTTP 409 Conflict).
3. **Watches never skip a revision.** `watch(prefix, since)` yields every change with a
   revision greater than `since`, in revision order, each exactly once; starting from a
   revision that compaction already removed raises `CompactedError` (HTTP 410 Gone).
4. **Acknowledged means durable.** A write returns only after it has been committed.

Requests of a shape a backend cannot serve are rejected with `StorageError`, never guessed.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision (etcd's `mvccpb.KeyValue` without leases)."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(enum.Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change to one key.

    For CREATE and UPDATE, `kv` is the new value. For DELETE, `kv.value` is the last value the
    key had and `kv.mod_revision` is the revision of the delete itself. `prev_kv` is the value
    before the change (None for CREATE).
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None

    @property
    def revision(self) -> int:
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class ListResult:
    """A page of keys under a prefix, in key order, all read at `revision`.

    `more` is true when `limit` cut the page short; pass the last key as `start_after` and the
    same `revision` to read the next page of the same snapshot.
    """

    kvs: list[KeyValue]
    revision: int
    more: bool


class StorageError(Exception):
    """A storage request failed; the message names the problem."""


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class ConflictError(StorageError):
    """The key's mod revision was not the expected one; `current` is what is stored now."""

    def __init__(self, key: str, expected: int, current: KeyValue) -> None:
        super().__init__(
            f"revision mismatch on {key}: expected {expected}, have {current.mod_revision}"
        )
        self.key = key
        self.expected = expected
        self.current = current


class CompactedError(StorageError):
    """The requested revision is older than the oldest revision kept."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"required revision {requested} has been compacted (oldest kept: {compacted + 1})"
        )
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """The requested revision is newer than the store's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is a future revision (current {current})")
        self.requested = requested
        self.current = current


class UnavailableError(StorageError):
    """The store cannot be reached or opened; the message says what to fix."""


@runtime_checkable
class Backend(Protocol):
    """The narrow interface the API server uses. Keys are `str`, values opaque `bytes`."""

    name: str

    async def start(self) -> None:
        """Open the store (create it if new); raise `UnavailableError` with the fix."""

    async def close(self) -> None:
        """Stop watches and release the store. Safe to call twice."""

    async def current_revision(self) -> int:
        """The revision of the newest committed write (0 for an empty store)."""

    async def compacted_revision(self) -> int:
        """Revisions at or below this one are gone (0 if nothing was compacted)."""

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The key's value at `revision` (0: the newest), or None if it did not exist."""

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_after: str = "",
    ) -> ListResult:
        """Keys starting with `prefix`, in key order, as of `revision` (0: the newest)."""

    async def count(self, prefix: str) -> int:
        """How many live keys start with `prefix`."""

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Store a new key; `KeyExistsError` if it is live."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Replace the key's value if its mod revision is `expected_revision`."""

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete the key (if its mod revision is `expected_revision`, when non-zero).

        Returns the deleted value with `mod_revision` set to the delete's revision.
        """

    def watch(self, prefix: str, *, since: int) -> AsyncIterator[WatchEvent]:
        """Every change under `prefix` with revision > `since`, in order, until closed."""

    async def compact(self, revision: int) -> None:
        """Forget history at or below `revision` (the newest value of each key is kept)."""


def prefix_end(prefix: str) -> str | None:
    """The smallest key greater than every key that starts with `prefix` (etcd's range end).

    UTF-8 keeps code point order in byte order, so bumping the last code point is exact for
    both SQLite's TEXT comparison and etcd's byte comparison. None means "no upper bound".
    """
    if not prefix:
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
