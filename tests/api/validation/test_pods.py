"""Pod spec validation: table-driven from upstream's TestValidatePodSpec / TestValidateContainers
cases, each a valid pod with one thing broken and the exact cause upstream reports."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kube.api.defaults import default
from kube.api.validation import validate

Mutation = Callable[[dict[str, Any]], None]


def pod(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec},
    }
    default("", "v1", "Pod", obj)
    return obj


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validate("", "v1", "Pod", obj, old)]


def broken(change: Mutation) -> list[str]:
    obj = pod()
    change(obj)
    return errors(obj)


def container(obj: dict[str, Any], i: int = 0) -> dict[str, Any]:
    c: dict[str, Any] = obj["spec"]["containers"][i]
    return c


def _two_host_ports(obj: dict[str, Any]) -> None:
    for name, port in (("a", 80), ("b", 81)):
        ports = [{"containerPort": port, "hostPort": 80}]
        obj["spec"]["containers"].append({**container(obj), "name": name, "ports": ports})
    default("", "v1", "Pod", obj)


def test_valid_pod() -> None:
    assert errors(pod()) == []


def test_a_pod_without_spec() -> None:
    assert errors({"metadata": {"name": "p"}}) == [
        "spec.containers: Required value",
        "spec.restartPolicy: Required value",
        "spec.dnsPolicy: Required value",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o["spec"].update(containers=[]), ["spec.containers: Required value"]),
        (lambda o: container(o).update(image=""), ["spec.containers[0].image: Required value"]),
        (lambda o: container(o).update(name=""), ["spec.containers[0].name: Required value"]),
        (
            lambda o: container(o).update(name="Web_1"),
            [
                'spec.containers[0].name: Invalid value: "Web_1": a lowercase RFC 1123 label must '
                "consist of lower case alphanumeric characters or '-', and must start and end "
                "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ],
        ),
        (
            lambda o: o["spec"]["containers"].append(copy.deepcopy(container(o))),
            ['spec.containers[1].name: Duplicate value: "c"'],
        ),
        (
            lambda o: o["spec"].update(initContainers=[copy.deepcopy(container(o))]),
            ['spec.initContainers[0].name: Duplicate value: "c"'],
        ),
        (
            lambda o: o["spec"].update(restartPolicy="Sometimes"),
            [
                'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", '
                '"OnFailure", "Never"'
            ],
        ),
        (
            lambda o: o["spec"].update(dnsPolicy="Google"),
            [
                'spec.dnsPolicy: Unsupported value: "Google": supported values: '
                '"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"'
            ],
        ),
        (
            lambda o: container(o).update(imagePullPolicy="Sometimes"),
            [
                'spec.containers[0].imagePullPolicy: Unsupported value: "Sometimes": supported '
                'values: "Always", "IfNotPresent", "Never"'
            ],
        ),
        (
            lambda o: container(o).update(ports=[{"containerPort": 70000, "protocol": "TCP"}]),
            [
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between "
                "1 and 65535, inclusive"
            ],
        ),
        (
            lambda o: container(o).update(ports=[{"protocol": "TCP"}]),
            ["spec.containers[0].ports[0].containerPort: Required value"],
        ),
        (
            lambda o: container(o).update(ports=[{"containerPort": 80, "protocol": "HTTP"}]),
            [
                'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported '
                'values: "SCTP", "TCP", "UDP"'
            ],
        ),
        (
            lambda o: container(o).update(
                ports=[{"containerPort": 80, "protocol": "TCP", "name": "Web--"}]
            ),
            [
                'spec.containers[0].ports[0].name: Invalid value: "Web--": must contain only '
                "alpha-numeric characters (a-z, 0-9), and hyphens (-)",
                'spec.containers[0].ports[0].name: Invalid value: "Web--": must not contain '
                "consecutive hyphens",
                'spec.containers[0].ports[0].name: Invalid value: "Web--": must not begin or end '
                "with a hyphen",
            ],
        ),
        (
            _two_host_ports,
            ['spec.containers[2].ports[0].hostPort: Duplicate value: "/TCP/80"'],
        ),
        (
            lambda o: container(o).update(env=[{"name": "A=B"}, {"name": ""}]),
            [
                'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment '
                "variable "
                "name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].name: Required value",
                'spec.containers[0].env[1].name: Invalid value: "": environment variable name must '
                "be non-empty",
            ],
        ),
        (
            lambda o: container(o).update(
                env=[
                    {
                        "name": "A",
                        "value": "x",
                        "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                    }
                ]
            ),
            [
                'spec.containers[0].env[0].valueFrom: Invalid value: "": may not be specified when '
                "`value` is not empty"
            ],
        ),
        (
            lambda o: container(o).update(env=[{"name": "A", "valueFrom": {}}]),
            [
                'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: '
                "`fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            ],
        ),
        (
            lambda o: container(o).update(volumeMounts=[{"name": "data", "mountPath": "/d"}]),
            ['spec.containers[0].volumeMounts[0].name: Not found: "data"'],
        ),
        (
            lambda o: (
                o["spec"].update(volumes=[{"name": "data", "emptyDir": {}}]),
                container(o).update(
                    volumeMounts=[
                        {"name": "data", "mountPath": "/d", "subPath": "../x"},
                        {"name": "data", "mountPath": "/d"},
                    ]
                ),
            ),
            [
                'spec.containers[0].volumeMounts.subPath: Invalid value: "../x": must not contain '
                "'..'",
                'spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique',
            ],
        ),
        (
            lambda o: o["spec"].update(
                volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]
            ),
            ['spec.volumes[1].name: Duplicate value: "v"'],
        ),
        (
            lambda o: o["spec"].update(
                volumes=[{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]
            ),
            ["spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"],
        ),
        (
            lambda o: o["spec"].update(volumes=[{"name": "v", "secret": {"defaultMode": 0o1000}}]),
            [
                "spec.volumes[0].secret.secretName: Required value",
                "spec.volumes[0].secret.defaultMode: Invalid value: 512: must be a number between "
                "0 and 0777 (octal), both inclusive",
            ],
        ),
        (
            lambda o: o["spec"].update(volumes=[{"name": "v", "configMap": {}}]),
            ["spec.volumes[0].configMap.name: Required value"],
        ),
        (
            lambda o: o["spec"].update(volumes=[{"name": "v", "persistentVolumeClaim": {}}]),
            ["spec.volumes[0].persistentVolumeClaim.claimName: Required value"],
        ),
        (
            lambda o: o["spec"].update(activeDeadlineSeconds=0),
            [
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, "
                "inclusive"
            ],
        ),
        (
            lambda o: o["spec"].update(nodeSelector={"disk": "bad value!"}),
            ['spec.nodeSelector: Invalid value: "bad value!"'],
        ),
        (
            lambda o: o["spec"].update(tolerations=[{"operator": "Equal", "value": "x"}]),
            [
                'spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists '
                "when "
                '`key` is empty, which means "match all values and all keys"'
            ],
        ),
        (
            lambda o: o["spec"].update(hostname="Web"),
            ['spec.hostname: Invalid value: "Web": a lowercase RFC 1123 label'],
        ),
    ],
)
def test_broken_pod_specs(change: Mutation, expected: list[str]) -> None:
    got = broken(change)
    assert len(got) == len(expected), got
    for text, prefix in zip(got, expected, strict=True):
        assert text.startswith(prefix), text


# -- resources -----------------------------------------------------------------------------


def with_resources(**resources: Any) -> list[str]:
    return broken(lambda o: container(o).update(resources=resources))


def test_requests_may_not_exceed_limits() -> None:
    assert with_resources(requests={"cpu": "2"}, limits={"cpu": "1"}) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
        "to cpu limit of 1"
    ]
    assert with_resources(requests={"cpu": "500m", "memory": "1Gi"}, limits={"cpu": "1"}) == []


def test_quantities_must_parse_and_not_be_negative() -> None:
    assert with_resources(limits={"memory": "1Gb"}) == [
        'spec.containers[0].resources.limits[memory]: Invalid value: "1Gb": quantities must '
        "match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ]
    assert with_resources(requests={"cpu": "-1"}) == [
        'spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than '
        "or equal to 0"
    ]


def test_resource_names() -> None:
    assert with_resources(requests={"pods": "1"}) == [
        'spec.containers[0].resources.requests[pods]: Invalid value: "pods": must be a standard '
        "resource for containers"
    ]
    assert with_resources(requests={"disk": "1"}) == [
        'spec.containers[0].resources.requests[disk]: Invalid value: "disk": must be a standard '
        "resource type or fully qualified",
        'spec.containers[0].resources.requests[disk]: Invalid value: "disk": must be a standard '
        "resource for containers",
    ]


def test_extended_resources_are_whole_and_not_overcommitted() -> None:
    assert with_resources(limits={"example.com/gpu": "1"}, requests={"example.com/gpu": "1"}) == []
    assert with_resources(requests={"example.com/gpu": "1"}) == [
        "spec.containers[0].resources.limits: Required value: Limit must be set for non "
        "overcommitable resources"
    ]
    assert with_resources(limits={"example.com/gpu": "2"}, requests={"example.com/gpu": "1"}) == [
        'spec.containers[0].resources.requests: Invalid value: "1": must be equal to '
        "example.com/gpu limit of 2"
    ]
    assert with_resources(limits={"example.com/gpu": "500m"}) == [
        "spec.containers[0].resources.limits[example.com/gpu]: Invalid value: 500m: must be an "
        "integer"
    ]


# -- probes and lifecycle ------------------------------------------------------------------


def test_probes() -> None:
    assert broken(lambda o: container(o).update(livenessProbe={"successThreshold": 2})) == [
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    ]
    two = {"exec": {"command": ["true"]}, "tcpSocket": {"port": 70000}}
    assert broken(lambda o: container(o).update(readinessProbe=two)) == [
        "spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 "
        "handler type"
    ]
    http = {"httpGet": {"port": "web"}, "periodSeconds": -1}
    obj = pod()
    container(obj)["startupProbe"] = http
    default("", "v1", "Pod", obj)
    assert errors(obj) == [
        "spec.containers[0].startupProbe.periodSeconds: Invalid value: -1: must be greater than "
        "or equal to 0"
    ]


def test_init_containers_may_not_have_probes_unless_sidecars() -> None:
    init = {"name": "i", "image": "busybox", "readinessProbe": {"exec": {"command": ["x"]}}}
    obj = pod(initContainers=[init])
    assert errors(obj) == [
        "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers "
        "without restartPolicy=Always"
    ]
    obj["spec"]["initContainers"][0]["restartPolicy"] = "Always"
    assert errors(obj) == []


# -- updates -------------------------------------------------------------------------------


def test_pod_updates_may_change_images_only() -> None:
    old = pod()
    new = copy.deepcopy(old)
    container(new)["image"] = "nginx:2"
    new["metadata"]["labels"] = {"a": "b"}
    assert errors(new, old) == []
    new["spec"]["restartPolicy"] = "Never"
    assert errors(new, old) == [
        "spec: Forbidden: pod updates may not change fields other than "
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),"
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously "
        "negative)"
    ]


def test_pod_updates_may_add_tolerations_and_lower_the_deadline() -> None:
    old = pod(activeDeadlineSeconds=100)
    new = copy.deepcopy(old)
    new["spec"]["tolerations"] = [{"key": "k", "operator": "Exists"}]
    new["spec"]["activeDeadlineSeconds"] = 50
    assert errors(new, old) == []
    new["spec"]["activeDeadlineSeconds"] = 200
    assert errors(new, old) == [
        "spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous "
        "value"
    ]
    del new["spec"]["activeDeadlineSeconds"]
    assert errors(new, old)[0] == (
        "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive "
        "integer to nil value"
    )


def test_status_updates_leave_the_spec_alone() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running"}
    assert errors(new, old) == []
