"""What a request is about, read from its path and method (upstream's RequestInfoFactory).

    /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
    /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
    /api/v1/{resource}[/{name}[/{subresource}]]          (cluster scope, or all namespaces)
    /api/v1/{watch|proxy}/...                             (the verb in the path, deprecated)

The verb is the Kubernetes verb (get, list, watch, create, update, patch, delete,
deletecollection), derived from the HTTP method, whether a name is present and the `watch`
query parameter (only a GET without a name can be a watch). A list or watch whose
`fieldSelector` requires one `metadata.name` carries that name, as upstream, so authorizers
can check it. Anything that is not under /api or /apis is a non-resource request.

One deliberate difference: for the namespace object itself (`/api/v1/namespaces/{name}` and
its `status` and `finalize` subresources) upstream also sets `namespace` to the name; here it
stays empty, because the server treats a namespace on a cluster-scoped resource as not found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kube.api.selectors import EQUALS, SelectorError, parse_field_selector

_METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_SPECIAL_VERBS = ("proxy", "watch")
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class RequestInfo:
    is_resource: bool
    path: str
    verb: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""
    # More path segments than a resource URL has (for example a proxy path).
    rest: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _truthy(value: str | None) -> bool:
    """A boolean query parameter as upstream converts it: present and not `0` or `false`."""
    return value is not None and value.lower() not in ("0", "false")


def _selected_name(field_selector: str) -> str:
    """The `metadata.name` a field selector requires, if it is a valid path segment."""
    try:
        reqs = parse_field_selector(field_selector)
    except SelectorError:
        return ""
    for field, op, values in reqs:
        if field == "metadata.name" and op == EQUALS:
            name = values[0]
            if name in (".", "..") or "/" in name or "%" in name:
                return ""
            return name
    return ""


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Classify a request. Paths that are only a group or version prefix are non-resource."""
    trimmed = path.strip("/")
    parts = trimmed.split("/") if trimmed else []
    method = method.upper()
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, method.lower())
    grouped, parts = parts[0] == "apis", parts[1:]
    group = ""
    if grouped:
        if len(parts) < 3:
            return RequestInfo(False, path, method.lower())
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]

    if parts[0] in _SPECIAL_VERBS and len(parts) > 1:
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method, "")

    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, parts = parts[1], parts[2:]

    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    if verb == "proxy":
        subresource, rest = "", tuple(parts[2:])
    else:
        subresource, rest = (parts[2] if len(parts) > 2 else ""), tuple(parts[3:])

    if not name and verb == "get":
        verb = "watch" if _truthy(query.get("watch")) else "list"
        name = _selected_name(query.get("fieldSelector") or "")
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        True, path, verb, group, version, namespace, resource, name, subresource, rest
    )
