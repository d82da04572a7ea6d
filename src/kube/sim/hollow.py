"""Hollow nodes: thousands of fake kubelets in one asyncio process, sharing one client.

Each hollow node is, as far as the API can tell, a kubelet: it registers its Node, renews
its Lease in kube-node-lease every 10 s, reports its status, and "runs" the pods bound to it.
What makes 5,000 of them cheap (kubemark needs a core per ten):

- one `RESTClient` (one connection pool, no client-side throttling; protobuf from the CLI,
  as kubelets speak, which cuts the time to 5,000 Ready by a third) for all of them, and a
  semaphore bounding how many requests are in flight, so registering 5,000 nodes queues
  instead of opening 5,000 connections;
- one pod informer for every node (a watch of all pods, filtered here through the node-name
  index) and one node informer (our own Nodes, by the hollow label): two watches, not 10,000;
- heartbeats spread over the interval by node index, so the leases do not renew in one burst;
- each node's Lease object is kept and PUT back (GET only after a conflict), one request
  per renewal as upstream's kubelet does.

A node is made to fail by the annotation `sim.kube.io/fail: "true"` on its Node (what
`kube sim fail-node` sets): it stops renewing its Lease and reporting status and stops
acting on its pods, so the node lifecycle controller marks it NotReady and evicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.clock import Clock, RealClock
from kube.client.informer import (
    NODE_NAME_INDEX,
    DeletedFinalStateUnknown,
    EventHandler,
    Informer,
    node_name_index,
)
from kube.client.rest import RESTClient
from kube.sim import shape as sh

log = logging.getLogger("kube.sim")

NODES = resource("nodes")
LEASES = resource("leases")
PODS = resource("pods")


@dataclass
class SimConfig:
    """How many hollow nodes, what they look like, and how fast they act."""

    nodes: int
    shape: sh.NodeShape = field(default_factory=sh.NodeShape)
    zones: int = 3
    prefix: str = "hollow-node-"
    run_delay: float = 1.0
    delete_delay: float = 0.5
    lease_interval: float = 10.0
    # upstream's kubelet nodeStatusReportFrequency: an unchanged status is PATCHed every 5 min
    # (the Lease says "alive" every 10 s).
    status_interval: float = 300.0
    # API requests in flight (and connections). 5,000 nodes renew 500 Leases/s: at 100 ms
    # a request, 64 left about 140 requests/s for pods, and a 10,000-pod Deployment went
    # Running 25-30 s behind its scheduling; with 256 it follows within a few seconds.
    concurrency: int = 256


@dataclass
class HollowNode:
    """One fake kubelet's state: its name, index, Lease copy and whether it was failed."""

    name: str
    index: int
    uid: str = ""
    cidr: str = ""
    host_ip: str = ""
    lease: Object | None = None
    conditions: list[Any] = field(default_factory=list)
    failed: bool = False
    registered: bool = False
    reporting: bool = False
    next_slot: int = 0
    renewals: int = 0


def node_is_ready(node: Object) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


