"""A node that stops renewing its Lease goes Unknown, is tainted, and its pods are evicted."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kube.api import errors
from kube.api.meta import now_rfc3339
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers import taints
from tests.controllers.conftest import controllers, eventually

NODES = resource("nodes")
LEASES = resource("leases")
PODS = resource("pods")
NAMESPACES = resource("namespaces")

OPTIONS = {
    "node-monitor-period": 0.2,
    "node-monitor-grace-period": 1.0,
    "node-startup-grace-period": 1.0,
    "node-eviction-rate": 100.0,
}


async def _node(client: RESTClient, name: str) -> None:
    await client.create(NODES, {"metadata": {"name": name}})
    now = now_rfc3339()
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "KubeletReady",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    await client.patch(NODES, name, {"status": {"conditions": [ready]}}, subresource="status")
    await client.create(
        LEASES,
        {
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro()},
        },
        "kube-node-lease",
    )


def _micro() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _renew(client: RESTClient, name: str) -> None:
    await client.patch(LEASES, name, {"spec": {"renewTime": _micro()}}, "kube-node-lease")


def _pod(name: str, node: str, tolerations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "i"}],
            "tolerations": tolerations,
        },
    }


async def test_silent_node_goes_unknown_gets_tainted_and_loses_its_pods(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns, node = "nlc", "node-silent"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await _node(client, node)
    brief = {
        "key": taints.UNREACHABLE,
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 2,
    }
    forever = {"key": taints.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    not_ready_too = {"key": taints.NOT_READY, "operator": "Exists", "effect": "NoExecute"}
    await client.create(PODS, _pod("brief", node, [brief, not_ready_too]), ns)
    await client.create(PODS, _pod("stays", node, [forever, not_ready_too]), ns)

    async with controllers(bare_cluster, "nodelifecycle", "taint-eviction-controller", **OPTIONS):
        # While the lease is renewed the node stays Ready and untainted.
        for _ in range(8):
            await _renew(client, node)
            await asyncio.sleep(0.25)
        got = await client.get(NODES, node)
        assert not (got.get("spec") or {}).get("taints")

        async def unknown() -> Any:
            n = await client.get(NODES, node)
            ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
            return n if ready["status"] == "Unknown" else None

        silent = await eventually(unknown, 5)
        ready = next(c for c in silent["status"]["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "NodeStatusUnknown"
        assert ready["message"] == "Kubelet stopped posting node status."

        async def tainted() -> Any:
            n = await client.get(NODES, node)
            return {(t["key"], t["effect"]) for t in (n.get("spec") or {}).get("taints") or []}

        assert await eventually(tainted) == {
            (taints.UNREACHABLE, "NoSchedule"),
            (taints.UNREACHABLE, "NoExecute"),
        }

        # Its pods are marked not ready; the one tolerating 2 s is evicted, the other stays.
        async def evicted() -> bool:
            try:
                pod = await client.get(PODS, "brief", ns)
            except errors.APIError as err:
                return err.code == 404
            return bool(pod["metadata"].get("deletionTimestamp"))

        await eventually(evicted, 8)
        stays = await client.get(PODS, "stays", ns)
        assert not stays["metadata"].get("deletionTimestamp")
        ready_cond = [c for c in stays["status"].get("conditions") or [] if c["type"] == "Ready"]
        assert all(c["status"] == "False" for c in ready_cond)

        # The node comes back: Ready again, the condition taints go.
        await _renew(client, node)
        now = now_rfc3339()
        back = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
        }
        await client.patch(
            NODES,
            node,
            {"status": {"conditions": [back]}},
            subresource="status",
            patch_type="strategic",
        )

        async def untainted() -> bool:
            n = await client.get(NODES, node)
            return not (n.get("spec") or {}).get("taints")

        await eventually(untainted)


def test_eviction_delay_follows_upstream_toleration_rules() -> None:
    taint = {"key": taints.UNREACHABLE, "effect": "NoExecute"}
    pod = {"spec": {"tolerations": []}}
    assert taints.eviction_delay(pod, [taint]) == 0.0
    pod = {"spec": {"tolerations": [{"operator": "Exists"}]}}
    assert taints.eviction_delay(pod, [taint]) is None
    pod = {
        "spec": {
            "tolerations": [
                {"key": taints.UNREACHABLE, "operator": "Exists", "tolerationSeconds": 30},
                {
                    "key": taints.UNREACHABLE,
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 10,
                },
            ]
        }
    }
    assert taints.eviction_delay(pod, [taint]) == 10.0
    equal = {"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"}
    assert taints.tolerates(equal, {"key": "k", "value": "v", "effect": "NoExecute"})
    assert not taints.tolerates(equal, {"key": "k", "value": "w", "effect": "NoExecute"})
    assert not taints.tolerates(equal, {"key": "k", "value": "v", "effect": "NoSchedule"})
