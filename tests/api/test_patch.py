"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), checked on the RFCs' own examples.

Both functions return a new document and must leave their inputs alone, including when a
patch fails half-way: the API server applies patches to the stored object it just read.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api.patch import PatchError, json_equal, json_patch, merge_patch

# -- RFC 7386 ----------------------------------------------------------------------------------

# Appendix A, row by row: (original, patch, result).
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_rfc7386_appendix_a(original: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((original, patch))
    assert merge_patch(original, patch) == result
    assert (original, patch) == before


def test_merge_patch_keeps_untouched_members_and_their_order() -> None:
    pod = {"metadata": {"name": "web", "labels": {"a": "1"}}, "spec": {"x": 1}}
    patched = merge_patch(pod, {"metadata": {"labels": {"b": "2"}}})
    assert patched == {
        "metadata": {"name": "web", "labels": {"a": "1", "b": "2"}},
        "spec": {"x": 1},
    }
    assert list(patched) == ["metadata", "spec"]


def test_merge_patch_result_shares_nothing_with_its_inputs() -> None:
    target = {"keep": {"deep": [1, {"x": 1}]}, "merge": {"a": 1}}
    patch = {"merge": {"b": [1, 2]}, "new": {"c": {"d": 1}}}
    before = copy.deepcopy((target, patch))
    result = merge_patch(target, patch)
    result["keep"]["deep"][1]["x"] = 99
    result["merge"]["b"].append(3)
    result["new"]["c"]["d"] = 2
    assert (target, patch) == before


def test_merge_patch_null_deletes_a_missing_member_quietly() -> None:
    assert merge_patch({"a": 1}, {"b": None}) == {"a": 1}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=2), children, max_size=3)
    ),
    max_leaves=10,
)


@given(_JSON, _JSON)
def test_merge_patch_never_mutates_its_inputs(target: Any, patch: Any) -> None:
    before = orjson.dumps([target, patch])
    merge_patch(target, patch)
    assert orjson.dumps([target, patch]) == before


