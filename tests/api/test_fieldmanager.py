"""Server-side apply and managedFields, checked against upstream's documented behaviour.

Schemas come from upstream: the OpenAPI v3 documents kube-apiserver serves
(../shared/testdata/openapi-v3, with `default`s) and kubernetes-validate's definitions, the
runtime source (`kube.apiserver.openapi_schemas`). Expected FieldsV1 documents are written by hand
from what a real kube-apiserver records.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.api import errors, fieldmanager, fieldpath
from kube.api.fieldmanager import (
    DEDUCED,
    LAST_APPLIED_ANNOTATION,
    ApplyConflict,
    FieldManagerError,
    FieldType,
    SchemaTypes,
    apply,
    field_set,
    record_update,
    to_field_set,
    validate_managed_fields,
    validate_patch_options,
)
from kube.api.fieldpath import FieldSet
from kube.apiserver.openapi_schemas import raw_definitions

T0, T1, T2, T3 = (f"2024-01-0{d}T00:00:00Z" for d in (1, 2, 3, 4))
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


@pytest.fixture(scope="session")
def upstream_types(shared_testdata: Path) -> SchemaTypes:
    """The apps/v1 document a real kube-apiserver serves (it carries `default`s)."""
    document = json.loads(
        (shared_testdata / "openapi-v3" / "apis__apps__v1_openapi.json").read_text()
    )
    return SchemaTypes(document["components"]["schemas"], key_defaults={})


@pytest.fixture(scope="session")
def runtime_types() -> SchemaTypes:
    return SchemaTypes(raw_definitions())


@pytest.fixture(params=["upstream", "runtime"])
def deployment(request: pytest.FixtureRequest) -> FieldType:
    types: SchemaTypes = request.getfixturevalue(f"{request.param}_types")
    return types.definition(DEPLOYMENT)


def fields_v1(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    (entry,) = [e for e in obj["metadata"]["managedFields"] if e["manager"] == manager]
    return entry["fieldsV1"]  # type: ignore[no-any-return]


def managers(obj: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def web(replicas: int = 2, **extra: Any) -> dict[str, Any]:
    """A Deployment as kubectl sends it (apply or create)."""
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    obj.update(extra)
    return obj


def stored(obj: dict[str, Any], rv: str = "1") -> dict[str, Any]:
    """What the store adds: server-owned metadata."""
    out = copy.deepcopy(obj)
    out["metadata"].update(uid="u-1", resourceVersion=rv, creationTimestamp=T0)
    return out


def do_apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    schema: FieldType,
    manager: str = "kubectl",
    *,
    force: bool = False,
    now: str = T1,
) -> dict[str, Any]:
    return apply(
        live,
        config,
        manager,
        force=force,
        schema=schema,
        api_version=config.get("apiVersion", "apps/v1"),
        kind=config.get("kind", "Deployment"),
        now=now,
    )


def do_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    schema: FieldType,
    manager: str,
    *,
    now: str = T0,
    **kw: Any,
) -> dict[str, Any]:
    return record_update(old, new, manager, schema=schema, api_version="apps/v1", now=now, **kw)


# -- the FieldsV1 a real kube-apiserver records ---------------------------------------------------


def test_create_records_upstream_fields_v1(deployment: FieldType) -> None:
    obj = web()
    del obj["spec"]["replicas"], obj["spec"]["selector"], obj["spec"]["template"]["metadata"]
    created = do_update(None, obj, deployment, "kubectl-create")
    (entry,) = created["metadata"]["managedFields"]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert json.dumps(entry["fieldsV1"], separators=(",", ":")) == (
        '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":'
        '{"f:containers":{"k:{\\"name\\":\\"c\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}'
    )
    assert {k: v for k, v in entry.items() if k != "fieldsV1"} == {
        "manager": "kubectl-create",
        "operation": "Update",
        "apiVersion": "apps/v1",
        "time": T0,
        "fieldsType": "FieldsV1",
    }


def test_kubectl_create_deployment_matches_upstream(deployment: FieldType) -> None:
    """`kubectl create deployment web --image=nginx`: the defaulted object kube-apiserver
    stores, and the entry it records for it (copied from a real cluster's output)."""
    created = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": 1,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                "type": "RollingUpdate",
            },
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "image": "nginx",
                            "imagePullPolicy": "Always",
                            "name": "nginx",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }
                    ],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
        "status": {},
    }
    out = do_update(None, created, deployment, "kubectl-create", ignored=field_set("status"))
    assert fields_v1(out, "kubectl-create") == {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:progressDeadlineSeconds": {},
            "f:replicas": {},
            "f:revisionHistoryLimit": {},
            "f:selector": {},
            "f:strategy": {
                "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
                "f:type": {},
            },
            "f:template": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"nginx"}': {
                            ".": {},
                            "f:image": {},
                            "f:imagePullPolicy": {},
                            "f:name": {},
                            "f:resources": {},
                            "f:terminationMessagePath": {},
                            "f:terminationMessagePolicy": {},
                        }
                    },
                    "f:dnsPolicy": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                },
            },
        },
    }
    # the key order is upstream's too (it is part of the stored bytes)
    spec = fields_v1(out, "kubectl-create")["f:spec"]["f:template"]["f:spec"]
    assert list(spec) == [
        "f:containers",
        "f:dnsPolicy",
        "f:restartPolicy",
        "f:schedulerName",
        "f:securityContext",
        "f:terminationGracePeriodSeconds",
    ]


