"""Object metadata validation: upstream's messages for names, labels, annotations, selectors."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.validation import validate
from kube.api.validation.meta import (
    DNS1035_LABEL_MESSAGE,
    DNS1123_LABEL_MESSAGE,
    DNS1123_SUBDOMAIN_MESSAGE,
    go_label_selector,
    name_errors,
    selector_requirements,
    selects,
    validate_annotations,
    validate_label_selector,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def messages(causes: list[Any]) -> list[str]:
    return [f"{c.field}: {c.message}" if c.field else c.message for c in causes]


def test_upstream_message_texts() -> None:
    assert DNS1123_SUBDOMAIN_MESSAGE == (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert "(e.g. 'my-name',  or '123-abc'" in DNS1123_LABEL_MESSAGE
    assert "(e.g. 'my-name',  or 'abc-123'" in DNS1035_LABEL_MESSAGE


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("ConfigMap", "a.b-c", []),
        ("ConfigMap", "A", [DNS1123_SUBDOMAIN_MESSAGE]),
        ("ConfigMap", "x" * 254, ["must be no more than 253 characters"]),
        ("Namespace", "a.b", [DNS1123_LABEL_MESSAGE]),
        ("Namespace", "1abc", []),
        ("StatefulSet", "web.0", [DNS1123_LABEL_MESSAGE]),
        ("Service", "1web", [DNS1035_LABEL_MESSAGE]),
        ("Service", "w" * 64, ["must be no more than 63 characters"]),
        ("ClusterRole", "system:controller:foo", []),
        ("ClusterRole", "a/b", ["may not contain '/'"]),
        ("Role", "..", ["may not be '..'"]),
        ("RoleBinding", "a%b/c", ["may not contain '/'", "may not contain '%'"]),
        ("PersistentVolume", "pv:1", []),
    ],
)
def test_names_by_kind(kind: str, name: str, expected: list[str]) -> None:
    assert name_errors(kind, name) == expected


def test_generate_name_may_end_with_a_dash() -> None:
    assert name_errors("ConfigMap", "web-", prefix=True) == []
    assert name_errors("Namespace", "Web-", prefix=True) == [DNS1123_LABEL_MESSAGE]
    causes = validate_object_meta("ConfigMap", {"generateName": "Web-", "name": "Web-abcde"})
    assert [c.field for c in causes] == ["metadata.generateName", "metadata.name"]


def test_label_value_message_is_upstreams() -> None:
    causes = validate_labels({"app": "bad value!"}, "metadata.labels")
    assert messages(causes) == [f'metadata.labels: Invalid value: "bad value!": {LABEL_VALUE}']
    assert causes[0].reason == "FieldValueInvalid"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web", "example.com/tier": "front", "empty": ""}, []),
        ({"a" * 64: "x"}, ['"' + "a" * 64 + '": name part must be no more than 63 characters']),
        ({"/a": "x"}, ['"/a": prefix part must be non-empty']),
        ({"a/b/c": "x"}, ['"a/b/c": a qualified name']),
        ({"-a": "x"}, [f'"-a": {NAME_PART}']),
        ({"a": "v" * 64}, ['"' + "v" * 64 + '": must be no more than 63 characters']),
    ],
)
def test_labels(labels: dict[str, str], expected: list[str]) -> None:
    got = [c.message.removeprefix("Invalid value: ") for c in validate_labels(labels, "l")]
    assert len(got) == len(expected)
    for text, prefix in zip(got, expected, strict=True):
        assert text.startswith(prefix)


def test_annotations_keys_ignore_case_and_total_size() -> None:
    assert validate_annotations({"Example.COM/Note": "x"}, "metadata.annotations") == []
    big = {"a": "x" * (256 * 1024 - 1)}
    assert validate_annotations(big, "metadata.annotations") == []
    big["b"] = "y"
    assert messages(validate_annotations(big, "metadata.annotations")) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    ]


def test_finalizers_and_owner_references() -> None:
    causes = validate_object_meta(
        "ConfigMap",
        {
            "name": "a",
            "finalizers": ["orphan", "foregroundDeletion", "bad finalizer"],
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "1"},
                {"apiVersion": "", "kind": "", "name": "", "uid": ""},
            ],
        },
    )
    assert messages(causes) == [
        'metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty',
        'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty',
        'metadata.ownerReferences.name: Invalid value: "": name must not be empty',
        'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty',
        f'metadata.finalizers: Invalid value: "bad finalizer": {NAME_PART}',
        'metadata.finalizers: Invalid value: []string{"orphan", "foregroundDeletion", '
        '"bad finalizer"}: finalizer orphan and foregroundDeletion cannot be both set',
    ]


def test_one_controller_owner() -> None:
    ref = {"apiVersion": "v1", "kind": "Pod", "uid": "u", "controller": True}
    causes = validate_object_meta(
        "Pod", {"name": "a", "ownerReferences": [{**ref, "name": "x"}, {**ref, "name": "y"}]}
    )
    assert causes[0].message.endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "Pod/x and Pod/y"
    )


def test_update_rules() -> None:
    old = {"name": "a", "deletionTimestamp": "2024-01-01T00:00:00Z", "finalizers": ["a.io/x"]}
    new = {**old, "finalizers": ["a.io/x", "b.io/y"], "generation": 1}
    assert messages(validate_object_meta_update(new, {**old, "generation": 2})) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
        'deleted, found new finalizers []string{"b.io/y"}',
        "metadata.generation: Invalid value: 1: must not be decremented",
    ]


def test_names_are_not_checked_again_on_update() -> None:
    bad = {"metadata": {"name": "Bad"}}
    assert validate("", "v1", "ConfigMap", bad, bad) == []
    assert messages(validate("", "v1", "ConfigMap", bad, None)) == [
        f'metadata.name: Invalid value: "Bad": {DNS1123_SUBDOMAIN_MESSAGE}'
    ]


def test_every_kind_gets_metadata_validation() -> None:
    lease = {"metadata": {"name": "l", "labels": {"a": "bad value!"}}}
    assert messages(validate("coordination.k8s.io", "v1", "Lease", lease)) == [
        f'metadata.labels: Invalid value: "bad value!": {LABEL_VALUE}'
    ]


# -- label selectors -----------------------------------------------------------------------


def test_selector_validation() -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": []},
            {"key": "tier", "operator": "Exists", "values": ["x"]},
            {"key": "tier", "operator": "Near", "values": ["x"]},
            {"key": "bad key!", "operator": "NotIn", "values": ["bad value!"]},
        ],
    }
    assert messages(validate_label_selector(selector, "spec.selector")) == [
        "spec.selector.matchExpressions[0].values: Required value: must be specified when "
        "`operator` is 'In' or 'NotIn'",
        "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when "
        "`operator` is 'Exists' or 'DoesNotExist'",
        'spec.selector.matchExpressions[2].operator: Invalid value: "Near": not a valid selector '
        "operator",
        f'spec.selector.matchExpressions[3].key: Invalid value: "bad key!": {NAME_PART}',
        f'spec.selector.matchExpressions[3].values[0]: Invalid value: "bad value!": {LABEL_VALUE}',
    ]


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        ({}, {"anything": "x"}, True),
    ],
)
def test_selector_matching(selector: dict[str, Any], labels: dict[str, str], matches: bool) -> None:
    requirements = selector_requirements(selector)
    assert requirements is not None
    assert selects(requirements, labels) == matches


def test_invalid_selectors_do_not_convert() -> None:
    assert selector_requirements({"matchExpressions": [{"key": "a", "operator": "Near"}]}) is None
    assert selector_requirements("app=web") is None


def test_selector_as_upstream_prints_it() -> None:
    assert go_label_selector({"matchLabels": {"b": "2", "a": "1"}}) == (
        'v1.LabelSelector{MatchLabels:map[string]string{"a":"1", "b":"2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
    )
    assert go_label_selector(
        {"matchExpressions": [{"key": "k", "operator": "In", "values": ["x"]}]}
    ) == (
        "v1.LabelSelector{MatchLabels:map[string]string(nil), "
        'MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", '
        'Operator:"In", Values:[]string{"x"}}}}'
    )
