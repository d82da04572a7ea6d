"""Discovery documents, derived from the resource registry: what `/api` and `/apis` answer.

Clients learn what the server serves in one of two formats:

- **Aggregated** (apidiscovery.k8s.io/v2): one `APIGroupDiscoveryList` for `/api` (core only)
  and one for `/apis` (every other group), each resource with its scope, verbs, names and
  subresources. client-go (kubectl) asks for it first, in its Accept header, and uses it only
  if the answer's Content-Type carries the same `g=apidiscovery.k8s.io;v=v2;as=...` parameters;
  if only one of `/api` and `/apis` answers that way it throws both away.
- **Legacy**: `/api` -> `APIVersions`, `/apis` -> `APIGroupList`, `/apis/<g>` -> `APIGroup`,
  `/api/v1` and `/apis/<g>/<v>` -> `APIResourceList`, where subresources are flat entries
  named `pods/status`. The Python client only speaks this.

`negotiate(accept)` decides between them the way upstream does (the first acceptable media
range in the client's order of preference). The builders are pure functions returning plain
dicts; `DiscoveryDocuments` serializes each once and answers `(status, content type, body)`
for a path, so handlers only copy bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson

from kube.api.registry import Registry, Resource

APIDISCOVERY_GROUP = "apidiscovery.k8s.io"
LEGACY_CONTENT_TYPE = "application/json"


class Format(enum.Enum):
    """A discovery document format; the value is the apidiscovery version (empty: legacy)."""

    LEGACY = ""
    V2 = "v2"
    V2BETA1 = "v2beta1"

    @property
    def content_type(self) -> str:
        """The Content-Type the server must answer with for this format."""
        if self is Format.LEGACY:
            return LEGACY_CONTENT_TYPE
        return f"application/json;g={APIDISCOVERY_GROUP};v={self.value};as=APIGroupDiscoveryList"


AGGREGATED_CONTENT_TYPE = Format.V2.content_type


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Split an Accept header into (type/subtype, parameters, q), keeping the header's order."""
    ranges = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        for param in parts[1:]:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        ranges.append((parts[0].lower(), params, q))
    return ranges


def negotiate(accept: str | None) -> Format | None:
    """The discovery format to answer an Accept header with; None means 406 Not Acceptable.

    Aggregated only when a media range names it exactly (`application/json` with
    `g=apidiscovery.k8s.io`, `v=v2` or `v2beta1`, `as=APIGroupDiscoveryList`); legacy for
    plain JSON, wildcards or no header. Ranges are taken by q value, then in header order.
    """
    if not accept or not accept.strip():
        return Format.LEGACY
    ranked = sorted(_media_ranges(accept), key=lambda r: -r[2])  # stable: header order kept
    for media, params, q in ranked:
        if q <= 0:
            continue
        if params.get("g") or params.get("as"):
            if (
                media == "application/json"
                and params.get("g") == APIDISCOVERY_GROUP
                and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in ("v2", "v2beta1")
            ):
                return Format(params["v"])
            continue
        if media in ("application/json", "application/*", "*/*"):
            return Format.LEGACY
    return None


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(row: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": row.plural,
        "responseKind": _gvk(row.group, row.version, row.kind),
        "scope": row.scope,
        "singularResource": row.singular,
        "verbs": list(row.verbs),
    }
    if row.short_names:
        entry["shortNames"] = list(row.short_names)
    if row.categories:
        entry["categories"] = list(row.categories)
    if row.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": _gvk(*row.response_kind(sub)),
                "verbs": list(sub.verbs),
            }
            for sub in sorted(row.subresources, key=lambda s: s.name)
        ]
    return entry


def aggregated(registry: Registry, core: bool, fmt: Format = Format.V2) -> dict[str, Any]:
    """The `APIGroupDiscoveryList` for `/api` (core=True) or `/apis` (every other group)."""
    if fmt is Format.LEGACY:
        raise ValueError("the legacy format has no aggregated document")
    items = []
    for group in registry.groups():
        if (group.name == "") != core:
            continue
        versions = [
            {
                "version": version,
                "resources": [
                    _resource_discovery(r) for r in registry.resources(group.name, version)
                ],
                "freshness": "Current",
            }
            for version in group.versions
        ]
        items.append({"metadata": {"name": group.name}, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"{APIDISCOVERY_GROUP}/{fmt.value}",
        "metadata": {},
        "items": items,
    }


def api_versions(server_address: str) -> dict[str, Any]:
    """`/api` in the legacy format: the core versions and where clients reach the server."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry(registry: Registry, name: str) -> dict[str, Any] | None:
    group = registry.group(name)
    if group is None:
        return None

    def gv(version: str) -> dict[str, str]:
        return {"groupVersion": group.group_version(version), "version": version}

    return {
        "name": group.name,
        "versions": [gv(v) for v in group.versions],
        "preferredVersion": gv(group.preferred_version),
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    """`/apis` in the legacy format: every named group, in discovery order."""
    groups = [_group_entry(registry, g.name) for g in registry.groups() if g.name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, name: str) -> dict[str, Any] | None:
    """`/apis/<group>`: one group's versions; None when the group is not served."""
    entry = _group_entry(registry, name) if name else None
    if entry is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **entry}


