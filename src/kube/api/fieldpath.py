"""Field paths and field sets: what `metadata.managedFields` records, as upstream encodes it.

Server-side apply tracks, for every manager, the set of fields it owns (upstream's
sigs.k8s.io/structured-merge-diff `fieldpath` package). A field is named by a *path*, a tuple of
`PathElement`s, each one of four kinds:

- a field of a map or struct, `f:<name>` (`.spec`);
- an item of an associative list, by its key fields, `k:{"name":"c"}` (`[name="c"]`);
- an item of a set (a list of scalars), by its value, `v:"finalizer.io/x"` (`[="finalizer.io/x"]`);
- an item of any other list, by index, `i:0` (`[0]`), which ownership never records.

A `FieldSet` is a tree: at each level the elements that are *members* (owned themselves) and the
*children* (elements with owned paths below them). The two are independent: `.spec` may be a
member, have children, or both. Operations keep upstream's exact semantics, quirks included:
`difference` removes members and recurses into shared children only (a member of the right side
does not remove the left side's children), `recursive_difference` removes whole subtrees.

FieldsV1 is the JSON form (`FieldSet.to_json` / `FieldSet.from_json`): every member is a key with
value `{}`, every child a key with its subtree as value, and an element that is both gets `".": {}`
first in its subtree. Keys are the serialized elements, sorted as upstream sorts them (fields, then
keys, then values, then indices; values in structured-merge-diff's total order: numbers < strings <
booleans < lists < maps < null), so the document matches upstream's byte for byte once encoded
compactly. The JSON inside `k:` and `v:` keys is written as Go's encoding/json writes it (compact,
sorted key fields, `<>&` escaped as `\\u003c`...), because it is part of the key string itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final

import orjson

from kube.api.errors import go_quote

__all__ = [
    "FieldPathError",
    "FieldSet",
    "Path",
    "PathElement",
    "go_json",
    "go_string",
    "path_string",
    "value_key",
]


class FieldPathError(ValueError):
    """A malformed FieldsV1 document or path element; the message says what is wrong."""


# Kinds of path element, in upstream's sort order.
_FIELD: Final = 0
_KEY: Final = 1
_VALUE: Final = 2
_INDEX: Final = 3


def value_key(value: Any) -> tuple[Any, ...]:
    """A hashable key of a JSON value, ordered and equal as structured-merge-diff compares values.

    Numbers sort before strings, then booleans, lists, maps and null; an int and a float are equal
    when numerically equal (upstream compares them as floats); `true` is not `1`.
    """
    if value is None:
        return (5,)
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        # Upstream compares an int with a float as float64s: beyond 2^53 an int is its float.
        return (0, float(value) if isinstance(value, int) and abs(value) > 2**53 else value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(value_key(item) for item in value))
    if isinstance(value, dict):
        return (4, tuple(sorted((str(k), value_key(v)) for k, v in value.items())))
    raise FieldPathError(f"not a JSON value: {value!r}")


class PathElement:
    """One step of a field path: a field name, a list item's key fields, a set value, an index.

    Elements compare and hash by their canonical key (`value_key` for values), so `v:1` and
    `v:1.0` are the same element, as upstream has it; `raw` keeps the JSON value for encoding.
    """

    __slots__ = ("_hash", "_sort", "kind", "raw")

    FIELD: ClassVar[int] = _FIELD
    KEY: ClassVar[int] = _KEY
    VALUE: ClassVar[int] = _VALUE
    INDEX: ClassVar[int] = _INDEX

    kind: int
    raw: Any
    _sort: tuple[Any, ...]
    _hash: int

    def __init__(self, kind: int, raw: Any, sort: Any) -> None:
        self.kind = kind
        self.raw = raw
        self._sort = (kind, sort)
        self._hash = hash(self._sort)

    @classmethod
    def field(cls, name: str) -> PathElement:
        return cls(_FIELD, name, name)

    @classmethod
    def key(cls, fields: Mapping[str, Any]) -> PathElement:
        """An associative list item named by its key fields (sorted by name, as upstream)."""
        items = tuple(sorted(fields.items()))
        return cls(_KEY, items, tuple((name, value_key(v)) for name, v in items))

    @classmethod
    def value(cls, value: Any) -> PathElement:
        return cls(_VALUE, value, value_key(value))

    @classmethod
    def index(cls, index: int) -> PathElement:
        return cls(_INDEX, index, index)

    @property
    def name(self) -> str | None:
        """The field name of a field element, else None."""
        return self.raw if self.kind == _FIELD else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PathElement) and self._sort == other._sort

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: PathElement) -> bool:
        return self._sort < other._sort

    def __repr__(self) -> str:
        return f"PathElement({self.serialize()!r})"

    def __str__(self) -> str:
        """Upstream's `PathElement.String()`: `.name`, `[k=v,...]`, `[=v]`, `[i]`."""
        if self.kind == _FIELD:
            return f".{self.raw}"
        if self.kind == _KEY:
            return "[" + ",".join(f"{name}={go_string(v)}" for name, v in self.raw) + "]"
        if self.kind == _VALUE:
            return f"[={go_string(self.raw)}]"
        return f"[{self.raw}]"

    def serialize(self) -> str:
        """The FieldsV1 key of this element (`f:name`, `k:{"name":"c"}`, `v:"x"`, `i:0`)."""
        if self.kind == _FIELD:
            return f"f:{self.raw}"
        if self.kind == _KEY:
            inner = ",".join(f"{go_json(name)}:{go_json(v)}" for name, v in self.raw)
            return "k:{" + inner + "}"
        if self.kind == _VALUE:
            return f"v:{go_json(self.raw)}"
        return f"i:{self.raw}"

    @classmethod
    def deserialize(cls, text: str) -> PathElement | None:
        """Parse a FieldsV1 key; None for an element type this version does not know.

        Upstream ignores unknown types ("a future version maybe knows what they are").
        """
        if len(text) < 2:
            raise FieldPathError("key must be 2 characters long:")
        if text[1] != ":":
            raise FieldPathError(f"missing colon: {text}")
        kind, body = text[0], text[2:]
        if kind == "f":
            return cls.field(body)
        if kind == "v":
            return cls.value(_read_json(body))
        if kind == "k":
            fields = _read_json(body)
            if not isinstance(fields, dict):
                raise FieldPathError(f"key is not a JSON object: {text}")
            return cls.key(fields)
        if kind == "i":
            if not _INT.fullmatch(body):
                raise FieldPathError(f'strconv.Atoi: parsing "{body}": invalid syntax')
            return cls.index(int(body))
        return None


