"""The garbage collector against a real API server: what `kubectl delete --cascade=...` leaves.

Owner chains are made by hand (no Deployment or ReplicaSet controller runs): ConfigMaps owned
by a ConfigMap, Pods owned by a ReplicaSet owned by a Deployment, with the ownerReferences
those controllers would write (`controller: true`, `blockOwnerDeletion: true`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.api.resources import resolve
from kube.client.rest import RESTClient
from kube.client.workqueue import RateLimitingQueue
from kube.controllers.garbagecollector.graph import (
    ADD,
    DELETE,
    GraphBuilder,
    GraphEvent,
    Node,
    ObjectRef,
    OwnerRef,
)
from tests.controllers.conftest import controllers, eventually
from tests.controllers.recording import recording_controllers

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def _row(name: str) -> Any:
    row = resolve(name)
    assert row is not None
    return row


NAMESPACES, CONFIGMAPS, PODS = _row("namespaces"), _row("configmaps"), _row("pods")
DEPLOYMENTS, REPLICASETS = _row("deployments.apps"), _row("replicasets.apps")
LABELS = {"app": "web"}
TEMPLATE = {
    "metadata": {"labels": LABELS},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


def ref(owner: dict[str, Any], *, block: bool = True, controller: bool = True) -> OwnerRef:
    """The ownerReference a workload controller writes to its dependents."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


async def namespace(client: RESTClient, name: str) -> str:
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def exists(client: RESTClient, resource: Any, name: str, ns: str) -> dict[str, Any] | None:
    try:
        return await client.get(resource, name, ns)
    except APIError as err:
        if err.code != 404:
            raise
        return None


async def gone(client: RESTClient, resource: Any, name: str, ns: str) -> bool:
    return await exists(client, resource, name, ns) is None


async def configmap(
    client: RESTClient, ns: str, name: str, owners: list[OwnerRef] | None = None, **meta: Any
) -> dict[str, Any]:
    body = {"metadata": {"name": name, "ownerReferences": owners or [], **meta}}
    return await client.create(CONFIGMAPS, body, ns)


