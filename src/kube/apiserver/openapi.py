"""The OpenAPI documents: `/openapi/v3`, `/openapi/v3/<group-version>` and `/openapi/v2`.

kubectl reads OpenAPI v3 before `apply`, `create -f` and `explain`: first the index
(`/openapi/v3`), a map from each group-version path (`api/v1`, `apis/apps/v1`) to the URL of
its document with a content hash in the query, then the documents it needs. A per
group-version document carries that version's `paths` (every operation, see
`openapi_paths`) and, in `components.schemas`, every type those operations reach, under
upstream's names (`io.k8s.api.core.v1.Pod`), with the patch and list metadata strategic
merge patch needs (see `openapi_schemas`). `/openapi/v2` is the same content as one Swagger
2.0 document, for older clients, as JSON or, when the Accept header asks for it, as gnostic's
protobuf (`openapi_proto`), which is what kubectl asks for when v3 cannot answer (validating a
create-only kind such as TokenReview).

Everything is derived from the resource registry and the upstream schemas, so both are
immutable for the life of the process: each document is built once, on first request, and
kept serialized. The hash is upstream's (uppercase hex SHA-512 of the bytes) over a
deterministic serialization (sorted keys), so the same content gives the same hash and ETag
on every start, and clients' caches stay valid across restarts.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kube.api.registry import Registry
from kube.apiserver import openapi_paths, openapi_proto, openapi_schemas
from kube.apiserver.discovery import Answer
from kube.version import KUBERNETES_MAJOR, KUBERNETES_MINOR

JSON = "application/json"
# What kubectl sends (the name upstream calls deprecated), the current name, and what upstream
# answers with for either.
PROTOBUF_SUBTYPES = (
    "com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "com.github.proto-openapi.spec.v2.v1.0+protobuf",
)
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
V3_PREFIX = "/openapi/v3"
_SECURITY_SCHEME = {
    "BearerToken": {
        "description": "Bearer Token authentication",
        "in": "header",
        "name": "authorization",
        "type": "apiKey",
    }
}


@dataclass(frozen=True)
class Document:
    """A serialized document, its content hash and the ETag to serve it with."""

    body: bytes
    hash: str
    content_type: str = JSON

    @property
    def etag(self) -> str:
        return f'"{self.hash}"'

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Document:
        body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
        return cls(body, hashlib.sha512(body).hexdigest().upper())


def group_version_path(group: str, version: str) -> str:
    """The index key of a group-version: `api/v1`, `apis/apps/v1`."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def build_v3(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document of one group-version; None when it is not served."""
    if not registry.resources(group, version):
        return None
    paths = openapi_paths.group_version_paths(registry, group, version)
    defs = openapi_schemas.definitions("v3")
    names = openapi_schemas.closure(openapi_paths.referenced_schemas(paths))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": openapi_paths.render_v3(paths, openapi_paths.tag(group, version)),
        "components": {
            "schemas": {name: defs[name] for name in names},
            "securitySchemes": _SECURITY_SCHEME,
        },
    }


