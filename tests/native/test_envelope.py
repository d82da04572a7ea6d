"""The Kubernetes protobuf envelope (kube.native.envelope and kube._rust), on both implementations.

Golden files are upstream's round-trip fixtures (../shared/testdata/k8s-api/*.pb); the official
protobuf library, through the modules setup.py generates from proto/, is the outside witness.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.native.conftest import IMPLEMENTATIONS, implementation, native_expected

try:  # generated from proto/ by setup.py, like the native kernels
    from kube._generated.k8s.io.apimachinery.pkg.runtime import generated_pb2
except ImportError as error:  # pragma: no cover - only without a build
    if native_expected():
        raise ImportError(f"{error}: run `make setup` to generate kube._generated") from error
    generated_pb2 = pytest.importorskip(
        "kube._generated.k8s.io.apimachinery.pkg.runtime.generated_pb2"
    )

GOLDEN_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "k8s-api"
GOLDEN = sorted(GOLDEN_DIR.glob("*.pb"))
MAGIC = b"k8s\x00"
MALFORMED = "malformed Kubernetes protobuf envelope: "

Decode = Callable[[bytes], tuple[str, str, bytes, str, str]]
Encode = Callable[..., bytes]


@pytest.fixture(params=IMPLEMENTATIONS, scope="module")
def codec(request: pytest.FixtureRequest) -> tuple[Decode, Encode]:
    """(decode_envelope, encode_envelope) of one implementation."""
    return (
        implementation("decode_envelope", request.param),
        implementation("encode_envelope", request.param),
    )


@pytest.fixture(scope="module")
def decode(codec: tuple[Decode, Encode]) -> Decode:
    return codec[0]


@pytest.fixture(scope="module")
def encode(codec: tuple[Decode, Encode]) -> Encode:
    return codec[1]


def official(data: bytes) -> tuple[str, str, bytes, str, str]:
    """What the protobuf library reads from an envelope."""
    assert data[:4] == MAGIC
    unknown = generated_pb2.Unknown()
    unknown.ParseFromString(data[4:])
    return (
        unknown.typeMeta.apiVersion,
        unknown.typeMeta.kind,
        unknown.raw,
        unknown.contentEncoding,
        unknown.contentType,
    )


# -- golden files ---------------------------------------------------------------------------


def test_golden_files_are_there() -> None:
    assert len(GOLDEN) > 100, f"expected upstream's .pb fixtures in {GOLDEN_DIR}"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_file(decode: Decode, encode: Encode, path: Path) -> None:
    data = path.read_bytes()
    api_version, kind, raw, content_encoding, content_type = decoded = decode(data)
    obj = json.loads(path.with_suffix(".json").read_text())
    # Objects that are not top-level kinds (a WatchEvent) go out with an empty TypeMeta.
    assert (api_version, kind) == (obj.get("apiVersion", ""), obj.get("kind", ""))
    assert isinstance(raw, bytes)
    assert raw  # every fixture carries an object
    assert encode(api_version, kind, raw, content_encoding, content_type) == data
    assert decoded == official(data)


# -- unit cases -----------------------------------------------------------------------------


def test_round_trip_and_defaults(decode: Decode, encode: Encode) -> None:
    data = encode("v1", "ConfigMap", b"\x0a\x05hello")
    assert (
        data == MAGIC + b"\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x07\x0a\x05hello\x1a\x00\x22\x00"
    )
    assert decode(data) == ("v1", "ConfigMap", b"\x0a\x05hello", "", "")
    assert decode(encode("a/b", "K", b"", "gzip", "application/json")) == (
        "a/b",
        "K",
        b"",
        "gzip",
        "application/json",
    )
    assert decode(MAGIC) == ("", "", b"", "", "")


def test_keywords(encode: Encode) -> None:
    assert encode(
        api_version="v1", kind="Pod", raw=b"x", content_type="t", content_encoding="e"
    ) == encode("v1", "Pod", b"x", "e", "t")


def test_long_fields_use_multibyte_lengths(decode: Decode, encode: Encode) -> None:
    raw = bytes(range(256)) * 800  # 200 KB
    kind = "K" * 300
    assert decode(encode("v1", kind, raw)) == ("v1", kind, raw, "", "")


@pytest.mark.parametrize(
    "data", [b"", b"k8s", b"k8s\x01\x0a\x00", b'{"kind":"Pod"}', b"\x0a\x02\x0a\x00"]
)
def test_missing_magic(decode: Decode, data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^not a Kubernetes protobuf envelope: missing k8s\\x00"):
        decode(data)


def test_skips_unknown_fields_of_every_wire_type(decode: Decode) -> None:
    data = MAGIC + b"".join(
        [
            b"\x28\x96\x01",  # 5: varint 150
            b"\x31\x01\x02\x03\x04\x05\x06\x07\x08",  # 6: fixed64
            b"\x3a\x02ab",  # 7: length-delimited
            b"\x45\x01\x02\x03\x04",  # 8: fixed32
            b"\x4b\x08\x01\x53\x54\x4c",  # 9: group holding field 1 and an empty group 10
            b"\x0a\x0b\x0a\x02v1\x18\x07\x12\x03Pod",  # typeMeta with an unknown field 3
            b"\x12\x01x",  # raw
            b"\xf8\xff\xff\xff\x0f\x00",  # field 2^29 - 1 (the largest), varint 0
        ]
    )
    assert decode(data) == ("v1", "Pod", b"x", "", "")
    assert decode(data) == official(data)


def test_repeated_fields_merge_or_keep_the_last(decode: Decode) -> None:
    data = MAGIC + b"\x0a\x04\x0a\x02v1\x0a\x03\x12\x01K\x12\x01a\x12\x01b\x22\x01c\x22\x01d"
    assert decode(data) == ("v1", "K", b"b", "", "d")
    assert decode(data) == official(data)


MALFORMED_CASES = [
    (b"\x0a", "truncated varint at offset 5"),
    (b"\x12\x05ab", "field 2 at offset 4 needs 5 bytes, only 2 left"),
    (b"\x12\x80", "truncated varint at offset 5"),
    (b"\x31\x01\x02", "field 6 at offset 4 needs 8 bytes, only 2 left"),
    (b"\x35\x01", "field 6 at offset 4 needs 4 bytes, only 1 left"),
    (b"\x00", "invalid field number 0 at offset 4"),
    (b"\x80\x80\x80\x80\x10", "invalid field number 536870912 at offset 4"),
    (b"\x2e", "invalid wire type 6 at offset 4"),
    (b"\x2f", "invalid wire type 7 at offset 4"),
    (b"\x10\x01", "field raw at offset 4 has wire type 0, expected 2"),
    (b"\x0d\x00\x00\x00\x00", "field typeMeta at offset 4 has wire type 5, expected 2"),
    (b"\x1b\x1c", "field contentEncoding at offset 4 has wire type 3, expected 2"),
    (b"\x0a\x02\x10\x01", "field kind at offset 6 has wire type 0, expected 2"),
    (b"\x2c", "end group 5 at offset 4 without a start group"),
    (b"\x2b\x34", "end group 6 at offset 5 does not close group 5"),
    (b"\x2b\x08\x01", "group 5 at offset 4 is not terminated"),
    (b"\x2b\x33", "group 6 at offset 5 is not terminated"),
    (b"\x2b\x33\x34", "group 5 at offset 4 is not terminated"),
    (b"\x1a\x01\xff", "field contentEncoding at offset 4 is not valid UTF-8"),
    (b"\x0a\x04\x0a\x02\xc3\x28", "field apiVersion at offset 6 is not valid UTF-8"),
    (b"\x22\x03\xed\xa0\x80", "field contentType at offset 4 is not valid UTF-8"),  # surrogate
    (b"\x28" + b"\xff" * 10 + b"\x01", "varint longer than 10 bytes at offset 5"),
    (b"\x0a\x02\x0a\x05hello", "field 1 at offset 6 needs 5 bytes, only 0 left"),
    (b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "field 2 at offset 4 needs "),
]


@pytest.mark.parametrize(("body", "message"), MALFORMED_CASES)
def test_malformed_input(decode: Decode, body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(MALFORMED + message)}"):
        decode(MAGIC + body)


def test_ten_byte_varints_keep_the_low_64_bits(decode: Decode) -> None:
    # A 10-byte varint whose last byte has more than one bit set still decodes (as in Go).
    data = MAGIC + b"\x28" + b"\xff" * 9 + b"\x7f" + b"\x12\x01x"
    assert decode(data)[2] == b"x"


# -- the two implementations agree, and agree with protobuf -----------------------------------


def outcome(fn: Callable[..., Any], *args: Any) -> object:
    try:
        return fn(*args)
    except ValueError as error:
        return (type(error).__name__, str(error))


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Random protobuf-ish fields: right and wrong wire types, nesting, garbage; then maybe cut.
FIELD_NUMBERS = st.sampled_from([1, 2, 3, 4, 5, 15, 16, 2047, 2**29 - 1, 2**29, 0])


@st.composite
def fields(draw: st.DrawFn, nested: bool = True) -> bytes:
    number = draw(FIELD_NUMBERS)
    wire_type = draw(st.sampled_from([0, 1, 2, 2, 2, 3, 4, 5, 6, 7]))
    key = varint(number << 3 | wire_type)
    if wire_type == 0:
        return key + varint(draw(st.integers(0, 2**70)))
    if wire_type == 1:
        return key + draw(st.binary(min_size=8, max_size=8))
    if wire_type == 5:
        return key + draw(st.binary(min_size=4, max_size=4))
    if wire_type == 2:
        if nested and draw(st.booleans()):  # a TypeMeta, or any embedded message
            payload = b"".join(draw(st.lists(fields(nested=False), max_size=3)))
        else:
            payload = draw(st.sampled_from([b"", b"v1", b"\xc3\xa9", b"\xff", b"\xed\xa0\x80"]))
        return key + varint(len(payload)) + payload
    if wire_type == 3 and nested:
        inner = b"".join(draw(st.lists(fields(nested=False), max_size=2)))
        end = draw(st.sampled_from([number, number, number, 7]))
        return key + inner + varint(end << 3 | 4)
    return key


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    body = b"".join(draw(st.lists(fields(), max_size=5)))
    data = MAGIC + body
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@given(data=envelopes() | st.binary(max_size=40).map(lambda b: MAGIC + b) | st.binary(max_size=8))
def test_decode_implementations_agree(data: bytes) -> None:
    reference = implementation("decode_envelope", "reference")
    native = implementation("decode_envelope", "native")
    assert outcome(native, data) == outcome(reference, data)


TEXT = st.text(max_size=20)


@given(api_version=TEXT, kind=TEXT, raw=st.binary(max_size=300), encoding=TEXT, ctype=TEXT)
def test_encode_round_trips_like_protobuf(
    api_version: str, kind: str, raw: bytes, encoding: str, ctype: str
) -> None:
    reference = implementation("encode_envelope", "reference")
    native = implementation("encode_envelope", "native")
    decode_native = implementation("decode_envelope", "native")
    fields_ = (api_version, kind, raw, encoding, ctype)
    try:
        data = reference(*fields_)
    except UnicodeEncodeError:  # a lone surrogate: not encodable, by either implementation
        with pytest.raises(UnicodeEncodeError):
            native(*fields_)
        return
    assert native(*fields_) == data
    assert decode_native(data) == fields_
    assert official(data) == fields_
    message = generated_pb2.Unknown(
        typeMeta=generated_pb2.TypeMeta(apiVersion=api_version, kind=kind),
        raw=raw,
        contentEncoding=encoding,
        contentType=ctype,
    )
    assert MAGIC + message.SerializeToString() == data
