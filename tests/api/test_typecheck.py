"""Wrong JSON types for a kind's fields, found and worded as Go's encoding/json words them."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.typecheck import first_error
from kube.apiserver.fieldtypes import field_type


def error(group: str, kind: str, obj: dict[str, Any]) -> str | None:
    return first_error(obj, field_type(group, "v1", kind))


@pytest.mark.parametrize(
    ("group", "kind", "obj", "message"),
    [
        (
            "",
            "ConfigMap",
            {"data": {"a": True}},
            "json: cannot unmarshal bool into Go struct field ConfigMap.data of type string",
        ),
        (
            "",
            "ConfigMap",
            {"data": "a=1"},
            "json: cannot unmarshal string into Go struct field ConfigMap.data of type "
            "map[string]string",
        ),
        (
            "apps",
            "Deployment",
            {"spec": {"replicas": "3"}},
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of "
            "type int32",
        ),
        (
            "apps",
            "Deployment",
            {"spec": {"replicas": 2.5}},
            "json: cannot unmarshal number 2.5 into Go struct field DeploymentSpec.spec.replicas "
            "of type int32",
        ),
        (
            "",
            "Service",
            {"spec": {"ports": [{"port": 80}, {"port": "81"}]}},
            "json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of "
            "type int32",
        ),
        (
            "",
            "Pod",
            {"spec": {"containers": {"name": "c"}}},
            "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type "
            "[]v1.Container",
        ),
        (
            "",
            "Pod",
            {"metadata": {"labels": {"a": 1}}},
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of "
            "type string",
        ),
        (
            "",
            "Secret",
            {"data": {"a": 1}},
            "json: cannot unmarshal number into Go struct field Secret.data of type []uint8",
        ),
        ("", "Secret", {"data": {"a": "YQ="}}, "illegal base64 data at input byte 3"),
    ],
)
def test_wrong_types_are_worded_as_go(
    group: str, kind: str, obj: dict[str, Any], message: str
) -> None:
    assert error(group, kind, obj) == message


@pytest.mark.parametrize(
    ("group", "kind", "obj"),
    [
        ("", "Service", {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}}),  # int-or-string
        ("", "Service", {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}}),
        ("", "Pod", {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}}}]}}),
        ("", "Pod", {"metadata": {"creationTimestamp": None, "labels": None}}),  # null is zero
        ("", "ConfigMap", {"data": {"a": "1"}, "unknown": 5}),  # unknown fields: not this check
        ("apps", "Deployment", {"spec": {"replicas": 3}}),
        ("", "Secret", {"data": {"a": "YQ=="}, "stringData": {"b": "x"}}),
    ],
)
def test_values_go_accepts(group: str, kind: str, obj: dict[str, Any]) -> None:
    assert error(group, kind, obj) is None


def test_the_first_error_in_document_order_is_reported() -> None:
    obj = {"data": {"b": 1}, "metadata": {"labels": {"a": 2}}}
    assert error("", "ConfigMap", obj) == (
        "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
    )
