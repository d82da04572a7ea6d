"""The Deployment controller (with the ReplicaSet controller) against a real API server."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any, ClassVar

from kube.api.resources import resolve
from kube.client.rest import RESTClient
from kube.controllers import manager
from kube.controllers.deployment.controller import DeploymentController
from tests.controllers.conftest import eventually
from tests.controllers.recording import kubelet, recording_controllers

DEPLOYMENTS = resolve("deployments")
REPLICASETS = resolve("replicasets")
PODS = resolve("pods")
NAMESPACES = resolve("namespaces")
assert DEPLOYMENTS
assert REPLICASETS
assert PODS
assert NAMESPACES

_ids = itertools.count()


async def namespace(client: RESTClient) -> str:
    name = f"deploy-{next(_ids)}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def deployment(name: str, replicas: int, image: str = "nginx:1.25", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
            **spec,
        },
    }


def image_of(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


async def sets_of(client: RESTClient, ns: str) -> dict[str, dict[str, Any]]:
    """The ReplicaSets of a namespace by image."""
    return {image_of(rs): rs for rs in (await client.list(REPLICASETS, ns))["items"]}


async def rolled_out(client: RESTClient, ns: str, name: str) -> Any:
    d = await client.get(DEPLOYMENTS, name, ns)
    status = d.get("status", {})
    want = d["spec"]["replicas"]
    done = (
        status.get("observedGeneration") == d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == want
        and status.get("replicas", 0) == want
        and status.get("availableReplicas", 0) == want
    )
    return d if done else None


async def test_new_replicaset_is_named_by_template_hash_and_status_reported(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with (
        recording_controllers(bare_cluster, "replicaset", "deployment") as (_, events),
        kubelet(client, ns),
    ):
        d = await client.create(DEPLOYMENTS, deployment("web", 3), ns)
        done = await eventually(lambda: rolled_out(client, ns, "web"))
        (rs,) = (await client.list(REPLICASETS, ns))["items"]
        pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["metadata"]["name"] == f"web-{pod_hash}"
        assert set(pod_hash) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert rs["spec"]["selector"] == {
            "matchLabels": {"app": "web", "pod-template-hash": pod_hash}
        }
        assert rs["spec"]["template"]["metadata"]["labels"] == {
            "app": "web",
            "pod-template-hash": pod_hash,
        }
        assert rs["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "uid": d["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert rs["metadata"]["annotations"] == {
            "deployment.kubernetes.io/revision": "1",
            "deployment.kubernetes.io/desired-replicas": "3",
            "deployment.kubernetes.io/max-replicas": "4",  # 3 + 25% rounded up
        }
        assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        status = done["status"]
        assert {k: v for k, v in status.items() if k != "conditions"} == {
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 3,
            "availableReplicas": 3,
        }

        async def complete() -> Any:
            got = await client.get(DEPLOYMENTS, "web", ns)
            conds = {c["type"]: c for c in got["status"].get("conditions", [])}
            progressing = conds.get("Progressing", {})
            return conds if progressing.get("reason") == "NewReplicaSetAvailable" else None

        conds = await eventually(complete)
        assert (conds["Available"]["status"], conds["Available"]["reason"]) == (
            "True",
            "MinimumReplicasAvailable",
        )
        assert conds["Available"]["message"] == "Deployment has minimum availability."
        assert conds["Progressing"]["status"] == "True"
        assert conds["Progressing"]["message"] == (
            f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'
        )
        assert events.messages("ScalingReplicaSet", "web", ns) == [
            f"Scaled up replica set {rs['metadata']['name']} from 0 to 3"
        ]
        pods = (await client.list(PODS, ns))["items"]
        assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {pod_hash}


async def test_recreate_removes_every_old_pod_before_the_new_set_grows(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with (
        recording_controllers(bare_cluster, "replicaset", "deployment") as (_, events),
        kubelet(client, ns),
    ):
        await client.create(DEPLOYMENTS, deployment("db", 2, strategy={"type": "Recreate"}), ns)
        await eventually(lambda: rolled_out(client, ns, "db"))
        before = len(events.in_namespace(ns))
        await client.patch(
            DEPLOYMENTS,
            "db",
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "pg:2"}]}}}},
            ns,
        )
        await eventually(lambda: rolled_out(client, ns, "db"))
        sets = await sets_of(client, ns)
        old, new = sets["nginx:1.25"]["metadata"]["name"], sets["pg:2"]["metadata"]["name"]
        steps = [(e[1], e[3], e[4]) for e in events.in_namespace(ns)[before:]]
        scale_up = steps.index(
            ("db", "ScalingReplicaSet", f"Scaled up replica set {new} from 0 to 2")
        )
        deletions = [i for i, s in enumerate(steps) if s[0] == old and s[1] == "SuccessfulDelete"]
        assert steps[0] == ("db", "ScalingReplicaSet", f"Scaled down replica set {old} from 2 to 0")
        assert len(deletions) == 2
        assert max(deletions) < scale_up


async def test_scaling_mid_rollout_is_proportional(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)

    def only_v1(pod: dict[str, Any]) -> bool:
        return bool(pod["spec"]["containers"][0]["image"] == "app:v1")

    async with (
        recording_controllers(bare_cluster, "replicaset", "deployment") as (_, events),
        kubelet(client, ns, only=only_v1),
    ):
        rolling = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}
        await client.create(
            DEPLOYMENTS, deployment("app", 10, image="app:v1", strategy=rolling), ns
        )
        await eventually(lambda: rolled_out(client, ns, "app"))
        # v2 pods never become ready: the rollout stops at old 8 + new 5 (13 = 10 + surge 3,
        # 8 available = 10 - maxUnavailable 2).
        await client.patch(
            DEPLOYMENTS,
            "app",
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "app:v2"}]}}}},
            ns,
        )

        async def stuck() -> Any:
            sets = await sets_of(client, ns)
            sizes = {image: rs["spec"]["replicas"] for image, rs in sets.items()}
            return sets if sizes == {"app:v1": 8, "app:v2": 5} else None

        await eventually(stuck)
        await client.patch(DEPLOYMENTS, "app", {"spec": {"replicas": 15}}, ns)

        async def scaled() -> Any:
            sets = await sets_of(client, ns)
            sizes = {image: rs["spec"]["replicas"] for image, rs in sets.items()}
            return sets if sizes == {"app:v1": 11, "app:v2": 7} else None

        sets = await eventually(scaled)
        for rs in sets.values():
            annotations = rs["metadata"]["annotations"]
            assert annotations["deployment.kubernetes.io/desired-replicas"] == "15"
            assert annotations["deployment.kubernetes.io/max-replicas"] == "18"
        old = sets["app:v1"]["metadata"]["name"]
        new = sets["app:v2"]["metadata"]["name"]
        messages = events.messages("ScalingReplicaSet", "app", ns)
        assert f"Scaled up replica set {old} from 8 to 11" in messages
        assert f"Scaled up replica set {new} from 5 to 7" in messages

        async def settled() -> Any:
            status = (await client.get(DEPLOYMENTS, "app", ns))["status"]
            counts = (status.get("replicas"), status.get("availableReplicas"))
            return status if counts == (18, 11) else None

        status = await eventually(settled)
        assert (status["updatedReplicas"], status["availableReplicas"]) == (7, 11)
        assert status["unavailableReplicas"] == 7
        conds = {c["type"]: c for c in status["conditions"]}
        assert conds["Progressing"]["reason"] == "ReplicaSetUpdated"
        assert conds["Progressing"]["message"] == f'ReplicaSet "{new}" is progressing.'
        assert conds["Available"]["reason"] == "MinimumReplicasUnavailable"


async def test_revision_history_limit_deletes_the_oldest_scaled_down_sets(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with (
        recording_controllers(bare_cluster, "replicaset", "deployment"),
        kubelet(client, ns),
    ):
        await client.create(DEPLOYMENTS, deployment("web", 1, revisionHistoryLimit=1), ns)
        await eventually(lambda: rolled_out(client, ns, "web"))
        for version in ("v2", "v3", "v4"):
            await client.patch(
                DEPLOYMENTS,
                "web",
                {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": version}]}}}},
                ns,
            )
            await eventually(lambda: rolled_out(client, ns, "web"))

        async def pruned() -> Any:
            sets = await sets_of(client, ns)
            return sets if set(sets) == {"v3", "v4"} else None

        sets = await eventually(pruned)
        assert sets["v4"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
        assert sets["v3"]["spec"]["replicas"] == 0


class _LateDeploymentController(DeploymentController):
    """The Deployment controller with its wall clock moved forward by `skew` seconds."""

    NAME = "deployment-late-clock-for-tests"
    skew: ClassVar[float] = 0.0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        cls = type(self)
        self.wall_now = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=cls.skew)


async def test_progress_deadline_exceeded(client: RESTClient, bare_cluster: Path) -> None:
    manager.register(_LateDeploymentController, default=False)
    ns = await namespace(client)
    _LateDeploymentController.skew = 0.0
    async with recording_controllers(bare_cluster, "replicaset", "deployment-late-clock-for-tests"):
        # No kubelet: the pods never become ready.
        await client.create(DEPLOYMENTS, deployment("stuck", 2, progressDeadlineSeconds=60), ns)

        async def conditions() -> dict[str, Any]:
            got = await client.get(DEPLOYMENTS, "stuck", ns)
            return {c["type"]: c for c in got.get("status", {}).get("conditions", [])}

        async def created() -> Any:
            conds = await conditions()
            return conds if "Available" in conds else None

        conds = await eventually(created)
        # NewReplicaSetCreated ('Created new replica set "stuck-..."'), then ReplicaSetUpdated
        # as its pods appear.
        progressing = conds["Progressing"]
        assert (progressing["reason"], progressing["message"].split('"')[0]) in (
            ("NewReplicaSetCreated", "Created new replica set "),
            ("ReplicaSetUpdated", "ReplicaSet "),
        )
        assert (conds["Available"]["status"], conds["Available"]["reason"]) == (
            "False",
            "MinimumReplicasUnavailable",
        )

        async def all_created() -> Any:
            got = await client.get(DEPLOYMENTS, "stuck", ns)
            progressing = (await conditions()).get("Progressing", {})
            return (
                got["status"].get("updatedReplicas") == 2
                and progressing.get("reason") == "ReplicaSetUpdated"
            )

        await eventually(all_created)
        _LateDeploymentController.skew = 61.0
        await client.patch(DEPLOYMENTS, "stuck", {"metadata": {"labels": {"poke": "1"}}}, ns)

        async def timed_out() -> Any:
            conds = await conditions()
            progressing = conds.get("Progressing", {})
            return progressing if progressing.get("reason") == "ProgressDeadlineExceeded" else None

        progressing = await eventually(timed_out)
        assert progressing["status"] == "False"
        assert progressing["message"].endswith("has timed out progressing.")
