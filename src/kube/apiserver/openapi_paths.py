"""The `paths` of the OpenAPI documents: every operation of every served resource.

The operations follow from a registry row the way upstream's API installer derives them from
a storage's interfaces: a `list` verb gives the namespaced list, the all-namespaces list and
the (deprecated) watch paths; `create` a POST; `get`/`update`/`patch`/`delete` the item path;
each subresource its own path, with connect subresources (exec, attach, portforward) as GET
and POST that answer a stream. Names, descriptions, operation ids, tags, parameters,
responses and the `x-kubernetes-action` / `x-kubernetes-group-version-kind` extensions are
upstream's; kubectl reads two of them: a PATCH tagged with the kind's GVK and offering
`fieldValidation` makes `kubectl apply` leave validation to the server.

Operations are built once as a small model (`Operation`) and rendered to OpenAPI 3.0
(`render_v3`) or Swagger 2.0 (`render_v2`). Parameters shared by every operation of a path
are hoisted to the path, as upstream's generator does, and all lists are sorted by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kube.api.registry import Registry, Resource, Subresource
from kube.apiserver import openapi_params as P
from kube.apiserver.openapi_params import Param
from kube.apiserver.openapi_schemas import definition_name

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS, DELETE_OPTIONS, PATCH, WATCH_EVENT = (
    META + "Status",
    META + "DeleteOptions",
    META + "Patch",
    META + "WatchEvent",
)
API_RESOURCE_LIST = META + "APIResourceList"

OBJECT_TYPES = ("application/json", "application/vnd.kubernetes.protobuf", "application/yaml")
STREAM_TYPES = (
    "application/json",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
)
PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
CONNECT_SUBRESOURCES = frozenset({"attach", "exec", "portforward", "proxy"})
_CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}
_UNAUTHORIZED = {"401": {"description": "Unauthorized"}}


@dataclass(frozen=True)
class Operation:
    """One HTTP method on one path, before rendering.

    `response` and `body` are definition names; a `response` of None is a plain string
    (logs, streams). `action` and `gvk` become the `x-kubernetes-*` extensions.
    """

    method: str
    operation_id: str
    description: str
    action: str
    gvk: tuple[str, str, str] | None
    params: tuple[Param, ...]
    codes: tuple[str, ...]
    response: str | None
    response_types: tuple[str, ...] = OBJECT_TYPES
    body: str | None = None
    body_types: tuple[str, ...] = ("*/*",)


def _schema(group: str, version: str, kind: str) -> str:
    name = definition_name(group, version, kind)
    if name is None:
        raise LookupError(f"no schema for {group or 'core'}/{version} {kind}")
    return name


def camel_group(group: str) -> str:
    """`rbac.authorization.k8s.io` -> `RbacAuthorization`, core -> `Core` (operation ids)."""
    if not group:
        return "Core"
    return "".join(part[:1].upper() + part[1:] for part in group.removesuffix(".k8s.io").split("."))


def tag(group: str, version: str) -> str:
    """The operations' tag: `core_v1`, `apps_v1`, `rbacAuthorization_v1`."""
    name = camel_group(group)
    return f"{name[:1].lower()}{name[1:]}_{version}"


def _article(kind: str) -> str:
    """Upstream's GetArticleForNoun: none for plurals (Endpoints), `an` before a vowel."""
    if kind.endswith("s") and not kind.endswith("ss"):
        return ""
    return "an " if kind[:1].lower() in "aeiou" else "a "


@dataclass(frozen=True)
class _Verb:
    """How a kube verb on an object (or subresource) becomes an operation."""

    method: str
    action: str
    prefix: str  # of the operation id
    text: str  # description; {of} is "<subresource> of " or ""
    options: tuple[Param, ...]
    codes: tuple[str, ...]


_OBJECT_VERBS = {
    "get": _Verb("get", "get", "read", "read {of}the specified {kind}", (), ("200",)),
    "update": _Verb(
        "put", "put", "replace", "replace {of}the specified {kind}", P.UPDATE, ("200", "201")
    ),
    "patch": _Verb(
        "patch", "patch", "patch", "partially update {of}the specified {kind}", P.PATCH,
        ("200", "201"),
    ),
    "delete": _Verb("delete", "delete", "delete", "delete {a}{kind}", P.DELETE, ("200", "202")),
    "create": _Verb(
        "post", "post", "create", "create {of}{a}{kind}", P.CREATE, ("200", "201", "202")
    ),
}  # fmt: skip


