"""etcd-specific behaviour of `EtcdBackend`, on real etcd processes.

The contract itself is checked by the conformance suite (tests/storage/test_conformance.py);
here: dialing errors, failover, resuming watches, lost write answers, and the HA test (kill
the leader of a 3-member cluster in the middle of a write loop: nothing acknowledged is lost,
and a watch sees every revision once, in order).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from kube.storage.backend import (
    CompactedError,
    ConflictError,
    EventType,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
    UnavailableError,
    WatchEvent,
)
from kube.storage.etcd import EtcdBackend
from tests.support.etcd import EtcdCluster, EtcdProcess, free_port

pytestmark = pytest.mark.etcd


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess() as process:
        yield process


@pytest.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[EtcdBackend]:
    backend = EtcdBackend(etcd.endpoints)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


_unique = iter(range(1_000_000))


@pytest.fixture
def root() -> str:
    """A key prefix no other test in the module uses (they share one etcd)."""
    return f"/t{next(_unique)}/registry/"


async def take(events: AsyncIterator[WatchEvent], n: int, within: float = 20.0) -> list[WatchEvent]:
    async def collect() -> list[WatchEvent]:
        out: list[WatchEvent] = []
        async for event in events:
            out.append(event)
            if len(out) == n:
                break
        return out

    return await asyncio.wait_for(collect(), within)


# -- dialing ---------------------------------------------------------------------------------


async def test_an_unreachable_endpoint_fails_fast_with_the_fix_in_the_message() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = EtcdBackend([url], dial_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as err:
        await backend.start()
    assert time.monotonic() - started < 3.0
    assert str(err.value) == (
        f"cannot reach etcd at {url}: connection refused; start etcd or fix --etcd-servers"
    )
    await backend.close()
    await backend.close()  # twice is fine


async def test_start_uses_the_first_endpoint_that_answers(etcd: EtcdProcess) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    backend = EtcdBackend([dead, *etcd.endpoints], dial_timeout=2.0)
    await backend.start()
    try:
        kv = await backend.create(f"/t{next(_unique)}/a", b"x")
        assert await backend.get(kv.key) == kv
    finally:
        await backend.close()


def test_endpoints_must_be_plain_http() -> None:
    with pytest.raises(StorageError, match="only http://"):
        EtcdBackend(["https://127.0.0.1:2379"])
    with pytest.raises(StorageError, match="no etcd endpoints"):
        EtcdBackend([])
    assert EtcdBackend(["127.0.0.1:2379"]).endpoints == ["127.0.0.1:2379"]


async def test_requests_before_start_or_after_close_are_unavailable(etcd: EtcdProcess) -> None:
    backend = EtcdBackend(etcd.endpoints)
    with pytest.raises(UnavailableError, match="not started"):
        await backend.get("/x")
    await backend.start()
    await backend.close()
    with pytest.raises(UnavailableError, match="closed"):
        await backend.create("/x", b"")


# -- etcd specifics --------------------------------------------------------------------------


async def test_paging_and_whole_keyspace_ranges(store: EtcdBackend, root: str) -> None:
    for name in ["a", "b", "c", "d"]:
        await store.create(root + name, name.encode())
    page = await store.list(root, limit=2, start_after=root + "a")
    assert [kv.key for kv in page.kvs] == [root + "b", root + "c"]
    assert page.more
    last = await store.list(root, limit=2, start_after=root + "c", revision=page.revision)
    assert [kv.key for kv in last.kvs] == [root + "d"]
    assert not last.more
    everything = await store.list("")
    assert {root + n for n in "abcd"} <= {kv.key for kv in everything.kvs}
    assert await store.count("") >= 4


async def test_compaction_by_another_client_is_seen(
    store: EtcdBackend, etcd: EtcdProcess, root: str
) -> None:
    other = EtcdBackend(etcd.endpoints)
    await other.start()
    try:
        kv = await store.create(root + "a", b"1")
        for i in range(5):
            kv = await store.update(root + "a", b"%d" % i, expected_revision=kv.mod_revision)
        point = kv.mod_revision - 2
        await other.compact(point)
        assert await store.compacted_revision() == point
        with pytest.raises(CompactedError) as err:
            await store.get(root + "a", revision=point - 1)
        assert err.value.compacted == point
        with pytest.raises(CompactedError):
            await other.compact(point)  # as etcd (and the SQLite backend): not again
    finally:
        await other.close()


async def test_close_ends_open_watches(etcd: EtcdProcess, root: str) -> None:
    backend = EtcdBackend(etcd.endpoints)
    await backend.start()
    base = await backend.current_revision()
    events = backend.watch(root, since=base)
    await backend.create(root + "a", b"1")
    assert len(await take(events, 1)) == 1
    waiting = asyncio.ensure_future(take(events, 1))
    await asyncio.sleep(0.1)
    await backend.close()
    assert await asyncio.wait_for(waiting, 5) == []  # the iterator stopped


@pytest.mark.slow
async def test_a_watch_resumes_after_etcd_restarts_without_skipping() -> None:
    with EtcdProcess() as etcd:
        backend = EtcdBackend(etcd.endpoints, request_timeout=20.0)
        await backend.start()
        try:
            base = await backend.current_revision()
            events = backend.watch("/r/", since=base)
            for i in range(5):
                await backend.create(f"/r/a{i}", b"x")
            first = await take(events, 5)
            await asyncio.to_thread(etcd.restart)  # SIGKILL, then start on the same data
            for i in range(5):
                await backend.create(f"/r/b{i}", b"y")
            second = await take(events, 5)
            revisions = [e.revision for e in first + second]
            assert revisions == list(range(base + 1, base + 11))
            await events.aclose()  # type: ignore[attr-defined]
        finally:
            await backend.close()


# -- a write whose answer is lost ------------------------------------------------------------


class _LoseFirstAnswer:
    """A KV stub wrapper: the next Txn reaches etcd, but its answer is replaced by UNAVAILABLE."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)

    async def Txn(self, request: Any, **kwargs: Any) -> Any:
        response = await self._stub.Txn(request, **kwargs)
        if self.armed:
            self.armed = False
            raise grpc.aio.AioRpcError(
                grpc.StatusCode.UNAVAILABLE,
                details="Socket closed",  # as when the member dies after committing
            )
        return response


