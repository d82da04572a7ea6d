"""Core defaults against upstream's pkg/apis/core/v1/defaults_test.go cases."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from kube.api.defaults import default, prepare_update
from kube.api.defaults.core import canonical_quantity, image_tag


def defaulted(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    default("", "v1", kind, obj)
    return obj


POD_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}
CONTAINER_DEFAULTS = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}


def test_pod() -> None:
    pod = defaulted(
        "Pod",
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    )
    assert pod["spec"] == {
        "containers": [
            {"name": "c", "image": "nginx", "imagePullPolicy": "Always", **CONTAINER_DEFAULTS}
        ],
        "enableServiceLinks": True,
        **POD_SPEC_DEFAULTS,
    }


def test_set_values_are_kept() -> None:
    spec = {
        "containers": [
            {
                "name": "c",
                "image": "nginx:latest",
                "imagePullPolicy": "Never",
                "terminationMessagePath": "/x",
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
        "enableServiceLinks": False,
        "dnsPolicy": "Default",
        "restartPolicy": "Never",
        "securityContext": {"runAsUser": 1},
        "terminationGracePeriodSeconds": 0,
        "schedulerName": "mine",
    }
    pod = defaulted("Pod", {"spec": copy.deepcopy(spec)})
    assert pod["spec"] == spec


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("registry.example.com:5000/team/app", "Always"),
        ("registry.example.com:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
        ("localhost/app", "Always"),
        ("Nginx", "IfNotPresent"),  # does not parse: no tag known
        ("", "IfNotPresent"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    pod = defaulted("Pod", {"spec": {"containers": [{"name": "c", "image": image}]}})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_image_tags() -> None:
    assert image_tag("busybox") == "latest"
    assert image_tag("docker.io/library/busybox:1.36") == "1.36"
    assert image_tag("busybox@sha256:" + "0" * 64) == ""


def test_container_parts() -> None:
    probe = {"httpGet": {"port": 80}}
    pod = defaulted(
        "Pod",
        {
            "spec": {
                "initContainers": [
                    {
                        "name": "i",
                        "image": "busybox:1",
                        "ports": [{"containerPort": 53, "protocol": "UDP"}],
                    }
                ],
                "containers": [
                    {
                        "name": "c",
                        "image": "nginx:1",
                        "ports": [{"containerPort": 80}],
                        "env": [
                            {
                                "name": "NODE",
                                "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                            }
                        ],
                        "livenessProbe": copy.deepcopy(probe),
                        "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                        "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/stop"}}},
                    }
                ],
            }
        },
    )
    init, c = pod["spec"]["initContainers"][0], pod["spec"]["containers"][0]
    assert init["ports"] == [{"containerPort": 53, "protocol": "UDP"}]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["env"][0]["valueFrom"]["fieldRef"] == {
        "fieldPath": "spec.nodeName",
        "apiVersion": "v1",
    }
    assert c["livenessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/stop", "scheme": "HTTP"}


def test_volumes() -> None:
    pod = defaulted(
        "Pod",
        {
            "spec": {
                "containers": [],
                "volumes": [
                    {"name": "scratch"},
                    {"name": "cfg", "configMap": {"name": "c"}},
                    {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
                    {"name": "host", "hostPath": {"path": "/var"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1024Mi"}},
                    {
                        "name": "info",
                        "downwardAPI": {
                            "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]
                        },
                    },
                    {
                        "name": "token",
                        "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]},
                    },
                    {
                        "name": "claim",
                        "ephemeral": {
                            "volumeClaimTemplate": {
                                "spec": {"resources": {"requests": {"storage": "1G"}}}
                            }
                        },
                    },
                ],
            }
        },
    )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert volumes["cfg"]["configMap"] == {"name": "c", "defaultMode": 420}
    assert volumes["sec"]["secret"] == {"secretName": "s", "defaultMode": 256}
    assert volumes["host"]["hostPath"] == {"path": "/var", "type": ""}
    assert volumes["tmp"]["emptyDir"] == {"sizeLimit": "1Gi"}
    assert volumes["info"]["downwardAPI"] == {
        "items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name", "apiVersion": "v1"}}],
        "defaultMode": 420,
    }
    assert volumes["token"]["projected"] == {
        "sources": [{"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}}],
        "defaultMode": 420,
    }
    assert (
        volumes["claim"]["ephemeral"]["volumeClaimTemplate"]["spec"]["volumeMode"] == "Filesystem"
    )


def test_pod_requests_default_to_limits_and_quantities_are_canonical() -> None:
    pod = defaulted(
        "Pod",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "image": "x",
                        "resources": {
                            "limits": {"cpu": "0.5", "memory": "1024Mi"},
                            "requests": {"memory": 134217728},
                        },
                    }
                ],
                "overhead": {"cpu": "100u"},
            }
        },
    )
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"},
        "requests": {"memory": "134217728", "cpu": "500m"},
    }
    assert pod["spec"]["overhead"] == {"cpu": "1m"}  # rounded up to milli-units


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1.5", "1500m"),
        ("100m", "100m"),
        ("0.0001", "1m"),
        ("2e3", "2e3"),
        (1, "1"),
        ("bad", "bad"),
    ],
)
def test_canonical_quantities(value: object, text: object) -> None:
    assert canonical_quantity(value) == text


def test_host_network_pods_publish_container_ports() -> None:
    pod = defaulted(
        "Pod",
        {
            "spec": {
                "hostNetwork": True,
                "containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 8080}]}],
            }
        },
    )
    assert pod["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}
    ]


def test_templates_get_no_pod_only_defaults() -> None:
    template = defaulted(
        "PodTemplate",
        {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "c", "image": "x:1", "resources": {"limits": {"cpu": "1"}}}
                    ]
                }
            }
        },
    )
    spec = template["template"]["spec"]
    assert "enableServiceLinks" not in spec
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}
    assert spec["restartPolicy"] == "Always"


# -- Service -------------------------------------------------------------------------------


def test_service() -> None:
    svc = defaulted(
        "Service",
        {
            "metadata": {"name": "web"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": "dns"}],
            },
        },
    )
    assert svc["spec"] == {
        "selector": {"app": "web"},
        "ports": [
            {"port": 80, "protocol": "TCP", "targetPort": 80},
            {"port": 53, "protocol": "UDP", "targetPort": "dns"},
        ],
        "sessionAffinity": "None",
        "type": "ClusterIP",
        "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }
    assert svc["status"] == {"loadBalancer": {}}


def test_service_types() -> None:
    node_port = defaulted("Service", {"spec": {"type": "NodePort", "ports": [{"port": 80}]}})
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    balancer = defaulted("Service", {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})
    assert balancer["spec"]["allocateLoadBalancerNodePorts"] is True
    external = defaulted(
        "Service", {"spec": {"type": "ExternalName", "externalName": "db.example.com"}}
    )
    assert external["spec"] == {
        "type": "ExternalName",
        "externalName": "db.example.com",
        "sessionAffinity": "None",
    }
    sticky = defaulted(
        "Service", {"spec": {"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}}
    )
    assert sticky["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    headless = defaulted("Service", {"spec": {"clusterIP": "None", "ports": [{"port": 80}]}})
    assert headless["spec"]["clusterIPs"] == ["None"]
    v6 = defaulted("Service", {"spec": {"clusterIPs": ["fd00::10"], "ports": [{"port": 80}]}})
    assert (v6["spec"]["clusterIP"], v6["spec"]["ipFamilies"]) == ("fd00::10", ["IPv6"])


def test_service_update_carries_allocations_over() -> None:
    old = defaulted(
        "Service",
        {
            "spec": {
                "type": "NodePort",
                "clusterIP": "10.43.0.7",
                "ports": [{"port": 80, "nodePort": 30001}, {"port": 443, "nodePort": 30002}],
            }
        },
    )
    new: dict[str, Any] = {"spec": {"type": "NodePort", "ports": [{"port": 443}, {"port": 80}]}}
    prepare_update("", "v1", "Service", new, old)
    assert new["spec"]["clusterIP"] == "10.43.0.7"
    assert [p["nodePort"] for p in new["spec"]["ports"]] == [30002, 30001]


# -- other core kinds ----------------------------------------------------------------------


def test_secret() -> None:
    secret = defaulted("Secret", {"data": {"a": "MQ=="}, "stringData": {"b": "two", "a": "one"}})
    assert secret == {
        "type": "Opaque",
        "data": {"a": base64.b64encode(b"one").decode(), "b": base64.b64encode(b"two").decode()},
    }
    assert defaulted("Secret", {"type": "kubernetes.io/tls"})["type"] == "kubernetes.io/tls"


def test_namespace() -> None:
    ns = defaulted(
        "Namespace", {"metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "x"}}}
    )
    assert ns == {
        "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
        "status": {"phase": "Active"},
    }
    assert defaulted("Namespace", {"metadata": {"generateName": "t-"}})["metadata"] == {
        "generateName": "t-"
    }


def test_persistent_volumes_and_claims() -> None:
    claim = defaulted(
        "PersistentVolumeClaim", {"spec": {"resources": {"requests": {"storage": "1000Mi"}}}}
    )
    assert claim == {
        "spec": {"resources": {"requests": {"storage": "1000Mi"}}, "volumeMode": "Filesystem"},
        "status": {"phase": "Pending"},
    }
    volume = defaulted(
        "PersistentVolume", {"spec": {"capacity": {"storage": "1.5Gi"}, "hostPath": {"path": "/d"}}}
    )
    assert volume == {
        "spec": {
            "capacity": {"storage": "1536Mi"},
            "hostPath": {"path": "/d", "type": ""},
            "persistentVolumeReclaimPolicy": "Retain",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Pending"},
    }


def test_replication_controller() -> None:
    rc = defaulted(
        "ReplicationController",
        {"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"app": "x"}}}}},
    )
    assert rc["metadata"]["labels"] == {"app": "x"}
    assert rc["spec"]["selector"] == {"app": "x"}
    assert rc["spec"]["replicas"] == 1
    assert rc["spec"]["template"]["spec"]["restartPolicy"] == "Always"


def test_endpoints_limit_ranges_nodes_and_quotas() -> None:
    endpoints = defaulted("Endpoints", {"subsets": [{"ports": [{"port": 80}]}]})
    assert endpoints["subsets"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    limits = defaulted(
        "LimitRange",
        {
            "spec": {
                "limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "0.5Gi"}}]
            }
        },
    )
    item = limits["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "512Mi"}
    node = defaulted("Node", {"status": {"capacity": {"cpu": "4", "memory": "8192Mi"}}})
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}
    quota = defaulted("ResourceQuota", {"spec": {"hard": {"requests.cpu": "1000m"}}})
    assert quota["spec"]["hard"] == {"requests.cpu": "1"}


# -- the v1 conversions that keep a single field and its list in step -----------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"podIP": "10.0.0.1"}, {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}),
        ({"podIPs": [{"ip": "10.0.0.1"}]}, {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}]}),
        (
            {"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]},
            {"podIP": "10.0.0.2", "podIPs": [{"ip": "10.0.0.2"}]},
        ),
        ({"hostIP": "192.0.2.1"}, {"hostIP": "192.0.2.1", "hostIPs": [{"ip": "192.0.2.1"}]}),
        ({"phase": "Pending"}, {"phase": "Pending"}),
    ],
)
def test_pod_ip_and_ips_mirror_each_other(
    status: dict[str, object], expected: dict[str, object]
) -> None:
    pod = defaulted(
        "Pod", {"spec": {"containers": [{"name": "c", "image": "i"}]}, "status": status}
    )
    assert pod["status"] == expected


def test_node_pod_cidr_and_cidrs_mirror_each_other() -> None:
    node = defaulted("Node", {"spec": {"podCIDR": "10.244.0.0/24"}})
    assert node["spec"] == {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
    node = defaulted("Node", {"spec": {"podCIDRs": ["10.244.1.0/24", "fd00::/64"]}})
    assert node["spec"]["podCIDR"] == "10.244.1.0/24"
