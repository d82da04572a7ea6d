"""kube.client against a real `kube server`: the REST client, informers and their invariants."""

from __future__ import annotations

import asyncio
import random

import pytest

from kube.api import errors
from kube.api.resources import resolve
from kube.client.informer import EventHandler, Informer, SharedInformerFactory
from kube.client.rest import RESTClient
from tests.e2e.conftest import Cluster

CONFIGMAPS = resolve("configmaps")
NAMESPACES = resolve("namespaces")
assert CONFIGMAPS is not None
assert NAMESPACES is not None


def _client(cluster: Cluster, **options: object) -> RESTClient:
    return RESTClient.from_kubeconfig(cluster.kubeconfig, qps=None, **options)  # type: ignore[arg-type]


async def _namespace(client: RESTClient, name: str) -> None:
    try:
        await client.create(NAMESPACES, {"metadata": {"name": name}})
    except errors.APIError as err:
        if err.code != 409:
            raise


@pytest.mark.parametrize("protobuf", [False, True], ids=["json", "protobuf"])
async def test_rest_client_verbs_and_errors(cluster: Cluster, protobuf: bool) -> None:
    ns = f"client-{'pb' if protobuf else 'json'}"
    async with _client(cluster, protobuf=protobuf) as client:
        await _namespace(client, ns)
        created = await client.create(
            CONFIGMAPS, {"metadata": {"name": "c", "namespace": ns}, "data": {"a": "1"}}
        )
        assert created["metadata"]["uid"]
        got = await client.get(CONFIGMAPS, "c", ns)
        assert got["data"] == {"a": "1"}
        patched = await client.patch(CONFIGMAPS, "c", {"data": {"b": "2"}}, ns)
        assert patched["data"] == {"a": "1", "b": "2"}
        got["data"] = {"z": "9"}
        with pytest.raises(errors.APIError) as conflict:
            await client.update(CONFIGMAPS, got)  # stale resourceVersion
        assert (conflict.value.code, conflict.value.reason) == (409, "Conflict")
        # (The root-ca-cert-publisher controller adds kube-root-ca.crt to every namespace.)
        page = await client.list(CONFIGMAPS, ns, field_selector="metadata.name=c")
        assert [i["metadata"]["name"] for i in page["items"]] == ["c"]
        await client.delete(CONFIGMAPS, "c", ns)
        with pytest.raises(errors.APIError) as missing:
            await client.get(CONFIGMAPS, "c", ns)
        assert missing.value.code == 404
        assert missing.value.message == 'configmaps "c" not found'


async def test_watch_streams_events_in_both_encodings(cluster: Cluster) -> None:
    async with _client(cluster, protobuf=True) as client:
        await _namespace(client, "client-watch")
        start = (await client.list(CONFIGMAPS, "client-watch"))["metadata"]["resourceVersion"]
        await client.create(CONFIGMAPS, {"metadata": {"name": "w", "namespace": "client-watch"}})
        await client.delete(CONFIGMAPS, "w", "client-watch")
        seen = []
        async for event in client.watch(
            CONFIGMAPS,
            "client-watch",
            resource_version=start,
            timeout_seconds=2,
            field_selector="metadata.name=w",
        ):
            seen.append((event.type, event.object["metadata"]["name"]))
            if len(seen) == 2:
                break
        assert seen == [("ADDED", "w"), ("DELETED", "w")]


async def test_informer_store_matches_the_server_after_a_storm_of_writes(
    cluster: Cluster,
) -> None:
    """No event lost or applied twice, across a watch the server cuts off midway."""
    ns = "client-storm"
    rng = random.Random(7)
    async with _client(cluster) as client, _client(cluster) as writer:
        await _namespace(writer, ns)
        informer = Informer(client, CONFIGMAPS, namespace=ns)
        adds: list[str] = []
        deletes: list[str] = []
        informer.add_event_handler(
            EventHandler(
                on_add=lambda o: adds.append(o["metadata"]["name"]),
                on_delete=lambda o: deletes.append(
                    getattr(o, "key", None) or o["metadata"]["name"]  # type: ignore[union-attr]
                ),
            )
        )
        informer.start()
        try:
            assert await informer.wait_for_sync(10)
            live: set[str] = set()
            for i in range(200):
                name = f"cm-{rng.randrange(40)}"
                if name in live and rng.random() < 0.4:
                    await writer.delete(CONFIGMAPS, name, ns)
                    live.discard(name)
                elif name in live:
                    await writer.patch(CONFIGMAPS, name, {"data": {"i": str(i)}}, ns)
                else:
                    await writer.create(CONFIGMAPS, {"metadata": {"name": name, "namespace": ns}})
                    live.add(name)
                if i == 100:
                    await client.close()  # drop the watch connection mid-storm
            want = {
                i["metadata"]["name"]: i["metadata"]["resourceVersion"]
                for i in (await writer.list(CONFIGMAPS, ns))["items"]
            }
            for _ in range(100):
                have = {
                    o["metadata"]["name"]: o["metadata"]["resourceVersion"]
                    for o in informer.lister().list(ns)
                }
                if have == want:
                    break
                await asyncio.sleep(0.05)
            assert have == want
            # Every object was added once per life and deleted once per death.
            assert len(adds) - len(deletes) == len(want)
        finally:
            await informer.stop()


async def test_shared_factory_gives_one_informer_per_resource(cluster: Cluster) -> None:
    async with _client(cluster) as client:
        factory = SharedInformerFactory(client)
        first = factory.informer(CONFIGMAPS)
        assert factory.informer(CONFIGMAPS) is first
        await _namespace(client, "client-factory")
        await client.create(
            CONFIGMAPS,
            {"metadata": {"name": "seen", "namespace": "client-factory", "labels": {"t": "x"}}},
        )
        factory.start()
        try:
            assert await factory.wait_for_cache_sync(10)
            mine = first.lister().list("client-factory", lambda labels: labels.get("t") == "x")
            assert [o["metadata"]["name"] for o in mine] == ["seen"]
            assert first.lister().get("seen", "client-factory") is not None
            assert first.lister().list("elsewhere") == []
        finally:
            await factory.shutdown()


async def test_deletecollection_by_label(cluster: Cluster) -> None:
    ns = "client-dc"
    async with _client(cluster) as client:
        await _namespace(client, ns)
        for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
            await client.create(
                CONFIGMAPS, {"metadata": {"name": name, "namespace": ns, "labels": {"team": team}}}
            )
        gone = await client.deletecollection(CONFIGMAPS, ns, label_selector="team=x")
        assert sorted(i["metadata"]["name"] for i in gone["items"]) == ["a", "b"]
        left = await client.list(CONFIGMAPS, ns, label_selector="team")
        assert [i["metadata"]["name"] for i in left["items"]] == ["c"]
