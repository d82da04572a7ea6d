"""Validation of the core kinds other than Pod: Service, ConfigMap, Secret, Namespace,
PersistentVolumeClaim, ReplicationController, PodTemplate (upstream's messages)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from kube.api.defaults import default, prepare_update
from kube.api.validation import validate


def errors(kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [
        f"{c.field}: {c.message}" if c.field else c.message
        for c in validate("", "v1", kind, obj, old)
    ]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- Service -------------------------------------------------------------------------------


def service(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }
    default("", "v1", "Service", obj)
    return obj


def test_valid_services() -> None:
    assert errors("Service", service()) == []
    assert errors("Service", service(type="NodePort")) == []
    assert errors("Service", service(clusterIP="None")) == []
    assert (
        errors("Service", service(type="ExternalName", externalName="db.example.com", ports=[]))
        == []
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"ports": []}, ["spec.ports: Required value"]),
        (
            {"ports": [{"port": 70000}]},
            [  # the target port defaulted to the port
                "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535",
            ],
        ),
        (
            {"ports": [{"port": 80, "name": "a"}, {"port": 81}]},
            ["spec.ports[1].name: Required value"],
        ),
        (
            {"ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]},
            ['spec.ports[1].name: Duplicate value: "a"'],
        ),
        (
            {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            [
                'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
                "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, "
                'IntVal:0, StrVal:""}, NodePort:0}'
            ],
        ),
        (
            {"ports": [{"port": 80, "protocol": "HTTP"}]},
            [
                'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", '
                '"TCP", "UDP"'
            ],
        ),
        (
            {"ports": [{"port": 80, "targetPort": "Web"}]},
            ['spec.ports[0].targetPort: Invalid value: "Web": must contain only alpha-numeric'],
        ),
        (
            {"type": "Magic"},
            [
                'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", '
                '"ExternalName", "LoadBalancer", "NodePort"'
            ],
        ),
        (
            {"sessionAffinity": "Cookie"},
            [
                'spec.sessionAffinity: Unsupported value: "Cookie": supported values: "ClientIP", '
                '"None"'
            ],
        ),
        (
            {"selector": {"app": "bad value!"}},
            ['spec.selector: Invalid value: "bad value!": a valid label must be'],
        ),
        (
            {"ports": [{"port": 80, "nodePort": 30080}]},
            ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"],
        ),
        (
            {"clusterIP": "10.0.0.300"},
            [
                'spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, '
                "(e.g. "
                "10.9.8.7 or 2001:db8::ffff)"
            ],
        ),
        (
            {"type": "ExternalName", "ports": []},
            ["spec.externalName: Required value"],
        ),
        (
            {"type": "NodePort", "clusterIP": "None"},
            [
                "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for "
                "NodePort services"
            ],
        ),
        (
            {"ipFamilyPolicy": "TripleStack"},
            [
                'spec.ipFamilyPolicy: Unsupported value: "TripleStack": supported values: '
                '"SingleStack", "PreferDualStack", "RequireDualStack"'
            ],
        ),
    ],
)
def test_broken_services(spec: dict[str, Any], expected: list[str]) -> None:
    got = errors("Service", service(**spec))
    assert len(got) == len(expected), got
    for text, prefix in zip(got, expected, strict=True):
        assert text.startswith(prefix), text


def test_externally_accessible_policies() -> None:
    svc = service()
    svc["spec"]["externalTrafficPolicy"] = "Local"
    assert errors("Service", svc) == [
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for '
        "externally-accessible services"
    ]
    node_port = service(type="NodePort", externalTrafficPolicy="Nearby")
    assert errors("Service", node_port) == [
        'spec.externalTrafficPolicy: Unsupported value: "Nearby": supported values: "Cluster", '
        '"Local"'
    ]


def test_cluster_ip_may_not_change() -> None:
    old = service(clusterIP="10.43.0.10")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.43.0.11"
    prepare_update("", "v1", "Service", new, old)
    assert errors("Service", new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.43.0.11"}: may not change once set'
    ]


def test_an_update_that_leaves_the_cluster_ip_out_keeps_it() -> None:
    old = service(clusterIP="10.43.0.10", type="NodePort")
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = service(type="NodePort")  # as `kubectl replace` sends a hand-written manifest
    prepare_update("", "v1", "Service", new, old)
    assert new["spec"]["clusterIP"] == "10.43.0.10"
    assert new["spec"]["clusterIPs"] == ["10.43.0.10"]
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert errors("Service", new, old) == []


def test_changing_to_cluster_ip_drops_node_ports() -> None:
    old = service(clusterIP="10.43.0.10", type="NodePort")
    old["spec"]["ports"][0]["nodePort"] = 30080
    new = copy.deepcopy(old)
    new["spec"]["type"] = "ClusterIP"
    prepare_update("", "v1", "Service", new, old)
    assert "nodePort" not in new["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in new["spec"]
    assert errors("Service", new, old) == []


# -- ConfigMap and Secret ------------------------------------------------------------------

KEY_MESSAGE = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)


def test_config_map_keys_and_size() -> None:
    cm = {"metadata": {"name": "c"}, "data": {"good.key": "v", "bad key": "v", "..x": "v"}}
    assert errors("ConfigMap", cm) == [
        f'data[bad key]: Invalid value: "bad key": {KEY_MESSAGE}',
        "data[..x]: Invalid value: \"..x\": must not start with '..'",
    ]
    big = {"metadata": {"name": "c"}, "data": {"a": "x" * (1024 * 1024)}}
    assert errors("ConfigMap", big) == []
    big["binaryData"] = {"b": b64("y")}
    assert errors("ConfigMap", big) == ["Too long: may not be more than 1048576 bytes"]
    dup = {"metadata": {"name": "c"}, "data": {"a": "1"}, "binaryData": {"a": b64("1")}}
    assert errors("ConfigMap", dup) == [
        'data[a]: Invalid value: "a": duplicate of key present in binaryData'
    ]


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_immutable_data(kind: str) -> None:
    old = {"metadata": {"name": "c"}, "data": {"a": b64("1")}, "immutable": True}
    default("", "v1", kind, old)
    assert errors(kind, copy.deepcopy(old), old) == []
    new = copy.deepcopy(old)
    new["data"] = {"a": b64("2")}
    assert errors(kind, new, old) == ["data: Forbidden: field is immutable when `immutable` is set"]
    new = copy.deepcopy(old)
    new["immutable"] = False
    assert errors(kind, new, old) == [
        "immutable: Forbidden: field is immutable when `immutable` is set"
    ]
    mutable = {**old, "immutable": False}
    assert errors(kind, {**mutable, "data": {}}, mutable) == []


def test_secret_types() -> None:
    def secret(kind: str, data: dict[str, str], **meta: Any) -> list[str]:
        obj = {"metadata": {"name": "s", **meta}, "type": kind, "data": data}
        return errors("Secret", obj)

    assert secret("Opaque", {"a": b64("x")}) == []
    assert secret("kubernetes.io/tls", {"tls.crt": b64("x")}) == ["data[tls.key]: Required value"]
    assert secret("kubernetes.io/basic-auth", {}) == [
        "data[username]: Required value",
        "data[password]: Required value",
    ]
    assert secret("kubernetes.io/service-account-token", {}) == [
        "metadata.annotations[kubernetes.io/service-account.name]: Required value"
    ]
    assert secret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64("{}")}) == []
    bad_json = secret("kubernetes.io/dockerconfigjson", {".dockerconfigjson": b64("{")})
    assert bad_json[0].startswith(
        'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"'
    )
    assert secret("Opaque", {"a": "not base64!"}) == [
        'data[a]: Invalid value: "<secret contents redacted>": illegal base64 data'
    ]


def test_secret_type_is_immutable() -> None:
    old = {"metadata": {"name": "s"}, "type": "Opaque", "data": {}}
    new = {**old, "type": "example.com/custom"}
    assert errors("Secret", new, old) == [
        'type: Invalid value: "example.com/custom": field is immutable'
    ]


# -- Namespace, PVC, ReplicationController, PodTemplate ------------------------------------


def test_namespace_finalizers() -> None:
    ns = {
        "metadata": {"name": "n"},
        "spec": {"finalizers": ["kubernetes", "example.com/x", "mine"]},
    }
    assert errors("Namespace", ns) == [
        'spec.finalizers: Invalid value: "mine": name is neither a standard finalizer name nor is '
        "it fully qualified"
    ]


def claim(**spec: Any) -> dict[str, Any]:
    obj = {
        "metadata": {"name": "data"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}},
            **spec,
        },
    }
    default("", "v1", "PersistentVolumeClaim", obj)
    return obj


def test_persistent_volume_claims() -> None:
    assert errors("PersistentVolumeClaim", claim()) == []
    assert errors("PersistentVolumeClaim", claim(accessModes=[], resources={})) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]
    assert errors("PersistentVolumeClaim", claim(accessModes=["ReadWriteSome"]))[0].startswith(
        'spec.accessModes: Unsupported value: "ReadWriteSome"'
    )
    assert errors("PersistentVolumeClaim", claim(resources={"requests": {"storage": "0"}})) == [
        'spec.resources[storage]: Invalid value: "0": must be greater than zero'
    ]
    old = claim()
    bigger = claim(resources={"requests": {"storage": "2Gi"}})
    assert errors("PersistentVolumeClaim", bigger, old)[0].startswith(
        "spec: Forbidden: spec is immutable after creation"
    )
    bound = {**old, "status": {"phase": "Bound"}}
    assert errors("PersistentVolumeClaim", bigger, bound) == []
    named = claim(volumeName="pv-1")
    assert errors("PersistentVolumeClaim", named, old) == []  # binding sets it once


def replication_controller(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "metadata": {"name": "rc"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
            **spec,
        },
    }
    default("", "v1", "ReplicationController", obj)
    return obj


def test_replication_controllers() -> None:
    rc = replication_controller()
    assert rc["spec"]["selector"] == {"app": "web"}
    assert errors("ReplicationController", rc) == []
    assert errors(
        "ReplicationController", replication_controller(selector={"app": "db"}, replicas=-1)
    ) == [
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: '
        "`selector` does not match template `labels`",
    ]
    never = replication_controller()
    never["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert errors("ReplicationController", never) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]


def test_pod_templates() -> None:
    template = {"metadata": {"name": "t"}, "template": {"metadata": {"labels": {"a": "b c"}}}}
    default("", "v1", "PodTemplate", template)
    got = errors("PodTemplate", template)
    assert got[0].startswith('template.labels: Invalid value: "b c"')
    assert got[1] == "template.spec.containers: Required value"
