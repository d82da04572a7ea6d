"""Label and field selector parsing against k8s.io/apimachinery/pkg/labels and pkg/fields.

Expected values are upstream's: its grammar (selector_test.go's good and bad strings), its
normalisation (requirements sorted by key, `in` values a sorted set), and its error text,
which reaches users verbatim in a 400 from `kubectl get -l`.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api.selectors import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GT,
    IN,
    LT,
    NOT_EQUALS,
    NOT_IN,
    Requirement,
    SelectorError,
    format_requirements,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
)
from kube.native import match_labels

NAME_PART_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
PREFIX_RULE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
    "'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def parse_error(text: str) -> str:
    with pytest.raises(SelectorError) as caught:
        parse_label_selector(text)
    return str(caught.value)


# -- label selectors: what parses, and to what ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   ", []),
        ("x=a", [("x", EQUALS, ("a",))]),
        ("x==a", [("x", DOUBLE_EQUALS, ("a",))]),
        ("x!=a", [("x", NOT_EQUALS, ("a",))]),
        ("x", [("x", EXISTS, ())]),
        ("!x", [("x", DOES_NOT_EXIST, ())]),
        ("x>1", [("x", GT, ("1",))]),
        ("x<1", [("x", LT, ("1",))]),
        ("x in (a,b)", [("x", IN, ("a", "b"))]),
        ("x notin (a)", [("x", NOT_IN, ("a",))]),
        # selector_test.go's good strings
        ("x=a,y=b,z=c", [("x", EQUALS, ("a",)), ("y", EQUALS, ("b",)), ("z", EQUALS, ("c",))]),
        ("x!=a,y=b", [("x", NOT_EQUALS, ("a",)), ("y", EQUALS, ("b",))]),
        ("x=", [("x", EQUALS, ("",))]),
        ("x= ", [("x", EQUALS, ("",))]),
        ("x=,z= ", [("x", EQUALS, ("",)), ("z", EQUALS, ("",))]),
        ("x= ,z= ", [("x", EQUALS, ("",)), ("z", EQUALS, ("",))]),
        ("x>1,z<5", [("x", GT, ("1",)), ("z", LT, ("5",))]),
        (
            "x in (foo,,baz),y,z notin ()",
            [("x", IN, ("", "baz", "foo")), ("y", EXISTS, ()), ("z", NOT_IN, ("",))],
        ),
        # whitespace: spaces, tabs, CR and LF separate tokens anywhere
        (" x = a , y\t!=\tb ", [("x", EQUALS, ("a",)), ("y", NOT_EQUALS, ("b",))]),
        ("x in(a , b)", [("x", IN, ("a", "b"))]),
        ("\nx\r\n", [("x", EXISTS, ())]),
        ("x=a,!y", [("x", EQUALS, ("a",)), ("y", DOES_NOT_EXIST, ())]),
        ("! x", [("x", DOES_NOT_EXIST, ())]),
        # keys with a DNS-subdomain prefix, dots, underscores
        ("example.com/app.v_1=x", [("example.com/app.v_1", EQUALS, ("x",))]),
        ("app.kubernetes.io/name", [("app.kubernetes.io/name", EXISTS, ())]),
        # `in` and `notin` are only keywords where an operator is expected
        ("in=in", [("in", EQUALS, ("in",))]),
        ("notin in (in,notin)", [("notin", IN, ("in", "notin"))]),
        ("in", [("in", EXISTS, ())]),
        # integers for gt/lt: leading zeros and the int64 bounds
        ("x>007", [("x", GT, ("007",))]),
        ("x<9223372036854775807", [("x", LT, ("9223372036854775807",))]),
    ],
)
def test_parses_like_upstream(text: str, expected: list[Requirement]) -> None:
    assert parse_label_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("x in ()", ("",)),
        ("x in (,)", ("",)),
        ("x in (a,)", ("", "a")),
        ("x in (,a)", ("", "a")),
        ("x in (a,,b)", ("", "a", "b")),
        ("x in (b,a,b)", ("a", "b")),  # a set, sorted
        ("x in (a,,,b)", ("", "a", "b")),
    ],
)
def test_set_values_are_a_sorted_set_with_empty_entries(text: str, values: tuple[str]) -> None:
    assert parse_label_selector(text) == [("x", IN, values)]


def test_requirements_are_sorted_by_key_keeping_the_order_of_equal_keys() -> None:
    assert parse_label_selector("b=1,a=2,b!=3,a") == [
        ("a", EQUALS, ("2",)),
        ("a", EXISTS, ()),
        ("b", EQUALS, ("1",)),
        ("b", NOT_EQUALS, ("3",)),
    ]


# -- label selectors: errors, word for word -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # selector_test.go's bad strings
        (
            "x=a||y=b",  # `|` is an identifier character: the value `a||y` is invalid
            f'unable to parse requirement: values[0][x]: Invalid value: "a||y": {LABEL_VALUE_RULE}',
        ),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' "
            "operators, the value must be an integer",
        ),
        # structure
        ("x=a,", "found '', expected: identifier after ','"),
        ("x=a,,y", "found ',', expected: identifier after ','"),
        (",x", "found ',', expected: !, identifier, or 'end of string'"),
        ("(x)", "found '(', expected: !, identifier, or 'end of string'"),
        ("x y", "unable to parse requirement: found 'y', expected: in, notin, =, ==, !=, gt, lt"),
        (
            "x IN (a)",
            "unable to parse requirement: found 'IN', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("x in a", "unable to parse requirement: found 'a' expected: '('"),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("x in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("x in (a)b", "found 'b', expected: ',' or 'end of string'"),
        ("x=(", "unable to parse requirement: found '(', expected: identifier"),
        ("x===a", "unable to parse requirement: found '=', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("x!a", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("x=a=b", "found '=', expected: ',' or 'end of string'"),
        # gt/lt take one int64 that is also a valid label value
        (
            "x>",
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' "
            "operators, the value must be an integer",
        ),
        (
            "x>9223372036854775808",
            'unable to parse requirement: values[0]: Invalid value: "9223372036854775808": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "x>-1",
            f'unable to parse requirement: values[0][x]: Invalid value: "-1": {LABEL_VALUE_RULE}',
        ),
    ],
)
def test_errors_read_like_upstream(text: str, message: str) -> None:
    assert parse_error(text) == message


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("app:monolith", NAME_PART_RULE),
        ("-x", NAME_PART_RULE),
        ("x-", NAME_PART_RULE),
        ("Foo/bar", PREFIX_RULE),
        ("/bar", "prefix part must be non-empty"),
        ("foo/", f"name part must be non-empty; {NAME_PART_RULE}"),
        ("x" * 64, "name part must be no more than 63 characters"),
        ("x" * 63 + "-", f"name part must be no more than 63 characters; {NAME_PART_RULE}"),
        (
            "a/b/c",
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
            "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
            "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        ("a" * 254 + "/x", "prefix part must be no more than 253 characters"),
    ],
)
def test_invalid_keys_are_reported_with_a_nil_path(key: str, rule: str) -> None:
    # Upstream validates the key with a nil field path, which Go prints as `<nil>`.
    expected = f'unable to parse requirement: <nil>: Invalid value: "{key}": {rule}'
    assert parse_error(f"{key}=x") == expected


def test_a_key_of_exactly_63_characters_is_valid() -> None:
    assert parse_label_selector("k" * 63) == [("k" * 63, EXISTS, ())]


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("x=a:b", "values[0][x]", "a:b"),
        ("x!=-a", "values[0][x]", "-a"),
        ("x in (z_,a)", "values[1][x]", "z_"),  # the index is into the sorted set
        ('x="a"', "values[0][x]", '\\"a\\"'),  # Go's %q escapes the quotes
    ],
)
def test_invalid_values_name_their_index_and_key(text: str, path: str, value: str) -> None:
    expected = f'unable to parse requirement: {path}: Invalid value: "{value}": {LABEL_VALUE_RULE}'
    assert parse_error(text) == expected


def test_values_longer_than_63_characters_are_rejected() -> None:
    long = "v" * 64
    assert parse_error(f"x={long}") == (
        f'unable to parse requirement: values[0][x]: Invalid value: "{long}": '
        "must be no more than 63 characters"
    )
    assert parse_label_selector("x=" + "v" * 63) == [("x", EQUALS, ("v" * 63,))]


def test_several_value_errors_are_aggregated_in_brackets() -> None:
    message = parse_error("x in (-a,-b)")
    assert message == (
        f'unable to parse requirement: [values[0][x]: Invalid value: "-a": {LABEL_VALUE_RULE}, '
        f'values[1][x]: Invalid value: "-b": {LABEL_VALUE_RULE}]'
    )


def test_selector_error_is_a_value_error() -> None:
    assert issubclass(SelectorError, ValueError)


# -- the string form and the round trip -------------------------------------------------------


@pytest.mark.parametrize(
    ("reqs", "text"),
    [
        ([], ""),
        ([("a", EQUALS, ("b",))], "a=b"),
        ([("a", DOUBLE_EQUALS, ("b",))], "a==b"),
        ([("a", NOT_EQUALS, ("",))], "a!="),
        ([("a", EXISTS, ())], "a"),
        ([("a", DOES_NOT_EXIST, ())], "!a"),
        ([("a", IN, ("y", "x"))], "a in (x,y)"),  # values sorted on output
        ([("a", NOT_IN, ("",))], "a notin ()"),
        ([("a", GT, ("1",)), ("b", LT, ("2",))], "a>1,b<2"),
    ],
)
def test_format_requirements(reqs: list[Requirement], text: str) -> None:
    assert format_requirements(reqs) == text


_NAME = st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?", fullmatch=True)
_DNS_LABEL = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?", fullmatch=True)
_PREFIX = st.lists(_DNS_LABEL, min_size=1, max_size=3).map(".".join)
_KEY = st.one_of(_NAME, st.builds("{}/{}".format, _PREFIX, _NAME))
_VALUE = st.one_of(st.just(""), _NAME)
_INT = st.integers(min_value=0, max_value=2**63 - 1).map(str)
_SET = st.frozensets(_VALUE, min_size=1, max_size=4).map(lambda s: tuple(sorted(s)))

_REQUIREMENT = st.one_of(
    st.tuples(_KEY, st.sampled_from([EQUALS, DOUBLE_EQUALS, NOT_EQUALS]), st.tuples(_VALUE)),
    st.tuples(_KEY, st.sampled_from([IN, NOT_IN]), _SET),
    st.tuples(_KEY, st.sampled_from([EXISTS, DOES_NOT_EXIST]), st.just(())),
    st.tuples(_KEY, st.sampled_from([GT, LT]), st.tuples(_INT)),
)


@given(st.lists(_REQUIREMENT, max_size=6).map(lambda rs: sorted(rs, key=lambda r: r[0])))
def test_parsing_the_string_form_gives_the_requirements_back(reqs: list[Requirement]) -> None:
    assert parse_label_selector(format_requirements(reqs)) == reqs


@given(st.lists(_REQUIREMENT, max_size=6))
def test_parsing_is_independent_of_requirement_order(reqs: list[Requirement]) -> None:
    text = format_requirements(reqs)
    assert parse_label_selector(text) == sorted(reqs, key=lambda r: r[0])


def test_parsed_requirements_feed_the_matching_kernel() -> None:
    reqs = parse_label_selector("app=web,tier in (front,back),!canary,rev>2")
    label_sets = [
        {"app": "web", "tier": "front", "rev": "3"},
        {"app": "web", "tier": "front", "rev": "2"},
        {"app": "web", "tier": "db", "rev": "9"},
        {"app": "web", "tier": "back", "rev": "10", "canary": ""},
        {"app": "web", "tier": "back", "rev": "10"},
    ]
    assert match_labels(reqs, label_sets) == [0, 4]


# -- field selectors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        (",", []),
        ("a=b", [("a", EQUALS, ("b",))]),
        ("a==b", [("a", EQUALS, ("b",))]),  # upstream's hasTerm: == is =
        ("a!=b", [("a", NOT_EQUALS, ("b",))]),
        ("a=", [("a", EQUALS, ("",))]),
        ("spec.nodeName=", [("spec.nodeName", EQUALS, ("",))]),
        ("b=2,a=1", [("a", EQUALS, ("1",)), ("b", EQUALS, ("2",))]),  # terms are sorted
        ("a!=\\=b", [("a", NOT_EQUALS, ("=b",))]),
        ("a=b\\,c", [("a", EQUALS, ("b,c",))]),
        ("a=b\\\\", [("a", EQUALS, ("b\\",))]),
        ("a=b\\\\,c=d", [("a", EQUALS, ("b\\",)), ("c", EQUALS, ("d",))]),
        ("a=\\=", [("a", EQUALS, ("=",))]),
        # nothing is trimmed: the spaces belong to the field and the value
        ("a = b", [("a ", EQUALS, (" b",))]),
        # the first operator from the left wins
        ("a!b=c", [("a!b", EQUALS, ("c",))]),
        ("=b", [("", EQUALS, ("b",))]),
        (
            "involvedObject.uid=1,involvedObject.name=web",
            [("involvedObject.name", EQUALS, ("web",)), ("involvedObject.uid", EQUALS, ("1",))],
        ),
    ],
)
def test_field_selectors_parse_like_upstream(text: str, expected: list[Requirement]) -> None:
    assert parse_field_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a", "invalid selector: 'a'; can't understand 'a'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        # unescaped `=` and `,` in a value: Go prints the rune as its code point
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("metadata.name!==x", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
    ],
)
def test_field_selector_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_field_selector(text)
    assert str(caught.value) == message


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@given(st.text(alphabet=st.sampled_from("ab=,\\ !."), max_size=12))
def test_escaped_field_values_come_back_unescaped(value: str) -> None:
    assert parse_field_selector(f"f={_escape(value)},g!={_escape(value)}") == [
        ("f", EQUALS, (value,)),
        ("g", NOT_EQUALS, (value,)),
    ]


# -- API label selectors -----------------------------------------------------------------------


def test_from_label_selector_empty_and_missing() -> None:
    assert from_label_selector(None) == []
    assert from_label_selector({}) == []
    assert from_label_selector({"matchLabels": {}, "matchExpressions": []}) == []


def test_from_label_selector_sorts_by_key_like_label_selector_as_selector() -> None:
    selector = {
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "app", "operator": "Exists"},
            {"key": "zone", "operator": "NotIn", "values": ["b"]},
        ],
    }
    reqs = from_label_selector(selector)
    assert reqs == [
        ("app", EQUALS, ("shop",)),
        ("app", EXISTS, ()),
        ("canary", DOES_NOT_EXIST, ()),
        ("env", IN, ("prod", "dev")),
        ("tier", EQUALS, ("web",)),
        ("zone", NOT_IN, ("b",)),
    ]
    assert (
        format_requirements(reqs)
        == "app=shop,app,!canary,env in (dev,prod),tier=web,zone notin (b)"
    )


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
            '"Equals" is not a valid label selector operator',
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            'values: Invalid value: ["x"]: values set must be empty for exists and does not exist',
        ),
        (
            {"matchLabels": {"bad key": "x"}},
            f'key: Invalid value: "bad key": {NAME_PART_RULE}',
        ),
        (
            {"matchLabels": {"a": "bad value"}},
            f'values[0][a]: Invalid value: "bad value": {LABEL_VALUE_RULE}',
        ),
    ],
)
def test_from_label_selector_validates_like_new_requirement(
    selector: dict[str, object], message: str
) -> None:
    with pytest.raises(SelectorError) as caught:
        from_label_selector(selector)
    assert str(caught.value) == message


def test_from_label_selector_stringifies_values() -> None:
    assert from_label_selector({"matchLabels": {"replicas": 3}}) == [("replicas", EQUALS, ("3",))]
