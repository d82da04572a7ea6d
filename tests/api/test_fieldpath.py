"""Field paths and sets: upstream's FieldsV1 encoding, element order and set algebra."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api.fieldpath import (
    FieldPathError,
    FieldSet,
    PathElement,
    go_json,
    go_string,
    path_string,
    value_key,
)

F = PathElement.field
K = PathElement.key
V = PathElement.value
I = PathElement.index  # noqa: E741


def compact(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"))


# -- elements -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "serialized", "printed"),
    [
        (F("spec"), "f:spec", ".spec"),
        (
            F("kubectl.kubernetes.io/last-applied-configuration"),
            "f:kubectl.kubernetes.io/last-applied-configuration",
            ".kubectl.kubernetes.io/last-applied-configuration",
        ),
        (K({"name": "c"}), 'k:{"name":"c"}', '[name="c"]'),
        # key fields sorted by name, whatever order the item had them in
        (
            K({"protocol": "TCP", "containerPort": 80}),
            'k:{"containerPort":80,"protocol":"TCP"}',
            '[containerPort=80,protocol="TCP"]',
        ),
        (V("finalizer.io/x"), 'v:"finalizer.io/x"', '[="finalizer.io/x"]'),
        (V(3), "v:3", "[=3]"),
        (V(True), "v:true", "[=true]"),
        (V(2.5), "v:2.5", "[=2.5]"),
        (I(0), "i:0", "[0]"),
        # Go's encoding/json escapes HTML characters inside keys; %q quotes in paths
        (K({"name": "<a&b>"}), 'k:{"name":"\\u003ca\\u0026b\\u003e"}', '[name="<a&b>"]'),
        (V("tab\there"), 'v:"tab\\there"', '[="tab\\there"]'),
    ],
)
def test_element_forms(element: PathElement, serialized: str, printed: str) -> None:
    assert element.serialize() == serialized
    assert str(element) == printed
    assert PathElement.deserialize(serialized) == element


def test_elements_sort_as_upstream() -> None:
    # fields < keys < values < indices; values: numbers < strings < booleans < lists < maps < null
    shuffled = [I(0), V(None), V({"a": 1}), V([1]), V(False), V("a"), V(2), K({"a": 1}), F("z")]
    assert sorted(shuffled) == list(reversed(shuffled))
    assert sorted([F("b"), F("B"), F("a")]) == [F("B"), F("a"), F("b")]
    assert sorted([I(10), I(9)]) == [I(9), I(10)]


def test_numbers_compare_numerically_and_booleans_are_not_numbers() -> None:
    assert V(1) == V(1.0)
    assert hash(V(1)) == hash(V(1.0))
    assert V(1) != V(True)
    assert value_key(0) != value_key(False)
    assert K({"port": 80}) == K({"port": 80.0})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("f", "key must be 2 characters long:"),
        ("fx", "missing colon: fx"),
        ("i:x", "invalid syntax"),
    ],
)
def test_bad_elements(text: str, message: str) -> None:
    with pytest.raises(FieldPathError, match=message):
        PathElement.deserialize(text)


def test_unknown_element_types_are_ignored() -> None:
    assert PathElement.deserialize("z:whatever") is None
    assert FieldSet.from_json({"f:a": {}, "z:future": {}}) == FieldSet.of((F("a"),))


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (80.0, "80"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (-0.5, "-0.5"),
        ({"b": [1, None], "a": "\u2028"}, '{"a":"\\u2028","b":[1,null]}'),
    ],
)
def test_go_json(value: Any, encoded: str) -> None:
    assert go_json(value) == encoded


@pytest.mark.parametrize(
    ("value", "printed"),
    [(1e6, "1e+06"), (123456.0, "123456"), (0.0001, "0.0001"), (0.00001, "1e-05"), ("é", '"é"')],
)
def test_go_string(value: Any, printed: str) -> None:
    assert go_string(value) == printed


# -- sets -----------------------------------------------------------------------------------------

CONTAINER = (F("spec"), F("template"), F("spec"), F("containers"), K({"name": "c"}))
DEPLOYMENT = FieldSet.of(
    (F("metadata"), F("labels")),
    (F("metadata"), F("labels"), F("app")),
    CONTAINER,
    (*CONTAINER, F("image")),
    (*CONTAINER, F("name")),
)
# Written by hand from upstream's format: "." marks an element that is owned and has children.
DEPLOYMENT_FIELDS_V1 = (
    '{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":'
    '{"f:containers":{"k:{\\"name\\":\\"c\\"}":{".":{},"f:image":{},"f:name":{}}}}}}}'
)


def test_fields_v1_document() -> None:
    assert compact(DEPLOYMENT.to_json()) == DEPLOYMENT_FIELDS_V1
    assert FieldSet.from_json(json.loads(DEPLOYMENT_FIELDS_V1)) == DEPLOYMENT


def test_fields_v1_orders_members_and_children_together() -> None:
    s = FieldSet.of((F("b"),), (F("a"), F("x")), (K({"k": 1}),), (F("c"),), (F("c"), F("d")))
    assert (
        compact(s.to_json())
        == '{"f:a":{"f:x":{}},"f:b":{},"f:c":{".":{},"f:d":{}},"k:{\\"k\\":1}":{}}'
    )


def test_reading_fields_v1() -> None:
    # "." alone makes a member; duplicate-looking keys collapse; order does not matter
    read = FieldSet.from_json({"f:b": {".": {}}, "f:a": {"f:c": {}, ".": {}}})
    assert read == FieldSet.of((F("b"),), (F("a"),), (F("a"), F("c")))
    assert FieldSet.from_json({}) == FieldSet()
    with pytest.raises(FieldPathError):
        FieldSet.from_json({"f:a": []})
    with pytest.raises(FieldPathError):
        FieldSet.from_json([])


def test_iteration_and_paths() -> None:
    assert [path_string(p) for p in DEPLOYMENT.iterate()] == [
        ".metadata.labels",
        ".metadata.labels.app",
        '.spec.template.spec.containers[name="c"]',
        '.spec.template.spec.containers[name="c"].image',
        '.spec.template.spec.containers[name="c"].name',
    ]
    assert DEPLOYMENT.has(CONTAINER)
    assert not DEPLOYMENT.has(CONTAINER[:-1])
    assert not DEPLOYMENT.has(())
    assert DEPLOYMENT.size() == 5


A, B, C = F("a"), F("b"), F("c")


@pytest.mark.parametrize(
    ("op", "left", "right", "expected"),
    [
        ("union", [(A,)], [(A, B)], [(A,), (A, B)]),
        ("intersection", [(A,), (A, B), (C,)], [(A, B), (C,)], [(A, B), (C,)]),
        ("intersection", [(A,)], [(A, B)], []),
        # upstream's quirks: a parent minus its child is the parent, a child minus its parent stays
        ("difference", [(A,), (A, B)], [(A, B)], [(A,)]),
        ("difference", [(A, B)], [(A,)], [(A, B)]),
        # a recursive difference removes whole subtrees
        ("recursive_difference", [(A, B), (A, C), (C,)], [(A,)], [(C,)]),
        ("recursive_difference", [(A, B), (A, C)], [(A, B)], [(A, C)]),
    ],
)
def test_set_algebra(op: str, left: list[Any], right: list[Any], expected: list[Any]) -> None:
    result = getattr(FieldSet.of(*left), op)(FieldSet.of(*right))
    assert result == FieldSet.of(*expected)


def test_operations_leave_their_operands_alone() -> None:
    left, right = FieldSet.of((A, B)), FieldSet.of((A, C))
    left.union(right).insert((A, F("d")))
    assert left == FieldSet.of((A, B))
    assert right == FieldSet.of((A, C))


def test_leaves() -> None:
    assert DEPLOYMENT.leaves() == FieldSet.of(
        (F("metadata"), F("labels"), F("app")), (*CONTAINER, F("image")), (*CONTAINER, F("name"))
    )


# -- properties -----------------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-(2**53), 2**53),
    # -0.0 is left out: JSON numbers carry no sign of zero, so it comes back as 0.
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != 0 or str(f) == "0.0"),
    st.text(max_size=5),
    st.booleans(),
)
elements = st.one_of(
    st.text(min_size=1, max_size=6).map(F),
    st.dictionaries(st.sampled_from(["name", "port", "protocol"]), scalars, min_size=1).map(K),
    scalars.map(V),
    st.integers(0, 100).map(I),
)
paths = st.lists(elements, min_size=1, max_size=4).map(tuple)
field_sets = st.lists(paths, max_size=12).map(lambda ps: FieldSet.of(*ps))


@given(field_sets)
def test_fields_v1_round_trip(s: FieldSet) -> None:
    document = json.loads(compact(s.to_json()))
    assert FieldSet.from_json(document) == s
    assert compact(FieldSet.from_json(document).to_json()) == compact(s.to_json())


@given(field_sets, field_sets)
def test_set_laws(s: FieldSet, t: FieldSet) -> None:
    union = s.union(t)
    assert all(union.has(p) for p in (*s.iterate(), *t.iterate()))
    assert set(union.iterate()) == set(s.iterate()) | set(t.iterate())
    assert set(s.intersection(t).iterate()) == set(s.iterate()) & set(t.iterate())
    assert s.difference(t).intersection(t).empty()
    assert set(s.difference(t).iterate()) == set(s.iterate()) - set(t.iterate())
    kept = {p for p in s.iterate() if not any(t.has(p[:i]) for i in range(1, len(p) + 1))}
    assert set(s.recursive_difference(t).iterate()) == kept