def _api_resource(row: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": row.plural,
        "singularName": row.singular,
        "namespaced": row.namespaced,
        "kind": row.kind,
        "verbs": list(row.verbs),
    }
    if row.short_names:
        entry["shortNames"] = list(row.short_names)
    if row.categories:
        entry["categories"] = list(row.categories)
    if row.storage_version_hash:
        entry["storageVersionHash"] = row.storage_version_hash
    return entry


def _api_subresource(row: Resource, name: str) -> dict[str, Any]:
    sub = row.subresource(name)
    assert sub is not None
    group, version, kind = row.response_kind(sub)
    entry: dict[str, Any] = {"name": f"{row.plural}/{sub.name}", "singularName": ""}
    entry["namespaced"] = row.namespaced
    # group/version only when they differ from the list's (scale, eviction, token).
    if (group, version) != row.group_version:
        entry["group"], entry["version"] = group, version
    entry["kind"] = kind
    entry["verbs"] = list(sub.verbs)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """`/api/v1` or `/apis/<g>/<v>`: resources and subresources; None when not served."""
    rows = registry.resources(group, version)
    if not rows:
        return None
    entries = []
    for row in rows:
        entries.append(_api_resource(row))
        entries.extend(_api_subresource(row, s.name) for s in row.subresources)
    entries.sort(key=lambda e: e["name"])
    doc: dict[str, Any] = {"kind": "APIResourceList"}
    if group:  # upstream's core list carries no apiVersion
        doc["apiVersion"] = "v1"
    doc["groupVersion"] = f"{group}/{version}" if group else version
    doc["resources"] = entries
    return doc


@dataclass(frozen=True)
class Answer:
    """A ready response: status code, Content-Type, the serialized body and extra headers
    (ETag, Cache-Control, Location) the handler copies as they are."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class DiscoveryDocuments:
    """Every discovery document of one registry, serialized on first use and kept as bytes.

    `answer(path, accept)` covers `/api`, `/apis`, `/apis/<g>`, `/api/v1` and `/apis/<g>/<v>`
    (None for any other path, or a group/version that is not served). The registry is
    immutable, so the cache never needs invalidating.
    """

    def __init__(self, registry: Registry, server_address: str) -> None:
        self.registry = registry
        self.server_address = server_address
        self._cache: dict[tuple[str, Format], bytes | None] = {}

    def answer(self, path: str, accept: str | None) -> Answer | None:
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis") or len(parts) > 3:
            return None
        if parts[0] == "api" and len(parts) == 3:
            return None
        fmt = negotiate(accept)
        if fmt is None:
            return Answer(406, LEGACY_CONTENT_TYPE, _NOT_ACCEPTABLE)
        root_list = len(parts) == 1
        if not root_list:
            fmt = Format.LEGACY  # only the two roots have an aggregated form
        key = ("/" + "/".join(parts), fmt)
        if key not in self._cache:
            doc = self._build(parts, fmt)
            self._cache[key] = None if doc is None else orjson.dumps(doc)
        body = self._cache[key]
        if body is None:
            return None
        return Answer(200, fmt.content_type, body)

    def _build(self, parts: list[str], fmt: Format) -> dict[str, Any] | None:
        if parts == ["api"]:
            if fmt is Format.LEGACY:
                return api_versions(self.server_address)
            return aggregated(self.registry, core=True, fmt=fmt)
        if parts == ["apis"]:
            if fmt is Format.LEGACY:
                return api_group_list(self.registry)
            return aggregated(self.registry, core=False, fmt=fmt)
        if parts[0] == "api":
            return api_resource_list(self.registry, "", parts[1])
        if len(parts) == 2:
            return api_group(self.registry, parts[1])
        return api_resource_list(self.registry, parts[1], parts[2])


_NOT_ACCEPTABLE = orjson.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "only the following media types are accepted: "
        + ", ".join(f.content_type for f in Format),
        "reason": "NotAcceptable",
        "code": 406,
    }
)
