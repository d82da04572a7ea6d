"""The Kubernetes protobuf envelope, in pure Python: the reference for `kube._rust`.

A protobuf request or response body is the magic `k8s\\x00` followed by one serialized
`k8s.io.apimachinery.pkg.runtime.Unknown` (proto/k8s.io/apimachinery/pkg/runtime/generated.proto):

    Unknown  {1: TypeMeta typeMeta, 2: bytes raw, 3: string contentEncoding, 4: string contentType}
    TypeMeta {1: string apiVersion, 2: string kind}

`raw` holds the object's own protobuf encoding. This module reads and writes the envelope with a
hand-written protobuf reader that the Rust kernel (`rust/src/envelope.rs`) mirrors step for step:
the two return the same result, or raise ValueError with the same message, on any input.

Decoding follows the Go API server (gogo-protobuf generated code): unknown fields of every wire
type are skipped (groups included, nested), a known field with the wrong wire type is an error,
a repeated `typeMeta` is merged, a repeated scalar keeps the last value, and truncated or
malformed input is an error that names the offset (into the whole input, magic included).
Encoding writes what the Go serializer writes: every field, empty ones too, in field order,
so golden `.pb` files re-encode byte for byte.
"""

from __future__ import annotations

from typing import Final, NoReturn

from kube.native.wire import LENGTH_DELIMITED, WireReader

__all__ = ["MAGIC", "decode_envelope", "encode_envelope"]

MAGIC: Final = b"k8s\x00"

_MALFORMED: Final = "malformed Kubernetes protobuf envelope: "


class _Reader(WireReader):
    """A cursor over the whole input or one embedded TypeMeta; errors name the envelope."""

    __slots__ = ()

    def fail(self, problem: str) -> NoReturn:
        raise ValueError(f"{_MALFORMED}{problem}")

    def string(self, field: int, offset: int, name: str) -> str:
        start, end = self.length_delimited(field, offset)
        return self.text(start, end, name, offset)


def _expect_length_delimited(wire_type: int, offset: int, name: str) -> None:
    if wire_type != LENGTH_DELIMITED:
        raise ValueError(
            f"{_MALFORMED}field {name} at offset {offset} has wire type {wire_type}, expected 2"
        )


def _decode_type_meta(data: bytes, start: int, end: int, type_meta: list[str]) -> None:
    """Reads a TypeMeta into `type_meta` ([apiVersion, kind]), keeping fields it lacks."""
    reader = _Reader(data, start, end)
    while not reader.at_end():
        field, wire_type, offset = reader.tag()
        if field == 1:
            _expect_length_delimited(wire_type, offset, "apiVersion")
            type_meta[0] = reader.string(field, offset, "apiVersion")
        elif field == 2:
            _expect_length_delimited(wire_type, offset, "kind")
            type_meta[1] = reader.string(field, offset, "kind")
        else:
            reader.skip(field, wire_type, offset)


def decode_envelope(data: bytes) -> tuple[str, str, bytes, str, str]:
    """(apiVersion, kind, raw, contentEncoding, contentType) of an envelope.

    Raises ValueError when `data` lacks the magic or is not a well-formed runtime.Unknown.
    """
    if data[: len(MAGIC)] != MAGIC:
        raise ValueError("not a Kubernetes protobuf envelope: missing k8s\\x00 magic")
    type_meta = ["", ""]
    raw = b""
    content_encoding = ""
    content_type = ""
    reader = _Reader(data, len(MAGIC), len(data))
    while not reader.at_end():
        field, wire_type, offset = reader.tag()
        if field == 1:
            _expect_length_delimited(wire_type, offset, "typeMeta")
            start, end = reader.length_delimited(field, offset)
            _decode_type_meta(data, start, end, type_meta)
        elif field == 2:
            _expect_length_delimited(wire_type, offset, "raw")
            start, end = reader.length_delimited(field, offset)
            raw = bytes(data[start:end])
        elif field == 3:
            _expect_length_delimited(wire_type, offset, "contentEncoding")
            content_encoding = reader.string(field, offset, "contentEncoding")
        elif field == 4:
            _expect_length_delimited(wire_type, offset, "contentType")
            content_type = reader.string(field, offset, "contentType")
        else:
            reader.skip(field, wire_type, offset)
    return type_meta[0], type_meta[1], raw, content_encoding, content_type


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(key: int, payload: bytes) -> bytes:
    return bytes((key,)) + _varint(len(payload)) + payload


def encode_envelope(
    api_version: str,
    kind: str,
    raw: bytes,
    content_encoding: str = "",
    content_type: str = "",
) -> bytes:
    """The envelope bytes the Go API server writes for these fields."""
    type_meta = _field(0x0A, api_version.encode()) + _field(0x12, kind.encode())
    return b"".join(
        (
            MAGIC,
            _field(0x0A, type_meta),
            _field(0x12, bytes(raw)),
            _field(0x1A, content_encoding.encode()),
            _field(0x22, content_type.encode()),
        )
    )
