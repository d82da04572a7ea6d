"""`/openapi/v2` as protobuf: the Swagger 2.0 document as gnostic's `openapi.v2.Document`.

kubectl asks for the v2 document as protobuf only (`Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) and proto-decodes whatever comes
back; it does so whenever the v3 documents cannot answer, e.g. to validate a create-only kind
(TokenReview, SubjectAccessReview) that has no PATCH operation in v3. Upstream makes these bytes
by parsing its JSON document with gnostic's compiler and marshalling the result; `to_protobuf`
does the same from our JSON document (`openapi.build_v2`), following the compiler's rules:

- objects whose keys are data (paths, definitions, properties, responses, security
  definitions) become ordered `Named*` pairs;
- a parameter is a `BodyParameter` when `in: body`, otherwise a `NonBodyParameter` holding the
  sub-schema of its location (query, path, header, formData); a `$ref` in `parameters` or
  `responses` becomes a `JsonReference`;
- a schema's `type` is a `TypeItem` (one or more names), `items` an `ItemsItem` (one schema or
  several), `additionalProperties` a schema or a boolean;
- free-form values (`default`, `example`, `enum` members, `x-` vendor extensions) are `Any`
  messages whose `yaml` field holds the value's text; the compiler writes YAML, we write JSON,
  which YAML readers (kubectl's `yaml.Unmarshal`) take as the same value.

Keys are visited in sorted order so the same document gives the same bytes on every start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from kube._generated.gnostic import openapiv2_pb2 as pb

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")

# JSON key -> proto field, for the scalar fields each message copies as they are.
_SCHEMA_SCALARS = {
    "$ref": "_ref",
    "format": "format",
    "title": "title",
    "description": "description",
    "multipleOf": "multiple_of",
    "maximum": "maximum",
    "exclusiveMaximum": "exclusive_maximum",
    "minimum": "minimum",
    "exclusiveMinimum": "exclusive_minimum",
    "maxLength": "max_length",
    "minLength": "min_length",
    "pattern": "pattern",
    "maxItems": "max_items",
    "minItems": "min_items",
    "uniqueItems": "unique_items",
    "maxProperties": "max_properties",
    "minProperties": "min_properties",
    "discriminator": "discriminator",
    "readOnly": "read_only",
}
_PRIMITIVE_SCALARS = {
    "type": "type",
    "format": "format",
    "collectionFormat": "collection_format",
    "maximum": "maximum",
    "exclusiveMaximum": "exclusive_maximum",
    "minimum": "minimum",
    "exclusiveMinimum": "exclusive_minimum",
    "maxLength": "max_length",
    "minLength": "min_length",
    "pattern": "pattern",
    "maxItems": "max_items",
    "minItems": "min_items",
    "uniqueItems": "unique_items",
    "multipleOf": "multiple_of",
}
# A non-body parameter's fields: the primitive ones plus these.
_PARAMETER_SCALARS = {
    **_PRIMITIVE_SCALARS,
    "required": "required",
    "in": "in",
    "description": "description",
    "name": "name",
    "allowEmptyValue": "allow_empty_value",
}
_OPERATION_SCALARS = {
    "summary": "summary",
    "description": "description",
    "operationId": "operation_id",
    "deprecated": "deprecated",
}
_NON_BODY_LOCATIONS = {
    "query": "query_parameter_sub_schema",
    "path": "path_parameter_sub_schema",
    "header": "header_parameter_sub_schema",
    "formData": "form_data_parameter_sub_schema",
}


def to_protobuf(doc: Mapping[str, Any]) -> bytes:
    """The serialized `openapi.v2.Document` of a Swagger 2.0 document (as parsed JSON)."""
    data: bytes = document(doc).SerializeToString(deterministic=True)
    return data


def document(doc: Mapping[str, Any]) -> pb.Document:
    """The `openapi.v2.Document` message of a Swagger 2.0 document."""
    out = pb.Document(swagger=doc.get("swagger", ""))
    for key in ("host", "basePath"):
        if key in doc:
            setattr(out, "base_path" if key == "basePath" else key, doc[key])
    out.schemes.extend(doc.get("schemes", ()))
    out.consumes.extend(doc.get("consumes", ()))
    out.produces.extend(doc.get("produces", ()))
    if "info" in doc:
        out.info.CopyFrom(_info(doc["info"]))
    if "paths" in doc:
        paths = doc["paths"]
        out.paths.SetInParent()
        out.paths.vendor_extension.extend(_extensions(paths))
        for name in sorted(paths):
            if not name.startswith("x-"):
                out.paths.path.add(name=name, value=_path_item(paths[name]))
    if "definitions" in doc:
        out.definitions.SetInParent()
        for name in sorted(doc["definitions"]):
            out.definitions.additional_properties.add(
                name=name, value=schema(doc["definitions"][name])
            )
    for name in sorted(doc.get("parameters", {})):
        out.parameters.additional_properties.add(
            name=name, value=_parameter(doc["parameters"][name])
        )
    for name in sorted(doc.get("responses", {})):
        out.responses.additional_properties.add(name=name, value=_response(doc["responses"][name]))
    out.security.extend(_security_requirement(r) for r in doc.get("security", ()))
    for name in sorted(doc.get("securityDefinitions", {})):
        item = _security_definition(doc["securityDefinitions"][name])
        if item is not None:
            out.security_definitions.additional_properties.add(name=name, value=item)
    for tag in doc.get("tags", ()):
        out.tags.add(
            name=tag.get("name", ""),
            description=tag.get("description", ""),
            vendor_extension=_extensions(tag),
        )
    if "externalDocs" in doc:
        out.external_docs.CopyFrom(_external_docs(doc["externalDocs"]))
    out.vendor_extension.extend(_extensions(doc))
    return out


def schema(value: Mapping[str, Any]) -> pb.Schema:
    """A JSON schema object as `openapi.v2.Schema`."""
    out = pb.Schema()
    _copy_scalars(value, out, _SCHEMA_SCALARS)
    if "type" in value:
        kind = value["type"]
        out.type.value.extend([kind] if isinstance(kind, str) else kind)
    if "items" in value:
        items = value["items"]
        out.items.schema.extend(schema(i) for i in (items if isinstance(items, list) else [items]))
    if "additionalProperties" in value:
        extra = value["additionalProperties"]
        if isinstance(extra, bool):
            out.additional_properties.boolean = extra
        else:
            out.additional_properties.schema.CopyFrom(schema(extra))
    out.all_of.extend(schema(s) for s in value.get("allOf", ()))
    if "properties" in value:
        properties = value["properties"]
        out.properties.SetInParent()
        for name in sorted(properties):
            out.properties.additional_properties.add(name=name, value=schema(properties[name]))
    out.required.extend(value.get("required", ()))
    out.enum.extend(any_value(v) for v in value.get("enum", ()))
    if "default" in value:
        out.default.CopyFrom(any_value(value["default"]))
    if "example" in value:
        out.example.CopyFrom(any_value(value["example"]))
    if "externalDocs" in value:
        out.external_docs.CopyFrom(_external_docs(value["externalDocs"]))
    if "xml" in value:
        xml = value["xml"]
        out.xml.CopyFrom(
            pb.Xml(
                name=xml.get("name", ""),
                namespace=xml.get("namespace", ""),
                prefix=xml.get("prefix", ""),
                attribute=xml.get("attribute", False),
                wrapped=xml.get("wrapped", False),
                vendor_extension=_extensions(xml),
            )
        )
    out.vendor_extension.extend(_extensions(value))
    return out


def any_value(value: Any) -> pb.Any:
    """A free-form value as gnostic's `Any`: its text in `yaml` (JSON, a subset of YAML)."""
    return pb.Any(yaml=orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() + "\n")