def _lose_next_answer(backend: EtcdBackend) -> _LoseFirstAnswer:
    ep = backend._endpoints[backend._active]
    wrapper = _LoseFirstAnswer(ep.kv)
    ep.kv = wrapper
    return wrapper


async def test_writes_whose_answer_was_lost_are_reported_once(
    store: EtcdBackend, root: str
) -> None:
    base = await store.current_revision()
    events = store.watch(root, since=base)

    _lose_next_answer(store)
    created = await store.create(root + "a", b"v1")
    assert created == KeyValue(root + "a", b"v1", base + 1, base + 1)

    _lose_next_answer(store)
    updated = await store.update(root + "a", b"v2", expected_revision=created.mod_revision)
    assert updated == KeyValue(root + "a", b"v2", base + 1, base + 2)

    _lose_next_answer(store)
    deleted = await store.delete(root + "a", expected_revision=updated.mod_revision)
    assert deleted == KeyValue(root + "a", b"v2", base + 1, base + 3)

    # A lost answer followed by someone else's write: still decided from history.
    again = await store.create(root + "b", b"w1")
    _lose_next_answer(store)
    mine = await store.update(root + "b", b"w2", expected_revision=again.mod_revision)
    assert mine.mod_revision == base + 5

    got = await take(events, 5)
    assert [e.type for e in got] == [
        EventType.CREATE,
        EventType.UPDATE,
        EventType.DELETE,
        EventType.CREATE,
        EventType.UPDATE,
    ]
    assert [e.revision for e in got] == list(range(base + 1, base + 6))
    assert await store.current_revision() == base + 5  # every write applied exactly once
    await events.aclose()  # type: ignore[attr-defined]


