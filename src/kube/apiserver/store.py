"""The generic store: Kubernetes object semantics for one resource over a storage `Backend`.

This is upstream's generic registry (apiserver/pkg/registry/generic/registry/store.go) in
small: it turns create/get/list/update/delete of *objects* into compare-and-swap writes of
*keys*, and keeps the metadata rules every kind shares:

- `metadata.resourceVersion` is the key's storage mod revision. It is never stored inside
  the value; it is filled in on every read, so it cannot drift from storage.
- create fills `name` from `generateName`, `uid`, `creationTimestamp` and `generation: 1`;
  update keeps them, bumps `generation` only when something other than metadata or status
  changed, and writes nothing (returning the object as it is) when nothing changed at all.
- an update carrying a resourceVersion is compare-and-swap on it (409 Conflict otherwise);
  one without is unconditional (read, then swap, retried).
- with a `status` subresource, the main resource ignores changes to `status` and the status
  subresource changes nothing but `status` (and labels/annotations stay as they are).
- delete is two-phase when finalizers are present (or added by the propagation policy):
  the object gets `deletionTimestamp` and is removed once the last finalizer goes.

Per-kind behaviour (defaulting, validation, table columns) hooks in through `Strategy`.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from kube.api import errors
from kube.api.meta import Object, generate_name, metadata, new_uid, now_rfc3339
from kube.storage.backend import (
    Backend,
    CompactedError,
    ConflictError,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
)

# Written by the server only; a client's values for these are ignored on create and update.
SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
UNCONDITIONAL_UPDATE_RETRIES = 5


class ResourceInfo(Protocol):
    """What the store needs to know about a resource (a row of the resource registry)."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...

    def key(self, namespace: str, name: str) -> str: ...
    def prefix(self, namespace: str | None = None) -> str: ...


@dataclass
class Strategy:
    """Per-kind hooks; the default keeps every kind's shared rules only."""

    has_status: bool = True
    # Whether `metadata.generation` is kept (kinds with a spec that controllers observe).
    tracks_generation: bool = True
    # Called on the new object before it is validated and written.
    prepare_create: Callable[[Object], None] | None = None
    prepare_update: Callable[[Object, Object], None] | None = None
    # Return the list of problems (empty when valid).
    validate: Callable[[Object, Object | None], list[errors.Cause]] | None = None


@dataclass(frozen=True)
class Page:
    items: list[Object]
    resource_version: int
    continue_token: str
    remaining: int | None


@dataclass(frozen=True)
class Change:
    """A watch event in API terms: ADDED, MODIFIED or DELETED with the object."""

    type: str
    object: Object
    previous: Object | None
    revision: int


def encode_continue(revision: int, last_key_suffix: str) -> str:
    doc = {"v": "meta.k8s.io/v1", "rv": revision, "start": last_key_suffix + "\x00"}
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        doc = orjson.loads(base64.urlsafe_b64decode(padded))
        revision, start = int(doc["rv"]), str(doc["start"])
        if doc.get("v") != "meta.k8s.io/v1" or revision <= 0 or not start.endswith("\x00"):
            raise ValueError(token)
    except (ValueError, KeyError, TypeError) as err:
        raise errors.bad_request(
            "the provided continue parameter is not valid: invalid continue token"
        ) from err
    return revision, start[:-1]


