"""Content negotiation: Accept headers (kubectl's Table header among them), 406, and bodies.

Upstream's rules (k8s.io/apiserver/pkg/endpoints/handlers/negotiation): the most preferred
acceptable media type wins, `as=Table` / `as=PartialObjectMetadata[List]` need
`g=meta.k8s.io` and `v=v1` or `v1beta1`, nothing acceptable is a 406, a body in an unknown
format is a 415 listing the accepted ones, and a body that does not decode is a 400.
"""

from __future__ import annotations

import orjson
import pytest
import yaml

from kube.api.errors import APIError
from kube.apiserver import negotiation
from kube.apiserver.negotiation import JSON, YAML, MediaType, Output, choose_output

# kubectl get (KUBECTL-WIRE.md)
KUBECTL_TABLE = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)
# kubectl's discovery request
KUBECTL_DISCOVERY = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)


def test_parse_media_types() -> None:
    assert negotiation.parse_media_types(KUBECTL_TABLE) == [
        MediaType("application/json", {"as": "Table", "v": "v1", "g": "meta.k8s.io"}),
        MediaType("application/json", {"as": "Table", "v": "v1beta1", "g": "meta.k8s.io"}),
        MediaType("application/json", {}),
    ]


def test_parse_media_types_spacing_case_and_empty_entries() -> None:
    parsed = negotiation.parse_media_types(" Application/JSON ; as = Table ;junk, ,*")
    assert parsed == [
        MediaType("application/json", {"as": "Table"}),
        MediaType("*/*", {}),
    ]


def test_q_values_order_the_media_types_and_are_not_parameters() -> None:
    parsed = negotiation.parse_media_types(
        "application/yaml;q=0.5,*/*;q=0.9,application/json;q=0.9,text/plain"
    )
    assert [(m.type, m.q) for m in parsed] == [
        ("text/plain", 1.0),
        ("application/json", 0.9),  # concrete before the wildcard at the same q
        ("*/*", 0.9),
        ("application/yaml", 0.5),
    ]
    assert all("q" not in m.params for m in parsed)


def test_kubectl_get_gets_a_v1_table() -> None:
    output = choose_output(KUBECTL_TABLE)
    assert output == Output(JSON, "Table", "Metadata")
    assert output.content_type == "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_kubectl_discovery_header_falls_back_to_plain_json() -> None:
    # APIGroupDiscoveryList is discovery's business, not a transformation of objects.
    assert choose_output(KUBECTL_DISCOVERY) == Output(JSON)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", Output(JSON)),
        ("application/json", Output(JSON)),
        ("application/json;charset=utf-8", Output(JSON)),
        ("application/yaml", Output(YAML)),
        ("*/*", Output(JSON)),
        ("*", Output(JSON)),
        ("application/*", Output(JSON)),
        ("text/html, application/yaml", Output(YAML)),
        ("application/json;q=0.5, application/yaml", Output(YAML)),
        ("application/yaml;q=0.1, application/json;q=0.2", Output(JSON)),
        ("application/yaml;as=Table;g=meta.k8s.io;v=v1", Output(YAML, "Table")),
        ("application/json;as=Table;g=meta.k8s.io;v=v1beta1", Output(JSON, "Table")),
        (
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
            Output(JSON, "PartialObjectMetadataList"),
        ),
        (
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            Output(JSON, "PartialObjectMetadata"),
        ),
        # transformations this server does not know are skipped, not errors
        ("application/json;as=Table;g=meta.k8s.io;v=v2,application/json", Output(JSON)),
        ("application/json;as=Table;v=v1,application/json", Output(JSON)),
        ("application/json;as=Widget;g=meta.k8s.io;v=v1,application/yaml", Output(YAML)),
    ],
)
def test_choose_output(accept: str, expected: Output) -> None:
    assert choose_output(accept) == expected


def test_include_object_is_carried_with_the_output() -> None:
    assert choose_output(KUBECTL_TABLE, "Object").include_object == "Object"
    assert choose_output(KUBECTL_TABLE, "").include_object == "Metadata"


@pytest.mark.parametrize(
    "accept",
    [
        "text/html",
        "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1",
        "application/json;as=Table;g=meta.k8s.io;v=v3",
        "application/json;as=APIGroupDiscoveryList;g=apidiscovery.k8s.io;v=v2",
        "image/*",
    ],
)
def test_nothing_acceptable_is_406(accept: str) -> None:
    with pytest.raises(APIError) as caught:
        choose_output(accept)
    err = caught.value
    assert (err.code, err.reason) == (406, "NotAcceptable")
    assert err.message == (
        "only the following media types are accepted: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf"
    )


