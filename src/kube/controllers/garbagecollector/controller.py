"""The garbage collector: deletes what lost its owners, and carries out cascading deletes
(upstream pkg/controller/garbagecollector/garbagecollector.go).

The graph (`graph.GraphBuilder`) feeds two queues of uids:

- attempt-to-delete (`attempt_to_delete_item`): read the object live; a virtual node whose
  object is missing (404, or another uid) leaves the graph. An object "deleting dependents"
  (foreground) waits until no dependent blocks it, then loses its `foregroundDeletion`
  finalizer (the API server then completes the delete), while its blocking dependents are
  sent to be deleted. Any other object is checked owner by owner, live: owners that are gone
  are dangling, owners being deleted in the foreground are waiting; with a solid owner left,
  only the dangling and waiting references are removed; with none, the object is deleted
  (foreground when an owner waits on it and it has dependents of its own, else as its own
  finalizers say, else in the background), with a uid precondition;
- attempt-to-orphan (`attempt_to_orphan_item`): an owner being deleted with the `orphan`
  finalizer: its reference is removed from every dependent, then the finalizer.

A cluster-scoped object naming a namespaced owner, or an owner in another namespace, is
reported with the upstream Warning event `OwnerRefInvalidNamespace`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.api.resources import REGISTRY
from kube.client.worker import run_workers
from kube.client.workqueue import RateLimitingQueue
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.garbagecollector.graph import (
    FOREGROUND,
    ORPHAN,
    GraphBuilder,
    Node,
    ObjectRef,
    OwnerRef,
    blocks,
    finalizers_of,
    owner_refs,
)
from kube.controllers.manager import register

__all__ = ["GarbageCollector", "VirtualDeleted"]


class VirtualDeleted(Exception):
    """The node's object does not exist: a virtual delete event was queued instead."""


class NotObservedYet(Exception):
    """A virtual node's object exists but no informer has shown it yet (retried)."""


class RESTMappingError(Exception):
    """An owner reference names a kind this server does not serve."""


class NamespacedOwnerOfClusterScoped(Exception):
    """A cluster-scoped object names a namespaced owner (never valid, never retried)."""


