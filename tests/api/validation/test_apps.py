"""Validation of Deployments, ReplicaSets, DaemonSets, StatefulSets (upstream's messages)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kube.api.defaults import default
from kube.api.validation import validate

TEMPLATE = {
    "metadata": {"labels": {"app": "web"}},
    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
}


def workload(kind: str, **spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": copy.deepcopy(TEMPLATE),
            **spec,
        },
    }
    default("apps", "v1", kind, obj)
    return obj


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validate("apps", "v1", obj["kind"], obj, old)]


KINDS = ["Deployment", "ReplicaSet", "DaemonSet", "StatefulSet"]


@pytest.mark.parametrize("kind", KINDS)
def test_valid(kind: str) -> None:
    assert errors(workload(kind)) == []


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_selector_required(kind: str) -> None:
    obj = workload(kind)
    del obj["spec"]["selector"]
    assert errors(obj) == ["spec.selector: Required value"]


@pytest.mark.parametrize("kind", KINDS)
def test_selector_must_match_template(kind: str) -> None:
    obj = workload(kind)
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "x"}
    assert errors(obj) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` '
        "does not match template `labels`"
    ]


@pytest.mark.parametrize(
    ("kind", "owner"), [("Deployment", "deployment"), ("DaemonSet", "daemonset")]
)
def test_empty_selector(kind: str, owner: str) -> None:
    obj = workload(kind, selector={})
    assert errors(obj) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for "
        + owner
    ]


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet"])
def test_replicas_not_negative(kind: str) -> None:
    assert errors(workload(kind, replicas=-1)) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_template_restart_policy(kind: str) -> None:
    obj = workload(kind)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert errors(obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "OnFailure": supported values: '
        '"Always"'
    ]


def test_deployment_template_pod_spec_is_validated() -> None:
    obj = workload("Deployment")
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert errors(obj) == ["spec.template.spec.containers[0].image: Required value"]


def test_stateful_set_template_pod_spec_is_not() -> None:
    obj = workload("StatefulSet")
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = ""
    assert errors(obj) == []  # upstream checks only the template's labels and annotations


@pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "DaemonSet"])
def test_selector_is_immutable(kind: str) -> None:
    old = workload(kind)
    new = workload(kind, selector={"matchLabels": {"app": "web", "tier": "front"}})
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "front"
    assert errors(new, old) == [
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", '
        '"tier":"front"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'
    ]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ({"type": "Recreate"}, []),
        (
            {"type": "Recreate", "rollingUpdate": {}},
            [
                "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` "
                "is 'Recreate'"
            ],
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}},
            [
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0%: may not be 0 when "
                "`maxSurge` is 0"
            ],
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "x", "maxUnavailable": "101%"}},
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: x: a valid percent string "
                "must "
                "be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used "
                "for "
                "validation is '[0-9]+%')",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 101%: must not be "
                "greater "
                "than 100%",
            ],
        ),
        (
            {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": -1}},
            [
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: -1: must be greater than or "
                "equal to 0"
            ],
        ),
        (
            {"type": "BlueGreen"},
            [
                'spec.strategy: Unsupported value: apps.DeploymentStrategy{Type:"BlueGreen", '
                "RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "
                '"Recreate", "RollingUpdate"'
            ],
        ),
    ],
)
def test_deployment_strategy(strategy: dict[str, Any], expected: list[str]) -> None:
    assert errors(workload("Deployment", strategy=strategy)) == expected


def test_deployment_progress_deadline() -> None:
    assert errors(workload("Deployment", minReadySeconds=600)) == [
        "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds"
    ]


@pytest.mark.parametrize(
    ("rolling", "expected"),
    [
        (
            {"maxUnavailable": 1, "maxSurge": 1},
            [
                "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set "
                "when maxUnavailable is non-zero"
            ],
        ),
        (
            {"maxUnavailable": 0, "maxSurge": 0},
            [
                "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 "
                "when maxSurge is 0"
            ],
        ),
        ({"maxUnavailable": 0, "maxSurge": "10%"}, []),
    ],
)
def test_daemon_set_rolling_update(rolling: dict[str, Any], expected: list[str]) -> None:
    obj = workload("DaemonSet", updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling})
    assert errors(obj) == expected


def test_daemon_set_without_selector_never_matches() -> None:
    obj = workload("DaemonSet")
    del obj["spec"]["selector"]
    assert errors(obj) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` '
        "does not match template `labels`"
    ]


def test_stateful_set_values_and_updates() -> None:
    obj = workload("StatefulSet", podManagementPolicy="Random", serviceName="web")
    obj["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}
    assert errors(obj) == [
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
        "spec.updateStrategy.rollingUpdate.partition: Invalid value: -1: must be greater than or "
        "equal to 0",
    ]
    old = workload("StatefulSet", serviceName="web")
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    scaled["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    assert errors(scaled, old) == []
    renamed = copy.deepcopy(old)
    renamed["spec"]["serviceName"] = "other"
    assert errors(renamed, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"
    ]


def test_stateful_set_names_are_dns_labels() -> None:
    obj = workload("StatefulSet")
    obj["metadata"]["name"] = "web.v1"
    assert errors(obj)[0].startswith(
        'metadata.name: Invalid value: "web.v1": a lowercase RFC 1123 label'
    )


def test_controller_revisions() -> None:
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "r"},
        "revision": -1,
    }
    assert errors(revision) == [
        "data: Required value: data is mandatory",
        "revision: Invalid value: -1: must be greater than or equal to 0",
    ]
