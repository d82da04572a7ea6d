"""PV and PVC protection ("pv-protection", "pvc-protection"): volumes in use are not removed.

Upstream pkg/controller/volume/pvcprotection and pvprotection. Every PersistentVolumeClaim
carries the `kubernetes.io/pvc-protection` finalizer and every PersistentVolume
`kubernetes.io/pv-protection` (the controllers add them when missing, as upstream's
StorageObjectInUseProtection admission plugin does at create). When a claim is being deleted,
its finalizer is removed only once no pod that is not terminal uses it (a
`persistentVolumeClaim` volume naming it); a volume's, once it is no longer Bound to a claim.
"""

from __future__ import annotations

from kube.api import errors
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, split_key
from kube.controllers.base import Controller
from kube.controllers.manager import register

PVCS = resource("persistentvolumeclaims")
PVS = resource("persistentvolumes")
PODS = resource("pods")
PVC_FINALIZER = "kubernetes.io/pvc-protection"
PV_FINALIZER = "kubernetes.io/pv-protection"
CLAIMS_INDEX = "persistentVolumeClaims"


def pod_claims(pod: Object) -> list[str]:
    """`namespace/claim` of every claim a pod mounts (the index protection looks pods up by)."""
    namespace = (pod.get("metadata") or {}).get("namespace") or ""
    out = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if claim:
            out.append(f"{namespace}/{claim}")
    return out


async def _set_finalizers(
    controller: Controller, res: Resource, obj: Object, finalizers: list[str]
) -> None:
    meta = obj["metadata"]
    patch = {
        "metadata": {
            "finalizers": finalizers or None,
            "resourceVersion": meta.get("resourceVersion"),
        }
    }
    try:
        await controller.client.patch(res, meta["name"], patch, meta.get("namespace"))
    except errors.APIError as err:
        if err.code == 409:
            controller.queue.add(
                f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
            )
        elif err.code != 404:
            raise


class PVCProtectionController(Controller):
    NAME = "pvc-protection"

    def setup(self) -> None:
        self.claims = self.ctx.informers.informer(PVCS)
        self.pods = self.ctx.informers.informer(PODS)
        self.pods.add_indexer(CLAIMS_INDEX, pod_claims)
        self.claims.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        )
        self.pods.add_event_handler(
            EventHandler(
                on_update=lambda _o, pod: self._pod_changed(pod),
                on_delete=lambda pod: self._pod_changed(
                    pod.object if isinstance(pod, DeletedFinalStateUnknown) else pod
                ),
            )
        )

    def _pod_changed(self, pod: Object) -> None:
        for key in pod_claims(pod):
            self.queue.add(key)

    def _in_use(self, key: str) -> bool:
        return any(
            (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for p in self.pods.indexer.by_index(CLAIMS_INDEX, key)
        )

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        claim = self.claims.lister().get(name, namespace)
        if claim is None:
            return
        meta = claim["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            if PVC_FINALIZER not in finalizers:
                await _set_finalizers(self, PVCS, claim, [*finalizers, PVC_FINALIZER])
            return
        if PVC_FINALIZER in finalizers and not self._in_use(key):
            await _set_finalizers(self, PVCS, claim, [f for f in finalizers if f != PVC_FINALIZER])


class PVProtectionController(Controller):
    NAME = "pv-protection"

    def setup(self) -> None:
        self.volumes = self.ctx.informers.informer(PVS)
        self.volumes.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        )

    async def sync(self, key: str) -> None:
        volume = self.volumes.lister().get(key)
        if volume is None:
            return
        meta = volume["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            if PV_FINALIZER not in finalizers:
                await _set_finalizers(self, PVS, volume, [*finalizers, PV_FINALIZER])
            return
        bound = (volume.get("status") or {}).get("phase") == "Bound"
        if PV_FINALIZER in finalizers and not bound:
            await _set_finalizers(self, PVS, volume, [f for f in finalizers if f != PV_FINALIZER])


register(PVCProtectionController)
register(PVProtectionController)
