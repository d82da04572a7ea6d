"""StatefulSet: ordered, stably named pods with their own claims, and ordered rolling updates."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kube.api.resources import resource
from kube.client.rest import RESTClient
from tests.controllers.conftest import controllers, eventually
from tests.controllers.test_daemonset import kubelet

NAMESPACES = resource("namespaces")
PODS = resource("pods")
PVCS = resource("persistentvolumeclaims")
STATEFULSETS = resource("statefulsets")


def _set(replicas: int, policy: str = "OrderedReady") -> dict[str, Any]:
    return {
        "metadata": {"name": "db"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


async def _live(client: RESTClient, ns: str) -> list[dict[str, Any]]:
    pods = (await client.list(PODS, ns))["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def test_ordered_creation_claims_scale_down_and_rolling_update(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "sts"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await client.create(STATEFULSETS, _set(3), ns)
    async with controllers(bare_cluster, "statefulset"):
        # Without a kubelet, OrderedReady stops after db-0: it never becomes Ready.
        await eventually(lambda: _names(client, ns, ["db-0"]))
        await asyncio.sleep(0.5)
        assert [p["metadata"]["name"] for p in await _live(client, ns)] == ["db-0"]
        pod = await client.get(PODS, "db-0", ns)
        assert pod["spec"]["hostname"] == "db-0"
        assert pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-0"
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "0"
        claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")
        assert claim["persistentVolumeClaim"]["claimName"] == "data-db-0"
        assert (await client.get(PVCS, "data-db-0", ns))["metadata"]["labels"] == {"app": "db"}

        async with kubelet(client, ns):
            await eventually(lambda: _names(client, ns, ["db-0", "db-1", "db-2"]), 15)

            async def ready() -> Any:
                status = (await client.get(STATEFULSETS, "db", ns)).get("status") or {}
                return status if status.get("readyReplicas") == 3 else None

            status = await eventually(ready)
            assert status["currentRevision"] == status["updateRevision"]

            # Scale down removes the highest ordinal; its claim is kept (Retain).
            await client.patch(STATEFULSETS, "db", {"spec": {"replicas": 2}}, ns)
            await eventually(lambda: _names(client, ns, ["db-0", "db-1"]))
            assert (await client.get(PVCS, "data-db-2", ns))["metadata"]["name"] == "data-db-2"

            # A new image rolls from the highest ordinal down.
            await client.patch(
                STATEFULSETS,
                "db",
                {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "db:2"}]}}}},
                ns,
                patch_type="strategic",
            )

            async def rolled() -> Any:
                status = (await client.get(STATEFULSETS, "db", ns)).get("status") or {}
                pods = await _live(client, ns)
                images = sorted(p["spec"]["containers"][0]["image"] for p in pods)
                done = images == ["db:2", "db:2"] and status.get("updatedReplicas") == 2
                return status if done else None

            status = await eventually(rolled, 20)
            assert status["currentRevision"] == status["updateRevision"]


async def _names(client: RESTClient, ns: str, want: list[str]) -> bool:
    return sorted(p["metadata"]["name"] for p in await _live(client, ns)) == want
