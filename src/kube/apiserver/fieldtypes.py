"""The structured-merge-diff type of each served kind, from the upstream schemas.

Server-side apply, managedFields and unknown-field pruning walk objects with a `FieldType`
(`kube.api.fieldmanager`); this module builds them once per process from the same upstream
definitions the OpenAPI documents serve (`openapi_schemas.raw_definitions`). A kind without an
upstream schema (a custom resource) gets `DEDUCED`: every field is allowed and lists are atomic.
"""

from __future__ import annotations

from functools import cache

from kube.api.fieldmanager import DEDUCED, FieldType, SchemaTypes
from kube.apiserver.openapi_schemas import definition_name, raw_definitions

__all__ = ["field_type"]


@cache
def _types() -> SchemaTypes:
    return SchemaTypes(raw_definitions())


@cache
def field_type(group: str, version: str, kind: str) -> FieldType:
    """The `FieldType` of a kind (`("apps", "v1", "Deployment")`); DEDUCED if unknown."""
    name = definition_name(group, version, kind)
    return DEDUCED if name is None else _types().definition(name)
