"""The watch cache (kube.apiserver.watchcache) as clients of LIST and WATCH see it.

Every behaviour is checked against what storage alone gives (the path without a cache), on
SQLite and on a real etcd: lists at "", "0" and explicit versions, paging that neither skips
nor repeats while writes go on, consistent reads, watches that resume from the window, 410
past it, selectors moving objects in and out, slow watchers cut off, a storage watch that
breaks or is compacted away. The HTTP tests prove the list bodies built from cached item
bytes are byte for byte what encoding the list object gives, in JSON and protobuf, and that
Table, PartialObjectMetadataList and YAML still take the normal path.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from kube.api.errors import APIError
from kube.api.resources import REGISTRY
from kube.apiserver import requestinfo
from kube.apiserver.handlers import Handlers
from kube.apiserver.selection import Selection
from kube.apiserver.store import PROGRESS, Change, ObjectStore
from kube.apiserver.strategies import strategy_for
from kube.apiserver.watchcache import Event, Reflector, WatchCache, dispatch, visible_type
from kube.storage.backend import Backend, StorageError, WatchEvent
from kube.storage.etcd import EtcdBackend
from kube.storage.sqlite import SQLiteBackend
from tests.support.etcd import EtcdProcess

GOLDEN_POD = Path(__file__).resolve().parents[3] / "shared/testdata/k8s-api/core.v1.Pod.json"


class BreakableBackend:
    """A backend whose watches the test can break (StorageError) or hold back."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name
        self.breaks: list[BaseException] = []
        self.held = asyncio.Event()
        self.held.set()
        self.watches = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def list(self, prefix: str, **kw: Any) -> Any:
        return await self.inner.list(prefix, **kw)

    async def watch(self, prefix: str, *, since: int) -> AsyncIterator[WatchEvent]:
        self.watches += 1
        events = self.inner.watch(prefix, since=since)
        try:
            async for event in events:
                await self.held.wait()
                if self.breaks:
                    raise self.breaks.pop(0)
                yield event
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
async def raw_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        store: Backend = SQLiteBackend(tmp_path / "state.db")
        await store.start()
        try:
            yield store
        finally:
            await store.close()
    else:
        with EtcdProcess(unsafe_no_fsync=True) as etcd:
            store = EtcdBackend(etcd.endpoints)
            await store.start()
            try:
                yield store
            finally:
                await store.close()


@pytest.fixture
def backend(raw_backend: Backend) -> BreakableBackend:
    return BreakableBackend(raw_backend)


def plain_store(backend: Any, plural: str) -> ObjectStore:
    row = REGISTRY.get("", "v1", plural)
    assert row is not None
    return ObjectStore(backend, row, strategy_for(row.kind, row.subresource("status") is not None))


@pytest.fixture
async def caches(backend: BreakableBackend) -> AsyncIterator[Callable[..., ObjectStore]]:
    reflector = Reflector(backend)  # type: ignore[arg-type]
    # Revision 0 means "now" to a watch: start every test from a store that has a write.
    await plain_store(backend, "secrets").create(
        "kube-system", {"metadata": {"name": "seed"}, "type": "Opaque"}
    )

    def make(plural: str = "configmaps", **options: Any) -> ObjectStore:
        store = plain_store(backend, plural)
        store.cache = WatchCache(reflector, store.resource, store.decode, **options)
        return store

    try:
        yield make
    finally:
        await reflector.close()


def cm(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"k": name},
    }


def names(items: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in items]


async def next_change(changes: Any, seconds: float = 5.0) -> Change:
    change: Change = await asyncio.wait_for(anext(changes), seconds)
    return change


async def visible(changes: Any, count: int) -> list[tuple[str, str]]:
    """The next `count` changes the watcher sees (PROGRESS ones skipped)."""
    out: list[tuple[str, str]] = []
    while len(out) < count:
        change = await next_change(changes)
        if change.type != PROGRESS:
            out.append((change.type, change.object["metadata"]["name"]))
    return out


# -- dispatch, the fan-out kernel ------------------------------------------------------------


