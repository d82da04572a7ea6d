"""Hollow nodes against a real API server: what the cluster sees of them.

Nodes registered Ready with their labels and a Lease in kube-node-lease, pods bound to them
Running with a podIP from the node's podCIDR, deleted pods gone, `run-for` pods Succeeded,
and a failed node's Lease no longer renewed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api import errors
from kube.api.resources import resource
from kube.cli.main import main as kube_main
from kube.client.rest import RESTClient
from kube.sim.hollow import HollowCluster, SimConfig
from kube.sim.shape import parse_duration, parse_shape
from tests.controllers.conftest import eventually

NODES = resource("nodes")
LEASES = resource("leases")
PODS = resource("pods")
NAMESPACES = resource("namespaces")


@contextlib.asynccontextmanager
async def hollow(kubeconfig: Path, nodes: int, **options: Any) -> AsyncIterator[HollowCluster]:
    """Run `nodes` hollow nodes (fast heartbeats, names unique to the test) until the block ends.

    They speak protobuf, as `kube sim up` does by default; the test reads back in JSON.
    """
    config = SimConfig(
        nodes=nodes,
        prefix=f"hollow-{uuid.uuid4().hex[:6]}-",
        run_delay=0.1,
        delete_delay=0.1,
        lease_interval=0.5,
        **options,
    )
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None, protobuf=True) as client:
        sim = HollowCluster(client, config)
        task = asyncio.create_task(sim.run())
        try:
            await asyncio.wait_for(sim.all_ready.wait(), 30)
            yield sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def namespace(client: RESTClient) -> str:
    name = f"sim-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def pod(name: str, node: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "busybox"}]},
    }


def ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


async def test_twenty_nodes_register_ready_with_leases(
    client: RESTClient, bare_cluster: Path
) -> None:
    async with hollow(bare_cluster, 20, zones=3) as sim:
        nodes = (await client.list(NODES, label_selector="sim.kube.io/hollow=true"))["items"]
        ours = sorted((n for n in nodes if n["metadata"]["name"] in sim.nodes), key=_index)
        assert len(ours) == 20
        assert all(ready(n) for n in ours)
        first = ours[0]
        labels = first["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == first["metadata"]["name"]
        assert labels["topology.kubernetes.io/zone"] == "zone-0"
        assert ours[4]["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-1"
        assert labels["node.kubernetes.io/instance-type"]
        assert labels["kubernetes.io/os"] == "linux"
        assert first["status"]["allocatable"]["cpu"] == "32"
        assert first["status"]["capacity"]["memory"] == "256Gi"
        assert first["status"]["capacity"]["pods"] == "110"
        assert first["status"]["nodeInfo"]["kubeletVersion"]
        for node in ours:
            lease = await client.get(LEASES, node["metadata"]["name"], "kube-node-lease")
            assert lease["spec"]["holderIdentity"] == node["metadata"]["name"]
            assert lease["spec"]["leaseDurationSeconds"] == 40
            assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]


def _index(node: dict[str, Any]) -> int:
    return int(node["metadata"]["name"].rsplit("-", 1)[1])


async def test_bound_pod_runs_with_an_ip_and_deleted_pod_disappears(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with hollow(bare_cluster, 2) as sim:
        node = sorted(sim.nodes)[1]
        await client.create(PODS, pod("web", node), ns)

        async def running() -> dict[str, Any] | None:
            got = await client.get(PODS, "web", ns)
            return got if got["status"].get("phase") == "Running" else None

        got = await eventually(running)
        cidr = (await client.get(NODES, node))["spec"]["podCIDR"]
        assert ipaddress.ip_address(got["status"]["podIP"]) in ipaddress.ip_network(cidr)
        assert got["status"]["podIPs"] == [{"ip": got["status"]["podIP"]}]
        assert got["status"]["hostIP"]
        (status,) = got["status"]["containerStatuses"]
        assert status["name"] == "app"
        assert status["ready"] is True
        assert "running" in status["state"]
        conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
        assert conditions["Ready"] == "True"

        await client.delete(PODS, "web", ns)  # graceful: 30 s unless the node finishes it

        async def gone() -> bool:
            try:
                await client.get(PODS, "web", ns)
            except errors.APIError as err:
                return err.code == 404
            return False

        assert await eventually(gone, seconds=5)


async def test_run_for_pod_finishes_succeeded(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with hollow(bare_cluster, 1) as sim:
        node = next(iter(sim.nodes))
        await client.create(PODS, pod("job", node, {"sim.kube.io/run-for": "1s"}), ns)

        async def phase() -> str | None:
            got = await client.get(PODS, "job", ns)
            value = got["status"].get("phase")
            return value if value == "Succeeded" else None

        assert await eventually(phase, seconds=10) == "Succeeded"
        got = await client.get(PODS, "job", ns)
        (status,) = got["status"]["containerStatuses"]
        assert status["state"]["terminated"]["exitCode"] == 0
        assert status["state"]["terminated"]["reason"] == "Completed"


async def test_failed_node_stops_renewing_its_lease(client: RESTClient, bare_cluster: Path) -> None:
    async with hollow(bare_cluster, 3) as sim:
        victim, healthy = sorted(sim.nodes)[:2]

        async def renew_time(name: str) -> str:
            lease = await client.get(LEASES, name, "kube-node-lease")
            return str(lease["spec"]["renewTime"])

        before = await renew_time(victim)

        async def moved() -> bool:
            return await renew_time(victim) != before

        assert await eventually(moved, seconds=5)  # renewed while healthy

        code = await asyncio.to_thread(
            kube_main, ["sim", "fail-node", victim, "--kubeconfig", str(bare_cluster)]
        )
        assert code == 0
        await eventually(lambda: _true(sim.nodes[victim].failed), seconds=5)
        await asyncio.sleep(0.6)  # a renewal already in flight lands
        frozen = await renew_time(victim)
        other = await renew_time(healthy)
        await asyncio.sleep(1.5)  # three renew intervals
        assert await renew_time(victim) == frozen
        assert await renew_time(healthy) != other

        # What the node lifecycle controller does to a silent node; then the node comes back.
        unknown = {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}
        await client.patch(
            NODES, victim, {"status": {"conditions": [unknown]}}, subresource="status"
        )
        await asyncio.sleep(0.5)
        assert not ready(await client.get(NODES, victim))  # a failed node does not answer
        code = await asyncio.to_thread(
            kube_main, ["sim", "fail-node", "--recover", victim, "--kubeconfig", str(bare_cluster)]
        )
        assert code == 0

        async def back() -> bool:
            return ready(await client.get(NODES, victim)) and await renew_time(victim) != frozen

        assert await eventually(back, seconds=5)


async def _true(value: bool) -> bool:
    return value


def test_node_shape_and_durations() -> None:
    shape = parse_shape("cpu=8,memory=64Gi", pods=30)
    assert (shape.cpu, shape.memory, shape.pods) == ("8", "64Gi", 30)
    assert parse_shape("pods=50").pods == 50
    with pytest.raises(ValueError, match="gpu"):
        parse_shape("gpu=1")
    with pytest.raises(ValueError, match="bad quantity"):
        parse_shape("cpu=lots")
    assert parse_duration("30s") == 30
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2") == 2
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("soon")
