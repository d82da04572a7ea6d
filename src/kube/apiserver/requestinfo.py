"""What a request is about, read from its path and method (upstream's RequestInfoFactory).

    /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
    /apis/{group}/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
    /api/v1/{resource}[/{name}[/{subresource}]]          (cluster scope, or all namespaces)

The verb is the Kubernetes verb (get, list, watch, create, update, patch, delete,
deletecollection), derived from the HTTP method, whether a name is present and the `watch`
query parameter. Anything that is not under /api or /apis is a non-resource request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


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
    return value is not None and value.lower() in ("1", "true")


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """Classify a request. Paths that are only a group or version prefix are non-resource."""
    parts = [p for p in path.strip("/").split("/") if p]
    method = method.upper()
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(False, path, method.lower())
    if parts[0] == "api":
        if len(parts) < 3:
            return RequestInfo(False, path, method.lower())
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return RequestInfo(False, path, method.lower())
        group, version, rest = parts[1], parts[2], parts[3:]

    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 2:
        # /namespaces/{name} is the namespace object itself; /namespaces/{ns}/{resource} is
        # a resource inside it.
        if len(rest) == 2 or (len(rest) == 3 and rest[2] in ("status", "finalize")):
            resource, name = "namespaces", rest[1]
            subresource = rest[2] if len(rest) == 3 else ""
            return RequestInfo(
                True,
                path,
                _verb(method, name, query),
                group,
                version,
                "",
                resource,
                name,
                subresource,
            )
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    extra = tuple(rest[3:])
    return RequestInfo(
        True,
        path,
        _verb(method, name, query),
        group,
        version,
        namespace,
        resource,
        name,
        subresource,
        extra,
    )


def _verb(method: str, name: str, query: Mapping[str, str]) -> str:
    if method in ("GET", "HEAD"):
        if _truthy(query.get("watch")):
            return "watch"
        return "get" if name else "list"
    if method == "DELETE" and not name:
        return "deletecollection"
    return _METHOD_VERBS.get(method, method.lower())
