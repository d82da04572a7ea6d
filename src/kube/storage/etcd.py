"""The distributed store: the `Backend` contract on a real etcd v3 cluster, over gRPC.

etcd already has the contract's semantics, so this module is a thin mapping onto its v3 API
(the generated stubs shipped in `aetcd.rpc`; see "Why not aetcd.Client" below). Revisions are
etcd's own: a fresh etcd reports revision 1 and its first write gets 2.

    create(k, v)            Txn(If create_revision(k) == 0: Put(k, v); Else: Range(k))
                            -> KeyValue(rev, rev) from the txn header, or KeyExistsError
    update(k, v, expected)  Txn(If mod_revision(k) == expected: Put, Range(k, keys_only);
                                Else: Range(k))
                            -> KeyValue, or ConflictError(current) / KeyNotFoundError
    delete(k, expected)     Txn(If mod_revision(k) == expected: Delete(prev_kv); Else: Range(k))
                            -> the deleted value with mod_revision = the txn header revision.
                            `expected=0` reads the key first and deletes that version
                            (retrying if it moves), as kube-apiserver does, so every delete is
                            conditional and its retry is decidable (see "Failover").
    get / list / count      Range, linearizable (serializable=false), `revision` passed
                            through; a prefix is [prefix, prefix_end(prefix)); `start_after`
                            starts the range at start_after + "\\0"; `more` is etcd's; a list's
                            revision is the requested one, or the header's for "newest".
                            etcd's ErrCompacted / ErrFutureRev -> CompactedError /
                            FutureRevisionError.
    count                   Range(count_only=true).
    current_revision        the header revision of a one-key count-only Range.
    compact(rev)            Compact(rev, physical=true); again at or below the point ->
                            CompactedError, as etcd. etcd still serves reads at exactly `rev`
                            (and watches from it, though a tombstone at `rev` is gone): the
                            contract's "at or below is gone" is the safe reading.
    compacted_revision      etcd has no call for its compaction point, so it is found by a
                            binary search over cheap Ranges at a revision (they fail with
                            ErrCompacted below the point), starting from the highest point
                            this client already knows (its own compactions, compacted watch
                            responses). About log2(current revision) RPCs: fine for a rare
                            call, and right when another client (another API server) compacted.
                            (A point of 1 reads as 0: etcd cannot tell them apart this way.)
    watch(prefix, since)    Watch(start_revision=since+1, prev_kv=true) on its own gRPC stream
                            with the `hasleader` metadata (a member that loses its leader ends
                            the stream instead of going silent). PUT with create_revision ==
                            mod_revision -> CREATE, other PUT -> UPDATE, DELETE -> DELETE with
                            kv = (key, prev value, prev create_revision, delete revision).
                            compact_revision in a response -> CompactedError.

Failover. `endpoints` may name several members; one is active. An RPC that fails with
UNAVAILABLE / DEADLINE_EXCEEDED (connection refused or lost, "no leader", "leader changed",
"request timed out", a dropped proposal) moves to the next endpoint and tries again, backing
off once every endpoint has failed, until `request_timeout`. Reads are idempotent and simply
retried. A write that failed that way may or may not have committed; re-sending it is safe
because each one is a compare-and-swap txn, which applies at most once, and the outcome of a
re-sent write whose compare fails is decided from what etcd stores:

* create: the key's create_revision is newer than any revision this client had seen before
  sending, and the value at that creation is ours -> ours committed; return it.
* update / delete: find by binary search over Ranges the first revision after `expected` at
  which the key changed; if that change is a put of our value (update) or the key's deletion
  (delete), ours committed -> return it; otherwise the usual ConflictError/KeyNotFoundError.

A write of identical bytes by another client in the same moment is indistinguishable from
ours and is reported as ours (its effect is the same). If history was compacted in between, or
the budget runs out after an ambiguous attempt, the error says the write may have been applied.
An acknowledged write has committed. What this cannot decide: a create whose lost first
attempt committed and was deleted by someone else before the retry is created a second time,
and one whose key was then deleted and re-created reports KeyExistsError (a false failure).
Watches re-open on the next endpoint from the last delivered revision + 1, so a broken
stream neither skips nor repeats a revision.

Why not aetcd.Client: it dials one host, its range calls take no revision, limit or
count_only, and its watcher multiplexes callbacks without resume; its generated protobuf
messages and stubs are exactly etcd's API, so this module drives those over its own channels.
Only plain `http://host:port` (or bare `host:port`) and `unix://path` endpoints: no TLS yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aetcd import rpc

from kube.storage.backend import (
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    ListResult,
    StorageError,
    UnavailableError,
    WatchEvent,
    prefix_end,
)

__all__ = ["EtcdBackend"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", -1),  # a full list of a big resource is large
    ("grpc.max_send_message_length", -1),
    ("grpc.keepalive_time_ms", 10_000),  # etcd's default enforcement allows >= 5 s
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.initial_reconnect_backoff_ms", 100),  # a restarted member is used again quickly
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]
_REQUIRE_LEADER = (("hasleader", "true"),)  # etcd's rpctypes.MetadataRequireLeaderKey
_ANY_KEY = b"\x00"  # as range end: "every key from `key` on"; as a key: one nobody stores
# etcd errors that mean "this member cannot serve now, another one (or later) may".
_TRANSIENT_DETAILS = (
    "no leader",
    "leader changed",
    "request timed out",
    "proposal dropped",
    "too many requests",
    "not capable",
    "server stopped",
    "unhealthy cluster",
)
_BACKOFF_START = 0.05
_BACKOFF_MAX = 1.0


class EtcdBackend:
    """`Backend` on etcd v3: etcd's revisions, txns for compare-and-swap, native watches."""

    name = "etcd"

    def __init__(
        self,
        endpoints: list[str],
        *,
        dial_timeout: float = 5.0,
        request_timeout: float = 30.0,
    ) -> None:
        if not endpoints:
            raise StorageError("no etcd endpoints given; pass --etcd-servers")
        self._endpoints = [_Endpoint(url) for url in endpoints]
        self._dial_timeout = dial_timeout
        self._request_timeout = request_timeout
        self._attempt_timeout = max(request_timeout / 3, 1.0)
        self._active = 0
        self._started = False
        self._closed = False
        self._seen = 0  # the newest revision any response has shown this client
        self._compacted = 0  # etcd's compaction point is known to be at least this
        self._watch_calls: set[Any] = set()

    @property
    def endpoints(self) -> list[str]:
        return [ep.url for ep in self._endpoints]

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Dial every endpoint; succeed once one member answers and has a leader."""
        if self._closed:
            raise UnavailableError("the etcd backend is closed")
        if self._started:
            return
        for ep in self._endpoints:
            ep.open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._dial_timeout
        problems: dict[str, str] = {}
        while True:
            remaining = deadline - loop.time()
            if await self._probe(max(remaining, 0.05), problems):
                self._started = True
                return
            if loop.time() + 0.1 >= deadline:
                break
            await asyncio.sleep(0.1)
        await self._close_channels()
        if len(problems) == 1:
            ((url, why),) = problems.items()
            where = f"{url}: {why}"
        else:
            where = ", ".join(f"{url} ({why})" for url, why in problems.items())
        raise UnavailableError(f"cannot reach etcd at {where}; start etcd or fix --etcd-servers")

    async def _probe(self, budget: float, problems: dict[str, str]) -> bool:
        """Ask every member for its status at once; make the first with a leader active."""

        async def ask(index: int) -> tuple[int, Any]:
            try:
                return index, await self._endpoints[index].status(budget)
            except rpc.AioRpcError as err:
                return index, err

        tasks = [asyncio.ensure_future(ask(i)) for i in range(len(self._endpoints))]
        try:
            for next_answer in asyncio.as_completed(tasks):
                index, answer = await next_answer
                url = self._endpoints[index].url
                if isinstance(answer, rpc.AioRpcError):
                    problems[url] = _reason(answer, budget)
                elif not answer.leader:
                    problems[url] = "reachable, but it has no leader (quorum lost?)"
                else:
                    problems.pop(url, None)
                    self._active = index
                    self._saw(answer.header.revision)
                    return True
            return False
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """End every watch (their iterators stop) and close the channels. Safe to call twice."""
        self._closed = True
        for call in list(self._watch_calls):
            call.cancel()
        await self._close_channels()

    async def _close_channels(self) -> None:
        for ep in self._endpoints:
            await ep.close()

    # -- reads -----------------------------------------------------------------------------

    async def current_revision(self) -> int:
        request = rpc.RangeRequest(key=_ANY_KEY, count_only=True)
        response = await self._retrying(lambda ep, t: ep.kv.Range(request, timeout=t), "read")
        return self._saw(response.header.revision)

    async def compacted_revision(self) -> int:
        return await self._find_compacted(self._compacted)

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        request = rpc.RangeRequest(key=_enc(key), revision=max(revision, 0))
        response = await self._range(request, revision, f"get {key}")
        if not response.kvs:
            return None
        return _kv(key, response.kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        revision: int = 0,
        limit: int = 0,
        start_after: str = "",
    ) -> ListResult:
        start, end = _prefix_range(prefix)
        if start_after and start_after >= prefix:
            start = _enc(start_after) + b"\x00"
        request = rpc.RangeRequest(
            key=start, range_end=end, revision=max(revision, 0), limit=max(limit, 0)
        )
        response = await self._range(request, revision, f"list {prefix}")
        kvs = [
            KeyValue(_dec(kv.key), kv.value, kv.create_revision, kv.mod_revision)
            for kv in response.kvs
        ]
        at = revision if revision > 0 else int(response.header.revision)
        return ListResult(kvs, at, bool(response.more))

    async def count(self, prefix: str) -> int:
        start, end = _prefix_range(prefix)
        request = rpc.RangeRequest(key=start, range_end=end, count_only=True)
        response = await self._range(request, 0, f"count {prefix}")
        return int(response.count)

    async def _range(self, request: Any, revision: int, what: str) -> Any:
        try:
            response = await self._retrying(lambda ep, t: ep.kv.Range(request, timeout=t), what)
        except _RevisionError as err:
            raise await self._revision_error(err, revision) from None
        self._saw(response.header.revision)
        return response

    async def _revision_error(self, err: _RevisionError, revision: int) -> StorageError:
        if err.compacted:
            return CompactedError(revision, await self._find_compacted(revision + 1))
        return FutureRevisionError(revision, await self.current_revision())

    # -- writes ----------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        k = _enc(key)
        request = rpc.TxnRequest(
            compare=[_compare(k, "create", 0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        floor = self._seen
        response, resent = await self._txn(request, f"create {key}")
        rev = self._saw(response.header.revision)
        if response.succeeded:
            return KeyValue(key, value, rev, rev)
        current = _failure_kv(key, response)
        if resent and current is not None and current.create_revision > floor:
            created: KeyValue | None = current
            if current.mod_revision != current.create_revision:
                created = await self._at(key, current.create_revision)
            if created is not None and created.value == value:
                return created  # our first attempt committed before its answer was lost
        raise KeyExistsError(key)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        k = _enc(key)
        request = rpc.TxnRequest(
            compare=[_compare(k, "mod", expected_revision)],
            success=[
                rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value)),
                # keys_only: the create revision without sending the value back
                rpc.RequestOp(request_range=rpc.RangeRequest(key=k, keys_only=True)),
            ],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        response, resent = await self._txn(request, f"update {key}")
        rev = self._saw(response.header.revision)
        if response.succeeded:
            written = response.responses[1].response_range.kvs[0]
            return KeyValue(key, value, int(written.create_revision), rev)
        if resent:
            change = await self._first_change(key, expected_revision, rev)
            if change is not None and change.mod_revision and change.value == value:
                return change  # our first attempt committed before its answer was lost
        current = _failure_kv(key, response)
        if current is None:
            raise KeyNotFoundError(key)
        raise ConflictError(key, expected_revision, current)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        if expected_revision:
            return await self._delete_at(key, expected_revision)
        current = await self.get(key)
        while True:
            if current is None:
                raise KeyNotFoundError(key)
            try:
                return await self._delete_at(key, current.mod_revision)
            except ConflictError as moved:  # changed between our read and our delete
                current = moved.current

    async def _delete_at(self, key: str, expected: int) -> KeyValue:
        k = _enc(key)
        request = rpc.TxnRequest(
            compare=[_compare(k, "mod", expected)],
            success=[
                rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))
            ],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        response, resent = await self._txn(request, f"delete {key}")
        rev = self._saw(response.header.revision)
        if response.succeeded:
            prev = response.responses[0].response_delete_range.prev_kvs[0]
            return KeyValue(key, prev.value, prev.create_revision, rev)
        if resent:
            change = await self._first_change(key, expected, rev)
            if change is not None and change.mod_revision == 0:  # the deletion
                before = await self._at(key, expected)
                assert before is not None  # _first_change checked the key had that version
                return KeyValue(key, before.value, before.create_revision, change.create_revision)
        current = _failure_kv(key, response)
        if current is None:
            raise KeyNotFoundError(key)
        raise ConflictError(key, expected, current)

    async def _txn(self, request: Any, what: str) -> tuple[Any, bool]:
        """Send a compare-and-swap txn, re-sending it after transient failures.

        Returns the response and whether the txn was sent more than once (so an earlier
        attempt may have committed; the caller decides from the stored history).
        """
        attempts = 0

        async def attempt(ep: _Endpoint, budget: float) -> Any:
            nonlocal attempts
            attempts += 1
            return await ep.kv.Txn(request, timeout=budget)

        response = await self._retrying(attempt, what, write=True)
        return response, attempts > 1

    async def _at(self, key: str, revision: int) -> KeyValue | None:
        """The key at `revision`, for deciding a write's outcome; history must still exist."""
        try:
            return await self.get(key, revision=revision)
        except CompactedError as err:
            raise UnavailableError(
                f"etcd lost the answer to a write on {key}, and compaction removed the history "
                "that would tell whether it was applied: it may or may not have been"
            ) from err

    async def _first_change(self, key: str, after: int, upto: int) -> KeyValue | None:
        """The first write to `key` after the version written at revision `after`.

        Returns the key's state at the first revision in (after, upto] where it differs from
        that version (a deletion is KeyValue(mod_revision=0, create_revision=its revision)),
        or None if the key did not have that version or did not change. Binary search over
        Ranges at a revision: about log2(upto - after) reads, only after a lost answer.
        """
        if not 0 < after < upto:
            return None  # nothing can have changed (or `after` is not a real revision)
        base = await self._at(key, after)
        if base is None or base.mod_revision != after:
            return None  # a compare on `after` could never have succeeded
        base_mod = after

        async def mod_at(revision: int) -> int:
            kv = await self._at(key, revision)
            return kv.mod_revision if kv is not None else 0

        if await mod_at(upto) == base_mod:
            return None
        lo, hi = after, upto  # the key is unchanged at lo and changed at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if await mod_at(mid) == base_mod:
                lo = mid
            else:
                hi = mid
        changed = await self._at(key, hi)
        if changed is None:
            return KeyValue(key, b"", hi, 0)
        return changed

    # -- compaction ------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        request = rpc.CompactionRequest(revision=revision, physical=True)
        attempts = 0

        async def attempt(ep: _Endpoint, budget: float) -> Any:
            nonlocal attempts
            attempts += 1
            return await ep.kv.Compact(request, timeout=budget)

        try:
            response = await self._retrying(attempt, f"compact {revision}", write=True)
        except _RevisionError as err:
            if not err.compacted:
                raise FutureRevisionError(revision, await self.current_revision()) from None
            compacted = await self._find_compacted(self._compacted)
            if attempts > 1 and compacted == revision:
                return  # our first attempt did it; its answer was lost
            raise CompactedError(revision, compacted) from None
        self._saw(response.header.revision)
        self._compacted = max(self._compacted, revision)

    async def _find_compacted(self, lower: int) -> int:
        """etcd's compaction point: the oldest revision a Range may still read at (0: none).

        `lower` is known to be at or below it. A Range at revision r fails with ErrCompacted
        exactly when r is below the point, so a binary search over [lower, current] finds it.
        """
        current = await self.current_revision()
        lo = max(lower, self._compacted, 0)
        if lo >= current:
            return self._note_compacted(current)
        if await self._readable(max(lo, 1)):
            return self._note_compacted(lo)  # (etcd cannot tell 0 from 1 here)
        bad, good = max(lo, 1), current
        while good - bad > 1:
            mid = (bad + good) // 2
            if await self._readable(mid):
                good = mid
            else:
                bad = mid
        return self._note_compacted(good)

    async def _readable(self, revision: int) -> bool:
        request = rpc.RangeRequest(key=_ANY_KEY, revision=revision, count_only=True)
        try:
            await self._retrying(lambda ep, t: ep.kv.Range(request, timeout=t), "read")
        except _RevisionError as err:
            if err.compacted:
                return False
            raise
        return True

    def _note_compacted(self, revision: int) -> int:
        self._compacted = max(self._compacted, revision)
        return revision

    # -- watch -----------------------------------------------------------------------------

    def watch(self, prefix: str, *, since: int) -> AsyncIterator[WatchEvent]:
        return self._watch(prefix, since)

    async def _watch(self, prefix: str, since: int) -> AsyncIterator[WatchEvent]:
        start, end = _prefix_range(prefix)
        next_rev = since + 1
        loop = asyncio.get_running_loop()
        failing_since: float | None = None
        delay = _BACKOFF_START
        problem = ""
        while True:
            self._check_open()
            index = self._active
            ep = self._endpoints[index]
            call = ep.watch.Watch(metadata=_REQUIRE_LEADER)
            self._watch_calls.add(call)
            try:
                create = rpc.WatchCreateRequest(
                    key=start, range_end=end, start_revision=next_rev, prev_kv=True
                )
                await call.write(rpc.WatchRequest(create_request=create))
                while True:
                    response = await call.read()
                    if not isinstance(response, rpc.WatchResponse):  # grpc's EOF
                        problem = f"{ep.url} ended the watch stream"
                        break
                    if response.compact_revision:
                        compacted = self._note_compacted(int(response.compact_revision))
                        raise CompactedError(next_rev - 1, compacted)
                    if response.canceled:
                        problem = f"{ep.url} cancelled the watch: {response.cancel_reason}"
                        if not _is_transient_text(response.cancel_reason):
                            raise StorageError(f"etcd watch on {prefix!r}: {problem}")
                        break
                    if response.created:
                        failing_since, delay = None, _BACKOFF_START
                    for event in response.events:
                        revision = int(event.kv.mod_revision)
                        if revision < next_rev:
                            continue  # cannot happen with etcd; never deliver twice anyway
                        next_rev = revision + 1
                        yield _event(event)
            except rpc.AioRpcError as err:
                if self._is_closed():
                    return
                if not _is_transient(err) and err.code() != rpc.StatusCode.CANCELLED:
                    raise _storage_error(err, f"watch {prefix}") from err
                problem = f"{ep.url}: {_reason(err, self._attempt_timeout)}"
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._is_closed() and task is not None and not task.cancelling():
                    return  # close() cancelled the stream: the watch ends
                raise
            finally:
                call.cancel()
                self._watch_calls.discard(call)
            if self._is_closed():
                return
            # The stream broke: resume from the last delivered revision on the next endpoint.
            now = loop.time()
            failing_since = now if failing_since is None else failing_since
            if now - failing_since > self._request_timeout:
                raise UnavailableError(
                    f"etcd watch on {prefix!r} could not be re-established for "
                    f"{self._request_timeout:.0f}s (last: {problem})"
                )
            log.info(
                "etcd watch on %r broke (%s); resuming at revision %d", prefix, problem, next_rev
            )
            self._fail_over(index)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    # -- the retry loop --------------------------------------------------------------------

    async def _retrying(
        self,
        fn: Callable[[_Endpoint, float], Awaitable[T]],
        what: str,
        *,
        write: bool = False,
    ) -> T:
        """Run `fn` on the active endpoint; fail over on transient errors until the budget."""
        self._check_open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout
        delay = _BACKOFF_START
        failures = 0
        while True:
            index = self._active
            ep = self._endpoints[index]
            remaining = deadline - loop.time()
            try:
                return await fn(ep, min(remaining, self._attempt_timeout))
            except rpc.AioRpcError as err:
                if self._closed:
                    raise UnavailableError("the etcd backend is closed") from err
                if not _is_transient(err):
                    raise _storage_error(err, what) from err
                failures += 1
                problem = f"{ep.url}: {_reason(err, min(remaining, self._attempt_timeout))}"
                if loop.time() + delay >= deadline:
                    maybe = " (it may or may not have been applied)" if write else ""
                    raise UnavailableError(
                        f"etcd did not complete {what} within {self._request_timeout:.0f}s"
                        f"{maybe}; last error from {problem}"
                    ) from err
                log.debug("etcd %s failed on %s; failing over", what, problem)
                self._fail_over(index)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closed and task is not None and not task.cancelling():
                    raise UnavailableError("the etcd backend is closed") from None
                raise
            if failures % len(self._endpoints) == 0:  # every endpoint failed once: back off
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)

    def _fail_over(self, index: int) -> None:
        if self._active == index and len(self._endpoints) > 1:
            self._active = (index + 1) % len(self._endpoints)
            log.info(
                "etcd endpoint %s failing; switching to %s",
                self._endpoints[index].url,
                self._endpoints[self._active].url,
            )

    def _is_closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError("the etcd backend is closed")
        if not self._started:
            raise UnavailableError("the etcd backend is not started (call start() first)")

    def _saw(self, revision: int) -> int:
        revision = int(revision)
        if revision > self._seen:
            self._seen = revision
        return revision