def test_ports_are_keyed_with_the_defaulted_protocol(deployment: FieldType) -> None:
    config = web()
    config["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    out = do_apply(None, config, deployment)
    container = fields_v1(out, "kubectl")["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert container['k:{"name":"c"}']["f:ports"] == {
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}
    }


# -- the schema walker ----------------------------------------------------------------------------


def walk(t: FieldType | None, *names: str) -> FieldType:
    """The type at a path of declared fields ("[]" steps into list items)."""
    for name in names:
        assert t is not None
        t = t.list_element() if name == "[]" else t.field(name)
    assert t is not None
    return t


def test_schema_types(deployment: FieldType) -> None:
    assert walk(deployment, "spec").is_struct
    assert walk(deployment, "spec", "selector").map_atomic  # x-kubernetes-map-type: atomic
    containers = walk(deployment, "spec", "template", "spec", "containers")
    assert not containers.list_atomic
    assert containers.keys == ("name",)
    ports = walk(containers, "[]", "ports")
    assert ports.keys == ("containerPort", "protocol")
    assert ports.key_default("protocol") == "TCP"
    assert walk(containers, "[]", "args").list_atomic
    finalizers = walk(deployment, "metadata", "finalizers")
    assert not finalizers.list_atomic
    assert finalizers.keys == ()  # a set
    labels = walk(deployment, "metadata", "labels")
    assert not labels.is_struct
    assert not labels.map_atomic
    assert walk(labels.map_element()).scalar == "string"
    assert walk(containers, "[]").field("nope") is None
    assert walk(containers, "[]").map_element() is None  # undeclared fields are refused
    # Go's zero Deployment, as kube-apiserver compares a created one with
    assert deployment.zero() == {
        "metadata": {"creationTimestamp": None},
        "spec": {
            "selector": None,
            "strategy": {},
            "template": {"metadata": {"creationTimestamp": None}, "spec": {"containers": None}},
        },
        "status": {},
    }


def test_unknown_definitions_are_deduced(runtime_types: SchemaTypes) -> None:
    assert runtime_types.definition("io.example.v1.Widget") is DEDUCED
    raw = walk(runtime_types.definition("io.k8s.api.apps.v1.ControllerRevision"), "data")
    assert raw.map_atomic  # RawExtension is atomic
    assert raw.list_atomic  # RawExtension is atomic


# -- apply: two managers sharing a Deployment ------------------------------------------------------


def test_apply_conflicts_with_the_client_side_applier(deployment: FieldType) -> None:
    live = stored(do_update(None, web(2), deployment, "kubectl-client-side-apply"))
    with pytest.raises(ApplyConflict) as caught:
        do_apply(live, web(3), deployment, "kubectl")
    err = caught.value
    assert isinstance(err, errors.APIError)
    assert isinstance(err, ValueError)
    assert err.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
        "using apps/v1: .spec.replicas",
        "reason": "Conflict",
        "code": 409,
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl-client-side-apply" using apps/v1',
                    "field": ".spec.replicas",
                }
            ]
        },
    }
    assert [(c.who, c.field) for c in err.conflicts] == [
        ('"kubectl-client-side-apply" using apps/v1', ".spec.replicas")
    ]


def test_force_takes_ownership(deployment: FieldType) -> None:
    live = stored(do_update(None, web(2), deployment, "kubectl-client-side-apply"))
    out = do_apply(live, web(3), deployment, "kubectl", force=True)
    assert out["spec"]["replicas"] == 3
    assert "f:replicas" in fields_v1(out, "kubectl")["f:spec"]
    assert "f:replicas" not in fields_v1(out, "kubectl-client-side-apply")["f:spec"]
    # fields applied with the same value are shared, not taken
    assert "f:selector" in fields_v1(out, "kubectl-client-side-apply")["f:spec"]
    assert "f:selector" in fields_v1(out, "kubectl")["f:spec"]
    assert managers(out) == [("kubectl", "Apply"), ("kubectl-client-side-apply", "Update")]
    # now the first manager is the one that conflicts
    with pytest.raises(ApplyConflict, match=r'conflict with "kubectl": \.spec\.replicas'):
        do_apply(out, web(5), deployment, "other")