Path = tuple[PathElement, ...]

_INT: Final = re.compile(r"[+-]?[0-9]+")
_DECODER: Final = json.JSONDecoder()


def _read_json(text: str) -> Any:
    try:
        value, _end = _DECODER.raw_decode(text)
    except json.JSONDecodeError as err:
        raise FieldPathError(f"invalid JSON in path element: {err}") from None
    return value


def path_string(path: Path) -> str:
    """Upstream's `Path.String()`: `.spec.template.spec.containers[name="c"].image`."""
    return "".join(str(pe) for pe in path)


# FieldsV1 documents read, by their JSON, least recently used first. Sized for a 5,000-node
# cluster's Leases and Nodes (each a document of its own: owner references name a uid) plus
# the pods being written: at 1,024 and a clear when full, every Lease renewal read its
# document again.
_READ: dict[bytes, FieldSet] = {}
_READ_LIMIT: Final = 16384


class FieldSet:
    """A set of field paths, as a tree of members and children (upstream's `fieldpath.Set`).

    Built with `insert` (which mutates) while it is being made; once made, a set is a value:
    every other operation returns a new set that may share subtrees with its operands (so
    nothing inserts into a set that was read, combined or returned). A child subtree is never
    empty. The empty path is never a member: nobody owns
    the whole object.
    """

    __slots__ = ("children", "members")

    members: set[PathElement]
    children: dict[PathElement, FieldSet]

    def __init__(
        self,
        members: set[PathElement] | None = None,
        children: dict[PathElement, FieldSet] | None = None,
    ) -> None:
        self.members = members if members is not None else set()
        self.children = children if children is not None else {}

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Path) -> None:
        """Add `path` (its parents are not added: they are not owned by implication)."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        return FieldSet(set(self.members), {pe: c.copy() for pe, c in self.children.items()})

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def __bool__(self) -> bool:
        return not self.empty()

    def size(self) -> int:
        return len(self.members) + sum(c.size() for c in self.children.values())

    def has(self, path: Path) -> bool:
        """Whether `path` itself is a member (not merely a prefix of one)."""
        if not path:
            return False
        node: FieldSet | None = self
        for pe in path[:-1]:
            assert node is not None
            node = node.children.get(pe)
            if node is None:
                return False
        assert node is not None
        return path[-1] in node.members

    def with_prefix(self, pe: PathElement) -> FieldSet:
        """The paths below `pe`, without it (an empty set if there are none)."""
        return self.children.get(pe) or FieldSet()

    def union(self, other: FieldSet) -> FieldSet:
        if not other.members and not other.children:
            return self
        children = dict(self.children)
        for pe, c in other.children.items():
            mine = children.get(pe)
            children[pe] = c if mine is None else mine.union(c)
        return FieldSet(self.members | other.members, children)

    def intersection(self, other: FieldSet) -> FieldSet:
        children: dict[PathElement, FieldSet] = {}
        for pe, c in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                both = c.intersection(theirs)
                if not both.empty():
                    children[pe] = both
        return FieldSet(self.members & other.members, children)

    def difference(self, other: FieldSet) -> FieldSet:
        """Members of `self` not in `other`; children recurse only into `other`'s children.

        As upstream: a parent minus its child is the parent, and a child minus its parent is
        still the child (a member of `other` does not remove `self`'s paths below it).
        """
        children: dict[PathElement, FieldSet] = {}
        for pe, c in self.children.items():
            theirs = other.children.get(pe)
            if theirs is None:
                children[pe] = c
            else:
                rest = c.difference(theirs)
                if not rest.empty():
                    children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """`difference`, but a member of `other` also removes everything below it."""
        children: dict[PathElement, FieldSet] = {}
        for pe, c in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            if theirs is None:
                children[pe] = c
            else:
                rest = c.recursive_difference(theirs)
                if not rest.empty():
                    children[pe] = rest
        return FieldSet(self.members - other.members, children)

    def leaves(self) -> FieldSet:
        """Only the members that have no children."""
        return FieldSet(
            {pe for pe in self.members if pe not in self.children},
            {pe: c.leaves() for pe, c in self.children.items()},
        )

    def iterate(self, prefix: Path = ()) -> Iterator[Path]:
        """Every member path, in upstream's order: this level's members (sorted), then each
        child subtree (sorted)."""
        for pe in sorted(self.members):
            yield (*prefix, pe)
        for pe in sorted(self.children):
            yield from self.children[pe].iterate((*prefix, pe))

    def paths(self) -> list[Path]:
        return list(self.iterate())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        if self is other:
            return True
        mine = {pe: c for pe, c in self.children.items() if not c.empty()}
        theirs = {pe: c for pe, c in other.children.items() if not c.empty()}
        return self.members == other.members and mine == theirs

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "FieldSet(" + ", ".join(path_string(p) for p in self.iterate()) + ")"

    def to_json(self) -> dict[str, Any]:
        """The FieldsV1 document, keys in upstream's order (`emitContentsV1`).

        Each top-level field's document is kept for its subtree (sets are values): the pods
        of one template share their `spec` subtree (`fieldmanager.compare(remember=True)`),
        so its document is written once, not per create. Documents are shared, never edited.
        """
        out: dict[str, Any] = {}
        for pe in sorted(self.members | self.children.keys()):
            child = self.children.get(pe)
            out[pe.serialize()] = {} if child is None else _emitted(child, pe in self.members)
        return out

    def _emit(self, include_self: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if include_self and (self.members or self.children):
            out["."] = {}
        for pe in sorted(self.members | self.children.keys()):
            child = self.children.get(pe)
            key = pe.serialize()
            if child is None:
                out[key] = {}
            else:
                out[key] = child._emit(include_self=pe in self.members)
        return out

    @classmethod
    def from_json(cls, document: Any) -> FieldSet:
        """Read a FieldsV1 document (as upstream's `readIterV1`): `{}` marks a member, `"."`
        marks an element that also has children; unknown element types are dropped."""
        if not isinstance(document, dict):
            raise FieldPathError(f"FieldsV1 must be a JSON object, got {type(document).__name__}")
        # Every update reads the object's managedFields again, mostly unchanged: the sets read
        # are values (see the class docstring), so one read serves every equal document.
        try:
            key = orjson.dumps(document)
        except TypeError:  # not JSON (a YAML key that is not a string): read it, unkept
            key = b""
        known = _READ.pop(key, None) if key else None
        if known is not None:
            _READ[key] = known  # now the most recently used
            return known
        found, _member = cls._read(document)
        result = found if found is not None else cls()
        if key:
            if len(_READ) >= _READ_LIMIT:
                del _READ[next(iter(_READ))]
            _READ[key] = result
        return result

    @classmethod
    def _read(cls, document: dict[str, Any]) -> tuple[FieldSet | None, bool]:
        children: FieldSet | None = None
        is_member = False
        for key, sub in document.items():
            if key == ".":
                is_member = True
                continue
            pe = PathElement.deserialize(key)
            if pe is None:
                continue
            if not isinstance(sub, dict):
                raise FieldPathError(f"parsing key as path element: {key} is not an object")
            grandchildren, child_is_member = cls._read(sub)
            if children is None:
                children = cls()
            if child_is_member:
                children.members.add(pe)
            if grandchildren is not None and not grandchildren.empty():
                children.children[pe] = grandchildren
        if children is None:
            is_member = True
        return children, is_member


# -- Go formatting: encoding/json for the JSON inside keys, %v and %q for path strings --------

_JSON_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_NEEDS_ESCAPE: Final = re.compile('["\\\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _JSON_ESCAPES:
        return _JSON_ESCAPES[char]
    if "\ud800" <= char <= "\udfff":  # not valid UTF-8: Go writes the replacement character
        return "\ufffd"
    return f"\\u{ord(char):04x}"


def _go_json_string(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _shortest_digits(number: float) -> tuple[str, int]:
    """The shortest round-tripping digits of a finite non-zero float and its decimal exponent
    (the value is 0.DIGITS x 10^exp), as Go's strconv with precision -1 finds them."""
    _sign, digits, exponent = Decimal(repr(abs(number))).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    return text, exponent + len(digits)


def _format_float(number: float, fmt: str) -> str:
    """strconv.FormatFloat(number, fmt, -1, 64) for fmt 'f' or 'e'."""
    if number == 0:
        sign = "-" if math.copysign(1, number) < 0 else ""
        return sign + ("0" if fmt == "f" else "0e+00")
    sign = "-" if number < 0 else ""
    digits, point = _shortest_digits(number)
    if fmt == "f":
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits))
        return f"{sign}{digits[:point]}.{digits[point:]}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    exp = point - 1
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _go_json_float(number: float) -> str:
    """A float64 as Go's encoding/json writes it ('f' form, 'e' outside [1e-6, 1e21))."""
    if math.isnan(number) or math.isinf(number):
        raise FieldPathError(f"json: unsupported value: {number}")
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = _format_float(number, "e")
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return _format_float(number, "f")