def _change(kind: str, labels: dict[str, str], before: dict[str, str] | None, rev: int) -> Event:
    obj = {"metadata": {"name": "a", "namespace": "ns", "labels": labels}}
    prev = None if before is None else {"metadata": {"name": "a", "labels": before}}
    return Event("ns", Change(kind, obj, prev, rev))


class _W:
    def __init__(self, namespace: str | None, selection: Selection | None, since: int) -> None:
        self.namespace, self.selection, self.since = namespace, selection, since


def test_dispatch_turns_moves_into_and_out_of_a_selection_into_added_and_deleted() -> None:
    app = Selection.parse("ConfigMap", "app=web", "")
    events = [
        _change("ADDED", {"app": "db"}, None, 5),  # never in
        _change("MODIFIED", {"app": "web"}, {"app": "db"}, 6),  # moves in
        _change("MODIFIED", {"app": "web"}, {"app": "web"}, 7),  # stays in
        _change("MODIFIED", {"app": "db"}, {"app": "web"}, 8),  # moves out
        _change("DELETED", {"app": "db"}, {"app": "db"}, 9),  # gone, was out
    ]
    everything, selected, other_ns, late = dispatch(
        events, [_W(None, None, 0), _W("ns", app, 0), _W("other", None, 0), _W(None, None, 7)]
    )
    assert [c.type for c in everything] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert [(c.type, c.revision) for c in selected] == [
        ("ADDED", 6),
        ("MODIFIED", 7),
        ("DELETED", 8),
    ]
    assert other_ns == []
    assert [c.revision for c in late] == [8, 9]
    assert visible_type(events[0].change, app) is None


# -- LIST ------------------------------------------------------------------------------------