def resource_for(api_version: str, kind: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    row = REGISTRY.for_kind(group, version, kind)
    if row is None:
        raise RESTMappingError(f"unable to map {api_version}, Kind={kind} to a resource")
    return row


class GarbageCollector(Controller):
    """The `garbage-collector` controller."""

    NAME: ClassVar[str] = "garbage-collector"
    # upstream's --concurrent-gc-syncs.
    WORKERS: ClassVar[int] = 20

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.attempt_to_delete: RateLimitingQueue[str] = RateLimitingQueue(
            "garbage_collector_attempt_to_delete", clock=ctx.clock
        )
        self.attempt_to_orphan: RateLimitingQueue[str] = RateLimitingQueue(
            "garbage_collector_attempt_to_orphan", clock=ctx.clock
        )
        self.graph = GraphBuilder(
            ctx.informers,
            self.attempt_to_delete,
            self.attempt_to_orphan,
            report_invalid=self._report_invalid_namespace,
        )

    def setup(self) -> None:
        self.graph.setup()

    async def sync(self, key: str) -> None:
        """Unused: the collector's work comes from its two graph-fed queues."""

    async def run(self, workers: int | None = None) -> None:
        count = workers or self.WORKERS
        graph = asyncio.create_task(self.graph.process_changes(), name="gc-graph-changes")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    run_workers(
                        self.attempt_to_delete,
                        self._delete_worker,
                        count,
                        max_retries=None,
                        name="garbage-collector-attempt-to-delete",
                        log=self.log,
                    )
                )
                group.create_task(
                    run_workers(
                        self.attempt_to_orphan,
                        self._orphan_worker,
                        count,
                        max_retries=None,
                        name="garbage-collector-attempt-to-orphan",
                        log=self.log,
                    )
                )
        finally:
            graph.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await graph

    def shutdown(self) -> None:
        super().shutdown()
        self.attempt_to_delete.shutdown()
        self.attempt_to_orphan.shutdown()

    # -- attempt to delete --------------------------------------------------------------------

    async def _delete_worker(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return  # left the graph meanwhile
        try:
            await self.attempt_to_delete_item(node)
        except (VirtualDeleted, NamespacedOwnerOfClusterScoped):
            return
        current = self.graph.nodes.get(uid)
        if node.virtual and current is not None and current.virtual:
            # Exists but not seen by an informer yet: look again, with backoff, until it is
            # (upstream #56121: else a node added and removed during a relist stays forever).
            raise NotObservedYet(str(node.identity))

    async def attempt_to_delete_item(self, item: Node) -> None:
        """upstream's attemptToDeleteItem."""
        if item.being_deleted and not item.deleting_dependents:
            return  # on its way out; its dependents are handled when it is gone
        latest = await self._get(item.identity)
        if latest is None or _uid(latest) != item.identity.uid:
            self.graph.enqueue_virtual_delete(item.identity)
            raise VirtualDeleted(str(item.identity))
        if item.deleting_dependents:
            await self._process_deleting_dependents(item)
            return
        refs = owner_refs(latest)
        if not refs:
            return
        solid, dangling, waiting = await self._classify(item, refs)
        if solid:
            if not dangling and not waiting:
                return
            gone = [str(r["uid"]) for r in dangling + waiting]
            await self._patch_owner_refs(
                item.identity, [{"$patch": "delete", "uid": u} for u in gone]
            )
            return
        if waiting and item.dependents:
            if any(dep.deleting_dependents for dep in self.graph.dependents_of(item)):
                # A possible cycle: stop blocking the owners, then delete in the foreground.
                unblock = [
                    {"uid": str(r["uid"]), "blockOwnerDeletion": False} for r in refs if blocks(r)
                ]
                if unblock:
                    await self._patch_owner_refs(item.identity, unblock)
            await self._delete(item.identity, "Foreground")
            return
        finalizers = finalizers_of(latest)
        if ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(item.identity, policy)

    async def _process_deleting_dependents(self, item: Node) -> None:
        blocking = self.graph.blocking_dependents(item)
        if not blocking:
            await self._remove_finalizer(item.identity, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.attempt_to_delete.add(dep.identity.uid)

    async def _classify(
        self, item: Node, refs: list[OwnerRef]
    ) -> tuple[list[OwnerRef], list[OwnerRef], list[OwnerRef]]:
        """Owners that exist (solid), are gone (dangling), or wait on their dependents."""
        solid: list[OwnerRef] = []
        dangling: list[OwnerRef] = []
        waiting: list[OwnerRef] = []
        for ref in refs:
            owner = await self._live_owner(ref, item)
            if owner is None:
                dangling.append(ref)
            elif (owner.get("metadata") or {}).get("deletionTimestamp") and (
                FOREGROUND in finalizers_of(owner)
            ):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _live_owner(self, ref: OwnerRef, item: Node) -> Object | None:
        """upstream's isDangling: the owner as the API server has it, or None if absent."""
        cluster_key = ObjectRef.of_owner(ref, "")
        namespaced_key = ObjectRef.of_owner(ref, item.identity.namespace)
        absent = self.graph.absent_owners
        if cluster_key in absent or namespaced_key in absent:
            return None
        resource = resource_for(cluster_key.api_version, cluster_key.kind)
        if not item.identity.namespace and resource.namespaced:
            raise NamespacedOwnerOfClusterScoped(str(item.identity))
        key = namespaced_key if resource.namespaced else cluster_key
        namespace = item.identity.namespace if resource.namespaced else None
        try:
            owner = await self.client.get(resource, cluster_key.name, namespace)
        except APIError as err:
            if err.code != 404:
                raise
            absent.add(key)
            return None
        if _uid(owner) != cluster_key.uid:
            absent.add(key)
            return None
        return owner

    # -- attempt to orphan --------------------------------------------------------------------

    async def _orphan_worker(self, uid: str) -> None:
        owner = self.graph.nodes.get(uid)
        if owner is None:
            return
        await self.attempt_to_orphan_item(owner)

    async def attempt_to_orphan_item(self, owner: Node) -> None:
        """Remove the owner's reference from every dependent, then the `orphan` finalizer."""
        failures: list[str] = []

        async def orphan(dep: Node) -> None:
            try:
                await self._patch_owner_refs(
                    dep.identity, [{"$patch": "delete", "uid": owner.identity.uid}]
                )
            except APIError as err:
                if err.code != 404:
                    failures.append(f"orphaning {dep.identity} failed, {err}")

        await asyncio.gather(*(orphan(dep) for dep in self.graph.dependents_of(owner)))
        if failures:
            raise RuntimeError(
                f"failed to orphan dependents of owner {owner.identity}, got errors: "
                + "; ".join(failures)
            )
        await self._remove_finalizer(owner.identity, ORPHAN)

    # -- API calls --------------------------------------------------------------------------

    async def _get(self, identity: ObjectRef) -> Object | None:
        resource = resource_for(identity.api_version, identity.kind)
        namespace = identity.namespace if resource.namespaced else None
        try:
            return await self.client.get(resource, identity.name, namespace)
        except APIError as err:
            if err.code == 404:
                return None
            raise

    async def _delete(self, identity: ObjectRef, policy: str) -> None:
        """Delete with a uid precondition, so a new object of the same name is safe."""
        resource = resource_for(identity.api_version, identity.kind)
        namespace = identity.namespace if resource.namespaced else None
        self.log.info("deleting %s with propagationPolicy %s", identity, policy)
        await self.client.delete(
            resource,
            identity.name,
            namespace,
            propagation_policy=policy,
            preconditions={"uid": identity.uid},
        )

    async def _patch_owner_refs(self, identity: ObjectRef, refs: list[dict[str, Any]]) -> None:
        """A strategic merge patch of `ownerReferences` (merge key uid), as upstream sends."""
        resource = resource_for(identity.api_version, identity.kind)
        namespace = identity.namespace if resource.namespaced else None
        patch = {"metadata": {"ownerReferences": refs, "uid": identity.uid}}
        await self.client.patch(resource, identity.name, patch, namespace, patch_type="strategic")

    async def _remove_finalizer(self, identity: ObjectRef, finalizer: str) -> None:
        """Drop one finalizer, compare-and-swap on the resourceVersion read (retried)."""
        resource = resource_for(identity.api_version, identity.kind)
        namespace = identity.namespace if resource.namespaced else None
        for _ in range(5):
            obj = await self._get(identity)
            if obj is None or _uid(obj) != identity.uid:
                return
            current = finalizers_of(obj)
            if finalizer not in current:
                return
            meta = obj["metadata"]
            patch = {
                "metadata": {
                    "finalizers": [f for f in current if f != finalizer],
                    "resourceVersion": meta.get("resourceVersion"),
                }
            }
            try:
                await self.client.patch(resource, identity.name, patch, namespace)
            except APIError as err:
                if err.code == 404:
                    return
                if err.reason == "Conflict":
                    continue
                raise
            return
        raise RuntimeError(f"removing finalizer {finalizer} from {identity}: too many conflicts")

    # -- events -----------------------------------------------------------------------------

    def _report_invalid_namespace(self, node: Node, ref: OwnerRef) -> None:
        """upstream's reportInvalidNamespaceOwnerRef (a Warning on the dependent)."""
        identity = node.identity
        invalid = ObjectRef.of_owner(ref, identity.namespace)
        involved: Object = {
            "apiVersion": identity.api_version,
            "kind": identity.kind,
            "metadata": {
                "name": identity.name,
                "namespace": identity.namespace,
                "uid": identity.uid,
            },
        }
        self.recorder.event(
            involved,
            "Warning",
            "OwnerRefInvalidNamespace",
            f'ownerRef {invalid} does not exist in namespace "{identity.namespace}"',
        )


def _uid(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


register(GarbageCollector)