class ObjectStore:
    """Object lifecycle for one resource. All methods raise `errors.APIError` on failure."""

    def __init__(self, backend: Backend, resource: ResourceInfo, strategy: Strategy | None = None):
        self.backend = backend
        self.resource = resource
        self.strategy = strategy or Strategy()

    # -- encoding ------------------------------------------------------------------------

    @staticmethod
    def encode(obj: Object) -> bytes:
        meta = metadata(obj)
        rv = meta.pop("resourceVersion", None)
        try:
            return orjson.dumps(obj)
        finally:
            if rv is not None:
                meta["resourceVersion"] = rv

    @staticmethod
    def decode(kv: KeyValue) -> Object:
        obj: Object = orjson.loads(kv.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(kv.mod_revision)
        return obj

    # -- helpers ---------------------------------------------------------------------------

    def _not_found(self, name: str) -> errors.APIError:
        return errors.not_found(self.resource.group, self.resource.plural, name)

    def _conflict(self, name: str) -> errors.APIError:
        return errors.conflict(
            self.resource.group, self.resource.plural, name, errors.OBJECT_MODIFIED
        )

    def _key(self, namespace: str, name: str) -> str:
        return self.resource.key(namespace if self.resource.namespaced else "", name)

    def _validate(self, obj: Object, old: Object | None) -> None:
        causes: list[errors.Cause] = []
        meta = metadata(obj)
        if not meta.get("name"):
            causes.append(
                errors.Cause(
                    "FieldValueRequired",
                    "Required value: name or generateName is required",
                    "metadata.name",
                )
            )
        if self.strategy.validate is not None:
            causes.extend(self.strategy.validate(obj, old))
        if causes:
            raise errors.invalid(
                self.resource.group, self.resource.kind, str(meta.get("name") or ""), causes
            )

    @staticmethod
    def _parse_rv(value: Any, what: str = "resourceVersion") -> int:
        try:
            rv = int(str(value))
        except ValueError:
            raise errors.bad_request(f"invalid {what}: {value!r}") from None
        if rv < 0:
            raise errors.bad_request(f"invalid {what}: {value!r}")
        return rv

    # -- create ----------------------------------------------------------------------------

    async def create(self, namespace: str, obj: Object, *, dry_run: bool = False) -> Object:
        meta = metadata(obj)
        if self.resource.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(str(meta["generateName"]))
        for name in (*SYSTEM_FIELDS, "resourceVersion"):
            meta.pop(name, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if self.strategy.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if self.strategy.has_status and "status" in obj:
            obj["status"] = {}
        if self.strategy.prepare_create is not None:
            self.strategy.prepare_create(obj)
        self._validate(obj, None)
        if dry_run:
            return obj
        key = self._key(namespace, meta["name"])
        try:
            kv = await self.backend.create(key, self.encode(obj))
        except KeyExistsError:
            raise errors.already_exists(
                self.resource.group, self.resource.plural, meta["name"]
            ) from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    # -- read ------------------------------------------------------------------------------

    async def get(self, namespace: str, name: str) -> Object:
        kv = await self.backend.get(self._key(namespace, name))
        if kv is None:
            raise self._not_found(name)
        return self.decode(kv)

    async def list(
        self,
        namespace: str | None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        select: Callable[[list[Object]], list[Object]] | None = None,
    ) -> Page:
        """One page of objects, oldest snapshot semantics as upstream's `storage.GetList`."""
        prefix = self.resource.prefix(namespace if self.resource.namespaced else None)
        revision = 0
        start_after = ""
        if continue_token:
            revision, suffix = decode_continue(continue_token)
            start_after = prefix + suffix
        elif resource_version and resource_version != "0":
            rv = self._parse_rv(resource_version)
            if resource_version_match == "Exact":
                revision = rv
            else:
                current = await self.backend.current_revision()
                if rv > current:
                    raise errors.timeout(f"Too large resource version: {rv}, current: {current}")
        items: list[Object] = []
        more = False
        last_key = start_after
        try:
            while True:
                page = await self.backend.list(
                    prefix, revision=revision, limit=limit, start_after=last_key
                )
                revision = page.revision
                batch = [self.decode(kv) for kv in page.kvs]
                if page.kvs:
                    last_key = page.kvs[-1].key
                items.extend(batch if select is None else select(batch))
                more = page.more
                # With a filter, fill the page like upstream does (keep reading pages).
                if not more or not limit or len(items) >= limit:
                    break
        except CompactedError as err:
            raise errors.gone(
                f"The provided continue parameter is too old to display a consistent list "
                f"result. ({err})"
            ) from err
        except FutureRevisionError as err:
            raise errors.timeout(str(err)) from err
        token = ""
        remaining: int | None = None
        if more and limit:
            items = items[:limit]
            last = self._key_of(items[-1]) if items else last_key
            token = encode_continue(revision, last[len(prefix) :])
            if select is None:
                remaining = max(0, await self.backend.count(prefix) - len(items))
        return Page(items, revision, token, remaining)

    def _key_of(self, obj: Object) -> str:
        meta = metadata(obj)
        return self._key(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    # -- update ----------------------------------------------------------------------------

    async def update(
        self,
        namespace: str,
        name: str,
        obj: Object,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Object:
        meta = metadata(obj)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        wanted_rv = meta.get("resourceVersion")
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
            old = await self.get(namespace, name)
            if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
                self._parse_rv(wanted_rv)
                raise self._conflict(name)
            try:
                return await self._swap(
                    namespace, name, old, copy.deepcopy(obj), subresource, dry_run
                )
            except errors.APIError as err:
                if err.reason == "Conflict" and not wanted_rv:
                    continue
                raise
        raise self._conflict(name)

    async def mutate(
        self,
        namespace: str,
        name: str,
        change: Callable[[Object], Object],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Object:
        """Read, apply `change` to a copy, swap; retried on conflicts (patch uses this)."""
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
            old = await self.get(namespace, name)
            new = change(copy.deepcopy(old))
            wanted_rv = metadata(new).get("resourceVersion")
            if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
                raise self._conflict(name)
            try:
                return await self._swap(namespace, name, old, new, subresource, dry_run)
            except errors.APIError as err:
                if err.reason == "Conflict" and not wanted_rv:
                    continue
                raise
        raise self._conflict(name)

    async def _swap(
        self, namespace: str, name: str, old: Object, new: Object, subresource: str, dry_run: bool
    ) -> Object:
        old_meta, meta = old["metadata"], metadata(new)
        revision = int(old_meta["resourceVersion"])
        if subresource == "status":
            # Only status moves; everything else stays as stored.
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        else:
            if self.strategy.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            for name_ in SYSTEM_FIELDS:
                if name_ in old_meta:
                    meta[name_] = old_meta[name_]
                else:
                    meta.pop(name_, None)
            meta["name"] = old_meta["name"]
            if self.resource.namespaced:
                meta["namespace"] = old_meta.get("namespace", namespace)
            if self.strategy.tracks_generation:
                meta["generation"] = old_meta.get("generation", 1)
                if self._spec_of(new) != self._spec_of(old):
                    meta["generation"] = int(meta["generation"]) + 1
            else:
                meta.pop("generation", None)
        if self.strategy.prepare_update is not None:
            self.strategy.prepare_update(new, old)
        self._validate(new, old)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            return old
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            # The last finalizer is gone: the two-phase delete completes now.
            if dry_run:
                return new
            await self._delete_key(namespace, name, revision)
            return new
        if dry_run:
            return new
        try:
            kv = await self.backend.update(
                self._key(namespace, name), self.encode(new), expected_revision=revision
            )
        except ConflictError:
            raise self._conflict(name) from None
        except KeyNotFoundError:
            raise self._not_found(name) from None
        meta["resourceVersion"] = str(kv.mod_revision)
        return new

    @staticmethod
    def _spec_of(obj: Object) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

    # -- delete ----------------------------------------------------------------------------

    async def delete(
        self,
        namespace: str,
        name: str,
        *,
        propagation_policy: str = "",
        precondition_uid: str = "",
        precondition_rv: str = "",
        dry_run: bool = False,
    ) -> tuple[Object, bool]:
        """Delete (or start deleting) an object; returns it and whether it is gone now."""
        if propagation_policy not in ("", "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{propagation_policy}": supported '
                'values: "Foreground", "Background", "Orphan"'
            )
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
            old = await self.get(namespace, name)
            meta = old["metadata"]
            if precondition_uid and meta.get("uid") != precondition_uid:
                raise errors.conflict(
                    self.resource.group,
                    self.resource.plural,
                    name,
                    f"Precondition failed: UID in precondition: {precondition_uid}, "
                    f"UID in object meta: {meta.get('uid')}",
                )
            if precondition_rv and meta["resourceVersion"] != precondition_rv:
                raise errors.conflict(
                    self.resource.group,
                    self.resource.plural,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, "
                    f"ResourceVersion in object meta: {meta['resourceVersion']}",
                )
            finalizers = list(meta.get("finalizers") or [])
            marker = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(
                propagation_policy
            )
            if marker and marker not in finalizers:
                finalizers.append(marker)
            revision = int(meta["resourceVersion"])
            if not finalizers:
                if not dry_run:
                    try:
                        await self._delete_key(namespace, name, revision)
                    except errors.APIError as err:
                        if err.reason == "Conflict" and not precondition_rv:
                            continue
                        raise
                return old, True
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return old, False
            new = copy.deepcopy(old)
            new_meta = new["metadata"]
            new_meta["finalizers"] = finalizers
            new_meta.setdefault("deletionTimestamp", now_rfc3339())
            new_meta.setdefault("deletionGracePeriodSeconds", 0)
            if dry_run:
                return new, False
            try:
                kv = await self.backend.update(
                    self._key(namespace, name), self.encode(new), expected_revision=revision
                )
            except ConflictError:
                continue
            except KeyNotFoundError:
                raise self._not_found(name) from None
            new_meta["resourceVersion"] = str(kv.mod_revision)
            return new, False
        raise self._conflict(name)

    async def _delete_key(self, namespace: str, name: str, revision: int) -> None:
        try:
            await self.backend.delete(self._key(namespace, name), expected_revision=revision)
        except ConflictError:
            raise self._conflict(name) from None
        except KeyNotFoundError:
            raise self._not_found(name) from None

    # -- watch -----------------------------------------------------------------------------

    async def watch(self, namespace: str | None, since: int) -> AsyncGenerator[Change, None]:
        """Changes after revision `since` (0: from now). 410 Gone when compacted."""
        prefix = self.resource.prefix(namespace if self.resource.namespaced else None)
        if since == 0:
            since = await self.backend.current_revision()
        events = self.backend.watch(prefix, since=since)
        try:
            async for event in events:
                obj = self.decode(event.kv)
                prev = self.decode(event.prev_kv) if event.prev_kv is not None else None
                kind = {
                    EventType.CREATE: "ADDED",
                    EventType.UPDATE: "MODIFIED",
                    EventType.DELETE: "DELETED",
                }[event.type]
                yield Change(kind, obj, prev, event.revision)
        except CompactedError as err:
            raise errors.gone(f"too old resource version: {since} ({err.compacted + 1})") from err
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