class _Builder:
    """Builds the operations of one row, under its `/api[s]/<group>/<version>` root."""

    def __init__(self, row: Resource) -> None:
        self.row = row
        self.root = f"/apis/{row.group}/{row.version}" if row.group else f"/api/{row.version}"
        self.ident = camel_group(row.group) + row.version[:1].upper() + row.version[1:]
        self.ns = "Namespaced" if row.namespaced else ""
        self.gvk = (row.group, row.version, row.kind)

    def paths(self) -> dict[str, list[Operation]]:
        row = self.row
        ns_root = f"{self.root}/namespaces/{{namespace}}" if row.namespaced else self.root
        scope = (P.NAMESPACE,) if row.namespaced else ()
        collection, item = f"{ns_root}/{row.plural}", f"{ns_root}/{row.plural}/{{name}}"
        out: dict[str, list[Operation]] = {}
        if "list" in row.verbs:
            out.setdefault(collection, []).append(self.listing(scope, self.ns))
        if "create" in row.verbs:
            out.setdefault(collection, []).append(self.verb("create", scope))
        if "deletecollection" in row.verbs:
            out.setdefault(collection, []).append(self.delete_collection(scope))
        item_scope = (P.name_param(row.kind), *scope)
        for verb in ("get", "update", "patch", "delete"):
            if verb in row.verbs:
                out.setdefault(item, []).append(self.verb(verb, item_scope))
        for sub in row.subresources:
            out[f"{item}/{sub.name}"] = self.subresource(sub, scope)
            if sub.name == "proxy":  # and the rest of the URL as a path parameter
                out[f"{item}/{sub.name}/{{path}}"] = self.subresource(sub, scope, with_path=True)
        if "watch" in row.verbs:
            self.watches(out, scope)
        return out

    def verb(
        self, verb: str, scope: tuple[Param, ...], sub: Subresource | None = None
    ) -> Operation:
        """A create/get/update/patch/delete of the object or of a subresource."""
        spec = _OBJECT_VERBS[verb]
        gvk = self.gvk if sub is None else self.row.response_kind(sub)
        schema = _schema(*gvk)
        suffix = "" if sub is None else sub.name[:1].upper() + sub.name[1:]
        text = spec.text.format(
            of="" if sub is None else f"{sub.name} of ",
            a=_article(self.row.kind),
            kind=self.row.kind,
        )
        options: tuple[Param, ...] = spec.options
        response: str | None = schema
        types: tuple[str, ...] = OBJECT_TYPES
        if sub is not None and verb == "get" and sub.name in P.SUBRESOURCE_OPTIONS:
            options = P.SUBRESOURCE_OPTIONS[sub.name]
            if sub.name == "log":  # the log is text, whatever the Accept
                response, types = None, (*OBJECT_TYPES, "text/plain")
        if verb == "delete" and not self.row.delete_returns_object:
            response = STATUS
        body = {"create": schema, "update": schema, "patch": PATCH, "delete": DELETE_OPTIONS}
        return Operation(
            spec.method, f"{spec.prefix}{self.ident}{self.ns}{self.row.kind}{suffix}", text,
            spec.action, gvk, (*scope, P.PRETTY, *options), spec.codes, response, types,
            body.get(verb), PATCH_TYPES if verb == "patch" else ("*/*",),
        )  # fmt: skip

    def listing(self, scope: tuple[Param, ...], ns: str, suffix: str = "") -> Operation:
        kind, list_schema = self.row.kind, _schema(*self.row.group_version, self.row.list_kind)
        return Operation(
            "get", f"list{self.ident}{ns}{kind}{suffix}", f"list or watch objects of kind {kind}",
            "list", self.gvk, (*scope, P.PRETTY, *P.LIST), ("200",), list_schema,
            STREAM_TYPES,
        )  # fmt: skip

    def delete_collection(self, scope: tuple[Param, ...]) -> Operation:
        kind = self.row.kind
        return Operation(
            "delete", f"delete{self.ident}Collection{self.ns}{kind}",
            f"delete collection of {kind}", "deletecollection", self.gvk,
            (*scope, P.PRETTY, *P.DELETE_COLLECTION), ("200",), STATUS, body=DELETE_OPTIONS,
        )  # fmt: skip

    def subresource(
        self, sub: Subresource, scope: tuple[Param, ...], with_path: bool = False
    ) -> list[Operation]:
        gvk = self.row.response_kind(sub)
        params = (P.name_param(gvk[2]), *scope)
        if sub.name not in CONNECT_SUBRESOURCES:
            verbs = ("get", "create", "update", "patch")
            return [self.verb(verb, params, sub) for verb in verbs if verb in sub.verbs]
        # Connect subresources (exec, attach, portforward): a stream on GET and on POST; proxy
        # takes every method, on `proxy` and on `proxy/{path}`.
        kind, suffix = self.row.kind, sub.name[:1].upper() + sub.name[1:]
        options = P.SUBRESOURCE_OPTIONS.get(sub.name, ())
        methods = [m for v, m in (("get", "get"), ("create", "post")) if v in sub.verbs]
        if sub.name == "proxy":
            methods = ["delete", "get", "head", "options", "patch", "post", "put"]
        if with_path:
            params, suffix = (*params, P.PROXY_PATH), f"{suffix}WithPath"
        ops = []
        for method in methods:
            op_id = f"connect{self.ident}{method.capitalize()}{self.ns}{kind}{suffix}"
            text = f"connect {method.upper()} requests to {sub.name} of {kind}"
            ops.append(
                Operation(method, op_id, text, "connect", gvk, (*params, *options), ("200",),
                          None, ("*/*",))
            )  # fmt: skip
        return ops

    def watches(self, out: dict[str, list[Operation]], scope: tuple[Param, ...]) -> None:
        """The deprecated watch paths, and for namespaced kinds the all-namespaces list."""
        row, kind, ident = self.row, self.row.kind, self.ident
        watch_root = f"{self.root}/watch"
        ns_root = f"{watch_root}/namespaces/{{namespace}}" if row.namespaced else watch_root
        deprecated = "deprecated: use the 'watch' parameter with a list operation instead"
        to_list = f"watch individual changes to a list of {kind}. {deprecated}."
        to_one = (
            f"watch changes to an object of kind {kind}. {deprecated}, filtered to a single "
            "item with the 'fieldSelector' parameter."
        )

        def watch(op_id: str, text: str, action: str, params: tuple[Param, ...]) -> Operation:
            return Operation(
                "get", op_id, text, action, self.gvk, (*params, P.PRETTY, *P.LIST), ("200",),
                WATCH_EVENT, STREAM_TYPES,
            )  # fmt: skip

        out[f"{ns_root}/{row.plural}"] = [
            watch(f"watch{ident}{self.ns}{kind}List", to_list, "watchlist", scope)
        ]
        out[f"{ns_root}/{row.plural}/{{name}}"] = [
            watch(f"watch{ident}{self.ns}{kind}", to_one, "watch", (P.name_param(kind), *scope))
        ]
        if row.namespaced:
            all_ns = f"{kind}ListForAllNamespaces"
            out[f"{self.root}/{row.plural}"] = [self.listing((), "", "ForAllNamespaces")]
            out[f"{watch_root}/{row.plural}"] = [
                watch(f"watch{ident}{all_ns}", to_list, "watchlist", ())
            ]


