"""JSON in and out with orjson; decode errors become one `DecodeError` with upstream wording."""

from __future__ import annotations

from typing import Any

import orjson


class DecodeError(ValueError):
    """The bytes are not a valid document of the format; the message says where."""


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def dumps_pretty(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as err:
        raise DecodeError(f"couldn't get version/kind; json parse error: {err}") from err


def loads_object(data: bytes | str) -> dict[str, Any]:
    """Decode a JSON document that must be an object (a Kubernetes object or a patch)."""
    doc = loads(data)
    if not isinstance(doc, dict):
        got = type(doc).__name__
        raise DecodeError(
            f"couldn't get version/kind; json parse error: expected an object, got {got}"
        )
    return doc
