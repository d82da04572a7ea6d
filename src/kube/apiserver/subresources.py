"""The subresources that are not the object itself: scale, binding, eviction, token.

Upstream serves each with its own REST storage next to the kind's (pkg/registry/.../storage):
they read and write the parent object, but speak another type on the wire. Here they are one
table, `Subresources.routes`, keyed by (group, version, plural, subresource) with a handler per
verb; `handler(info)` finds the one for a request and the API server calls it instead of the
generic verbs. The parent's `ObjectStore` comes from the server's lookup, which has already
checked that the subresource serves the verb.

- `scale` (deployments, replicasets, statefulsets, replicationcontrollers): an autoscaling/v1
  `Scale` view of the parent (its name, namespace, uid, resourceVersion and creation time;
  `spec.replicas`; `status.replicas` and the selector as a string). GET reads it; PUT and
  PATCH (JSON, merge or strategic merge, applied to the Scale) change only the parent's
  `spec.replicas`, compare-and-swap on the Scale's resourceVersion when it has one.
- `pods/binding` and the `bindings` collection: assign an unscheduled pod to a node (upstream's
  `assignPod`: `spec.nodeName`, the binding's annotations and the PodScheduled condition, in
  one storage update that bypasses the pod update rules, which forbid changing nodeName).
- `pods/eviction`: delete a pod unless a PodDisruptionBudget forbids it, taking one disruption
  from the budget's status (upstream's EvictionREST, checks in the same order).
- `serviceaccounts/token`: a TokenRequest answered with a signed token (`kube.auth.serviceaccount`).
- `pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`: proxied to the kubelet of the
  pod's node (`kube.apiserver.proxy`); `nodes/proxy`, any request to the node's kubelet.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from kube.api import errors, patch
from kube.api.meta import Object, copy_object, metadata, now_rfc3339
from kube.api.selectors import (
    EQUALS,
    SelectorError,
    format_requirements,
    from_label_selector,
)
from kube.api.strategicpatch import StrategicMergePatchError, strategic_merge_patch
from kube.api.validation import field
from kube.apiserver import handlers, namespaces, negotiation
from kube.apiserver.patchschema import patch_meta
from kube.apiserver.proxy import NODE_PROXY_VERBS, KubeletProxy
from kube.apiserver.requestinfo import RequestInfo
from kube.apiserver.store import ObjectStore
from kube.auth.serviceaccount import (
    DEFAULT_EXPIRATION_SECONDS,
    ISSUER,
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    BoundObject,
    TokenIssuer,
)
from kube.codec import jsonc
from kube.native import match_labels
from kube.storage.backend import ConflictError, KeyNotFoundError

__all__ = ["SERVED", "Subresources", "scale_of", "selector_string"]

Handler = Callable[[web.Request, RequestInfo], Awaitable[web.StreamResponse]]
Lookup = Callable[[RequestInfo], ObjectStore]
StoreFor = Callable[[str, str, str], ObjectStore]

# The subresources the server answers (besides `status`, which the generic verbs serve).
SERVED = frozenset(
    {
        "scale", "binding", "eviction", "token", "finalize", "log", "exec", "attach",
        "portforward", "proxy",
    }
)  # fmt: skip

RETRIES = 5
# Upstream's MaxDisruptedPodSize: past this many unconfirmed evictions a budget refuses more.
MAX_DISRUPTED_PODS = 2000
SCALABLE = (
    ("apps", "v1", "deployments"),
    ("apps", "v1", "replicasets"),
    ("apps", "v1", "statefulsets"),
    ("", "v1", "replicationcontrollers"),
)


# -- helpers ------------------------------------------------------------------------------


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(
                f'dryRun: Unsupported value: "{value}": supported values: "All"'
            )
    return bool(values)


async def _body(request: web.Request, api_versions: Sequence[str], kind: str) -> Object:
    """The request's object, which must be `kind` in one of `api_versions` (or say neither)."""
    obj = negotiation.decode_body(
        request.headers.get("Content-Type", ""), await handlers.read_body(request)
    )
    got_version, got_kind = obj.get("apiVersion"), obj.get("kind")
    if got_version and got_version not in api_versions:
        raise errors.bad_request(
            f"the API version in the data ({got_version}) does not match the expected API "
            f"version ({api_versions[0]})"
        )
    if got_kind and got_kind != kind:
        raise errors.bad_request(
            f"the kind in the data ({got_kind}) does not match the expected kind ({kind})"
        )
    if not isinstance(obj.get("metadata"), dict | None):
        raise errors.bad_request("metadata must be an object")
    return obj


