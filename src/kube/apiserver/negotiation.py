"""Content negotiation: which format a request body is in and which one the client accepts.

Requests: JSON (also when no Content-Type is sent, as the Python client does) and YAML; the
patch handler reads patch bodies itself. Responses: JSON, YAML, or a transformation of the
object asked for by media-type parameters: `as=Table;g=meta.k8s.io;v=v1` (kubectl get) and
`as=PartialObjectMetadata[List]` (metadata-only informers).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from kube.api import errors
from kube.codec import jsonc, protobuf, yamlc

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"

PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
MAX_BODY_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str]
    q: float = 1.0

    @property
    def as_kind(self) -> str:
        return self.params.get("as", "")


def parse_media_types(header: str) -> list[MediaType]:
    """An Accept header into media types, most preferred first (as upstream's goautoneg).

    Higher `q` first; at equal `q`, concrete types before wildcards; otherwise the client's
    order. `q` is not kept among the parameters.
    """
    out = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params, q = {}, 1.0
        for piece in pieces[1:]:
            if "=" in piece:
                k, v = (x.strip() for x in piece.split("=", 1))
                if k == "q":
                    try:
                        q = float(v)
                    except ValueError:
                        q = 0.0
                else:
                    params[k] = v
        media = pieces[0].lower()
        if media == "*":
            media = "*/*"
        out.append(MediaType(media, params, q))

    def preference(m: MediaType) -> tuple[float, bool, bool]:
        main, _, sub = m.type.partition("/")
        return (-m.q, main == "*", sub == "*")

    return sorted(out, key=preference)


@dataclass(frozen=True)
class Output:
    """What the response should be: its format and the transformation (`as`)."""

    format: str  # JSON or YAML
    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    include_object: str = "Metadata"

    @property
    def content_type(self) -> str:
        if self.as_kind:
            return f"{self.format};as={self.as_kind};v=v1;g=meta.k8s.io"
        return self.format


@functools.lru_cache(maxsize=512)
def choose_output(accept: str, include_object: str = "", *, protobuf_ok: bool = True) -> Output:
    """The most preferred acceptable entry of the Accept header (JSON when absent); else 406.

    `protobuf_ok` False: the kind has no protobuf message, so a protobuf entry is passed over
    (a client asking for "protobuf, json", as the controllers do, gets JSON). Remembered per
    header: a client sends the same one on every request (a 406 is not remembered)."""
    if not accept:
        return Output(JSON)
    for media in parse_media_types(accept):
        if media.type in ("application/json", "*/*", "application/*"):
            fmt = JSON
        elif media.type == YAML:
            fmt = YAML
        elif media.type == PROTOBUF and not media.as_kind and protobuf_ok:
            fmt = PROTOBUF
        else:
            continue
        as_kind = media.as_kind
        if as_kind:
            group, version = media.params.get("g", ""), media.params.get("v", "")
            if (
                as_kind not in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")
                or group != "meta.k8s.io"
                or version not in ("v1", "v1beta1")
            ):
                continue
        return Output(fmt, as_kind, include_object or "Metadata")
    raise errors.not_acceptable("application/json, application/yaml, " + PROTOBUF)


OBJECT_MEDIA_TYPES = (JSON, YAML, PROTOBUF)


def decode_apply(body: bytes) -> dict[str, Any]:
    """An `application/apply-patch+yaml` body: YAML, of which JSON is the common case."""
    try:
        return jsonc.loads_object(body)
    except jsonc.DecodeError:
        pass
    try:
        return yamlc.loads_object(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(str(err)) from err


PROTOBUF_PREFIX = b"k8s\x00"
# What upstream's protobuf serializer says of a body that ends inside a field
# (gogo-protobuf's io.ErrUnexpectedEOF); the native decoder says where.
TRUNCATED = ("needs", "truncated")


def decode_protobuf(body: bytes) -> dict[str, Any]:
    """An enveloped protobuf body, with upstream's protobuf serializer's checks and words."""
    if not body:
        raise jsonc.DecodeError("empty data")
    if not body.startswith(PROTOBUF_PREFIX):
        raise jsonc.DecodeError(
            "provided data does not appear to be a protobuf message, expected prefix "
            f"[{' '.join(str(b) for b in PROTOBUF_PREFIX)}]"
        )
    if len(body) == len(PROTOBUF_PREFIX):
        raise jsonc.DecodeError("empty body")
    try:
        return protobuf.decode_object(body)
    except protobuf.ProtobufError as err:
        if any(word in str(err) for word in TRUNCATED):
            raise jsonc.DecodeError("unexpected EOF") from err
        raise


def decode_body(content_type: str, body: bytes) -> dict[str, Any]:
    """A request body in JSON (also when no Content-Type is sent) or YAML into an object dict.

    Any other media type is a 415 listing the accepted ones; a body that does not decode to an
    object is a 400.
    """
    media = content_type.split(";")[0].strip().lower()
    try:
        if media in ("", JSON):
            return jsonc.loads_object(body)
        if media == YAML:
            return yamlc.loads_object(body)
        if media == PROTOBUF:
            return decode_protobuf(body)
    except jsonc.DecodeError as err:
        raise errors.bad_request(str(err)) from err
    raise errors.unsupported_media_type(content_type, OBJECT_MEDIA_TYPES)


def encode(output: Output, obj: Any) -> bytes:
    if output.format == YAML:
        return yamlc.dumps(obj)
    if output.format == PROTOBUF:
        try:
            return protobuf.encode_object(obj)
        except protobuf.ProtobufError as err:
            raise errors.internal(f"encoding the response as protobuf: {err}") from err
    return jsonc.dumps(obj)
