"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902) over plain-dict objects.

Both return a new document and never modify their input. Errors are `PatchError` with a
message fit for a 4xx `Status` (upstream answers bad patches with 422 or 400).
Strategic merge patch and server-side apply live in their own modules.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Final

import orjson


class PatchError(ValueError):
    """The patch cannot be applied; the message says which operation and why."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, anything else replaces.

    The result shares nothing with `target` or `patch`: changing it changes neither.
    """
    if not isinstance(patch, dict):
        return _copy(patch)
    result: dict[str, Any] = _copy(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value: containers through orjson (several times faster than
    `copy.deepcopy` on a Node's status), `copy.deepcopy` for what orjson cannot write."""
    if not isinstance(value, (dict, list)):
        return copy.deepcopy(value)
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = target[key] = {}
            _merge_into(current, value)
        else:
            target[key] = _copy(value)


def same_json(a: Any, b: Any) -> bool:
    """Whether two containers (dicts or lists) serialise to the same bytes, keys sorted: then
    they are json_equal without a walk. Unequal bytes may still be equal values (`1` and
    `1.0`), so a False means "walk them", not "different". Keys are sorted because the same
    object often comes in two orders: a stored one gets its resourceVersion back last in
    metadata, a request carries it where its encoder put it."""
    if a.__class__ is not b.__class__ or not isinstance(a, (dict, list)):
        return False
    if a is b:
        return True
    try:
        return bool(orjson.dumps(a, option=_SORTED) == orjson.dumps(b, option=_SORTED))
    except TypeError:
        return False


_SORTED: Final = orjson.OPT_SORT_KEYS


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: unlike Python's `==`, `true` is not `1` (RFC 6902 `test`).

    Containers that serialise to the same bytes are equal without a walk (the common case of
    an update comparing unchanged parts); others are walked."""
    return same_json(a, b) or _walk_equal(a, b)


def _walk_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_walk_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_walk_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


_BAD_ESCAPE = re.compile(r"~(?![01])")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PatchError(f"JSON pointer {pointer!r} must start with '/'")
    if _BAD_ESCAPE.search(pointer):
        raise PatchError(f"JSON pointer {pointer!r}: '~' must be followed by '0' or '1'")
    return [_unescape(t) for t in pointer[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if token == "-" and for_add:
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r}")
    index = int(token)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise PatchError(f"array index {index} out of bounds")
    return index


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"path {path!r}: missing key {token!r}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise PatchError(f"path {path!r}: cannot descend into a {type(node).__name__}")
    return node


def _get(doc: Any, path: str) -> Any:
    tokens = _split_pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path!r} does not exist")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchError(f"path {path!r} does not exist")


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _split_pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}: missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise PatchError(f"path {path!r} does not exist")


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    tokens = _split_pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, for_add=False)] = value
        else:
            parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f"path {path!r} does not exist")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply `operations` (a list of {op, path, value|from}) in order."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = _copy(target)
    for number, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {number}: needs 'op' and 'path'")
        kind, path = op["op"], op["path"]
        if not isinstance(path, str):
            raise PatchError(f"operation {number}: 'path' must be a string")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {number} ({kind}): missing 'value'")
        if kind in ("move", "copy") and not isinstance(op.get("from"), str):
            raise PatchError(f"operation {number} ({kind}): 'from' must be a string")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind == "move":
            doc, value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if not json_equal(_get(doc, path), op["value"]):
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"operation {number}: unexpected op {kind!r}")
    return doc