def _success(code: int = 201) -> Object:
    """The `Status` upstream answers a create that returns no object (binding, eviction)."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}


def _check_namespace(obj: Object, namespace: str) -> None:
    body_ns = metadata(obj).get("namespace")
    if body_ns and body_ns != namespace:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def selector_string(selector: Any) -> str:
    """An API LabelSelector as upstream's `LabelSelectorAsSelector(s).String()`.

    Requirements sorted by key, `in`/`notin` values as a sorted set; an empty or missing
    selector is "" (Everything and Nothing both print so). 400 if it does not convert.
    """
    if not isinstance(selector, dict):
        return ""
    try:
        reqs = from_label_selector(selector)
    except SelectorError as err:
        raise errors.bad_request(str(err)) from err
    return format_requirements([(k, op, tuple(sorted(set(v)))) for k, op, v in reqs])


def _as_int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _now() -> float:
    return time.time()


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- scale --------------------------------------------------------------------------------


def scale_of(parent: Object, group: str) -> Object:
    """The autoscaling/v1 Scale of a scalable object (upstream's scaleFrom<Kind>)."""
    meta = metadata(parent)
    spec = parent.get("spec") if isinstance(parent.get("spec"), dict) else {}
    status = parent.get("status") if isinstance(parent.get("status"), dict) else {}
    assert isinstance(spec, dict)
    assert isinstance(status, dict)
    if group == "":  # a ReplicationController's selector is a plain map
        raw = spec.get("selector")
        pairs = sorted(raw.items()) if isinstance(raw, dict) else []
        selector = format_requirements([(str(k), EQUALS, (str(v),)) for k, v in pairs])
    else:
        selector = selector_string(spec.get("selector"))
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if meta.get(k)
    }
    replicas = _as_int(spec.get("replicas"))
    scale_status: dict[str, Any] = {"replicas": _as_int(status.get("replicas"))}
    if selector:
        scale_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": replicas} if replicas else {},
        "status": scale_status,
    }


def _scale_resource(info: RequestInfo) -> tuple[str, str]:
    """The (group, resource) upstream names in a scale subresource's errors."""
    if info.group == "":
        return "autoscaling", f"{info.resource}/scale"
    return info.group, f"{info.resource}/scale"


def _validate_scale(scale: Object, name: str) -> None:
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    causes = []
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        causes.append(field.invalid("spec.replicas", replicas, "must be an integer"))
    elif replicas < 0:
        causes.append(
            field.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
        )
    if causes:
        raise errors.invalid("autoscaling", "Scale", name, causes)


