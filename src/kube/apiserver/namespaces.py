"""The lifecycle rules of Namespaces that the generic store does not have: delete and finalize.

Upstream keeps them in pkg/registry/core/namespace/storage (REST.Delete, FinalizeREST and
ShouldDeleteNamespaceDuringUpdate). A namespace is not deleted by DELETE: the first DELETE
marks it (`deletionTimestamp`, `status.phase: Terminating`, and the garbage collector's
`orphan`/`foregroundDeletion` finalizers as the propagation policy asks) and answers 200 with
it. The namespace controller then empties it and removes its `kubernetes` entry from
`spec.finalizers` through `PUT namespaces/{name}/finalize`, the only way to change
`spec.finalizers`. The update that leaves a terminating namespace with neither
`spec.finalizers` nor `metadata.finalizers` deletes it (the store asks
`namespace_may_go`). A later DELETE while `spec.finalizers` remains changes nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kube.api import errors
from kube.api.meta import Object, metadata
from kube.apiserver import deleteoptions, handlers, negotiation
from kube.apiserver.requestinfo import RequestInfo
from kube.apiserver.store import UNCONDITIONAL_UPDATE_RETRIES, ObjectStore, rfc3339

__all__ = ["delete", "finalize", "namespace_may_go"]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


def namespace_may_go(obj: Object) -> bool:
    """upstream's ShouldDeleteNamespaceDuringUpdate: also wait for `spec.finalizers`."""
    spec = obj.get("spec")
    return not (isinstance(spec, dict) and spec.get("finalizers"))


def _gc_finalizers(current: list[Any], options: deleteoptions.DeleteOptions) -> list[Any]:
    """The metadata finalizers after a delete (upstream's shouldHave*Finalizer rules)."""
    orphan, foreground = ORPHAN in current, FOREGROUND in current
    if options.orphan_dependents is not None:
        orphan, foreground = options.orphan_dependents, not options.orphan_dependents
    elif options.propagation_policy:
        orphan = options.propagation_policy == "Orphan"
        foreground = options.propagation_policy == "Foreground"
    kept = [f for f in current if f not in (ORPHAN, FOREGROUND)]
    return kept + ([ORPHAN] if orphan else []) + ([FOREGROUND] if foreground else [])


def _precondition_failed(name: str, what: str, wanted: str, actual: str) -> errors.APIError:
    return errors.conflict(
        "",
        "namespaces",
        name,
        f"Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}",
    )


async def delete(store: ObjectStore, request: web.Request, info: RequestInfo) -> web.Response:
    """DELETE /api/v1/namespaces/{name}: upstream's namespace REST.Delete."""
    options = deleteoptions.parse(
        request.query, request.headers.get("Content-Type", ""), await handlers.read_body(request)
    )
    name = info.name
    namespace = await store.get("", name)
    meta = namespace["metadata"]
    uid = options.precondition_uid or str(meta.get("uid") or "")
    if uid != meta.get("uid"):
        raise _precondition_failed(name, "UID", uid, str(meta.get("uid") or ""))
    rv = options.precondition_rv
    if rv and rv != meta.get("resourceVersion"):
        raise _precondition_failed(
            name, "ResourceVersion", rv, str(meta.get("resourceVersion") or "")
        )
    status = 202 if options.orphan_dependents is False else 200
    if not meta.get("deletionTimestamp"):
        marked = await _mark_terminating(store, name, uid, rv, options)
        return handlers.respond(request, _typed(store, marked), status)
    if not namespace_may_go(namespace):
        return handlers.respond(request, _typed(store, namespace), status)
    obj, gone = await store.delete(
        "",
        name,
        propagation_policy=options.policy,
        precondition_uid=uid,
        precondition_rv=rv,
        dry_run=options.dry_run,
        grace_period_seconds=options.grace_period_seconds,
    )
    return handlers.respond(request, _typed(store, obj), 200 if gone else status)