def test_kubectl_upgrades_from_client_side_apply_without_conflicts(deployment: FieldType) -> None:
    """kubectl's own server-side apply may take over what the last-applied annotation shows it
    client-side applied; the annotation then follows the applied configuration."""
    created = web(2)
    created["metadata"]["annotations"] = {
        LAST_APPLIED_ANNOTATION: json.dumps(web(2), separators=(",", ":")) + "\n"
    }
    live = stored(do_update(None, created, deployment, "kubectl-client-side-apply"))
    out = do_apply(live, web(3), deployment, "kubectl")
    assert out["spec"]["replicas"] == 3
    assert out["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] == (
        '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"web"},'
        '"name":"web","namespace":"default"},"spec":{"replicas":3,"selector":{"matchLabels":'
        '{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":'
        '[{"image":"nginx","name":"c"}]}}}}\n'
    )
    # another manager has no such allowance, and neither has kubectl for fields changed since
    with pytest.raises(ApplyConflict):
        do_apply(live, web(3), deployment, "ci")
    scaled = stored(
        do_update(live, {**live, "spec": {**live["spec"], "replicas": 4}}, deployment, "hpa")
    )
    with pytest.raises(ApplyConflict, match=r'conflict with "hpa" using apps/v1: \.spec\.replicas'):
        do_apply(scaled, web(3), deployment, "kubectl")


def test_several_conflicts(deployment: FieldType) -> None:
    live = stored(do_update(None, web(2), deployment, "a"))
    changed = stored(
        do_update(
            live,
            {**live, "metadata": {**live["metadata"], "labels": {"app": "x"}}},
            deployment,
            "b",
        )
    )
    config = web(3)
    config["metadata"]["labels"]["app"] = "y"
    config["spec"]["template"]["spec"]["containers"][0]["image"] = "httpd"
    with pytest.raises(ApplyConflict) as caught:
        do_apply(changed, config, deployment)
    assert caught.value.message == (
        'Apply failed with 3 conflicts: conflicts with "a" using apps/v1:\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="c"].image\n'
        'conflicts with "b" using apps/v1:\n'
        "- .metadata.labels.app"
    )
    assert len(caught.value.details["causes"]) == 3


def test_removing_a_field_from_the_configuration_removes_it(deployment: FieldType) -> None:
    config = web()
    config["metadata"]["labels"]["tier"] = "front"
    config["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    first = do_apply(None, config, deployment)
    again = copy.deepcopy(config)
    del again["metadata"]["labels"]["tier"], again["spec"]["replicas"]
    again["spec"]["template"]["spec"]["containers"].pop()
    out = do_apply(stored(first), again, deployment, now=T2)
    assert out["metadata"]["labels"] == {"app": "web"}
    assert "replicas" not in out["spec"]
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["c"]
    assert out["metadata"]["uid"] == "u-1"  # fields nobody applied stay


def test_removed_fields_stay_while_another_manager_owns_them(deployment: FieldType) -> None:
    live = stored(do_update(None, web(2), deployment, "kubectl-client-side-apply"))
    first = do_apply(live, web(2), deployment)  # same values: shared ownership
    config = web(2)
    del config["spec"]["replicas"], config["metadata"]["labels"]
    out = do_apply(first, config, deployment)
    assert out["spec"]["replicas"] == 2
    assert out["metadata"]["labels"] == {"app": "web"}


def test_containers_merge_by_name(deployment: FieldType) -> None:
    first = stored(do_apply(None, web(), deployment, "a"))
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "log", "image": "fluentd"}]}}},
    }
    both = stored(do_apply(first, sidecar, deployment, "b"))
    assert [c["name"] for c in both["spec"]["template"]["spec"]["containers"]] == ["c", "log"]
    assert both["spec"]["replicas"] == 2  # the rest of a's configuration is untouched
    # b changing its own container is no conflict; changing a's is
    sidecar["spec"]["template"]["spec"]["containers"][0]["image"] = "vector"
    both = stored(do_apply(both, sidecar, deployment, "b"))
    assert both["spec"]["template"]["spec"]["containers"][1]["image"] == "vector"
    sidecar["spec"]["template"]["spec"]["containers"].insert(0, {"name": "c", "image": "httpd"})
    with pytest.raises(ApplyConflict, match=r'conflict with "a": .*containers\[name="c"\].image'):
        do_apply(both, sidecar, deployment, "b")
    # a dropping its container leaves b's
    alone = web()
    alone["spec"]["template"]["spec"]["containers"] = []
    out = do_apply(both, alone, deployment, "a")
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["log"]


def test_finalizers_are_a_set(deployment: FieldType) -> None:
    def with_finalizers(*names: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "finalizers": list(names)},
        }

    first = stored(do_apply(None, with_finalizers("a.io/x"), deployment, "a"))
    both = stored(do_apply(first, with_finalizers("b.io/y", "a.io/x"), deployment, "b"))
    assert both["metadata"]["finalizers"] == ["b.io/y", "a.io/x"]
    assert fields_v1(both, "a") == {"f:metadata": {"f:finalizers": {'v:"a.io/x"': {}}}}
    out = do_apply(both, with_finalizers(), deployment, "b")
    assert out["metadata"]["finalizers"] == ["a.io/x"]  # b's own is gone, a's stays
    assert managers(out) == [("a", "Apply")]


