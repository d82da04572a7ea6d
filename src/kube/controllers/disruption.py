"""The disruption controller ("disruption"): keeps PodDisruptionBudget status current.

Upstream pkg/controller/disruption. For each PDB it counts the pods its selector picks in its
namespace and works out how many may be disrupted now, which the eviction subresource reads:

- `minAvailable` as a number: expected = the number of matching pods, desired healthy = it;
- `minAvailable` as a percentage, or `maxUnavailable`: expected = the sum of the desired
  replicas of the pods' controllers (Deployment via its ReplicaSet, ReplicaSet,
  ReplicationController, StatefulSet), desired healthy = expected - maxUnavailable (or the
  percentage of expected, rounded up);
- current healthy = matching pods that are Ready and not being deleted, not counting pods the
  eviction subresource recorded in `disruptedPods` (entries expire after 2 minutes, or when
  the pod is gone or being deleted);
- `disruptionsAllowed` = max(0, current healthy - desired healthy); the `DisruptionAllowed`
  condition is True with reason `SufficientPods`, else False with `InsufficientPods`.

A PDB whose selector is missing or matches nothing, or whose pods have a controller whose
scale cannot be read, reports what it can with no disruptions allowed (upstream: SyncFailed).
"""

from __future__ import annotations

import math
from typing import Any

from kube.api import errors
from kube.api.meta import Object, now_rfc3339, parse_rfc3339
from kube.api.resources import resource
from kube.api.selectors import SelectorError, from_label_selector
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, object_key, split_key
from kube.controllers.base import Controller
from kube.controllers.manager import register
from kube.controllers.pods import controller_of, is_pod_ready
from kube.native import match_labels

PDBS = resource("poddisruptionbudgets")
PODS = resource("pods")
REPLICASETS = resource("replicasets")
DEPLOYMENTS = resource("deployments")
STATEFULSETS = resource("statefulsets")
RCS = resource("replicationcontrollers")
DISRUPTED_POD_TIMEOUT = 120.0


def _ready(pod: Object) -> bool:
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and is_pod_ready(pod)


