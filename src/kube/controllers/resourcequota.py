"""The resource quota controller ("resourcequota"): `status.used` of every ResourceQuota.

Upstream pkg/controller/resourcequota with the core evaluators (pkg/quota/v1/evaluator/core).
For each quota it sets `status.hard` to `spec.hard` and `status.used` to what the namespace
uses of each resource named there:

- object counts: `pods` (non-terminal pods), `services`, `configmaps`, `secrets`,
  `persistentvolumeclaims`, `replicationcontrollers`, `resourcequotas`, `services.nodeports`
  (node ports of NodePort and LoadBalancer services), `services.loadbalancers`, and
  `count/<resource>[.<group>]` for any served resource;
- compute: `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory` (and bare `cpu`,
  `memory`, meaning requests), summed over non-terminal pods as upstream's pod evaluator does
  (init containers count as the max, not the sum, of what runs at once);
- storage: `requests.storage` over PersistentVolumeClaims.

Quantities print as upstream's canonical form. It recomputes a quota when an object of a kind
it counts changes in its namespace, and all of them every `resource-quota-sync-period`
(5 minutes).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.quantity import BINARY_SI, DECIMAL_SI, canonical, try_parse
from kube.api.registry import Resource
from kube.api.resources import REGISTRY, resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, Informer, split_key
from kube.controllers.base import Controller
from kube.controllers.manager import register

QUOTAS = resource("resourcequotas")
PODS = resource("pods")
DEFAULT_SYNC_PERIOD = 300.0
COUNTED = {
    "pods": "pods",
    "services": "services",
    "configmaps": "configmaps",
    "secrets": "secrets",
    "persistentvolumeclaims": "persistentvolumeclaims",
    "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
    "services.nodeports": "services",
    "services.loadbalancers": "services",
    "requests.storage": "persistentvolumeclaims",
}
COMPUTE = {
    "cpu": ("requests", "cpu"),
    "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}


def _terminal(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _amount(resources: Any, kind: str, name: str) -> Decimal:
    value = ((resources or {}).get(kind) or {}).get(name)
    parsed = try_parse(value)
    return parsed.value if parsed is not None else Decimal(0)


def pod_usage(pod: Object, kind: str, name: str) -> Decimal:
    """What a pod counts against a compute quota: max(sum of containers, largest init)."""
    spec = pod.get("spec") or {}
    total = sum(
        (_amount(c.get("resources"), kind, name) for c in spec.get("containers") or []),
        Decimal(0),
    )
    init = max(
        (_amount(c.get("resources"), kind, name) for c in spec.get("initContainers") or []),
        default=Decimal(0),
    )
    overhead = _amount({"x": (spec.get("overhead") or {})}, "x", name)
    return max(total, init) + overhead


def count_resource(name: str) -> Resource | None:
    """The resource a `count/<plural>[.<group>]` quota counts."""
    if not name.startswith("count/"):
        return None
    plural, _, group = name[len("count/") :].partition(".")
    for row in REGISTRY:
        if row.plural == plural and row.group == group and row.namespaced and row.stored:
            return row
    return None


def _format(value: Decimal, name: str) -> str:
    binary = name.endswith("memory") or name.endswith("storage")
    return canonical(value, BINARY_SI if binary else DECIMAL_SI)


class ResourceQuotaController(Controller):
    NAME = "resourcequota"
    WORKERS_FLAG = "concurrent-resource-quota-syncs"

    def setup(self) -> None:
        self.period = float(self.ctx.options.get("resource-quota-sync-period", DEFAULT_SYNC_PERIOD))
        self.quotas = self.ctx.informers.informer(QUOTAS)
        self.quotas.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        )
        self.counted: dict[tuple[str, str], Informer] = {}
        for plural in sorted(set(COUNTED.values())):
            self._count(resource(plural))

    def _count(self, row: Resource) -> Informer:
        key = (row.group, row.plural)
        found = self.counted.get(key)
        if found is None:
            found = self.ctx.informers.informer(row)
            found.add_event_handler(
                EventHandler(
                    on_add=self._namespace_changed,
                    on_update=lambda _o, n: self._namespace_changed(n),
                    on_delete=self._namespace_changed,
                )
            )
            self.counted[key] = found
        return found

    def _namespace_changed(self, obj: Object | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            namespace = split_key(obj.key)[0]
        else:
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        for quota in self.quotas.lister().list(namespace):
            self.enqueue(quota)

    async def run(self, workers: int | None = None) -> None:
        resync = asyncio.create_task(self._resync_loop(), name="resourcequota-resync")
        try:
            await super().run(workers)
        finally:
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.period)
            for quota in self.quotas.lister().list():
                self.enqueue(quota)

    def used(self, namespace: str, name: str) -> Decimal | None:
        """The namespace's use of one quota resource; None for a name this does not track."""
        if name in COMPUTE:
            kind, what = COMPUTE[name]
            pods = self.counted[("", "pods")].lister().list(namespace)
            return sum((pod_usage(p, kind, what) for p in pods if not _terminal(p)), Decimal(0))
        if name == "pods":
            pods = self.counted[("", "pods")].lister().list(namespace)
            return Decimal(sum(1 for p in pods if not _terminal(p)))
        if name in ("services.nodeports", "services.loadbalancers"):
            services = self.counted[("", "services")].lister().list(namespace)
            if name == "services.loadbalancers":
                return Decimal(
                    sum(1 for s in services if (s.get("spec") or {}).get("type") == "LoadBalancer")
                )
            return Decimal(
                sum(
                    1
                    for s in services
                    if (s.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")
                    for p in (s.get("spec") or {}).get("ports") or []
                    if p.get("nodePort")
                )
            )
        if name == "requests.storage":
            claims = self.counted[("", "persistentvolumeclaims")].lister().list(namespace)
            return sum(
                (
                    _amount((c.get("spec") or {}).get("resources"), "requests", "storage")
                    for c in claims
                ),
                Decimal(0),
            )
        if name in COUNTED:
            return Decimal(len(self.counted[("", COUNTED[name])].lister().list(namespace)))
        row = count_resource(name)
        if row is None:
            return None
        # count/<resource> may name any kind: its informer starts when a quota first asks.
        informer = self._count(row)
        if not informer.has_synced:
            return None  # counted once its cache fills (its events enqueue the quota)
        return Decimal(len(informer.lister().list(namespace)))

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        quota = self.quotas.lister().get(name, namespace)
        if quota is None:
            return
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used: dict[str, str] = {}
        for resource_name in sorted(hard):
            value = self.used(namespace, resource_name)
            if value is not None:
                used[resource_name] = _format(value, resource_name)
        status = {"hard": hard, "used": used}
        if (quota.get("status") or {}) == status:
            return
        try:
            await self.client.update(QUOTAS, {**quota, "status": status}, subresource="status")
        except errors.APIError as err:
            if err.code == 409:
                self.queue.add(key)
            elif err.code != 404:
                raise


register(ResourceQuotaController)
