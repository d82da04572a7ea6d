"""The namespace controller: empties a terminating namespace, then lets it go
(upstream pkg/controller/namespace and its deletion/namespaced_resources_deleter.go).

`kubectl delete namespace x` only marks the namespace (`deletionTimestamp`, phase
Terminating); its `spec.finalizers` still hold `kubernetes`. This controller sees the mark
(after upstream's 5 s namespaceDeletionGracePeriod, so last-moment creates are in storage),
and for every namespaced resource that can be deleted (the rows of the registry) deletes the
namespace's objects: deletecollection where the resource serves it, else list and delete
each, always with propagationPolicy Background (upstream goes resource by resource; here
eight at a time, as they are independent). Then it lists again. While something
remains (pods still terminating, objects held by finalizers) the namespace's
`status.conditions` say so, with upstream's five condition types, reasons and messages, and
the namespace is looked at again after half the estimate (pods' grace period, or 15 s for
finalizers). Once nothing remains it removes `kubernetes` from `spec.finalizers` through
`PUT namespaces/{name}/finalize`, and the API server deletes the namespace.

Option `namespace-deletion-grace-period` (seconds, default upstream's fixed 5) shortens the
wait before the first sync; tests set it to 0.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kube.api.errors import APIError
from kube.api.meta import Object, now_rfc3339, parse_rfc3339
from kube.api.registry import Resource
from kube.api.resources import REGISTRY, resolve
from kube.client.informer import DeletedFinalStateUnknown, EventHandler
from kube.controllers.base import Controller
from kube.controllers.manager import register

__all__ = ["NamespaceController", "ResourcesRemaining", "update_conditions"]


def _row(name: str) -> Resource:
    row = resolve(name)
    if row is None:
        raise LookupError(name)
    return row


NAMESPACES = _row("namespaces")
PODS = _row("pods")

FINALIZER_TOKEN = "kubernetes"
DELETION_GRACE_PERIOD = 5.0
# upstream's finalizerEstimateSeconds: how long finalizers are assumed to take.
FINALIZER_ESTIMATE_SECONDS = 15
CONFLICT_RETRIES = 5
# Resources emptied at once (upstream goes one by one; each is independent).
PARALLEL_RESOURCES = 8

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GV_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (
    DISCOVERY_FAILURE,
    GV_PARSING_FAILURE,
    CONTENT_FAILURE,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
)
OK_REASONS = {
    DISCOVERY_FAILURE: "ResourcesDiscovered",
    GV_PARSING_FAILURE: "ParsedGroupVersions",
    CONTENT_FAILURE: "ContentDeleted",
    CONTENT_REMAINING: "ContentRemoved",
    FINALIZERS_REMAINING: "ContentHasNoFinalizers",
}
OK_MESSAGES = {
    DISCOVERY_FAILURE: "All resources successfully discovered",
    GV_PARSING_FAILURE: "All legacy kube types successfully parsed",
    CONTENT_FAILURE: "All content successfully deleted, may be waiting on finalization",
    CONTENT_REMAINING: "All content successfully removed",
    FINALIZERS_REMAINING: "All content-preserving finalizers finished",
}


class UnexpectedContent(Exception):
    """Objects without finalizers survived their delete (something else keeps creating them)."""

    def __init__(self, message: str, remaining: Remaining) -> None:
        super().__init__(message)
        self.remaining = remaining


class ResourcesRemaining(Exception):
    """Content is still going away; look again in a while (not a failure)."""

    def __init__(self, estimate: int) -> None:
        super().__init__(
            f"some content remains in the namespace, estimate {estimate} seconds before it is "
            "removed"
        )
        self.estimate = estimate


def deletable_resources(rows: Iterable[Resource] = REGISTRY) -> list[Resource]:
    """Namespaced resources that can be deleted (upstream filters discovery by `delete`)."""
    return [r for r in rows if r.namespaced and r.stored and "delete" in r.verbs]


def gvr_string(resource: Resource) -> str:
    """Go's GroupVersionResource.String(): `apps/v1, Resource=deployments`."""
    return f"{resource.group}/{resource.version}, Resource={resource.plural}"


@dataclass
class Remaining:
    """What is left of one resource after deleting (upstream gvrDeletionMetadata)."""

    estimate: int = 0
    count: int = 0
    finalizers: dict[str, int] = field(default_factory=dict)


