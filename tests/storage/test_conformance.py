"""The storage contract (kube.storage.backend), checked on SQLite and on a real etcd alike.

Revisions are compared relative to the store's revision when the test starts, so the same
assertions hold for etcd's and SQLite's own counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kube.storage.backend import (
    Backend,
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    WatchEvent,
)

EVENT_WAIT = 10.0  # seconds a test waits for watch events before failing


async def take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    """The next `n` events of a watch, failing the test if they do not arrive in time."""

    async def collect() -> list[WatchEvent]:
        out: list[WatchEvent] = []
        async for event in events:
            out.append(event)
            if len(out) == n:
                break
        return out

    return await asyncio.wait_for(collect(), EVENT_WAIT)


async def test_create_then_get(backend: Backend) -> None:
    base = await backend.current_revision()
    kv = await backend.create("/registry/configmaps/default/a", b"one")
    assert kv.key == "/registry/configmaps/default/a"
    assert kv.value == b"one"
    assert kv.mod_revision == kv.create_revision == base + 1
    assert await backend.current_revision() == base + 1
    assert await backend.get("/registry/configmaps/default/a") == kv
    assert await backend.get("/registry/configmaps/default/missing") is None


async def test_every_write_bumps_one_global_revision(backend: Backend) -> None:
    base = await backend.current_revision()
    a = await backend.create("/registry/pods/ns/a", b"a")
    b = await backend.create("/registry/services/ns/b", b"b")
    a2 = await backend.update("/registry/pods/ns/a", b"a2", expected_revision=a.mod_revision)
    gone = await backend.delete("/registry/services/ns/b")
    assert [a.mod_revision, b.mod_revision, a2.mod_revision, gone.mod_revision] == [
        base + 1,
        base + 2,
        base + 3,
        base + 4,
    ]


async def test_create_of_a_live_key_fails_and_writes_nothing(backend: Backend) -> None:
    await backend.create("/registry/pods/ns/a", b"first")
    rev = await backend.current_revision()
    with pytest.raises(KeyExistsError):
        await backend.create("/registry/pods/ns/a", b"second")
    assert await backend.current_revision() == rev
    stored = await backend.get("/registry/pods/ns/a")
    assert stored is not None
    assert stored.value == b"first"


async def test_update_is_compare_and_swap_on_mod_revision(backend: Backend) -> None:
    created = await backend.create("/registry/pods/ns/a", b"v1")
    updated = await backend.update(
        "/registry/pods/ns/a", b"v2", expected_revision=created.mod_revision
    )
    assert updated.value == b"v2"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision

    rev = await backend.current_revision()
    with pytest.raises(ConflictError) as conflict:
        await backend.update(
            "/registry/pods/ns/a", b"stale", expected_revision=created.mod_revision
        )
    assert conflict.value.current == updated
    assert await backend.current_revision() == rev


async def test_update_of_a_missing_key_fails(backend: Backend) -> None:
    with pytest.raises(KeyNotFoundError):
        await backend.update("/registry/pods/ns/nope", b"x", expected_revision=1)


async def test_concurrent_updates_from_one_revision_exactly_one_wins(backend: Backend) -> None:
    created = await backend.create("/registry/pods/ns/race", b"v0")
    results = await asyncio.gather(
        *(
            backend.update(
                "/registry/pods/ns/race", b"w%d" % i, expected_revision=created.mod_revision
            )
            for i in range(8)
        ),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ConflictError) for r in losers)
    assert await backend.get("/registry/pods/ns/race") == winners[0]


async def test_delete_unconditional_and_with_precondition(backend: Backend) -> None:
    a = await backend.create("/registry/pods/ns/a", b"a")
    await backend.create("/registry/pods/ns/b", b"b")

    with pytest.raises(ConflictError):
        await backend.delete("/registry/pods/ns/a", expected_revision=a.mod_revision + 100)
    assert await backend.get("/registry/pods/ns/a") == a

    deleted = await backend.delete("/registry/pods/ns/a", expected_revision=a.mod_revision)
    assert deleted.value == b"a"
    assert deleted.mod_revision == await backend.current_revision()
    assert await backend.get("/registry/pods/ns/a") is None

    await backend.delete("/registry/pods/ns/b")
    assert await backend.get("/registry/pods/ns/b") is None

    with pytest.raises(KeyNotFoundError):
        await backend.delete("/registry/pods/ns/a")


async def test_a_deleted_key_can_be_created_again_with_a_new_create_revision(
    backend: Backend,
) -> None:
    first = await backend.create("/registry/pods/ns/a", b"1")
    await backend.delete("/registry/pods/ns/a")
    again = await backend.create("/registry/pods/ns/a", b"2")
    assert again.create_revision > first.create_revision
    assert again.create_revision == again.mod_revision


async def test_get_at_an_older_revision_reads_history(backend: Backend) -> None:
    v1 = await backend.create("/registry/pods/ns/a", b"v1")
    v2 = await backend.update("/registry/pods/ns/a", b"v2", expected_revision=v1.mod_revision)
    await backend.delete("/registry/pods/ns/a")
    assert await backend.get("/registry/pods/ns/a", revision=v1.mod_revision) == v1
    assert await backend.get("/registry/pods/ns/a", revision=v2.mod_revision) == v2
    assert await backend.get("/registry/pods/ns/a") is None
    assert await backend.get("/registry/pods/ns/a", revision=v1.mod_revision - 1) is None


async def test_reading_a_future_revision_fails(backend: Backend) -> None:
    await backend.create("/registry/pods/ns/a", b"a")
    current = await backend.current_revision()
    with pytest.raises(FutureRevisionError):
        await backend.get("/registry/pods/ns/a", revision=current + 10)


async def test_list_is_in_key_order_and_respects_the_prefix_boundary(backend: Backend) -> None:
    for key in [
        "/registry/pods/ns/c",
        "/registry/pods/ns/a",
        "/registry/pods/other/b",
        "/registry/podsecuritypolicies/x",
        "/registry/pod",
        "/registry/services/ns/a",
    ]:
        await backend.create(key, key.encode())
    result = await backend.list("/registry/pods/")
    assert [kv.key for kv in result.kvs] == [
        "/registry/pods/ns/a",
        "/registry/pods/ns/c",
        "/registry/pods/other/b",
    ]
    assert [kv.value for kv in result.kvs] == [kv.key.encode() for kv in result.kvs]
    assert result.revision == await backend.current_revision()
    assert not result.more
    namespaced = await backend.list("/registry/pods/ns/")
    assert [kv.key for kv in namespaced.kvs] == ["/registry/pods/ns/a", "/registry/pods/ns/c"]
    assert await backend.count("/registry/pods/") == 3
    assert await backend.count("/registry/nothing/") == 0


async def test_list_pages_read_one_snapshot(backend: Backend) -> None:
    for i in range(25):
        await backend.create(f"/registry/configmaps/ns/cm-{i:02d}", b"%d" % i)
    first = await backend.list("/registry/configmaps/", limit=10)
    assert len(first.kvs) == 10
    assert first.more

    # Writes between pages must not show in later pages of the same snapshot.
    await backend.create("/registry/configmaps/ns/cm-99", b"late")
    await backend.delete("/registry/configmaps/ns/cm-15")

    keys = [kv.key for kv in first.kvs]
    page = first
    while page.more:
        page = await backend.list(
            "/registry/configmaps/", limit=10, revision=first.revision, start_after=page.kvs[-1].key
        )
        assert page.revision == first.revision
        keys.extend(kv.key for kv in page.kvs)
    assert keys == [f"/registry/configmaps/ns/cm-{i:02d}" for i in range(25)]

    now = await backend.list("/registry/configmaps/")
    assert "/registry/configmaps/ns/cm-99" in [kv.key for kv in now.kvs]
    assert "/registry/configmaps/ns/cm-15" not in [kv.key for kv in now.kvs]
    assert len(now.kvs) == 25


async def test_list_at_an_older_revision(backend: Backend) -> None:
    a = await backend.create("/registry/secrets/ns/a", b"a1")
    await backend.create("/registry/secrets/ns/b", b"b1")
    before = await backend.current_revision()
    await backend.update("/registry/secrets/ns/a", b"a2", expected_revision=a.mod_revision)
    await backend.delete("/registry/secrets/ns/b")
    await backend.create("/registry/secrets/ns/c", b"c1")
    old = await backend.list("/registry/secrets/", revision=before)
    assert [(kv.key, kv.value) for kv in old.kvs] == [
        ("/registry/secrets/ns/a", b"a1"),
        ("/registry/secrets/ns/b", b"b1"),
    ]
    assert old.revision == before


async def test_watch_reports_creates_updates_and_deletes_with_previous_values(
    backend: Backend,
) -> None:
    base = await backend.current_revision()
    events = backend.watch("/registry/pods/", since=base)
    a = await backend.create("/registry/pods/ns/a", b"v1")
    await backend.create("/registry/services/ns/ignored", b"x")
    a2 = await backend.update("/registry/pods/ns/a", b"v2", expected_revision=a.mod_revision)
    gone = await backend.delete("/registry/pods/ns/a")

    got = await take(events, 3)
    assert [e.type for e in got] == [EventType.CREATE, EventType.UPDATE, EventType.DELETE]
    assert [e.revision for e in got] == [a.mod_revision, a2.mod_revision, gone.mod_revision]
    assert got[0].kv == a
    assert got[0].prev_kv is None
    assert got[1].kv == a2
    assert got[1].prev_kv == a
    assert got[2].kv.value == b"v2"
    assert got[2].kv.key == "/registry/pods/ns/a"
    assert got[2].prev_kv == a2
    await events.aclose()  # type: ignore[attr-defined]


async def test_watch_from_an_older_revision_replays_then_continues_live(backend: Backend) -> None:
    base = await backend.current_revision()
    for i in range(5):
        await backend.create(f"/registry/pods/ns/p{i}", b"x")
    events = backend.watch("/registry/pods/", since=base + 2)
    replayed = await take(events, 3)
    assert [e.revision for e in replayed] == [base + 3, base + 4, base + 5]

    writer = asyncio.gather(*(backend.create(f"/registry/pods/ns/q{i}", b"y") for i in range(20)))
    live = await take(events, 20)
    await writer
    assert [e.revision for e in live] == list(range(base + 6, base + 26))
    assert all(e.type is EventType.CREATE for e in live)
    await events.aclose()  # type: ignore[attr-defined]


async def test_many_watchers_each_see_every_event_once(backend: Backend) -> None:
    base = await backend.current_revision()
    watches = [backend.watch("/registry/leases/", since=base) for _ in range(5)]
    for i in range(30):
        await backend.create(f"/registry/leases/kube-node-lease/n{i}", b"l")
    for events in watches:
        got = await take(events, 30)
        assert [e.revision for e in got] == list(range(base + 1, base + 31))
        await events.aclose()  # type: ignore[attr-defined]


async def test_compaction_forgets_history_but_keeps_current_values(backend: Backend) -> None:
    a = await backend.create("/registry/pods/ns/a", b"v1")
    a2 = await backend.update("/registry/pods/ns/a", b"v2", expected_revision=a.mod_revision)
    b = await backend.create("/registry/pods/ns/b", b"b")
    await backend.delete("/registry/pods/ns/b")
    c = await backend.create("/registry/pods/ns/c", b"c")
    await backend.compact(c.mod_revision - 1)

    assert await backend.compacted_revision() == c.mod_revision - 1
    assert await backend.get("/registry/pods/ns/a") == a2
    assert await backend.get("/registry/pods/ns/b") is None
    assert [kv.key for kv in (await backend.list("/registry/pods/")).kvs] == [
        "/registry/pods/ns/a",
        "/registry/pods/ns/c",
    ]
    with pytest.raises(CompactedError):
        await backend.get("/registry/pods/ns/a", revision=a.mod_revision)
    with pytest.raises(CompactedError):
        await backend.list("/registry/pods/", revision=b.mod_revision)

    with pytest.raises(CompactedError):
        await take(backend.watch("/registry/pods/", since=a.mod_revision), 1)

    # Watching from the compaction point itself is fine: nothing after it is gone.
    events = backend.watch("/registry/pods/", since=c.mod_revision - 1)
    assert [e.kv for e in await take(events, 1)] == [c]
    await events.aclose()  # type: ignore[attr-defined]
