"""The garbage collector's dependency graph: who owns whom, by uid (upstream graph.go and
graph_builder.go).

`GraphBuilder` watches every resource that can be listed, watched and deleted (the rows of
`kube.api.resources.REGISTRY` with those verbs, Events excepted as upstream) through the
shared informers. The informer handlers only append a `GraphEvent` to `changes`; one task
(`process_changes`) applies them to the graph in order, so the graph has a single writer:

- a `Node` per object, keyed by uid, with its `ownerReferences` (`owners`) and the uids of the
  objects that name it as owner (`dependents`);
- an owner named by a reference but not (yet) seen is a *virtual* node; it goes to the
  attempt-to-delete queue so the collector asks the API server whether it exists, and a
  "virtual delete" event removes it again when it does not;
- the transitions that matter are turned into work: an object that starts being deleted with
  the `orphan` finalizer goes to the attempt-to-orphan queue; one with `foregroundDeletion`
  is marked "deleting dependents" and it and its dependents go to attempt-to-delete; a
  deleted object sends its dependents (maybe orphaned now) and its owners that wait on their
  dependents to attempt-to-delete; a dependent that drops a blocking reference wakes the
  owner it blocked.

Queue keys are uids; a worker looks the node up in `nodes`, so a node that left the graph is
simply skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kube.api.meta import Object
from kube.api.registry import Resource
from kube.api.resources import REGISTRY
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, SharedInformerFactory
from kube.client.workqueue import RateLimitingQueue

log = logging.getLogger("kube.controllers.garbage-collector")

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
# upstream's ignoredResources: Events are never owners worth tracking.
IGNORED = {("", "events"), ("events.k8s.io", "events")}
ABSENT_OWNER_CACHE_SIZE = 500

ADD, UPDATE, DELETE = "add", "update", "delete"
OwnerRef = dict[str, Any]


@dataclass(frozen=True)
class ObjectRef:
    """An object's coordinates: an owner reference plus the namespace (upstream objectReference)."""

    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str = ""

    def __str__(self) -> str:
        return (
            f"[{self.api_version}/{self.kind}, namespace: {self.namespace}, "
            f"name: {self.name}, uid: {self.uid}]"
        )

    @classmethod
    def of_owner(cls, ref: OwnerRef, namespace: str) -> ObjectRef:
        return cls(
            str(ref.get("apiVersion") or ""),
            str(ref.get("kind") or ""),
            str(ref.get("name") or ""),
            str(ref.get("uid") or ""),
            namespace,
        )

    def coordinates(self) -> tuple[str, str, str, str]:
        return (self.api_version, self.kind, self.name, self.uid)


def ref_coordinates(ref: OwnerRef) -> tuple[str, str, str, str]:
    """What identifies an owner in a reference (controller/blockOwnerDeletion aside)."""
    return (
        str(ref.get("apiVersion") or ""),
        str(ref.get("kind") or ""),
        str(ref.get("name") or ""),
        str(ref.get("uid") or ""),
    )


def owner_refs(obj: Object) -> list[OwnerRef]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [r for r in refs if isinstance(r, dict) and r.get("uid")]


def finalizers_of(obj: Object) -> list[str]:
    return [str(f) for f in (obj.get("metadata") or {}).get("finalizers") or []]


def being_deleted(obj: Object) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def blocks(ref: OwnerRef) -> bool:
    return ref.get("blockOwnerDeletion") is True


@dataclass
class Node:
    """One object (or a virtual owner) in the graph."""

    identity: ObjectRef
    owners: list[OwnerRef] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    being_deleted: bool = False
    deleting_dependents: bool = False
    virtual: bool = False
    observed: bool = False

    def clone(self, identity: ObjectRef) -> Node:
        return Node(
            identity,
            list(self.owners),
            set(self.dependents),
            self.being_deleted,
            self.deleting_dependents,
            self.virtual,
            self.observed,
        )


@dataclass(frozen=True)
class GraphEvent:
    """A change for the graph: from an informer, or a virtual delete from the collector."""

    type: str
    identity: ObjectRef
    obj: Object | None = None
    old: Object | None = None
    virtual: bool = False