@dataclass
class ConditionUpdater:
    """upstream's namespaceConditionUpdater: failures in, the five conditions out."""

    new: list[dict[str, Any]] = field(default_factory=list)
    content_errors: list[str] = field(default_factory=list)

    def content_totals(self, by_resource: dict[str, int], by_finalizer: dict[str, int]) -> None:
        if by_resource:
            parts = sorted(
                f"{name} has {n} resource instances" for name, n in by_resource.items() if n
            )
            self.new.append(
                _condition(
                    CONTENT_REMAINING,
                    "True",
                    "SomeResourcesRemain",
                    "Some resources are remaining: " + ", ".join(parts),
                )
            )
        if by_finalizer:
            parts = sorted(f"{f} in {n} resource instances" for f, n in by_finalizer.items() if n)
            self.new.append(
                _condition(
                    FINALIZERS_REMAINING,
                    "True",
                    "SomeFinalizersRemain",
                    "Some content in the namespace has finalizers remaining: " + ", ".join(parts),
                )
            )

    def update(self, namespace: Object) -> bool:
        """Set the conditions on `namespace` (in place); whether anything changed."""
        if self.content_errors and not any(c["type"] == CONTENT_FAILURE for c in self.new):
            messages = sorted(self.content_errors)
            self.new.append(
                _condition(
                    CONTENT_FAILURE,
                    "True",
                    "ContentDeletionFailed",
                    f"Failed to delete all resource types, {len(messages)} remaining: "
                    + ", ".join(messages),
                )
            )
        status = namespace.get("status")
        if not isinstance(status, dict):
            status = namespace["status"] = {}
        conditions = status.get("conditions")
        if not isinstance(conditions, list):
            conditions = status["conditions"] = []
        return update_conditions(conditions, self.new)


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "lastTransitionTime": now_rfc3339(),
        "reason": reason,
        "message": message,
    }