def group_version_paths(registry: Registry, group: str, version: str) -> dict[str, list[Operation]]:
    """Every path of one group/version document, including `<root>/` (its resource list)."""
    root = f"/apis/{group}/{version}" if group else f"/api/{version}"
    ident = camel_group(group) + version[:1].upper() + version[1:]
    paths: dict[str, list[Operation]] = {
        f"{root}/": [
            Operation(
                "get",
                f"get{ident}APIResources",
                "get available resources",
                "",
                None,
                (),
                ("200",),
                API_RESOURCE_LIST,
            )
        ]
    }
    for row in registry.resources(group, version):
        builder = _Builder(row)
        for path, ops in builder.paths().items():
            paths.setdefault(path, []).extend(ops)
    return paths


def _hoist(ops: list[Operation]) -> tuple[list[Param], list[list[Param]]]:
    """Split parameters into those every operation shares (path level) and the rest."""
    shared = [p for p in ops[0].params if all(p in op.params for op in ops[1:])]
    by_name = sorted(set(shared), key=lambda p: (p.name, p.location))
    rest = [sorted((p for p in op.params if p not in shared), key=lambda p: p.name) for op in ops]
    return by_name, rest


def _ref(prefix: str, name: str | None) -> dict[str, str]:
    return {"type": "string"} if name is None else {"$ref": prefix + name}


