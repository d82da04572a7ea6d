"""A claim in use by a pod, or a volume still bound, stays until it is free."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kube.api import errors
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.volumeprotection import PV_FINALIZER, PVC_FINALIZER
from tests.controllers.conftest import controllers, eventually

NAMESPACES = resource("namespaces")
PODS = resource("pods")
PVCS = resource("persistentvolumeclaims")
PVS = resource("persistentvolumes")


async def _gone(client: RESTClient, res: object, name: str, ns: str | None = None) -> bool:
    try:
        await client.get(res, name, ns)  # type: ignore[arg-type]
    except errors.APIError as err:
        return err.code == 404
    return False


async def test_claim_in_use_waits_for_its_pod(bare_cluster: Path, client: RESTClient) -> None:
    ns = "pvc-prot"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    await client.create(PVCS, claim, ns)
    pod = {
        "metadata": {"name": "user"},
        "spec": {
            "containers": [{"name": "c", "image": "i"}],
            "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }
    await client.create(PODS, pod, ns)
    async with controllers(bare_cluster, "pvc-protection"):

        async def protected() -> bool:
            got = await client.get(PVCS, "data", ns)
            return PVC_FINALIZER in (got["metadata"].get("finalizers") or [])

        await eventually(protected)
        await client.delete(PVCS, "data", ns)
        await asyncio.sleep(0.5)
        held = await client.get(PVCS, "data", ns)
        assert held["metadata"]["deletionTimestamp"]  # Terminating while the pod uses it
        await client.delete(PODS, "user", ns, grace_period_seconds=0)
        await eventually(lambda: _gone(client, PVCS, "data", ns))


async def test_bound_volume_waits_until_released(bare_cluster: Path, client: RESTClient) -> None:
    volume = {
        "metadata": {"name": "pv-prot"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/pv-prot"},
        },
    }
    await client.create(PVS, volume)
    await client.patch(PVS, "pv-prot", {"status": {"phase": "Bound"}}, subresource="status")
    async with controllers(bare_cluster, "pv-protection"):

        async def protected() -> bool:
            got = await client.get(PVS, "pv-prot")
            return PV_FINALIZER in (got["metadata"].get("finalizers") or [])

        await eventually(protected)
        await client.delete(PVS, "pv-prot")
        await asyncio.sleep(0.5)
        assert (await client.get(PVS, "pv-prot"))["metadata"]["deletionTimestamp"]
        await client.patch(PVS, "pv-prot", {"status": {"phase": "Released"}}, subresource="status")
        await eventually(lambda: _gone(client, PVS, "pv-prot"))
