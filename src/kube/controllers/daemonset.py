"""The DaemonSet controller ("daemonset"): one pod on every node the DaemonSet may run on.

Upstream pkg/controller/daemon. A node is eligible when the template's `nodeSelector` and
required node affinity admit it and the pod tolerates its NoSchedule and NoExecute taints,
counting the tolerations every daemon pod gets (not-ready and unreachable NoExecute without a
time limit, disk/memory/pid pressure and unschedulable NoSchedule, network-unavailable for
host-network pods). Each sync:

- creates a pod on each eligible node without one (pinned there by a required node affinity
  on `metadata.name`, as upstream does; the scheduler binds it), deletes pods on nodes that
  are not eligible or gone, failed pods (they are replaced), and all but the oldest of several
  on one node;
- rolls out template changes (`RollingUpdate`: delete old pods, unavailable ones first, keeping
  at most `maxUnavailable` (default 1) unavailable; `OnDelete`: only replaced pods change);
- keeps one ControllerRevision per template (`<name>-<hash>`, label
  `controller-revision-hash`) and labels its pods with the hash, pruning revisions no pod uses
  beyond `revisionHistoryLimit` (10);
- writes status: desired/current/misscheduled/ready/available/unavailable/updated counts and
  `observedGeneration`.

Creations and deletions are tracked with expectations, so a sync never acts again on pods its
informer has not seen yet. `maxSurge` is not implemented (treated as 0).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.nodeaffinity import pod_admits_node
from kube.api.resources import resource
from kube.client.informer import (
    NODE_NAME_INDEX,
    DeletedFinalStateUnknown,
    EventHandler,
    node_name_index,
    split_key,
)
from kube.controllers import taints
from kube.controllers.base import Controller
from kube.controllers.deployment.util import compute_hash
from kube.controllers.expectations import ControllerExpectations
from kube.controllers.manager import register
from kube.controllers.pods import (
    controller_of,
    controller_ref,
    is_pod_available,
    is_pod_ready,
    pod_from_template,
)

DAEMONSETS = resource("daemonsets")
PODS = resource("pods")
NODES = resource("nodes")
REVISIONS = resource("controllerrevisions")
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
DEFAULT_HISTORY_LIMIT = 10

DAEMON_TOLERATIONS: tuple[dict[str, Any], ...] = (
    {"key": taints.NOT_READY, "operator": "Exists", "effect": "NoExecute"},
    {"key": taints.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": taints.UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"},
)
NETWORK_UNAVAILABLE = {
    "key": "node.kubernetes.io/network-unavailable",
    "operator": "Exists",
    "effect": "NoSchedule",
}


def daemon_tolerations(template: Object) -> list[dict[str, Any]]:
    """The template's tolerations plus the ones upstream adds to every daemon pod."""
    spec = template.get("spec") or {}
    out = [dict(t) for t in spec.get("tolerations") or [] if isinstance(t, dict)]
    extra = list(DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        extra.append(NETWORK_UNAVAILABLE)
    for toleration in extra:
        if not any(
            t.get("key") == toleration["key"] and t.get("effect") == toleration["effect"]
            for t in out
        ):
            out.append(dict(toleration))
    return out


def node_should_run(template: Object, node: Object) -> bool:
    """upstream's NodeShouldRunDaemonPod (predicates part)."""
    probe = {"spec": {**(template.get("spec") or {}), "tolerations": daemon_tolerations(template)}}
    if not pod_admits_node(probe, node):
        return False
    tolerations = probe["spec"]["tolerations"]
    for taint in taints.node_taints(node):
        if taint.get("effect") not in (taints.NO_SCHEDULE, taints.NO_EXECUTE):
            continue
        if not any(taints.tolerates(t, taint) for t in tolerations):
            return False
    return True


def pin_to_node(spec: dict[str, Any], node_name: str) -> None:
    """upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: require exactly this node."""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
        ]
    }