class _Endpoint:
    """One member's address and, once opened, its channel and stubs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.target = _target(url)
        self.channel: Any = None
        self.kv: Any = None
        self.watch: Any = None
        self.maintenance: Any = None

    def open(self) -> None:
        if self.channel is None:
            self.channel = rpc.insecure_channel(self.target, options=_CHANNEL_OPTIONS)
            self.kv = rpc.KVStub(self.channel)
            self.watch = rpc.WatchStub(self.channel)
            self.maintenance = rpc.MaintenanceStub(self.channel)

    async def status(self, budget: float) -> Any:
        return await self.maintenance.Status(rpc.StatusRequest(), timeout=budget)

    async def close(self) -> None:
        channel, self.channel = self.channel, None
        if channel is not None:
            await channel.close()


class _RevisionError(Exception):
    """etcd refused a revision: below its compaction point, or above its current one."""

    def __init__(self, compacted: bool) -> None:
        super().__init__("compacted" if compacted else "future")
        self.compacted = compacted


# -- helpers ---------------------------------------------------------------------------------


def _target(url: str) -> str:
    """The gRPC target for an endpoint URL (`http://host:port`, `host:port`, `unix://path`)."""
    if url.startswith("unix://"):
        return "unix:" + url.removeprefix("unix://")
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise StorageError(
            f"etcd endpoint {url}: only http:// endpoints are supported (TLS is not configured)"
        )
    try:
        port = parts.port or 2379
    except ValueError as err:
        raise StorageError(f"etcd endpoint {url}: {err}") from err
    host = parts.hostname
    if not host:
        raise StorageError(f"etcd endpoint {url} has no host")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _enc(key: str) -> bytes:
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as err:
        raise StorageError(f"key {key!r} is not valid UTF-8") from err


def _dec(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def _prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """[start, end) in etcd bytes for the keys that start with `prefix`."""
    if not prefix:
        return _ANY_KEY, _ANY_KEY  # every key (etcd has no empty key)
    start = _enc(prefix)
    try:
        end = prefix_end(prefix)
        return start, (_enc(end) if end is not None else _ANY_KEY)
    except (ValueError, StorageError):  # U+10FFFF or a surrogate next: bump the bytes instead
        stripped = start.rstrip(b"\xff")
        if not stripped:
            return start, _ANY_KEY
        return start, stripped[:-1] + bytes([stripped[-1] + 1])


def _compare(key: bytes, target: str, revision: int) -> Any:
    if target == "create":
        return rpc.Compare(
            key=key,
            target=rpc.Compare.CREATE,
            result=rpc.Compare.EQUAL,
            create_revision=revision,
        )
    return rpc.Compare(
        key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=revision
    )


def _kv(key: str, kv: Any) -> KeyValue:
    return KeyValue(key, kv.value, int(kv.create_revision), int(kv.mod_revision))


def _failure_kv(key: str, response: Any) -> KeyValue | None:
    """The key as read by the txn's failure branch (None on success or if it is absent)."""
    if response.succeeded:
        return None
    kvs = response.responses[0].response_range.kvs
    return _kv(key, kvs[0]) if kvs else None