def go_json(value: Any) -> str:
    """`value` as Go's encoding/json marshals it: compact, map keys sorted, HTML-safe escapes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_json_float(value)
    if isinstance(value, str):
        return _go_json_string(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_go_json_string(k)}:{go_json(v)}" for k, v in items) + "}"
    raise FieldPathError(f"json: unsupported type: {type(value).__name__}")


def _go_float_v(number: float) -> str:
    """A float64 as Go's `%v` prints it (strconv 'g', shortest): exponent form below 1e-4 or
    from 1e6 up."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1, number) < 0 else "0"
    _digits, point = _shortest_digits(number)
    exp = point - 1
    if exp < -4 or exp >= 6:
        return _format_float(number, "e")
    return _format_float(number, "f")


def go_string(value: Any) -> str:
    """structured-merge-diff's `value.ToString`: how a key or set value reads in a path."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float_v(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, list):
        return "[" + ",".join(go_string(item) for item in value) + "]"
    if isinstance(value, dict):
        return "".join(f"{k}={go_string(v)}" for k, v in value.items())
    return str(value)


# Subtree documents by (id of the subtree, whether it carries "."): each kept with its
# subtree, so the id is not reused while the entry lives; cleared when full.
_EMITTED: dict[tuple[int, bool], tuple[FieldSet, dict[str, Any]]] = {}
_EMITTED_LIMIT: Final = 4096


def _emitted(subtree: FieldSet, include_self: bool) -> dict[str, Any]:
    memo = (id(subtree), include_self)
    kept = _EMITTED.get(memo)
    if kept is not None and kept[0] is subtree:
        return kept[1]
    document = subtree._emit(include_self)
    if len(_EMITTED) >= _EMITTED_LIMIT:
        _EMITTED.clear()
    _EMITTED[memo] = (subtree, document)
    return document
