"""Label and field selectors: parsing the query-string syntax into requirements.

A requirement is the tuple `(key, op, values)` that the matching kernels in `kube.native`
take, so a parsed selector is applied to many objects in one native call. The grammar and the
operators are those of k8s.io/apimachinery/pkg/labels and pkg/fields:

    labels:  a=b  a==b  a!=b  a in (x,y)  a notin (x)  a  !a  a>3  a<3   (comma = AND)
    fields:  f=v  f==v  f!=v                                            (comma = AND)

`labelSelector` objects of the API (`matchLabels` + `matchExpressions`) convert to the same
requirements with `from_label_selector`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

Requirement = tuple[str, str, tuple[str, ...]]

# Operators as the native kernels name them.
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "In", "NotIn", "Exists", "DoesNotExist"
EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GT, LT = "=", "==", "!=", "Gt", "Lt"


class SelectorError(ValueError):
    """A selector that does not parse; the message reads like upstream's."""


# A qualified name with an optional DNS-subdomain prefix (label keys).
_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)"
_KEY_RE = re.compile(
    rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$"
)
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_TOKEN_RE = re.compile(r"\s*(!=|==|=|!|>|<|\(|\)|,|[^\s!=<>(),]+)")


def _check_key(key: str) -> str:
    if not key or len(key.split("/")[-1]) > 63 or not _KEY_RE.match(key):
        raise SelectorError(f"unable to parse requirement: invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f"unable to parse requirement: invalid label value: {value!r}")
    return value


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise SelectorError(f"unable to parse requirement: unexpected input at {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse `?labelSelector=`; an empty string selects everything (no requirements)."""
    tokens = _tokens(text)
    reqs: list[Requirement] = []
    i = 0

    def at(j: int) -> str:
        return tokens[j] if j < len(tokens) else ""

    while i < len(tokens):
        if at(i) == "!":
            reqs.append((_check_key(at(i + 1)), DOES_NOT_EXIST, ()))
            i += 2
        else:
            key = _check_key(at(i))
            op = at(i + 1)
            if op in ("", ","):
                reqs.append((key, EXISTS, ()))
                i += 1
            elif op in ("=", "==", "!="):
                value = at(i + 2)
                if value in (",", ")", "("):
                    value = ""
                    i += 2
                else:
                    i += 3
                reqs.append((key, op, (_check_value(value),)))
            elif op in (">", "<"):
                value = at(i + 2)
                if not re.fullmatch(r"-?\d+", value):
                    raise SelectorError(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, "
                        f"the value must be an integer, got {value!r}"
                    )
                reqs.append((key, GT if op == ">" else LT, (value,)))
                i += 3
            elif op.lower() in ("in", "notin"):
                if at(i + 2) != "(":
                    raise SelectorError(
                        f"unable to parse requirement: found {at(i + 2)!r}, expected: '('"
                    )
                j = i + 3
                values: list[str] = []
                while at(j) not in (")", ""):
                    if at(j) != ",":
                        values.append(_check_value(at(j)))
                    j += 1
                if at(j) != ")":
                    raise SelectorError("unable to parse requirement: found '', expected: ')'")
                if not values:
                    values = [""]
                reqs.append((key, IN if op.lower() == "in" else NOT_IN, tuple(values)))
                i = j + 1
            else:
                raise SelectorError(
                    f"unable to parse requirement: found {op!r}, expected: "
                    "in, notin, =, ==, !=, gt, lt"
                )
        if i < len(tokens):
            if at(i) != ",":
                raise SelectorError(f"unable to parse requirement: found {at(i)!r}, expected: ','")
            i += 1
            if i == len(tokens):
                raise SelectorError("unable to parse requirement: found '', expected: identifier")
    return reqs


def parse_field_selector(text: str) -> list[Requirement]:
    """Parse `?fieldSelector=` (`f=v`, `f==v`, `f!=v`, comma-separated; `\\,` escapes)."""
    reqs: list[Requirement] = []
    for part in re.split(r"(?<!\\),", text.strip()):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"([^=!]+?)\s*(!=|==|=)\s*(.*)", part)
        if m is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.groups()
        value = re.sub(r"\\(.)", r"\1", value)
        reqs.append((field, op, (value,)))
    return reqs


def from_label_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Requirements of an API `LabelSelector` (`matchLabels`, `matchExpressions`).

    None selects nothing is NOT implied here: callers decide what a missing selector means.
    """
    if not selector:
        return []
    reqs: list[Requirement] = [
        (k, EQUALS, (str(v),)) for k, v in sorted((selector.get("matchLabels") or {}).items())
    ]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        values = tuple(str(v) for v in expr.get("values") or ())
        if op not in (IN, NOT_IN, EXISTS, DOES_NOT_EXIST):
            raise SelectorError(f"{op!r} is not a valid label selector operator")
        reqs.append((str(expr.get("key", "")), op, values))
    return reqs


def format_requirements(reqs: list[Requirement]) -> str:
    """The string form of requirements (for messages and `kubectl describe`)."""
    parts = []
    for key, op, values in reqs:
        if op == EXISTS:
            parts.append(key)
        elif op == DOES_NOT_EXIST:
            parts.append(f"!{key}")
        elif op in (IN, NOT_IN):
            parts.append(f"{key} {'in' if op == IN else 'notin'} ({','.join(values)})")
        elif op in (GT, LT):
            parts.append(f"{key}{'>' if op == GT else '<'}{values[0]}")
        else:
            parts.append(f"{key}{op}{values[0]}")
    return ",".join(parts)
