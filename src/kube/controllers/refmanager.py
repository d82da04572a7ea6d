"""Claiming: which objects a controller owns, adopting orphans and releasing strays.

Upstream's BaseControllerRefManager.ClaimObject (pkg/controller/controller_ref_manager.go),
for any owned kind (pods of a ReplicaSet, ReplicaSets of a Deployment):

- owned by another controller: not ours, leave it;
- owned by us and matching the selector: ours;
- owned by us and no longer matching: release it (drop our ownerReference), unless we are being
  deleted (the garbage collector will see to it);
- an orphan that matches, while we are not being deleted and it is not either: adopt it (add our
  controller reference) — but only after one fresh read of the owner from the API server
  confirms it still exists with the same uid and is not being deleted (`can_adopt`), so a stale
  cache never makes a dead controller adopt.

The writes are JSON merge patches of `metadata.ownerReferences` carrying the object's
resourceVersion, so a concurrent change makes them fail (and the sync retry) instead of losing
someone else's references. A 404 (the object went away) is not an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.client.rest import RESTClient
from kube.controllers.pods import controller_of


class RefManager:
    """Claims objects of `resource` for one owner (an object with metadata.uid)."""

    def __init__(
        self,
        client: RESTClient,
        resource: Resource,
        owner: Object,
        owner_ref: dict[str, Any],
        matches: Callable[[dict[str, str]], bool],
        can_adopt: Callable[[], Awaitable[None]],
    ) -> None:
        self.client = client
        self.resource = resource
        self.owner = owner
        self.owner_ref = owner_ref
        self.uid = str(owner_ref.get("uid") or "")
        self.matches = matches
        self._can_adopt = can_adopt
        self._adopt_checked = False
        self.owner_deleting = bool((owner.get("metadata") or {}).get("deletionTimestamp"))

    async def claim(self, objects: list[Object]) -> list[Object]:
        """The objects this owner controls after adopting and releasing; raises on write errors."""
        claimed: list[Object] = []
        errors: list[Exception] = []
        for obj in objects:
            try:
                if await self._claim_one(obj):
                    claimed.append(obj)
            except APIError as err:
                errors.append(err)
        if errors:
            raise errors[0]
        return claimed

    async def _claim_one(self, obj: Object) -> bool:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != self.uid:
                return False
            if self.matches(labels):
                return True
            if self.owner_deleting:
                return False
            await self._release(obj)
            return False
        if self.owner_deleting or not self.matches(labels):
            return False
        if meta.get("deletionTimestamp"):
            return False
        if not self._adopt_checked:
            await self._can_adopt()
            self._adopt_checked = True
        return await self._adopt(obj)

    async def _patch_refs(self, obj: Object, refs: list[dict[str, Any]]) -> Object | None:
        meta = obj.get("metadata") or {}
        body = {
            "metadata": {
                "ownerReferences": refs or None,
                "resourceVersion": meta.get("resourceVersion"),
            }
        }
        try:
            return await self.client.patch(
                self.resource, str(meta.get("name")), body, str(meta.get("namespace") or "")
            )
        except APIError as err:
            if err.code == 404:
                return None
            raise

    async def _adopt(self, obj: Object) -> bool:
        refs = [dict(r) for r in (obj.get("metadata") or {}).get("ownerReferences") or []]
        refs = [r for r in refs if r.get("uid") != self.uid]
        refs.append(dict(self.owner_ref))
        return await self._patch_refs(obj, refs) is not None

    async def _release(self, obj: Object) -> None:
        refs = [
            dict(r)
            for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if r.get("uid") != self.uid
        ]
        try:
            await self._patch_refs(obj, refs)
        except APIError as err:
            if err.code != 422:  # upstream ignores NotFound and Invalid on release
                raise


def recheck_owner(
    client: RESTClient, resource: Resource, owner: Object
) -> Callable[[], Awaitable[None]]:
    """RecheckDeletionTimestamp: a `can_adopt` that reads the owner fresh from the server."""
    meta = owner.get("metadata") or {}

    async def check() -> None:
        fresh = await client.get(resource, str(meta.get("name")), str(meta.get("namespace") or ""))
        fresh_meta = fresh.get("metadata") or {}
        if fresh_meta.get("uid") != meta.get("uid"):
            raise RuntimeError(
                f"original {resource.kind} {meta.get('namespace')}/{meta.get('name')} is gone: "
                f"got uid {fresh_meta.get('uid')}, wanted {meta.get('uid')}"
            )
        if fresh_meta.get("deletionTimestamp"):
            raise RuntimeError(
                f"{resource.kind} {meta.get('namespace')}/{meta.get('name')} has just been "
                f"deleted at {fresh_meta.get('deletionTimestamp')}"
            )

    return check
