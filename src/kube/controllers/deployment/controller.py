"""The Deployment controller: informers, handlers, and one sync per Deployment key.

Handlers only enqueue Deployment keys: the Deployment itself on any change; a ReplicaSet's
controlling Deployment (or, for an orphan ReplicaSet, every Deployment whose selector matches
it, so it can be adopted); and, for Recreate Deployments, the owner of a deleted pod, because
Recreate waits for old pods to be gone.

`sync(key)` follows upstream's syncDeployment:

- a Deployment selecting everything (`selector: {}`) gets a SelectingAll warning and nothing
  else;
- its ReplicaSets are claimed (adopted/released by selector and controller reference);
- being deleted: only the status is synced;
- Progressing Unknown/DeploymentPaused or DeploymentResumed is recorded around a pause;
- paused, or a scale event (an active ReplicaSet annotated with another desired size):
  `sync.sync` scales proportionally and never rolls out;
- otherwise the strategy (Recreate or RollingUpdate) takes one step.

Rollback is client side (`kubectl rollout undo` patches the template back from an old
ReplicaSet); the controller then finds that ReplicaSet as the new one and bumps its revision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from kube.api.meta import Object, copy_object
from kube.api.resources import resolve
from kube.api.selectors import SelectorError, from_label_selector
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, split_key
from kube.controllers import manager
from kube.controllers.base import Controller, ControllerContext
from kube.controllers.deployment import recreate, rolling, sync
from kube.controllers.pods import controller_of, controller_ref
from kube.controllers.refmanager import RefManager, recheck_owner
from kube.native import match_labels


def _resource(plural: str) -> Any:
    found = resolve(plural)
    if found is None:  # pragma: no cover - built-in kinds are always registered
        raise LookupError(plural)
    return found


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class DeploymentController(Controller):
    """Rolls Deployments out through ReplicaSets."""

    NAME = "deployment"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.deployments = _resource("deployments")
        self.replicasets = _resource("replicasets")
        self.pods_resource = _resource("pods")
        # Wall time for conditions and progress deadlines; tests replace it.
        self.wall_now: Callable[[], dt.datetime] = utcnow

    async def run(self, workers: int | None = None) -> None:
        """Run with `--concurrent-deployment-syncs` workers (default 5)."""
        count = workers or int(self.ctx.options.get("concurrent-deployment-syncs") or self.WORKERS)
        await super().run(count)

    # -- informers -------------------------------------------------------------------------

    def setup(self) -> None:
        informers = self.ctx.informers
        self.d_informer = informers.informer(self.deployments)
        self.rs_informer = informers.informer(self.replicasets)
        self.pod_informer = informers.informer(self.pods_resource)
        self.d_lister = self.d_informer.lister()
        self.rs_lister = self.rs_informer.lister()
        self.pod_lister = self.pod_informer.lister()
        self.d_informer.add_event_handler(
            EventHandler(
                on_add=self.enqueue,
                on_update=lambda old, new: self.enqueue(new),
                on_delete=self.enqueue,
            )
        )
        self.rs_informer.add_event_handler(
            EventHandler(
                on_add=self._rs_added, on_update=self._rs_updated, on_delete=self._rs_deleted
            )
        )
        self.pod_informer.add_event_handler(EventHandler(on_delete=self._pod_deleted))

    def _resolve(self, namespace: str, ref: dict[str, Any] | None) -> Object | None:
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.d_lister.get(str(ref.get("name")), namespace)
        if d is None or _meta(d).get("uid") != ref.get("uid"):
            return None
        return d

    def _selects(self, d: Object, labels: dict[str, str]) -> bool:
        try:
            reqs = from_label_selector((d.get("spec") or {}).get("selector") or {})
        except SelectorError:
            return False
        return bool(reqs) and bool(match_labels(reqs, [labels]))

    def _deployments_for_orphan(self, rs: Object) -> list[Object]:
        meta = _meta(rs)
        labels = meta.get("labels") or {}
        if not labels:
            return []
        return [
            d
            for d in self.d_lister.list(str(meta.get("namespace") or ""))
            if self._selects(d, labels)
        ]

    def _rs_added(self, rs: Object) -> None:
        if _meta(rs).get("deletionTimestamp"):
            self._rs_deleted(rs)
            return
        ref = controller_of(rs)
        if ref is not None:
            d = self._resolve(str(_meta(rs).get("namespace") or ""), ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._deployments_for_orphan(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Object, cur: Object) -> None:
        if _meta(old).get("resourceVersion") == _meta(cur).get("resourceVersion"):
            return
        namespace = str(_meta(cur).get("namespace") or "")
        old_ref, cur_ref = controller_of(old), controller_of(cur)
        ref_changed = (old_ref or {}).get("uid") != (cur_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            d = self._resolve(namespace, old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._resolve(namespace, cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        labels_changed = _meta(old).get("labels") != _meta(cur).get("labels")
        if labels_changed or ref_changed:
            for d in self._deployments_for_orphan(cur):
                self.enqueue(d)

    def _rs_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        rs = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        d = self._resolve(str(_meta(rs).get("namespace") or ""), controller_of(rs))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        namespace = str(_meta(pod).get("namespace") or "")
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.rs_lister.get(str(ref.get("name")), namespace)
        if rs is None or _meta(rs).get("uid") != ref.get("uid"):
            return
        d = self._resolve(namespace, controller_of(rs))
        if d is None:
            return
        strategy = ((d.get("spec") or {}).get("strategy") or {}).get("type")
        if strategy == "Recreate":
            self.enqueue(d)

    # -- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        cached = self.d_lister.get(name, namespace)
        if cached is None:
            return
        d = copy_object(cached)
        spec = d.get("spec") or {}
        if not spec.get("selector"):
            self.recorder.event(
                d,
                "Warning",
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            )
            status = sync.status_of(d)
            generation = int(_meta(d).get("generation") or 0)
            if int(status.get("observedGeneration") or 0) < generation:
                status["observedGeneration"] = generation
                await sync.update_status(self, d)
            return
        rs_list = await self.replica_sets_for(d)
        if _meta(d).get("deletionTimestamp"):
            await sync.sync_status_only(self, d, rs_list)
            return
        await sync.check_paused_conditions(self, d)
        if spec.get("paused"):
            await sync.sync(self, d, rs_list)
            return
        if await sync.is_scaling_event(self, d, rs_list):
            await sync.sync(self, d, rs_list)
            return
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            await recreate.rollout_recreate(self, d, rs_list, self.pod_map(d, rs_list))
        elif strategy == "RollingUpdate":
            await rolling.rollout_rolling(self, d, rs_list)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")

    async def replica_sets_for(self, d: Object) -> list[Object]:
        """The Deployment's ReplicaSets after adopting orphans and releasing strays."""
        namespace = str(_meta(d).get("namespace") or "")
        reqs = from_label_selector((d.get("spec") or {}).get("selector") or {})
        refs = RefManager(
            self.client,
            self.replicasets,
            d,
            controller_ref(d, "apps/v1", "Deployment"),
            lambda labels: bool(match_labels(reqs, [labels])),
            recheck_owner(self.client, self.deployments, d),
        )
        claimed = await refs.claim(self.rs_lister.list(namespace))
        return [copy_object(rs) for rs in claimed]

    def pod_map(self, d: Object, rs_list: list[Object]) -> dict[str, list[Object]]:
        """The Deployment's pods by the uid of the ReplicaSet that controls them."""
        namespace = str(_meta(d).get("namespace") or "")
        reqs = from_label_selector((d.get("spec") or {}).get("selector") or {})
        pods = self.pod_lister.list(namespace, lambda labels: bool(match_labels(reqs, [labels])))
        by_uid: dict[str, list[Object]] = {str(_meta(rs).get("uid")): [] for rs in rs_list}
        for pod in pods:
            ref = controller_of(pod)
            if ref is not None and str(ref.get("uid")) in by_uid:
                by_uid[str(ref.get("uid"))].append(pod)
        return by_uid


manager.register(DeploymentController)
