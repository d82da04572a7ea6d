"""Resource quantities (`100m`, `1Gi`, `1e3`), read and written as upstream's `resource.Quantity`.

A quantity is a decimal number with a suffix: binary SI (`Ki` .. `Ei`, powers of 1024),
decimal SI (`n`, `u`, `m`, ``, `k`, `M`, `G`, `T`, `P`, `E`) or a decimal exponent (`e3`,
`E-2`). Parsing follows k8s.io/apimachinery/pkg/api/resource `ParseQuantity` step by step:

- the scanner splits sign, integer digits, fraction digits and suffix, and fails with
  upstream's three errors (`ErrFormatWrong`, `ErrNumeric`, `ErrSuffix`);
- the value is exact (a `Decimal`); non-zero values finer than a nanounit are rounded away
  from zero to 1n, and binary-SI values are capped at 2^63-1, as upstream;
- the quantity remembers its format (the kind of suffix it was written with) and, where
  upstream keeps the text it parsed (it was already canonical), that text.

`str(q)` is upstream's `String()`: the remembered text, else the canonical form: the largest
suffix of the quantity's format that leaves an integer mantissa (`1.5` -> `1500m`, `1536Mi`
stays, `1.5Gi` -> `1536Mi`, `1000` -> `1k`), with binary quantities that are not whole or are
under 1024 written in decimal SI. The API server writes every quantity it stores this way.

Comparisons (`<`, `==`, ...) compare values, whatever the format, as `Quantity.Cmp`.
"""

from __future__ import annotations

import decimal
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

FORMAT_RE = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT_WRONG: Final = f"quantities must match the regular expression '{FORMAT_RE}'"
ERR_NUMERIC: Final = "unable to parse numeric part of quantity"
ERR_SUFFIX: Final = "unable to parse quantity's suffix"

DECIMAL_SI: Final = "DecimalSI"
BINARY_SI: Final = "BinarySI"
DECIMAL_EXPONENT: Final = "DecimalExponent"

_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_BY_EXPONENT = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_BY_EXPONENT = {e: s for s, e in _BINARY_SUFFIXES.items()}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_DIGITS = frozenset("0123456789")
_MAX_INT64 = 2**63 - 1
_MAX_INT32 = 2**31 - 1
_MAX_INT64_FACTORS = 18  # decimal digits an int64 always holds
_NANO = Decimal("1e-9")
# Exact arithmetic: enough precision for any value a quantity string can spell.
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class QuantityError(ValueError):
    """A string that is not a quantity; the message is upstream's error text."""


@dataclass(frozen=True, eq=False)
class Quantity:
    """An exact quantity: its value, the format it prints in, and its text if kept."""

    value: Decimal
    format: str = DECIMAL_SI
    text: str | None = field(default=None, compare=False)

    # -- comparison (values only, as upstream's Cmp) -------------------------------------

    def cmp(self, other: Quantity) -> int:
        return (self.value > other.value) - (self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: Quantity) -> bool:
        return self.value < other.value

    def __le__(self, other: Quantity) -> bool:
        return self.value <= other.value

    def __gt__(self, other: Quantity) -> bool:
        return self.value > other.value

    def __ge__(self, other: Quantity) -> bool:
        return self.value >= other.value

    # -- accessors -----------------------------------------------------------------------

    def is_zero(self) -> bool:
        return self.value == 0

    def sign(self) -> int:
        return (self.value > 0) - (self.value < 0)

    def scaled_value(self, scale: int) -> int:
        """upstream's `ScaledValue`: value / 10^scale, rounded away from zero.

        Where that does not fit an int64 the answer is 0 (upstream's int64 form gives up
        there too); this also keeps `1e999999999` from becoming a billion-digit integer.
        """
        scaled = self.value.scaleb(-scale, _EXACT)
        if scaled != 0 and scaled.adjusted() > 18:
            return 0
        whole = int(scaled.to_integral_value(rounding=decimal.ROUND_UP, context=_EXACT))
        return whole if -_MAX_INT64 - 1 <= whole <= _MAX_INT64 else 0

    def milli_value(self) -> int:
        return self.scaled_value(-3)

    def int_value(self) -> int:
        """upstream's `Value`: the value rounded away from zero to an integer."""
        return self.scaled_value(0)

    def round_up(self, scale: int) -> Quantity:
        """upstream's `RoundUp(scale)`: away from zero to a multiple of 10^scale.

        The kept text survives when nothing had to be rounded (as upstream, which clears
        its cached string only when the scale changes).
        """
        step = Decimal(1).scaleb(scale)
        if self.value == self.value.quantize(step, rounding=decimal.ROUND_UP, context=_EXACT):
            return self
        rounded = self.value.quantize(step, rounding=decimal.ROUND_UP, context=_EXACT)
        return Quantity(rounded, self.format)

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        return canonical(self.value, self.format)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"


