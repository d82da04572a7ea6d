"""Label and field selector matching over many objects: the pure-Python reference.

The API server filters every list and watch by `labelSelector` and `fieldSelector`; with tens of
thousands of objects that loop is hot, so a Cython build of this module (`src/_native/labels.pyx`,
imported as `kube.native._labels`) replaces it unless disabled. Both take parsed requirements:
parsing the selector string, and reporting syntax errors, is the API layer's job.

A label requirement is `(key, op, values)`; `op` is one of the operator strings of
k8s.io/apimachinery/pkg/selection (see `Operator`) or its spelling in the API's
`matchExpressions` (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`); `values` is a tuple or
frozenset of strings. The semantics are upstream's `labels.Requirement.Matches`:

- `in`, `=`, `==`: the key is present and its value is one of `values`;
- `notin`, `!=`: the key is absent, or its value is none of `values`;
- `exists` / `!` (DoesNotExist): the key is present / absent (`values` is ignored);
- `gt`, `lt`: the key is present, its value parses as a base-10 int64 (Go's strconv.ParseInt:
  optional sign, ASCII digits, nothing else) and compares with the single value of `values`;
  any parse failure, or `values` not holding exactly one integer, means no match.

A selector is the AND of its requirements; no requirements match everything. An unknown
operator raises ValueError before any object is looked at.

Field selectors (`match_fields`) are simpler, as upstream's `fields.Selector`: requirements are
`(field, op, value)` with op `=`, `==` or `!=`, over flat dicts of field path to string, and an
absent field reads as "" (so `spec.nodeName=` selects unscheduled pods).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from enum import StrEnum
from typing import Final

__all__ = [
    "FieldRequirement",
    "Operator",
    "Requirement",
    "match_fields",
    "match_labels",
]


class Operator(StrEnum):
    """The operators of k8s.io/apimachinery/pkg/selection, spelled as upstream spells them."""

    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


Requirement = tuple[str, str, Collection[str]]
"""A label requirement: `(key, operator, values)`."""

FieldRequirement = tuple[str, str, str]
"""A field requirement: `(field, operator, value)`."""

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_SIGNED_DIGITS: Final = re.compile(r"([+-]?)0*([0-9]+)")

# What each operator checks, once the label value is looked up.
_IN: Final = 0
_NOT_IN: Final = 1
_EXISTS: Final = 2
_NOT_EXISTS: Final = 3
_GT: Final = 4
_LT: Final = 5
_LABEL_OPS: Final[dict[str, int]] = {
    Operator.IN: _IN,
    Operator.EQUALS: _IN,
    Operator.DOUBLE_EQUALS: _IN,
    Operator.NOT_IN: _NOT_IN,
    Operator.NOT_EQUALS: _NOT_IN,
    Operator.EXISTS: _EXISTS,
    Operator.DOES_NOT_EXIST: _NOT_EXISTS,
    Operator.GREATER_THAN: _GT,
    Operator.LESS_THAN: _LT,
    # The same operators as metav1.LabelSelector's matchExpressions (and node selectors) spell them.
    "In": _IN,
    "NotIn": _NOT_IN,
    "Exists": _EXISTS,
    "DoesNotExist": _NOT_EXISTS,
    "Gt": _GT,
    "Lt": _LT,
}
_FIELD_OPS: Final[dict[str, bool]] = {
    Operator.EQUALS: True,
    Operator.DOUBLE_EQUALS: True,
    Operator.NOT_EQUALS: False,
}

_MISSING: Final = object()


def parse_int64(value: object) -> int | None:
    """The integer Go's `strconv.ParseInt(value, 10, 64)` reads, or None where it fails."""
    if not isinstance(value, str):
        return None
    match = _SIGNED_DIGITS.fullmatch(value)
    if match is None:
        return None
    sign, digits = match.groups()
    if len(digits) > 19:  # leading zeros are gone: more than 19 digits is out of range
        return None
    number = -int(digits) if sign == "-" else int(digits)
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _compile(requirement: Requirement) -> tuple[str, int, frozenset[str], int | None]:
    key, op, values = requirement
    code = _LABEL_OPS.get(op)
    if code is None:
        raise ValueError(f"unknown label selector operator {op!r}")
    bound = None
    if code in (_GT, _LT) and len(values) == 1:
        bound = parse_int64(next(iter(values)))
    return key, code, frozenset(values), bound


def _matches(
    labels: Mapping[str, str], key: str, code: int, values: frozenset[str], bound: int | None
) -> bool:
    value = labels.get(key, _MISSING)
    if code == _IN:
        return value is not _MISSING and value in values
    if code == _NOT_IN:
        return value is _MISSING or value not in values
    if code == _EXISTS:
        return value is not _MISSING
    if code == _NOT_EXISTS:
        return value is _MISSING
    number = parse_int64(value)
    if number is None or bound is None:
        return False
    return number > bound if code == _GT else number < bound


def match_labels(
    requirements: Iterable[Requirement], label_sets: Iterable[Mapping[str, str]]
) -> list[int]:
    """Indices of the label sets that satisfy every requirement, in order."""
    compiled = [_compile(requirement) for requirement in requirements]
    if any(code in (_GT, _LT) and bound is None for _, code, _, bound in compiled):
        return []  # an unparsable bound matches nothing
    return [
        index
        for index, labels in enumerate(label_sets)
        if all(_matches(labels, *requirement) for requirement in compiled)
    ]


def match_fields(
    requirements: Iterable[FieldRequirement], field_sets: Iterable[Mapping[str, str]]
) -> list[int]:
    """Indices of the field sets that satisfy every field requirement, in order."""
    compiled = []
    for field, op, value in requirements:
        equal = _FIELD_OPS.get(op)
        if equal is None:
            raise ValueError(f"unknown field selector operator {op!r}")
        compiled.append((field, equal, value))
    return [
        index
        for index, fields in enumerate(field_sets)
        if all((fields.get(field, "") == value) == equal for field, equal, value in compiled)
    ]