async def chain(client: RESTClient, ns: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A Deployment owning a ReplicaSet owning two Pods, as their controllers make them."""
    deploy = await client.create(
        DEPLOYMENTS,
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": TEMPLATE},
        },
        ns,
    )
    rs = await client.create(
        REPLICASETS,
        {
            "metadata": {"name": "web-5d8f", "labels": LABELS, "ownerReferences": [ref(deploy)]},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": TEMPLATE},
        },
        ns,
    )
    pods = []
    for name in ("web-5d8f-a", "web-5d8f-b"):
        pod = {"metadata": {"name": name, "labels": LABELS, "ownerReferences": [ref(rs)]}}
        pod["spec"] = TEMPLATE["spec"]
        pods.append((await client.create(PODS, pod, ns))["metadata"]["name"])
    return deploy, rs, pods


async def kubectl(kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    """kubectl without blocking the event loop the controllers run on."""
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(kubeconfig),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def gc(bare_cluster: Path) -> AsyncIterator[None]:
    async with controllers(bare_cluster, "garbage-collector"):
        yield


# -- background, dangling references ----------------------------------------------------------


async def test_dependents_of_a_deleted_owner_are_deleted(client: RESTClient, gc: None) -> None:
    ns = await namespace(client, "gc-background")
    owner = await configmap(client, ns, "owner")
    for name in ("dep-1", "dep-2"):
        await configmap(client, ns, name, [ref(owner, block=False)])
    await client.delete(CONFIGMAPS, "owner", ns, propagation_policy="Background")
    await eventually(lambda: gone(client, CONFIGMAPS, "dep-1", ns))
    await eventually(lambda: gone(client, CONFIGMAPS, "dep-2", ns))


async def test_reference_to_an_owner_that_never_existed_is_collected(
    client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-dangling")
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"}
    await configmap(client, ns, "orphaned", [ghost])
    await eventually(lambda: gone(client, CONFIGMAPS, "orphaned", ns))


async def test_owner_with_same_name_but_another_uid_does_not_count(
    client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-uid")
    await configmap(client, ns, "owner")
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "an-older-uid"}
    await configmap(client, ns, "dep", [stale])
    await eventually(lambda: gone(client, CONFIGMAPS, "dep", ns))
    assert await exists(client, CONFIGMAPS, "owner", ns) is not None


async def test_with_a_live_owner_only_the_dangling_reference_is_removed(
    client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-partial")
    owner = await configmap(client, ns, "owner")
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"}
    await configmap(client, ns, "dep", [ref(owner, block=False, controller=False), ghost])

    async def only_live_owner_left() -> bool:
        dep = await exists(client, CONFIGMAPS, "dep", ns)
        assert dep is not None, "a dependent with a live owner must stay"
        uids = [r["uid"] for r in dep["metadata"].get("ownerReferences") or []]
        return uids == [owner["metadata"]["uid"]]

    await eventually(only_live_owner_left)
    await asyncio.sleep(0.3)
    assert await only_live_owner_left()


async def test_objects_without_owners_are_left_alone(client: RESTClient, gc: None) -> None:
    ns = await namespace(client, "gc-none")
    await configmap(client, ns, "plain")
    owner = await configmap(client, ns, "owner")
    await configmap(client, ns, "dep", [ref(owner)])
    await asyncio.sleep(0.5)
    for name in ("plain", "owner", "dep"):
        assert await exists(client, CONFIGMAPS, name, ns) is not None


# -- foreground -------------------------------------------------------------------------------


async def test_foreground_owner_waits_for_blocking_dependents(client: RESTClient, gc: None) -> None:
    ns = await namespace(client, "gc-foreground")
    _, rs, pods = await chain(client, ns)
    # A finalizer (as a kubelet or an operator might hold) keeps one pod for a while.
    await client.patch(PODS, pods[0], {"metadata": {"finalizers": ["example.com/hold"]}}, ns)
    await client.delete(REPLICASETS, rs["metadata"]["name"], ns, propagation_policy="Foreground")

    async def owner_waiting() -> bool:
        live = await exists(client, REPLICASETS, rs["metadata"]["name"], ns)
        held = await exists(client, PODS, pods[0], ns)
        return bool(
            live
            and live["metadata"].get("deletionTimestamp")
            and live["metadata"].get("finalizers") == ["foregroundDeletion"]
            and held
            and held["metadata"].get("deletionTimestamp")
            and await gone(client, PODS, pods[1], ns)
        )

    await eventually(owner_waiting)
    await asyncio.sleep(0.3)
    assert await owner_waiting(), "the owner must stay while a blocking dependent exists"
    await client.patch(PODS, pods[0], {"metadata": {"finalizers": None}}, ns)
    await eventually(lambda: gone(client, REPLICASETS, rs["metadata"]["name"], ns))
    assert await gone(client, PODS, pods[0], ns)


async def test_kubectl_delete_deployment_cascade_foreground(
    bare_cluster: Path, client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-kubectl-fg")
    _, rs, pods = await chain(client, ns)
    await client.patch(PODS, pods[0], {"metadata": {"finalizers": ["example.com/hold"]}}, ns)
    task = asyncio.create_task(
        kubectl(bare_cluster, "delete", "deployment", "web", "-n", ns, "--cascade=foreground")
    )

    async def deployment_terminating() -> bool:
        deploy = await exists(client, DEPLOYMENTS, "web", ns)
        return bool(deploy and deploy["metadata"].get("deletionTimestamp"))

    await eventually(deployment_terminating)
    assert not task.done(), "kubectl waits while the deployment is being deleted"
    deploy = await exists(client, DEPLOYMENTS, "web", ns)
    assert deploy is not None
    assert deploy["metadata"]["finalizers"] == ["foregroundDeletion"]
    await client.patch(PODS, pods[0], {"metadata": {"finalizers": None}}, ns)
    code, out, err = await task
    assert (code, out, err) == (0, f'deployment.apps "web" deleted from {ns} namespace\n', "")
    assert await gone(client, REPLICASETS, rs["metadata"]["name"], ns)
    for pod in pods:
        assert await gone(client, PODS, pod, ns)


async def test_kubectl_delete_deployment_cascade_background(
    bare_cluster: Path, client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-kubectl-bg")
    _, rs, pods = await chain(client, ns)
    code, out, _ = await kubectl(
        bare_cluster, "delete", "deployment", "web", "-n", ns, "--cascade=background"
    )
    assert (code, out) == (0, f'deployment.apps "web" deleted from {ns} namespace\n')
    await eventually(lambda: gone(client, REPLICASETS, rs["metadata"]["name"], ns))
    for pod in pods:
        await eventually(lambda pod=pod: gone(client, PODS, pod, ns))


async def test_kubectl_delete_deployment_cascade_orphan(
    bare_cluster: Path, client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-kubectl-orphan")
    deploy, rs, pods = await chain(client, ns)
    code, out, _ = await kubectl(
        bare_cluster, "delete", "deployment", "web", "-n", ns, "--cascade=orphan"
    )
    assert (code, out) == (0, f'deployment.apps "web" deleted from {ns} namespace\n')
    assert await gone(client, DEPLOYMENTS, "web", ns)
    live_rs = await exists(client, REPLICASETS, rs["metadata"]["name"], ns)
    assert live_rs is not None
    assert not live_rs["metadata"].get("ownerReferences")
    assert not live_rs["metadata"].get("deletionTimestamp")
    await asyncio.sleep(0.3)
    for pod in pods:
        live = await exists(client, PODS, pod, ns)
        assert live is not None
        assert [r["uid"] for r in live["metadata"]["ownerReferences"]] == [rs["metadata"]["uid"]]
    assert deploy["metadata"]["uid"] not in str(live_rs)


async def test_orphan_finalizer_on_owner_strips_references_then_goes(
    client: RESTClient, gc: None
) -> None:
    ns = await namespace(client, "gc-orphan-api")
    owner = await configmap(client, ns, "owner")
    other = await configmap(client, ns, "other")
    await configmap(client, ns, "dep", [ref(owner), ref(other, block=False, controller=False)])
    await client.delete(CONFIGMAPS, "owner", ns, propagation_policy="Orphan")
    await eventually(lambda: gone(client, CONFIGMAPS, "owner", ns))
    dep = await exists(client, CONFIGMAPS, "dep", ns)
    assert dep is not None
    assert [r["name"] for r in dep["metadata"]["ownerReferences"]] == ["other"]


# -- the graph, unit-level ----------------------------------------------------------------


def _graph() -> tuple[GraphBuilder, list[tuple[str, str]]]:
    reported: list[tuple[str, str]] = []
    graph = GraphBuilder(
        None,  # type: ignore[arg-type]  # informers are not used by `process`
        RateLimitingQueue("delete"),
        RateLimitingQueue("orphan"),
        report_invalid=lambda node, ref: reported.append((node.identity.name, ref["name"])),
        resources=[],
    )
    return graph, reported


def _obj(kind: str, name: str, uid: str, ns: str = "", owners: Any = (), **meta: Any) -> Any:
    metadata = {"name": name, "uid": uid, "ownerReferences": list(owners), **meta}
    if ns:
        metadata["namespace"] = ns
    return {"apiVersion": "v1", "kind": kind, "metadata": metadata}


def _add(graph: GraphBuilder, obj: Any, old: Any = None) -> None:
    meta = obj["metadata"]
    identity = ObjectRef("v1", obj["kind"], meta["name"], meta["uid"], meta.get("namespace", ""))
    graph.process(GraphEvent(ADD, identity, obj, old))


def _queued(queue: RateLimitingQueue[str]) -> set[str]:
    return set(queue._queue)


def test_unseen_owner_becomes_a_virtual_node_that_is_checked() -> None:
    graph, _ = _graph()
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    _add(graph, _obj("ConfigMap", "d", "u-d", "ns", [owner_ref]))
    owner = graph.nodes["u-o"]
    assert (owner.virtual, owner.dependents, owner.identity.namespace) == (True, {"u-d"}, "ns")
    assert _queued(graph.attempt_to_delete) == {"u-o"}
    # The owner shows up: the same node, now observed.
    _add(graph, _obj("ConfigMap", "o", "u-o", "ns"))
    assert graph.nodes["u-o"].observed
    assert graph.nodes["u-o"].dependents == {"u-d"}


def test_deleted_owner_sends_dependents_to_attempt_to_delete() -> None:
    graph, _ = _graph()
    owner = _obj("ConfigMap", "o", "u-o", "ns")
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    _add(graph, owner)
    _add(graph, _obj("ConfigMap", "d", "u-d", "ns", [owner_ref]))
    graph.process(GraphEvent(DELETE, ObjectRef("v1", "ConfigMap", "o", "u-o", "ns"), owner))
    assert "u-o" not in graph.nodes
    assert _queued(graph.attempt_to_delete) == {"u-d"}


def test_foreground_deletion_marks_owner_and_queues_dependents() -> None:
    graph, _ = _graph()
    owner = _obj("ConfigMap", "o", "u-o", "ns")
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    _add(graph, owner)
    _add(graph, _obj("ConfigMap", "d", "u-d", "ns", [{**owner_ref, "blockOwnerDeletion": True}]))
    deleting = _obj(
        "ConfigMap", "o", "u-o", "ns", deletionTimestamp="t", finalizers=["foregroundDeletion"]
    )
    _add(graph, deleting, owner)
    node: Node = graph.nodes["u-o"]
    assert node.deleting_dependents
    assert [d.identity.uid for d in graph.blocking_dependents(node)] == ["u-d"]
    assert _queued(graph.attempt_to_delete) == {"u-o", "u-d"}
    orphaning = _obj("ConfigMap", "x", "u-x", "ns", deletionTimestamp="t", finalizers=["orphan"])
    _add(graph, orphaning)
    assert _queued(graph.attempt_to_orphan) == {"u-x"}


def test_owner_in_another_namespace_is_reported() -> None:
    graph, reported = _graph()
    _add(graph, _obj("ConfigMap", "o", "u-o", "ns-a"))
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    _add(graph, _obj("ConfigMap", "d", "u-d", "ns-b", [owner_ref]))
    assert reported == [("d", "o")]
    assert "u-d" in _queued(graph.attempt_to_delete)


async def test_owner_in_another_namespace_is_a_warning_and_the_dependent_goes(
    bare_cluster: Path, client: RESTClient
) -> None:
    owner_ns = await namespace(client, "gc-invalid-a")
    dep_ns = await namespace(client, "gc-invalid-b")
    owner = await configmap(client, owner_ns, "owner")
    async with recording_controllers(bare_cluster, "garbage-collector") as (_, recorder):
        await configmap(client, dep_ns, "dep", [ref(owner, block=False, controller=False)])
        await eventually(lambda: gone(client, CONFIGMAPS, "dep", dep_ns))
    uid = owner["metadata"]["uid"]
    assert recorder.events == [
        (
            "ConfigMap",
            "dep",
            "Warning",
            "OwnerRefInvalidNamespace",
            f"ownerRef [v1/ConfigMap, namespace: {dep_ns}, name: owner, uid: {uid}] does not "
            f'exist in namespace "{dep_ns}"',
        )
    ]
    assert await exists(client, CONFIGMAPS, "owner", owner_ns) is not None


def test_virtual_delete_of_an_absent_owner_frees_its_dependents() -> None:
    graph, _ = _graph()
    owner_ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    _add(graph, _obj("ConfigMap", "d", "u-d", "ns", [owner_ref]))
    graph.attempt_to_delete = RateLimitingQueue("fresh")
    graph.enqueue_virtual_delete(graph.nodes["u-o"].identity)
    assert graph.pending == 1
    graph.process(graph._changes.popleft())  # the change the collector queued
    assert "u-o" not in graph.nodes
    assert _queued(graph.attempt_to_delete) == {"u-d"}
    assert ObjectRef("v1", "ConfigMap", "o", "u-o", "ns") in graph.absent_owners


async def test_virtual_owner_named_two_ways_is_kept_under_the_other_name() -> None:
    graph, _ = _graph()
    as_configmap = {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u-o"}
    as_secret = {"apiVersion": "v1", "kind": "Secret", "name": "o", "uid": "u-o"}
    _add(graph, _obj("ConfigMap", "d1", "u-d1", "ns", [as_configmap]))
    _add(graph, _obj("ConfigMap", "d2", "u-d2", "ns", [as_secret]))
    graph.attempt_to_delete = RateLimitingQueue("fresh")
    graph.process(GraphEvent(DELETE, graph.nodes["u-o"].identity, virtual=True))
    # The ConfigMap identity is gone; the Secret one is still to be checked.
    assert graph.nodes["u-o"].identity.kind == "Secret"
    assert _queued(graph.attempt_to_delete) == {"u-d1"}
