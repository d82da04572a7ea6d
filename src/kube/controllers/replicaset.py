"""The ReplicaSet and ReplicationController controllers: keep `spec.replicas` pods alive.

Upstream's pkg/controller/replicaset (the ReplicationController controller upstream is the same
code run on converted objects; here it is the same class with another `kind`: RCs select pods
by a plain label map, ReplicaSets by a LabelSelector). One sync of `namespace/name`:

1. read the set from the lister (gone: forget its expectations and stop);
2. claim its active pods (`RefManager`: adopt matching orphans, release owned pods that no
   longer match); the candidates come from the pods' controller-uid index (its own and its
   namespace's orphans), as upstream's, not from every pod of the namespace;
3. if its expectations are satisfied (the informer has seen every create/delete of the last
   sync) and it is not being deleted, create or delete the difference: creations in slow-start
   batches (1, 2, 4, ...) of pods built from the template, owned by the set; deletions in
   upstream's order (`pods.pods_to_delete`). At most `BURST_REPLICAS` per sync;
4. write `status` (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
   observedGeneration, the ReplicaFailure condition of a failed create/delete) when it changed,
   then raise the manage error, if any, so the worker loop retries with backoff.

Informer handlers only compute keys: a pod's controller's key (lowering its expectations when a
pod it made appears or goes), or for an orphan pod the keys of every set whose selector matches.
Events are upstream's: SuccessfulCreate "Created pod: <name>", SuccessfulDelete "Deleted pod:
<name>", FailedCreate "Error creating: <err>", FailedDelete "Error deleting: <err>".
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

from kube.api.errors import APIError
from kube.api.meta import Object, copy_object
from kube.api.registry import Resource
from kube.api.resources import resolve
from kube.api.selectors import EQUALS, Requirement, SelectorError, from_label_selector
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, object_key, split_key
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.expectations import UIDTrackingExpectations
from kube.controllers.pods import (
    POD_CONTROLLER_UID_INDEX,
    SLOW_START_INITIAL_BATCH_SIZE,
    SlowStartError,
    controller_of,
    controller_ref,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    pod_controller_uid_index,
    pod_from_template,
    pods_for_owner,
    pods_to_delete,
    slow_start_batch,
)
from kube.controllers.refmanager import RefManager, recheck_owner
from kube.native import match_labels


def _resource(plural: str) -> Resource:
    found = resolve(plural)
    if found is None:  # pragma: no cover - the registry always has the built-in kinds
        raise LookupError(plural)
    return found


PODS = _resource("pods")
# Upstream's BurstReplicas: the most pods one sync creates or deletes.
BURST_REPLICAS = 500
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"
# Upstream's apiserver: a generateName create is tried this many times in all on a name clash.
GENERATE_NAME_ATTEMPTS = 8


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def spec_replicas(obj: Object) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _namespace_terminating(err: APIError) -> bool:
    causes = (err.details or {}).get("causes") or []
    return any(c.get("type") == NAMESPACE_TERMINATING_CAUSE for c in causes)


def matcher(reqs: list[Requirement]) -> Callable[[dict[str, str]], bool]:
    return lambda labels: bool(match_labels(reqs, [labels]))


def calculate_status(
    rs: Object, pods: list[Object], manage_error: Exception | None, now: dt.datetime
) -> dict[str, Any]:
    """The set's new status from its claimed active pods (upstream's calculateStatus)."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = _meta(pod).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_pod_ready(pod):
            ready += 1
            if is_pod_available(pod, min_ready, now):
                available += 1
    old = rs.get("status") or {}
    conditions = [dict(c) for c in old.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - spec_replicas(rs)
        reason = "FailedCreate" if diff < 0 else ("FailedDelete" if diff > 0 else "")
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": rfc3339(now),
                "reason": reason,
                "message": str(manage_error),
            }
        )
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    status: dict[str, Any] = {"replicas": len(pods)}
    if fully_labeled:
        status["fullyLabeledReplicas"] = fully_labeled
    if ready:
        status["readyReplicas"] = ready
    if available:
        status["availableReplicas"] = available
    if old.get("observedGeneration"):
        status["observedGeneration"] = old["observedGeneration"]
    if conditions:
        status["conditions"] = conditions
    return status


