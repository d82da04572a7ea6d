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
  the object gets `deletionTimestamp` and is removed once the last finalizer goes; a kind
  with graceful deletion (pods) is marked with `deletionTimestamp` = now + grace and stays
  until a delete with grace 0.

Per-kind behaviour (defaulting, validation, table columns) hooks in through `Strategy`.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import datetime as dt
import posixpath
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from kube.api import errors, gobase64
from kube.api.meta import (
    Object,
    copy_object,
    generate_name,
    metadata,
    new_uid,
    now_rfc3339,
    parse_rfc3339,
)
from kube.codec import gojson
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

if TYPE_CHECKING:
    from kube.apiserver.selection import Selection
    from kube.apiserver.watchcache import Entry, WatchCache

# Written by the server only; a client's values for these are ignored on create and update.
SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
UNCONDITIONAL_UPDATE_RETRIES = 5


class _StaleGuess(Exception):
    """An update computed from the watch cache's copy changed nothing: storage decides."""


GENERATE_NAME_ATTEMPTS = 8
NAMESPACE_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
# ObjectMeta fields Go writes with `omitempty`: an empty map or list is not stored or answered.
# (An empty `managedFields` in a request means "reset": the field manager reads it first.)
OMITTED_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")


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
    # Whether a create keeps the status it was sent (a Node registers with its status, as
    # upstream's node strategy allows); other kinds start from an empty status.
    keeps_status: bool = False
    # Called on the new object before it is validated and written.
    prepare_create: Callable[[Object], None] | None = None
    prepare_update: Callable[[Object, Object], None] | None = None
    # Return the list of problems (empty when valid).
    validate: Callable[[Object, Object | None], list[errors.Cause]] | None = None
    # Claims values from a shared pool (Service IPs and node ports) for the stored objects.
    allocator: Allocator | None = None
    # Graceful deletion (upstream's CheckGracefulDelete): the grace period in seconds a delete
    # asking for `requested` (None: not given) gets; 0 deletes at once. None: not graceful.
    grace_period: Callable[[Object, int | None], int] | None = None
    # Conversion to and from the storage version, when it is not the served one.
    to_storage: Callable[[Object], Object] | None = None
    from_storage: Callable[[Object], Object] | None = None
    # Whether an object being deleted whose metadata.finalizers are gone may go on update
    # (upstream's ShouldDeleteDuringUpdate); namespaces also wait for spec.finalizers.
    may_go: Callable[[Object], bool] | None = None


class Allocator(Protocol):
    """Values an object claims while it exists; see `kube.apiserver.allocators`."""

    def allocate(self, obj: Object, old: Object | None = None) -> None:
        """Claim what `obj` needs (beyond what `old` already holds); APIError if taken."""

    def release(self, obj: Object, keep: Object | None = None) -> None:
        """Free what `obj` held, except what `keep` still holds."""


@dataclass(frozen=True)
class Page:
    items: list[Object]
    resource_version: int
    continue_token: str
    remaining: int | None
    # Served by the watch cache: its entries (items' cached encodings); items are then shared.
    entries: list[Entry] | None = None


@dataclass(frozen=True)
class Change:
    """A watch event in API terms: ADDED, MODIFIED or DELETED with the object."""

    type: str
    object: Object
    previous: Object | None
    revision: int


# A change the watcher does not see (outside its selection): only its revision counts.
PROGRESS = "PROGRESS"


class ChangeStream(Protocol):
    """What `ObjectStore.watch` returns: changes, one at a time, until closed."""

    def __anext__(self) -> Awaitable[Change]: ...
    async def aclose(self) -> None: ...


CONTINUE_VERSION = "meta.k8s.io/v1"


def encode_continue(revision: int, last_key_suffix: str, returned: int = 0) -> str:
    """upstream's continue token (`v`, `rv`, `start`), plus `n`: items returned so far."""
    doc = {"v": CONTINUE_VERSION, "rv": revision, "start": last_key_suffix + "\x00"}
    if returned:
        doc["n"] = returned
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def _invalid_continue(why: str) -> errors.APIError:
    return errors.bad_request(f"invalid continue token: continue key is not valid: {why}")


