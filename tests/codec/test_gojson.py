"""Decode errors worded as upstream's Go readers word them (encoding/json, go-yaml v2)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.codec import gojson, jsonc, yamlc

FIND_KIND = (
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
    'Kind string "json:\\"kind,omitempty\\"" }'
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b'{"a":', "unexpected end of JSON input"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b'{"a":1}}', "invalid character '}' after top-level value"),
        (b"{a:1}", "invalid character 'a' looking for beginning of object key string"),
        (b"not json", "invalid character 'o' in literal null (expecting 'u')"),
        (b"tru", "unexpected end of JSON input"),
        (b"fals3", "invalid character '3' in literal false (expecting 'e')"),
        (b"?", "invalid character '?' looking for beginning of value"),
        (b"'a'", "invalid character '\\'' looking for beginning of value"),
        (b'"\\x"', "invalid character 'x' in string escape code"),
        (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'"a\nb"', "invalid character '\\n' in string literal"),
        (b"-", "unexpected end of JSON input"),
        (b"-x", "invalid character 'x' in numeric literal"),
        (b"1.", "unexpected end of JSON input"),
        (b"1.e", "invalid character 'e' after decimal point in numeric literal"),
        (b"1e+", "unexpected end of JSON input"),
        (b"[1e+x]", "invalid character 'x' in exponent of numeric literal"),
        (b"01", "invalid character '1' after top-level value"),
        (b"\xff", "invalid character '\u00ff' looking for beginning of value"),
    ],
)
def test_syntax_errors_read_as_go_reports_them(data: bytes, message: str) -> None:
    assert gojson.syntax_error(data) == message


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_valid_documents_have_no_syntax_error(doc: object) -> None:
    assert gojson.syntax_error(orjson.dumps(doc)) is None


def test_json_decode_errors_carry_go_words() -> None:
    with pytest.raises(jsonc.DecodeError) as caught:
        jsonc.loads_object(b'{"kind":')
    assert str(caught.value) == (
        "couldn't get version/kind; json parse error: unexpected end of JSON input"
    )
    with pytest.raises(jsonc.DecodeError) as caught:
        jsonc.loads_object(b"[1]")
    assert str(caught.value) == (
        "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go "
        f"value of type {FIND_KIND}"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        # go-yaml v2 counts a parser error's line from 0 and a scanner error's from 1.
        (
            b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n",
            "error converting YAML to JSON: yaml: line 3: did not find expected ',' or ']'",
        ),
        (
            b"a:\n  b: 1\n c: 2\n",
            "error converting YAML to JSON: yaml: line 2: did not find expected key",
        ),
        (
            b"kind: ConfigMap\ndata: a: b\n",
            "error converting YAML to JSON: yaml: line 2: mapping values are not allowed in this "
            "context",
        ),
        (
            b"- a\n- b\n",
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go "
            f"value of type {FIND_KIND}",
        ),
    ],
)
def test_yaml_errors_read_as_go_yaml_reports_them(data: bytes, message: str) -> None:
    with pytest.raises(jsonc.DecodeError) as caught:
        yamlc.loads_object(data)
    assert str(caught.value) == message
