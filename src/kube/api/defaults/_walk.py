"""Helpers for filling defaults into JSON objects whose parts may have any type.

Defaulting writes only where a field is absent (`None`), and never into a part of the wrong
type: a `spec` that is a list is left alone for validation to report, not replaced.
"""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def sub(parent: object, key: str, *, create: bool = True) -> Object | None:
    """`parent[key]` as a dict, created (when `create`) if absent; None if not a dict."""
    if not isinstance(parent, dict):
        return None
    value = parent.get(key)
    if value is None:
        if not create:
            return None
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def items(parent: object, key: str) -> list[Object]:
    """The entries of the list `parent[key]` that are objects (none if absent)."""
    if not isinstance(parent, dict):
        return []
    value = parent.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def setdefault(obj: Object | None, key: str, value: object) -> None:
    """`obj[key] = value` where the field is absent (None counts as absent, as Go's nil)."""
    if obj is not None and obj.get(key) is None:
        obj[key] = value


def set_if_empty(obj: Object | None, key: str, value: object) -> None:
    """`obj[key] = value` where the field is absent or Go's zero value (`""`, `0`)."""
    if obj is not None and obj.get(key) in (None, "", 0) and obj.get(key) is not False:
        obj[key] = value