def decode_continue(token: str) -> tuple[int, str, int]:
    """(revision, key suffix to start after, items returned before); 400 if malformed."""
    try:
        # upstream: base64.RawURLEncoding, which fails where Python's decoder would skip.
        data = gobase64.decode(token.encode(), url=True, padded=False)
    except gobase64.CorruptInputError as err:
        raise _invalid_continue(str(err)) from err
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise _invalid_continue(gojson.syntax_error(data) or str(err)) from err
    if not isinstance(doc, dict):
        raise _invalid_continue(
            f"json: cannot unmarshal {gojson.type_name(doc)} into Go value of type "
            "storage.continueToken"
        )
    if doc.get("v") != CONTINUE_VERSION:
        raise _invalid_continue(
            f"server does not recognize this encoded version {errors.go_quote(str(doc.get('v')))}"
        )
    revision, start, returned = doc.get("rv"), doc.get("start"), doc.get("n", 0)
    if not isinstance(revision, int) or revision <= 0:
        raise _invalid_continue(
            f"incorrect encoded start resourceVersion (version {CONTINUE_VERSION})"
        )
    if not isinstance(start, str) or not start:
        raise _invalid_continue(f"encoded start key empty (version {CONTINUE_VERSION})")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key or key.startswith("//"):
        # A token must not reach above the listed prefix ("../", "//" and the like).
        raise _invalid_continue(start)
    if not start.endswith("\x00") or not isinstance(returned, int) or returned < 0:
        raise _invalid_continue(start)
    return revision, start[:-1], returned


def drop_empty_metadata(obj: Object, *, managed_fields: bool = False) -> None:
    """Remove `metadata.labels: {}` and the like, as upstream's omitempty does on encoding.

    Upstream decodes a request into Go structs, so what it stores and answers never has them;
    `managed_fields` also drops an empty `managedFields` (once the field manager has run).
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        names = (*OMITTED_WHEN_EMPTY, "managedFields") if managed_fields else OMITTED_WHEN_EMPTY
        for name in names:
            if name in meta and meta[name] in ({}, []):
                del meta[name]


def deletion_finalizers(meta: dict[str, Any], policy: str) -> list[str]:
    """The finalizers after a delete with `policy` (upstream's GC finalizer rules).

    An explicit policy replaces the garbage collector's two finalizers (`orphan`,
    `foregroundDeletion`) by the one it implies; no policy keeps whichever is there.
    """
    current = list(meta.get("finalizers") or [])
    if not policy:
        return current
    kept = [f for f in current if f not in ("orphan", "foregroundDeletion")]
    marker = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}.get(policy)
    return [*kept, marker] if marker else kept


# What upstream's `rest.BeforeDelete` decides about an object being deleted.
GRACEFUL = "graceful"  # (re)marked for graceful deletion
PENDING = "pending"  # a graceful deletion is under way and this delete does not shorten it
PROPAGATION_POLICIES = ("Foreground", "Background", "Orphan")


def validate_propagation_policy(policy: str) -> None:
    """422 for a `propagationPolicy` upstream's ValidateDeleteOptions refuses."""
    if policy and policy not in PROPAGATION_POLICIES:
        raise errors.invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            [
                errors.Cause(
                    "FieldValueNotSupported",
                    f"Unsupported value: {errors.go_quote(policy)}: supported "
                    'values: "Foreground", "Background", "Orphan", "nil"',
                    "propagationPolicy",
                )
            ],
        )


def rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mark_as_deleting(meta: dict[str, Any]) -> None:
    """upstream's markAsDeleting: finalizers hold the object, deleted as of now, grace 0."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = meta.get("deletionTimestamp")
    if not stamp:
        generation = meta.get("generation")
        if isinstance(generation, int) and generation > 0:
            meta["generation"] = generation + 1
    if not stamp or parse_rfc3339(str(stamp)) > now:
        meta["deletionTimestamp"] = rfc3339(now)
    meta["deletionGracePeriodSeconds"] = 0


class ObjectStore:
    """Object lifecycle for one resource. All methods raise `errors.APIError` on failure."""

    # The resource's watch cache (set by the server); LIST and WATCH use it when it can serve.
    cache: WatchCache | None = None

    def __init__(self, backend: Backend, resource: ResourceInfo, strategy: Strategy | None = None):
        self.backend = backend
        self.resource = resource
        self.strategy = strategy or Strategy()

    # -- encoding ------------------------------------------------------------------------

    def encode(self, obj: Object) -> bytes:
        """The stored bytes of `obj`: in the storage version, without its resourceVersion."""
        if self.strategy.to_storage is not None:
            obj = self.strategy.to_storage(obj)
        meta = metadata(obj)
        rv = meta.pop("resourceVersion", None)
        try:
            return orjson.dumps(obj)
        finally:
            if rv is not None:
                meta["resourceVersion"] = rv

    def decode(self, kv: KeyValue) -> Object:
        """The object a stored value is, in this resource's version, with its resourceVersion."""
        obj: Object = orjson.loads(kv.value)
        if self.strategy.from_storage is not None:
            obj = self.strategy.from_storage(obj)
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

    async def create(
        self,
        namespace: str,
        obj: Object,
        *,
        dry_run: bool = False,
        track: Callable[[Object | None, Object], Object] | None = None,
    ) -> Object:
        """Create `obj`; `track(None, obj)` records its managedFields before validation."""
        meta = metadata(obj)
        if self.resource.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(NAMESPACE_MISMATCH)
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        generated_name = False
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = generate_name(str(meta["generateName"]))
            generated_name = True
        for name in (*SYSTEM_FIELDS, "resourceVersion"):
            meta.pop(name, None)
        drop_empty_metadata(obj)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if self.strategy.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if self.strategy.has_status and "status" in obj and not self.strategy.keeps_status:
            obj["status"] = {}
        if self.strategy.prepare_create is not None:
            self.strategy.prepare_create(obj)
        if track is not None:
            obj = track(None, obj)
            meta = metadata(obj)
        drop_empty_metadata(obj, managed_fields=True)
        self._validate(obj, None)
        allocator = self.strategy.allocator
        if allocator is not None:
            allocator.allocate(obj)
        if dry_run:
            if allocator is not None:
                allocator.release(obj)
            return obj
        attempt = 1
        while True:
            key = self._key(namespace, meta["name"])
            try:
                kv = await self.backend.create(key, self.encode(obj))
            except KeyExistsError:
                if generated_name and attempt < GENERATE_NAME_ATTEMPTS:
                    # Upstream's RetryGenerateName: a random suffix that is taken is drawn
                    # again (the refused write stored nothing), up to 8 tries in all.
                    attempt += 1
                    meta["name"] = generate_name(str(meta["generateName"]))
                    continue
                if allocator is not None:
                    allocator.release(obj)
                raise errors.already_exists(
                    self.resource.group, self.resource.plural, meta["name"]
                ) from None
            except BaseException:
                if allocator is not None:
                    allocator.release(obj)
                raise
            break
        meta["resourceVersion"] = str(kv.mod_revision)
        return obj

    # -- read ------------------------------------------------------------------------------

    async def get(self, namespace: str, name: str) -> Object:
        kv = await self.backend.get(self._key(namespace, name))
        if kv is None:
            raise self._not_found(name)
        return self.decode(kv)

    async def read_for_update(
        self, namespace: str, name: str, *, from_storage: bool = False
    ) -> tuple[Object, bool]:
        """The object an update starts from (a copy the caller owns), and whether it came
        from the watch cache.

        Upstream's GuaranteedUpdate with a cached existing object: the watch cache's copy
        saves a storage read per write. It may lag storage, so it is only a guess: the write
        is a compare-and-swap on its resourceVersion, and a caller whose swap loses, whose
        resourceVersion precondition fails or whose change turns out to be a no-op reads
        storage (`from_storage`) before answering.
        """
        cache = self.cache
        if not from_storage and cache is not None and cache.is_ready and cache.reflector.running:
            entry = cache.objects.get(self._key(namespace, name))
            if entry is not None:
                return copy_object(entry.object), True
        return await self.get(namespace, name), False

    async def list(
        self,
        namespace: str | None,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        select: Callable[[list[Object]], list[Object]] | None = None,
        shared: bool = False,
    ) -> Page:
        """One page of objects, oldest snapshot semantics as upstream's `storage.GetList`.

        The watch cache serves it where upstream's cacher does (see `kube.apiserver.watchcache`);
        its items are then the cache's own objects when `shared` (the caller must not mutate
        them, and `entries` carries their cached encodings), copies otherwise.
        """
        if self.cache is not None:
            cached = await self.cache.list(
                namespace,
                limit=limit,
                continue_token=continue_token,
                resource_version=resource_version,
                resource_version_match=resource_version_match,
                select=select,
            )
            if cached is not None:
                if shared:
                    return cached
                copies = [copy_object(o) for o in cached.items]
                return dataclasses.replace(cached, items=copies, entries=None)
        prefix = self.resource.prefix(namespace if self.resource.namespaced else None)
        revision = 0
        returned_before = 0
        start_after = ""
        if continue_token:
            if resource_version not in ("", "0"):
                raise errors.bad_request(
                    "specifying resource version is not allowed when using continue"
                )
            revision, suffix, returned_before = decode_continue(continue_token)
            start_after = prefix + suffix
        elif resource_version and resource_version != "0":
            rv = self._parse_rv(resource_version)
            if resource_version_match == "Exact":
                revision = rv
            else:
                current = await self.backend.current_revision()
                if rv > current:
                    raise errors.too_large_resource_version(rv, current)
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
            if continue_token:
                raise errors.gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                ) from err
            raise errors.gone("The resourceVersion for the provided list is too old.") from err
        except FutureRevisionError as err:
            raise errors.too_large_resource_version(err.requested, err.current) from err
        token = ""
        remaining: int | None = None
        if limit and (more or len(items) > limit):
            items = items[:limit]
            last = self._key_of(items[-1])
            returned = returned_before + len(items)
            token = encode_continue(revision, last[len(prefix) :], returned)
            if select is None:
                # An estimate, as upstream allows: counted now, not at the list's revision.
                remaining = max(0, await self.backend.count(prefix) - returned)
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
        track: Callable[[Object | None, Object], Object] | None = None,
    ) -> Object:
        meta = metadata(obj)
        # As upstream's update handler: the namespace first
        # (EnsureObjectNamespaceMatchesRequestNamespace), then the name.
        if self.resource.namespaced and namespace:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise errors.bad_request(NAMESPACE_MISMATCH)
        if meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        # A resourceVersion of "0" (or none) makes the update unconditional, as upstream.
        wanted_rv = meta.get("resourceVersion")
        if str(wanted_rv) == "0":
            wanted_rv = None
        from_storage = dry_run
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES + 1):
            old, cached = await self.read_for_update(namespace, name, from_storage=from_storage)
            from_storage = True  # a guess from the cache is tried once
            if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
                if cached:
                    continue
                self._parse_rv(wanted_rv)
                raise self._conflict(name)
            try:
                return await self._swap(
                    namespace, name, old, copy_object(obj), subresource, dry_run, track, cached
                )
            except _StaleGuess:
                continue
            except errors.APIError as err:
                # Any refusal (a lost swap, a validation against the old object) computed
                # from the cache's copy is asked again of storage.
                if cached or (err.reason == "Conflict" and not wanted_rv):
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
        track: Callable[[Object | None, Object], Object] | None = None,
        pure: bool = False,
    ) -> Object:
        """Read, apply `change` to a copy, swap; retried on conflicts (patch uses this).

        As upstream's GuaranteedUpdate, a lost race re-reads and re-applies `change`: the
        object it returns keeps the resourceVersion it read unless the change set one, and
        only a resourceVersion that differs from the stored one is a 409. `pure`: `change`
        returns a new object sharing nothing with its argument and leaves the argument alone
        (the patch functions do), so it gets the object read, not a second copy of it.
        """
        from_storage = dry_run
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES + 1):
            old, cached = await self.read_for_update(namespace, name, from_storage=from_storage)
            from_storage = True  # a guess from the cache is tried once
            try:
                new = change(old if pure else copy_object(old))
            except errors.APIError:
                if cached:
                    continue  # refused on what may be a stale copy: storage decides
                raise
            wanted_rv = metadata(new).get("resourceVersion")
            if wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
                if cached:
                    continue
                raise self._conflict(name)
            try:
                return await self._swap(
                    namespace, name, old, new, subresource, dry_run, track, cached
                )
            except _StaleGuess:
                continue
            except errors.APIError as err:
                if cached or err.reason == "Conflict":
                    continue
                raise
        raise self._conflict(name)

    async def _swap(
        self,
        namespace: str,
        name: str,
        old: Object,
        new: Object,
        subresource: str,
        dry_run: bool,
        track: Callable[[Object | None, Object], Object] | None = None,
        cached: bool = False,
    ) -> Object:
        """Write `new` over `old` (read at its resourceVersion); `cached`: `old` is the watch
        cache's guess, so a no-op is confirmed against storage (_StaleGuess) first."""
        old_meta, meta = old["metadata"], metadata(new)
        revision = int(old_meta["resourceVersion"])
        if subresource == "status":
            # Only status moves; everything else stays as stored (copied: the strategy may
            # change it in place; old's status, most of a Node, is replaced, so not copied).
            status = new.get("status")
            rest = copy_object({k: v for k, v in old.items() if k != "status"})
            new = {k: status if k == "status" else rest[k] for k in old}  # old's key order
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
        drop_empty_metadata(new)
        if track is not None:
            new = track(old, new)
            meta = new["metadata"]
        if self.strategy.prepare_update is not None:
            self.strategy.prepare_update(new, old)
        drop_empty_metadata(new, managed_fields=True)
        self._validate(new, old)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if new == old:
            if cached:
                raise _StaleGuess  # nothing to write, if the cache was current: ask storage
            return old
        may_go = self.strategy.may_go
        if (
            old_meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not old_meta.get("deletionGracePeriodSeconds")
            and (may_go is None or may_go(new))
        ):
            # Upstream's ShouldDeleteDuringUpdate: deletion was asked for, no grace period is
            # running (a terminating pod's status updates keep it), and no finalizer remains:
            # the two-phase delete completes now.
            if dry_run:
                return new
            await self._delete_key(namespace, name, revision, old)
            return new
        if dry_run:
            return new
        allocator = self.strategy.allocator
        if allocator is not None:
            allocator.allocate(new, old)
        try:
            kv = await self.backend.update(
                self._key(namespace, name), self.encode(new), expected_revision=revision
            )
        except BaseException as err:
            if allocator is not None:
                allocator.release(new, keep=old)
            if isinstance(err, ConflictError):
                raise self._conflict(name) from None
            if isinstance(err, KeyNotFoundError):
                raise self._not_found(name) from None
            raise
        if allocator is not None:
            allocator.release(old, keep=new)
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
        grace_period_seconds: int | None = None,
    ) -> tuple[Object, bool]:
        """Delete (or start deleting) an object; returns it and whether it is gone now.

        As upstream's `Store.Delete` with `rest.BeforeDelete`: a kind with graceful deletion
        (pods) is first marked with `deletionTimestamp` = now + grace and
        `deletionGracePeriodSeconds`, and stays until a delete with grace 0; finalizers
        (kept, or added by the propagation policy) keep any object until they are removed.
        A delete of an object already being deleted changes nothing, unless it shortens the
        grace period.
        """
        validate_propagation_policy(propagation_policy)
        grace = grace_period_seconds
        if grace is not None and grace < 0:
            grace = 1  # upstream: a negative grace period means one second on this path
        written: Object | None = None  # our last write, the object if it vanishes after it
        for _ in range(UNCONDITIONAL_UPDATE_RETRIES):
            try:
                old = await self.get(namespace, name)
            except errors.APIError as err:
                if err.code == 404 and written is not None:
                    return written, True
                raise
            meta = old["metadata"]
            self._check_preconditions(meta, precondition_uid, precondition_rv)
            new = copy.deepcopy(old)
            new_meta = new["metadata"]
            outcome = self._before_delete(new, grace)
            if outcome == PENDING:
                return old, False
            finalizers = deletion_finalizers(meta, propagation_policy)
            if set(finalizers) != set(meta.get("finalizers") or []):
                new_meta["finalizers"] = finalizers
            revision = int(meta["resourceVersion"])
            delete_now = False
            if outcome == GRACEFUL:
                # Written even when the grace is 0: watchers see the deletion start.
                delete_now = not finalizers and not new_meta.get("deletionGracePeriodSeconds")
            elif finalizers:
                mark_as_deleting(new_meta)
            else:
                delete_now = True
            if new != old and not (delete_now and outcome != GRACEFUL):
                if dry_run:
                    return new, delete_now
                try:
                    revision = await self._write(namespace, name, revision, new)
                except errors.APIError as err:
                    if err.reason == "Conflict":
                        continue
                    raise
                written = new
                if not delete_now:
                    return new, False
            elif not delete_now:
                return old, False
            target = written if written is not None else old
            if dry_run:
                return target, True
            try:
                await self._delete_key(namespace, name, revision, target)
            except errors.APIError as err:
                if err.reason == "Conflict" and not precondition_rv:
                    continue
                if err.code == 404 and written is not None:
                    return written, True
                raise
            return target, True
        raise self._conflict(name)

    def _before_delete(self, obj: Object, grace: int | None) -> str:
        """upstream's `rest.BeforeDelete` on `obj` (changed in place): GRACEFUL, PENDING or ""."""
        meta = obj["metadata"]
        if self.strategy.grace_period is None:
            return ""
        current = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp"):
            if not isinstance(current, int) or current <= 0:
                # Marked with no grace left (or by finalizers): delete now.
                return ""
            if grace is None or grace >= current:
                return PENDING  # only a shorter grace period may be asked for
            started = parse_rfc3339(str(meta["deletionTimestamp"]))
            meta["deletionTimestamp"] = rfc3339(started + dt.timedelta(seconds=grace - current))
            meta["deletionGracePeriodSeconds"] = grace
            return GRACEFUL
        period = self.strategy.grace_period(obj, grace)
        now = dt.datetime.now(dt.UTC)
        meta["deletionTimestamp"] = rfc3339(now + dt.timedelta(seconds=period))
        meta["deletionGracePeriodSeconds"] = period
        generation = meta.get("generation")
        if isinstance(generation, int) and generation > 0:
            meta["generation"] = generation + 1
        return GRACEFUL

    async def _write(self, namespace: str, name: str, revision: int, new: Object) -> int:
        """Compare-and-swap `new` over `revision`; its new resourceVersion (set in `new` too)."""
        try:
            kv = await self.backend.update(
                self._key(namespace, name), self.encode(new), expected_revision=revision
            )
        except ConflictError:
            raise self._conflict(name) from None
        except KeyNotFoundError:
            raise self._not_found(name) from None
        new["metadata"]["resourceVersion"] = str(kv.mod_revision)
        return kv.mod_revision

    def _check_preconditions(self, meta: dict[str, Any], uid: str, rv: str) -> None:
        """409 as upstream's BeforeDelete words it (the kind, not the resource, is named)."""
        why = ""
        if uid and meta.get("uid") != uid:
            why = (
                f"the UID in the precondition ({uid}) does not match the UID in record "
                f"({meta.get('uid', '')}). The object might have been deleted and then recreated"
            )
        elif rv and meta.get("resourceVersion") != rv:
            why = (
                f"the ResourceVersion in the precondition ({rv}) does not match the "
                f"ResourceVersion in record ({meta.get('resourceVersion', '')}). The object "
                "might have been modified"
            )
        if why:
            raise errors.conflict(
                self.resource.group, self.resource.kind, str(meta.get("name", "")), why
            )

    async def _delete_key(self, namespace: str, name: str, revision: int, old: Object) -> None:
        try:
            await self.backend.delete(self._key(namespace, name), expected_revision=revision)
        except ConflictError:
            raise self._conflict(name) from None
        except KeyNotFoundError:
            raise self._not_found(name) from None
        if self.strategy.allocator is not None:
            self.strategy.allocator.release(old)

    # -- watch -----------------------------------------------------------------------------

    def watch(
        self, namespace: str | None, since: int, selection: Selection | None = None
    ) -> ChangeStream:
        """Changes after revision `since` (0: from now). 410 Gone when compacted.

        With `selection`, changes are as its watcher sees them (objects moving in and out are
        ADDED and DELETED); changes it does not see come as `PROGRESS` (revision only).
        Served by the watch cache when there is one (see `kube.apiserver.watchcache`).
        """
        if self.cache is not None:

            def storage() -> ChangeStream:
                return self._watch_storage(namespace, since, selection)

            return self.cache.watch(namespace, since, selection, storage)
        return self._watch_storage(namespace, since, selection)

    async def _watch_storage(
        self, namespace: str | None, since: int, selection: Selection | None
    ) -> AsyncGenerator[Change, None]:
        """One storage watch for one request (the path without a cache)."""
        from kube.apiserver.watchcache import visible_type  # watchcache imports this module

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
                change = Change(kind, obj, prev, event.revision)
                seen = visible_type(change, selection)
                if seen is None:
                    yield Change(PROGRESS, obj, None, event.revision)
                elif seen != kind:
                    yield Change(seen, obj, prev, event.revision)
                else:
                    yield change
        except CompactedError as err:
            # As upstream's watch cache: the oldest resourceVersion a watch can start from.
            raise errors.gone(f"too old resource version: {since} ({err.compacted})") from err
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
