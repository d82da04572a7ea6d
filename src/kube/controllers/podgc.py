"""The pod garbage collector (upstream's pkg/controller/podgc).

Not key-driven: every 20 s (upstream's gcCheckPeriod, on the controller's clock) one pass over
the pod and node caches

- deletes terminated pods (Succeeded or Failed) beyond `terminated-pod-gc-threshold` (12500;
  0 turns this off), evicted ones first, then oldest by creation (name breaks ties);
- force-deletes terminating pods on nodes that are not Ready and carry the
  `node.kubernetes.io/out-of-service` taint;
- deletes pods bound to nodes that no longer exist: a missing node is quarantined for 40 s
  and then looked up once more on the API server (a node informer can lag behind a node's
  creation), and its pods get the DisruptionTarget condition (reason DeletionByPodGC,
  "PodGC: node no longer exists");
- force-deletes terminating pods that were never scheduled (no kubelet will finish them).

Each deletion first moves a pod that is not terminal to phase Failed (with the condition, for
orphans) by a server-side apply of pods/status as field manager `PodGC`, then deletes it with
a grace period of 0.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object, now_rfc3339
from kube.api.resources import resource
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext

PODS = resource("pods")
NODES = resource("nodes")
GC_CHECK_PERIOD = 20.0
QUARANTINE_TIME = 40.0
DEFAULT_TERMINATED_POD_THRESHOLD = 12500
FIELD_MANAGER = "PodGC"
OUT_OF_SERVICE_TAINT = "node.kubernetes.io/out-of-service"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _node_name(pod: Object) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def is_terminated(pod: Object) -> bool:
    return _phase(pod) in ("Succeeded", "Failed")


def is_evicted(pod: Object) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def _eviction_then_creation(a: Object, b: Object) -> int:
    """byEvictionAndCreationTimestamp: evicted first, then oldest, then by name."""
    ea, eb = is_evicted(a), is_evicted(b)
    if ea != eb:
        return -1 if ea else 1
    ca = str(_meta(a).get("creationTimestamp") or "")
    cb = str(_meta(b).get("creationTimestamp") or "")
    if ca != cb:
        return -1 if ca < cb else 1
    na, nb = str(_meta(a).get("name")), str(_meta(b).get("name"))
    return (na > nb) - (na < nb)


def terminated_to_delete(pods: list[Object], threshold: int) -> list[Object]:
    """The terminated pods beyond `threshold`, in the order upstream deletes them."""
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    if excess <= 0:
        return []
    terminated.sort(key=functools.cmp_to_key(_eviction_then_creation))
    return terminated[:excess]


def _out_of_service(node: Object) -> bool:
    taints = (node.get("spec") or {}).get("taints") or []
    if not any(t.get("key") == OUT_OF_SERVICE_TAINT for t in taints):
        return False
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") != "True")
    return True


class PodGCController(Controller):
    """Deletes terminated, orphaned and unscheduled terminating pods."""

    NAME = "podgc"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.threshold = int(
            ctx.options.get("terminated-pod-gc-threshold", DEFAULT_TERMINATED_POD_THRESHOLD)
        )
        self.period = float(ctx.options.get("podgc-period", GC_CHECK_PERIOD))
        # Missing node name -> when it was first seen missing (on the controller's clock).
        self.quarantine: dict[str, float] = {}

    def setup(self) -> None:
        informers = self.ctx.informers
        self.pod_lister = informers.informer(PODS).lister()
        self.node_lister = informers.informer(NODES).lister()

    async def run(self, workers: int | None = None) -> None:
        """wait.Until(gc, 20 s): a pass now, then one every period."""
        while True:
            try:
                await self.gc()
            except Exception:  # one failed pass must not stop the collector
                self.log.exception("pod garbage collection pass failed")
            await self.clock.sleep(self.period)

    async def sync(self, key: str) -> None:
        """Unused: podgc works in periodic passes, not per key."""

    async def gc(self) -> None:
        pods = self.pod_lister.list()
        nodes = self.node_lister.list()
        if self.threshold > 0:
            await self._delete_all(terminated_to_delete(pods, self.threshold))
        await self._gc_terminating_out_of_service(pods, nodes)
        await self._gc_orphaned(pods, nodes)
        unscheduled = [p for p in pods if _meta(p).get("deletionTimestamp") and not _node_name(p)]
        await self._delete_all(unscheduled)

    async def _gc_terminating_out_of_service(self, pods: list[Object], nodes: list[Object]) -> None:
        out = {str(_meta(n).get("name")) for n in nodes if _out_of_service(n)}
        if not out:
            return
        await self._delete_all(
            [
                p
                for p in pods
                if _meta(p).get("deletionTimestamp")
                and not is_terminated(p)
                and _node_name(p) in out
            ]
        )

    async def _gc_orphaned(self, pods: list[Object], nodes: list[Object]) -> None:
        existing = {str(_meta(n).get("name")) for n in nodes}
        now = self.clock.now()
        for pod in pods:
            node = _node_name(pod)
            if node and node not in existing:
                self.quarantine.setdefault(node, now)
        deleted: set[str] = set()
        for node, since in list(self.quarantine.items()):
            if now - since < QUARANTINE_TIME:
                continue
            del self.quarantine[node]
            if node in existing:
                continue
            try:
                await self.client.get(NODES, node)
            except APIError as err:
                if err.code != 404:
                    raise
                deleted.add(node)
        if not deleted:
            return
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "DeletionByPodGC",
            "message": "PodGC: node no longer exists",
            "lastTransitionTime": now_rfc3339(),
        }
        await self._delete_all([p for p in pods if _node_name(p) in deleted], condition)

    async def _delete_all(
        self, pods: list[Object], condition: dict[str, Any] | None = None
    ) -> None:
        results = await asyncio.gather(
            *(self.mark_failed_and_delete(p, condition) for p in pods), return_exceptions=True
        )
        for pod, result in zip(pods, results, strict=True):
            if isinstance(result, Exception):
                self.log.warning("deleting pod %s: %s", _meta(pod).get("name"), result)

    async def mark_failed_and_delete(
        self, pod: Object, condition: dict[str, Any] | None = None
    ) -> None:
        """markFailedAndDeletePodWithCondition: phase Failed (if not terminal), then delete."""
        meta = _meta(pod)
        name, namespace = str(meta.get("name")), str(meta.get("namespace") or "")
        self.log.info("PodGC is force deleting Pod %s/%s", namespace, name)
        try:
            if not is_terminated(pod):
                status: dict[str, Any] = {"phase": "Failed"}
                if condition is not None:
                    status["conditions"] = [condition]
                apply = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "namespace": namespace},
                    "status": status,
                }
                await self.client.patch(
                    PODS,
                    name,
                    apply,
                    namespace,
                    patch_type="apply",
                    subresource="status",
                    field_manager=FIELD_MANAGER,
                    force=True,
                )
            await self.client.delete(PODS, name, namespace, grace_period_seconds=0)
        except APIError as err:
            if err.code != 404:
                raise


manager.register(PodGCController)