def test_labels_are_granular(deployment: FieldType) -> None:
    def labelled(**labels: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "w", "labels": labels},
        }

    first = stored(do_apply(None, labelled(team="x"), deployment, "a"))
    both = stored(do_apply(first, labelled(env="prod"), deployment, "b"))
    assert both["metadata"]["labels"] == {"team": "x", "env": "prod"}
    with pytest.raises(ApplyConflict, match=r"\.metadata\.labels\.team"):
        do_apply(both, labelled(team="y"), deployment, "b")


def test_atomic_selector_is_replaced_whole(deployment: FieldType) -> None:
    first = stored(do_apply(None, web(), deployment, "a"))
    config = web()
    config["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Exists"}]}
    with pytest.raises(ApplyConflict, match=r'"a": \.spec\.selector$'):
        do_apply(first, config, deployment, "b")
    out = do_apply(first, config, deployment, "b", force=True)
    assert out["spec"]["selector"] == config["spec"]["selector"]


def test_apply_creates_a_missing_object(deployment: FieldType) -> None:
    out = do_apply(None, web(), deployment, "kubectl")
    assert out["spec"] == web()["spec"]
    (entry,) = out["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["time"]) == ("kubectl", "Apply", T1)
    # apply records the fields the configuration sets (no "." for maps it merely contains)
    assert entry["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}


def test_applying_the_same_configuration_again_changes_nothing(deployment: FieldType) -> None:
    first = stored(do_apply(None, web(), deployment))
    again = do_apply(first, web(), deployment, now=T3)
    assert again == first  # not even the timestamp


def test_apply_keeps_the_applied_resource_version(deployment: FieldType) -> None:
    """A stale resourceVersion goes through to the store, whose compare-and-swap answers 409."""
    live = stored(do_apply(None, web(), deployment), rv="7")
    config = web(3)
    config["metadata"]["resourceVersion"] = "6"
    assert do_apply(live, config, deployment)["metadata"]["resourceVersion"] == "6"
    assert do_apply(live, web(3), deployment)["metadata"]["resourceVersion"] == "7"


def test_nothing_is_modified(deployment: FieldType) -> None:
    live = stored(do_update(None, web(2), deployment, "kubectl-client-side-apply"))
    snapshot, config = copy.deepcopy(live), web(3)
    do_apply(live, config, deployment, force=True)
    do_update(live, config, deployment, "x")
    assert live == snapshot
    assert config == web(3)


@pytest.mark.parametrize(
    ("config", "code", "message"),
    [
        (
            {**web(), "apiVersion": "apps/v1beta1"},
            400,
            "invalid object type: apps/v1beta1, Kind=Deployment",
        ),
        ({**web(), "kind": "StatefulSet"}, 400, "invalid object type: apps/v1, Kind=StatefulSet"),
        (
            {**web(), "metadata": {"name": "web", "managedFields": []}},
            400,
            "metadata.managedFields must be nil",
        ),
        (
            {**web(), "metadata": {}, "spec": {"replicas": 1, "foo": 1}},
            500,
            "failed to create typed patch object (/; apps/v1, Kind=Deployment): "
            ".spec.foo: field not declared in schema",
        ),
        (
            {
                **web(),
                "metadata": {"name": "web", "namespace": "ns"},
                "spec": {"replicas": "three"},
            },
            500,
            "failed to create typed patch object (ns/web; apps/v1, Kind=Deployment): "
            ".spec.replicas: expected numeric (int or float), got string",
        ),
        (
            {
                **web(),
                "metadata": {},
                "spec": {"template": {"spec": {"containers": [{"name": "c"}, {"name": "c"}]}}},
            },
            500,
            "failed to create typed patch object (/; apps/v1, Kind=Deployment): "
            '.spec.template.spec.containers: duplicate entries for key [name="c"]',
        ),
    ],
)
def test_apply_refuses(
    deployment: FieldType, config: dict[str, Any], code: int, message: str
) -> None:
    with pytest.raises(FieldManagerError) as caught:
        apply(
            None,
            config,
            "kubectl",
            force=False,
            schema=deployment,
            api_version="apps/v1",
            kind="Deployment",
            now=T0,
        )
    assert (caught.value.code, caught.value.message) == (code, message)


def test_items_need_their_keys(runtime_types: SchemaTypes) -> None:
    """Without a default (kubernetes-validate's schemas have none for `name`), an item that
    omits its key cannot be placed. Upstream's served schemas default `name` to ""."""
    config = {**web(), "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    with pytest.raises(FieldManagerError) as caught:
        do_apply(None, config, runtime_types.definition(DEPLOYMENT))
    assert caught.value.message == (
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
        ".spec.template.spec.containers: element 0: associative list with keys has an "
        'element that omits key field "name" (and doesn\'t have default value)'
    )


def test_apply_needs_a_field_manager(deployment: FieldType) -> None:
    with pytest.raises(errors.APIError) as caught:
        do_apply(None, web(), deployment, "")
    assert caught.value.code == 422
    assert caught.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch"
    )
    assert caught.value.details == {
        "group": "meta.k8s.io",
        "kind": "PatchOptions",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        ],
    }


# -- updates ---------------------------------------------------------------------------------------


def test_update_takes_changed_fields_from_everyone(deployment: FieldType) -> None:
    live = stored(do_apply(None, web(2), deployment, "kubectl"))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 5
    out = do_update(live, scaled, deployment, "kubectl-scale", now=T2)
    assert fields_v1(out, "kubectl-scale") == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in fields_v1(out, "kubectl")["f:spec"]
    assert managers(out) == [("kubectl", "Apply"), ("kubectl-scale", "Update")]
    # the same manager updating again merges into its entry and restamps it
    relabelled = copy.deepcopy(out)
    relabelled["metadata"]["labels"]["x"] = "y"
    again = do_update(out, relabelled, deployment, "kubectl-scale", now=T3)
    (entry,) = [e for e in again["metadata"]["managedFields"] if e["manager"] == "kubectl-scale"]
    assert entry["time"] == T3
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:x": {}}},
        "f:spec": {"f:replicas": {}},
    }