def pod_node(pod: Object) -> str:
    """The node a daemon pod is for: where it is bound, else the node it is pinned to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and len(field.get("values") or []) == 1:
                return str(field["values"][0])
    return ""


def max_unavailable(ds: Object, desired: int) -> int:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        return max(1, math.ceil(int(value[:-1]) * desired / 100)) if desired else 1
    return max(1, int(value))


class DaemonSetController(Controller):
    NAME = "daemonset"
    WORKERS = 2
    WORKERS_FLAG = "concurrent-daemonset-syncs"

    def setup(self) -> None:
        self.daemonsets = self.ctx.informers.informer(DAEMONSETS)
        self.pods = self.ctx.informers.informer(PODS)
        self.nodes = self.ctx.informers.informer(NODES)
        self.revisions = self.ctx.informers.informer(REVISIONS)
        self.pods.add_indexer(NODE_NAME_INDEX, node_name_index)
        self.expectations = ControllerExpectations(self.clock.now)
        self.daemonsets.add_event_handler(
            EventHandler(
                on_add=self.enqueue,
                on_update=lambda _o, n: self.enqueue(n),
                on_delete=lambda obj: self.expectations.delete(
                    obj.key if isinstance(obj, DeletedFinalStateUnknown) else _key(obj)
                ),
            )
        )
        self.pods.add_event_handler(
            EventHandler(
                on_add=self._pod_added,
                on_update=lambda _o, pod: self._enqueue_owner(pod),
                on_delete=self._pod_deleted,
            )
        )
        self.nodes.add_event_handler(
            EventHandler(on_add=self._node_changed, on_update=self._node_updated)
        )

    # -- event handlers ------------------------------------------------------------------

    def _owner_key(self, pod: Object) -> str | None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        return f"{pod['metadata'].get('namespace')}/{ref.get('name')}"

    def _enqueue_owner(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.queue.add(key)

    def _pod_added(self, pod: Object) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key)
            self.queue.add(key)

    def _node_changed(self, _node: Object) -> None:
        for ds in self.daemonsets.lister().list():
            self.enqueue(ds)

    def _node_updated(self, old: Object, new: Object) -> None:
        def shape(n: Object) -> Any:
            return (
                (n.get("metadata") or {}).get("labels"),
                (n.get("spec") or {}).get("taints"),
                (n.get("spec") or {}).get("unschedulable"),
            )

        if shape(old) != shape(new):
            self._node_changed(new)

    # -- sync ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        ds = self.daemonsets.lister().get(name, namespace)
        if ds is None or (ds.get("metadata") or {}).get("deletionTimestamp"):
            return
        template = (ds.get("spec") or {}).get("template") or {}
        collisions = (ds.get("status") or {}).get("collisionCount")
        current_hash = compute_hash(template, collisions)
        await self._ensure_revision(ds, template, current_hash)
        uid = ds["metadata"].get("uid")
        owned = [
            p
            for p in self.pods.lister().list(namespace)
            if (controller_of(p) or {}).get("uid") == uid
        ]
        by_node: dict[str, list[Object]] = {}
        for pod in owned:
            by_node.setdefault(pod_node(pod), []).append(pod)
        nodes = {n["metadata"]["name"]: n for n in self.nodes.lister().list()}
        eligible = {name_ for name_, n in nodes.items() if node_should_run(template, n)}
        if self.expectations.satisfied(key):
            await self._manage(ds, key, template, current_hash, eligible, by_node)
        await self._update_status(ds, current_hash, eligible, by_node)

    async def _manage(
        self,
        ds: Object,
        key: str,
        template: Object,
        current_hash: str,
        eligible: set[str],
        by_node: dict[str, list[Object]],
    ) -> None:
        to_create: list[str] = []
        to_delete: list[Object] = []
        for node in sorted(eligible):
            pods = [p for p in by_node.get(node, []) if not p["metadata"].get("deletionTimestamp")]
            failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
            to_delete += failed
            alive = [p for p in pods if p not in failed]
            if not alive and not failed:
                to_create.append(node)
            elif len(alive) > 1:
                alive.sort(key=lambda p: str(p["metadata"].get("creationTimestamp") or ""))
                to_delete += alive[1:]
        for node, pods in by_node.items():
            if node not in eligible:
                to_delete += [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and not to_create:
            to_delete += self._rollout_victims(ds, current_hash, eligible, by_node, to_delete)
        if not to_create and not to_delete:
            return
        self.expectations.set(key, len(to_create), len(to_delete))
        for node in to_create:
            try:
                await self._create_pod(ds, template, current_hash, node)
            except errors.APIError as err:
                self.expectations.creation_observed(key)
                self.recorder.event(ds, "Warning", "FailedCreate", f"Error creating: {err}")
                raise
        for pod in to_delete:
            meta = pod["metadata"]
            try:
                await self.client.delete(PODS, meta["name"], meta.get("namespace"))
                self.recorder.event(
                    ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}"
                )
            except errors.APIError as err:
                self.expectations.deletion_observed(key)
                if err.code != 404:
                    raise

    def _rollout_victims(
        self,
        ds: Object,
        current_hash: str,
        eligible: set[str],
        by_node: dict[str, list[Object]],
        already: list[Object],
    ) -> list[Object]:
        """Old pods to delete now: unavailable ones, then available ones within the budget."""
        now = dt.datetime.now(dt.UTC)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        budget = max_unavailable(ds, len(eligible))
        unavailable = 0
        old_available: list[Object] = []
        old_unavailable: list[Object] = []
        for node in eligible:
            pods = [
                p
                for p in by_node.get(node, [])
                if not p["metadata"].get("deletionTimestamp") and p not in already
            ]
            if not pods:
                unavailable += 1
                continue
            pod = pods[0]
            available = is_pod_available(pod, min_ready, now)
            if not available:
                unavailable += 1
            if (pod["metadata"].get("labels") or {}).get(HASH_LABEL) != current_hash:
                (old_available if available else old_unavailable).append(pod)
        victims = list(old_unavailable)
        room = budget - unavailable
        victims += sorted(old_available, key=lambda p: p["metadata"]["name"])[: max(0, room)]
        return victims

    async def _create_pod(self, ds: Object, template: Object, current_hash: str, node: str) -> None:
        pod = pod_from_template(
            template, ds["metadata"]["name"], controller_ref(ds, "apps/v1", "DaemonSet")
        )
        labels = pod["metadata"].setdefault("labels", {})
        labels[HASH_LABEL] = current_hash
        labels[GENERATION_LABEL] = str(ds["metadata"].get("generation", 1))
        pod["spec"]["tolerations"] = daemon_tolerations(template)
        pin_to_node(pod["spec"], node)
        created = await self.client.create(PODS, pod, ds["metadata"]["namespace"])
        self.recorder.event(
            ds, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
        )

    async def _ensure_revision(self, ds: Object, template: Object, current_hash: str) -> None:
        meta = ds["metadata"]
        namespace = meta["namespace"]
        uid = meta.get("uid")
        mine = [
            r
            for r in self.revisions.lister().list(namespace)
            if (controller_of(r) or {}).get("uid") == uid
        ]
        name = f"{meta['name']}-{current_hash}"
        if not any(r["metadata"]["name"] == name for r in mine):
            number = max((int(r.get("revision") or 0) for r in mine), default=0) + 1
            body = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {
                        **((template.get("metadata") or {}).get("labels") or {}),
                        HASH_LABEL: current_hash,
                    },
                    "ownerReferences": [controller_ref(ds, "apps/v1", "DaemonSet")],
                },
                "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
                "revision": number,
            }
            try:
                await self.client.create(REVISIONS, body, namespace)
            except errors.APIError as err:
                if err.code != 409:
                    raise
        limit = int((ds.get("spec") or {}).get("revisionHistoryLimit", DEFAULT_HISTORY_LIMIT))
        in_use = {
            (p["metadata"].get("labels") or {}).get(HASH_LABEL)
            for p in self.pods.lister().list(namespace)
            if (controller_of(p) or {}).get("uid") == uid
        }
        old = sorted(
            (
                r
                for r in mine
                if r["metadata"]["name"] != name
                and (r["metadata"].get("labels") or {}).get(HASH_LABEL) not in in_use
            ),
            key=lambda r: int(r.get("revision") or 0),
        )
        for revision in old[: max(0, len(old) - limit)]:
            try:
                await self.client.delete(REVISIONS, revision["metadata"]["name"], namespace)
            except errors.APIError as err:
                if err.code != 404:
                    raise

    async def _update_status(
        self, ds: Object, current_hash: str, eligible: set[str], by_node: dict[str, list[Object]]
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        current = misscheduled = ready = available = updated = 0
        for node, pods in by_node.items():
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            if not live:
                continue
            if node not in eligible:
                misscheduled += 1
                continue
            current += 1
            pod = live[0]
            if is_pod_ready(pod):
                ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
            if (pod["metadata"].get("labels") or {}).get(HASH_LABEL) == current_hash:
                updated += 1
        desired = len(eligible)
        status = dict(ds.get("status") or {})
        new = {
            **status,
            "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation"),
            "updatedNumberScheduled": updated,
            "numberAvailable": available,
            "numberUnavailable": max(0, desired - available),
        }
        for field in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if new[field] == 0:
                new.pop(field)  # omitempty, as upstream serialises them
        if new == status:
            return
        try:
            await self.client.update(DAEMONSETS, {**ds, "status": new}, subresource="status")
        except errors.APIError as err:
            if err.code == 409:
                self.queue.add(_key(ds))
            elif err.code != 404:
                raise


def _key(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


register(DaemonSetController)
