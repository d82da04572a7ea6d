"""The node lifecycle controller ("nodelifecycle"): notices nodes that stopped reporting.

Upstream pkg/controller/nodelifecycle. Every `node-monitor-period` (5 s) it looks at each
Node's heartbeats — its Lease in `kube-node-lease` (`spec.renewTime`) and its Ready
condition's `lastHeartbeatTime` — and remembers, on its own clock, when either last moved (the
"probe time", so skew between machines does not matter). A node whose probe time is older than
`node-monitor-grace-period` (40 s; `node-startup-grace-period`, 60 s, for a node that never
reported Ready) gets its Ready, MemoryPressure, DiskPressure and PIDPressure conditions set to
Unknown (reason `NodeStatusUnknown`, "Kubelet stopped posting node status."), and its pods'
Ready condition set to False.

It keeps the condition taints in step with the Ready condition, as upstream's
TaintNodesByCondition and the NoExecute tainting do:

- Ready False: `node.kubernetes.io/not-ready` NoSchedule and NoExecute;
- Ready Unknown: `node.kubernetes.io/unreachable` NoSchedule and NoExecute;
- Ready True: neither; `spec.unschedulable`: `node.kubernetes.io/unschedulable` NoSchedule.

Adding the NoExecute taints is rate limited (`node-eviction-rate`, 0.1 nodes per second, as
upstream's primary rate), since they make the taint eviction controller delete pods. Upstream's
per-zone disruption modes (slower rates when over 55 % of a zone is unhealthy, none when all
of it is) are not implemented.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from kube.api import errors
from kube.api.meta import Object, now_rfc3339
from kube.api.resources import resource
from kube.client.informer import (
    NODE_NAME_INDEX,
    DeletedFinalStateUnknown,
    EventHandler,
    node_name_index,
)
from kube.client.ratelimit import TokenBucket
from kube.controllers import taints
from kube.controllers.base import Controller, key_of
from kube.controllers.manager import register

NODES = resource("nodes")
LEASES = resource("leases")
PODS = resource("pods")
LEASE_NAMESPACE = "kube-node-lease"

DEFAULT_MONITOR_PERIOD = 5.0
DEFAULT_GRACE_PERIOD = 40.0
DEFAULT_STARTUP_GRACE_PERIOD = 60.0
DEFAULT_EVICTION_RATE = 0.1
NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
UNKNOWN_MESSAGE = "Kubelet stopped posting node status."


@dataclass
class _Health:
    """What this controller last saw of a node, and when (on its clock)."""

    heartbeat: tuple[str, str]
    probe_time: float
    ever_ready: bool


def ready_status(node: Object) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status") or "Unknown")
    return "Unknown"


def condition_taints(node: Object) -> list[dict[str, Any]]:
    """The condition taints a node should carry now (without timeAdded)."""
    ready = ready_status(node)
    wanted = []
    if ready == "False":
        wanted += [
            {"key": taints.NOT_READY, "effect": taints.NO_SCHEDULE},
            {"key": taints.NOT_READY, "effect": taints.NO_EXECUTE},
        ]
    elif ready == "Unknown":
        wanted += [
            {"key": taints.UNREACHABLE, "effect": taints.NO_SCHEDULE},
            {"key": taints.UNREACHABLE, "effect": taints.NO_EXECUTE},
        ]
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append({"key": taints.UNSCHEDULABLE, "effect": taints.NO_SCHEDULE})
    return wanted


MANAGED_TAINT_KEYS = (taints.NOT_READY, taints.UNREACHABLE, taints.UNSCHEDULABLE)


class NodeLifecycleController(Controller):
    NAME = "nodelifecycle"
    COMPONENT = "node-controller"
    WORKERS = 5

    def setup(self) -> None:
        options = self.ctx.options
        self.monitor_period = float(options.get("node-monitor-period", DEFAULT_MONITOR_PERIOD))
        self.grace = float(options.get("node-monitor-grace-period", DEFAULT_GRACE_PERIOD))
        self.startup_grace = float(
            options.get("node-startup-grace-period", DEFAULT_STARTUP_GRACE_PERIOD)
        )
        rate = float(options.get("node-eviction-rate", DEFAULT_EVICTION_RATE))
        self.evictions = TokenBucket(rate, 1, self.clock) if rate > 0 else None
        self.nodes = self.ctx.informers.informer(NODES)
        self.leases = self.ctx.informers.informer(LEASES)
        self.pods = self.ctx.informers.informer(PODS)
        self.pods.add_indexer(NODE_NAME_INDEX, node_name_index)
        self.health: dict[str, _Health] = {}
        # Taint changes are level-triggered by node key; the monitor loop marks health.
        self.nodes.add_event_handler(
            EventHandler(
                on_add=self.enqueue,
                on_update=lambda _old, new: self.enqueue(new),
                on_delete=self._forget,
            )
        )

    def _forget(self, obj: Object | DeletedFinalStateUnknown) -> None:
        self.health.pop(key_of(obj), None)

    async def run(self, workers: int | None = None) -> None:
        monitor = asyncio.create_task(self._monitor_loop(), name="nodelifecycle-monitor")
        try:
            await super().run(workers)
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_once()
            except Exception:
                self.log.exception("node health check failed")
            await self.clock.sleep(self.monitor_period)

    def _heartbeat(self, node: Object) -> tuple[str, str]:
        name = node["metadata"]["name"]
        lease = self.leases.lister().get(name, LEASE_NAMESPACE)
        renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
        beat = ""
        for cond in (node.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready":
                beat = str(cond.get("lastHeartbeatTime") or "")
        return renew, beat

    async def monitor_once(self) -> None:
        """One pass over every node: update probe times, mark the silent ones Unknown."""
        now = self.clock.now()
        for node in self.nodes.lister().list():
            name = node["metadata"]["name"]
            beat = self._heartbeat(node)
            ready = ready_status(node) == "True"
            seen = self.health.get(name)
            if seen is None:
                seen = self.health[name] = _Health(beat, now, ready)
            elif seen.heartbeat != beat:
                seen.heartbeat, seen.probe_time = beat, now
            seen.ever_ready = seen.ever_ready or ready
            grace = self.grace if seen.ever_ready else self.startup_grace
            if now - seen.probe_time > grace and not self._all_unknown(node):
                await self._mark_unknown(node)

    @staticmethod
    def _all_unknown(node: Object) -> bool:
        conditions = (node.get("status") or {}).get("conditions") or []
        by_type = {c.get("type"): c.get("status") for c in conditions}
        return by_type.get("Ready") == "Unknown" and all(
            by_type.get(t, "Unknown") == "Unknown" for t in NODE_CONDITIONS
        )

    async def _mark_unknown(self, node: Object) -> None:
        name = node["metadata"]["name"]
        stamp = now_rfc3339()
        conditions = copy.deepcopy((node.get("status") or {}).get("conditions") or [])
        present = {c.get("type") for c in conditions}
        for cond in conditions:
            if cond.get("type") in NODE_CONDITIONS and cond.get("status") != "Unknown":
                cond.update(
                    status="Unknown",
                    reason="NodeStatusUnknown",
                    message=UNKNOWN_MESSAGE,
                    lastTransitionTime=stamp,
                )
        for kind in NODE_CONDITIONS:
            if kind not in present:
                conditions.append(
                    {
                        "type": kind,
                        "status": "Unknown",
                        "reason": "NodeStatusNeverUpdated",
                        "message": "Kubelet never posted node status.",
                        "lastHeartbeatTime": stamp,
                        "lastTransitionTime": stamp,
                    }
                )
        self.log.info("node %s stopped posting status; marking it Unknown", name)
        await self.client.patch(
            NODES,
            name,
            {"status": {"conditions": conditions}},
            subresource="status",
            patch_type="strategic",
        )
        self.recorder.event(
            node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady"
        )
        for pod in self.pods.indexer.by_index(NODE_NAME_INDEX, name):
            await self._mark_pod_not_ready(pod)

    async def _mark_pod_not_ready(self, pod: Object) -> None:
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        conditions = copy.deepcopy(status.get("conditions") or [])
        changed = False
        for cond in conditions:
            if cond.get("type") == "Ready" and cond.get("status") != "False":
                cond.update(status="False", lastTransitionTime=now_rfc3339())
                changed = True
        if not changed:
            return
        meta = pod["metadata"]
        try:
            await self.client.patch(
                PODS,
                meta["name"],
                {"status": {"conditions": conditions}},
                meta.get("namespace"),
                subresource="status",
                patch_type="strategic",
            )
        except errors.APIError as err:
            if err.code != 404:
                raise

    async def sync(self, key: str) -> None:
        """Bring the node's condition taints in line with its conditions."""
        node = self.nodes.lister().get(key)
        if node is None:
            return
        current = taints.node_taints(node)
        wanted = condition_taints(node)
        kept = [t for t in current if t.get("key") not in MANAGED_TAINT_KEYS]
        result = list(kept)
        stamp = now_rfc3339()
        adds_no_execute = False
        for want in wanted:
            existing = next(
                (
                    t
                    for t in current
                    if t.get("key") == want["key"] and t.get("effect") == want["effect"]
                ),
                None,
            )
            if existing is not None:
                result.append(existing)
                continue
            taint = dict(want)
            if want["effect"] == taints.NO_EXECUTE:
                taint["timeAdded"] = stamp
                adds_no_execute = True
            result.append(taint)
        if _same(result, current):
            return
        if adds_no_execute and self.evictions is not None and not self.evictions.try_accept():
            # Over the eviction rate: this node's NoExecute taint waits for the next token.
            self.enqueue_after(key, 1.0 / self.evictions.qps)
            return
        spec = {**(node.get("spec") or {}), "taints": result or None}
        if not result:
            spec.pop("taints", None)
        updated = {**node, "spec": spec}
        await self.client.update(NODES, updated)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    def key(t: dict[str, Any]) -> tuple[str, str, str]:
        return (str(t.get("key")), str(t.get("effect")), str(t.get("value") or ""))

    return sorted(map(key, a)) == sorted(map(key, b))


register(NodeLifecycleController)
