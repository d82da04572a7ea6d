"""OpenAPI documents: upstream's shape (compared with the upstream documents in
../shared/testdata/openapi-v3), a schema for every served kind, the PATCH metadata kubectl
probes, stable hashes, and kubectl itself reading them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from kube.api.resources import REGISTRY, Resource
from kube.apiserver import openapi
from kube.apiserver.openapi import OpenAPIDocuments, group_version_path
from tests.apiserver.kubectl_harness import serve_documents

UPSTREAM = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "openapi-v3"
UPSTREAM_FILES = {
    "api/v1": "api__v1_openapi.json",
    "apis/apps/v1": "apis__apps__v1_openapi.json",
    "apis/batch/v1": "apis__batch__v1_openapi.json",
    "apis/discovery.k8s.io/v1": "apis__discovery.k8s.io__v1_openapi.json",
}
# Upstream serves these; this server does not (yet).
UNSERVED_PATHS = ("/componentstatuses", "/proxy")
# Upstream schema names that are gone from the release we serve, or belong to unserved kinds.
GONE_SCHEMAS = {
    "io.k8s.api.core.v1.ClaimSource",  # removed in 1.31
    "io.k8s.api.core.v1.ComponentStatus",
    "io.k8s.api.core.v1.ComponentStatusList",
    "io.k8s.api.core.v1.ComponentCondition",
}
# Patch metadata upstream changed since the reference documents (a 1.26 server): the bogus
# merge key on a string field was dropped in 1.28.
CHANGED_PATCH_METADATA = {("io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement", "key")}
# The list options the reference documents predate (added to list and watch in 1.27).
NEWER_PARAMS = {"sendInitialEvents"}
PATCH_KEYS = ("x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy")


@cache
def documents() -> OpenAPIDocuments:
    return OpenAPIDocuments(REGISTRY)


def v3(path: str) -> dict[str, Any]:
    doc = documents().v3(path)
    assert doc is not None, path
    parsed: dict[str, Any] = json.loads(doc.body)
    return parsed


@cache
def upstream(path: str) -> dict[str, Any]:
    file = UPSTREAM / UPSTREAM_FILES[path]
    if not file.is_file():
        pytest.fail(f"upstream OpenAPI documents not found at {UPSTREAM}")
    parsed: dict[str, Any] = json.loads(file.read_text())
    return parsed


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                yield path, method, op


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):  # not JSONSchemaProps' `$ref` property
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def gvk(r: Resource, kind: str | None = None) -> dict[str, str]:
    return {"group": r.group, "version": r.version, "kind": kind or r.kind}


@pytest.mark.parametrize("row", list(REGISTRY), ids=lambda r: f"{r.api_version}/{r.plural}")
def test_every_kind_has_its_schema(row: Resource) -> None:
    doc = v3(group_version_path(row.group, row.version))
    kinds = [
        k for schema in doc["components"]["schemas"].values()
        for k in schema.get("x-kubernetes-group-version-kind", [])
    ]  # fmt: skip
    assert gvk(row) in kinds
    if "list" in row.verbs:
        assert gvk(row, row.list_kind) in kinds


@pytest.mark.parametrize(
    "row", [r for r in REGISTRY if "patch" in r.verbs], ids=lambda r: f"{r.api_version}/{r.plural}"
)
def test_patch_operation_lets_kubectl_trust_server_validation(row: Resource) -> None:
    """kubectl's supportsQueryParamV3: the first PATCH tagged with the kind's GVK must list
    `fieldValidation` among its own query parameters."""
    doc = v3(group_version_path(row.group, row.version))
    for _, method, op in operations(doc):
        if method == "patch" and op.get("x-kubernetes-group-version-kind") == gvk(row):
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            assert "fieldValidation" in names
            assert op["x-kubernetes-action"] == "patch"
            assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]
            return
    pytest.fail(f"no PATCH operation for {row.kind}")


def without(item: dict[str, Any], names: set[str]) -> dict[str, Any]:
    item = json.loads(json.dumps(item))
    for key, value in item.items():
        holder = item if key == "parameters" else value
        if "parameters" in holder:
            holder["parameters"] = [p for p in holder["parameters"] if p["name"] not in names]
            if not holder["parameters"] and holder is not item:
                del holder["parameters"]
    return item


@pytest.mark.parametrize("path", list(UPSTREAM_FILES))
def test_paths_are_upstreams(path: str) -> None:
    ours, theirs = v3(path)["paths"], upstream(path)["paths"]
    assert set(ours) <= set(theirs)
    missing = set(theirs) - set(ours)
    assert all(any(part in p for part in UNSERVED_PATHS) for p in missing), missing
    for p in ours:
        assert without(ours[p], NEWER_PARAMS) == theirs[p], p


@pytest.mark.parametrize("path", list(UPSTREAM_FILES))
def test_schema_names_and_patch_metadata_are_upstreams(path: str) -> None:
    ours, theirs = v3(path)["components"]["schemas"], upstream(path)["components"]["schemas"]
    assert set(theirs) - set(ours) <= GONE_SCHEMAS
    compared = 0
    for name, schema in theirs.items():
        for prop, spec in schema.get("properties", {}).items():
            mine = ours.get(name, {}).get("properties", {}).get(prop)
            if mine is None or (name, prop) in CHANGED_PATCH_METADATA:
                continue
            assert {k: mine.get(k) for k in PATCH_KEYS} == {k: spec.get(k) for k in PATCH_KEYS}
            compared += spec.get(PATCH_KEYS[0]) is not None
    assert compared > 0 or path == "apis/discovery.k8s.io/v1"
    pod, key = "io.k8s.api.core.v1.Pod", "x-kubernetes-group-version-kind"
    if pod in theirs:
        assert ours[pod][key] == theirs[pod][key]


def test_v3_documents_are_self_contained_openapi_3() -> None:
    for path in documents().paths():
        doc = v3(path)
        assert doc["openapi"] == "3.0.0"
        schemas = doc["components"]["schemas"]
        for ref in refs(doc):
            assert ref.startswith("#/components/schemas/"), ref
            assert ref.removeprefix("#/components/schemas/") in schemas, (path, ref)
        text = json.dumps(doc)
        assert '"null"' not in text
        assert "$defs" not in text
        for schema in schemas.values():
            for field in ("apiVersion", "kind"):
                assert "enum" not in schema.get("properties", {}).get(field, {})


def test_v3_schemas_keep_upstream_metadata() -> None:
    schemas = v3("api/v1")["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    metadata = schemas["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]
    assert metadata["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert metadata["description"].startswith("Standard object's metadata.")
    int_or_string = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["format"] == "int-or-string"
    assert int_or_string["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]["description"]
    assert schemas["io.k8s.api.core.v1.Pod"]["type"] == "object"


def test_index_lists_every_group_version_with_its_hash() -> None:
    index = json.loads(documents().index().body)
    expected = [group_version_path(g.name, v) for g in REGISTRY.groups() for v in g.versions]
    assert sorted(index["paths"]) == sorted(expected)
    for path, entry in index["paths"].items():
        doc = documents().v3(path)
        assert doc is not None
        digest = hashlib.sha512(doc.body).hexdigest().upper()
        assert doc.hash == digest
        assert doc.etag == f'"{digest}"'
        assert entry["serverRelativeURL"] == f"/openapi/v3/{path}?hash={digest}"
    assert documents().v3("/apis/apps/v1/") is documents().v3("apis/apps/v1")
    assert documents().v3("apis/apps/v2") is None


def test_answers_carry_cache_headers_and_move_stale_hashes() -> None:
    docs = documents()
    current = docs.v3("apis/apps/v1")
    assert current is not None
    index = docs.answer("/openapi/v3", {})
    assert index is not None
    assert (index.status, index.content_type, index.body) == (200, "application/json",
                                                             docs.index().body)  # fmt: skip
    assert ("ETag", docs.index().etag) in index.headers
    fresh = docs.answer("/openapi/v3/apis/apps/v1", {"hash": current.hash})
    assert fresh is not None
    assert fresh.status == 200
    assert fresh.body is current.body
    assert ("Cache-Control", "public, immutable") in fresh.headers
    stale = docs.answer("/openapi/v3/apis/apps/v1", {"hash": "0" * 128})
    assert stale is not None
    assert stale.status == 301
    assert dict(stale.headers)["Location"] == f"/openapi/v3/apis/apps/v1?hash={current.hash}"
    plain = docs.answer("/openapi/v3/apis/apps/v1/", {})
    assert plain is not None
    assert plain.status == 200
    assert "Cache-Control" not in dict(plain.headers)
    v2 = docs.answer("/openapi/v2", {})
    assert v2 is not None
    assert v2.body is docs.v2().body
    for missing in ("/openapi/v3/apis/nope/v1", "/openapi/v4", "/openapi", "/openapi/v3x"):
        assert docs.answer(missing, {}) is None, missing


def test_hashes_are_stable_across_restarts() -> None:
    """A fresh process (another hash seed, another import order) builds the same bytes."""
    script = (
        "from kube.api.resources import REGISTRY\n"
        "from kube.apiserver.openapi import OpenAPIDocuments\n"
        "d = OpenAPIDocuments(REGISTRY)\n"
        "print(d.index().hash, d.v2().hash)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.split()
    assert out == [documents().index().hash, documents().v2().hash]
    assert OpenAPIDocuments(REGISTRY).v3("api/v1") == documents().v3("api/v1")


def test_v2_document_matches_v3() -> None:
    doc = json.loads(documents().v2().body)
    assert doc["swagger"] == "2.0"
    definitions = doc["definitions"]
    for ref in refs(doc):
        assert ref.startswith("#/definitions/"), ref
        assert ref.removeprefix("#/definitions/") in definitions, ref
    v3_paths = {p for path in documents().paths() for p in v3(path)["paths"]}
    assert set(doc["paths"]) == v3_paths
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    deployments = REGISTRY.resolve("deploy")
    assert deployments is not None
    assert patch["x-kubernetes-group-version-kind"] == gvk(deployments)
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert patch["parameters"][0] == {
        "in": "body", "name": "body", "required": True,
        "schema": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"},
    }  # fmt: skip
    pod = definitions["io.k8s.api.core.v1.Pod"]["properties"]["metadata"]
    assert pod["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"


def test_documents_report_missing_schema_loudly() -> None:
    with pytest.raises(LookupError, match="no schema"):
        openapi.openapi_paths._schema("example.com", "v1", "Nope")


async def test_kubectl_uses_the_documents(tmp_path: Path) -> None:
    async with serve_documents(tmp_path) as server:
        code, out = await server.kubectl("explain", "deployment.spec.template.spec.containers")
        assert code == 0, out
        assert "KIND:       Deployment" in out
        assert "imagePullPolicy" in out
        code, out = await server.kubectl("explain", "nodes.spec.taints")
        assert code == 0, out
        assert "effect" in out
        # With --validate=strict (the default) kubectl leaves an unknown field to the server
        # only when the PATCH operation offers fieldValidation; otherwise it fails here.
        manifest = tmp_path / "pod.yaml"
        manifest.write_text(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
            "spec: {containers: [{name: c, image: busybox, bogus: 1}]}\n"
        )
        code, out = await server.kubectl(
            "create", "-f", str(manifest), "--dry-run=client", "-o", "name"
        )
        assert code == 0, out
        assert out.strip() == "pod/p"
        paths = [p for p, _ in server.requests]
        assert "/openapi/v3" in paths
        assert "/openapi/v3/api/v1" in paths
