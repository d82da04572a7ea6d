"""The StatefulSet controller ("statefulset"): pods with stable names, storage and order.

Upstream pkg/controller/statefulset. Replica i (from `spec.ordinals.start`, default 0) is the
pod `<set>-<i>`, with hostname `<set>-<i>` and subdomain `spec.serviceName`, the labels
`statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` and
`controller-revision-hash`, and one PersistentVolumeClaim per `volumeClaimTemplates` entry named
`<claim>-<set>-<i>`, created before the pod and kept when the pod goes (retention policy
Retain, the default; `whenDeleted`/`whenScaled: Delete` are honoured through ownerReferences).

- `OrderedReady` (default): replicas are created in order, each only once all before it are
  Running and Ready; scale-down removes the highest ordinal first, one at a time, and only while
  the others are Running and Ready. `Parallel` creates and deletes without waiting.
- `RollingUpdate` (default): from the highest ordinal down to `partition`, a pod of an old
  revision is deleted when every pod is Running and Ready, and recreated at the update
  revision. `OnDelete`: pods change revision only when deleted by someone else.
- Revisions: one ControllerRevision per template (`<set>-<hash>`), the status names the current
  and the update revision, and revisions no pod uses are pruned past `revisionHistoryLimit`.
- A failed pod is deleted and recreated.
"""

from __future__ import annotations

import copy
import datetime as dt

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, split_key
from kube.controllers.base import Controller
from kube.controllers.deployment.util import compute_hash
from kube.controllers.manager import register
from kube.controllers.pods import (
    controller_of,
    controller_ref,
    is_pod_available,
    is_pod_ready,
)

STATEFULSETS = resource("statefulsets")
PODS = resource("pods")
PVCS = resource("persistentvolumeclaims")
REVISIONS = resource("controllerrevisions")
HASH_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
DEFAULT_HISTORY_LIMIT = 10


def ordinal_of(set_name: str, pod_name: str) -> int | None:
    prefix = f"{set_name}-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix) :]
    return int(tail) if tail.isdigit() else None


def claim_name(template: Object, set_name: str, ordinal: int) -> str:
    return f"{template['metadata']['name']}-{set_name}-{ordinal}"


