"""REST handlers: one coroutine per Kubernetes verb, over the generic store.

The dispatcher (`app.py`) has already authenticated and authorized the request and parsed
its `RequestInfo`; the handlers here read query parameters and bodies, call the
`ObjectStore`, and write the response in the negotiated format. Every failure is an
`APIError`, turned into a `Status` by the app.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kube.api import errors, fieldmanager, patch, typecheck
from kube.api.meta import Object, api_version, list_object, metadata, now_rfc3339
from kube.api.strategicpatch import StrategicMergePatchError, strategic_merge_patch
from kube.apiserver import decodeerrors, deleteoptions, negotiation, tables, watchcache
from kube.apiserver.admission import serviceaccount
from kube.apiserver.fieldtypes import field_type
from kube.apiserver.managedfields import FieldChecks, tracker, warning_headers
from kube.apiserver.patchschema import patch_meta
from kube.apiserver.requestinfo import RequestInfo
from kube.apiserver.selection import Selection
from kube.apiserver.store import PROGRESS, Change, ChangeStream, ObjectStore
from kube.codec import gojson, jsonc, protobuf

WATCH_DEFAULT_TIMEOUT = 1800  # seconds; upstream picks 30-60 min at random
BOOKMARK_INTERVAL = 60.0
WATCH_WRITE_FRAMES = 256  # changes written together at most (see Handlers._send)
WATCH_WRITE_BYTES = 1 << 20


def _query(request: web.Request, name: str) -> str:
    return request.query.get(name, "")


def _bool(request: web.Request, name: str) -> bool:
    return _query(request, name).lower() in ("1", "true")


def _query_int(request: web.Request, name: str) -> int:
    """An int64 ListOptions parameter (0 when absent); a 400 in strconv.ParseInt's words."""
    text = _query(request, name)
    return deleteoptions._query_int(text) if text else 0  # the same parser DELETE uses


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


