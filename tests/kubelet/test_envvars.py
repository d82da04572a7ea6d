"""A container's environment as upstream builds it: envFrom, valueFrom, $(VAR) expansion."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kube.kubelet.envvars import EnvError, build_env, expand, field_value, resource_value

OBJECTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("configmap", "ns", "cfg"): {"data": {"MODE": "fast", "LEVEL": "3"}},
    ("secret", "ns", "creds"): {"data": {"PASSWORD": base64.b64encode(b"s3cret").decode()}},
}

POD: dict[str, Any] = {
    "metadata": {
        "name": "p",
        "namespace": "ns",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"team": "blue"},
    },
    "spec": {"nodeName": "n1", "serviceAccountName": "sa"},
    "status": {"podIPs": [{"ip": "10.0.0.2"}, {"ip": "fd00::2"}]},
}


async def source(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    return OBJECTS.get((kind, namespace, name))


async def env_of(container: dict[str, Any]) -> dict[str, str]:
    return await build_env(POD, container, source, pod_ip="10.0.0.2", host_ip="192.0.2.2")


async def test_env_from_configmaps_secrets_and_the_downward_api() -> None:
    env = await env_of(
        {
            "name": "c",
            "envFrom": [
                {"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}},
                {"configMapRef": {"name": "absent", "optional": True}},
            ],
            "env": [
                {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
                {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
                {
                    "name": "OPT",
                    "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "x", "optional": True}},
                },
                {"name": "URL", "value": "$(POD):$(CFG_LEVEL)/$$(POD)/$(NOPE)"},
            ],
        }
    )
    assert env == {
        "CFG_MODE": "fast",
        "CFG_LEVEL": "3",
        "PASSWORD": "s3cret",
        "MODE": "fast",
        "PW": "s3cret",
        "POD": "p",
        "APP": "web",
        "IPS": "10.0.0.2,fd00::2",
        "HOST": "192.0.2.2",
        "SA": "sa",
        "URL": "p:3/$(POD)/$(NOPE)",
    }


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"configMapKeyRef": {"name": "gone", "key": "k"}}, 'configmap "gone" not found'),
        ({"secretKeyRef": {"name": "gone", "key": "k"}}, 'secret "gone" not found'),
        (
            {"configMapKeyRef": {"name": "cfg", "key": "nokey"}},
            "couldn't find key nokey in ConfigMap ns/cfg",
        ),
        (
            {"secretKeyRef": {"name": "creds", "key": "nokey"}},
            "couldn't find key nokey in Secret ns/creds",
        ),
    ],
)
async def test_missing_references_fail_with_upstreams_message(
    ref: dict[str, Any], message: str
) -> None:
    with pytest.raises(EnvError) as failed:
        await env_of({"name": "c", "env": [{"name": "X", "valueFrom": ref}]})
    assert str(failed.value) == message


async def test_env_from_a_missing_configmap_fails_unless_optional() -> None:
    with pytest.raises(EnvError, match='configmap "gone" not found'):
        await env_of({"name": "c", "envFrom": [{"configMapRef": {"name": "gone"}}]})


def test_resource_field_refs_round_up_by_the_divisor() -> None:
    container = {
        "resources": {
            "requests": {"cpu": "250m", "memory": "32Mi"},
            "limits": {"cpu": "1500m", "memory": "64Mi"},
        }
    }
    assert resource_value(container, {"resource": "limits.cpu"}) == "2"
    assert resource_value(container, {"resource": "limits.cpu", "divisor": "1m"}) == "1500"
    assert resource_value(container, {"resource": "requests.cpu", "divisor": "1m"}) == "250"
    assert resource_value(container, {"resource": "limits.memory", "divisor": "1Mi"}) == "64"
    assert resource_value(container, {"resource": "requests.memory"}) == str(32 * 1024 * 1024)
    assert int(resource_value({}, {"resource": "limits.cpu"})) >= 1  # node allocatable


def test_expansion_rules() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)$(B)", env) == "xy"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$$$(A)", env) == "$x"
    assert expand("$(A", env) == "$(A"
    assert expand("a$", env) == "a$"
    assert expand("$x$(", env) == "$x$("


def test_field_refs() -> None:
    assert field_value(POD, "metadata.namespace", "", "") == "ns"
    assert field_value(POD, "metadata.uid", "", "") == "u-1"
    assert field_value(POD, "metadata.annotations['team']", "", "") == "blue"
    assert field_value(POD, "spec.nodeName", "", "") == "n1"
    assert field_value(POD, "status.podIP", "10.0.0.2", "") == "10.0.0.2"