def test_an_update_that_changes_nothing_keeps_the_record(deployment: FieldType) -> None:
    live = stored(do_update(None, web(), deployment, "a"))
    out = do_update(live, copy.deepcopy(live), deployment, "b", now=T3)
    assert out["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_removed_fields_leave_every_set(deployment: FieldType) -> None:
    live = stored(do_update(None, web(), deployment, "a"))
    smaller = copy.deepcopy(live)
    del smaller["metadata"]["labels"]
    out = do_update(live, smaller, deployment, "b")
    assert "f:metadata" not in fields_v1(out, "a")
    assert managers(out) == [("a", "Update")]


def test_managed_fields_in_the_request(deployment: FieldType) -> None:
    live = stored(do_update(None, web(), deployment, "a"))
    # kept when the client sends none, or sends something unreadable
    for sent in (None, [{"manager": "x", "operation": "Bogus"}]):
        new = copy.deepcopy(live)
        new["metadata"]["managedFields"] = sent
        assert managers(do_update(live, new, deployment, "b")) == [("a", "Update")]
    # taken as the new record when valid
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [
        {
            "manager": "z",
            "operation": "Apply",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    ]
    assert managers(do_update(live, new, deployment, "b")) == [("z", "Apply")]
    # ignored on a subresource
    assert managers(do_update(live, new, deployment, "b", subresource="status")) == [
        ("a", "Update")
    ]


def test_unchanged_entries_are_kept_as_sent(deployment: FieldType) -> None:
    """An entry whose set did not change keeps its FieldsV1 as it was (key order included)."""
    live = stored(do_update(None, web(), deployment, "a"))
    sent = {
        "manager": "z",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {"f:app": {}}}},
    }
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = [sent]
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "httpd"
    out = do_update(live, new, deployment, "b", now=T2)
    (kept,) = [e for e in out["metadata"]["managedFields"] if e["manager"] == "z"]
    assert kept == sent
    assert list(kept["fieldsV1"]) == ["f:spec", "f:metadata"]


def test_apply_refuses_unreadable_managed_fields(deployment: FieldType) -> None:
    live = stored(do_apply(None, web(), deployment))
    live["metadata"]["managedFields"][0]["fieldsType"] = "FieldsV2"
    with pytest.raises(FieldManagerError) as caught:
        do_apply(live, web(3), deployment)
    assert (caught.value.code, caught.value.message) == (
        500,
        'failed to decode managed fields: invalid fieldsType "FieldsV2" in managed fields entry 0',
    )


def test_cleared_managed_fields_are_not_tracked_until_an_apply(deployment: FieldType) -> None:
    live = stored(do_update(None, web(), deployment, "a"))
    for reset in ([], [{}]):
        cleared = copy.deepcopy(live)
        cleared["metadata"]["managedFields"] = reset
        out = do_update(live, cleared, deployment, "b")
        assert "managedFields" not in out["metadata"]
        changed = copy.deepcopy(out)
        changed["spec"]["replicas"] = 9
        assert "managedFields" not in do_update(out, changed, deployment, "c")["metadata"]
        assert managers(do_apply(out, web(4), deployment)) == [("kubectl", "Apply")]


def test_subresource_and_ignored_fields(deployment: FieldType) -> None:
    live = stored(do_update(None, web(), deployment, "a", ignored=field_set("status")))
    with_status = copy.deepcopy(live)
    with_status["status"] = {"replicas": 2}
    main = do_update(live, with_status, deployment, "a", ignored=field_set("status"))
    assert main["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    status = do_update(
        live,
        with_status,
        deployment,
        "kcm",
        subresource="status",
        ignored=field_set("spec", "metadata"),
    )
    (entry,) = [e for e in status["metadata"]["managedFields"] if e["manager"] == "kcm"]
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {"f:status": {".": {}, "f:replicas": {}}}
    assert list(entry)[-1] == "subresource"


def test_unknown_manager_and_entry_order(deployment: FieldType) -> None:
    obj = stored(do_update(None, web(), deployment, "", now=T2))
    assert managers(obj) == [("unknown", "Update")]
    obj = stored(
        do_apply(
            obj,
            {**web(), "metadata": {"name": "web", "annotations": {"a": "b"}}},
            deployment,
            "z",
            now=T3,
        )
    )
    changed = copy.deepcopy(obj)
    changed["metadata"]["labels"]["n"] = "1"
    obj = do_update(obj, changed, deployment, "m", now=T1)
    # Apply first; then oldest first; then by manager
    assert managers(obj) == [("z", "Apply"), ("m", "Update"), ("unknown", "Update")]


