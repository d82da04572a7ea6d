"""Discovery documents: the shapes in KUBECTL-WIRE.md, the official Python client's models,
upstream's APIResourceList entries, and kubectl itself reading them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, dynamic

from kube.api.resources import REGISTRY
from kube.apiserver import discovery
from kube.apiserver.discovery import DiscoveryDocuments, Format, negotiate
from tests.apiserver.kubectl_harness import serve_documents

KUBECTL_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)
V2_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (KUBECTL_ACCEPT, Format.V2),
        (V2_TYPE, Format.V2),
        (V2_TYPE.replace("v=v2", "v=v2beta1"), Format.V2BETA1),
        ("application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io", Format.V2),
        ("application/json", Format.LEGACY),
        ("application/json, */*", Format.LEGACY),
        ("*/*", Format.LEGACY),
        (None, Format.LEGACY),
        ("", Format.LEGACY),
        # Preference by q, then header order.
        (f"application/json;q=0.9,{V2_TYPE}", Format.V2),
        (f"{V2_TYPE};q=0,application/json", Format.LEGACY),
        # Other parameters are not the aggregated form: skip them.
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json",
         Format.LEGACY),
        ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", Format.LEGACY),
        ("application/vnd.kubernetes.protobuf", None),
        ("text/html", None),
    ],
)  # fmt: skip
def test_negotiate(accept: str | None, expected: Format | None) -> None:
    assert negotiate(accept) == expected


def test_content_types() -> None:
    assert Format.V2.content_type == V2_TYPE
    assert discovery.AGGREGATED_CONTENT_TYPE == V2_TYPE
    assert Format.LEGACY.content_type == "application/json"


def resource(doc: dict[str, Any], group: str, plural: str) -> dict[str, Any]:
    for item in doc["items"]:
        if item["metadata"]["name"] == group:
            for entry in item["versions"][0]["resources"]:
                if entry["resource"] == plural:
                    return dict(entry)
    raise AssertionError(f"{group}/{plural} not in the document")


def test_aggregated_core_shape() -> None:
    doc = discovery.aggregated(REGISTRY, core=True)
    assert doc["kind"] == "APIGroupDiscoveryList"
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert [item["metadata"]["name"] for item in doc["items"]] == [""]
    (version,) = doc["items"][0]["versions"]
    assert version["version"] == "v1"
    assert version["freshness"] == "Current"
    pods = resource(doc, "", "pods")
    subresources = {s["subresource"]: s for s in pods.pop("subresources")}
    assert pods == {
        "resource": "pods",
        "responseKind": {"group": "", "version": "v1", "kind": "Pod"},
        "scope": "Namespaced",
        "singularResource": "pod",
        "verbs": [
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        "shortNames": ["po"],
        "categories": ["all"],
    }
    assert subresources["eviction"] == {
        "subresource": "eviction",
        "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
        "verbs": ["create"],
    }
    assert subresources["binding"]["responseKind"] == {
        "group": "",
        "version": "v1",
        "kind": "Binding",
    }
    assert subresources["status"]["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert subresources["status"]["verbs"] == ["get", "patch", "update"]
    assert subresources["exec"]["verbs"] == ["create", "get"]
    assert subresources["log"]["verbs"] == ["get"]
    token = resource(doc, "", "serviceaccounts")["subresources"][0]
    assert token["responseKind"] == {
        "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
    }  # fmt: skip
    nodes = resource(doc, "", "nodes")
    assert nodes["scope"] == "Cluster"
    assert "categories" not in nodes
    assert "subresources" not in resource(doc, "", "configmaps")


def test_aggregated_groups_shape() -> None:
    doc = discovery.aggregated(REGISTRY, core=False, fmt=Format.V2BETA1)
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert names == [g.name for g in REGISTRY.groups() if g.name]
    deployments = resource(doc, "apps", "deployments")
    assert deployments["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert deployments["shortNames"] == ["deploy"]
    scale = {s["subresource"]: s for s in deployments["subresources"]}["scale"]
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert scale["verbs"] == ["get", "patch", "update"]
    hpa = next(i for i in doc["items"] if i["metadata"]["name"] == "autoscaling")
    assert [v["version"] for v in hpa["versions"]] == ["v2"]


def test_legacy_documents_validate_with_the_python_client_models() -> None:
    versions = client.V1APIVersions.model_validate(discovery.api_versions("10.0.0.1:6443"))
    assert versions.versions == ["v1"]
    assert versions.server_address_by_client_cidrs[0].client_cidr == "0.0.0.0/0"
    assert versions.server_address_by_client_cidrs[0].server_address == "10.0.0.1:6443"

    groups = client.V1APIGroupList.model_validate(discovery.api_group_list(REGISTRY))
    assert [g.name for g in groups.groups][:3] == ["apps", "events.k8s.io", "authentication.k8s.io"]
    apps = client.V1APIGroup.model_validate(discovery.api_group(REGISTRY, "apps"))
    assert apps.preferred_version.group_version == "apps/v1"
    for group in REGISTRY.groups():
        for version in group.versions:
            doc = discovery.api_resource_list(REGISTRY, group.name, version)
            parsed = client.V1APIResourceList.model_validate(doc)  # extra fields are errors
            assert parsed.group_version == group.group_version(version)
            assert {r.name for r in parsed.resources} >= {
                r.plural for r in REGISTRY.resources(group.name, version)
            }


def test_legacy_documents_deserialize_through_the_api_client() -> None:
    api = client.ApiClient()
    text = json.dumps(discovery.api_resource_list(REGISTRY, "", "v1"))
    parsed = api.deserialize(text, "V1APIResourceList", "application/json")
    by_name = {r.name: r for r in parsed.resources}
    assert by_name["pods"].short_names == ["po"]
    assert by_name["pods/eviction"].group == "policy"
    text = json.dumps(discovery.api_versions("127.0.0.1:6443"))
    assert api.deserialize(text, "V1APIVersions", "application/json").versions == ["v1"]


# Entries of a kube-apiserver's /api/v1 and /apis/apps/v1, as served (1.31 and later).
UPSTREAM_ENTRIES = [
    {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
     "shortNames": ["po"], "categories": ["all"], "storageVersionHash": "xPOwRZ+Yhw8="},
    {"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
     "version": "v1", "kind": "Eviction", "verbs": ["create"]},
    {"name": "pods/exec", "singularName": "", "namespaced": True, "kind": "PodExecOptions",
     "verbs": ["create", "get"]},
    {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
    {"name": "pods/binding", "singularName": "", "namespaced": True, "kind": "Binding",
     "verbs": ["create"]},
    {"name": "bindings", "singularName": "binding", "namespaced": True, "kind": "Binding",
     "verbs": ["create"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
     "shortNames": ["ns"], "storageVersionHash": "Q3oi5N2YM8M="},
    {"name": "namespaces/finalize", "singularName": "", "namespaced": False, "kind": "Namespace",
     "verbs": ["update"]},
    {"name": "serviceaccounts/token", "singularName": "", "namespaced": True,
     "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest",
     "verbs": ["create"]},
    {"name": "endpoints", "singularName": "endpoints", "namespaced": True, "kind": "Endpoints",
     "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
     "shortNames": ["ep"], "storageVersionHash": "fWeeMqaN/OA="},
    {"name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
     "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]},
    {"name": "deployments/status", "singularName": "", "namespaced": True, "kind": "Deployment",
     "verbs": ["get", "patch", "update"]},
]  # fmt: skip


@pytest.mark.parametrize("expected", UPSTREAM_ENTRIES, ids=lambda e: e["name"])
def test_api_resource_list_entries_match_upstream(expected: dict[str, Any]) -> None:
    group = "apps" if expected["name"].startswith("deployments") else ""
    doc = discovery.api_resource_list(REGISTRY, group, "v1")
    assert doc is not None
    entries = {e["name"]: e for e in doc["resources"]}
    assert entries[expected["name"]] == expected


def test_api_resource_list_order_and_header() -> None:
    core = discovery.api_resource_list(REGISTRY, "", "v1")
    assert core is not None
    assert list(core) == ["kind", "groupVersion", "resources"]  # no apiVersion, as upstream
    names = [e["name"] for e in core["resources"]]
    assert names == sorted(names)
    assert names.index("pods") < names.index("pods/attach") < names.index("podtemplates")
    apps = discovery.api_resource_list(REGISTRY, "apps", "v1")
    assert apps is not None
    assert apps["apiVersion"] == "v1"
    assert apps["groupVersion"] == "apps/v1"
    assert discovery.api_resource_list(REGISTRY, "apps", "v2") is None
    assert discovery.api_group(REGISTRY, "nope") is None
    assert discovery.api_group(REGISTRY, "") is None


def test_documents_answer_each_path_and_cache_bytes() -> None:
    docs = DiscoveryDocuments(REGISTRY, "127.0.0.1:6443")
    api = docs.answer("/api", KUBECTL_ACCEPT)
    apis = docs.answer("/apis/", KUBECTL_ACCEPT)
    assert api is not None
    assert apis is not None
    assert (api.status, api.content_type) == (200, V2_TYPE)
    assert apis.content_type == V2_TYPE
    assert json.loads(api.body)["items"][0]["metadata"]["name"] == ""
    again = docs.answer("/api", KUBECTL_ACCEPT)
    assert again is not None
    assert again.body is api.body
    legacy = docs.answer("/api", "application/json")
    assert legacy is not None
    assert json.loads(legacy.body)["kind"] == "APIVersions"
    apps = docs.answer("/apis/apps", KUBECTL_ACCEPT)  # no aggregated form below the roots
    assert apps is not None
    assert (apps.content_type, json.loads(apps.body)["kind"]) == ("application/json", "APIGroup")
    resources = docs.answer("/apis/apps/v1", None)
    assert resources is not None
    assert json.loads(resources.body)["kind"] == "APIResourceList"
    refused = docs.answer("/apis", "application/vnd.kubernetes.protobuf")
    assert refused is not None
    assert refused.status == 406
    assert json.loads(refused.body)["reason"] == "NotAcceptable"
    for missing in ("/apis/nope", "/apis/apps/v9", "/api/v2", "/api/v1/pods", "/healthz", "/"):
        assert docs.answer(missing, None) is None, missing


async def test_kubectl_reads_aggregated_discovery(tmp_path: Path) -> None:
    async with serve_documents(tmp_path) as server:
        code, out = await server.kubectl("api-resources", "--no-headers")
        assert code == 0, out
        rows = {tuple(line.split()[:2]) for line in out.splitlines()}
        assert ("pods", "po") in rows
        assert ("deployments", "deploy") in rows
        assert ("horizontalpodautoscalers", "hpa") in rows
        # Aggregated discovery answered, so kubectl never asked for a per-version list.
        assert not any(p.startswith(("/api/v1", "/apis/apps")) for p, _ in server.requests)
        code, out = await server.kubectl("api-resources", "--categories=all", "-o", "name")
        assert code == 0, out
        assert set(out.split()) == {
            "pods", "replicationcontrollers", "services", "daemonsets.apps",
            "deployments.apps", "replicasets.apps", "statefulsets.apps",
            "horizontalpodautoscalers.autoscaling", "cronjobs.batch", "jobs.batch",
        }  # fmt: skip
        code, out = await server.kubectl("api-versions")
        assert code == 0, out
        assert "apps/v1" in out.split()
        assert "v1" in out.split()


async def test_python_client_discovers_resources(tmp_path: Path) -> None:
    """The official client's DynamicClient walks the legacy documents (it knows no other)."""
    async with serve_documents(tmp_path) as server:

        def discover() -> tuple[object, ...]:
            config = client.Configuration()
            config.host = server.url
            with client.ApiClient(config) as api:
                found = dynamic.DynamicClient(api, cache_file=str(tmp_path / "cache.json"))
                deployments = found.resources.get(api_version="apps/v1", kind="Deployment")
                pods = found.resources.get(api_version="v1", kind="Pod")
                hpa = found.resources.get(short_names=["hpa"])
                return (
                    deployments.name, deployments.namespaced, deployments.short_names,
                    sorted(pods.subresources), hpa.group_version,
                )  # fmt: skip

        assert await asyncio.to_thread(discover) == (
            "deployments", True, ["deploy"],
            ["attach", "binding", "ephemeralcontainers", "eviction", "exec", "log",
             "portforward", "status"],
            "autoscaling/v2",
        )  # fmt: skip
        accepts = {accept for path, accept in server.requests if path in ("/api", "/apis")}
        assert all("apidiscovery" not in a for a in accepts)
