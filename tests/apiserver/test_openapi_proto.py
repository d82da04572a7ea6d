"""The Swagger 2.0 -> gnostic protobuf converter and the Accept negotiation of /openapi/v2."""

from __future__ import annotations

import orjson

from kube._generated.gnostic import openapiv2_pb2 as pb
from kube.api.resources import REGISTRY
from kube.apiserver import openapi_proto
from kube.apiserver.openapi import PROTOBUF, OpenAPIDocuments

KUBECTL_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def test_schema_fields_take_gnostics_shapes() -> None:
    schema = openapi_proto.schema(
        {
            "type": "object",
            "description": "d",
            "required": ["a"],
            "properties": {
                "a": {"type": "array", "items": {"$ref": "#/definitions/X"}},
                "m": {"type": "object", "additionalProperties": {"type": "string"}},
                "f": {"additionalProperties": False},
                "e": {"type": "string", "enum": ["x", "y"], "default": "x"},
                "all": {"allOf": [{"$ref": "#/definitions/Y"}], "x-kubernetes-list-type": "set"},
            },
        }
    )
    assert list(schema.type.value) == ["object"]
    assert list(schema.required) == ["a"]
    props = {p.name: p.value for p in schema.properties.additional_properties}
    assert list(props) == ["a", "all", "e", "f", "m"]  # sorted: the same bytes every time
    assert props["a"].items.schema[0]._ref == "#/definitions/X"
    assert list(props["m"].additional_properties.schema.type.value) == ["string"]
    assert props["f"].additional_properties.WhichOneof("oneof") == "boolean"
    assert props["f"].additional_properties.boolean is False
    assert [orjson.loads(a.yaml) for a in props["e"].enum] == ["x", "y"]
    assert orjson.loads(props["e"].default.yaml) == "x"
    assert props["all"].all_of[0]._ref == "#/definitions/Y"
    assert [(e.name, orjson.loads(e.value.yaml)) for e in props["all"].vendor_extension] == [
        ("x-kubernetes-list-type", "set")
    ]


def test_parameters_split_into_body_and_non_body() -> None:
    doc = openapi_proto.document(
        {
            "swagger": "2.0",
            "paths": {
                "/x/{name}": {
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "type": "string"},
                        {"$ref": "#/parameters/pretty"},
                    ],
                    "put": {
                        "parameters": [
                            {"name": "body", "in": "body", "required": True, "schema": {}},
                            {"name": "dryRun", "in": "query", "type": "string"},
                        ],
                        "responses": {"200": {"description": "OK", "schema": {"type": "string"}}},
                    },
                }
            },
        }
    )
    item = doc.paths.path[0].value
    path_param = item.parameters[0].parameter.non_body_parameter.path_parameter_sub_schema
    assert (path_param.name, path_param.required, path_param.type) == ("name", True, "string")
    assert item.parameters[1].json_reference._ref == "#/parameters/pretty"
    body, query = item.put.parameters
    assert body.parameter.body_parameter.name == "body"
    assert getattr(body.parameter.body_parameter, "in") == "body"
    assert query.parameter.non_body_parameter.query_parameter_sub_schema.name == "dryRun"
    (ok,) = item.put.responses.response_code
    assert ok.name == "200"
    assert list(ok.value.response.schema.schema.type.value) == ["string"]


def test_v2_is_negotiated_by_accept() -> None:
    docs = OpenAPIDocuments(REGISTRY)
    for accept in (None, "*/*", "application/json", f"{KUBECTL_ACCEPT};q=0.5, application/json"):
        answer = docs.answer("/openapi/v2", {}, accept)
        assert answer is not None
        assert answer.content_type == "application/json", accept
    for accept in (KUBECTL_ACCEPT, f"{PROTOBUF}, */*"):
        answer = docs.answer("/openapi/v2", {}, accept)
        assert answer is not None
        assert answer.content_type == PROTOBUF, accept
        assert pb.Document.FromString(answer.body).swagger == "2.0"
        assert ("Vary", "Accept") in answer.headers
    refused = docs.answer("/openapi/v2", {}, "text/html")
    assert refused is not None
    assert refused.status == 406
    # Both encodings carry one ETag (the JSON document's hash), as upstream.
    assert docs.v2_protobuf().etag == docs.v2().etag