def _event(event: Any) -> WatchEvent:
    kv = event.kv
    key = _dec(kv.key)
    prev = _kv(key, event.prev_kv) if event.HasField("prev_kv") else None
    if event.type == rpc.Event.DELETE:
        value = prev.value if prev is not None else b""
        create = prev.create_revision if prev is not None else 0
        return WatchEvent(
            EventType.DELETE, KeyValue(key, value, create, int(kv.mod_revision)), prev
        )
    new = _kv(key, kv)
    if new.create_revision == new.mod_revision:
        return WatchEvent(EventType.CREATE, new, None)
    return WatchEvent(EventType.UPDATE, new, prev)


def _is_transient_text(details: str) -> bool:
    text = details.lower()
    return any(marker in text for marker in _TRANSIENT_DETAILS)


def _is_transient(err: Any) -> bool:
    code = err.code()
    if code in (rpc.StatusCode.UNAVAILABLE, rpc.StatusCode.DEADLINE_EXCEEDED):
        return True
    return _is_transient_text(err.details() or "")


def _storage_error(err: Any, what: str) -> Exception:
    details = err.details() or str(err.code())
    if err.code() == rpc.StatusCode.OUT_OF_RANGE or "required revision" in details:
        if "compacted" in details:
            return _RevisionError(compacted=True)
        if "future revision" in details:
            return _RevisionError(compacted=False)
    if err.code() == rpc.StatusCode.CANCELLED:
        return UnavailableError(f"etcd {what} was cancelled: {details}")
    return StorageError(f"etcd {what} failed: {details}")


def _reason(err: Any, timeout: float) -> str:
    """A short human reason for a connection-level failure."""
    details = err.details() or ""
    lowered = details.lower()
    if err.code() == rpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout:.1f}s"
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("dns resolution failed", "cannot resolve the host name"),
        ("name or service not known", "cannot resolve the host name"),
        ("domain name not found", "cannot resolve the host name"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network is unreachable"),
        ("connection reset", "connection reset"),
        ("http1", "not an etcd gRPC endpoint (an HTTP/1 server answered)"),
    ):
        if needle in lowered:
            return reason
    return details.strip().splitlines()[0] if details.strip() else str(err.code())
