"""The request side of managedFields and field validation: who is writing, and how strictly.

`kube.api.fieldmanager` keeps `metadata.managedFields`; this module connects it to a request the
way kube-apiserver's handlers do:

- the manager is the `fieldManager` query parameter, else the User-Agent up to its first `/`
  (`kubectl/v1.37.1 (linux/amd64) ...` is `kubectl`), validated as upstream (422 on a name
  over 128 bytes or with unprintable characters);
- `tracker(...)` gives the store a function that records an `Update` by that manager on every
  create, update and non-apply patch; apply records its own `Apply` entry;
- `FieldChecks` drops the fields the kind does not declare, as decoding into the Go type does,
  and turns them into `Warning` headers (`fieldValidation=Warn`, the default) or a 400
  (`Strict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from kube.api import errors, fieldmanager, unknownfields
from kube.api.meta import Object, api_version, now_rfc3339
from kube.apiserver.fieldtypes import field_type
from kube.apiserver.store import ObjectStore

Track = Callable[[Object | None, Object], Object]


def manager_name(request: web.Request, options_kind: str = "CreateOptions") -> str:
    """The request's field manager: `fieldManager`, else the User-Agent's product name."""
    name = request.query.get("fieldManager", "")
    if name:
        causes = fieldmanager.validate_field_manager(name)
        if causes:
            raise errors.invalid("meta.k8s.io", options_kind, "", causes)
        return name
    product = request.headers.get("User-Agent", "").split("/")[0]
    return product[: fieldmanager.FIELD_MANAGER_MAX_LENGTH]


def tracker(request: web.Request, store: ObjectStore, subresource: str = "") -> Track:
    """Records an `Update` by the request's manager (kube-apiserver's UpdateNoErrors)."""
    r = store.resource
    manager = manager_name(request)
    version = api_version(r.group, r.version)
    schema = field_type(r.group, r.version, r.kind)

    def track(old: Object | None, new: Object) -> Object:
        return fieldmanager.record_update(
            old,
            new,
            manager,
            schema=schema,
            api_version=version,
            now=now_rfc3339(),
            subresource=subresource,
        )

    return track


@dataclass
class FieldChecks:
    """Unknown-field handling for one request (`fieldValidation`), and the warnings it raised."""

    directive: str
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, request: web.Request, options_kind: str = "CreateOptions") -> FieldChecks:
        return cls(unknownfields.directive(request.query.get("fieldValidation", ""), options_kind))

    def check(self, store: ObjectStore, obj: Object, *, whole_object: bool = True) -> None:
        """Drop `obj`'s undeclared fields; warn or refuse per the directive.

        `whole_object` words the Strict error as decoding a request body does (`Pod in version
        "v1" cannot be handled as a Pod: ...`); a patch's result is reported plainly.
        """
        r = store.resource
        dropped = unknownfields.prune(obj, field_type(r.group, r.version, r.kind))
        if not dropped or self.directive == unknownfields.IGNORE:
            return
        if self.directive == unknownfields.STRICT:
            prefix = ""
            if whole_object:
                prefix = f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: '
            raise unknownfields.strict_error(dropped, prefix)
        self.warnings.extend(unknownfields.messages(dropped))


def warning_headers(response: web.StreamResponse, warnings: list[str]) -> web.StreamResponse:
    """Adds RFC 7234 `Warning: 299 - "<text>"` headers, one per warning, as upstream does."""
    for text in warnings:
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response
