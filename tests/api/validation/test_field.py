"""Field errors print as upstream's field.Error.ErrorBody()."""

from __future__ import annotations

import pytest

from kube.api.validation import field


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (-1, "-1"),
        (True, "true"),
        (None, "null"),
        ('a"b', '"a\\"b"'),
        ({"b": "2", "a": "1"}, 'map[string]string{"a":"1", "b":"2"}'),
        (["x", "y"], '[]string{"x", "y"}'),
        (1.5, "1.5"),
        (field.GoRepr("core.Thing{}"), "core.Thing{}"),
    ],
)
def test_values(value: object, printed: str) -> None:
    assert field.go_value(value) == printed


def test_constructors() -> None:
    assert field.required("spec.x").to_dict() == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.x",
    }
    assert field.required("a", "why").message == "Required value: why"
    assert field.invalid("a", 3, "bad").message == "Invalid value: 3: bad"
    assert field.not_supported("a", "x", ["p", "q"]).message == (
        'Unsupported value: "x": supported values: "p", "q"'
    )
    assert field.duplicate("a", "x").message == 'Duplicate value: "x"'
    assert field.not_found("a", "x").message == 'Not found: "x"'
    assert field.forbidden("a", "no").message == "Forbidden: no"
    assert field.too_long("a", 5).message == "Too long: may not be more than 5 bytes"
    assert field.too_many("a", 5, 3).message == "Too many: 5: must have at most 3 items"
    assert field.immutable("a", 1, 1) == []
    assert field.immutable("a", 2, 1)[0].message == "Invalid value: 2: field is immutable"
    assert field.nonnegative("a", -2)[0].message == (
        "Invalid value: -2: must be greater than or equal to 0"
    )
    assert field.nonnegative("a", True) == []


def test_paths() -> None:
    assert (
        field.key(field.index(field.child("spec", "containers"), 0), "cpu")
        == "spec.containers[0][cpu]"
    )
    assert field.child("", "metadata", "name") == "metadata.name"