async def test_a_lost_answer_does_not_turn_a_real_conflict_into_success(
    store: EtcdBackend, root: str
) -> None:
    first = await store.create(root + "a", b"v1")
    await store.update(root + "a", b"theirs", expected_revision=first.mod_revision)
    wrapper = _lose_next_answer(store)
    with pytest.raises(KeyExistsError):
        await store.create(root + "a", b"mine")
    assert not wrapper.armed


# -- high availability -----------------------------------------------------------------------

WRITES = 2_000
KILL_AFTER = 600


@pytest.mark.slow
async def test_killing_the_leader_loses_no_acknowledged_write() -> None:
    with EtcdCluster(3) as cluster:
        leader = await asyncio.to_thread(cluster.leader)
        # The leader first, so both the writes and the watch stream are on the member we kill.
        endpoints = [leader.client_url] + [u for u in cluster.endpoints if u != leader.client_url]
        backend = EtcdBackend(endpoints, request_timeout=20.0)
        await backend.start()
        try:
            await _write_through_a_leader_kill(cluster, leader, backend)
        finally:
            await backend.close()


async def _write_through_a_leader_kill(
    cluster: EtcdCluster, leader: EtcdProcess, backend: EtcdBackend
) -> None:
    base = await backend.current_revision()
    events = backend.watch("/ha/", since=base)
    seen: list[WatchEvent] = []

    async def watch() -> None:
        async for event in events:
            seen.append(event)
            if len(seen) == WRITES:
                return

    watcher = asyncio.create_task(watch())
    acked: dict[str, KeyValue] = {}
    failures: list[str] = []
    halfway = asyncio.Event()

    async def write() -> None:
        for i in range(WRITES):
            key, value = f"/ha/k{i:05d}", b"value-%d" % i
            while True:
                try:
                    acked[key] = await backend.create(key, value)
                    break
                except UnavailableError as err:  # the backend gave up: the loop retries
                    failures.append(str(err))
                except KeyExistsError:  # an attempt whose answer never came did commit
                    kv = await backend.get(key)
                    assert kv is not None
                    assert kv.value == value
                    acked[key] = kv
                    break
            if i == KILL_AFTER:
                halfway.set()

    writer = asyncio.create_task(write())
    await asyncio.wait_for(halfway.wait(), 60)
    await asyncio.to_thread(cluster.kill, leader)  # SIGKILL while writes are in flight
    await asyncio.wait_for(writer, 90)
    new_leader = await asyncio.to_thread(cluster.leader)
    assert new_leader is not leader

    assert len(acked) == WRITES
    for key, kv in acked.items():
        assert await backend.get(key) == kv, key
    listed = await backend.list("/ha/")
    assert {kv.key: kv for kv in listed.kvs} == acked

    await asyncio.wait_for(watcher, 30)
    assert [e.type for e in seen] == [EventType.CREATE] * WRITES
    # Only these creates wrote anything, so their revisions are exactly base+1 .. base+WRITES:
    # the watch saw every one, in order, with no gap and no repeat across the broken stream.
    assert [e.revision for e in seen] == list(range(base + 1, base + WRITES + 1))
    assert sorted(kv.mod_revision for kv in acked.values()) == [e.revision for e in seen]
    assert {e.kv.key: e.kv for e in seen} == acked
    await events.aclose()  # type: ignore[attr-defined]


async def test_a_lost_answer_with_a_stale_or_bogus_expected_revision_is_a_conflict(
    store: EtcdBackend, root: str
) -> None:
    kv = await store.create(root + "a", b"v1")
    _lose_next_answer(store)
    with pytest.raises(ConflictError):
        await store.update(root + "a", b"v2", expected_revision=kv.mod_revision + 1000)
    _lose_next_answer(store)
    with pytest.raises(ConflictError):
        await store.delete(root + "a", expected_revision=kv.mod_revision + 1000)
    _lose_next_answer(store)
    with pytest.raises(KeyNotFoundError):
        await store.update(root + "missing", b"v2", expected_revision=kv.mod_revision)
    assert await store.get(root + "a") == kv
