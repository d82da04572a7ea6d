"""The ReplicaSet and ReplicationController controllers against a real API server."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from kube.api.errors import APIError
from kube.api.resources import resolve
from kube.client.clock import FakeClock
from kube.client.rest import RESTClient
from kube.controllers.expectations import EXPECTATIONS_TIMEOUT, UIDTrackingExpectations
from kube.controllers.pods import is_pod_available
from kube.controllers.replicaset import calculate_status
from tests.controllers.conftest import eventually, set_pod_phase
from tests.controllers.recording import recording_controllers

PODS = resolve("pods")
RS = resolve("replicasets")
RC = resolve("replicationcontrollers")
NAMESPACES = resolve("namespaces")
assert PODS
assert RS
assert RC
assert NAMESPACES

_ids = itertools.count()


async def namespace(client: RESTClient) -> str:
    name = f"rs-{next(_ids)}-{id(client) % 100000}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def template(app: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": app}, "annotations": {"team": "blue"}},
        "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
    }


def replica_set(name: str, replicas: int, app: str = "web") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": template(app),
        },
    }


async def pods_of(client: RESTClient, ns: str) -> list[dict[str, Any]]:
    items = (await client.list(PODS, ns))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def test_replicaset_creates_owned_pods_and_reports_status(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "replicaset") as (_, events):
        rs = await client.create(RS, replica_set("web", 3), ns)
        pods = await eventually(
            lambda: _count(client, ns, 3),
        )
        for pod in pods:
            meta = pod["metadata"]
            assert meta["generateName"] == "web-"
            assert meta["name"].startswith("web-")
            assert meta["labels"] == {"app": "web"}
            assert meta["annotations"] == {"team": "blue"}
            assert meta["ownerReferences"] == [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web",
                    "uid": rs["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            assert pod["spec"]["containers"][0]["image"] == "nginx:1.25"

        async def created_status() -> Any:
            got = await client.get(RS, "web", ns)
            return got if got.get("status", {}).get("replicas") == 3 else None

        got = await eventually(created_status)
        assert got["status"]["observedGeneration"] == got["metadata"]["generation"]
        assert got["status"]["fullyLabeledReplicas"] == 3
        assert "readyReplicas" not in got["status"]
        assert sorted(events.messages("SuccessfulCreate", "web", ns)) == sorted(
            f"Created pod: {p['metadata']['name']}" for p in pods
        )

        for pod in pods:
            await set_pod_phase(client, pod, "Running")

        async def ready() -> Any:
            status = (await client.get(RS, "web", ns)).get("status", {})
            return status if status.get("availableReplicas") == 3 else None

        status = await eventually(ready)
        assert status["readyReplicas"] == 3


async def _count(client: RESTClient, ns: str, n: int) -> list[dict[str, Any]] | None:
    pods = await pods_of(client, ns)
    return pods if len(pods) == n else None


async def _none_left(client: RESTClient, ns: str) -> bool:
    return not await pods_of(client, ns)


async def test_scale_down_deletes_not_ready_pods_first(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "replicaset") as (_, events):
        await client.create(RS, replica_set("web", 3), ns)
        pods = await eventually(lambda: _count(client, ns, 3))
        ready = pods[:2]
        for pod in ready:
            await set_pod_phase(client, pod, "Running")

        async def two_ready() -> bool:
            status = (await client.get(RS, "web", ns)).get("status", {})
            return status.get("readyReplicas") == 2

        await eventually(two_ready)
        await client.patch(RS, "web", {"spec": {"replicas": 2}}, ns)
        left = await eventually(lambda: _count(client, ns, 2))
        assert {p["metadata"]["name"] for p in left} == {p["metadata"]["name"] for p in ready}
        assert events.messages("SuccessfulDelete", "web", ns) == [
            f"Deleted pod: {pods[2]['metadata']['name']}"
        ]

        # Scaling to zero removes the rest; status follows.
        await client.patch(RS, "web", {"spec": {"replicas": 0}}, ns)
        await eventually(lambda: _none_left(client, ns))

        async def empty() -> bool:
            status = (await client.get(RS, "web", ns)).get("status", {})
            return status.get("replicas") == 0 and "readyReplicas" not in status

        await eventually(empty)


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    orphan = await client.create(
        PODS,
        {
            "metadata": {"name": "stray", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
        },
        ns,
    )
    async with recording_controllers(bare_cluster, "replicaset") as (_, events):
        rs = await client.create(RS, replica_set("web", 1), ns)

        async def adopted() -> Any:
            pod = await client.get(PODS, "stray", ns)
            refs = pod["metadata"].get("ownerReferences") or []
            return refs if refs else None

        refs = await eventually(adopted)
        assert refs[0]["uid"] == rs["metadata"]["uid"]
        assert refs[0]["controller"] is True
        assert len(await pods_of(client, ns)) == 1
        assert events.messages("SuccessfulCreate", None, ns) == []

        # Relabel it: the set lets it go and makes a replacement.
        await client.patch(PODS, "stray", {"metadata": {"labels": {"app": "other"}}}, ns)

        async def released() -> bool:
            pod = await client.get(PODS, "stray", ns)
            return not pod["metadata"].get("ownerReferences")

        await eventually(released)
        pods = await eventually(lambda: _count(client, ns, 2))
        assert {p["metadata"]["name"] for p in pods} > {orphan["metadata"]["name"]}


async def test_replication_controller_selects_by_label_map(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "replicationcontroller") as (_, events):
        rc = await client.create(
            RC,
            {
                "metadata": {"name": "legacy"},
                "spec": {
                    "replicas": 2,
                    "selector": {"app": "legacy"},
                    "template": template("legacy"),
                },
            },
            ns,
        )
        pods = await eventually(lambda: _count(client, ns, 2))
        for pod in pods:
            ref = pod["metadata"]["ownerReferences"][0]
            assert (ref["apiVersion"], ref["kind"], ref["uid"]) == (
                "v1",
                "ReplicationController",
                rc["metadata"]["uid"],
            )
            await set_pod_phase(client, pod, "Running")

        async def ready() -> Any:
            status = (await client.get(RC, "legacy", ns)).get("status", {})
            return status if status.get("readyReplicas") == 2 else None

        status = await eventually(ready)
        assert status["availableReplicas"] == 2
        assert len(events.messages("SuccessfulCreate", "legacy", ns)) == 2


async def test_failed_create_sets_replica_failure_and_warns(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "replicaset") as (ctx, events):
        real_create = ctx.client.create
        quota = APIError(
            403,
            "Forbidden",
            'pods "web-x" is forbidden: exceeded quota: compute, requested: pods=1, '
            "used: pods=1, limited: pods=1",
        )
        allowed = [1]

        async def create(resource: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            target = args[0] if args else kwargs.get("namespace")
            if resource.plural == "pods" and target == ns:
                if not allowed:
                    raise quota
                allowed.pop()
            return await real_create(resource, obj, *args, **kwargs)

        ctx.client.create = create  # type: ignore[method-assign]
        await client.create(RS, replica_set("web", 3), ns)

        async def failing() -> Any:
            status = (await client.get(RS, "web", ns)).get("status", {})
            conds = status.get("conditions") or []
            return conds if conds else None

        conds = await eventually(failing)
        assert conds[0]["type"] == "ReplicaFailure"
        assert conds[0]["status"] == "True"
        assert conds[0]["reason"] == "FailedCreate"
        assert conds[0]["message"] == quota.message
        assert f"Error creating: {quota.message}" in events.messages("FailedCreate", "web", ns)
        # Slow start: one pod made, then the batch of two failed and nothing more was tried.
        assert len(await pods_of(client, ns)) == 1

        # Once the quota allows it, the set converges and the condition goes away.
        ctx.client.create = real_create  # type: ignore[method-assign]

        async def recovered() -> Any:
            status = (await client.get(RS, "web", ns)).get("status", {})
            return status.get("replicas") == 3 and not status.get("conditions")

        await eventually(recovered, seconds=15)


async def test_expectations_hold_a_set_until_its_writes_are_seen_or_expire() -> None:
    clock = FakeClock()
    expectations = UIDTrackingExpectations(clock.now)
    assert expectations.satisfied("ns/web")  # never set: act
    expectations.expect_creations("ns/web", 2)
    assert not expectations.satisfied("ns/web")
    expectations.creation_observed("ns/web")
    assert not expectations.satisfied("ns/web")
    expectations.creation_observed("ns/web")
    assert expectations.satisfied("ns/web")

    expectations.expect_deletions_of("ns/web", ["ns/web-a", "ns/web-b"])
    expectations.deletion_observed_of("ns/web", "ns/web-a")
    expectations.deletion_observed_of("ns/web", "ns/web-a")  # seen twice, counted once
    assert expectations.get("ns/web") == (0, 1)
    assert not expectations.satisfied("ns/web")
    # A lost watch event must not wedge the set forever: five minutes later it acts again.
    await clock.advance(EXPECTATIONS_TIMEOUT - 1)
    assert not expectations.satisfied("ns/web")
    await clock.advance(2)
    assert expectations.satisfied("ns/web")


def test_availability_waits_for_min_ready_seconds() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    since = (now - dt.timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pod = {
        "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": since}]}
    }
    assert is_pod_available(pod, 0, now)
    assert is_pod_available(pod, 9, now)
    assert not is_pod_available(pod, 10, now)
    status = calculate_status(
        {"spec": {"replicas": 1, "minReadySeconds": 30, "template": {}}}, [pod], None, now
    )
    assert status == {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1}


async def test_a_taken_generated_name_is_tried_again_not_reported(
    client: RESTClient, bare_cluster: Path
) -> None:
    """A generateName clash (409 AlreadyExists) costs one more create, not a failed sync."""
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "replicaset") as (ctx, events):
        real_create = ctx.client.create
        clashes = [2]  # the next two pod creates "collide", as a random suffix can

        async def create(resource: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            target = args[0] if args else kwargs.get("namespace")
            if resource.plural == "pods" and target == ns and clashes[0]:
                clashes[0] -= 1
                raise APIError(409, "AlreadyExists", 'pods "web-b2c4d" already exists')
            return await real_create(resource, obj, *args, **kwargs)

        ctx.client.create = create  # type: ignore[method-assign]
        await client.create(RS, replica_set("web", 3), ns)

        async def settled() -> Any:
            status = (await client.get(RS, "web", ns)).get("status", {})
            return status if status.get("replicas") == 3 else None

        status = await eventually(settled)
        assert "conditions" not in status
        assert len(await pods_of(client, ns)) == 3
        assert clashes == [0]
        assert events.messages("FailedCreate", "web", ns) == []
        assert len(events.messages("SuccessfulCreate", "web", ns)) == 3
