"""Kubernetes objects to and from `application/vnd.kubernetes.protobuf`.

Objects are plain dicts in the JSON wire shape (as everywhere in this server); a protobuf body is
the `k8s\\x00` magic and a runtime.Unknown envelope around the object's message. The conversion
runs in the `decode_object` / `encode_object` kernels of `kube.native` (Rust, or the pure-Python
reference `kube.native.protobuf`, whose docstring describes the JSON <-> protobuf mapping); this
module is the typed surface the API server calls, and turns their ValueErrors into
`ProtobufError`, a `DecodeError`, so a bad request body becomes a 400 like bad JSON does.

    body = encode_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {...}})
    obj = decode_object(body)  # {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {...}}

Watch streams in protobuf (`application/vnd.kubernetes.protobuf;stream=watch`) carry each event
as a metav1.WatchEvent message without the envelope, framed by its length as a 4-byte big-endian
integer, with the object enveloped inside: `encode_watch_event` builds one frame and
`decode_watch_event` reads one (without its length prefix).
"""

from __future__ import annotations

from typing import Any, Final

from kube import native
from kube.codec.jsonc import DecodeError
from kube.native import proto_schema

__all__ = [
    "CONTENT_TYPE",
    "WATCH_CONTENT_TYPE",
    "ProtobufError",
    "decode_object",
    "decode_watch_event",
    "encode_object",
    "encode_watch_event",
    "supports",
]

CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf"
WATCH_CONTENT_TYPE: Final = "application/vnd.kubernetes.protobuf;stream=watch"


class ProtobufError(DecodeError):
    """A body that is not a protobuf object of a served kind, or an object that cannot be
    encoded as one (unknown kind, a value of the wrong type); the message says where."""


def supports(api_version: str, kind: str) -> bool:
    """Whether objects of `kind` in `api_version` have a protobuf message (custom resources,
    and the kinds the schema lacks, are JSON only: a client that also accepts JSON gets it)."""
    package = proto_schema.API_VERSIONS.get(api_version)
    if package is None or not kind or "." in kind:
        return False
    return f"{package}.{kind}" in proto_schema.MESSAGES or kind in proto_schema.META_KINDS


def decode_object(data: bytes) -> dict[str, Any]:
    """The object (with apiVersion and kind) of an enveloped protobuf body."""
    try:
        return native.decode_object(data)
    except ValueError as error:
        raise ProtobufError(str(error)) from None


def encode_object(obj: dict[str, Any]) -> bytes:
    """The enveloped protobuf body of an object that has apiVersion and kind."""
    try:
        return native.encode_object(obj)
    except ValueError as error:
        raise ProtobufError(str(error)) from None


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_watch_event(event_type: str, obj: dict[str, Any]) -> bytes:
    """One frame of a protobuf watch stream: length, then WatchEvent{type, object{raw}}, where
    raw is the enveloped object (as upstream's watch handler writes it)."""
    raw = encode_object(obj)
    kind = event_type.encode()
    embedded = b"\x0a" + _varint(len(raw)) + raw  # RawExtension{raw = 1}
    event = b"\x0a" + _varint(len(kind)) + kind + b"\x12" + _varint(len(embedded)) + embedded
    return len(event).to_bytes(4, "big") + event


def _fields(data: bytes) -> dict[int, bytes]:
    """The length-delimited fields of a small message (the last occurrence of each number)."""
    out: dict[int, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _read_varint(data, pos)
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise ProtobufError("watch event: truncated field")
            out[number] = data[pos : pos + size]
            pos += size
        else:
            raise ProtobufError(f"watch event: unexpected wire type {wire}")
    return out


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("watch event: truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def decode_watch_event(frame: bytes) -> tuple[str, dict[str, Any]]:
    """The (type, object) of one protobuf watch frame's WatchEvent message."""
    event = _fields(frame)
    if 1 not in event or 2 not in event:
        raise ProtobufError("watch event: missing type or object")
    raw = _fields(event[2]).get(1, b"")
    return event[1].decode(), decode_object(raw)
