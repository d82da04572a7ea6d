"""podgc: terminated pods beyond the threshold, orphans of deleted nodes, unscheduled ones."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kube.api.errors import APIError
from kube.api.resources import resource
from kube.client.clock import FakeClock
from kube.client.informer import SharedInformerFactory
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.manager import run_controllers
from kube.controllers.podgc import terminated_to_delete
from tests.controllers.conftest import eventually, set_pod_phase

PODS = resource("pods")
NODES = resource("nodes")
NAMESPACES = resource("namespaces")
KEEP = "example.com/keep"  # a finalizer, so a deleted pod stays visible to the test
_ids = itertools.count()


@contextlib.asynccontextmanager
async def fake_time(kubeconfig: Path, **options: Any) -> AsyncIterator[FakeClock]:
    clock = FakeClock()
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as rest:
        ctx = ControllerContext(rest, SharedInformerFactory(rest), clock=clock, options=options)
        task = asyncio.create_task(run_controllers(ctx, ["podgc"]))
        try:
            await asyncio.wait_for(ctx.informers.wait_for_cache_sync(), 10)
            yield clock
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def namespace(client: RESTClient) -> str:
    name = f"podgc-{next(_ids)}-{id(client) % 100000}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def pod(name: str, node: str = "", finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec}


async def release(client: RESTClient, ns: str) -> None:
    """Drop the test finalizers so the namespace's pods can go."""
    for item in (await client.list(PODS, ns))["items"]:
        if item["metadata"].get("finalizers"):
            with contextlib.suppress(APIError):
                await client.patch(
                    PODS, item["metadata"]["name"], {"metadata": {"finalizers": None}}, ns
                )


async def test_terminated_pods_beyond_threshold(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    for name, phase in (("a", "Succeeded"), ("b", "Failed"), ("c", "Succeeded"), ("d", "Failed")):
        created = await client.create(PODS, pod(name), ns)
        await set_pod_phase(client, created, phase)
    await client.create(PODS, pod("running"), ns)
    # "d" was evicted: evicted pods go first, then the oldest (here: by name, same second).
    await client.patch(PODS, "d", {"status": {"reason": "Evicted"}}, ns, subresource="status")
    async with fake_time(bare_cluster, **{"terminated-pod-gc-threshold": 2}):

        async def left() -> list[str] | None:
            names = sorted(p["metadata"]["name"] for p in (await client.list(PODS, ns))["items"])
            return names if len(names) == 3 else None

        assert await eventually(left) == ["b", "c", "running"]


async def test_orphans_of_deleted_nodes_after_quarantine(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    await client.create(NODES, {"metadata": {"name": "podgc-alive"}})
    orphan = await client.create(PODS, pod("orphan", "podgc-ghost", [KEEP]), ns)
    await set_pod_phase(client, orphan, "Running")
    await client.create(PODS, pod("housed", "podgc-alive"), ns)
    try:
        async with fake_time(bare_cluster) as clock:
            await asyncio.sleep(0.3)
            await clock.advance(20)
            await asyncio.sleep(0.3)
            # Still quarantined (40 s from the first pass).
            got = await client.get(PODS, "orphan", ns)
            assert not got["metadata"].get("deletionTimestamp")
            await clock.advance(20)

            async def deleted() -> dict[str, Any] | None:
                got = await client.get(PODS, "orphan", ns)
                return got if got["metadata"].get("deletionTimestamp") else None

            got = await eventually(deleted)
            assert got["status"]["phase"] == "Failed"
            assert got["metadata"]["deletionGracePeriodSeconds"] == 0
            (cond,) = [c for c in got["status"]["conditions"] if c["type"] == "DisruptionTarget"]
            assert cond["status"] == "True"
            assert cond["reason"] == "DeletionByPodGC"
            assert cond["message"] == "PodGC: node no longer exists"
            housed = await client.get(PODS, "housed", ns)
            assert not housed["metadata"].get("deletionTimestamp")
    finally:
        await release(client, ns)
        await client.delete(NODES, "podgc-alive")


async def test_unscheduled_terminating_pods_are_failed_and_deleted(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    await client.create(PODS, pod("stuck", finalizers=[KEEP]), ns)
    await client.delete(PODS, "stuck", ns)
    try:
        async with fake_time(bare_cluster):

            async def failed() -> bool:
                got = await client.get(PODS, "stuck", ns)
                return got.get("status", {}).get("phase") == "Failed"

            await eventually(failed)
    finally:
        await release(client, ns)


def test_terminated_order() -> None:
    def p(name: str, created: str, phase: str, reason: str = "") -> dict[str, Any]:
        status = {"phase": phase, **({"reason": reason} if reason else {})}
        return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}

    pods = [
        p("new", "2024-01-03T00:00:00Z", "Succeeded"),
        p("old", "2024-01-01T00:00:00Z", "Failed"),
        p("evicted", "2024-01-05T00:00:00Z", "Failed", "Evicted"),
        p("live", "2023-01-01T00:00:00Z", "Running"),
    ]
    assert [x["metadata"]["name"] for x in terminated_to_delete(pods, 1)] == ["evicted", "old"]
    assert terminated_to_delete(pods, 3) == []