def _extensions(value: Mapping[str, Any]) -> list[pb.NamedAny]:
    """The `x-` keys of an object, as gnostic's vendor extensions."""
    return [
        pb.NamedAny(name=key, value=any_value(value[key]))
        for key in sorted(value)
        if key.startswith("x-")
    ]


def _copy_scalars(value: Mapping[str, Any], out: Any, fields: Mapping[str, str]) -> None:
    for key, field in fields.items():
        if key in value:
            setattr(out, field, value[key])


def _info(value: Mapping[str, Any]) -> pb.Info:
    out = pb.Info(
        title=value.get("title", ""),
        version=value.get("version", ""),
        description=value.get("description", ""),
        terms_of_service=value.get("termsOfService", ""),
        vendor_extension=_extensions(value),
    )
    if "contact" in value:
        contact = value["contact"]
        out.contact.CopyFrom(
            pb.Contact(
                name=contact.get("name", ""),
                url=contact.get("url", ""),
                email=contact.get("email", ""),
                vendor_extension=_extensions(contact),
            )
        )
    if "license" in value:
        lic = value["license"]
        out.license.CopyFrom(
            pb.License(
                name=lic.get("name", ""), url=lic.get("url", ""), vendor_extension=_extensions(lic)
            )
        )
    return out


def _external_docs(value: Mapping[str, Any]) -> pb.ExternalDocs:
    return pb.ExternalDocs(
        description=value.get("description", ""),
        url=value.get("url", ""),
        vendor_extension=_extensions(value),
    )


def _path_item(value: Mapping[str, Any]) -> pb.PathItem:
    out = pb.PathItem(_ref=value.get("$ref", ""))
    for method in _METHODS:
        if method in value:
            getattr(out, method).CopyFrom(_operation(value[method]))
    out.parameters.extend(_parameters_item(p) for p in value.get("parameters", ()))
    out.vendor_extension.extend(_extensions(value))
    return out