class HollowCluster:
    """N hollow nodes against one API server; `run()` until cancelled or `stop()`."""

    def __init__(self, client: RESTClient, config: SimConfig, clock: Clock | None = None) -> None:
        self.client = client
        self.config = config
        self.clock = clock or RealClock()
        width = max(5, len(str(max(0, config.nodes - 1))))
        self.nodes: dict[str, HollowNode] = {
            f"{config.prefix}{i:0{width}d}": HollowNode(f"{config.prefix}{i:0{width}d}", i)
            for i in range(config.nodes)
        }
        self.sem = asyncio.Semaphore(config.concurrency)
        self.node_informer = Informer(client, NODES, label_selector=f"{sh.HOLLOW_LABEL}=true")
        self.pod_informer = Informer(client, PODS)
        self.pod_informer.add_indexer(NODE_NAME_INDEX, node_name_index)
        self.ready: set[str] = set()
        self.all_ready = asyncio.Event()
        self.errors = 0
        self.registered = 0  # nodes whose Node and Lease this process has written
        self._busy: set[str] = set()  # pod uids with an action in flight
        self._finishing: set[str] = set()  # pod uids with a run-for timer
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the informers, register every node, then keep them alive until cancelled."""
        self.node_informer.add_event_handler(
            EventHandler(on_add=self._node_seen, on_update=lambda _o, n: self._node_seen(n))
        )
        self.pod_informer.add_event_handler(
            EventHandler(
                on_add=self._pod_seen,
                on_update=lambda _o, n: self._pod_seen(n),
                on_delete=self._pod_gone,
            )
        )
        self.node_informer.start()
        self.pod_informer.start()
        try:
            await asyncio.gather(*(self._node_loop(n) for n in self.nodes.values()))
        finally:
            for task in list(self._tasks):
                task.cancel()
            await self.node_informer.stop()
            await self.pod_informer.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call(self, func: Callable[[], Coroutine[Any, Any, Object]]) -> Object:
        async with self.sem:
            return await func()

    # -- nodes ----------------------------------------------------------------------------

    async def _node_loop(self, node: HollowNode) -> None:
        while not node.registered:
            try:
                await self._register(node)
            except (errors.APIError, OSError) as err:
                self.errors += 1
                log.warning("registering %s failed: %s", node.name, err)
                await self.clock.sleep(1.0)
        interval = self.config.lease_interval
        phase = interval * node.index / max(1, self.config.nodes)
        status_every = max(1, round(self.config.status_interval / interval))
        # Nodes register within seconds of each other: counting from registration would
        # send every status report in the same Lease interval (a wave of PATCHes every
        # status_interval); starting at the node's index spreads them over the interval.
        tick = node.index % status_every
        while True:
            now = self.clock.now()
            # The next instant congruent to this node's phase: heartbeats spread evenly.
            await self.clock.sleep_until(
                phase + math.floor((now - phase) / interval + 1) * interval
            )
            if node.failed:
                continue
            tick += 1
            try:
                await self._renew_lease(node)
                if tick % status_every == 0:
                    await self._report_status(node)
            except (errors.APIError, OSError) as err:
                self.errors += 1
                log.warning("heartbeat of %s failed: %s", node.name, err)

    async def _register(self, node: HollowNode) -> None:
        cfg = self.config
        body = sh.node_object(node.name, node.index, cfg.zones, cfg.shape)
        try:
            created = await self._call(lambda: self.client.create(NODES, body))
        except errors.APIError as err:
            if err.code != 409:
                raise
            created = await self._call(lambda: self.client.get(NODES, node.name))
        spec = created.get("spec") or {}
        node.uid = str((created.get("metadata") or {}).get("uid") or "")
        node.cidr = str(spec.get("podCIDR") or sh.pod_cidr(node.index))
        node.host_ip = sh.node_ip(node.index)
        node.failed = _failed(created)
        node.conditions = list((created.get("status") or {}).get("conditions") or [])
        if not node_is_ready(created):  # a server that dropped the status on create
            await self._report_status(node)
        await self._renew_lease(node)
        node.registered = True
        self.registered += 1
        self._count_ready(node, self.node_informer.indexer.get(node.name))

    async def _report_status(self, node: HollowNode) -> None:
        seen = self.node_informer.indexer.get(node.name)
        previous = (seen.get("status") or {}).get("conditions") if seen else None
        status = sh.node_status(
            node.name, node.index, self.config.shape, previous or node.conditions
        )
        answer = await self._call(
            lambda: self.client.patch(NODES, node.name, {"status": status}, subresource="status")
        )
        node.conditions = list((answer.get("status") or {}).get("conditions") or [])

    async def _renew_lease(self, node: HollowNode) -> None:
        lease = node.lease
        if lease is None:
            try:
                node.lease = await self._call(
                    lambda: self.client.create(
                        LEASES, sh.lease_object(node.name, node.uid), sh.LEASE_NAMESPACE
                    )
                )
                node.renewals += 1
                return
            except errors.APIError as err:
                if err.code != 409:
                    raise
                lease = await self._call(
                    lambda: self.client.get(LEASES, node.name, sh.LEASE_NAMESPACE)
                )
        spec = lease.setdefault("spec", {})
        spec.update(
            {
                "holderIdentity": node.name,
                "leaseDurationSeconds": sh.LEASE_DURATION,
                "renewTime": sh.now_micro(),
            }
        )
        try:
            node.lease = await self._call(lambda: self.client.update(LEASES, lease))
            node.renewals += 1
        except errors.APIError as err:
            node.lease = None if err.code == 404 else node.lease
            if err.code == 409:  # someone else wrote it: fetch, renew next time
                node.lease = await self._call(
                    lambda: self.client.get(LEASES, node.name, sh.LEASE_NAMESPACE)
                )
            elif err.code != 404:
                raise

    def _node_seen(self, obj: Object) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        node = self.nodes.get(name)
        if node is None:
            return
        failed = _failed(obj)
        if failed != node.failed:
            log.info("hollow node %s %s", name, "failed" if failed else "recovered")
            node.failed = failed
            if not failed:  # catch up with what its pods did while it was down
                for pod in self.pod_informer.indexer.by_index(NODE_NAME_INDEX, name):
                    self._pod_seen(pod)
        self._count_ready(node, obj)
        if node.registered and not node.failed and not node.reporting and not node_is_ready(obj):
            # Someone (the node lifecycle controller) says we are not Ready: as a kubelet
            # whose status differs from the API's, report at once rather than in 60 s.
            node.reporting = True
            self._spawn(self._report_now(node))

    async def _report_now(self, node: HollowNode) -> None:
        try:
            await self._report_status(node)
        except (errors.APIError, OSError) as err:
            self.errors += 1
            log.warning("status of %s failed: %s", node.name, err)
        finally:
            node.reporting = False

    def _count_ready(self, node: HollowNode, obj: Object | None) -> None:
        """Ready = registered with its Lease here and seen Ready by the cluster (the watch)."""
        if node.registered and obj is not None and node_is_ready(obj):
            self.ready.add(node.name)
            if len(self.ready) == len(self.nodes):
                self.all_ready.set()
        else:
            self.ready.discard(node.name)

    # -- pods -----------------------------------------------------------------------------

    def _pod_seen(self, pod: Object) -> None:
        node = self.nodes.get(str((pod.get("spec") or {}).get("nodeName") or ""))
        if node is None or node.failed or not node.registered:
            return
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        if uid in self._busy:
            return
        if meta.get("deletionTimestamp"):
            self._busy.add(uid)
            self._spawn(self._finish_delete(pod, uid))
        elif phase == "Pending":
            self._busy.add(uid)
            self._spawn(self._start(node, pod, uid))
        elif phase == "Running" and uid not in self._finishing:
            run_for = _run_for(pod)
            if run_for is not None:
                self._finishing.add(uid)
                self._spawn(self._succeed_after(pod, uid, run_for))

    def _pod_gone(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        self._finishing.discard(uid)

    async def _start(self, node: HollowNode, pod: Object, uid: str) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.clock.sleep(self.config.run_delay)
            current = self.pod_informer.indexer.get(f"{meta.get('namespace')}/{meta.get('name')}")
            if current is None or (current.get("metadata") or {}).get("uid") != uid:
                return
            if (current.get("metadata") or {}).get("deletionTimestamp"):
                return
            ip = sh.pod_ip(node.cidr, node.next_slot)
            node.next_slot += 1
            status = sh.running_status(current, node.host_ip, ip)
            await self._patch_status(current, status)
        finally:
            self._busy.discard(uid)
            # Deleted while starting: the delete's event was skipped while busy, finish it now.
            latest = self.pod_informer.indexer.get(f"{meta.get('namespace')}/{meta.get('name')}")
            if latest is not None and (latest.get("metadata") or {}).get("deletionTimestamp"):
                self._pod_seen(latest)

    async def _succeed_after(self, pod: Object, uid: str, seconds: float) -> None:
        meta = pod.get("metadata") or {}
        await self.clock.sleep(seconds)
        current = self.pod_informer.indexer.get(f"{meta.get('namespace')}/{meta.get('name')}")
        if current is None or (current.get("metadata") or {}).get("uid") != uid:
            return
        node = self.nodes.get(str((current.get("spec") or {}).get("nodeName") or ""))
        if node is None or node.failed:
            self._finishing.discard(uid)
            return
        await self._patch_status(current, sh.succeeded_status(current))

    async def _finish_delete(self, pod: Object, uid: str) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.clock.sleep(self.config.delete_delay)
            await self._call(
                lambda: self.client.delete(
                    PODS,
                    str(meta.get("name")),
                    str(meta.get("namespace")),
                    grace_period_seconds=0,
                    preconditions={"uid": uid},
                )
            )
        except errors.APIError as err:
            if err.code not in (404, 409):
                self.errors += 1
                log.warning("deleting pod %s failed: %s", meta.get("name"), err)
        finally:
            self._busy.discard(uid)

    async def _patch_status(self, pod: Object, status: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        patch = {"metadata": {"uid": meta.get("uid")}, "status": status}
        try:
            await self._call(
                lambda: self.client.patch(
                    PODS,
                    str(meta.get("name")),
                    patch,
                    str(meta.get("namespace")),
                    subresource="status",
                )
            )
        except errors.APIError as err:
            if err.code not in (404, 409):
                self.errors += 1
                log.warning("pod status of %s failed: %s", meta.get("name"), err)

    # -- what a summary reports -----------------------------------------------------------

    def pods_running(self) -> int:
        count = 0
        for name in self.nodes:
            for pod in self.pod_informer.indexer.by_index(NODE_NAME_INDEX, name):
                if (pod.get("status") or {}).get("phase") == "Running":
                    count += 1
        return count


def _failed(node: Object) -> bool:
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(sh.FAIL_ANNOTATION, "")).lower() == "true"


def _run_for(pod: Object) -> float | None:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(sh.RUN_FOR_ANNOTATION)
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return sh.parse_duration(str(value))
    return None
