"""Label and field selectors: parsing the query-string syntax into requirements.

A requirement is the tuple `(key, op, values)` that the matching kernels in `kube.native`
take, so a parsed selector is applied to many objects in one native call. The grammar, the
operators, the validation and the error messages are those of k8s.io/apimachinery/pkg/labels
and pkg/fields:

    labels:  a=b  a==b  a!=b  a in (x,y)  a notin (x)  a  !a  a>3  a<3   (comma = AND)
    fields:  f=v  f==v  f!=v                                            (comma = AND)

As upstream, a parsed label selector is normalised: requirements are sorted by key (stably),
and the values of `in`/`notin` are a sorted set; `format_requirements` writes that form back,
so parsing its output gives the same requirements.

`labelSelector` objects of the API (`matchLabels` + `matchExpressions`) convert to the same
requirements with `from_label_selector`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kube.api.errors import go_quote
from kube.native.labels import parse_int64

Requirement = tuple[str, str, tuple[str, ...]]

# Operators as the native kernels name them.
IN, NOT_IN, EXISTS, DOES_NOT_EXIST = "In", "NotIn", "Exists", "DoesNotExist"
EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GT, LT = "=", "==", "!=", "Gt", "Lt"


class SelectorError(ValueError):
    """A selector that does not parse; the message reads like upstream's."""


# -- validation (k8s.io/apimachinery/pkg/util/validation) -----------------------------------

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = f"{_DNS1123_LABEL_FMT}(\\.{_DNS1123_LABEL_FMT})*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_RE = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """upstream's `validation.RegexError` (note its double space before each ` or `)."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    listed = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {listed}regex used for validation is '{fmt}')"


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def qualified_name_errors(value: str) -> list[str]:
    """`validation.IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend(f"prefix part {m}" for m in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def label_value_errors(value: str) -> list[str]:
    """`validation.IsValidLabelValue`."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _invalid(path: str, value: str, details: list[str]) -> str:
    """A `field.Invalid` error as text (a nil path prints as `<nil>`, as in Go)."""
    return f"{path}: Invalid value: {go_quote(value)}: {'; '.join(details)}"


def _aggregate(messages: list[str]) -> str:
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _check_requirement(key: str, op: str, values: tuple[str, ...], path: str = "") -> None:
    """`labels.NewRequirement`'s checks; raises SelectorError with the aggregated message."""
    key_path = f"{path}.key" if path else "key"
    values_path = f"{path}.values" if path else "values"
    errs = []
    key_errs = qualified_name_errors(key)
    if key_errs:
        errs.append(_invalid(key_path, key, key_errs))
    if op in (IN, NOT_IN) and not values:
        # Go renders the (nil) slice as JSON: `null`.
        errs.append(
            f"{values_path}: Invalid value: null: for 'in', 'notin' operators, values set can't "
            "be empty"
        )
    if op in (EXISTS, DOES_NOT_EXIST) and values:
        listed = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
        errs.append(
            f"{values_path}: Invalid value: {listed}: values set must be empty for exists and "
            "does not exist"
        )
    if op in (GT, LT):
        for i, value in enumerate(values):
            if parse_int64(value) is None:
                errs.append(
                    _invalid(
                        f"{values_path}[{i}]",
                        value,
                        ["for 'Gt', 'Lt' operators, the value must be an integer"],
                    )
                )
    for i, value in enumerate(values):
        value_errs = label_value_errors(value)
        if value_errs:
            errs.append(_invalid(f"{values_path}[{i}][{key}]", value, value_errs))
    if errs:
        raise SelectorError(_aggregate(errs))


# -- label selector: upstream's lexer and recursive-descent parser -------------------------

_IDENT, _END = "identifier", "end"
_IN_TOKEN, _NOTIN_TOKEN = "in", "notin"
_WHITESPACE = " \t\r\n"
_SPECIAL = "=!(),><"
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"
_OPERATOR_TOKENS = {
    _IN_TOKEN: IN,
    _NOTIN_TOKEN: NOT_IN,
    "=": EQUALS,
    "==": DOUBLE_EQUALS,
    "!=": NOT_EQUALS,
    ">": GT,
    "<": LT,
}