def update_conditions(current: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """upstream's updateConditions: each type set to its failure or to its "ok" variant."""
    changed = False
    for kind in CONDITION_TYPES:
        wanted = next((c for c in new if c["type"] == kind), None)
        if wanted is None:
            wanted = _condition(kind, "False", OK_REASONS[kind], OK_MESSAGES[kind])
        old = next((c for c in current if isinstance(c, dict) and c.get("type") == kind), None)
        if old is None:
            current.append(wanted)
            changed = True
        elif any(old.get(k) != wanted[k] for k in ("status", "message", "reason")):
            if old.get("status") != wanted["status"]:
                old["lastTransitionTime"] = now_rfc3339()
            old.update({k: wanted[k] for k in ("type", "status", "reason", "message")})
            changed = True
    return changed


class NamespaceController(Controller):
    """The `namespace` controller."""

    NAME: ClassVar[str] = "namespace"
    # upstream's --concurrent-namespace-syncs.
    WORKERS: ClassVar[int] = 10
    MAX_RETRIES: ClassVar[int | None] = None

    def setup(self) -> None:
        self.grace = float(
            self.ctx.options.get("namespace-deletion-grace-period", DELETION_GRACE_PERIOD)
        )
        self.resources = deletable_resources()
        informer = self.ctx.informers.informer(NAMESPACES)
        informer.add_event_handler(
            EventHandler(
                on_add=self._enqueue_if_deleting,
                on_update=lambda _old, new: self._enqueue_if_deleting(new),
                resync=300.0,
            )
        )
        self.lister = informer.lister()

    def _enqueue_if_deleting(self, obj: Object | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            return
        if not (obj.get("metadata") or {}).get("deletionTimestamp"):
            return
        name = str(obj["metadata"].get("name") or "")
        if self.grace > 0:
            self.queue.add_after(name, self.grace)
        else:
            self.queue.add(name)

    async def sync(self, key: str) -> None:
        if self.lister.get(key) is None:
            return  # gone already
        try:
            await self.delete(key)
        except ResourcesRemaining as remaining:
            wait = remaining.estimate // 2 + 1
            self.log.info("content remaining in namespace %s, waiting %d seconds", key, wait)
            self.queue.add_after(key, float(wait))

    # -- upstream's namespacedResourcesDeleter.Delete ----------------------------------------

    async def delete(self, name: str) -> None:
        try:
            namespace = await self.client.get(NAMESPACES, name)
        except APIError as err:
            if err.code == 404:
                return
            raise
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        try:
            namespace = await self._retry_on_conflict(namespace, self._mark_terminating)
        except APIError as err:
            if err.code == 404:
                return
            raise
        if not namespace["metadata"].get("deletionTimestamp"):
            return
        if not (namespace.get("spec") or {}).get("finalizers"):
            return  # finalized already
        estimate = await self.delete_all_content(namespace)
        if estimate > 0:
            raise ResourcesRemaining(estimate)
        try:
            await self._retry_on_conflict(namespace, self._finalize)
        except APIError as err:
            if err.code != 404:
                raise

    async def _retry_on_conflict(
        self, namespace: Object, change: Callable[[Object], Any]
    ) -> Object:
        latest = namespace
        for _ in range(CONFLICT_RETRIES):
            try:
                result: Object = await change(latest)
                return result
            except APIError as err:
                if err.reason != "Conflict":
                    raise
            previous = latest
            latest = await self.client.get(NAMESPACES, str(previous["metadata"]["name"]))
            if latest["metadata"].get("uid") != previous["metadata"].get("uid"):
                raise RuntimeError("namespace uid has changed across retries")
        raise RuntimeError(f"namespace {namespace['metadata']['name']}: too many conflicts")

    async def _mark_terminating(self, namespace: Object) -> Object:
        status = namespace.get("status") or {}
        if status.get("phase") == "Terminating":
            return namespace
        updated = {**namespace, "status": {**status, "phase": "Terminating"}}
        return await self.client.update(NAMESPACES, updated, subresource="status")

    async def _finalize(self, namespace: Object) -> Object:
        spec = dict(namespace.get("spec") or {})
        spec["finalizers"] = sorted(
            {str(f) for f in spec.get("finalizers") or [] if f != FINALIZER_TOKEN}
        )
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": namespace["metadata"]}
        body["spec"] = spec
        return await self.client.update(NAMESPACES, body, subresource="finalize")

    # -- content ------------------------------------------------------------------------------

    async def delete_all_content(self, namespace: Object) -> int:
        """Delete everything in the namespace; the seconds it may still take (0: all gone)."""
        name = str(namespace["metadata"]["name"])
        deleted_at = parse_rfc3339(str(namespace["metadata"]["deletionTimestamp"]))
        updater = ConditionUpdater()
        errors: list[str] = []
        estimate = 0
        by_resource: dict[str, int] = {}
        by_finalizer: dict[str, int] = {}
        limit = asyncio.Semaphore(PARALLEL_RESOURCES)

        async def one(resource: Resource) -> Remaining | BaseException:
            async with limit:
                try:
                    return await self._delete_resource(resource, name, deleted_at)
                except Exception as err:  # one resource failing must not stop the others
                    return err

        results = await asyncio.gather(*(one(r) for r in self.resources))
        for resource, result in zip(self.resources, results, strict=True):
            if isinstance(result, Remaining):
                remaining = result
            else:
                message = result.message if isinstance(result, APIError) else str(result)
                errors.append(message)
                updater.content_errors.append(message)
                remaining = (
                    result.remaining if isinstance(result, UnexpectedContent) else Remaining()
                )
            estimate = max(estimate, remaining.estimate)
            if remaining.count:
                by_resource[f"{resource.plural}.{resource.group}"] = remaining.count
                for finalizer, count in remaining.finalizers.items():
                    by_finalizer[finalizer] = by_finalizer.get(finalizer, 0) + count
        updater.content_totals(by_resource, by_finalizer)
        if updater.update(namespace):
            try:
                written = await self.client.update(NAMESPACES, namespace, subresource="status")
                namespace.clear()
                namespace.update(written)  # finalize goes on from the new resourceVersion
            except APIError as err:
                self.log.warning("couldn't update status condition for namespace %r: %s", name, err)
        if errors:
            raise RuntimeError("; ".join(errors))
        return estimate

    async def _delete_resource(
        self, resource: Resource, namespace: str, deleted_at: dt.datetime
    ) -> Remaining:
        """upstream's deleteAllContentForGroupVersionResource."""
        estimate = await self._estimate(resource, namespace, deleted_at)
        if "deletecollection" in resource.verbs:
            await self.client.deletecollection(resource, namespace, propagation_policy="Background")
        elif "list" in resource.verbs:
            for item in await self._list(resource, namespace):
                try:
                    await self.client.delete(
                        resource,
                        str(item["metadata"]["name"]),
                        namespace,
                        propagation_policy="Background",
                    )
                except APIError as err:
                    if err.code not in (404, 405):
                        raise
        if "list" not in resource.verbs:
            return Remaining(estimate)
        items = await self._list(resource, namespace)
        if not items:
            return Remaining()
        finalizers: dict[str, int] = {}
        for item in items:
            for finalizer in (item.get("metadata") or {}).get("finalizers") or []:
                finalizers[str(finalizer)] = finalizers.get(str(finalizer), 0) + 1
        if estimate:
            return Remaining(estimate, len(items), finalizers)
        if finalizers:
            return Remaining(FINALIZER_ESTIMATE_SECONDS, len(items), finalizers)
        raise UnexpectedContent(
            f"unexpected items still remain in namespace: {namespace} for gvr: "
            f"{gvr_string(resource)}",
            Remaining(estimate, len(items)),
        )

    async def _list(self, resource: Resource, namespace: str) -> list[Object]:
        answer = await self.client.list(resource, namespace)
        return [i for i in answer.get("items") or [] if isinstance(i, dict)]

    async def _estimate(self, resource: Resource, namespace: str, deleted_at: dt.datetime) -> int:
        """Pods' longest grace period, while it has not yet passed since the delete began."""
        if (resource.group, resource.plural) != ("", "pods"):
            return 0
        estimate = 0
        for pod in await self._list(PODS, namespace):
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(grace, int) and grace > estimate:
                estimate = grace
        elapsed = (dt.datetime.now(dt.UTC) - deleted_at).total_seconds()
        return 0 if elapsed >= estimate else estimate


register(NamespaceController)
