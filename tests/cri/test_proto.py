"""The compiled CRI descriptors carry upstream's wire facts (field numbers, types, services).

proto/cri/runtime_v1.proto is the project's own file; this test holds it to the field table
extracted from k8s.io/cri-api, so the kubelet and containerd/CRI-O understand each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor

from kube._generated.cri import runtime_v1_pb2, runtime_v1_pb2_grpc

KINDS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_BYTES: "bytes",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_UINT32: "uint32",
    FieldDescriptor.TYPE_UINT64: "uint64",
    FieldDescriptor.TYPE_DOUBLE: "double",
    FieldDescriptor.TYPE_MESSAGE: "message",
    FieldDescriptor.TYPE_ENUM: "enum",
}


@pytest.fixture(scope="module")
def table(shared_testdata: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (shared_testdata / "wire-schemas" / "cri-runtime-v1-fields.json").read_text()
    )
    return data


def test_every_message_field_matches(table: dict[str, Any]) -> None:
    pool = runtime_v1_pb2.DESCRIPTOR.pool
    for name, message in table["messages"].items():
        descriptor = pool.FindMessageTypeByName(name)
        assert bool(descriptor.GetOptions().map_entry) == bool(message.get("map_entry")), name
        expected = {f[0]: f for f in message["fields"]}
        assert set(descriptor.fields_by_number) == set(expected), name
        for number, (_, field_name, kind, type_name, label) in expected.items():
            field = descriptor.fields_by_number[number]
            assert field.name == field_name, (name, number)
            assert KINDS[field.type] == kind, (name, field_name)
            repeated = field.is_repeated
            assert repeated == (label == "repeated"), (name, field_name)
            if type_name is not None:
                target = field.message_type or field.enum_type
                assert target.full_name == type_name, (name, field_name)


def test_enums_match(table: dict[str, Any]) -> None:
    pool = runtime_v1_pb2.DESCRIPTOR.pool
    for name, values in table["enums"].items():
        descriptor = pool.FindEnumTypeByName(name)
        assert {v.name: v.number for v in descriptor.values} == values, name


def test_services_and_stubs(table: dict[str, Any]) -> None:
    pool = runtime_v1_pb2.DESCRIPTOR.pool
    for service, methods in table["services"].items():
        descriptor = pool.FindServiceByName(service)
        assert [m.name for m in descriptor.methods] == [m[0] for m in methods]
        for name, request, response, client_stream, server_stream in methods:
            method = descriptor.methods_by_name[name]
            assert method.input_type.full_name == request
            assert method.output_type.full_name == response
            assert method.client_streaming == client_stream
            assert method.server_streaming == server_stream
    assert runtime_v1_pb2_grpc.RuntimeServiceStub is not None
    assert runtime_v1_pb2_grpc.ImageServiceServicer is not None