def _media(request: web.Request) -> str:
    """The request body's media type, without parameters, lower case."""
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > negotiation.MAX_BODY_BYTES:
        raise errors.too_large(negotiation.MAX_BODY_BYTES)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > negotiation.MAX_BODY_BYTES:
            raise errors.too_large(negotiation.MAX_BODY_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


def respond(
    request: web.Request, obj: Any, status: int = 200, warnings: list[str] | None = None
) -> web.Response:
    protobuf_ok = not isinstance(obj, dict) or protobuf.supports(
        str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    )
    output = negotiation.choose_output(
        request.headers.get("Accept", ""), _query(request, "includeObject"), protobuf_ok=protobuf_ok
    )
    body = obj
    if (
        output.as_kind == "Table"
        and isinstance(obj, dict)
        and obj.get("kind")
        not in (
            "Status",
            "Table",
        )
    ):
        kind = obj.get("kind", "")
        body = tables.table(kind, [obj], resource_version=metadata(obj).get("resourceVersion", ""))
    elif output.as_kind == "PartialObjectMetadata" and isinstance(obj, dict):
        body = tables.partial_metadata(obj)
    response = web.Response(
        body=negotiation.encode(output, body),
        status=status,
        headers={"Content-Type": output.content_type},
    )
    if warnings:
        warning_headers(response, warnings)
    return response


PATCH_REJECTED = "the server rejected our request due to an error in our request"


def _go_json_error(body: bytes, err: Exception) -> str:
    """Go's encoding/json words for a body that is not JSON."""
    return gojson.syntax_error(body) or str(err)


def _json_patch_operations(body: bytes) -> list[Any]:
    """A JSON patch body as upstream's jsonpatch.DecodePatch reads it; 400 if it cannot."""
    try:
        document = jsonc.loads(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(_go_json_error(body, err)) from err
    if document is None:
        return []
    if not isinstance(document, list):
        raise errors.bad_request(
            f"json: cannot unmarshal {gojson.type_name(document)} into Go value of type "
            "jsonpatch.Patch"
        )
    for operation in document:
        if operation is not None and not isinstance(operation, dict):
            raise errors.bad_request(
                f"json: cannot unmarshal {gojson.type_name(operation)} into Go value of type "
                "jsonpatch.Operation"
            )
    return document


def _merge_patch_document(body: bytes) -> Any:
    """A merge patch: an object (or, as upstream's json-patch allows, a list that replaces
    the whole object); anything else is json-patch's ErrBadJSONPatch, a 400."""
    try:
        document = jsonc.loads(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(BAD_JSON_PATCH) from err
    if not isinstance(document, dict | list):
        raise errors.bad_request(BAD_JSON_PATCH)
    return document


BAD_JSON_PATCH = "Invalid JSON Patch"


def _strategic_patch_document(body: bytes) -> dict[str, Any]:
    """A strategic merge patch: a JSON object, else a 400 in encoding/json's words."""
    try:
        document = jsonc.loads(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(_go_json_error(body, err)) from err
    if not isinstance(document, dict):
        raise errors.bad_request(
            f"json: cannot unmarshal {gojson.type_name(document)} into Go value of type "
            "map[string]interface {}"
        )
    return document


def _patched_invalid(patched: Any, why: str) -> errors.APIError:
    """A patch whose result does not decode into the kind: upstream's 422 on field `patch`."""
    shown = jsonc.dumps(patched).decode()
    return errors.invalid(
        "",
        "",
        "",
        [
            errors.Cause(
                "FieldValueInvalid", f"Invalid value: {errors.go_quote(shown)}: {why}", "patch"
            )
        ],
    )


def _check_fields(
    request: web.Request, checks: FieldChecks, store: ObjectStore, obj: Object
) -> None:
    """Unknown fields of a JSON or YAML body dropped, warned or refused (`fieldValidation`).

    A protobuf body is decoded by its kind's message, which has no field the kind does not
    declare: as upstream (whose protobuf decoding has no strict mode) nothing is looked for,
    which saved the walk over every Lease renewal and pod status the kubelets send.
    """
    if _media(request) != negotiation.PROTOBUF:
        checks.check(store, obj)


def deleted_status(store: ObjectStore, obj: Object) -> Object:
    """upstream's answer for a deleted object: Success, with its name, group, resource, uid."""
    r, meta = store.resource, metadata(obj)
    details: dict[str, Any] = {"name": meta.get("name", "")}
    if r.group:
        details["group"] = r.group
    details["kind"] = r.plural  # upstream puts the resource here, not the kind
    if meta.get("uid"):
        details["uid"] = meta["uid"]
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    }


class _Cursor:
    """Reads a change stream with timeouts, keeping at most one read in flight.

    A timed-out read stays pending and is picked up by the next call, so no change is lost;
    `close()` cancels it before closing the stream (an async generator cannot be closed while
    a read is running).
    """

    _END = object()

    def __init__(self, changes: ChangeStream) -> None:
        self.changes = changes
        self.pending: asyncio.Future[Change] | None = None

    async def next(self, seconds: float) -> Change | object | None:
        """The next change, None on timeout, or `_Cursor._END` when the stream ended."""
        if self.pending is None:
            # A change already queued is taken without a task and a timed wait per event.
            poll = getattr(self.changes, "poll", None)
            ready = poll() if poll is not None else None
            if isinstance(ready, Change):
                return ready
            self.pending = asyncio.ensure_future(self.changes.__anext__())
        done, _ = await asyncio.wait({self.pending}, timeout=seconds)
        if not done:
            return None
        task, self.pending = self.pending, None
        try:
            return task.result()
        except StopAsyncIteration:
            return self._END

    def ready(self) -> Change | None:
        """A change already queued, without waiting (None also while a read is in flight)."""
        if self.pending is not None:
            return None
        poll = getattr(self.changes, "poll", None)
        ready = poll() if poll is not None else None
        return ready if isinstance(ready, Change) else None

    def progress(self) -> int | None:
        """The revision the stream has delivered everything up to, if it knows (watch cache)."""
        progress = getattr(self.changes, "progress", None)
        return progress() if progress is not None else None

    async def close(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            await asyncio.gather(self.pending, return_exceptions=True)
            self.pending = None
        await self.changes.aclose()


class Handlers:
    """The verbs of one API server; `stores` maps a resource to its ObjectStore."""

    def __init__(
        self,
        lookup: Callable[[RequestInfo], ObjectStore],
        namespaces: Callable[[], ObjectStore] | None = None,
    ) -> None:
        self.lookup = lookup
        self.namespaces = namespaces
        # The ServiceAccount admission plugin (kube-apiserver --disable-admission-plugins).
        self.service_account_admission = True

    async def _check_namespace(self, namespace: str) -> None:
        """Upstream's NamespaceLifecycle: no new objects in missing or terminating namespaces."""
        if self.namespaces is None or not namespace:
            return
        store = self.namespaces()
        # As upstream's admission plugin, which keeps a namespace informer: the cached
        # namespace when there is one (a create need not read storage; the cache is filled on
        # first use if nothing has listed namespaces yet), a live read when the cache has not
        # seen it (just created) or cannot be filled.
        cache = store.cache
        ready = cache is not None and (cache.is_ready or await cache.ready())
        entry = cache.objects.get(store.resource.key("", namespace)) if cache else None
        if ready and entry is not None:
            ns = entry.object
        else:
            ns = await store.get("", namespace)
        if (ns.get("status") or {}).get("phase") == "Terminating" or ns["metadata"].get(
            "deletionTimestamp"
        ):
            raise errors.APIError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                {
                    "name": namespace,
                    "kind": "namespaces",
                    # Controllers stop retrying on this cause (upstream's NamespaceTerminating).
                    "causes": [
                        {
                            "reason": "NamespaceTerminating",
                            "message": f"namespace {namespace} is being terminated",
                            "field": "metadata.namespace",
                        }
                    ],
                },
            )

    async def _admit(
        self,
        store: ObjectStore,
        namespace: str,
        obj: Object,
        track: Callable[[Object | None, Object], Object] | None,
    ) -> Callable[[Object | None, Object], Object] | None:
        """Mutating admission of a create (the ServiceAccount plugin, for pods).

        Its checks run now; its change is folded into `track`, so the store makes it after
        recording managedFields and before validation, in upstream's order.
        """
        r = store.resource
        if not self.service_account_admission or (r.group, r.plural) != ("", "pods"):
            return track
        change = await serviceaccount.admit(self._service_account, namespace, obj)

        def admitted(old: Object | None, new: Object) -> Object:
            return change(track(old, new) if track is not None else new)

        return admitted

    async def _service_account(self, namespace: str, name: str) -> Object | None:
        """A service account from the watch cache when it has it, else from storage."""
        store = self.lookup(
            RequestInfo(True, "", "get", "", "v1", namespace, "serviceaccounts", name)
        )
        cache = store.cache
        if cache is not None and cache.is_ready:
            entry = cache.objects.get(store.resource.key(namespace, name))
            if entry is not None:
                return entry.object
        try:
            return await store.get(namespace, name)
        except errors.APIError as err:
            if err.code == 404:
                return None
            raise

    # -- reads ----------------------------------------------------------------------------

    async def get(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        obj = await store.get(info.namespace, info.name)
        return respond(request, self._with_type(store, obj))

    @staticmethod
    def _with_type(store: ObjectStore, obj: Object) -> Object:
        r = store.resource
        obj["apiVersion"] = api_version(r.group, r.version)
        obj["kind"] = r.kind
        return obj

    @staticmethod
    def _selection(request: web.Request, store: ObjectStore, name: str = "") -> Selection:
        """The request's selectors; watching one object by URL name selects it by name."""
        selection = Selection.parse(
            store.resource.kind, _query(request, "labelSelector"), _query(request, "fieldSelector")
        )
        if name and ("metadata.name", "=", (name,)) not in selection.fields:
            selection = Selection(
                selection.labels, [*selection.fields, ("metadata.name", "=", (name,))]
            )
        return selection

    async def list(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        selection = self._selection(request, store)
        limit = _query_int(request, "limit")
        _query_int(request, "timeoutSeconds")  # ListOptions: a malformed one is a 400 here too
        page = await store.list(
            info.namespace or None,
            limit=max(0, limit),
            continue_token=_query(request, "continue"),
            resource_version=_query(request, "resourceVersion"),
            resource_version_match=_query(request, "resourceVersionMatch"),
            select=None if selection.everything else selection.filter,
            shared=True,
        )
        r = store.resource
        output = negotiation.choose_output(
            request.headers.get("Accept", ""),
            _query(request, "includeObject"),
            protobuf_ok=protobuf.supports(api_version(r.group, r.version), r.kind),
        )
        items = page.items
        if page.entries is not None and store.cache is not None:
            # Served by the watch cache: assemble the body from its items' cached bytes.
            if not output.as_kind:
                data = watchcache.encode_list(store.cache, output.format, page)
                if data is not None:
                    return web.Response(body=data, headers={"Content-Type": output.content_type})
            items = [dict(o) for o in items]  # the cache's objects are shared: copy what we edit
        rv = str(page.resource_version)
        if output.as_kind == "Table":
            body: Object = tables.table(
                r.kind,
                [self._with_type(store, o) for o in items],
                resource_version=rv,
                continue_token=page.continue_token,
                remaining=page.remaining,
                include_object=output.include_object,
            )
        elif output.as_kind == "PartialObjectMetadataList":
            body = list_object(
                "meta.k8s.io/v1",
                "PartialObjectMetadataList",
                [tables.partial_metadata(o) for o in items],
                rv,
                **{"continue": page.continue_token, "remainingItemCount": page.remaining},
            )
        else:
            for obj in items:
                obj.pop("apiVersion", None)
                obj.pop("kind", None)
            body = list_object(
                api_version(r.group, r.version),
                f"{r.kind}List",
                items,
                rv,
                **{"continue": page.continue_token, "remainingItemCount": page.remaining},
            )
        return web.Response(
            body=negotiation.encode(output, body),
            headers={"Content-Type": output.content_type},
        )

    # -- writes ---------------------------------------------------------------------------

    async def _object_body(self, request: web.Request, store: ObjectStore) -> Object:
        """The body as an object of the URL's kind, refused as upstream's decoder refuses it.

        A body that does not decode, is of another kind, or has a value of the wrong JSON type
        is a 400 worded as upstream's transformDecodeError (`kube.apiserver.decodeerrors`).
        """
        body = await read_body(request)
        r = store.resource
        try:
            obj = negotiation.decode_body(request.headers.get("Content-Type", ""), body)
        except errors.APIError as err:
            if err.code != 400:
                raise  # 415: a media type it does not decode at all
            raise decodeerrors.unrecognized(r.kind, err.message, body) from err
        decodeerrors.check_kind(obj, r.group, r.version, r.kind)
        if _media(request) == negotiation.PROTOBUF:
            # Decoded by the kind's message: every value has its field's type already (as
            # upstream's protobuf decoding cannot yield a JSON type error), so the walk that
            # finds one (a tenth of a Lease renewal's CPU) is only for JSON and YAML.
            return obj
        why = typecheck.first_error(obj, field_type(r.group, r.version, r.kind))
        if why is not None:
            raise decodeerrors.cannot_handle(r.kind, r.version, r.kind, why)
        return obj

    async def create(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        checks = FieldChecks.of(request, "CreateOptions")
        track = tracker(request, store)
        obj = await self._object_body(request, store)
        _check_fields(request, checks, store, obj)
        if store.resource.namespaced:
            await self._check_namespace(info.namespace)
        admitted = await self._admit(store, info.namespace, obj, track)
        created = await store.create(info.namespace, obj, dry_run=_dry_run(request), track=admitted)
        return respond(request, self._with_type(store, created), 201, checks.warnings)

    async def update(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        checks = FieldChecks.of(request, "UpdateOptions")
        track = tracker(request, store, info.subresource)
        obj = await self._object_body(request, store)
        _check_fields(request, checks, store, obj)
        updated = await store.update(
            info.namespace,
            info.name,
            obj,
            subresource=info.subresource,
            dry_run=_dry_run(request),
            track=track,
        )
        return respond(request, self._with_type(store, updated), warnings=checks.warnings)

    async def patch(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        checks = FieldChecks.of(request, "PatchOptions")
        if content_type == negotiation.APPLY_PATCH:
            return await self._apply(request, info, store, checks)
        if "force" in request.query:
            fieldmanager.validate_patch_options(
                request.query.get("fieldManager", ""), _bool(request, "force"), apply=False
            )
        track = tracker(request, store, info.subresource)
        body = await read_body(request)
        r = store.resource
        schema = field_type(r.group, r.version, r.kind)
        change: Callable[[Object], Any]
        if content_type == negotiation.JSON_PATCH:
            operations = _json_patch_operations(body)

            def change(old: Object) -> Any:
                try:
                    return patch.json_patch(old, operations)
                except patch.PatchError as err:
                    # Upstream: NewGenericServerResponse(422, ...), which keeps no detail.
                    raise errors.APIError(422, "Invalid", PATCH_REJECTED) from err
        elif content_type == negotiation.MERGE_PATCH:
            document = _merge_patch_document(body)

            def change(old: Object) -> Any:
                return patch.merge_patch(old, document)
        elif content_type == negotiation.STRATEGIC_PATCH:
            strategic = _strategic_patch_document(body)
            meta = patch_meta(r.group, r.version, r.kind)

            def change(old: Object) -> Any:
                return strategic_merge_patch(old, strategic, meta)
        else:
            raise errors.unsupported_media_type(content_type or "(none)")

        def checked(old: Object) -> Object:
            try:
                new = change(old)
            except StrategicMergePatchError as err:
                # Upstream answers some of these with 500; a bad patch is the client's error.
                if err.code == 400:
                    raise errors.bad_request(str(err)) from err
                raise errors.APIError(422, "Invalid", str(err)) from err
            except patch.PatchError as err:
                raise errors.APIError(422, "Invalid", str(err)) from err
            if not isinstance(new, dict):
                raise _patched_invalid(
                    new,
                    "couldn't get version/kind; json parse error: json: cannot unmarshal "
                    f"{gojson.type_name(new)} into Go value of type {jsonc.FIND_KIND_TYPE}",
                )
            why = typecheck.first_error(new, schema)
            if why is not None:
                raise _patched_invalid(new, why)
            checks.warnings.clear()  # a retried change reports its fields once
            checks.check(store, new, whole_object=False)
            return new

        updated = await store.mutate(
            info.namespace,
            info.name,
            checked,
            subresource=info.subresource,
            dry_run=_dry_run(request),
            track=track,
            pure=True,  # the patch functions build a new object, never change the old one
        )
        return respond(request, self._with_type(store, updated), warnings=checks.warnings)

    async def _apply(
        self, request: web.Request, info: RequestInfo, store: ObjectStore, checks: FieldChecks
    ) -> web.StreamResponse:
        """Server-side apply: merge the applied configuration, creating the object if needed."""
        manager = request.query.get("fieldManager", "")
        force = _bool(request, "force")
        fieldmanager.validate_patch_options(
            manager, force if "force" in request.query else None, apply=True
        )
        applied = negotiation.decode_apply(await read_body(request))
        r = store.resource
        version = api_version(r.group, r.version)
        schema = field_type(r.group, r.version, r.kind)
        applied_meta = applied.get("metadata")
        if isinstance(applied_meta, dict):
            if applied_meta.get("name") not in (None, "", info.name):
                raise errors.bad_request(
                    f"the name of the object ({applied_meta['name']}) does not match the name "
                    f"on the URL ({info.name})"
                )
            body_ns = applied_meta.get("namespace")
            if r.namespaced and body_ns and body_ns != info.namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
        if checks.directive == "Strict":
            # Strict refuses unknown fields before merging (apply would 500 on them).
            checks.check(store, copy.deepcopy(applied), whole_object=False)

        def change(live: Object | None) -> Object:
            merged = fieldmanager.apply(
                live,
                applied,
                manager,
                force=force,
                schema=schema,
                api_version=version,
                kind=r.kind,
                now=now_rfc3339(),
                subresource=info.subresource,
            )
            merged["apiVersion"], merged["kind"] = version, r.kind
            return merged

        dry_run = _dry_run(request)
        try:
            updated = await store.mutate(
                info.namespace, info.name, change, subresource=info.subresource, dry_run=dry_run
            )
        except errors.APIError as err:
            if err.code != 404 or info.subresource:
                raise
        else:
            return respond(request, self._with_type(store, updated), warnings=checks.warnings)
        obj = change(None)
        metadata(obj)["name"] = info.name
        if r.namespaced:
            await self._check_namespace(info.namespace)
        admitted = await self._admit(store, info.namespace, obj, None)
        created = await store.create(info.namespace, obj, dry_run=dry_run, track=admitted)
        return respond(request, self._with_type(store, created), 201, checks.warnings)

    async def delete(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """One object, with the request's DeleteOptions (graceful for pods).

        200 with the object while it is only marked for deletion (finalizers, a grace
        period), 202 then if the client asked with `orphanDependents: false`. Once it is gone,
        as upstream's finalizeDelete: the object for kinds with ReturnDeletedObject (the row's
        `delete_returns_object`), otherwise a `Status` of `Success` naming it.
        """
        store = self.lookup(info)
        options = deleteoptions.parse(
            request.query, request.headers.get("Content-Type", ""), await read_body(request)
        )
        obj, gone = await store.delete(
            info.namespace,
            info.name,
            propagation_policy=options.policy,
            precondition_uid=options.precondition_uid,
            precondition_rv=options.precondition_rv,
            dry_run=options.dry_run,
            grace_period_seconds=options.grace_period_seconds,
        )
        status = 202 if not gone and options.orphan_dependents is False else 200
        if gone and not getattr(store.resource, "delete_returns_object", False):
            return respond(request, deleted_status(store, obj), status)
        return respond(request, self._with_type(store, obj), status)

    async def deletecollection(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """Every selected object deleted with the same DeleteOptions; the list of them.

        As upstream, the answer is the list as it was read (pods being deleted gracefully
        are in it, still there); an object gone meanwhile is skipped.
        """
        store = self.lookup(info)
        selection = self._selection(request, store)
        options = deleteoptions.parse(
            request.query, request.headers.get("Content-Type", ""), await read_body(request)
        )
        page = await store.list(info.namespace or None, select=selection.filter)
        for obj in page.items:
            meta = obj["metadata"]
            try:
                await store.delete(
                    str(meta.get("namespace") or ""),
                    meta["name"],
                    propagation_policy=options.policy,
                    precondition_uid=options.precondition_uid,
                    precondition_rv=options.precondition_rv,
                    dry_run=options.dry_run,
                    grace_period_seconds=options.grace_period_seconds,
                )
            except errors.APIError as err:
                if err.code != 404:
                    raise
        r = store.resource
        for obj in page.items:
            obj.pop("apiVersion", None)
            obj.pop("kind", None)
        body = list_object(
            api_version(r.group, r.version), f"{r.kind}List", page.items, str(page.resource_version)
        )
        return respond(request, body)

    # -- watch ----------------------------------------------------------------------------

    async def watch(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        selection = self._selection(request, store, info.name)
        output = negotiation.choose_output(
            request.headers.get("Accept", ""),
            _query(request, "includeObject"),
            protobuf_ok=protobuf.supports(
                api_version(store.resource.group, store.resource.version), store.resource.kind
            ),
        )
        rv_text = _query(request, "resourceVersion")
        send_initial = _bool(request, "sendInitialEvents")
        bookmarks = _bool(request, "allowWatchBookmarks")
        if send_initial and _query(request, "resourceVersionMatch") != "NotOlderThan":
            raise errors.APIError(
                422,
                "Invalid",
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless "
                "resourceVersionMatch is set to NotOlderThan",
            )
        timeout_seconds = _query_int(request, "timeoutSeconds")
        # As upstream: 0 (or none) is the server's default; a negative timeout ends at once.
        timeout = float(max(timeout_seconds, 0)) if timeout_seconds else WATCH_DEFAULT_TIMEOUT
        r = store.resource

        # Watchers of one cache share encoded frames: a change is encoded once per format.
        memo = store.cache.frames if store.cache is not None and not output.as_kind else None

        def frame(kind: str, obj: Object) -> bytes:
            if memo is not None and kind != "BOOKMARK":
                return memo.get(output.format, kind, obj, lambda: encode(kind, obj))
            return encode(kind, obj)

        def encode(kind: str, obj: Object) -> bytes:
            obj = self._with_type(store, dict(obj))  # objects may be the watch cache's: copy
            if output.as_kind == "Table" and kind != "BOOKMARK":
                obj = tables.table(
                    r.kind,
                    [obj],
                    resource_version=metadata(obj).get("resourceVersion", ""),
                    include_object=output.include_object,
                )
            elif output.as_kind.startswith("PartialObjectMetadata"):
                obj = tables.partial_metadata(obj)
            if output.format == negotiation.PROTOBUF:
                return protobuf.encode_watch_event(kind, obj)
            return jsonc.dumps({"type": kind, "object": obj}) + b"\n"

        initial: list[Object] = []
        if send_initial or rv_text in ("", "0"):
            # Upstream's "get state and start at most recent" ("") or "any" ("0"): synthetic
            # ADDED events for what exists, then the changes after it.
            page = await store.list(
                info.namespace or None,
                resource_version="0" if rv_text == "0" else "",
                select=selection.filter,
                shared=True,
            )
            since = page.resource_version
            initial = page.items
        else:
            since = ObjectStore._parse_rv(rv_text)

        content_type = output.content_type
        if output.format == negotiation.PROTOBUF:
            content_type = protobuf.WATCH_CONTENT_TYPE
        response = web.StreamResponse(headers={"Content-Type": content_type})
        response.enable_chunked_encoding()
        cursor = _Cursor(store.watch(info.namespace or None, since, selection))
        try:
            # A compacted revision fails here, before the stream starts: a plain 410 Gone.
            first = await cursor.next(0.05)
            await response.prepare(request)
            for obj in initial:
                await response.write(frame("ADDED", obj))
            if send_initial:
                marker = {
                    "metadata": {
                        "resourceVersion": str(since),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    }
                }
                await response.write(frame("BOOKMARK", marker))
            await self._stream(response, cursor, first, frame, timeout, bookmarks)
        except errors.APIError as err:
            if not response.prepared:
                raise
            if output.format == negotiation.PROTOBUF:
                await response.write(protobuf.encode_watch_event("ERROR", err.status()))
            else:
                await response.write(jsonc.dumps({"type": "ERROR", "object": err.status()}) + b"\n")
        finally:
            await cursor.close()
        return response

    async def _stream(
        self,
        response: web.StreamResponse,
        cursor: _Cursor,
        first: Change | object | None,
        frame: Callable[[str, Object], bytes],
        seconds: float,
        bookmarks: bool,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        last_rv = ""
        item = first
        while True:
            if item is _Cursor._END:
                return
            if item is None:
                # Quiet for a while: a bookmark at the newest revision this watch has covered
                # (the watch cache's, which moves with every write, or the last change's).
                progress = cursor.progress()
                if progress is not None and (not last_rv or progress > int(last_rv)):
                    last_rv = str(progress)
                if bookmarks and last_rv:
                    await response.write(
                        frame("BOOKMARK", {"metadata": {"resourceVersion": last_rv}})
                    )
            else:
                assert isinstance(item, Change)
                last_rv = str(await self._send(response, cursor, item, frame))
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            item = await cursor.next(min(remaining, BOOKMARK_INTERVAL))

    @staticmethod
    async def _send(
        response: web.StreamResponse,
        cursor: _Cursor,
        change: Change,
        frame: Callable[[str, Object], bytes],
    ) -> int:
        """`change` and the changes queued behind it, as their watcher sees them (the store
        already applied the selection, `watchcache.visible_type`: objects moving in and out
        are ADDED and DELETED), in one write; returns the last one's revision.

        One write per change cost a TLS record and a send(2) each (with 5,000 nodes, 500
        Lease renewals a second to every Lease watcher); the changes of one storage commit
        arrive together, so they leave together. The frames are the same bytes in the same
        order: clients read a watch as a stream, not by chunk."""
        frames: list[bytes] = []
        size = 0
        while True:
            if change.type != PROGRESS:
                data = frame(change.type, change.object)
                frames.append(data)
                size += len(data)
            revision = change.revision
            if len(frames) >= WATCH_WRITE_FRAMES or size >= WATCH_WRITE_BYTES:
                break
            queued = cursor.ready()
            if queued is None:
                break
            change = queued
        if frames:
            await response.write(frames[0] if len(frames) == 1 else b"".join(frames))
        return revision