def test_update_entries_are_capped(deployment: FieldType) -> None:
    obj = stored(do_update(None, web(), deployment, "creator", now="2024-01-01T00:00:00Z"))
    for i in range(12):
        changed = copy.deepcopy(obj)
        changed["metadata"]["labels"][f"l{i}"] = "x"
        obj = stored(
            do_update(obj, changed, deployment, f"m{i:02d}", now=f"2024-01-02T00:00:{i:02d}Z")
        )
    names = [m for m, _ in managers(obj)]
    assert len(names) == 10
    assert names[0] == "ancient-changes"
    assert names[1:] == [f"m{i:02d}" for i in range(3, 12)]
    bucket = fields_v1(obj, "ancient-changes")["f:metadata"]["f:labels"]
    assert set(bucket) >= {"f:l0", "f:l1", "f:l2"}


def test_validation_helpers() -> None:
    validate_patch_options("kubectl", False, apply=True)
    with pytest.raises(
        errors.APIError, match=r"force: Forbidden: may not be specified for non-apply patch"
    ):
        validate_patch_options("x", False, apply=False)
    with pytest.raises(
        errors.APIError, match=r"fieldManager: Too long: may not be more than 128 bytes"
    ):
        validate_patch_options("x" * 129, None, apply=False)
    with pytest.raises(
        errors.APIError,
        match=r'fieldManager\[1\]: Invalid value: "a\\x01": must only contain printable characters',
    ):
        validate_patch_options("a\x01", None, apply=False)
    causes = validate_managed_fields(
        [{"manager": "m", "operation": "Patch", "fieldsType": "FieldsV2"}]
    )
    assert [(c.field, c.message) for c in causes] == [
        (
            "metadata.managedFields[0].operation",
            'Invalid value: "Patch": must be `Apply` or `Update`',
        ),
        ("metadata.managedFields[0].fieldsType", 'Invalid value: "FieldsV2": must be `FieldsV1`'),
    ]


# -- properties over a small schema ---------------------------------------------------------------

SMALL = SchemaTypes(
    {
        "Obj": {
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"$ref": "#/defs/Meta"},
                "spec": {"$ref": "#/defs/Spec"},
            },
        },
        "Meta": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "finalizers": {
                    "type": "array",
                    "items": {"type": "string"},
                    "x-kubernetes-list-type": "set",
                },
            },
        },
        "Spec": {
            "type": "object",
            "properties": {
                "replicas": {"type": "integer"},
                "args": {"type": "array", "items": {"type": "string"}},
                "selector": {
                    "type": "object",
                    "x-kubernetes-map-type": "atomic",
                    "additionalProperties": {"type": "string"},
                },
                "items": {
                    "type": "array",
                    "items": {"$ref": "#/defs/Item"},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                },
            },
        },
        "Item": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "value": {"type": "string"},
                "port": {"type": "integer"},
            },
        },
    }
).definition("Obj")

names = st.sampled_from(["a", "b", "c", "d"])
words = st.sampled_from(["x", "y", "z"])
items = st.lists(
    st.fixed_dictionaries({"name": names}, optional={"value": words, "port": st.integers(1, 3)}),
    min_size=1,
    max_size=4,
    unique_by=lambda i: i["name"],
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(0, 3),
        "args": st.lists(words, min_size=1, max_size=3),
        "selector": st.dictionaries(names, words, min_size=1, max_size=2),
        "items": items,
    },
)
metas = st.fixed_dictionaries(
    {"name": st.just("obj")},
    optional={
        "labels": st.dictionaries(names, words, min_size=1, max_size=3),
        "finalizers": st.lists(names, min_size=1, max_size=3, unique=True),
    },
)
configs = st.builds(
    lambda meta, spec: {
        "apiVersion": "v1",
        "kind": "Obj",
        "metadata": meta,
        **({"spec": spec} if spec else {}),
    },
    metas,
    specs,
)


def small(**spec: Any) -> dict[str, Any]:
    meta = {"name": "obj"}
    for key in ("labels", "finalizers"):
        if key in spec:
            meta[key] = spec.pop(key)
    return {"apiVersion": "v1", "kind": "Obj", "metadata": meta, **({"spec": spec} if spec else {})}