async def _mark_terminating(
    store: ObjectStore, name: str, uid: str, rv: str, options: deleteoptions.DeleteOptions
) -> Object:
    """The first DELETE: deletionTimestamp, phase Terminating and the GC finalizers."""
    for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
        old = await store.get("", name)
        meta = old["metadata"]
        if meta.get("uid") != uid:
            raise _precondition_failed(name, "UID", uid, str(meta.get("uid") or ""))
        if rv and meta.get("resourceVersion") != rv:
            raise _precondition_failed(
                name, "ResourceVersion", rv, str(meta.get("resourceVersion") or "")
            )
        new = copy.deepcopy(old)
        new_meta = new["metadata"]
        if not new_meta.get("deletionTimestamp"):
            new_meta["deletionTimestamp"] = rfc3339(dt.datetime.now(dt.UTC))
        status = new.get("status")
        if not isinstance(status, dict):
            status = new["status"] = {}
        status["phase"] = "Terminating"
        current = list(new_meta.get("finalizers") or [])
        wanted = _gc_finalizers(current, options)
        if set(wanted) != set(current):
            new_meta["finalizers"] = wanted
        if options.dry_run or new == old:
            return new
        try:
            await store._write("", name, int(meta["resourceVersion"]), new)
        except errors.APIError as err:
            if err.reason == "Conflict":
                continue
            raise
        return new
    raise errors.conflict("", "namespaces", name, errors.OBJECT_MODIFIED)


async def finalize(store: ObjectStore, request: web.Request, info: RequestInfo) -> web.Response:
    """PUT /api/v1/namespaces/{name}/finalize: only `spec.finalizers` changes (FinalizeREST)."""
    body = negotiation.decode_body(
        request.headers.get("Content-Type", ""), await handlers.read_body(request)
    )
    version, kind = body.get("apiVersion"), body.get("kind")
    if version and version != "v1":
        raise errors.bad_request(
            f"the API version in the data ({version}) does not match the expected API version (v1)"
        )
    if kind and kind != "Namespace":
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind (Namespace)"
        )
    meta = body.get("metadata")
    if not isinstance(meta, dict | None):
        raise errors.bad_request("metadata must be an object")
    meta = meta or {}
    if meta.get("name") and meta["name"] != info.name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL "
            f"({info.name})"
        )
    spec = body.get("spec")
    finalizers = spec.get("finalizers") if isinstance(spec, dict) else None
    wanted_rv = str(meta.get("resourceVersion") or "")
    uid = str(meta.get("uid") or "")

    def change(old: Object) -> Object:
        old_meta = metadata(old)
        if uid and uid != old_meta.get("uid"):
            raise _precondition_failed(info.name, "UID", uid, str(old_meta.get("uid") or ""))
        new_spec = old.get("spec")
        if not isinstance(new_spec, dict):
            new_spec = old["spec"] = {}
        if finalizers:
            new_spec["finalizers"] = copy.deepcopy(finalizers)
        else:
            new_spec.pop("finalizers", None)
        return old

    dry_run = bool(request.query.getall("dryRun", []))
    if wanted_rv == "0":
        wanted_rv = ""
    updated = await _finalize_update(store, info.name, change, wanted_rv, dry_run)
    return handlers.respond(request, _typed(store, updated))


async def _finalize_update(
    store: ObjectStore,
    name: str,
    change: Callable[[Object], Object],
    wanted_rv: str,
    dry_run: bool,
) -> Object:
    """Compare-and-swap `change(current)` without the update rules (which keep
    `spec.finalizers`); a terminating namespace left with no finalizers is deleted."""
    for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
        old = await store.get("", name)
        revision = str(old["metadata"]["resourceVersion"])
        if wanted_rv and wanted_rv != revision:
            raise errors.conflict("", "namespaces", name, errors.OBJECT_MODIFIED)
        new = change(copy.deepcopy(old))
        store._validate(new, old)
        if new == old or dry_run:
            return new
        meta = metadata(new)
        try:
            deleting = meta.get("deletionTimestamp") and not meta.get("finalizers")
            if deleting and namespace_may_go(new):
                await store._delete_key("", name, int(revision), old)
                return new
            await store._write("", name, int(revision), new)
        except errors.APIError as err:
            if err.reason == "Conflict" and not wanted_rv:
                continue
            raise
        return new
    raise errors.conflict("", "namespaces", name, errors.OBJECT_MODIFIED)


def _typed(store: ObjectStore, obj: Object) -> Object:
    obj["apiVersion"], obj["kind"] = "v1", store.resource.kind
    return obj