def _int_or_percent(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        fraction = int(value[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(value)


class DisruptionController(Controller):
    NAME = "disruption"
    COMPONENT = "controllermanager"  # upstream's disruption recorder

    def setup(self) -> None:
        self.pdbs = self.ctx.informers.informer(PDBS)
        self.pods = self.ctx.informers.informer(PODS)
        self.replicasets = self.ctx.informers.informer(REPLICASETS)
        self.deployments = self.ctx.informers.informer(DEPLOYMENTS)
        self.statefulsets = self.ctx.informers.informer(STATEFULSETS)
        self.rcs = self.ctx.informers.informer(RCS)
        self.pdbs.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        )
        self.pods.add_event_handler(
            EventHandler(
                on_add=self._pod_changed,
                on_update=lambda old, new: self._pod_changed(new, old),
                on_delete=lambda obj: self._pod_changed(
                    obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
                ),
            )
        )

    def _pod_changed(self, pod: Object, old: Object | None = None) -> None:
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        for pdb in self.pdbs.lister().list(namespace):
            if self._selects(pdb, pod) or (old is not None and self._selects(pdb, old)):
                self.queue.add(object_key(pdb))

    @staticmethod
    def _selects(pdb: Object, pod: Object) -> bool:
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is None:
            return False
        try:
            reqs = from_label_selector(selector)
        except SelectorError:
            return False
        labels = (pod.get("metadata") or {}).get("labels") or {}
        return not reqs or bool(match_labels(reqs, [labels]))

    def _scale_of(self, ref: dict[str, Any], namespace: str) -> int | None:
        """The desired replicas of a pod's controller (upstream's finders)."""
        kind, name = ref.get("kind"), str(ref.get("name") or "")
        if kind == "ReplicaSet":
            rs = self.replicasets.lister().get(name, namespace)
            if rs is None:
                return None
            owner = controller_of(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                deployment = self.deployments.lister().get(str(owner.get("name")), namespace)
                if deployment is not None:
                    return int((deployment.get("spec") or {}).get("replicas", 1))
            return int((rs.get("spec") or {}).get("replicas", 1))
        lister = {"StatefulSet": self.statefulsets, "ReplicationController": self.rcs}.get(
            str(kind)
        )
        if lister is None:
            return None
        owner_obj = lister.lister().get(name, namespace)
        if owner_obj is None:
            return None
        return int((owner_obj.get("spec") or {}).get("replicas", 1))

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        pdb = self.pdbs.lister().get(name, namespace)
        if pdb is None:
            return
        spec = pdb.get("spec") or {}
        pods = [p for p in self.pods.lister().list(namespace) if self._selects(pdb, p)]
        status = dict(pdb.get("status") or {})
        wall = parse_rfc3339(now_rfc3339()).timestamp()
        disrupted = {
            pod_name: stamp
            for pod_name, stamp in (status.get("disruptedPods") or {}).items()
            if self._still_disrupting(pod_name, stamp, namespace, wall)
        }
        healthy = sum(1 for p in pods if _ready(p) and p["metadata"]["name"] not in disrupted)
        failed = False
        if "minAvailable" in spec and not (
            isinstance(spec["minAvailable"], str) and spec["minAvailable"].endswith("%")
        ):
            expected = len(pods)
            desired = int(spec["minAvailable"])
        else:
            expected = 0
            seen: set[tuple[str, str]] = set()
            for pod in pods:
                ref = controller_of(pod)
                if ref is None:
                    failed = True
                    continue
                ident = (str(ref.get("kind")), str(ref.get("name")))
                if ident in seen:
                    continue
                seen.add(ident)
                scale = self._scale_of(ref, namespace)
                if scale is None:
                    failed = True
                    continue
                expected += scale
            if "maxUnavailable" in spec:
                desired = max(0, expected - _int_or_percent(spec["maxUnavailable"], expected, True))
            else:
                desired = _int_or_percent(spec.get("minAvailable", 0), expected, True)
        allowed = 0 if failed else max(0, healthy - desired)
        condition = {
            "type": "DisruptionAllowed",
            "status": "True" if allowed > 0 else "False",
            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
            "message": "",
            "observedGeneration": (pdb.get("metadata") or {}).get("generation"),
        }
        if failed:
            condition.update(status="False", reason="SyncFailed")
        new_status: dict[str, Any] = {
            "observedGeneration": (pdb.get("metadata") or {}).get("generation"),
            "currentHealthy": healthy,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "disruptionsAllowed": allowed,
        }
        if disrupted:
            new_status["disruptedPods"] = disrupted
        old_conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        previous = next((c for c in old_conditions if c.get("type") == "DisruptionAllowed"), None)
        same_condition = previous is not None and all(
            previous.get(k) == condition[k] for k in ("status", "reason")
        )
        condition["lastTransitionTime"] = (
            previous.get("lastTransitionTime") if same_condition and previous else now_rfc3339()
        )
        new_status["conditions"] = [
            *(c for c in old_conditions if c.get("type") != "DisruptionAllowed"),
            condition,
        ]
        if new_status == status:
            return
        try:
            await self.client.update(PDBS, {**pdb, "status": new_status}, subresource="status")
        except errors.APIError as err:
            if err.code == 409:
                self.queue.add(key)  # changed meanwhile (an eviction): compute again
                return
            if err.code != 404:
                raise
        if disrupted:
            self.enqueue_after(key, DISRUPTED_POD_TIMEOUT)

    def _still_disrupting(self, pod_name: str, stamp: Any, namespace: str, wall: float) -> bool:
        """An eviction's record counts until the pod is being deleted or gone, or 2 minutes."""
        pod = self.pods.lister().get(pod_name, namespace)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return False
        try:
            when = parse_rfc3339(str(stamp)).timestamp()
        except ValueError:
            return False
        return wall - when < DISRUPTED_POD_TIMEOUT


register(DisruptionController)