async def test_list_from_the_cache_is_what_storage_lists(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    cached, plain = caches(), plain_store(backend, "configmaps")
    for i in range(5):
        ns = "default" if i % 2 else "other"
        await plain.create(ns, cm(f"c{i}", ns, app="web" if i < 3 else "db"))
    web_only = Selection.parse("ConfigMap", "app=web", "").filter
    for kwargs in (
        {},
        {"resource_version": "0"},
        {"select": web_only},
    ):
        for namespace in (None, "default", "other"):
            got = await cached.list(namespace, **kwargs)  # type: ignore[arg-type]
            want = await plain.list(namespace, **kwargs)  # type: ignore[arg-type]
            assert got.items == want.items
            assert got.resource_version == want.resource_version
    assert cached.cache is not None
    assert cached.cache.is_ready


async def test_a_write_is_in_the_next_list_consistent_read(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    await configmaps.list(None)  # fill the cache
    for i in range(20):
        created = await configmaps.create("default", cm(f"c{i:02d}"))
        page = await configmaps.list("default")
        assert names(page.items)[-1] == f"c{i:02d}"
        assert page.resource_version >= int(created["metadata"]["resourceVersion"])
    # A write to another resource moves the revision; the cache still answers at once.
    await plain_store(configmaps.backend, "secrets").create(
        "default", {"metadata": {"name": "s"}, "type": "Opaque"}
    )
    page = await configmaps.list("default")
    assert page.resource_version == await configmaps.backend.current_revision()
    assert page.entries is None  # not shared: the caller got copies
    page.items[0]["data"]["k"] = "changed"
    assert (await configmaps.list("default")).items[0]["data"]["k"] == "c00"


async def test_paging_keeps_one_snapshot_while_writes_go_on(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    for i in range(10):
        await configmaps.create("default", cm(f"c{i:02d}"))
    first = await configmaps.list("default", limit=4)
    assert names(first.items) == ["c00", "c01", "c02", "c03"]
    assert first.remaining == 6
    # Writes after the first page: not seen by the rest of this list.
    await configmaps.delete("default", "c05")
    await configmaps.create("default", cm("c04a"))
    await configmaps.create("default", cm("c99"))
    seen = names(first.items)
    token = first.continue_token
    while token:
        page = await configmaps.list("default", limit=4, continue_token=token)
        assert page.resource_version == first.resource_version
        seen += names(page.items)
        token = page.continue_token
    assert seen == [f"c{i:02d}" for i in range(10)]
    # A token whose snapshot the cache no longer keeps is served by storage, at its revision.
    assert configmaps.cache is not None
    configmaps.cache._kept.clear()
    page = await configmaps.list("default", limit=4, continue_token=first.continue_token)
    assert page.entries is None
    assert names(page.items) == ["c04", "c05", "c06", "c07"]


async def test_paging_with_a_selector_fills_pages_and_ends_exactly(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    for i in range(9):
        await configmaps.create("default", cm(f"c{i}", app="web" if i % 3 == 0 else "db"))
    select = Selection.parse("ConfigMap", "app=web", "").filter
    first = await configmaps.list("default", limit=2, select=select, shared=True)
    assert first.entries is not None
    assert names(first.items) == ["c0", "c3"]
    last = await configmaps.list(
        "default", limit=2, select=select, continue_token=first.continue_token
    )
    assert names(last.items) == ["c6"]
    assert last.continue_token == ""


async def test_explicit_and_exact_versions(caches: Callable[..., ObjectStore]) -> None:
    configmaps = caches()
    one = await configmaps.create("default", cm("one"))
    await configmaps.create("default", cm("two"))
    rv = one["metadata"]["resourceVersion"]
    page = await configmaps.list("default", resource_version=rv, shared=True)
    assert page.entries is not None
    assert names(page.items) == ["one", "two"]
    exact = await configmaps.list(
        "default", resource_version=rv, resource_version_match="Exact", shared=True
    )
    assert exact.entries is None
    assert names(exact.items) == ["one"]
    with pytest.raises(APIError) as err:
        await configmaps.list("default", resource_version="999999")
    assert err.value.code == 504


# -- WATCH -----------------------------------------------------------------------------------


async def test_watch_replays_the_window_then_follows_live_changes(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    start = await configmaps.list(None)
    a = await configmaps.create("default", cm("a"))
    await configmaps.create("other", cm("b", "other"))
    changes = configmaps.watch("default", start.resource_version)
    try:
        assert await visible(changes, 1) == [("ADDED", "a")]
        a["data"] = {"k": "v2"}
        await configmaps.update("default", "a", a)
        deleted, _ = await configmaps.delete("default", "a")
        assert await visible(changes, 1) == [("MODIFIED", "a")]
        gone = await next_change(changes)
        # DELETED carries the last state, at the delete's revision.
        assert gone.type == "DELETED"
        assert gone.object["data"] == {"k": "v2"}
        assert int(gone.object["metadata"]["resourceVersion"]) > int(
            deleted["metadata"]["resourceVersion"]
        )
        assert gone.previous is not None
        assert gone.previous["data"] == {"k": "v2"}
    finally:
        await changes.aclose()
    assert configmaps.cache is not None
    assert configmaps.cache.watchers == []


async def test_watch_from_now_and_with_a_selector(caches: Callable[..., ObjectStore]) -> None:
    configmaps = caches()
    await configmaps.create("default", cm("before", app="web"))
    selection = Selection.parse("ConfigMap", "app=web", "")
    changes = configmaps.watch(None, 0, selection)
    try:
        first = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.05)
        obj = await configmaps.create("default", cm("x", app="db"))
        obj["metadata"]["labels"] = {"app": "web"}
        obj = await configmaps.update("default", "x", obj)
        obj["metadata"]["labels"] = {"app": "db"}
        await configmaps.update("default", "x", obj)
        got = await asyncio.wait_for(first, 5)
        assert (got.type, got.object["metadata"]["name"]) == ("ADDED", "x")
        assert await visible(changes, 1) == [("DELETED", "x")]
    finally:
        await changes.aclose()


async def test_watch_older_than_the_window_is_410_gone(caches: Callable[..., ObjectStore]) -> None:
    configmaps = caches(capacity=3)
    start = (await configmaps.list(None)).resource_version
    for i in range(5):
        await configmaps.create("default", cm(f"c{i}"))
    await configmaps.list(None)  # caught up
    cache = configmaps.cache
    assert cache is not None
    assert cache.evicted
    changes = configmaps.watch(None, start)
    try:
        with pytest.raises(APIError) as err:
            await next_change(changes)
        assert err.value.code == 410
        assert err.value.reason == "Expired"
        assert err.value.message == f"too old resource version: {start} ({cache.floor})"
    finally:
        await changes.aclose()
    # From the window's floor it works: the three changes the window still has.
    changes = configmaps.watch(None, cache.floor)
    try:
        assert await visible(changes, 3) == [("ADDED", "c2"), ("ADDED", "c3"), ("ADDED", "c4")]
    finally:
        await changes.aclose()


async def test_the_window_keeps_fresh_changes_and_a_minimum_of_old_ones(
    caches: Callable[..., ObjectStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kube.apiserver import watchcache

    monkeypatch.setattr(watchcache, "MIN_CHANGES", 2)
    configmaps = caches(fresh_for=0.2)
    await configmaps.list(None)
    for i in range(4):
        await configmaps.create("default", cm(f"old{i}"))
    await asyncio.sleep(0.3)
    await configmaps.create("default", cm("new"))
    await configmaps.list(None)  # caught up
    cache = configmaps.cache
    assert cache is not None
    # The stale changes went, down to the minimum kept (the newest of them and "new").
    assert [e.change.object["metadata"]["name"] for e in cache.window] == ["old3", "new"]
    assert cache.evicted


async def test_a_watch_from_before_the_cache_was_filled_is_served_by_storage(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    first = await configmaps.create("default", cm("a"))
    await configmaps.create("default", cm("b"))
    changes = configmaps.watch(None, int(first["metadata"]["resourceVersion"]))
    try:
        assert await visible(changes, 1) == [("ADDED", "b")]
    finally:
        await changes.aclose()


async def test_a_slow_watcher_is_cut_off_and_the_others_go_on(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches(queue_limit=3)
    since = (await configmaps.list(None)).resource_version
    slow = configmaps.watch(None, since)
    fast = configmaps.watch(None, since)
    try:
        # Both subscribe; only `fast` keeps reading.
        for stream in (slow, fast):
            pending = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.05)
            pending.cancel()
        got: list[tuple[str, str]] = []
        for i in range(6):
            await configmaps.create("default", cm(f"c{i}"))
            got += await visible(fast, 1)
        assert got == [("ADDED", f"c{i}") for i in range(6)]
        with pytest.raises(StopAsyncIteration):
            await next_change(slow)
    finally:
        await slow.aclose()
        await fast.aclose()


async def test_bookmark_progress_moves_with_writes_to_other_resources(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches()
    since = (await configmaps.list(None)).resource_version
    changes = configmaps.watch(None, since)
    try:
        pending = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.05)
        secret = await plain_store(configmaps.backend, "secrets").create(
            "default", {"metadata": {"name": "s"}, "type": "Opaque"}
        )
        await configmaps.list(None)  # the cache has seen it
        assert changes.progress() == int(secret["metadata"]["resourceVersion"])  # type: ignore[attr-defined]
        pending.cancel()
    finally:
        await changes.aclose()


# -- a storage watch that breaks -------------------------------------------------------------


async def test_a_broken_storage_watch_resumes_without_losing_changes(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    configmaps = caches()
    since = (await configmaps.list(None)).resource_version
    changes = configmaps.watch(None, since)
    try:
        backend.breaks.append(StorageError("connection reset"))
        for i in range(4):
            await configmaps.create("default", cm(f"c{i}"))
        assert await visible(changes, 4) == [("ADDED", f"c{i}") for i in range(4)]
        assert backend.watches == 2
        assert names((await configmaps.list(None)).items) == [f"c{i}" for i in range(4)]
    finally:
        await changes.aclose()


async def test_a_storage_watch_compacted_away_refills_and_ends_watches(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    configmaps = caches()
    since = (await configmaps.list(None)).resource_version
    changes = configmaps.watch(None, since)
    try:
        pending = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.05)
        backend.held.clear()  # the storage watch falls behind ...
        for i in range(3):
            await configmaps.create("default", cm(f"c{i}"))
        await backend.inner.compact(await backend.current_revision())
        # ... and breaks: resuming where it was is no longer possible.
        backend.breaks.append(StorageError("connection reset"))
        backend.held.set()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 5)
        page = await configmaps.list(None, shared=True)
        assert page.entries is not None
        assert names(page.items) == ["c0", "c1", "c2"]
    finally:
        await changes.aclose()


# -- HTTP: list bodies from cached item bytes ------------------------------------------------


def golden_pod(name: str, namespace: str) -> dict[str, Any]:
    pod: dict[str, Any] = orjson.loads(GOLDEN_POD.read_bytes())
    meta = pod["metadata"]
    meta.update(name=name, namespace=namespace, labels={"app": "web" if name < "p3" else "db"})
    for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
        meta.pop(key, None)
    return pod


@pytest.fixture
async def servers(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> AsyncIterator[tuple[str, str]]:
    """Two HTTP servers on one storage: with the watch cache and without."""
    cached, plain = caches("pods"), plain_store(backend, "pods")
    for i in range(5):
        pod = golden_pod(f"p{i}", "default" if i != 2 else "other")
        await backend.create(
            cached.resource.key(pod["metadata"]["namespace"], pod["metadata"]["name"]),
            cached.encode(pod),
        )
    urls = []
    running = []
    for store in (cached, plain):
        handlers = Handlers(lambda info, s=store: s)  # type: ignore[misc]

        async def handle(request: web.Request, h: Handlers = handlers) -> web.StreamResponse:
            info = requestinfo.parse(request.method, request.path, request.query)
            try:
                if info.verb == "watch":
                    return await h.watch(request, info)
                return await h.list(request, info)
            except APIError as err:
                return web.json_response(err.status(), status=err.code)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        running.append(server)
        urls.append(str(server.make_url("")).rstrip("/"))
    try:
        yield urls[0], urls[1]
    finally:
        for server in running:
            await server.close()


JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"


ACCEPTS = (
    JSON,
    PROTOBUF,
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
)
QUERIES = (
    "",
    "?resourceVersion=0",
    "?labelSelector=app%3Dweb",
    "?limit=2",
    "?fieldSelector=metadata.namespace%3Ddefault&limit=3",
)


async def test_list_bodies_are_byte_identical_with_and_without_the_cache(
    servers: tuple[str, str],
) -> None:
    cached_url, plain_url = servers
    cases = [
        (path + query, accept)
        for path in ("/api/v1/pods", "/api/v1/namespaces/default/pods")
        for query in QUERIES
        for accept in ACCEPTS
    ]
    cases.append(("/api/v1/pods?limit=3", "application/yaml"))  # YAML: slow, one case
    async with ClientSession() as session:
        for target, accept in cases:
            bodies = []
            for url in (cached_url, plain_url):
                async with session.get(url + target, headers={"Accept": accept}) as resp:
                    assert resp.status == 200, await resp.text()
                    bodies.append((resp.headers["Content-Type"], await resp.read()))
            assert bodies[0] == bodies[1], (target, accept)
            if accept == PROTOBUF:
                assert bodies[0][1].startswith(b"k8s\x00")


async def test_cached_item_bytes_are_reused_and_stay_correct_after_a_change(
    servers: tuple[str, str], caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    cached_url, plain_url = servers
    async with ClientSession() as session:
        for accept in (JSON, PROTOBUF, JSON):
            async with session.get(cached_url + "/api/v1/pods", headers={"Accept": accept}) as r:
                assert r.status == 200
        pods = plain_store(backend, "pods")
        pod = copy.deepcopy(await pods.get("default", "p0"))
        pod["metadata"]["labels"]["changed"] = "yes"
        await backend.update(
            pods.resource.key("default", "p0"),
            pods.encode(pod),
            expected_revision=int(pod["metadata"]["resourceVersion"]),
        )
        for accept in (JSON, PROTOBUF):
            bodies = []
            for url in (cached_url, plain_url):
                async with session.get(url + "/api/v1/pods", headers={"Accept": accept}) as r:
                    bodies.append(await r.read())
            assert bodies[0] == bodies[1]
            assert b"changed" in bodies[0]


async def test_http_watch_from_the_cache_streams_changes_and_initial_objects(
    servers: tuple[str, str],
) -> None:
    cached_url, _ = servers
    async with ClientSession() as session:
        url = (
            cached_url
            + "/api/v1/namespaces/default/pods?watch=1&resourceVersion=0&timeoutSeconds=1"
        )
        async with session.get(url) as resp:
            assert resp.status == 200
            lines = [orjson.loads(line) for line in (await resp.read()).splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [
        ("ADDED", "p0"),
        ("ADDED", "p1"),
        ("ADDED", "p3"),
        ("ADDED", "p4"),
    ]
    assert all(e["object"]["kind"] == "Pod" for e in lines)


async def test_cache_encodings_match_the_negotiated_list_for_a_failing_item(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    """An item protobuf cannot encode: the normal path answers (the same 500 as without)."""
    configmaps = caches()
    bad = cm("bad")
    bad["data"] = {"k": 1}  # not a string: JSON is fine, protobuf refuses
    await backend.create(configmaps.resource.key("default", "bad"), configmaps.encode(bad))
    page = await configmaps.list(None, shared=True)
    from kube.apiserver.watchcache import encode_list

    assert configmaps.cache is not None
    assert encode_list(configmaps.cache, PROTOBUF, page) is None
    assert encode_list(configmaps.cache, JSON, page) is not None


async def test_http_watchers_share_frames_and_see_moves_out_of_their_selection(
    servers: tuple[str, str], backend: BreakableBackend
) -> None:
    cached_url, _ = servers
    pods = plain_store(backend, "pods")
    since = await backend.current_revision()
    base = f"{cached_url}/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=2"
    base += f"&resourceVersion={since}"

    async def watch(session: ClientSession, query: str) -> list[tuple[str, str, str]]:
        async with session.get(base + query) as resp:
            assert resp.status == 200
            body = await resp.read()
        events = [orjson.loads(line) for line in body.splitlines()]
        return [
            (e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["labels"]["app"])
            for e in events
        ]

    async with ClientSession() as session:
        everything = asyncio.ensure_future(watch(session, ""))
        web_only = asyncio.ensure_future(watch(session, "&labelSelector=app%3Dweb"))
        await asyncio.sleep(0.3)
        pod = copy.deepcopy(await pods.get("default", "p0"))
        pod["metadata"]["labels"]["app"] = "db"
        await backend.update(
            pods.resource.key("default", "p0"),
            pods.encode(pod),
            expected_revision=int(pod["metadata"]["resourceVersion"]),
        )
        assert await everything == [("MODIFIED", "p0", "db")]
        assert await web_only == [("DELETED", "p0", "db")]


def test_frame_memo_keys_on_format_type_and_object_revision() -> None:
    from kube.apiserver.watchcache import FrameMemo

    memo = FrameMemo(size=2)
    obj = {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7"}}
    made: list[str] = []

    def make(tag: str) -> Callable[[], bytes]:
        def run() -> bytes:
            made.append(tag)
            return tag.encode()

        return run

    assert memo.get(JSON, "ADDED", obj, make("1")) == b"1"
    assert memo.get(JSON, "ADDED", obj, make("2")) == b"1"  # shared
    assert memo.get(PROTOBUF, "ADDED", obj, make("3")) == b"3"
    assert memo.get(JSON, "DELETED", obj, make("4")) == b"4"
    assert made == ["1", "3", "4"]
    no_rv = {"metadata": {"name": "a"}}
    assert memo.get(JSON, "ADDED", no_rv, make("5")) == b"5"
    assert memo.get(JSON, "ADDED", no_rv, make("6")) == b"6"


async def test_a_value_that_does_not_decode_ends_watches_and_the_cache_recovers(
    caches: Callable[..., ObjectStore], backend: BreakableBackend
) -> None:
    configmaps = caches()
    since = (await configmaps.list(None)).resource_version
    changes = configmaps.watch(None, since)
    try:
        pending = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.05)
        bad_key = configmaps.resource.key("default", "bad")
        await backend.create(bad_key, b"not json")
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(pending, 5)
        await backend.delete(bad_key)
        await configmaps.create("default", cm("good"))
        # Storage answers while the cache catches up past the bad value; then the cache does.
        for _ in range(50):
            page = await configmaps.list(None, shared=True)
            assert names(page.items) == ["good"]
            if page.entries is not None:
                break
            await asyncio.sleep(0.05)
        assert page.entries is not None
    finally:
        await changes.aclose()


async def test_http_bookmarks_carry_the_cache_revision_when_other_resources_change(
    servers: tuple[str, str], backend: BreakableBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kube.apiserver import handlers

    monkeypatch.setattr(handlers, "BOOKMARK_INTERVAL", 0.3)
    cached_url, _ = servers
    async with ClientSession() as session:
        async with session.get(f"{cached_url}/api/v1/pods") as resp:
            start = (await resp.json())["metadata"]["resourceVersion"]
        url = (
            f"{cached_url}/api/v1/pods?watch=1&allowWatchBookmarks=true&timeoutSeconds=1"
            f"&resourceVersion={start}"
        )

        async def watch() -> list[dict[str, Any]]:
            async with session.get(url) as resp:
                return [orjson.loads(line) for line in (await resp.read()).splitlines()]

        events = asyncio.ensure_future(watch())
        await asyncio.sleep(0.1)
        secret = await plain_store(backend, "secrets").create(
            "default", {"metadata": {"name": "elsewhere"}, "type": "Opaque"}
        )
        got = await events
    bookmarks = [e["object"]["metadata"]["resourceVersion"] for e in got if e["type"] == "BOOKMARK"]
    assert [e["type"] for e in got if e["type"] != "BOOKMARK"] == []
    assert bookmarks
    assert bookmarks[-1] == secret["metadata"]["resourceVersion"]
    assert got[-1]["object"]["kind"] == "Pod"


async def test_a_long_replay_does_not_count_against_the_queue_limit(
    caches: Callable[..., ObjectStore],
) -> None:
    configmaps = caches(queue_limit=3)
    since = (await configmaps.list(None)).resource_version
    for i in range(5):
        await configmaps.create("default", cm(f"old{i}"))
    await configmaps.list(None)  # caught up
    changes = configmaps.watch(None, since)
    try:
        assert await visible(changes, 1) == [("ADDED", "old0")]  # subscribed, 4 replayed left
        for i in range(2):
            await configmaps.create("default", cm(f"new{i}"))
        await configmaps.list(None)
        rest = await visible(changes, 6)
        assert rest == [("ADDED", f"old{i}") for i in range(1, 5)] + [
            ("ADDED", "new0"),
            ("ADDED", "new1"),
        ]
    finally:
        await changes.aclose()


@pytest.mark.parametrize("accept", [JSON, PROTOBUF])
async def test_a_burst_of_changes_reaches_an_http_watcher_whole_in_fewer_writes(
    servers: tuple[str, str],
    backend: BreakableBackend,
    monkeypatch: pytest.MonkeyPatch,
    accept: str,
) -> None:
    """Changes queued together leave in one write: the same frames, in revision order."""
    from kube.codec import protobuf

    writes: list[int] = []
    original = web.StreamResponse.write

    async def counted(self: web.StreamResponse, data: bytes) -> None:
        writes.append(len(data))
        await original(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counted)
    cached_url, _ = servers
    pods = plain_store(backend, "pods")
    since = await backend.current_revision()
    url = f"{cached_url}/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=2"
    url += f"&resourceVersion={since}"
    names = [f"burst{i:02d}" for i in range(40)]
    key = pods.resource.key
    values = [(key("default", n), pods.encode(golden_pod(n, "default"))) for n in names]
    async with ClientSession() as session, session.get(url, headers={"Accept": accept}) as resp:
        assert resp.status == 200
        await asyncio.gather(*(backend.create(key, value) for key, value in values))
        body = await resp.read()
    if accept == JSON:
        events = [orjson.loads(line) for line in body.splitlines()]
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    else:
        seen, revisions = [], []
        while body:
            length = int.from_bytes(body[:4], "big")
            kind, obj = protobuf.decode_watch_event(body[4 : 4 + length])
            seen.append((kind, obj["metadata"]["name"]))
            revisions.append(int(obj["metadata"]["resourceVersion"]))
            body = body[4 + length :]
    assert sorted(seen) == [("ADDED", n) for n in names]
    assert revisions == sorted(revisions)
    assert len(writes) < len(names)
