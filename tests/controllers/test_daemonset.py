"""One daemon pod per eligible node, rolled over node by node when the template changes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kube.api.errors import APIError
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.daemonset import daemon_tolerations, node_should_run, pod_node
from tests.controllers.conftest import controllers, eventually, set_pod_phase

NAMESPACES = resource("namespaces")
NODES = resource("nodes")
PODS = resource("pods")
DAEMONSETS = resource("daemonsets")
REVISIONS = resource("controllerrevisions")


@contextlib.asynccontextmanager
async def kubelet(client: RESTClient, ns: str) -> AsyncIterator[None]:
    """Marks every pod of the namespace Running and Ready as it appears."""

    async def loop() -> None:
        while True:
            for pod in (await client.list(PODS, ns))["items"]:
                if (pod.get("status") or {}).get("phase") != "Running" and not pod["metadata"].get(
                    "deletionTimestamp"
                ):
                    pod.setdefault("metadata", {})["namespace"] = ns
                    try:
                        await set_pod_phase(client, pod, "Running")
                    except APIError as err:  # deleted since the list (a rolling update)
                        if err.code != 404:
                            raise
            await asyncio.sleep(0.1)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_pods_on_eligible_nodes_and_a_rolling_update(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "ds"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    for name, labels, node_taints in (
        ("ds-a", {"role": "edge"}, []),
        ("ds-b", {"role": "edge"}, []),
        ("ds-c", {"role": "core"}, []),
        ("ds-d", {"role": "edge"}, [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    ):
        await client.create(
            NODES, {"metadata": {"name": name, "labels": labels}, "spec": {"taints": node_taints}}
        )
    ds = {
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "nodeSelector": {"role": "edge"},
                    "containers": [{"name": "agent", "image": "agent:1"}],
                },
            },
        },
    }
    await client.create(DAEMONSETS, ds, ns)
    async with controllers(bare_cluster, "daemonset"), kubelet(client, ns):

        async def placed() -> Any:
            pods = (await client.list(PODS, ns))["items"]
            nodes = sorted(pod_node(p) for p in pods if not p["metadata"].get("deletionTimestamp"))
            return pods if nodes == ["ds-a", "ds-b"] else None

        pods = await eventually(placed)
        sample = pods[0]
        assert sample["metadata"]["generateName"] == "agent-"
        assert sample["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
        keys = {t["key"] for t in sample["spec"]["tolerations"]}
        assert "node.kubernetes.io/unreachable" in keys

        async def status_ready() -> Any:
            status = (await client.get(DAEMONSETS, "agent", ns)).get("status") or {}
            return status if status.get("numberReady") == 2 else None

        status = await eventually(status_ready)
        assert status["desiredNumberScheduled"] == 2
        assert status["currentNumberScheduled"] == 2
        assert status["numberMisscheduled"] == 0
        assert status["updatedNumberScheduled"] == 2

        # A new image rolls over both nodes; one revision per template is kept.
        await client.patch(
            DAEMONSETS,
            "agent",
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "agent", "image": "agent:2"}]}}
                }
            },
            ns,
            patch_type="strategic",
        )

        async def rolled() -> bool:
            pods = [
                p
                for p in (await client.list(PODS, ns))["items"]
                if not p["metadata"].get("deletionTimestamp")
            ]
            images = sorted(p["spec"]["containers"][0]["image"] for p in pods)
            return images == ["agent:2", "agent:2"]

        await eventually(rolled, 15)
        revisions = (await client.list(REVISIONS, ns))["items"]
        assert sorted(r["revision"] for r in revisions) == [1, 2]

        # A node that stops matching loses its pod.
        await client.patch(NODES, "ds-b", {"metadata": {"labels": {"role": "core"}}})

        async def only_a() -> bool:
            pods = [
                p
                for p in (await client.list(PODS, ns))["items"]
                if not p["metadata"].get("deletionTimestamp")
            ]
            return sorted(pod_node(p) for p in pods) == ["ds-a"]

        await eventually(only_a)


def test_eligibility_counts_the_daemon_tolerations() -> None:
    template: dict[str, Any] = {"spec": {}}
    unschedulable = {
        "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
    }
    not_ready = {
        "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]},
    }
    custom = {
        "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "gpu", "effect": "NoSchedule"}]},
    }
    prefer = {
        "metadata": {"name": "n"},
        "spec": {"taints": [{"key": "gpu", "effect": "PreferNoSchedule"}]},
    }
    assert node_should_run(template, unschedulable)
    assert node_should_run(template, not_ready)
    assert not node_should_run(template, custom)
    assert node_should_run(template, prefer)
    host = {"spec": {"hostNetwork": True}}
    assert "node.kubernetes.io/network-unavailable" in {t["key"] for t in daemon_tolerations(host)}
