"""Unknown-field pruning: what decoding into the Go types drops, with upstream's paths."""

from __future__ import annotations

import pytest

from kube.api import errors, unknownfields
from kube.apiserver.fieldtypes import field_type


def test_prune_drops_undeclared_fields_at_every_depth_and_names_them() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"any": "key"}, "colour": "red"},
        "spec": {
            "containers": [
                {"name": "a", "image": "i"},
                {"name": "b", "image": "i", "imagePolicy": "x", "env": [{"name": "E", "v": 1}]},
            ],
            "nodeSelector": {"disk": "ssd"},
            "extra": True,
        },
    }
    dropped = unknownfields.prune(pod, field_type("", "v1", "Pod"))
    assert dropped == [
        "metadata.colour",
        "spec.containers[1].imagePolicy",
        "spec.containers[1].env[0].v",
        "spec.extra",
    ]
    assert pod["metadata"] == {"name": "p", "labels": {"any": "key"}}
    assert pod["spec"] == {
        "containers": [
            {"name": "a", "image": "i"},
            {"name": "b", "image": "i", "env": [{"name": "E"}]},
        ],
        "nodeSelector": {"disk": "ssd"},
    }
    assert unknownfields.messages(dropped)[0] == 'unknown field "metadata.colour"'


def test_kinds_without_a_schema_keep_everything() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"anything": [1, {"x": 2}]}}
    assert unknownfields.prune(obj, field_type("example.com", "v1", "Widget")) == []
    assert obj["spec"] == {"anything": [1, {"x": 2}]}


def test_preserved_unknown_fields_are_kept() -> None:
    # RawExtension (an admission review's object) and untyped JSON stay as sent.
    review = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "annotations": {"a": "b"}},
        "data": {"k": "dg=="},
        "stringData": {"free": "form"},
    }
    assert unknownfields.prune(review, field_type("", "v1", "Secret")) == []


def test_directive_defaults_to_warn_and_refuses_unknown_values() -> None:
    assert unknownfields.directive("") == "Warn"
    assert unknownfields.directive("Strict") == "Strict"
    with pytest.raises(errors.APIError) as err:
        unknownfields.directive("strict", "PatchOptions")
    assert err.value.code == 422
    assert err.value.message == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "strict": '
        'supported values: "Ignore", "Strict", "Warn"'
    )


def test_strict_error_lists_every_field() -> None:
    err = unknownfields.strict_error(["spec.a", "spec.b"], 'Pod in version "v1" cannot be ...: ')
    assert err.code == 400
    assert err.message.endswith(
        'strict decoding error: unknown field "spec.a", unknown field "spec.b"'
    )
