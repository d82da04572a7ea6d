"""Resource quantities against upstream's quantity_test.go tables.

The cases are k8s.io/apimachinery/pkg/api/resource's: TestQuantityParse (value and format),
TestQuantityParseEmit and TestQuantityString (canonical text), the invalid inputs, the
RoundUp and Cmp tables, and parseQuantityString's splits.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api.quantity import (
    BINARY_SI,
    DECIMAL_EXPONENT,
    DECIMAL_SI,
    ERR_FORMAT_WRONG,
    ERR_SUFFIX,
    Quantity,
    QuantityError,
    _scan,
    canonical,
    parse,
    parse_value,
    try_parse,
)

MAX_INT64 = 2**63 - 1


def dec(mantissa: int, exponent: int) -> Decimal:
    return Decimal(mantissa).scaleb(exponent)


PARSE = [
    ("0", dec(0, 0), DECIMAL_SI),
    ("0n", dec(0, 0), DECIMAL_SI),
    ("0u", dec(0, 0), DECIMAL_SI),
    ("0m", dec(0, 0), DECIMAL_SI),
    ("0Ki", dec(0, 0), BINARY_SI),
    ("0k", dec(0, 0), DECIMAL_SI),
    ("0Mi", dec(0, 0), BINARY_SI),
    ("0M", dec(0, 0), DECIMAL_SI),
    ("0Gi", dec(0, 0), BINARY_SI),
    ("0G", dec(0, 0), DECIMAL_SI),
    ("0Ti", dec(0, 0), BINARY_SI),
    ("0T", dec(0, 0), DECIMAL_SI),
    ("1", dec(1, 0), DECIMAL_SI),
    ("1Ki", dec(1024, 0), BINARY_SI),
    ("8Ki", dec(8 * 1024, 0), BINARY_SI),
    ("7Mi", dec(7 * 1024**2, 0), BINARY_SI),
    ("6Gi", dec(6 * 1024**3, 0), BINARY_SI),
    ("5Ti", dec(5 * 1024**4, 0), BINARY_SI),
    ("4Pi", dec(4 * 1024**5, 0), BINARY_SI),
    ("3Ei", dec(3 * 1024**6, 0), BINARY_SI),
    ("10Ti", dec(10 * 1024**4, 0), BINARY_SI),
    ("100Ti", dec(100 * 1024**4, 0), BINARY_SI),
    ("5n", dec(5, -9), DECIMAL_SI),
    ("4u", dec(4, -6), DECIMAL_SI),
    ("3m", dec(3, -3), DECIMAL_SI),
    ("9", dec(9, 0), DECIMAL_SI),
    ("8k", dec(8, 3), DECIMAL_SI),
    ("50k", dec(5, 4), DECIMAL_SI),
    ("7M", dec(7, 6), DECIMAL_SI),
    ("6G", dec(6, 9), DECIMAL_SI),
    ("5T", dec(5, 12), DECIMAL_SI),
    ("40T", dec(4, 13), DECIMAL_SI),
    ("300T", dec(3, 14), DECIMAL_SI),
    ("2P", dec(2, 15), DECIMAL_SI),
    ("1E", dec(1, 18), DECIMAL_SI),
    ("1E-3", dec(1, -3), DECIMAL_EXPONENT),
    ("1e3", dec(1, 3), DECIMAL_EXPONENT),
    ("1E6", dec(1, 6), DECIMAL_EXPONENT),
    ("1e9", dec(1, 9), DECIMAL_EXPONENT),
    ("1E12", dec(1, 12), DECIMAL_EXPONENT),
    ("1e15", dec(1, 15), DECIMAL_EXPONENT),
    ("1E18", dec(1, 18), DECIMAL_EXPONENT),
    ("1e14", dec(1, 14), DECIMAL_EXPONENT),
    ("1e13", dec(1, 13), DECIMAL_EXPONENT),
    ("100.035k", dec(100035, 0), DECIMAL_SI),
    ("0.001", dec(1, -3), DECIMAL_SI),
    ("0.0005k", dec(5, -1), DECIMAL_SI),
    ("0.005", dec(5, -3), DECIMAL_SI),
    ("0.05", dec(5, -2), DECIMAL_SI),
    ("0.5", dec(5, -1), DECIMAL_SI),
    ("0.00050k", dec(5, -1), DECIMAL_SI),
    ("0.00500", dec(5, -3), DECIMAL_SI),
    ("0.05000", dec(5, -2), DECIMAL_SI),
    ("0.50000", dec(5, -1), DECIMAL_SI),
    ("0.5e0", dec(5, -1), DECIMAL_EXPONENT),
    ("0.5e-1", dec(5, -2), DECIMAL_EXPONENT),
    ("0.5e-2", dec(5, -3), DECIMAL_EXPONENT),
    ("10.035M", dec(10035, 3), DECIMAL_SI),
    ("1.2e3", dec(12, 2), DECIMAL_EXPONENT),
    ("1.3E+6", dec(13, 5), DECIMAL_EXPONENT),
    ("1.40e9", dec(14, 8), DECIMAL_EXPONENT),
    ("1.53E12", dec(153, 10), DECIMAL_EXPONENT),
    ("1.6e15", dec(16, 14), DECIMAL_EXPONENT),
    ("1.7E18", dec(17, 17), DECIMAL_EXPONENT),
    ("9.01", dec(901, -2), DECIMAL_SI),
    ("8.1k", dec(81, 2), DECIMAL_SI),
    ("7.123456M", dec(7123456, 0), DECIMAL_SI),
    ("6.987654321G", dec(6987654321, 0), DECIMAL_SI),
    ("5.444T", dec(5444, 9), DECIMAL_SI),
    ("40.1T", dec(401, 11), DECIMAL_SI),
    ("300.2T", dec(3002, 11), DECIMAL_SI),
    ("2.5P", dec(25, 14), DECIMAL_SI),
    ("1.01E", dec(101, 16), DECIMAL_SI),
    # Things that saturate or round
    ("3.001n", dec(4, -9), DECIMAL_SI),
    ("1.1E-9", dec(2, -9), DECIMAL_EXPONENT),
    ("0.0000000001", dec(1, -9), DECIMAL_SI),
    ("0.0000000005", dec(1, -9), DECIMAL_SI),
    ("0.00000000050", dec(1, -9), DECIMAL_SI),
    ("0.5e-9", dec(1, -9), DECIMAL_EXPONENT),
    ("0.9n", dec(1, -9), DECIMAL_SI),
    ("0.00000012345", dec(124, -9), DECIMAL_SI),
    ("0.00000012354", dec(124, -9), DECIMAL_SI),
    ("9Ei", dec(MAX_INT64, 0), BINARY_SI),
    ("9223372036854775807Ki", dec(MAX_INT64, 0), BINARY_SI),
    ("12E", dec(12, 18), DECIMAL_SI),
    # Fractional binary
    ("100.035Ki", dec(10243584, -2), BINARY_SI),
    ("0.5Mi", dec(512 * 1024, 0), BINARY_SI),
    ("0.05Gi", dec(536870912, -1), BINARY_SI),
    ("0.025Ti", dec(274877906944, -1), BINARY_SI),
    # Things written by trolls
    ("0.000000000001Ki", dec(2, -9), DECIMAL_SI),
    (".001", dec(1, -3), DECIMAL_SI),
    (".0001k", dec(100, -3), DECIMAL_SI),
    ("1.", dec(1, 0), DECIMAL_SI),
    ("1.G", dec(1, 9), DECIMAL_SI),
]


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE)
def test_parse_value_and_format(text: str, value: Decimal, fmt: str) -> None:
    q = parse(text)
    assert (q.value, q.format) == (value, fmt)
    # upstream also parses every case negated and with an explicit plus sign
    negative = parse("-" + text)
    assert (negative.value, negative.format) == (-value, fmt)
    positive = parse("+" + text)
    assert (positive.value, positive.format) == (value, fmt)


@pytest.mark.parametrize(
    "text",
    [
        "1.1.M",
        "1+1.0M",
        "0.1mi",
        "0.1am",
        "aoeu",
        ".5i",
        "1i",
        "-3.01i",
        "-3.01e-",
        "1e4294967297",
        " 1",
        "1 ",
        "",
    ],
)
def test_invalid(text: str) -> None:
    with pytest.raises(QuantityError):
        parse(text)
    if text.strip() == text:  # JSON decoding trims spaces first, as upstream's UnmarshalJSON
        assert try_parse(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [("", ERR_FORMAT_WRONG), ("1Gb", ERR_FORMAT_WRONG), ("1K", ERR_SUFFIX), ("5e", ERR_SUFFIX)],
)
def test_error_messages(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as caught:
        parse(text)
    assert str(caught.value) == message


def test_format_error_text_is_upstreams() -> None:
    assert ERR_FORMAT_WRONG == (
        "quantities must match the regular expression "
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("text", "positive", "value", "num", "denom", "suffix"),
    [
        ("0.025Ti", True, "0.025", "0", "025", "Ti"),
        ("1.025Ti", True, "1.025", "1", "025", "Ti"),
        ("-1.025Ti", False, "-1.025", "1", "025", "Ti"),
        (".", True, ".", "0", "", ""),
        ("-.", False, "-.", "0", "", ""),
        ("1E-3", True, "1", "1", "", "E-3"),
    ],
)
def test_scanner_splits(
    text: str, positive: bool, value: str, num: str, denom: str, suffix: str
) -> None:
    assert _scan(text) == (positive, value, num, denom, suffix)


@pytest.mark.parametrize(
    ("text", "emitted"),
    [
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
        # the everyday ones
        ("100m", "100m"),
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1.5Gi", "1536Mi"),
        ("1000", "1k"),
        ("1000m", "1"),
        ("1e3", "1e3"),
        ("0", "0"),
        ("0Gi", "0"),
        ("128974848", "128974848"),
        ("129e6", "129e6"),
        ("123Mi", "123Mi"),
    ],
)
def test_parse_emit(text: str, emitted: str) -> None:
    assert str(parse(text)) == emitted
    if parse(text).value != 0:
        assert str(parse("-" + text)) == "-" + emitted


# TestQuantityString: (value, format) -> canonical text, and an alternate spelling.
STRING = [
    (dec(1024**3, 0), BINARY_SI, "1Gi", "1024Mi"),
    (dec(300 * 1024**2, 0), BINARY_SI, "300Mi", "307200Ki"),
    (dec(6 * 1024, 0), BINARY_SI, "6Ki", ""),
    (dec(1001 * 1024**3, 0), BINARY_SI, "1001Gi", "1025024Mi"),
    (dec(1024**4, 0), BINARY_SI, "1Ti", "1024Gi"),
    (dec(5, 0), BINARY_SI, "5", "5000m"),
    (dec(500, -3), BINARY_SI, "500m", "0.5"),
    (dec(1, 9), DECIMAL_SI, "1G", "1000M"),
    (dec(1000, 6), DECIMAL_SI, "1G", "0.001T"),
    (dec(1000000, 3), DECIMAL_SI, "1G", ""),
    (dec(1000000000, 0), DECIMAL_SI, "1G", ""),
    (dec(1, -3), DECIMAL_SI, "1m", "1000u"),
    (dec(80, -3), DECIMAL_SI, "80m", ""),
    (dec(1080, -3), DECIMAL_SI, "1080m", "1.08"),
    (dec(108, -2), DECIMAL_SI, "1080m", "1080000000n"),
    (dec(10800, -4), DECIMAL_SI, "1080m", ""),
    (dec(300, 6), DECIMAL_SI, "300M", ""),
    (dec(1, 12), DECIMAL_SI, "1T", ""),
    (dec(1, 18), DECIMAL_SI, "1E", ""),
    (dec(1, 21), DECIMAL_SI, "1e21", "1000E"),
    (dec(5, 21), DECIMAL_SI, "5e21", "5000E"),
    (dec(1, 24), DECIMAL_SI, "1e24", "1000000E"),
    (dec(1, 70), BINARY_SI, "10e69", ""),
    (dec(2, 70), BINARY_SI, "20e69", ""),
    (dec(1, 72), BINARY_SI, "1e72", ""),
    (dec(1234567, 6), DECIMAL_SI, "1234567M", ""),
    (dec(1234567, -3), BINARY_SI, "1234567m", ""),
    (dec(3, 3), DECIMAL_SI, "3k", ""),
    (dec(1025, 0), BINARY_SI, "1025", ""),
    (dec(0, 0), DECIMAL_SI, "0", ""),
    (dec(0, 0), BINARY_SI, "0", ""),
    (dec(1, 9), DECIMAL_EXPONENT, "1e9", ".001e12"),
    (dec(1, -3), DECIMAL_EXPONENT, "1e-3", "0.001e0"),
    (dec(1, -9), DECIMAL_EXPONENT, "1e-9", "1000e-12"),
    (dec(80, -3), DECIMAL_EXPONENT, "80e-3", ""),
    (dec(300, 6), DECIMAL_EXPONENT, "300e6", ""),
    (dec(1, 12), DECIMAL_EXPONENT, "1e12", ""),
    (dec(1, 3), DECIMAL_EXPONENT, "1e3", ""),
    (dec(3, 3), DECIMAL_EXPONENT, "3e3", ""),
    (dec(0, 0), DECIMAL_EXPONENT, "0", "00"),
    (dec(1, -9), DECIMAL_SI, "1n", ""),
    (dec(80, -9), DECIMAL_SI, "80n", ""),
    (dec(1080, -9), DECIMAL_SI, "1080n", ""),
    (dec(108, -8), DECIMAL_SI, "1080n", ""),
    (dec(10800, -10), DECIMAL_SI, "1080n", ""),
    (dec(1, -6), DECIMAL_SI, "1u", ""),
    (dec(80, -6), DECIMAL_SI, "80u", ""),
    (dec(1080, -6), DECIMAL_SI, "1080u", ""),
]


@pytest.mark.parametrize(("value", "fmt", "text", "alternate"), STRING)
def test_canonical_string(value: Decimal, fmt: str, text: str, alternate: str) -> None:
    assert canonical(value, fmt) == text
    assert str(Quantity(value, fmt)) == text
    parsed = parse(text)
    assert parsed.text == text  # canonical text is kept as parsed
    if alternate:
        other = parse(alternate)
        assert other.text is None
        assert str(other) == text
    if value != 0:
        assert canonical(-value, fmt) == "-" + text


def test_binary_past_ei_and_decimal_below_nano() -> None:
    assert canonical(Decimal(2**70), BINARY_SI) == "1180591620717411303424"
    assert canonical(dec(1, -12), DECIMAL_SI) == "1e-12"
    assert canonical(dec(1, -10), DECIMAL_SI) == "100e-12"


@pytest.mark.parametrize(
    ("text", "scale", "value", "exact"),
    [
        ("9.01", -3, dec(901, -2), True),
        ("9.01", -2, dec(901, -2), True),
        ("9.01", -1, dec(91, -1), False),
        ("9.01", 0, dec(10, 0), False),
        ("9.01", 1, dec(10, 0), False),
        ("9.01", 2, dec(100, 0), False),
        ("-9.01", -3, dec(-901, -2), True),
        ("-9.01", -2, dec(-901, -2), True),
        ("-9.01", -1, dec(-91, -1), False),
        ("-9.01", 0, dec(-10, 0), False),
        ("-9.01", 1, dec(-10, 0), False),
        ("-9.01", 2, dec(-100, 0), False),
    ],
)
def test_round_up(text: str, scale: int, value: Decimal, exact: bool) -> None:
    q = parse(text)
    rounded = q.round_up(scale)
    assert rounded.value == value
    assert (rounded is q) == exact


@pytest.mark.parametrize(
    ("x", "y", "expect"),
    [("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1)],
)
def test_cmp(x: str, y: str, expect: int) -> None:
    assert parse(x).cmp(parse(y)) == expect
    assert parse(y).cmp(parse(x)) == -expect
    assert (parse(x) == parse(y)) == (expect == 0)
    assert (parse(x) < parse(y)) == (expect < 0)


def test_equal_values_in_any_format_compare_equal() -> None:
    assert parse("1Gi") == parse("1024Mi") == parse("1073741824")
    assert parse("1") == parse("1000m") == parse("1e0")
    assert hash(parse("1k")) == hash(parse("1000"))


@pytest.mark.parametrize(
    ("text", "milli", "value"),
    [("1", 1000, 1), ("100m", 100, 1), ("1.5", 1500, 2), ("1n", 1, 1), ("-1.5", -1500, -2)],
)
def test_milli_and_value_round_away_from_zero(text: str, milli: int, value: int) -> None:
    q = parse(text)
    assert (q.milli_value(), q.int_value()) == (milli, value)


def test_values_beyond_int64_read_as_zero() -> None:
    assert parse("1e30").milli_value() == 0
    assert parse("1e999999999").int_value() == 0


@pytest.mark.parametrize(
    ("value", "text"), [(1, "1"), (0.5, "500m"), (2.0, "2"), (1e20, "100e18"), (" 2Gi ", "2Gi")]
)
def test_json_values(value: object, text: str) -> None:
    assert str(parse_value(value)) == text


@pytest.mark.parametrize("value", [None, True, [], {}])
def test_json_values_that_are_not_quantities(value: object) -> None:
    assert try_parse(value) is None


@given(st.integers(min_value=-(2**62), max_value=2**62), st.sampled_from(["", "m", "Ki", "Mi"]))
def test_canonical_text_parses_back_to_the_same_value(number: int, suffix: str) -> None:
    q = parse(f"{number}{suffix}")
    again = parse(str(q))
    assert again == q
    assert str(again) == str(q)