def _operation(value: Mapping[str, Any]) -> pb.Operation:
    out = pb.Operation()
    _copy_scalars(value, out, _OPERATION_SCALARS)
    out.tags.extend(value.get("tags", ()))
    out.produces.extend(value.get("produces", ()))
    out.consumes.extend(value.get("consumes", ()))
    out.schemes.extend(value.get("schemes", ()))
    out.parameters.extend(_parameters_item(p) for p in value.get("parameters", ()))
    if "externalDocs" in value:
        out.external_docs.CopyFrom(_external_docs(value["externalDocs"]))
    if "responses" in value:
        responses = value["responses"]
        out.responses.SetInParent()
        for code in sorted(responses):
            if code.startswith("x-"):
                continue
            out.responses.response_code.add(name=code, value=_response_value(responses[code]))
        out.responses.vendor_extension.extend(_extensions(responses))
    out.security.extend(_security_requirement(r) for r in value.get("security", ()))
    out.vendor_extension.extend(_extensions(value))
    return out


def _parameters_item(value: Mapping[str, Any]) -> pb.ParametersItem:
    if "$ref" in value:
        return pb.ParametersItem(json_reference=_json_reference(value))
    return pb.ParametersItem(parameter=_parameter(value))


def _json_reference(value: Mapping[str, Any]) -> pb.JsonReference:
    return pb.JsonReference(_ref=value["$ref"], description=value.get("description", ""))


def _parameter(value: Mapping[str, Any]) -> pb.Parameter:
    """A parameter: the body one with its schema, any other as its location's sub-schema."""
    if value.get("in") == "body":
        fields: dict[str, Any] = {"in": "body"}  # `in` is a Python keyword: no argument name
        body = pb.BodyParameter(
            description=value.get("description", ""),
            name=value.get("name", ""),
            required=value.get("required", False),
            vendor_extension=_extensions(value),
            **fields,
        )
        if "schema" in value:
            body.schema.CopyFrom(schema(value["schema"]))
        return pb.Parameter(body_parameter=body)
    out = pb.Parameter()
    location = _NON_BODY_LOCATIONS.get(value.get("in", ""), "query_parameter_sub_schema")
    sub = getattr(out.non_body_parameter, location)
    _copy_scalars(value, sub, {k: f for k, f in _PARAMETER_SCALARS.items() if hasattr(sub, f)})
    _copy_primitive_parts(value, sub)
    return out


def _primitives_items(value: Mapping[str, Any]) -> pb.PrimitivesItems:
    out = pb.PrimitivesItems()
    _copy_scalars(value, out, _PRIMITIVE_SCALARS)
    _copy_primitive_parts(value, out)
    return out


def _copy_primitive_parts(value: Mapping[str, Any], out: Any) -> None:
    """`items`, `default`, `enum` and extensions, which a non-body parameter's sub-schema and
    PrimitivesItems share."""
    if "items" in value:
        out.items.CopyFrom(_primitives_items(value["items"]))
    if "default" in value:
        out.default.CopyFrom(any_value(value["default"]))
    out.enum.extend(any_value(v) for v in value.get("enum", ()))
    out.vendor_extension.extend(_extensions(value))


def _response_value(value: Mapping[str, Any]) -> pb.ResponseValue:
    if "$ref" in value:
        return pb.ResponseValue(json_reference=_json_reference(value))
    return pb.ResponseValue(response=_response(value))


def _response(value: Mapping[str, Any]) -> pb.Response:
    out = pb.Response(description=value.get("description", ""))
    if "schema" in value:
        out.schema.schema.CopyFrom(schema(value["schema"]))
    for name in sorted(value.get("headers", {})):
        header = value["headers"][name]
        converted = pb.Header(description=header.get("description", ""))
        _copy_scalars(header, converted, _PRIMITIVE_SCALARS)
        out.headers.additional_properties.add(name=name, value=converted)
    for name in sorted(value.get("examples", {})):
        out.examples.additional_properties.add(name=name, value=any_value(value["examples"][name]))
    out.vendor_extension.extend(_extensions(value))
    return out


def _security_requirement(value: Mapping[str, Any]) -> pb.SecurityRequirement:
    return pb.SecurityRequirement(
        additional_properties=[
            pb.NamedStringArray(name=name, value=pb.StringArray(value=value[name]))
            for name in sorted(value)
        ]
    )


def _security_definition(value: Mapping[str, Any]) -> pb.SecurityDefinitionsItem | None:
    """An API-key scheme (the only kind an API server declares); None for another kind."""
    if value.get("type") != "apiKey":
        return None
    key = pb.ApiKeySecurity(
        type="apiKey",
        name=value.get("name", ""),
        description=value.get("description", ""),
        vendor_extension=_extensions(value),
        **{"in": value.get("in", "")},
    )
    return pb.SecurityDefinitionsItem(api_key_security=key)