def canonical(value: Decimal, fmt: str) -> str:
    """upstream's `CanonicalizeBytes`: the canonical text of `value` in format `fmt`.

    Where a format has no suffix for the magnitude (decimal beyond `E` or below `n`, binary
    beyond `Ei`), the value is written in exponent form, as upstream does since it stopped
    dropping the magnitude there (`1000E` -> `1e21`).
    """
    if value == 0:
        return "0"
    if fmt == BINARY_SI:
        if -1024 < value < 1024 or value != value.to_integral_value(context=_EXACT):
            fmt = DECIMAL_SI
        else:
            text = _base1024(int(value))
            if text is not None:
                return text
            fmt = DECIMAL_EXPONENT
    number, exponent = _base10(value)
    if fmt == DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
        return number + _DECIMAL_BY_EXPONENT[exponent]
    return number if exponent == 0 else f"{number}e{exponent}"


def _base10(value: Decimal) -> tuple[str, int]:
    """(mantissa, exponent) with an integer mantissa and the exponent a multiple of 3."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)))
    while mantissa >= 10 and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3  # Python's modulo: the exponent goes down to a multiple of 3
    mantissa *= 10**shift
    exponent -= shift
    return (f"-{mantissa}" if sign else str(mantissa)), exponent


def _base1024(number: int) -> str | None:
    """`number` with the largest binary suffix that divides it; None beyond `Ei`."""
    negative = number < 0
    magnitude = -number if negative else number
    times = 0
    while magnitude >= 1024 and magnitude % 1024 == 0:
        magnitude //= 1024
        times += 1
    if times * 10 not in _BINARY_BY_EXPONENT and times:
        return None
    text = f"-{magnitude}" if negative else str(magnitude)
    return text + _BINARY_BY_EXPONENT.get(times * 10, "")


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """upstream's `parseQuantityString`: (positive, value, num, denom, suffix)."""
    positive = True
    pos, end = 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos]
    if pos >= end:
        return positive, text, num, "", ""
    num = num or "0"
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(ERR_FORMAT_WRONG)
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str] | None:
    """(base, exponent, format) of a suffix; None if it is not one."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        rest = suffix[1:]
        body = rest[1:] if rest[:1] in "+-" else rest
        # The exponent must fit upstream's int32 scale (and its negation).
        if body and all(c in _DIGITS for c in body) and abs(int(rest)) <= _MAX_INT32:
            return 10, int(rest), DECIMAL_EXPONENT
    return None


# Kept per text: a pod's few quantities are parsed again by defaulting, validation and QoS on
# every create, and the same texts ("100m", "500Mi") recur across pods (Quantity is frozen).
@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Quantity:
    """A quantity from its text; raises QuantityError with upstream's message."""
    if not text:
        raise QuantityError(ERR_FORMAT_WRONG)
    if text == "0":
        return Quantity(Decimal(0), DECIMAL_SI, "0")
    positive, value, num, denom, suffix = _scan(text)
    interpreted = _interpret(suffix)
    if interpreted is None:
        raise QuantityError(ERR_SUFFIX)
    base, exponent, fmt = interpreted

    # upstream's fast path: an int64 mantissa and a scale; the text is kept when canonical.
    if fmt == BINARY_SI:
        precision = -1
        if exponent >= 0 and not denom:
            precision = 15 - len(num) - (exponent * 3 // 10) - 1
        scale, multiplier = 0, 2**exponent
    else:
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
        scale, multiplier = exponent, 1
    if precision >= 0:
        scale -= len(denom)
        if scale >= -9:
            shifted = num + denom
            digits = int(shifted)
            product = digits * multiplier
            if product <= _MAX_INT64:
                signed = product if positive else -product
                exact = Decimal(signed).scaleb(scale, _EXACT)
                if fmt == BINARY_SI:
                    keep = exponent % 10 == 0 and digits & 0x07 != 0
                else:
                    keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
                return Quantity(exact, fmt, text if keep else None)

    # The slow path: exact decimal arithmetic, rounding and capping as upstream.
    try:
        amount = Decimal(value)
    except decimal.InvalidOperation:
        raise QuantityError(ERR_NUMERIC) from None
    if not amount.is_finite():
        raise QuantityError(ERR_NUMERIC)
    if base == 10:
        amount = amount.scaleb(exponent, _EXACT)
    else:
        amount = _EXACT.multiply(amount, Decimal(2**exponent))
    negative = amount < 0
    amount = abs(amount)
    exponent_of_amount = amount.as_tuple().exponent
    if amount != 0 and isinstance(exponent_of_amount, int) and exponent_of_amount < -9:
        # Finer than a nanounit: up to the next nanounit (never to zero), as upstream.
        amount = amount.quantize(_NANO, rounding=decimal.ROUND_UP, context=_EXACT)
    if fmt == BINARY_SI and amount > _MAX_INT64:
        amount = Decimal(_MAX_INT64)
    if fmt == BINARY_SI and 0 < amount < 1:
        fmt = DECIMAL_SI
    return Quantity(-amount if negative else amount, fmt)


def parse_value(value: object) -> Quantity:
    """A quantity from a JSON value: a string, or a number as written (JSON numbers parse too)."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(ERR_FORMAT_WRONG)
    if isinstance(value, int | float):
        text = repr(value) if isinstance(value, float) else str(value)
        return parse(text.replace("e+", "e"))
    if not isinstance(value, str):
        raise QuantityError(ERR_FORMAT_WRONG)
    return parse(value.strip())


def try_parse(value: object) -> Quantity | None:
    try:
        return parse_value(value)
    except QuantityError:
        return None