def build_index(hashes: dict[str, str]) -> dict[str, Any]:
    """`/openapi/v3`: each group-version path with the URL of its document at `hashes`."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"{V3_PREFIX}/{path}?hash={digest}"}
            for path, digest in hashes.items()
        }
    }


def build_v2(registry: Registry) -> dict[str, Any]:
    """`/openapi/v2`: every served operation and the definitions they reach (Swagger 2.0)."""
    rendered: dict[str, Any] = {}
    roots: set[str] = set()
    for group, version in openapi_paths.all_group_versions(registry):
        paths = openapi_paths.group_version_paths(registry, group, version)
        rendered.update(openapi_paths.render_v2(paths, openapi_paths.tag(group, version)))
        roots |= openapi_paths.referenced_schemas(paths)
    defs = openapi_schemas.definitions("v2")
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"v{KUBERNETES_MAJOR}.{KUBERNETES_MINOR}.0"},
        "paths": rendered,
        "definitions": {name: defs[name] for name in openapi_schemas.closure(roots)},
        "securityDefinitions": _SECURITY_SCHEME,
        "security": [{"BearerToken": []}],
    }


class OpenAPIDocuments:
    """The documents of one registry, built on first use and then served from memory.

    `v3(path)` takes the part after `/openapi/v3/` (`api/v1`, `apis/apps/v1`) and ignores
    any query; `index()` and `v2()` take nothing. Safe to call from several threads: a
    document is built at most once.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._v3: dict[str, Document] | None = None
        self._index: Document | None = None
        self._v2: Document | None = None
        self._v2_protobuf: Document | None = None

    def _documents(self) -> dict[str, Document]:
        with self._lock:
            if self._v3 is None:
                docs: dict[str, Document] = {}
                for group, version in openapi_paths.all_group_versions(self.registry):
                    doc = build_v3(self.registry, group, version)
                    if doc is not None:
                        docs[group_version_path(group, version)] = Document.of(doc)
                self._v3 = docs
            return self._v3

    def paths(self) -> list[str]:
        """The group-version paths there is a document for, in discovery order."""
        return list(self._documents())

    def v3(self, path: str) -> Document | None:
        return self._documents().get(path.split("?", 1)[0].strip("/"))

    def index(self) -> Document:
        docs = self._documents()
        with self._lock:
            if self._index is None:
                self._index = Document.of(build_index({p: d.hash for p, d in docs.items()}))
            return self._index

    def v2(self) -> Document:
        with self._lock:
            return self._build_v2()[0]

    def v2_protobuf(self) -> Document:
        """`/openapi/v2` as protobuf. Its ETag is the JSON document's, as upstream's: both
        encode the same content."""
        with self._lock:
            return self._build_v2()[1]

    def _build_v2(self) -> tuple[Document, Document]:
        """Both encodings of the v2 document from one build (the lock held by the caller)."""
        if self._v2 is None or self._v2_protobuf is None:
            doc = build_v2(self.registry)
            self._v2 = Document.of(doc)
            self._v2_protobuf = Document(openapi_proto.to_protobuf(doc), self._v2.hash, PROTOBUF)
        return self._v2, self._v2_protobuf

    def answer(
        self, path: str, query: Mapping[str, str], accept: str | None = None
    ) -> Answer | None:
        """The response to `GET <path>?<query>` under /openapi/, or None for another path.

        As upstream: a document asked for by the hash the index gave is immutable and says so
        (`Cache-Control: public, immutable`); asked for by an older hash, it moves (301 to
        the current URL), so a client holding a stale index refetches instead of caching
        new content under an old name.
        """
        path = path.rstrip("/")
        if path == "/openapi/v2":
            return self._answer_v2(accept)
        if path == V3_PREFIX:
            return _answer(self.index())
        if not path.startswith(V3_PREFIX + "/"):
            return None
        name = path.removeprefix(V3_PREFIX + "/")
        doc = self.v3(name)
        if doc is None:
            return None
        wanted = query.get("hash")
        if wanted is None:
            return _answer(doc)
        if wanted != doc.hash:
            location = f"{V3_PREFIX}/{name}?hash={doc.hash}"
            return Answer(301, "text/plain", b"", (("Location", location),))
        return _answer(doc, ("Cache-Control", "public, immutable"), ("Vary", "Accept"))

    def _answer_v2(self, accept: str | None) -> Answer:
        """`/openapi/v2` in the first media type of `accept` (by preference) that is JSON or
        the protobuf; 406 when none is, as upstream's handler."""
        for media_type in _accepted(accept or "*/*"):
            kind, _, subtype = media_type.partition("/")
            if kind not in ("application", "*"):
                continue
            if subtype in ("json", "*"):
                return _answer(self.v2(), ("Vary", "Accept"))
            if subtype in PROTOBUF_SUBTYPES:
                return _answer(self.v2_protobuf(), ("Vary", "Accept"))
        return Answer(406, "text/plain", b"", (("Vary", "Accept"),))


def _accepted(accept: str) -> list[str]:
    """The media types of an Accept header, most preferred first (`q` weights; ties keep
    their order), without those of weight 0."""
    weighted: list[tuple[float, int, str]] = []
    for index, clause in enumerate(accept.split(",")):
        media_type, *params = (part.strip() for part in clause.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media_type and weight > 0:
            weighted.append((-weight, index, media_type.lower()))
    return [media_type for _, _, media_type in sorted(weighted)]


def _answer(doc: Document, *headers: tuple[str, str]) -> Answer:
    return Answer(200, doc.content_type, doc.body, (("ETag", doc.etag), *headers))