def _lex(text: str) -> list[tuple[str, str]]:
    """(token, literal) pairs, ending with the end-of-string token."""
    items: list[tuple[str, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size:
            items.append((_END, ""))
            return items
        if text[pos] in _SPECIAL:
            # The longest symbol: `!=` and `==` are the only two-character ones.
            symbol = text[pos : pos + 2] if text[pos : pos + 2] in ("!=", "==") else text[pos]
            items.append((symbol, symbol))
            pos += len(symbol)
            continue
        start = pos
        while pos < size and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        word = text[start:pos]
        items.append((word if word in (_IN_TOKEN, _NOTIN_TOKEN) else _IDENT, word))


class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        token, literal = self.items[self.position]
        if values and token in (_IN_TOKEN, _NOTIN_TOKEN):
            token = _IDENT  # `in` and `notin` are plain words where a value is expected
        return token, literal

    def consume(self, values: bool = True) -> tuple[str, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            token, literal = self.lookahead()
            if token == _END:
                return reqs
            if token not in (_IDENT, "!"):
                raise SelectorError(
                    f"found '{literal}', expected: !, identifier, or 'end of string'"
                )
            try:
                reqs.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            token, literal = self.consume()
            if token == _END:
                return reqs
            if token != ",":
                raise SelectorError(f"found '{literal}', expected: ',' or 'end of string'")
            token, literal = self.lookahead()
            if token not in (_IDENT, "!"):
                raise SelectorError(f"found '{literal}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        op = ""
        token, key = self.consume()
        if token == "!":
            op = DOES_NOT_EXIST
            token, key = self.consume()
        if token != _IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        key_errs = qualified_name_errors(key)
        if key_errs:
            raise SelectorError(_invalid("<nil>", key, key_errs))
        if self.lookahead()[0] in (_END, ","):
            op = op or EXISTS
        if op in (EXISTS, DOES_NOT_EXIST):
            return (key, op, ())
        token, literal = self.consume(values=False)
        if token not in _OPERATOR_TOKENS:
            raise SelectorError(f"found '{literal}', expected: {_BINARY_OPERATORS}")
        op = _OPERATOR_TOKENS[token]
        values = self.set_values() if op in (IN, NOT_IN) else self.exact_value()
        ordered = tuple(sorted(values))
        _check_requirement(key, op, ordered)
        return (key, op, ordered)

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_END, ","):
            return {""}
        token, literal = self.consume()
        if token != _IDENT:
            raise SelectorError(f"found '{literal}', expected: identifier")
        return {literal}

    def set_values(self) -> set[str]:
        token, literal = self.consume()
        if token != "(":
            raise SelectorError(f"found '{literal}' expected: '('")
        token, literal = self.lookahead()
        if token == ")":  # "()": the empty value
            self.consume()
            return {""}
        if token not in (_IDENT, ","):
            raise SelectorError(f"found '{literal}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.consume()[0] != ")":
            raise SelectorError(f"found '{literal}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        """A comma-separated list of (possibly empty) values, up to the closing parenthesis."""
        values: set[str] = set()
        while True:
            token, literal = self.consume()
            if token == _IDENT:
                values.add(literal)
                after, after_literal = self.lookahead()
                if after == ",":
                    continue
                if after == ")":
                    return values
                raise SelectorError(f"found '{after_literal}', expected: ',' or ')'")
            if token == ",":
                if not values:
                    values.add("")  # "(,"
                after = self.lookahead()[0]
                if after == ")":
                    values.add("")  # ",)"
                    return values
                if after == ",":
                    self.consume()
                    values.add("")  # ",,"
                continue
            raise SelectorError(f"found '{literal}', expected: ',', or identifier")


def parse_label_selector(text: str) -> list[Requirement]:
    """Parse `?labelSelector=`; an empty string selects everything (no requirements)."""
    reqs = _Parser(text).parse()
    return sorted(reqs, key=lambda r: r[0])


# -- field selector ----------------------------------------------------------------------


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not escaped with a backslash."""
    if not text:
        return []
    terms, start, escaped = [], 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """The first operator from the left wins (`!=`, then `==`, then `=` at each position)."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def unescape_field_value(value: str) -> str:
    """`fields.UnescapeValue`: `\\\\`, `\\,` and `\\=` are the only escapes; bare `,` `=` fail."""
    out, escaped = [], False
    for char in value:
        if escaped:
            if char not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{char}")
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ",=":
            # Go prints the rune with %v: its code point.
            raise SelectorError(
                f"invalid field selector: unescaped character in value: {ord(char)}"
            )
        else:
            out.append(char)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str) -> list[Requirement]:
    """Parse `?fieldSelector=` (`f=v`, `f==v`, `f!=v`, comma-separated; `\\,` escapes).

    As upstream: nothing is trimmed, terms are sorted, and `==` reads as `=`.
    """
    reqs: list[Requirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = split
        reqs.append((field, NOT_EQUALS if op == "!=" else EQUALS, (unescape_field_value(value),)))
    return reqs


# -- API label selectors and the string form ----------------------------------------------

_EXPRESSION_OPERATORS = (IN, NOT_IN, EXISTS, DOES_NOT_EXIST)


def from_label_selector(selector: Mapping[str, Any] | None) -> list[Requirement]:
    """Requirements of an API `LabelSelector` (`matchLabels`, `matchExpressions`).

    Validated and sorted by key as upstream's `LabelSelectorAsSelector`. An empty selector
    gives no requirements (everything); what a missing (None) selector means is the caller's
    decision (upstream: nothing).
    """
    if not selector:
        return []
    reqs: list[Requirement] = []
    for key, value in sorted((selector.get("matchLabels") or {}).items()):
        req = (str(key), EQUALS, (str(value),))
        _check_requirement(*req)
        reqs.append(req)
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        if op not in _EXPRESSION_OPERATORS:
            raise SelectorError(f"{go_quote(str(op))} is not a valid label selector operator")
        values = tuple(str(v) for v in expr.get("values") or ())
        key = str(expr.get("key", ""))
        _check_requirement(key, op, values)
        reqs.append((key, op, values))
    return sorted(reqs, key=lambda r: r[0])


_OPERATOR_TEXT = {
    EQUALS: "=",
    DOUBLE_EQUALS: "==",
    NOT_EQUALS: "!=",
    IN: " in ",
    NOT_IN: " notin ",
    GT: ">",
    LT: "<",
}


def format_requirements(reqs: list[Requirement]) -> str:
    """The string form of requirements (upstream's `Selector.String()`); values sorted."""
    parts = []
    for key, op, values in reqs:
        if op == EXISTS:
            parts.append(key)
        elif op == DOES_NOT_EXIST:
            parts.append(f"!{key}")
        elif op in (IN, NOT_IN):
            parts.append(f"{key}{_OPERATOR_TEXT[op]}({','.join(sorted(values))})")
        else:
            parts.append(f"{key}{_OPERATOR_TEXT[op]}{values[0]}")
    return ",".join(parts)
