"""Deployments driven by the real kubectl, with the controllers running in this process.

kubectl runs as an asyncio subprocess so the event loop keeps running the ReplicaSet and
Deployment controllers (and a stand-in kubelet that makes new pods Running and Ready) while
kubectl waits: `rollout status` returns only because the rollout really completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kube.api.resources import resolve
from kube.client.rest import RESTClient
from tests.controllers.conftest import eventually
from tests.controllers.recording import kubelet, recording_controllers

KUBECTL = Path(sys.executable).parent / "kubectl"
DEPLOYMENTS = resolve("deployments")
REPLICASETS = resolve("replicasets")
PODS = resolve("pods")
NAMESPACES = resolve("namespaces")
assert DEPLOYMENTS
assert REPLICASETS
assert PODS
assert NAMESPACES

_ids = itertools.count()

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is installed by make setup")


class Kubectl:
    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.kubeconfig = kubeconfig
        self.namespace = namespace

    async def __call__(self, *args: str, stdin: str | None = None, ok: bool = True) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(KUBECTL),
            "--kubeconfig",
            str(self.kubeconfig),
            "-n",
            self.namespace,
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), 60
        )
        if ok:
            assert proc.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode() + (err.decode() if not ok else "")


@contextlib.asynccontextmanager
async def setup(client: RESTClient, kubeconfig: Path) -> Any:
    namespace = f"kubectl-rollout-{next(_ids)}"
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    async with (
        recording_controllers(kubeconfig, "replicaset", "deployment") as (_, events),
        kubelet(client, namespace, delay=0.05),
    ):
        yield Kubectl(kubeconfig, namespace), namespace, events


async def ready_pods(client: RESTClient, namespace: str) -> list[dict[str, Any]]:
    items = (await client.list(PODS, namespace))["items"]
    return [
        p
        for p in items
        if not p["metadata"].get("deletionTimestamp")
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", [])
        )
    ]


async def test_create_scale_up_and_down(client: RESTClient, bare_cluster: Path) -> None:
    async with setup(client, bare_cluster) as (kubectl, ns, events):
        out = await kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=3")
        assert out.strip() == "deployment.apps/web created"
        out = await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert 'deployment "web" successfully rolled out' in out
        assert len(await ready_pods(client, ns)) == 3

        out = await kubectl("scale", "deployment/web", "--replicas=5")
        assert out.strip() == "deployment.apps/web scaled"
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        assert len(await ready_pods(client, ns)) == 5

        await kubectl("scale", "deployment/web", "--replicas=2")
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")

        async def two() -> bool:
            return len((await client.list(PODS, ns))["items"]) == 2

        await eventually(two)
        rs = (await client.list(REPLICASETS, ns))["items"]
        assert len(rs) == 1
        name = rs[0]["metadata"]["name"]
        assert events.messages("ScalingReplicaSet", "web", ns) == [
            f"Scaled up replica set {name} from 0 to 3",
            f"Scaled up replica set {name} from 3 to 5",
            f"Scaled down replica set {name} from 5 to 2",
        ]
        out = await kubectl("get", "deployment", "web")
        assert out.splitlines()[1].split()[:4] == ["web", "2/2", "2", "2"]


async def test_set_image_rolls_within_surge_and_unavailability(
    client: RESTClient, bare_cluster: Path
) -> None:
    async with setup(client, bare_cluster) as (kubectl, ns, _):
        await kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=3")
        await kubectl(
            "patch",
            "deployment/web",
            "-p",
            json.dumps(
                {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}}
            ),
        )
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")

        # Watch every pod change while the image changes: at most 3 + 1 pods, at least 3 ready.
        seen: dict[str, dict[str, Any]] = {}
        worst = {"most": 0, "fewest_ready": 99}
        start = (await client.list(PODS, ns))["metadata"]["resourceVersion"]
        for pod in (await client.list(PODS, ns))["items"]:
            seen[pod["metadata"]["uid"]] = pod

        def record() -> None:
            alive = [p for p in seen.values() if not p["metadata"].get("deletionTimestamp")]
            ready = [
                p
                for p in alive
                if any(
                    c["type"] == "Ready" and c["status"] == "True"
                    for c in p.get("status", {}).get("conditions", [])
                )
            ]
            worst["most"] = max(worst["most"], len(alive))
            worst["fewest_ready"] = min(worst["fewest_ready"], len(ready))

        async def watch() -> None:
            async for event in client.watch(PODS, ns, resource_version=start):
                if event.type == "BOOKMARK":
                    continue
                uid = event.object["metadata"]["uid"]
                if event.type == "DELETED":
                    seen.pop(uid, None)
                else:
                    seen[uid] = event.object
                record()

        record()
        watcher = asyncio.create_task(watch())
        try:
            out = await kubectl("set", "image", "deployment/web", "nginx=nginx:1.26")
            assert out.strip() == "deployment.apps/web image updated"
            out = await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
            assert 'deployment "web" successfully rolled out' in out
            await asyncio.sleep(0.3)  # let the watch deliver the last deletions
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        assert worst == {"most": 4, "fewest_ready": 3}
        images = {p["spec"]["containers"][0]["image"] for p in await ready_pods(client, ns)}
        assert images == {"nginx:1.26"}


async def test_history_undo_pause_and_resume(client: RESTClient, bare_cluster: Path) -> None:
    async with setup(client, bare_cluster) as (kubectl, ns, _):
        await kubectl("create", "deployment", "web", "--image=nginx:1.25", "--replicas=2")
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        await kubectl("set", "image", "deployment/web", "nginx=nginx:1.26")
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")

        out = await kubectl("rollout", "history", "deployment/web")
        rows = [line.split()[0] for line in out.splitlines()[2:] if line.strip()]
        assert out.splitlines()[0].strip() == "deployment.apps/web"
        assert out.splitlines()[1].split() == ["REVISION", "CHANGE-CAUSE"]
        assert rows == ["1", "2"]
        out = await kubectl("rollout", "history", "deployment/web", "--revision=1")
        assert "nginx:1.25" in out

        out = await kubectl("rollout", "undo", "deployment/web")
        assert out.strip() == "deployment.apps/web rolled back"
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        d = await client.get(DEPLOYMENTS, "web", ns)
        assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
        assert "pod-template-hash" not in d["spec"]["template"]["metadata"]["labels"]

        async def revision_three() -> Any:
            d = await client.get(DEPLOYMENTS, "web", ns)
            return d["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "3"

        await eventually(revision_three)
        out = await kubectl("rollout", "history", "deployment/web")
        assert [line.split()[0] for line in out.splitlines()[2:] if line.strip()] == ["2", "3"]
        # The first ReplicaSet came back as revision 3 and remembers it was revision 1.
        sets = (await client.list(REPLICASETS, ns))["items"]
        back = next(
            rs
            for rs in sets
            if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
        )
        annotations = back["metadata"]["annotations"]
        assert annotations["deployment.kubernetes.io/revision"] == "3"
        assert annotations["deployment.kubernetes.io/revision-history"] == "1"
        images = {p["spec"]["containers"][0]["image"] for p in await ready_pods(client, ns)}
        assert images == {"nginx:1.25"}

        # Paused: a template change makes no new ReplicaSet; resuming rolls it out.
        out = await kubectl("rollout", "pause", "deployment/web")
        assert out.strip() == "deployment.apps/web paused"
        await kubectl("set", "image", "deployment/web", "nginx=nginx:1.27")

        async def paused_condition() -> Any:
            d = await client.get(DEPLOYMENTS, "web", ns)
            conds = {c["type"]: c for c in d.get("status", {}).get("conditions", [])}
            return conds.get("Progressing", {}).get("reason") == "DeploymentPaused"

        await eventually(paused_condition)
        await asyncio.sleep(0.3)
        assert len((await client.list(REPLICASETS, ns))["items"]) == 2
        out = await kubectl("rollout", "resume", "deployment/web")
        assert out.strip() == "deployment.apps/web resumed"
        await kubectl("rollout", "status", "deployment/web", "--timeout=30s")
        images = {p["spec"]["containers"][0]["image"] for p in await ready_pods(client, ns)}
        assert images == {"nginx:1.27"}
        assert len((await client.list(REPLICASETS, ns))["items"]) == 3
