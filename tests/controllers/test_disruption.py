"""PodDisruptionBudget status from its pods, and evictions that respect it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kube.api import errors
from kube.api.resources import resource
from kube.client.rest import RESTClient
from tests.controllers.conftest import controllers, eventually, set_pod_phase

NAMESPACES = resource("namespaces")
PODS = resource("pods")
PDBS = resource("poddisruptionbudgets")
REPLICASETS = resource("replicasets")


async def _pods(
    client: RESTClient, ns: str, count: int, owner: dict[str, Any] | None = None
) -> None:
    for i in range(count):
        meta: dict[str, Any] = {"name": f"web-{i}", "labels": {"app": "web"}}
        if owner:
            meta["ownerReferences"] = [owner]
        pod = await client.create(
            PODS,
            {
                "metadata": meta,
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            },
            ns,
        )
        await set_pod_phase(client, pod, "Running")


async def _status(client: RESTClient, ns: str, name: str) -> dict[str, Any]:
    return (await client.get(PDBS, name, ns)).get("status") or {}


async def test_min_available_counts_ready_pods_and_gates_evictions(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "pdb-min"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await _pods(client, ns, 3)
    await client.create(
        PDBS,
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        },
        ns,
    )
    async with controllers(bare_cluster, "disruption"):

        async def allowed_one() -> dict[str, Any] | None:
            status = await _status(client, ns, "web")
            return status if status.get("disruptionsAllowed") == 1 else None

        status = await eventually(allowed_one)
        assert (status["currentHealthy"], status["desiredHealthy"], status["expectedPods"]) == (
            3,
            2,
            3,
        )
        cond = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
        assert (cond["status"], cond["reason"]) == ("True", "SufficientPods")

        # One eviction is allowed (the pod goes Terminating); the budget is then spent.
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "web-0", "namespace": ns},
        }
        await client.create(PODS, eviction, ns, name="web-0", subresource="eviction")

        async def spent() -> dict[str, Any] | None:
            status = await _status(client, ns, "web")
            return status if status.get("disruptionsAllowed") == 0 else None

        status = await eventually(spent)
        cond = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
        assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")
        second = {**eviction, "metadata": {"name": "web-1", "namespace": ns}}
        with pytest.raises(errors.APIError) as refused:
            await client.create(PODS, second, ns, name="web-1", subresource="eviction")
        assert refused.value.code == 429
        assert "Cannot evict pod as it would violate the pod's disruption budget." in (
            refused.value.message
        )


async def test_max_unavailable_uses_the_controllers_scale(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "pdb-max"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    rs = await client.create(
        REPLICASETS,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]},
                },
            },
        },
        ns,
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    await _pods(client, ns, 3, owner)  # one of the four is missing
    await client.create(
        PDBS,
        {
            "metadata": {"name": "web"},
            "spec": {"maxUnavailable": "25%", "selector": {"matchLabels": {"app": "web"}}},
        },
        ns,
    )
    async with controllers(bare_cluster, "disruption"):

        async def computed() -> dict[str, Any] | None:
            status = await _status(client, ns, "web")
            return status if "expectedPods" in status else None

        status = await eventually(computed)
        # 4 expected, 25 % of 4 = 1 may be unavailable: 3 must be healthy, 3 are: none to spare.
        assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"]) == (
            4,
            3,
            3,
        )
        assert status["disruptionsAllowed"] == 0
