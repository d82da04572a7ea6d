"""The kubelet's watch-backed ConfigMap/Secret reads (kube.kubelet.objectcache) against a real
API server, and the volume manager writing a volume only when its files change."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from kube.api.resources import resource
from kube.client.ratelimit import TokenBucket
from kube.client.rest import RESTClient
from kube.kubelet.kubelet import event_client, watch_client
from kube.kubelet.objectcache import ObjectCache
from kube.kubelet.volumes import VolumeManager
from tests.controllers.conftest import bare_cluster, client

__all__ = ["bare_cluster", "client"]

CONFIGMAPS = resource("configmaps")


def configmap(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"key": value},
    }


async def eventually(check: Any, seconds: float = 5.0) -> Any:
    """The first truthy result of the coroutine function `check`, polled until `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        result = await check()
        if result or asyncio.get_running_loop().time() > deadline:
            return result
        await asyncio.sleep(0.05)


async def test_reads_come_from_one_watch_per_object(client: RESTClient) -> None:
    await client.create(CONFIGMAPS, configmap("oc-shared", "one"), "default")
    cache = ObjectCache(client)
    try:
        first = await cache.get(CONFIGMAPS, "oc-shared", "default", "pod-a")
        second = await cache.get(CONFIGMAPS, "oc-shared", "default", "pod-b")
        assert first is not None
        assert first["data"] == {"key": "one"}
        assert second is first  # the same store entry: no second request
        assert list(cache.entries) == [("configmaps", "default", "oc-shared")]
        await client.patch(CONFIGMAPS, "oc-shared", {"data": {"key": "two"}}, "default")

        async def changed() -> bool:
            obj = await cache.get(CONFIGMAPS, "oc-shared", "default", "pod-a")
            return obj is not None and obj["data"] == {"key": "two"}

        assert await eventually(changed)  # the change arrives by the watch
    finally:
        await cache.close()


async def test_missing_object_reads_none_until_created(client: RESTClient) -> None:
    cache = ObjectCache(client)
    try:
        assert await cache.get(CONFIGMAPS, "oc-later", "default", "pod-a") is None
        await client.create(CONFIGMAPS, configmap("oc-later", "here"), "default")

        async def found() -> bool:
            return await cache.get(CONFIGMAPS, "oc-later", "default", "pod-a") is not None

        assert await eventually(found)
    finally:
        await cache.close()


async def test_release_stops_watches_nobody_uses(client: RESTClient) -> None:
    await client.create(CONFIGMAPS, configmap("oc-release", "x"), "default")
    cache = ObjectCache(client)
    try:
        await cache.get(CONFIGMAPS, "oc-release", "default", "pod-a")
        await cache.get(CONFIGMAPS, "oc-release", "default", "pod-b")
        await cache.release("pod-a")
        assert cache.owned("pod-b") == [("configmaps", "default", "oc-release")]
        await cache.release("pod-b")
        assert cache.entries == {}
    finally:
        await cache.close()


async def test_volume_written_once_until_its_configmap_changes(
    client: RESTClient, tmp_path: Path
) -> None:
    await client.create(CONFIGMAPS, configmap("oc-volume", "v1"), "default")
    cache = ObjectCache(client)
    manager = VolumeManager(client, tmp_path, tmpfs=False, objects=cache)
    pod = {
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-1"},
        "spec": {"volumes": [{"name": "cfg", "configMap": {"name": "oc-volume"}}]},
    }
    try:
        paths = await manager.setup(pod)
        target = Path(paths["cfg"])
        data = os.readlink(target / "..data")
        assert (target / "key").read_text() == "v1"
        await manager.setup(pod)  # nothing changed: nothing written
        assert os.readlink(target / "..data") == data
        await client.patch(CONFIGMAPS, "oc-volume", {"data": {"key": "v2"}}, "default")

        async def refreshed() -> bool:
            await manager.setup(pod)
            return (target / "key").read_text() == "v2"

        assert await eventually(refreshed)
        assert os.readlink(target / "..data") != data
        await manager.teardown("uid-1")
        assert cache.entries == {}
        assert manager.written == {}
        assert not (tmp_path / "pods" / "uid-1").exists()
    finally:
        await cache.close()


def test_watches_and_events_get_clients_of_their_own() -> None:
    """The object cache's watches hold a connection each (HTTP/1.1): their client has no limit
    on connections and shares the kubelet's throttle; Events get a throttle of their own."""
    kubelet_client = RESTClient("https://127.0.0.1:6443", None, throttle=TokenBucket(50, 100))
    watches = watch_client(kubelet_client)
    assert watches._connections == 0
    assert watches.throttle is kubelet_client.throttle
    events = event_client(kubelet_client)
    assert isinstance(events.throttle, TokenBucket)
    assert events.throttle is not kubelet_client.throttle
    assert (events.throttle.qps, events.throttle.burst) == (50, 100)
