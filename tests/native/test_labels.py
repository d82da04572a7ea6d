"""Label and field selector matching (kube.native.labels), on both implementations.

Cases follow upstream's k8s.io/apimachinery/pkg/labels and pkg/fields selector tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.native import Operator
from tests.native.conftest import IMPLEMENTATIONS, implementation

MatchFn = Callable[..., list[int]]


@pytest.fixture(params=IMPLEMENTATIONS, scope="module")
def match_labels(request: pytest.FixtureRequest) -> MatchFn:
    fn: MatchFn = implementation("match_labels", request.param)
    return fn


@pytest.fixture(params=IMPLEMENTATIONS, scope="module")
def match_fields(request: pytest.FixtureRequest) -> MatchFn:
    fn: MatchFn = implementation("match_fields", request.param)
    return fn


def matches(
    match_labels: MatchFn, requirement: tuple[str, str, Any], labels: dict[str, str]
) -> bool:
    return match_labels([requirement], [labels]) == [0]


# (requirement, labels, matches), as in upstream's TestRequirementMatches / TestSelectorMatches.
LABEL_CASES = [
    (("x", "=", ("y",)), {"x": "y"}, True),
    (("x", "==", ("y",)), {"x": "y"}, True),
    (("x", "=", ("y",)), {"x": "z"}, False),
    (("x", "=", ("y",)), {}, False),
    (("x", "=", ("",)), {"x": ""}, True),
    (("x", "!=", ("y",)), {"x": "z"}, True),
    (("x", "!=", ("y",)), {}, True),  # != matches an absent key
    (("x", "!=", ("y",)), {"x": "y"}, False),
    (("x", "in", ("a", "b")), {"x": "b"}, True),
    (("x", "in", frozenset({"a", "b"})), {"x": "a"}, True),
    (("x", "in", ("a", "b")), {"x": "c"}, False),
    (("x", "in", ("a", "b")), {"y": "a"}, False),
    (("x", "notin", ("a", "b")), {"x": "c"}, True),
    (("x", "notin", ("a", "b")), {}, True),  # notin matches an absent key
    (("x", "notin", ("a", "b")), {"x": "a"}, False),
    (("x", "exists", ()), {"x": ""}, True),
    (("x", "exists", ()), {"y": "x"}, False),
    (("x", "!", ()), {"y": "x"}, True),
    (("x", "!", ()), {"x": "y"}, False),
    (("x", "gt", ("1",)), {"x": "2"}, True),
    (("x", "gt", ("1",)), {"x": "1"}, False),
    (("x", "gt", ("1",)), {"x": "0"}, False),
    (("x", "gt", ("1",)), {}, False),
    (("x", "lt", ("1",)), {"x": "0"}, True),
    (("x", "lt", ("1",)), {"x": "-5"}, True),
    (("x", "lt", ("1",)), {"x": "1"}, False),
    (("x", "lt", ("-1",)), {"x": "-2"}, True),
    # Go's strconv.ParseInt(s, 10, 64): sign, ASCII digits, int64 range; nothing else.
    (("x", "gt", ("4",)), {"x": "+5"}, True),
    (("x", "gt", ("11",)), {"x": "0" * 40 + "12"}, True),
    (("x", "gt", ("1",)), {"x": "a"}, False),
    (("x", "gt", ("1",)), {"x": ""}, False),
    (("x", "gt", ("1",)), {"x": "-"}, False),
    (("x", "gt", ("1",)), {"x": " 5"}, False),
    (("x", "gt", ("1",)), {"x": "5 "}, False),
    (("x", "gt", ("1",)), {"x": "5\n"}, False),
    (("x", "gt", ("1",)), {"x": "5_0"}, False),
    (("x", "gt", ("1",)), {"x": "0x5"}, False),
    (("x", "gt", ("1",)), {"x": "5.0"}, False),
    (("x", "gt", ("1",)), {"x": "\u0665"}, False),  # ARABIC-INDIC DIGIT FIVE
    (("x", "gt", ("1",)), {"x": "\udc80"}, False),  # a lone surrogate
    (("x", "gt", ("0",)), {"x": "9223372036854775807"}, True),
    (("x", "gt", ("0",)), {"x": "9223372036854775808"}, False),  # out of int64
    (("x", "lt", ("0",)), {"x": "-9223372036854775808"}, True),
    (("x", "lt", ("0",)), {"x": "-9223372036854775809"}, False),
    (("x", "gt", ("-9223372036854775808",)), {"x": "-9223372036854775807"}, True),
    # The bound must be exactly one integer, otherwise nothing matches.
    (("x", "gt", ("a",)), {"x": "5"}, False),
    (("x", "gt", ("1", "2")), {"x": "5"}, False),
    (("x", "gt", ()), {"x": "5"}, False),
    (("x", "lt", ("99999999999999999999",)), {"x": "5"}, False),
    # matchExpressions spell the operators In, NotIn, Exists, DoesNotExist (and Gt, Lt).
    (("x", "In", ("a", "b")), {"x": "b"}, True),
    (("x", "NotIn", ("a", "b")), {}, True),
    (("x", "NotIn", ("a", "b")), {"x": "a"}, False),
    (("x", "Exists", ()), {"x": ""}, True),
    (("x", "DoesNotExist", ()), {"x": ""}, False),
    (("x", "Gt", ("1",)), {"x": "2"}, True),
    (("x", "Lt", ("1",)), {"x": "2"}, False),
]


@pytest.mark.parametrize(("requirement", "labels", "expected"), LABEL_CASES)
def test_requirement_semantics(
    match_labels: MatchFn, requirement: tuple[str, str, Any], labels: dict[str, str], expected: bool
) -> None:
    assert matches(match_labels, requirement, labels) is expected


def test_selector_is_the_and_of_its_requirements(match_labels: MatchFn) -> None:
    selector = [("app", "in", ("web", "api")), ("tier", "=", ("frontend",)), ("canary", "!", ())]
    label_sets = [
        {"app": "web", "tier": "frontend"},
        {"app": "api", "tier": "frontend", "canary": "true"},
        {"app": "api", "tier": "backend"},
        {"app": "db", "tier": "frontend"},
        {"app": "api", "tier": "frontend", "version": "2"},
    ]
    assert match_labels(selector, label_sets) == [0, 4]


def test_empty_selector_matches_everything(match_labels: MatchFn) -> None:
    assert match_labels([], [{}, {"a": "b"}, {"c": "d"}]) == [0, 1, 2]
    assert match_labels([("a", "exists", ())], []) == []


def test_operator_enum_members_are_accepted(match_labels: MatchFn) -> None:
    selector = [("a", Operator.IN, ("1",)), ("b", Operator.DOES_NOT_EXIST, ())]
    assert match_labels(selector, [{"a": "1"}, {"a": "1", "b": "2"}]) == [0]


@pytest.mark.parametrize("op", ["IN", "=~", "", "notIn", "GT", "Equals"])
def test_unknown_operator_raises_before_matching(match_labels: MatchFn, op: str) -> None:
    with pytest.raises(ValueError, match=f"unknown label selector operator {op!r}"):
        match_labels([("a", "exists", ()), ("a", op, ("1",))], [])


def test_any_mapping_and_any_iterable(match_labels: MatchFn) -> None:
    class Labels(Mapping[str, str]):
        def __init__(self, data: dict[str, str]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> str:
            return self._data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    label_sets: list[Mapping[str, str]] = [
        MappingProxyType({"a": "1"}),
        Labels({"a": "2"}),
        Labels({"b": "1"}),
        {"a": "1"},
    ]
    selector = [("a", "in", ("1", "2")), ("b", "!=", ("1",))]
    assert match_labels(selector, label_sets) == [0, 1, 3]
    assert match_labels(selector, iter(label_sets)) == [0, 1, 3]
    assert match_labels(iter(selector), tuple(label_sets)) == [0, 1, 3]


# -- field selectors ------------------------------------------------------------------------


def test_field_selector_semantics(match_fields: MatchFn) -> None:
    pods = [
        {"metadata.name": "a", "metadata.namespace": "default", "spec.nodeName": "n1"},
        {"metadata.name": "b", "metadata.namespace": "default"},
        {"metadata.name": "c", "metadata.namespace": "kube-system", "spec.nodeName": "n2"},
    ]
    assert match_fields([("metadata.namespace", "=", "default")], pods) == [0, 1]
    assert match_fields([("metadata.namespace", "==", "default")], pods) == [0, 1]
    assert match_fields([("metadata.namespace", "!=", "default")], pods) == [2]
    # An absent field reads as "": spec.nodeName= selects unscheduled pods.
    assert match_fields([("spec.nodeName", "=", "")], pods) == [1]
    assert match_fields([("spec.nodeName", "!=", "")], pods) == [0, 2]
    assert match_fields([("spec.nodeName", "!=", "n1")], pods) == [1, 2]
    both = [("metadata.namespace", "=", "default"), ("spec.nodeName", "!=", "n1")]
    assert match_fields(both, pods) == [1]
    assert match_fields([], pods) == [0, 1, 2]


@pytest.mark.parametrize("op", ["in", "notin", "exists", "gt", ""])
def test_field_selector_unknown_operator(match_fields: MatchFn, op: str) -> None:
    with pytest.raises(ValueError, match=f"unknown field selector operator {op!r}"):
        match_fields([("a", op, "1")], [{"a": "1"}])


# -- the two implementations agree ----------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c"])
VALUES = st.sampled_from(
    ["", "1", "2", "10", "-3", "+4", "007", "x", "y", "\u0663", " 1", "9223372036854775808"]
)
LABEL_OPS = st.sampled_from(
    [*Operator, "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "bogus"]
)
LABEL_SETS = st.lists(st.dictionaries(KEYS, VALUES, max_size=3), max_size=8)


def outcome(fn: MatchFn, *args: Any) -> object:
    try:
        return fn(*args)
    except ValueError as error:
        return ("ValueError", str(error))


@given(
    requirements=st.lists(
        st.tuples(KEYS, LABEL_OPS, st.lists(VALUES, max_size=3).map(tuple)), max_size=4
    ),
    label_sets=LABEL_SETS,
)
def test_label_implementations_agree(
    requirements: list[tuple[str, str, tuple[str, ...]]], label_sets: list[dict[str, str]]
) -> None:
    reference = implementation("match_labels", "reference")
    native = implementation("match_labels", "native")
    assert outcome(native, requirements, label_sets) == outcome(reference, requirements, label_sets)


@given(
    requirements=st.lists(
        st.tuples(KEYS, st.sampled_from(["=", "==", "!=", "in"]), VALUES), max_size=3
    ),
    field_sets=LABEL_SETS,
)
def test_field_implementations_agree(
    requirements: list[tuple[str, str, str]], field_sets: list[dict[str, str]]
) -> None:
    reference = implementation("match_fields", "reference")
    native = implementation("match_fields", "native")
    assert outcome(native, requirements, field_sets) == outcome(reference, requirements, field_sets)


@given(value=st.text(alphabet="+-0123456789 x_\u0663", max_size=25), bound=VALUES)
def test_integer_parsing_agrees(value: str, bound: str) -> None:
    reference = implementation("match_labels", "reference")
    native = implementation("match_labels", "native")
    for op in ("gt", "lt"):
        args = ([("k", op, (bound,))], [{"k": value}])
        assert native(*args) == reference(*args)
