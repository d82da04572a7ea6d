"""Property test: random operation sequences look the same on SQLite and on a real etcd.

Each example runs one sequence against a fresh SQLite store and a fresh key prefix of one real
etcd, and compares every visible result (values, revisions relative to the start, error types)
and the watch event streams of both.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.storage.backend import Backend, KeyValue, StorageError, WatchEvent
from kube.storage.etcd import EtcdBackend
from kube.storage.sqlite import SQLiteBackend
from tests.support.etcd import EtcdProcess

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

NAMES = ["a", "b", "c", "d"]
PREFIXES = ["pods/", "pods/ns1/", "services/"]


@dataclass(frozen=True)
class Op:
    verb: str
    key: str = ""
    value: bytes = b""
    stale: bool = False  # use an expected revision the key never had
    limit: int = 0


keys = st.builds(
    lambda r, ns, n: f"{r}/{ns}/{n}",
    st.sampled_from(["pods", "services"]),
    st.sampled_from(["ns1", "ns2"]),
    st.sampled_from(NAMES),
)
ops = st.one_of(
    st.builds(Op, verb=st.just("create"), key=keys, value=st.binary(max_size=8)),
    st.builds(
        Op, verb=st.just("update"), key=keys, value=st.binary(max_size=8), stale=st.booleans()
    ),
    st.builds(Op, verb=st.just("delete"), key=keys, stale=st.booleans()),
    st.builds(Op, verb=st.just("delete_any"), key=keys),
    st.builds(Op, verb=st.just("get"), key=keys),
    st.builds(Op, verb=st.just("list"), key=st.sampled_from(PREFIXES), limit=st.integers(0, 3)),
    st.builds(Op, verb=st.just("count"), key=st.sampled_from(PREFIXES)),
)


def normal(kv: KeyValue | None, root: str, base: int) -> Any:
    if kv is None:
        return None
    return (kv.key.removeprefix(root), kv.value, kv.create_revision - base, kv.mod_revision - base)


def normal_event(e: WatchEvent, root: str, base: int) -> Any:
    return (e.type.value, normal(e.kv, root, base), normal(e.prev_kv, root, base))


async def run(store: Backend, root: str, sequence: list[Op]) -> tuple[list[Any], list[Any]]:
    """Apply `sequence` under the key prefix `root`; return (results, watch events)."""
    base = await store.current_revision()
    events = store.watch(root, since=base)
    seen: dict[str, int] = {}  # the mod revision each key had when we last read or wrote it
    results: list[Any] = []
    writes = 0

    def expected(key: str, op: Op) -> int:
        # A key never read or written, or a stale read, gets a revision it never had; never 0,
        # which would make a delete unconditional.
        if op.stale or key not in seen:
            return base + 1000
        return seen[key]

    for op in sequence:
        key = root + op.key
        try:
            if op.verb == "create":
                kv = await store.create(key, op.value)
                results.append(normal(kv, root, base))
            elif op.verb == "update":
                kv = await store.update(key, op.value, expected_revision=expected(key, op))
                results.append(normal(kv, root, base))
            elif op.verb == "delete":
                kv = await store.delete(key, expected_revision=expected(key, op))
                results.append(normal(kv, root, base))
            elif op.verb == "delete_any":
                kv = await store.delete(key)
                results.append(normal(kv, root, base))
            elif op.verb == "get":
                got = await store.get(key)
                results.append(normal(got, root, base))
            elif op.verb == "list":
                page = await store.list(key, limit=op.limit)
                results.append(
                    ([normal(kv, root, base) for kv in page.kvs], page.more, page.revision - base)
                )
            else:
                results.append(await store.count(key))
        except StorageError as err:
            results.append(type(err).__name__)
            continue
        if op.verb in ("create", "update"):
            seen[key] = results[-1][3] + base
            writes += 1
        elif op.verb in ("delete", "delete_any"):
            writes += 1
        elif op.verb == "get" and results[-1] is not None:
            seen[key] = results[-1][3] + base

    got: list[Any] = []
    if writes:
        async for event in events:
            got.append(normal_event(event, root, base))
            if len(got) == writes:
                break
    await events.aclose()  # type: ignore[attr-defined]
    return results, got


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess() as process:
        yield process


counter = itertools.count()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(ops, min_size=1, max_size=30))
def test_sqlite_and_etcd_agree(etcd: EtcdProcess, sequence: list[Op]) -> None:
    async def both() -> tuple[Any, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            lite = SQLiteBackend(Path(tmp) / "state.db")
            await lite.start()
            try:
                on_sqlite = await asyncio.wait_for(run(lite, "/registry/", sequence), 30)
            finally:
                await lite.close()
        remote = EtcdBackend(etcd.endpoints)
        await remote.start()
        try:
            root = f"/example-{next(counter)}/registry/"
            on_etcd = await asyncio.wait_for(run(remote, root, sequence), 30)
        finally:
            await remote.close()
        return on_sqlite, on_etcd

    on_sqlite, on_etcd = asyncio.run(both())
    assert on_sqlite == on_etcd