# (name, what manager "a" applied, what manager "b" applies, conflicts without force, result)
MERGE_CASES = [
    (
        "scalars conflict",
        small(replicas=1),
        small(replicas=2),
        [".spec.replicas"],
        small(replicas=2),
    ),
    ("equal values are shared", small(replicas=1), small(replicas=1), [], small(replicas=1)),
    (
        "atomic lists are replaced whole",
        small(args=["x", "y"]),
        small(args=["z"]),
        [".spec.args"],
        small(args=["z"]),
    ),
    (
        "sets are unions",
        small(finalizers=["a"]),
        small(finalizers=["b"]),
        [],
        small(finalizers=["a", "b"]),
    ),
    (
        "maps merge by key",
        small(labels={"a": "x"}),
        small(labels={"b": "y"}),
        [],
        small(labels={"a": "x", "b": "y"}),
    ),
    (
        "atomic maps are replaced whole",
        small(selector={"a": "x"}),
        small(selector={"b": "y"}),
        [".spec.selector"],
        small(selector={"b": "y"}),
    ),
    (
        "list maps merge by key",
        small(items=[{"name": "a", "value": "x"}]),
        small(items=[{"name": "b"}, {"name": "a", "port": 1}]),
        [],
        small(items=[{"name": "b"}, {"name": "a", "value": "x", "port": 1}]),
    ),
    (
        "list map items conflict field by field",
        small(items=[{"name": "a", "value": "x"}]),
        small(items=[{"name": "a", "value": "y"}]),
        ['.spec.items[name="a"].value'],
        small(items=[{"name": "a", "value": "y"}]),
    ),
]


@pytest.mark.parametrize(
    ("first", "second", "conflicts", "result"),
    [case[1:] for case in MERGE_CASES],
    ids=[case[0] for case in MERGE_CASES],
)
def test_merge_semantics(
    first: dict[str, Any], second: dict[str, Any], conflicts: list[str], result: dict[str, Any]
) -> None:
    live = small_apply(None, first, "a")
    if conflicts:
        with pytest.raises(ApplyConflict) as caught:
            small_apply(live, second, "b")
        assert [c.field for c in caught.value.conflicts] == conflicts
    out = small_apply(live, second, "b", force=True)
    del out["metadata"]["managedFields"]
    assert out == result


def small_apply(
    live: dict[str, Any] | None, config: dict[str, Any], manager: str = "m", *, force: bool = False
) -> dict[str, Any]:
    return apply(
        live, config, manager, force=force, schema=SMALL, api_version="v1", kind="Obj", now=T1
    )


def removable(config: dict[str, Any]) -> list[tuple[str, ...]]:
    """Paths (into the config) whose removal drops exactly one leaf or item."""
    out: list[tuple[str, ...]] = []
    for key in config["metadata"].get("labels", {}):
        out.append(("metadata", "labels", key))
    for i, _ in enumerate(config["metadata"].get("finalizers", [])):
        out.append(("metadata", "finalizers", str(i)))
    spec = config.get("spec", {})
    for key in ("replicas", "args", "selector"):
        if key in spec:
            out.append(("spec", key))
    for i, item in enumerate(spec.get("items", [])):
        out.append(("spec", "items", str(i)))
        out.extend(("spec", "items", str(i), k) for k in item if k != "name")
    return out


def without(config: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    node: Any = out
    trail = []
    for step in path[:-1]:
        trail.append((node, step))
        node = node[int(step)] if isinstance(node, list) else node[step]
    last = path[-1]
    if isinstance(node, list):
        node.pop(int(last))
    else:
        del node[last]
    for parent, step in reversed(trail):  # drop containers left empty
        child = parent[int(step)] if isinstance(parent, list) else parent[step]
        if child or step == "metadata":
            break
        if isinstance(parent, list):
            parent.pop(int(step))
        else:
            del parent[step]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, configs)
def test_applying_twice_is_a_no_op(other: dict[str, Any], config: dict[str, Any]) -> None:
    live = record_update(None, other, "creator", schema=SMALL, api_version="v1", now=T0)
    once = small_apply(live, config, force=True)
    assert small_apply(once, config) == once
    # what the applier owns is what its configuration sets (bar server-owned fields)
    entries = [e for e in once["metadata"].get("managedFields", []) if e["manager"] == "m"]
    recorded = FieldSet.from_json(entries[0]["fieldsV1"]) if entries else FieldSet()
    expected = to_field_set(config, SMALL).difference(field_set("apiVersion", "kind"))
    assert recorded.union(field_set("metadata.name")) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, st.data())
def test_dropping_a_field_from_the_configuration_removes_exactly_it(
    config: dict[str, Any], data: st.DataObject
) -> None:
    paths = removable(config)
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    smaller = without(config, path)
    two_steps = small_apply(small_apply(None, config), smaller)
    assert two_steps == small_apply(None, smaller)


@settings(max_examples=100, deadline=None)
@given(items, items)
def test_list_merge_order(
    live_items: list[dict[str, Any]], applied_items: list[dict[str, Any]]
) -> None:
    """Shared items follow the applied order, live-only items keep their place, none is lost."""
    live = {
        "apiVersion": "v1",
        "kind": "Obj",
        "metadata": {"name": "obj"},
        "spec": {"items": live_items},
    }
    config = {
        "apiVersion": "v1",
        "kind": "Obj",
        "metadata": {"name": "obj"},
        "spec": {"items": applied_items},
    }
    out = small_apply(live, config, force=True)["spec"]["items"]
    got = [i["name"] for i in out]
    applied = [i["name"] for i in applied_items]
    assert sorted(got) == sorted({i["name"] for i in live_items} | set(applied))
    assert [n for n in got if n in applied] == applied
    live_only = [i["name"] for i in live_items if i["name"] not in applied]
    assert [n for n in got if n in live_only] == live_only