def _running_and_ready(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_pod_ready(pod)


def _terminating(pod: Object) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


class StatefulSetController(Controller):
    NAME = "statefulset"
    WORKERS_FLAG = "concurrent-statefulset-syncs"

    def setup(self) -> None:
        self.sets = self.ctx.informers.informer(STATEFULSETS)
        self.pods = self.ctx.informers.informer(PODS)
        self.claims = self.ctx.informers.informer(PVCS)
        self.revisions = self.ctx.informers.informer(REVISIONS)
        self.sets.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        )
        self.pods.add_event_handler(
            EventHandler(
                on_add=self._pod_changed,
                on_update=lambda _o, pod: self._pod_changed(pod),
                on_delete=lambda obj: self._pod_changed(
                    obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
                ),
            )
        )

    def _pod_changed(self, pod: Object) -> None:
        ref = controller_of(pod)
        if ref is not None and ref.get("kind") == "StatefulSet":
            self.queue.add(f"{pod['metadata'].get('namespace')}/{ref.get('name')}")

    # -- sync ----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        sts = self.sets.lister().get(name, namespace)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        spec = sts.get("spec") or {}
        template = spec.get("template") or {}
        # The status always carries collisionCount (0 at first): hash with it from the start,
        # or the first status write would change every pod's revision.
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        update_hash = compute_hash(template, collisions)
        update_revision = f"{name}-{update_hash}"
        revision_number = await self._ensure_revision(sts, template, update_hash)
        uid = sts["metadata"].get("uid")
        pods: dict[int, Object] = {}
        for pod in self.pods.lister().list(namespace):
            if (controller_of(pod) or {}).get("uid") != uid:
                continue
            ordinal = ordinal_of(name, pod["metadata"]["name"])
            if ordinal is not None:
                pods[ordinal] = pod
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        replicas = int(spec.get("replicas", 1))
        wanted = range(start, start + replicas)
        current_revision = (sts.get("status") or {}).get("currentRevision") or update_revision
        await self._reconcile(sts, template, pods, wanted, update_hash)
        await self._update_status(sts, pods, wanted, update_revision, current_revision)
        await self._prune_revisions(sts, revision_number)

    async def _reconcile(
        self,
        sts: Object,
        template: Object,
        pods: dict[int, Object],
        wanted: range,
        update_hash: str,
    ) -> None:
        spec = sts.get("spec") or {}
        parallel = spec.get("podManagementPolicy") == "Parallel"
        # Failed pods are deleted (and recreated on a later pass).
        for _ordinal, failed in sorted(pods.items()):
            if (failed.get("status") or {}).get("phase") == "Failed" and not _terminating(failed):
                await self._delete(sts, failed)
                return
        # Create the missing ones, in order (OrderedReady waits for each to be ready).
        for ordinal in wanted:
            present = pods.get(ordinal)
            if present is None:
                await self._create(sts, template, ordinal, update_hash)
                if not parallel:
                    return
                continue
            if not parallel and not _running_and_ready(present):
                return  # the next ones wait for this one
        # Scale down: highest ordinal first.
        extra = sorted((o for o in pods if o not in wanted), reverse=True)
        for ordinal in extra:
            pod = pods[ordinal]
            if _terminating(pod):
                if not parallel:
                    return
                continue
            if not parallel and not all(
                _running_and_ready(p) for o, p in pods.items() if o in wanted
            ):
                return
            await self._delete(sts, pod)
            await self._scaled_down_claims(sts, ordinal)
            if not parallel:
                return
        # Rolling update from the highest ordinal down to the partition.
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        if not all(_running_and_ready(pods[o]) for o in wanted if o in pods):
            return
        for ordinal in sorted(wanted, reverse=True):
            if ordinal < partition:
                break
            replica = pods.get(ordinal)
            if replica is None or _terminating(replica):
                return
            if (replica["metadata"].get("labels") or {}).get(HASH_LABEL) != update_hash:
                await self._delete(sts, replica)
                return

    async def _create(self, sts: Object, template: Object, ordinal: int, revision: str) -> None:
        meta = sts["metadata"]
        spec = sts.get("spec") or {}
        name, namespace = meta["name"], meta["namespace"]
        pod_name = f"{name}-{ordinal}"
        pod_spec = copy.deepcopy(template.get("spec") or {})
        volumes = [v for v in pod_spec.get("volumes") or []]
        for claim_template in spec.get("volumeClaimTemplates") or []:
            claim = claim_name(claim_template, name, ordinal)
            await self._ensure_claim(sts, claim_template, claim)
            volumes = [v for v in volumes if v.get("name") != claim_template["metadata"]["name"]]
            volumes.append(
                {
                    "name": claim_template["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim},
                }
            )
        if volumes:
            pod_spec["volumes"] = volumes
        pod_spec["hostname"] = pod_name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        tmeta = template.get("metadata") or {}
        labels = {
            **(tmeta.get("labels") or {}),
            POD_NAME_LABEL: pod_name,
            POD_INDEX_LABEL: str(ordinal),
            HASH_LABEL: revision,
        }
        pod: Object = {
            "metadata": {
                "name": pod_name,
                "labels": labels,
                "ownerReferences": [controller_ref(sts, "apps/v1", "StatefulSet")],
            },
            "spec": pod_spec,
        }
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = dict(tmeta["annotations"])
        try:
            await self.client.create(PODS, pod, namespace)
        except errors.APIError as err:
            if err.code == 409:
                return  # exists already (our informer is behind): the next pass sees it
            self.recorder.event(
                sts,
                "Warning",
                "FailedCreate",
                f"create Pod {pod_name} in StatefulSet {name} failed error: {err}",
            )
            raise
        self.recorder.event(
            sts,
            "Normal",
            "SuccessfulCreate",
            f"create Pod {pod_name} in StatefulSet {name} successful",
        )

    async def _ensure_claim(self, sts: Object, template: Object, claim: str) -> None:
        namespace = sts["metadata"]["namespace"]
        if self.claims.lister().get(claim, namespace) is not None:
            return
        selector = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        body = copy.deepcopy(template)
        body["metadata"] = {
            **{k: v for k, v in (template.get("metadata") or {}).items() if k != "name"},
            "name": claim,
            "labels": {**((template.get("metadata") or {}).get("labels") or {}), **selector},
        }
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenDeleted") == "Delete":
            ref = controller_ref(sts, "apps/v1", "StatefulSet")
            ref["controller"] = False
            body["metadata"]["ownerReferences"] = [ref]
        body.pop("status", None)
        try:
            await self.client.create(PVCS, body, namespace)
        except errors.APIError as err:
            if err.code != 409:
                raise

    async def _scaled_down_claims(self, sts: Object, ordinal: int) -> None:
        spec = sts.get("spec") or {}
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        if policy.get("whenScaled") != "Delete":
            return
        for claim_template in spec.get("volumeClaimTemplates") or []:
            claim = claim_name(claim_template, sts["metadata"]["name"], ordinal)
            try:
                await self.client.delete(PVCS, claim, sts["metadata"]["namespace"])
            except errors.APIError as err:
                if err.code != 404:
                    raise

    async def _delete(self, sts: Object, pod: Object) -> None:
        meta = pod["metadata"]
        try:
            await self.client.delete(PODS, meta["name"], meta.get("namespace"))
        except errors.APIError as err:
            if err.code != 404:
                raise
            return
        set_name = sts["metadata"]["name"]
        self.recorder.event(
            sts,
            "Normal",
            "SuccessfulDelete",
            f"delete Pod {meta['name']} in StatefulSet {set_name} successful",
        )

    # -- revisions and status ----------------------------------------------------------------

    def _mine(self, sts: Object) -> list[Object]:
        uid = sts["metadata"].get("uid")
        return [
            r
            for r in self.revisions.lister().list(sts["metadata"]["namespace"])
            if (controller_of(r) or {}).get("uid") == uid
        ]

    async def _ensure_revision(self, sts: Object, template: Object, update_hash: str) -> int:
        meta = sts["metadata"]
        name = f"{meta['name']}-{update_hash}"
        mine = self._mine(sts)
        for revision in mine:
            if revision["metadata"]["name"] == name:
                return int(revision.get("revision") or 0)
        number = max((int(r.get("revision") or 0) for r in mine), default=0) + 1
        body = {
            "metadata": {
                "name": name,
                "labels": {
                    **((template.get("metadata") or {}).get("labels") or {}),
                    HASH_LABEL: update_hash,
                },
                "ownerReferences": [controller_ref(sts, "apps/v1", "StatefulSet")],
            },
            "data": {"spec": {"template": {**copy.deepcopy(template), "$patch": "replace"}}},
            "revision": number,
        }
        try:
            await self.client.create(REVISIONS, body, meta["namespace"])
        except errors.APIError as err:
            if err.code != 409:
                raise
        return number

    async def _prune_revisions(self, sts: Object, keep_number: int) -> None:
        limit = int((sts.get("spec") or {}).get("revisionHistoryLimit", DEFAULT_HISTORY_LIMIT))
        status = sts.get("status") or {}
        live = {status.get("currentRevision"), status.get("updateRevision")}
        old = sorted(
            (
                r
                for r in self._mine(sts)
                if r["metadata"]["name"] not in live and int(r.get("revision") or 0) != keep_number
            ),
            key=lambda r: int(r.get("revision") or 0),
        )
        for revision in old[: max(0, len(old) - limit)]:
            try:
                await self.client.delete(
                    REVISIONS, revision["metadata"]["name"], sts["metadata"]["namespace"]
                )
            except errors.APIError as err:
                if err.code != 404:
                    raise

    async def _update_status(
        self,
        sts: Object,
        pods: dict[int, Object],
        wanted: range,
        update_revision: str,
        current_revision: str,
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        min_ready = int((sts.get("spec") or {}).get("minReadySeconds") or 0)
        update_hash = update_revision.rpartition("-")[2]
        current_hash = current_revision.rpartition("-")[2]
        live = [p for p in pods.values() if not _terminating(p)]
        counted = [
            p for p in live if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
        ]
        updated = sum(
            1 for p in counted if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == update_hash
        )
        current = sum(
            1
            for p in counted
            if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == current_hash
        )
        replicas = len(counted)
        # The rollout is complete when every wanted replica runs the update revision.
        if updated == len(wanted) and replicas == len(wanted):
            current_revision, current = update_revision, updated
        status = dict(sts.get("status") or {})
        new = {
            **status,
            "observedGeneration": sts["metadata"].get("generation"),
            "replicas": replicas,
            "readyReplicas": sum(1 for p in counted if is_pod_ready(p)),
            "availableReplicas": sum(1 for p in counted if is_pod_available(p, min_ready, now)),
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": status.get("collisionCount", 0),
        }
        for field in ("readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas"):
            if new[field] == 0:
                new.pop(field)
        if new == status:
            return
        try:
            await self.client.update(STATEFULSETS, {**sts, "status": new}, subresource="status")
        except errors.APIError as err:
            if err.code == 409:
                self.queue.add(f"{sts['metadata']['namespace']}/{sts['metadata']['name']}")
            elif err.code != 404:
                raise


register(StatefulSetController)