_COUNTED = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


class ReplicaSetController(Controller):
    """Keeps the pods of every ReplicaSet at `spec.replicas`."""

    NAME = "replicaset"
    PLURAL: ClassVar[str] = "replicasets"
    KIND: ClassVar[str] = "ReplicaSet"
    API_VERSION: ClassVar[str] = "apps/v1"
    # The --concurrent-*-syncs flag that sets the number of workers (default WORKERS, 5).
    WORKERS_OPTION: ClassVar[str] = "concurrent-replicaset-syncs"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.resource = _resource(self.PLURAL)
        self.expectations = UIDTrackingExpectations(self.clock.now)
        self.burst_replicas = int(ctx.options.get("burst-replicas", BURST_REPLICAS))
        # Wall time for readiness ages; tests replace it.
        self.wall_now: Callable[[], dt.datetime] = utcnow
        self._uid_index = f"{self.NAME}-controller-uid"

    async def run(self, workers: int | None = None) -> None:
        count = workers or int(self.ctx.options.get(self.WORKERS_OPTION) or self.WORKERS)
        await super().run(count)

    # -- selectors -------------------------------------------------------------------------

    def selector_of(self, rs: Object) -> list[Requirement]:
        """The set's pod selector as requirements (SelectorError if it does not convert)."""
        return from_label_selector((rs.get("spec") or {}).get("selector") or {})

    def _matches(self, rs: Object, labels: dict[str, str]) -> bool:
        try:
            reqs = self.selector_of(rs)
        except SelectorError:
            return False
        # An empty selector would select everything; upstream ignores such a set here.
        return bool(reqs) and bool(match_labels(reqs, [labels]))

    # -- informers -------------------------------------------------------------------------

    def setup(self) -> None:
        informers = self.ctx.informers
        self.sets = informers.informer(self.resource)
        self.pods = informers.informer(PODS)
        self.set_lister = self.sets.lister()
        self.pod_lister = self.pods.lister()
        self.sets.add_indexer(self._uid_index, self._controller_uid)
        self.pods.add_indexer(POD_CONTROLLER_UID_INDEX, pod_controller_uid_index)
        self.sets.add_event_handler(
            EventHandler(
                on_add=self.enqueue,
                on_update=lambda old, new: self.enqueue(new),
                on_delete=self._set_deleted,
            )
        )
        self.pods.add_event_handler(
            EventHandler(
                on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted
            )
        )

    @staticmethod
    def _controller_uid(obj: Object) -> list[str]:
        ref = controller_of(obj)
        return [str(ref.get("uid"))] if ref is not None else []

    def _set_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj)
        self.expectations.delete(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: dict[str, Any] | None) -> Object | None:
        """The set a controller reference points at, if it is one of ours (kind and uid)."""
        if ref is None or ref.get("kind") != self.KIND:
            return None
        rs = self.set_lister.get(str(ref.get("name")), namespace)
        if rs is None or _meta(rs).get("uid") != ref.get("uid"):
            return None
        return rs

    def _sets_selecting(self, pod: Object) -> list[Object]:
        meta = _meta(pod)
        labels = meta.get("labels") or {}
        if not labels:
            return []
        return [
            rs
            for rs in self.set_lister.list(str(meta.get("namespace") or ""))
            if self._matches(rs, labels)
        ]

    def _pod_added(self, pod: Object) -> None:
        meta = _meta(pod)
        if meta.get("deletionTimestamp"):
            self._pod_deleted(pod)
            return
        rs = self._resolve(str(meta.get("namespace") or ""), controller_of(pod))
        if rs is not None:
            key = object_key(rs)
            self.expectations.creation_observed(key)
            self.queue.add(key)
            return
        if controller_of(pod) is None:
            for rs in self._sets_selecting(pod):
                self.enqueue(rs)

    def _pod_updated(self, old: Object, cur: Object) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return
        labels_changed = _meta(old).get("labels") != _meta(cur).get("labels")
        if _meta(cur).get("deletionTimestamp"):
            # A graceful delete: the pod is gone as far as replicas go (upstream counts it now).
            self._pod_deleted(cur)
            if labels_changed:
                self._pod_deleted(old)
            return
        namespace = str(_meta(cur).get("namespace") or "")
        old_ref, cur_ref = controller_of(old), controller_of(cur)
        ref_changed = (old_ref or {}).get("uid") != (cur_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            old_rs = self._resolve(namespace, old_ref)
            if old_rs is not None:
                self.enqueue(old_rs)
        rs = self._resolve(namespace, cur_ref)
        if rs is not None:
            self.enqueue(rs)
            min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
            if not is_pod_ready(old) and is_pod_ready(cur) and min_ready > 0:
                # Look again once the pod has been ready long enough to count as available.
                self.enqueue_after(object_key(rs), min_ready + 1)
            return
        if cur_ref is None and (labels_changed or ref_changed):
            for match in self._sets_selecting(cur):
                self.enqueue(match)

    def _pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        rs = self._resolve(str(_meta(pod).get("namespace") or ""), controller_of(pod))
        if rs is None:
            return
        key = object_key(rs)
        self.expectations.deletion_observed_of(key, object_key(pod))
        self.queue.add(key)

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        rs = self.set_lister.get(name, namespace)
        if rs is None:
            self.expectations.delete(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            reqs = self.selector_of(rs)
        except SelectorError as err:
            self.log.error("%s %s: invalid selector: %s", self.KIND, key, err)
            return
        active = [p for p in pods_for_owner(self.pods.indexer, rs) if is_pod_active(p)]
        ref = controller_ref(rs, self.API_VERSION, self.KIND)
        refs = RefManager(
            self.client,
            PODS,
            rs,
            ref,
            matcher(reqs) if reqs else (lambda labels: False),
            recheck_owner(self.client, self.resource, rs),
        )
        pods = await refs.claim(active)
        manage_error: Exception | None = None
        if needs_sync and not _meta(rs).get("deletionTimestamp"):
            try:
                await self.manage_replicas(pods, rs, key, ref)
            except Exception as err:  # reported in status, then re-raised for the retry
                manage_error = err
        status = calculate_status(rs, pods, manage_error, self.wall_now())
        updated = await self.update_status(rs, status)
        min_ready = int((updated.get("spec") or {}).get("minReadySeconds") or 0)
        ustatus = updated.get("status") or {}
        replicas = spec_replicas(updated)
        if (
            manage_error is None
            and min_ready > 0
            and int(ustatus.get("readyReplicas") or 0) == replicas
            and int(ustatus.get("availableReplicas") or 0) != replicas
        ):
            self.enqueue_after(key, min_ready)
        if manage_error is not None:
            raise manage_error

    async def manage_replicas(
        self, pods: list[Object], rs: Object, key: str, ref: dict[str, Any]
    ) -> None:
        diff = len(pods) - spec_replicas(rs)
        if diff < 0:
            await self._create(rs, key, ref, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete(rs, key, pods, min(diff, self.burst_replicas))

    async def _create(self, rs: Object, key: str, ref: dict[str, Any], count: int) -> None:
        namespace = str(_meta(rs).get("namespace") or "")
        template = (rs.get("spec") or {}).get("template") or {}
        self.expectations.expect_creations(key, count)

        async def create_one() -> None:
            pod = pod_from_template(template, str(_meta(rs).get("name")), ref)
            if not _meta(pod).get("labels"):
                raise ValueError("unable to create pods, no labels")
            try:
                created = await self._create_generated(pod, namespace)
            except APIError as err:
                if _namespace_terminating(err):
                    return  # every later create fails too; nothing to report
                self.recorder.event(rs, "Warning", "FailedCreate", f"Error creating: {err}")
                raise
            self.recorder.event(
                rs, "Normal", "SuccessfulCreate", f"Created pod: {_meta(created).get('name')}"
            )

        try:
            await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE, create_one)
        except SlowStartError as failed:
            # The pods never asked for will never be observed: stop expecting them.
            for _ in range(count - failed.successes):
                self.expectations.creation_observed(key)
            raise failed.error from None

    async def _create_generated(self, pod: Object, namespace: str) -> Object:
        """Create `pod` (which has only a generateName), trying again if the name was taken.

        Upstream's API server retries a generateName create whose random suffix collided
        (RetryGenerateName, GENERATE_NAME_ATTEMPTS in all); ours answers 409 AlreadyExists.
        Five characters of 27 collide about 3 times per 10,000 pods of one set, and each
        collision would fail the whole slow-start batch (a FailedCreate event, a ReplicaFailure
        condition, the rest of the burst skipped, a retry with backoff) for nothing a user did.
        Nothing was written by the refused request, so trying again cannot double-create.
        """
        for attempt in range(1, GENERATE_NAME_ATTEMPTS + 1):
            try:
                return await self.client.create(PODS, pod, namespace)
            except APIError as err:
                taken = err.code == 409 and err.reason == "AlreadyExists"
                if not taken or attempt == GENERATE_NAME_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _delete(self, rs: Object, key: str, pods: list[Object], count: int) -> None:
        namespace = str(_meta(rs).get("namespace") or "")
        victims = pods_to_delete(pods, self._related_pods(rs), count, self.wall_now())
        self.expectations.expect_deletions_of(key, [object_key(p) for p in victims])

        async def delete_one(pod: Object) -> None:
            name = str(_meta(pod).get("name"))
            try:
                await self.client.delete(PODS, name, namespace)
            except APIError as err:
                self.expectations.deletion_observed_of(key, object_key(pod))
                if err.code == 404:
                    return
                self.recorder.event(rs, "Warning", "FailedDelete", f"Error deleting: {err}")
                raise
            self.recorder.event(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _related_pods(self, rs: Object) -> list[Object]:
        """Pods of every set sharing this set's controller (getIndirectlyRelatedPods)."""
        ref = controller_of(rs)
        if ref is None:
            return []
        namespace = str(_meta(rs).get("namespace") or "")
        seen: set[str] = set()
        related: list[Object] = []
        for other in self.sets.indexer.by_index(self._uid_index, str(ref.get("uid"))):
            try:
                reqs = self.selector_of(other)
            except SelectorError:
                continue
            if not reqs:
                continue
            for pod in self.pod_lister.list(namespace, matcher(reqs)):
                uid = str(_meta(pod).get("uid"))
                if uid not in seen:
                    seen.add(uid)
                    related.append(pod)
        return related

    async def update_status(self, rs: Object, status: dict[str, Any]) -> Object:
        """Write `status` with observedGeneration = generation, unless nothing changed."""
        old = rs.get("status") or {}
        generation = int(_meta(rs).get("generation") or 0)
        if (
            all(int(old.get(f) or 0) == int(status.get(f) or 0) for f in _COUNTED)
            and int(old.get("observedGeneration") or 0) == generation
            and (old.get("conditions") or []) == (status.get("conditions") or [])
        ):
            return rs
        status = dict(status)
        if generation:
            status["observedGeneration"] = generation
        current = copy_object(rs)
        for attempt in range(2):  # upstream's statusUpdateRetries = 1
            current["status"] = status
            try:
                return await self.client.update(self.resource, current, subresource="status")
            except APIError as err:
                if attempt == 1 or err.code == 404:
                    raise
                current = await self.client.get(
                    self.resource, str(_meta(rs).get("name")), str(_meta(rs).get("namespace"))
                )
        raise AssertionError("unreachable")  # pragma: no cover


class ReplicationControllerController(ReplicaSetController):
    """The same for ReplicationControllers, whose selector is a plain label map."""

    NAME = "replicationcontroller"
    PLURAL = "replicationcontrollers"
    KIND = "ReplicationController"
    API_VERSION = "v1"
    WORKERS_OPTION = "concurrent-rc-syncs"

    def selector_of(self, rs: Object) -> list[Requirement]:
        selector = (rs.get("spec") or {}).get("selector") or {}
        return sorted(
            ((str(k), EQUALS, (str(v),)) for k, v in selector.items()), key=lambda r: r[0]
        )


manager.register(ReplicaSetController)
manager.register(ReplicationControllerController)