# -- the shortcut for updates that change no one's ownership --------------------------------------


def _both_ways(
    monkeypatch: pytest.MonkeyPatch,
    old: dict[str, Any],
    new: dict[str, Any],
    schema: FieldType,
    manager: str,
    **kw: Any,
) -> dict[str, Any]:
    """record_update with the shortcut, checked equal to the general bookkeeping without it."""
    quick = do_update(old, copy.deepcopy(new), schema, manager, now=T3, **kw)
    with monkeypatch.context() as patched:
        patched.setattr(fieldmanager, "_ownership_kept", lambda *_args: None)
        general = do_update(old, copy.deepcopy(new), schema, manager, now=T3, **kw)
    assert quick == general
    return quick


def _two_managers(schema: FieldType) -> dict[str, Any]:
    live = stored(do_apply(None, web(2), schema, "kubectl"))
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 3
    return stored(do_update(live, scaled, schema, "scaler", now=T1), rv="2")


def test_owner_changing_its_own_field_only_restamps_its_entry(
    deployment: FieldType, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _two_managers(deployment)
    scaled = copy.deepcopy(live)
    scaled["spec"]["replicas"] = 7
    out = _both_ways(monkeypatch, live, scaled, deployment, "scaler")
    before = {e["manager"]: e for e in live["metadata"]["managedFields"]}
    after = {e["manager"]: e for e in out["metadata"]["managedFields"]}
    assert after["kubectl"] == before["kubectl"]
    assert after["scaler"] == {**before["scaler"], "time": T3}


@pytest.mark.parametrize(
    "change",
    [
        "nothing",  # a no-op update: no entry restamped
        "own-field",  # the shortcut
        "other-field",  # takes a field kubectl applied
        "new-field",  # adds a field nobody owns
        "removed-field",  # drops a field
        "label-and-own",  # own field plus one of kubectl's
        "status",  # ignored fields
    ],
)
@pytest.mark.parametrize("manager", ["scaler", "kubectl", "newcomer"])
def test_shortcut_agrees_with_the_general_bookkeeping(
    deployment: FieldType, monkeypatch: pytest.MonkeyPatch, change: str, manager: str
) -> None:
    live = _two_managers(deployment)
    new = copy.deepcopy(live)
    ignored = None
    if change in ("own-field", "label-and-own"):
        new["spec"]["replicas"] = 9
    if change in ("other-field", "label-and-own"):
        new["spec"]["template"]["spec"]["containers"][0]["image"] = "httpd"
    if change == "new-field":
        new["spec"]["paused"] = True
    if change == "removed-field":
        del new["metadata"]["labels"]
    if change == "status":
        new["status"] = {"replicas": 9}
        ignored = FieldSet.of((fieldpath.PathElement.field("status"),))
    _both_ways(monkeypatch, live, new, deployment, manager, ignored=ignored)
    _both_ways(monkeypatch, live, new, deployment, manager, subresource="status")


def test_shortcut_drops_empty_entries_as_the_general_path_does(
    deployment: FieldType, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = _two_managers(deployment)
    live["metadata"]["managedFields"].append(
        {
            "manager": "idle",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }
    )
    for replicas in (3, 11):  # unchanged, then the owner's own field
        new = copy.deepcopy(live)
        new["spec"]["replicas"] = replicas
        out = _both_ways(monkeypatch, live, new, deployment, "scaler")
        assert "idle" not in [e["manager"] for e in out["metadata"]["managedFields"]]


def test_shortcut_leaves_server_fields_to_the_general_path(
    deployment: FieldType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record sent by the client that owns a server-set field is settled as upstream does."""
    live = _two_managers(deployment)
    new = copy.deepcopy(live)
    for entry in new["metadata"]["managedFields"]:
        if entry["manager"] == "scaler":
            entry["fieldsV1"]["f:metadata"] = {"f:generation": {}}
    new["metadata"]["generation"] = 5
    new["spec"]["replicas"] = 4
    _both_ways(monkeypatch, live, new, deployment, "scaler")


def test_reordered_keys_are_the_same_json_and_no_change() -> None:
    """A stored object gets its resourceVersion back last; a request has it where it was."""
    from kube.api.fieldmanager import compare
    from kube.api.patch import same_json

    stored_meta = {"name": "n", "uid": "u", "labels": {"a": "1", "b": "2"}, "resourceVersion": "7"}
    sent_meta = {"name": "n", "resourceVersion": "7", "uid": "u", "labels": {"b": "2", "a": "1"}}
    assert same_json(stored_meta, sent_meta)
    assert not same_json(stored_meta, {**sent_meta, "uid": "v"})
    assert not same_json([1, 2], [2, 1])
    changes = compare({"metadata": stored_meta}, {"metadata": sent_meta}, DEDUCED)
    assert changes.added.empty()
    assert changes.modified.empty()
    assert changes.removed.empty()