@given(st.dictionaries(st.text(max_size=2), _JSON, max_size=4), _JSON)
def test_merge_patch_is_idempotent(target: dict[str, Any], patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once


# -- RFC 6902 ----------------------------------------------------------------------------------

# Appendix A: (section, document, patch, result).
RFC6902_EXAMPLES = [
    (
        "A.1 adding an object member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2 adding an array element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "A.3 removing an object member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "A.4 removing an array element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5 replacing a value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6 moving a value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7 moving an array element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8 testing a value: success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10 adding a nested member object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11 ignoring unrecognized elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "A.14 ~ escape ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "A.16 adding an array value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]


@pytest.mark.parametrize(
    ("document", "patch", "result"),
    [pytest.param(d, p, r, id=name) for name, d, p, r in RFC6902_EXAMPLES],
)
def test_json_patch_rfc6902_appendix_a(document: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((document, patch))
    assert json_patch(document, patch) == result
    assert (document, patch) == before


# Appendix A's error cases, and more from sections 4 and 5.
RFC6902_ERRORS = [
    (
        "A.9 testing a value: error",
        {"baz": "qux"},
        [{"op": "test", "path": "/baz", "value": "bar"}],
    ),
    (
        "A.12 adding to a nonexistent target",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz/bat", "value": "qux"}],
    ),
    (
        "A.15 comparing strings and numbers",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": "10"}],
    ),
    ("remove a missing member", {"a": 1}, [{"op": "remove", "path": "/b"}]),
    ("remove an index past the end", {"a": [1]}, [{"op": "remove", "path": "/a/1"}]),
    ("remove the whole document", {"a": 1}, [{"op": "remove", "path": ""}]),
    ("replace a missing member", {"a": 1}, [{"op": "replace", "path": "/b", "value": 2}]),
    ("replace at the end marker", {"a": [1]}, [{"op": "replace", "path": "/a/-", "value": 2}]),
    ("add past the end of an array", {"a": [1]}, [{"op": "add", "path": "/a/2", "value": 2}]),
    ("an index with a leading zero", {"a": [1, 2]}, [{"op": "add", "path": "/a/01", "value": 3}]),
    ("a negative index", {"a": [1, 2]}, [{"op": "remove", "path": "/a/-1"}]),
    ("a pointer without a leading slash", {"a": 1}, [{"op": "add", "path": "a", "value": 2}]),
    ("a bad ~ escape", {"a~2": 1}, [{"op": "remove", "path": "/a~2"}]),
    ("descend into a scalar", {"a": 1}, [{"op": "add", "path": "/a/b", "value": 2}]),
    ("move from a missing member", {"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}]),
    ("move into its own child", {"a": {"b": 1}}, [{"op": "move", "from": "/a", "path": "/a/b/c"}]),
    ("move without from", {"a": 1}, [{"op": "move", "path": "/c"}]),
    ("copy from a missing member", {"a": 1}, [{"op": "copy", "from": "/b", "path": "/c"}]),
    ("test a missing member", {"a": 1}, [{"op": "test", "path": "/b", "value": 1}]),
    ("add without a value", {"a": 1}, [{"op": "add", "path": "/b"}]),
    ("an unknown op", {"a": 1}, [{"op": "frobnicate", "path": "/a"}]),
    ("an op without path", {"a": 1}, [{"op": "remove"}]),
    ("a path that is not a string", {"a": 1}, [{"op": "remove", "path": 1}]),
    ("an operation that is not an object", {"a": 1}, ["remove /a"]),
    ("a patch that is not a list", {"a": 1}, {"op": "remove", "path": "/a"}),
]


@pytest.mark.parametrize(
    ("document", "patch"), [pytest.param(d, p, id=name) for name, d, p in RFC6902_ERRORS]
)
def test_json_patch_errors(document: Any, patch: Any) -> None:
    before = copy.deepcopy(document)
    with pytest.raises(PatchError):
        json_patch(document, patch)
    assert document == before


def test_a13_duplicate_op_keys_decode_last_wins_and_fail() -> None:
    # A.13: `{"op": "add", ..., "op": "remove"}`; JSON decoders keep the last member.
    patch = orjson.loads(b'[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]')
    with pytest.raises(PatchError):
        json_patch({"foo": "bar"}, patch)


def test_operations_apply_in_order_and_a_later_failure_changes_nothing() -> None:
    document = {"a": [1], "b": {"c": 1}}
    patch = [
        {"op": "add", "path": "/a/-", "value": 2},
        {"op": "remove", "path": "/b/c"},
        {"op": "test", "path": "/a", "value": [1, 2, 3]},
    ]
    with pytest.raises(PatchError) as caught:
        json_patch(document, patch)
    assert document == {"a": [1], "b": {"c": 1}}
    assert str(caught.value) == "testing value /a failed"
    assert json_patch(document, patch[:2]) == {"a": [1, 2], "b": {}}


def test_the_empty_path_is_the_whole_document() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]
    assert json_patch({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert json_patch({"a": 1}, [{"op": "test", "path": "", "value": {"a": 1}}]) == {"a": 1}
    assert json_patch({"a": 1}, [{"op": "copy", "from": "", "path": "/b"}]) == {
        "a": 1,
        "b": {"a": 1},
    }


def test_pointer_escapes() -> None:
    doc = {"a/b": 1, "m~n": 2}
    assert json_patch(doc, [{"op": "remove", "path": "/a~1b"}]) == {"m~n": 2}
    assert json_patch(doc, [{"op": "replace", "path": "/m~0n", "value": 3}]) == {"a/b": 1, "m~n": 3}


def test_dash_is_a_plain_member_name_in_objects() -> None:
    assert json_patch({}, [{"op": "add", "path": "/-", "value": 1}]) == {"-": 1}


def test_copy_is_deep() -> None:
    result = json_patch({"a": {"b": [1]}}, [{"op": "copy", "from": "/a", "path": "/c"}])
    result["c"]["b"].append(2)
    assert result["a"] == {"b": [1]}


def test_added_values_are_copies_of_the_patch() -> None:
    value = {"x": [1]}
    patch = [{"op": "add", "path": "/a", "value": value}]
    result = json_patch({}, patch)
    result["a"]["x"].append(2)
    assert value == {"x": [1]}


def test_test_compares_json_values_not_python_values() -> None:
    # true is not 1 and 1 is 1.0, in JSON as in upstream's json-patch.
    assert json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]) == {"a": 1}
    with pytest.raises(PatchError):
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": True}])
    with pytest.raises(PatchError):
        json_patch({"a": [False]}, [{"op": "test", "path": "/a", "value": [0]}])
    with pytest.raises(PatchError):
        json_patch({"a": None}, [{"op": "test", "path": "/a", "value": {}}])


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (0, False, False),
        (True, True, True),
        ({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ("1", 1, False),
        (None, None, True),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal


@given(_JSON, st.lists(st.sampled_from(["/a", "/a/0", "/b", "", "/a/-"]), max_size=4))
def test_json_patch_never_mutates_its_input(document: Any, paths: list[str]) -> None:
    before = orjson.dumps(document)
    patch = [{"op": "add", "path": p, "value": {"n": [1]}} for p in paths]
    patch += [{"op": "remove", "path": p} for p in paths]
    with contextlib.suppress(PatchError):
        json_patch(document, patch)
    assert orjson.dumps(document) == before