def test_content_types() -> None:
    assert Output(JSON).content_type == "application/json"
    assert Output(YAML).content_type == "application/yaml"
    assert Output(YAML, "Table").content_type == "application/yaml;as=Table;v=v1;g=meta.k8s.io"
    assert (
        Output(JSON, "PartialObjectMetadataList").content_type
        == "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
    )


def test_encode() -> None:
    doc = {"kind": "Pod", "metadata": {"name": "p"}}
    assert orjson.loads(negotiation.encode(Output(JSON), doc)) == doc
    assert yaml.safe_load(negotiation.encode(Output(YAML), doc)) == doc


# -- request bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("", b'{"kind": "ConfigMap"}'),  # the Python client sends no Content-Type on create
        ("application/json", b'{"kind": "ConfigMap"}'),
        ("application/json; charset=utf-8", b'{"kind": "ConfigMap"}'),
        ("Application/JSON", b'{"kind": "ConfigMap"}'),
        ("application/yaml", b"kind: ConfigMap\n"),
    ],
)
def test_decode_body(content_type: str, body: bytes) -> None:
    assert negotiation.decode_body(content_type, body) == {"kind": "ConfigMap"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{not json"),
        ("application/json", b""),
        ("application/json", b"[1, 2]"),
        ("application/json", b'"a string"'),
        ("", b"kind: ConfigMap"),  # YAML sent without saying so is not JSON
        ("application/yaml", b"kind: [unclosed"),
        ("application/yaml", b"- a list\n"),
        ("application/yaml", b""),
    ],
)
def test_bodies_that_do_not_decode_to_an_object_are_400(content_type: str, body: bytes) -> None:
    with pytest.raises(APIError) as caught:
        negotiation.decode_body(content_type, body)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")


def test_json_decode_errors_read_like_upstream() -> None:
    with pytest.raises(APIError) as caught:
        negotiation.decode_body("application/json", b"{")
    assert caught.value.message.startswith("couldn't get version/kind; json parse error: ")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/merge-patch+json",  # a patch type is not an object body
        "application/apply-patch+yaml",
        "*/*",
    ],
)
def test_unknown_body_formats_are_415(content_type: str) -> None:
    with pytest.raises(APIError) as caught:
        negotiation.decode_body(content_type, b"{}")
    err = caught.value
    assert (err.code, err.reason) == (415, "UnsupportedMediaType")
    assert err.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )


def test_protobuf_is_accepted_both_ways() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    output = choose_output("application/vnd.kubernetes.protobuf, application/json")
    assert output.format == negotiation.PROTOBUF
    body = negotiation.encode(output, obj)
    assert body.startswith(b"k8s\x00")
    assert negotiation.decode_body("application/vnd.kubernetes.protobuf", body) == obj


def test_a_malformed_protobuf_body_is_400() -> None:
    with pytest.raises(APIError) as caught:
        negotiation.decode_body("application/vnd.kubernetes.protobuf", b"k8s\x00\xff\xff")
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty data"),
        (
            b"\x01\x02garbage",
            "provided data does not appear to be a protobuf message, expected prefix "
            "[107 56 115 0]",
        ),
        (
            b"k8s\x01\x0a\x02",
            "provided data does not appear to be a protobuf message, expected prefix "
            "[107 56 115 0]",
        ),
        (b"k8s\x00", "empty body"),
        # runtime.Unknown whose raw field claims 32 bytes but carries 2.
        (b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x20\x0a\x05", "unexpected EOF"),
    ],
)
def test_malformed_protobuf_bodies_read_as_upstream_words_them(body: bytes, message: str) -> None:
    with pytest.raises(APIError) as caught:
        negotiation.decode_body("application/vnd.kubernetes.protobuf", body)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (
        400,
        "BadRequest",
        message,
    )


def test_a_kind_without_a_protobuf_message_gets_json_when_json_is_also_accepted() -> None:
    # What the controller-manager and scheduler send (upstream's client-go with protobuf).
    accept = "application/vnd.kubernetes.protobuf, application/json"
    assert choose_output(accept).format == negotiation.PROTOBUF
    assert choose_output(accept, protobuf_ok=False).format == JSON
    with pytest.raises(APIError) as refused:
        choose_output("application/vnd.kubernetes.protobuf", protobuf_ok=False)
    assert refused.value.code == 406


def test_which_kinds_have_protobuf_messages() -> None:
    from kube.codec import protobuf

    assert protobuf.supports("v1", "Pod")
    assert protobuf.supports("coordination.k8s.io/v1", "Lease")
    assert protobuf.supports("v1", "Status")
    assert not protobuf.supports("stable.example.com/v1", "CronTab")
    assert not protobuf.supports("v1", "")
