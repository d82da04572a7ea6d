"""JSON in and out with orjson; decode errors become one `DecodeError` with upstream wording
(Go's encoding/json messages, see `kube.codec.gojson`)."""

from __future__ import annotations

from typing import Any

import orjson

from kube.codec import gojson

# The Go type upstream's json serializer unmarshals into first (`SimpleMetaFactory.Interpret`),
# as `%v` prints it in its error.
FIND_KIND_TYPE = (
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
    'Kind string "json:\\"kind,omitempty\\"" }'
)


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
        why = gojson.syntax_error(data) or str(err)
        raise DecodeError(f"couldn't get version/kind; json parse error: {why}") from err


def loads_object(data: bytes | str) -> dict[str, Any]:
    """Decode a JSON document that must be an object (a Kubernetes object or a patch)."""
    doc = loads(data)
    if not isinstance(doc, dict):
        # As Go's json.Unmarshal into the struct upstream reads apiVersion and kind with.
        if doc is None:
            raise DecodeError("Object 'Kind' is missing in 'null'")
        raise DecodeError(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{gojson.type_name(doc)} into Go value of type {FIND_KIND_TYPE}"
        )
    return doc