class AbsentOwnerCache:
    """An LRU set of owners verified absent, so siblings do not each ask the API server."""

    def __init__(self, size: int = ABSENT_OWNER_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[ObjectRef, None] = OrderedDict()

    def add(self, ref: ObjectRef) -> None:
        self._items[ref] = None
        self._items.move_to_end(ref)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __contains__(self, ref: object) -> bool:
        if ref in self._items:
            assert isinstance(ref, ObjectRef)
            self._items.move_to_end(ref)
            return True
        return False


def monitored_resources(rows: Iterable[Resource] = REGISTRY) -> list[Resource]:
    """upstream's GetDeletableResources: list, watch and delete, Events excepted."""
    return [
        r
        for r in rows
        if {"list", "watch", "delete"} <= set(r.verbs) and (r.group, r.plural) not in IGNORED
    ]


def referenced_identity(node: Node, dependents: list[Node]) -> tuple[list[Node], list[Node]]:
    """upstream's partitionDependents: dependents whose reference matches `node`'s identity
    (namespace included, for a namespaced owner), and those that name it otherwise."""
    identity = node.identity
    matching, nonmatching = [], []
    for dep in dependents:
        match = mismatch = False
        if identity.namespace and identity.namespace != dep.identity.namespace:
            mismatch = True
        else:
            for ref in dep.owners:
                if str(ref.get("uid")) == identity.uid:
                    if ref_coordinates(ref) == identity.coordinates():
                        match = True
                    else:
                        mismatch = True
        if match:
            matching.append(dep)
        if mismatch:
            nonmatching.append(dep)
    return matching, nonmatching


class GraphBuilder:
    """Keeps `nodes` in step with the informers and feeds the collector's two queues."""

    def __init__(
        self,
        informers: SharedInformerFactory,
        attempt_to_delete: RateLimitingQueue[str],
        attempt_to_orphan: RateLimitingQueue[str],
        *,
        report_invalid: Callable[[Node, OwnerRef], None] | None = None,
        resources: Iterable[Resource] | None = None,
    ) -> None:
        self.informers = informers
        self.attempt_to_delete = attempt_to_delete
        self.attempt_to_orphan = attempt_to_orphan
        self.report_invalid = report_invalid
        self.resources = list(resources) if resources is not None else monitored_resources()
        self.nodes: dict[str, Node] = {}
        self.absent_owners = AbsentOwnerCache()
        self._changes: deque[GraphEvent] = deque()
        self._wakeup = asyncio.Event()

    # -- informers -> changes ---------------------------------------------------------------

    def setup(self) -> None:
        """One informer per monitored resource, each feeding `changes`."""
        for resource in self.resources:
            informer = self.informers.informer(resource)
            informer.add_event_handler(self._handler(resource))

    def _handler(self, resource: Resource) -> EventHandler:
        def identity(obj: Object) -> ObjectRef:
            meta = obj.get("metadata") or {}
            return ObjectRef(
                resource.api_version,
                resource.kind,
                str(meta.get("name") or ""),
                str(meta.get("uid") or ""),
                str(meta.get("namespace") or ""),
            )

        def on_add(obj: Object) -> None:
            self.add_change(GraphEvent(ADD, identity(obj), obj))

        def on_update(old: Object, new: Object) -> None:
            self.add_change(GraphEvent(UPDATE, identity(new), new, old))

        def on_delete(obj: Object | DeletedFinalStateUnknown) -> None:
            last = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
            self.add_change(GraphEvent(DELETE, identity(last), last))

        return EventHandler(on_add=on_add, on_update=on_update, on_delete=on_delete)

    def add_change(self, event: GraphEvent) -> None:
        self._changes.append(event)
        self._wakeup.set()

    def enqueue_virtual_delete(self, identity: ObjectRef) -> None:
        """The collector found no object behind `identity`: drop it from the graph."""
        self.add_change(GraphEvent(DELETE, identity, virtual=True))

    @property
    def pending(self) -> int:
        return len(self._changes)

    async def process_changes(self) -> None:
        """Apply changes one at a time, forever (the graph's only writer)."""
        while True:
            while self._changes:
                event = self._changes.popleft()
                try:
                    self.process(event)
                except Exception:
                    log.exception("processing %s of %s failed", event.type, event.identity)
            self._wakeup.clear()
            await self._wakeup.wait()

    # -- changes -> graph -------------------------------------------------------------------

    def process(self, event: GraphEvent) -> None:
        """upstream's processGraphChanges for one event."""
        uid = event.identity.uid
        if not uid:
            return
        existing = self.nodes.get(uid)
        if existing is not None and not event.virtual and not existing.observed:
            existing = self._observe(existing, event.identity)
        if event.type in (ADD, UPDATE):
            assert event.obj is not None
            if existing is None:
                node = Node(
                    event.identity,
                    owners=owner_refs(event.obj),
                    being_deleted=being_deleted(event.obj),
                    deleting_dependents=being_deleted(event.obj)
                    and FOREGROUND in finalizers_of(event.obj),
                    observed=True,
                )
                self.nodes[uid] = node
                self._add_dependent_to_owners(node, node.owners)
                self._process_transitions(event.old, event.obj, node)
            else:
                self._update_owners(existing, owner_refs(event.obj))
                if being_deleted(event.obj):
                    existing.being_deleted = True
                self._process_transitions(event.old, event.obj, existing)
        elif existing is not None:
            self._process_delete(event, existing)

    def _observe(self, node: Node, observed: ObjectRef) -> Node:
        """A virtual node's object showed up: take its real identity, recheck odd dependents."""
        if observed != node.identity:
            _, invalid = referenced_identity(Node(observed), self.dependents_of(node))
            for dep in invalid:
                if observed.namespace and dep.identity.namespace != observed.namespace:
                    self._report_invalid(dep, observed.uid)
                self.attempt_to_delete.add(dep.identity.uid)
            node = node.clone(observed)
            self.nodes[observed.uid] = node
        node.observed = True
        node.virtual = False
        return node

    def _update_owners(self, node: Node, new: list[OwnerRef]) -> None:
        old_by_uid = {str(r["uid"]): r for r in node.owners}
        new_by_uid = {str(r["uid"]): r for r in new}
        added = [r for u, r in new_by_uid.items() if u not in old_by_uid]
        removed = [r for u, r in old_by_uid.items() if u not in new_by_uid]
        changed = [
            (old_by_uid[u], r)
            for u, r in new_by_uid.items()
            if u in old_by_uid and old_by_uid[u] != r
        ]
        if not (added or removed or changed):
            return
        # A blocking reference that went away may be what an owner was waiting for.
        unblocked = [r for r in removed if blocks(r)]
        unblocked += [n for o, n in changed if blocks(o) and not blocks(n)]
        for ref in unblocked:
            if str(ref["uid"]) in self.nodes:
                self.attempt_to_delete.add(str(ref["uid"]))
        node.owners = new
        self._add_dependent_to_owners(node, added)
        for ref in removed:
            owner = self.nodes.get(str(ref["uid"]))
            if owner is not None:
                owner.dependents.discard(node.identity.uid)

    def _add_dependent_to_owners(self, node: Node, owners: list[OwnerRef]) -> None:
        """Link `node` under each owner, making virtual owners for those not seen yet."""
        suspicious = False
        for ref in owners:
            owner_uid = str(ref["uid"])
            owner = self.nodes.get(owner_uid)
            if owner is None:
                owner = Node(ObjectRef.of_owner(ref, node.identity.namespace), virtual=True)
                self.nodes[owner_uid] = owner
                owner.dependents.add(node.identity.uid)
                # Ask the API server whether it exists; a virtual delete removes it if not.
                self.attempt_to_delete.add(owner_uid)
                continue
            owner.dependents.add(node.identity.uid)
            if suspicious:
                continue
            owner_ns = owner.identity.namespace
            if owner_ns and owner_ns != node.identity.namespace:
                if owner.observed:
                    self._report_invalid(node, owner_uid)
                suspicious = True
            elif ref_coordinates(ref) != owner.identity.coordinates():
                suspicious = True
            elif not owner_ns and node.identity.namespace and not owner.observed:
                suspicious = True  # maybe a namespaced kind named by a cluster-scoped ref
        if suspicious:
            self.attempt_to_delete.add(node.identity.uid)

    def _report_invalid(self, node: Node, owner_uid: str) -> None:
        if self.report_invalid is None:
            return
        for ref in node.owners:
            if str(ref.get("uid")) == owner_uid:
                self.report_invalid(node, ref)
                return

    def _process_transitions(self, old: Object | None, new: Object, node: Node) -> None:
        if _starts_deletion_with(old, new, ORPHAN):
            self.attempt_to_orphan.add(node.identity.uid)
            return
        if _starts_deletion_with(old, new, FOREGROUND):
            node.deleting_dependents = True
            node.being_deleted = True
            for dep_uid in node.dependents:
                self.attempt_to_delete.add(dep_uid)
            self.attempt_to_delete.add(node.identity.uid)

    def _process_delete(self, event: GraphEvent, existing: Node) -> None:
        remove = True
        deleted = event.identity
        if event.virtual:
            dependents = self.dependents_of(existing)
            matching, nonmatching = referenced_identity(Node(deleted), dependents)
            if existing.virtual and nonmatching:
                # Dependents disagree about who this owner is: keep it under another name.
                remove = False
                if matching:
                    self.absent_owners.add(deleted)
                    for dep in matching:
                        self.attempt_to_delete.add(dep.identity.uid)
                if existing.identity == deleted:
                    alternate = _alternate_identity(nonmatching, deleted)
                    if alternate is not None:
                        self.nodes[deleted.uid] = existing.clone(alternate)
                        self.attempt_to_delete.add_rate_limited(deleted.uid)
            elif not existing.virtual and existing.identity != deleted:
                remove = False  # a real object is not removed by a virtual delete of another
                if matching:
                    self.absent_owners.add(deleted)
                    for dep in matching:
                        self.attempt_to_delete.add(dep.identity.uid)
        if not remove:
            return
        self.remove_node(existing)
        if existing.dependents:
            self.absent_owners.add(deleted)
        for dep_uid in existing.dependents:
            self.attempt_to_delete.add(dep_uid)
        for ref in existing.owners:
            owner = self.nodes.get(str(ref["uid"]))
            if owner is not None and owner.deleting_dependents:
                # Maybe the last dependent it waited for: check whether it can go now.
                self.attempt_to_delete.add(owner.identity.uid)

    def remove_node(self, node: Node) -> None:
        if self.nodes.get(node.identity.uid) is node:
            del self.nodes[node.identity.uid]
        for ref in node.owners:
            owner = self.nodes.get(str(ref["uid"]))
            if owner is not None:
                owner.dependents.discard(node.identity.uid)

    # -- queries ---------------------------------------------------------------------------

    def dependents_of(self, node: Node) -> list[Node]:
        return [self.nodes[u] for u in sorted(node.dependents) if u in self.nodes]

    def blocking_dependents(self, node: Node) -> list[Node]:
        """Dependents whose reference to `node` has blockOwnerDeletion: true."""
        uid = node.identity.uid
        return [
            dep
            for dep in self.dependents_of(node)
            if any(str(r.get("uid")) == uid and blocks(r) for r in dep.owners)
        ]


def _starts_deletion_with(old: Object | None, new: Object, finalizer: str) -> bool:
    """upstream's deletionStartsWithFinalizer: `new` is being deleted with `finalizer`, and
    `old` (if any) was not."""
    if not being_deleted(new) or finalizer not in finalizers_of(new):
        return False
    if old is None:
        return True
    return not being_deleted(old) or finalizer not in finalizers_of(old)


def _sort_key(ref: ObjectRef) -> tuple[str, str, str, str, str]:
    return (ref.kind, ref.api_version, ref.namespace, ref.name, ref.uid)


def _alternate_identity(deps: list[Node], absent: ObjectRef) -> ObjectRef | None:
    """upstream's getAlternateOwnerIdentity: another identity dependents give this uid."""
    cluster_scoped = not absent.namespace
    seen = {absent}
    candidates: list[ObjectRef] = []
    for dep in deps:
        for ref in dep.owners:
            if str(ref.get("uid")) != absent.uid:
                continue
            if ref_coordinates(ref) == absent.coordinates() and (
                cluster_scoped or absent.namespace == dep.identity.namespace
            ):
                continue
            alt = ObjectRef.of_owner(ref, dep.identity.namespace)
            if cluster_scoped and (alt.api_version, alt.kind) == (absent.api_version, absent.kind):
                alt = ObjectRef(alt.api_version, alt.kind, alt.name, alt.uid, "")
            if alt not in seen:
                seen.add(alt)
                candidates.append(alt)
    if not candidates:
        return None
    following = [c for c in candidates if _sort_key(c) > _sort_key(absent)]
    return min(following or candidates, key=_sort_key)