def _scale_patcher(content_type: str, body: bytes) -> Callable[[Object], Object]:
    """A function applying the request's patch to a Scale."""
    try:
        document: Any = jsonc.loads(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(str(err)) from err
    if content_type == negotiation.JSON_PATCH:

        def change(old: Object) -> Any:
            return patch.json_patch(old, document)
    elif content_type == negotiation.MERGE_PATCH:
        if not isinstance(document, dict):
            raise errors.bad_request("a merge patch must be a JSON object")

        def change(old: Object) -> Any:
            return patch.merge_patch(old, document)
    elif content_type == negotiation.STRATEGIC_PATCH:
        if not isinstance(document, dict):
            raise errors.bad_request("a strategic merge patch must be a JSON object")
        meta = patch_meta("autoscaling", "v1", "Scale")

        def change(old: Object) -> Any:
            return strategic_merge_patch(old, document, meta)
    else:
        raise errors.unsupported_media_type(
            content_type or "(none)",
            (negotiation.JSON_PATCH, negotiation.MERGE_PATCH, negotiation.STRATEGIC_PATCH),
        )

    def checked(old: Object) -> Object:
        try:
            new = change(old)
        except StrategicMergePatchError as err:
            if err.code == 400:
                raise errors.bad_request(str(err)) from err
            raise errors.APIError(422, "Invalid", str(err)) from err
        except patch.PatchError as err:
            raise errors.APIError(422, "Invalid", str(err)) from err
        if not isinstance(new, dict):
            raise errors.bad_request("the patch does not produce an object")
        return new

    return checked


# -- pods ---------------------------------------------------------------------------------


def _condition(pod: Object, kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return cond
    return None


def _binding_copy(pod: Object) -> Object:
    """As much of a pod as a binding changes, copied (metadata, spec, status and its list of
    conditions, whose items `_set_pod_condition` replaces rather than edits); the rest is
    shared with the pod read. A whole copy of the pod was most of a binding's CPU."""
    out = dict(pod)
    for part in ("metadata", "spec", "status"):
        value = out.get(part)
        if isinstance(value, dict):
            out[part] = dict(value)
    status = out.get("status")
    if isinstance(status, dict) and isinstance(status.get("conditions"), list):
        status["conditions"] = list(status["conditions"])
    return out


def _set_pod_condition(pod: Object, condition: dict[str, Any]) -> None:
    """upstream's `UpdatePodCondition`: replace or append; the transition time moves only
    when the status changes."""
    status = pod.get("status")
    if not isinstance(status, dict):
        status = pod["status"] = {}
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        conditions = status["conditions"] = []
    condition = {**condition, "lastProbeTime": None, "lastTransitionTime": now_rfc3339()}
    for i, old in enumerate(conditions):
        if isinstance(old, dict) and old.get("type") == condition["type"]:
            if old.get("status") == condition["status"] and old.get("lastTransitionTime"):
                condition["lastTransitionTime"] = old["lastTransitionTime"]
            conditions[i] = condition
            return
    conditions.append(condition)


def _pod_ready(pod: Object) -> bool:
    cond = _condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def _phase(pod: Object) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def _too_many_requests(message: str, cause: str, retry_after: int = 0) -> errors.APIError:
    details: dict[str, Any] = {"causes": [{"reason": "DisruptionBudget", "message": cause}]}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    return errors.APIError(429, "TooManyRequests", message, details)


EVICTION_BLOCKED = "Cannot evict pod as it would violate the pod's disruption budget."


def _still_processing(pdb_name: str) -> errors.APIError:
    return _too_many_requests(
        EVICTION_BLOCKED,
        f"The disruption budget {pdb_name} is still being processed by the server.",
        10,
    )


def _set_condition(conditions: list[Any], condition: dict[str, Any]) -> None:
    """apimachinery's `meta.SetStatusCondition` for a metav1.Condition list."""
    for old in conditions:
        if isinstance(old, dict) and old.get("type") == condition["type"]:
            if old.get("status") != condition["status"]:
                old["status"] = condition["status"]
                old["lastTransitionTime"] = now_rfc3339()
            for key in ("reason", "message", "observedGeneration"):
                old[key] = condition[key]
            return
    conditions.append({**condition, "lastTransitionTime": now_rfc3339()})


# -- the table ----------------------------------------------------------------------------


class Subresources:
    """The handlers of scale, binding, eviction and token, by (group, version, plural, sub).

    `lookup` is the server's store lookup for a request (it checks the subresource and verb);
    `store_for(group, version, plural)` gives any other store (budgets, nodes, ...).
    """

    def __init__(
        self,
        lookup: Lookup,
        store_for: StoreFor,
        *,
        issuer: TokenIssuer | None = None,
        audiences: Sequence[str] = (ISSUER,),
        kubelet_client_cert: tuple[Path, Path] | None = None,
    ) -> None:
        self.lookup = lookup
        self.store_for = store_for
        self.issuer = issuer
        self.audiences = tuple(audiences)
        scale: dict[str, Handler] = {
            "get": self.get_scale,
            "update": self.update_scale,
            "patch": self.patch_scale,
        }
        self.routes: dict[tuple[str, str, str, str], dict[str, Handler]] = {
            (*gvr, "scale"): scale for gvr in SCALABLE
        }
        self.routes[("", "v1", "pods", "binding")] = {"create": self.bind}
        self.routes[("", "v1", "bindings", "")] = {"create": self.bind}
        self.routes[("", "v1", "pods", "eviction")] = {"create": self.evict}
        self.routes[("", "v1", "serviceaccounts", "token")] = {"create": self.token}
        # Logs and exec: proxied to the pod's kubelet (kube.apiserver.proxy).
        kubelet = KubeletProxy(store_for, kubelet_client_cert)
        self.routes[("", "v1", "pods", "log")] = {"get": kubelet.log}
        self.routes[("", "v1", "pods", "exec")] = {"get": kubelet.exec, "create": kubelet.exec}
        self.routes[("", "v1", "pods", "attach")] = {
            "get": kubelet.attach,
            "create": kubelet.attach,
        }
        self.routes[("", "v1", "pods", "portforward")] = {
            "get": kubelet.port_forward,
            "create": kubelet.port_forward,
        }
        # nodes/proxy: any request relayed to the node's kubelet.
        self.routes[("", "v1", "nodes", "proxy")] = dict.fromkeys(
            NODE_PROXY_VERBS, kubelet.node_proxy
        )
        # Namespaces: DELETE marks them Terminating; finalize (kube.apiserver.namespaces).
        self.routes[("", "v1", "namespaces", "")] = {
            "delete": lambda r, i: namespaces.delete(self.lookup(i), r, i)
        }
        self.routes[("", "v1", "namespaces", "finalize")] = {
            "update": lambda r, i: namespaces.finalize(self.lookup(i), r, i)
        }

    def handler(self, info: RequestInfo) -> Handler | None:
        """The handler for this request, or None when the generic verbs serve it."""
        verbs = self.routes.get((info.group, info.version, info.resource, info.subresource))
        if verbs is None or (not info.subresource and info.verb not in verbs):
            return None
        found = verbs.get(info.verb)
        if found is None:
            # Let the lookup say 405 (or 404) exactly as for any other subresource.
            self.lookup(info)
            raise errors.method_not_supported(
                info.group, f"{info.resource}/{info.subresource}", info.verb
            )
        return found

    # -- scale ----------------------------------------------------------------------------

    async def get_scale(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        try:
            parent = await store.get(info.namespace, info.name)
        except errors.APIError as err:
            if err.code != 404:
                raise
            raise errors.not_found(*_scale_resource(info), info.name) from None
        return handlers.respond(request, scale_of(parent, info.group))

    async def update_scale(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        scale = await _body(request, ("autoscaling/v1",), "Scale")
        meta = metadata(scale)
        if meta.get("name") and meta["name"] != info.name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({info.name})"
            )
        _check_namespace(scale, info.namespace)
        return await self._write_scale(request, info, store, lambda _old: copy.deepcopy(scale))

    async def patch_scale(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        store = self.lookup(info)
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        patcher = _scale_patcher(content_type, await handlers.read_body(request))
        return await self._write_scale(request, info, store, patcher)

    async def _write_scale(
        self,
        request: web.Request,
        info: RequestInfo,
        store: ObjectStore,
        new_scale: Callable[[Object], Object],
    ) -> web.StreamResponse:
        """Set the parent's replicas from `new_scale(current Scale)` (upstream's
        scaleUpdatedObjectInfo): validated, uid precondition, resourceVersion as given."""

        def change(parent: Object) -> Object:
            scale = new_scale(scale_of(parent, info.group))
            _validate_scale(scale, info.name)
            meta, parent_meta = metadata(scale), metadata(parent)
            if meta.get("uid") and meta["uid"] != parent_meta.get("uid"):
                group, resource = _scale_resource(info)
                raise errors.conflict(
                    group,
                    resource,
                    info.name,
                    f"Precondition failed: UID in precondition: {meta['uid']}, UID in object "
                    f"meta: {parent_meta.get('uid', '')}",
                )
            spec = parent.get("spec")
            if not isinstance(spec, dict):
                spec = parent["spec"] = {}
            spec["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
            rv = meta.get("resourceVersion")
            if rv and str(rv) != "0":
                parent_meta["resourceVersion"] = str(rv)
            return parent

        updated = await store.mutate(info.namespace, info.name, change, dry_run=_dry_run(request))
        return handlers.respond(request, scale_of(updated, info.group))

    # -- binding --------------------------------------------------------------------------

    async def bind(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """POST pods/{name}/binding or bindings: upstream's BindingREST.Create."""
        pods = self.store_for("", "v1", "pods")
        if info.subresource:
            self.lookup(info)
        binding = await _body(request, ("v1",), "Binding")
        meta = metadata(binding)
        name = info.name or str(meta.get("name") or "")
        if str(meta.get("name") or "") != name:
            raise errors.bad_request("name in URL does not match name in Binding object")
        _check_namespace(binding, info.namespace)
        target = binding.get("target") if isinstance(binding.get("target"), dict) else {}
        assert isinstance(target, dict)
        problems = []
        if target.get("kind") not in (None, "", "Node"):
            problems.append(
                field.not_supported("target.kind", target.get("kind"), ["Node", "<empty>"])
            )
        if not target.get("name"):
            problems.append(field.required("target.name"))
        if problems:
            # Upstream returns the aggregate, not a StatusError: a 500 with the causes' text.
            text = [f"{c.field}: {c.message}" for c in problems]
            message = text[0] if len(text) == 1 else f"[{', '.join(text)}]"
            raise errors.APIError(500, "", message)
        node = str(target["name"])
        annotations = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
        uid, rv = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")

        def assign(pod: Object) -> Object:
            pod_meta = metadata(pod)
            why = ""
            if uid and pod_meta.get("uid") != uid:
                why = (
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{pod_meta.get('uid', '')}"
                )
                raise errors.conflict("", "pods", name, why)
            if rv and pod_meta.get("resourceVersion") != rv:
                why = (
                    f"Precondition failed: ResourceVersion in precondition: {rv}, "
                    f"ResourceVersion in object meta: {pod_meta.get('resourceVersion', '')}"
                )
                raise errors.conflict("", "pods", name, why)
            spec = pod.get("spec")
            if not isinstance(spec, dict):
                spec = pod["spec"] = {}
            if pod_meta.get("deletionTimestamp"):
                why = f"pod {name} is being deleted, cannot be assigned to a host"
            elif spec.get("nodeName"):
                why = f"pod {name} is already assigned to node {errors.go_quote(spec['nodeName'])}"
            elif spec.get("schedulingGates"):
                why = f"pod {name} has non-empty .spec.schedulingGates"
            if why:
                raise errors.conflict("", "pods/binding", name, why)
            spec["nodeName"] = node
            if annotations:
                pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), **annotations}
            _set_pod_condition(pod, {"type": "PodScheduled", "status": "True"})
            return pod

        await self._guaranteed_update(
            pods, info.namespace, name, assign, _dry_run(request), copy=_binding_copy
        )
        return handlers.respond(request, _success(), 201)

    @staticmethod
    async def _guaranteed_update(
        store: ObjectStore,
        namespace: str,
        name: str,
        change: Callable[[Object], Object],
        dry_run: bool,
        *,
        copy: Callable[[Object], Object] = copy_object,
    ) -> Object:
        """Read, change, compare-and-swap in storage, retried on races: upstream's
        `Storage.GuaranteedUpdate`, which skips the kind's update strategy on purpose.
        `change` gets `copy(old)`, so `old` stays as read to compare with."""
        from_storage = dry_run
        for _ in range(RETRIES + 1):
            # The watch cache's copy first (a guess: the swap below checks it), then storage.
            old, cached = await store.read_for_update(namespace, name, from_storage=from_storage)
            from_storage = True
            revision = int(old["metadata"]["resourceVersion"])
            try:
                new = change(copy(old))
            except errors.APIError:
                if cached:
                    continue  # refused on what may be a stale copy: storage decides
                raise
            if dry_run or new == old:
                if cached and not dry_run:
                    continue
                return new
            try:
                kv = await store.backend.update(
                    store.resource.key(namespace, name),
                    store.encode(new),
                    expected_revision=revision,
                )
            except ConflictError:
                continue
            except KeyNotFoundError:
                raise errors.not_found(store.resource.group, store.resource.plural, name) from None
            metadata(new)["resourceVersion"] = str(kv.mod_revision)
            return new
        raise errors.conflict(
            store.resource.group, store.resource.plural, name, errors.OBJECT_MODIFIED
        )

    # -- eviction -------------------------------------------------------------------------

    async def evict(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """POST pods/{name}/eviction: upstream's EvictionREST.Create."""
        pods = self.lookup(info)
        eviction = await _body(request, ("policy/v1", "policy/v1beta1"), "Eviction")
        if metadata(eviction).get("name") != info.name:
            raise errors.bad_request("name in URL does not match name in Eviction object")
        _check_namespace(eviction, info.namespace)
        raw_options = eviction.get("deleteOptions")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        request_dry_run = request.query.getall("dryRun", [])
        _dry_run(request)
        body_dry_run = options.get("dryRun") or []
        if request_dry_run and body_dry_run and list(request_dry_run) != list(body_dry_run):
            raise errors.internal(
                f"Non-matching dry-run options in request and content: {list(request_dry_run)} "
                f"and {list(body_dry_run)}"
            )
        dry_run = bool(request_dry_run or body_dry_run)
        pre = options.get("preconditions") if isinstance(options.get("preconditions"), dict) else {}
        assert isinstance(pre, dict)
        pre_uid, pre_rv = str(pre.get("uid") or ""), str(pre.get("resourceVersion") or "")
        policy = str(options.get("propagationPolicy") or "")
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise errors.bad_request("deleteOptions.gracePeriodSeconds must be an integer")

        async def delete(rv: str) -> None:
            await pods.delete(
                info.namespace,
                info.name,
                propagation_policy=policy,
                precondition_uid=pre_uid,
                precondition_rv=rv,
                dry_run=dry_run,
                grace_period_seconds=grace,
            )

        # A pod that is done, not yet running, or already going: no budget to consult.
        pod: Object | None = None
        for _ in range(RETRIES if not pre_rv else 1):
            pod = await pods.get(info.namespace, info.name)
            phase, deleting = _phase(pod), bool(metadata(pod).get("deletionTimestamp"))
            if phase not in ("Succeeded", "Failed", "Pending") and not deleting:
                break
            enforce = phase not in ("Succeeded", "Failed") and not deleting
            rv = pre_rv or (str(metadata(pod)["resourceVersion"]) if enforce else "")
            try:
                await delete(rv)
            except errors.APIError as err:
                if err.reason == "Conflict" and not pre_rv:
                    continue
                raise
            return handlers.respond(request, _success(), 201)
        else:
            raise errors.conflict("", "pods", info.name, errors.OBJECT_MODIFIED)
        assert pod is not None

        budgets = await self._budgets_for(pod, info.namespace)
        if len(budgets) > 1:
            # Upstream returns a failure Status with code 500 (no reason).
            raise errors.APIError(
                500,
                "",
                "This pod has more than one PodDisruptionBudget, which the eviction "
                "subresource does not support.",
            )
        unhealthy_ok = False
        budget_name = ""
        if budgets:
            budget = budgets[0]
            budget_name = str(metadata(budget).get("name") or "")
            status = budget.get("status") or {}
            if not _pod_ready(pod):
                policy_name = (budget.get("spec") or {}).get("unhealthyPodEvictionPolicy")
                desired = _as_int(status.get("desiredHealthy"))
                if policy_name == "AlwaysAllow" or (
                    _as_int(status.get("currentHealthy")) >= desired and desired > 0
                ):
                    unhealthy_ok = True
            if not unhealthy_ok:
                await self._take_disruption(info.namespace, info.name, budget_name, dry_run)
        rv = pre_rv
        if unhealthy_ok and not rv:
            rv = str(metadata(pod)["resourceVersion"])
        try:
            await delete(rv)
        except errors.APIError as err:
            if err.reason == "Conflict" and unhealthy_ok and not pre_rv:
                raise _still_processing(budget_name) from err
            raise
        return handlers.respond(request, _success(), 201)

    async def _budgets_for(self, pod: Object, namespace: str) -> list[Object]:
        """The namespace's PodDisruptionBudgets whose selector matches the pod; a budget with
        an empty, missing or invalid selector matches nothing."""
        budgets = self.store_for("policy", "v1", "poddisruptionbudgets")
        page = await budgets.list(namespace)
        labels = metadata(pod).get("labels") or {}
        found = []
        for budget in page.items:
            selector = (budget.get("spec") or {}).get("selector")
            try:
                reqs = from_label_selector(selector if isinstance(selector, dict) else None)
            except SelectorError:
                continue
            if reqs and match_labels(reqs, [labels]):
                found.append(budget)
        return found

    async def _take_disruption(
        self, namespace: str, pod_name: str, budget_name: str, dry_run: bool
    ) -> None:
        """upstream's checkAndDecrement, on the budget's latest state (retried on races)."""
        budgets = self.store_for("policy", "v1", "poddisruptionbudgets")

        def take(budget: Object) -> Object:
            meta = metadata(budget)
            status = budget.get("status")
            if not isinstance(status, dict):
                status = budget["status"] = {}
            if _as_int(status.get("observedGeneration")) < _as_int(meta.get("generation")):
                raise _still_processing(budget_name)
            allowed = _as_int(status.get("disruptionsAllowed"))
            if allowed < 0:
                raise errors.forbidden(
                    "policy",
                    "poddisruptionbudget",
                    budget_name,
                    "pdb disruptions allowed is negative",
                )
            disrupted = status.get("disruptedPods")
            if isinstance(disrupted, dict) and len(disrupted) > MAX_DISRUPTED_PODS:
                raise errors.forbidden(
                    "policy",
                    "poddisruptionbudget",
                    budget_name,
                    "DisruptedPods map too big - too many evictions not confirmed by PDB "
                    "controller",
                )
            if allowed == 0:
                raise _too_many_requests(
                    EVICTION_BLOCKED,
                    f"The disruption budget {budget_name} needs "
                    f"{_as_int(status.get('desiredHealthy'))} healthy pods and has "
                    f"{_as_int(status.get('currentHealthy'))} currently",
                )
            status["disruptionsAllowed"] = allowed - 1
            if allowed - 1 == 0:
                conditions = status.get("conditions")
                if not isinstance(conditions, list):
                    conditions = status["conditions"] = []
                _set_condition(
                    conditions,
                    {
                        "type": "DisruptionAllowed",
                        "status": "False",
                        "reason": "InsufficientPods",
                        "message": "",
                        "observedGeneration": _as_int(status.get("observedGeneration")),
                    },
                )
            if not isinstance(disrupted, dict):
                disrupted = status["disruptedPods"] = {}
            disrupted[pod_name] = now_rfc3339()
            return budget

        await budgets.mutate(namespace, budget_name, take, subresource="status", dry_run=dry_run)

    # -- token ----------------------------------------------------------------------------

    async def token(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """POST serviceaccounts/{name}/token: upstream's TokenREST.Create."""
        accounts = self.lookup(info)
        if self.issuer is None:
            raise errors.method_not_supported("", "serviceaccounts/token", "create")
        req = await _body(request, ("authentication.k8s.io/v1",), "TokenRequest")
        meta = metadata(req)
        group, kind = "authentication.k8s.io", "TokenRequest"
        if meta.get("name") and meta["name"] != info.name:
            cause = field.invalid(
                "metadata.name", meta["name"], "must match the service account name if specified"
            )
            raise errors.invalid(group, kind, info.name, [cause])
        if meta.get("namespace") and meta["namespace"] != info.namespace:
            cause = field.invalid(
                "metadata.namespace",
                meta["namespace"],
                "must match the service account namespace if specified",
            )
            raise errors.invalid(group, kind, info.name, [cause])
        account = await accounts.get(info.namespace, info.name)
        spec = req.get("spec") if isinstance(req.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        audiences = [str(a) for a in spec.get("audiences") or ()] or list(self.audiences)
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.bad_request("spec.expirationSeconds must be an integer")
        now = _now()
        causes = []
        if expiration < MIN_EXPIRATION_SECONDS:
            causes.append(
                field.invalid(
                    "spec.expirationSeconds",
                    expiration,
                    "may not specify a duration less than 10 minutes",
                )
            )
        if expiration > MAX_EXPIRATION_SECONDS:
            causes.append(field.too_long("spec.expirationSeconds", MAX_EXPIRATION_SECONDS))
        if causes:
            raise errors.invalid(group, kind, "", causes)
        bound = await self._bound_objects(spec.get("boundObjectRef"), info)
        token, expires = self.issuer.issue(
            namespace=info.namespace,
            name=info.name,
            uid=str(metadata(account).get("uid") or ""),
            audiences=audiences,
            expiration_seconds=expiration,
            bound=bound,
            now=now,
        )
        out_spec = {**spec, "audiences": audiences, "expirationSeconds": expiration}
        out = {
            "kind": kind,
            "apiVersion": f"{group}/v1",
            "metadata": {
                **meta,
                "name": info.name,
                "namespace": info.namespace,
                "creationTimestamp": _rfc3339(now),
            },
            "spec": out_spec,
            "status": {"token": token, "expirationTimestamp": _rfc3339(expires)},
        }
        return handlers.respond(request, out, 201)

    async def _bound_objects(self, ref: Any, info: RequestInfo) -> list[BoundObject]:
        """The objects a token is bound to (a pod also brings its node), checked as upstream."""
        if not isinstance(ref, dict):
            return []
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        group, _, version = api_version.rpartition("/")
        name, want_uid = str(ref.get("name") or ""), str(ref.get("uid") or "")
        bound: list[BoundObject] = []
        if group == "" and kind == "Pod":
            pod = await self.store_for("", "v1", "pods").get(info.namespace, name)
            account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
            if account != info.name:
                raise errors.bad_request(
                    f"cannot bind token for serviceaccount {errors.go_quote(info.name)} to pod "
                    "running with different serviceaccount name."
                )
            uid = str(metadata(pod).get("uid") or "")
            bound.append(BoundObject("Pod", name, uid))
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                try:
                    node = await self.store_for("", "v1", "nodes").get("", str(node_name))
                except errors.APIError as err:
                    if err.code != 404:
                        raise
                else:
                    node_uid = str(metadata(node).get("uid") or "")
                    bound.append(BoundObject("Node", str(node_name), node_uid))
        elif group == "" and kind == "Secret":
            secret = await self.store_for("", "v1", "secrets").get(info.namespace, name)
            uid = str(metadata(secret).get("uid") or "")
            bound.append(BoundObject("Secret", name, uid))
        elif group == "" and kind == "Node":
            node = await self.store_for("", "v1", "nodes").get("", name)
            uid = str(metadata(node).get("uid") or "")
            bound.append(BoundObject("Node", name, uid))
        else:
            raise errors.bad_request(
                f"cannot bind token to object of type {group}/{version}, Kind={kind}"
            )
        if want_uid and uid != want_uid:
            raise errors.conflict(
                group,
                kind,
                name,
                f"the UID in the bound object reference ({want_uid}) does not match the UID in "
                "record. The object might have been deleted and then recreated",
            )
        return bound