def _extensions(op: Operation) -> dict[str, Any]:
    ext: dict[str, Any] = {}
    if op.action:
        ext["x-kubernetes-action"] = op.action
    if op.gvk is not None:
        ext["x-kubernetes-group-version-kind"] = dict(
            zip(("group", "version", "kind"), op.gvk, strict=True)
        )
    return ext


def render_v3(paths: dict[str, list[Operation]], tag_name: str) -> dict[str, Any]:
    """The OpenAPI 3.0 `paths` object for operations built by `group_version_paths`."""
    prefix = "#/components/schemas/"

    def param(p: Param) -> dict[str, Any]:
        out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name}
        if p.required:
            out["required"] = True
        out["schema"] = {"type": p.type, "uniqueItems": True}
        return out

    rendered: dict[str, Any] = {}
    for path, ops in paths.items():
        shared, rest = _hoist(ops)
        item: dict[str, Any] = {"parameters": [param(p) for p in shared]} if shared else {}
        for op, own in zip(ops, rest, strict=True):
            body: dict[str, Any] = {
                "description": op.description,
                "operationId": op.operation_id,
                "responses": {
                    **{
                        code: {
                            "content": {
                                t: {"schema": _ref(prefix, op.response)} for t in op.response_types
                            },
                            "description": _CODE_TEXT[code],
                        }
                        for code in op.codes
                    },
                    **_UNAUTHORIZED,
                },
                "tags": [tag_name],
                **_extensions(op),
            }
            if own:
                body["parameters"] = [param(p) for p in own]
            if op.body is not None:
                schema = {"$ref": prefix + op.body}
                body["requestBody"] = {"content": {t: {"schema": schema} for t in op.body_types}}
            item[op.method] = body
        rendered[path] = item
    return rendered


def render_v2(paths: dict[str, list[Operation]], tag_name: str) -> dict[str, Any]:
    """The Swagger 2.0 `paths` object for the same operations (body as a `body` parameter)."""
    prefix = "#/definitions/"

    def param(p: Param) -> dict[str, Any]:
        out: dict[str, Any] = {"description": p.description, "in": p.location, "name": p.name}
        if p.required:
            out["required"] = True
        out.update({"type": p.type, "uniqueItems": True})
        return out

    rendered: dict[str, Any] = {}
    for path, ops in paths.items():
        shared, rest = _hoist(ops)
        item: dict[str, Any] = {"parameters": [param(p) for p in shared]} if shared else {}
        for op, own in zip(ops, rest, strict=True):
            params = [param(p) for p in own]
            if op.body is not None:
                body_param: dict[str, Any] = {
                    "in": "body",
                    "name": "body",
                    "schema": {"$ref": prefix + op.body},
                }
                if op.method != "delete":
                    body_param["required"] = True
                params.insert(0, body_param)
            body: dict[str, Any] = {
                "consumes": list(op.body_types),
                "description": op.description,
                "operationId": op.operation_id,
                "produces": list(op.response_types),
                "responses": {
                    **{
                        code: {"description": _CODE_TEXT[code], "schema": _ref(prefix, op.response)}
                        for code in op.codes
                    },
                    **_UNAUTHORIZED,
                },
                "schemes": ["https"],
                "tags": [tag_name],
                **_extensions(op),
            }
            if params:
                body["parameters"] = params
            item[op.method] = body
        rendered[path] = item
    return rendered


def referenced_schemas(paths: dict[str, list[Operation]]) -> set[str]:
    """The definitions the operations name directly (the roots of a document's schemas)."""
    names: set[str] = set()
    for ops in paths.values():
        for op in ops:
            names.update(n for n in (op.response, op.body) if n is not None)
    return names


def all_group_versions(registry: Registry) -> Iterable[tuple[str, str]]:
    """Every served group/version, core first, in discovery order."""
    for group in registry.groups():
        for version in group.versions:
            yield (group.name, version)
