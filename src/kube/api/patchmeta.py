"""Patch metadata: how a strategic merge patch treats each field of a type.

Strategic merge patch needs two facts about a field, both declared on the field in the
OpenAPI schema (and, upstream, in the Go struct tags the schema is generated from):

- `x-kubernetes-patch-strategy`: `merge` (merge a list element by element, or union a list of
  primitives), `replace` (replace a map wholesale), `retainKeys` (a `$retainKeys` directive
  may clear the map's other keys), or `merge,retainKeys`; no strategy means a list is replaced
  and a map is merged;
- `x-kubernetes-patch-merge-key`: the key that identifies an element of a merged list of
  maps (`name` for containers, `containerPort` for ports).

`x-kubernetes-list-type` / `-list-map-keys` belong to server-side apply; strategic merge
patch ignores them, as upstream does.

A `PatchMeta` answers for one type, as upstream's `LookupPatchMeta` does: `lookup_struct(key)`
gives the metadata of the field `key` and the `PatchMeta` of its value (for a map value),
`lookup_slice(key)` the same for a list field, with the `PatchMeta` of its elements. Three
kinds of schema answer differently, as upstream's struct-based lookup does:

- an object with `properties`: the field's own metadata; an unknown field is an error
  (`unable to find api field in struct Container for the json field "foo"`), unless the
  object preserves unknown fields;
- a map (`additionalProperties`): every key has the value schema and no metadata;
- no schema (a custom resource, `RawExtension`, an untyped object): no metadata anywhere, so
  lists are replaced and maps merged -- JSON merge patch semantics plus the directives.

`SchemaIndex` builds `PatchMeta`s from a table of definitions (`{name: schema}`, as in an
OpenAPI document's `components.schemas`), following `$ref`, single-entry `allOf` wrappers,
`items` and `additionalProperties`; each definition's `PatchMeta` is built once and its
lookups are cached, so a type is walked once per process. The API server feeds it the
upstream schemas (`kube.apiserver.patchschema`); tests feed it small hand-written tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kube.api.patch import PatchError

__all__ = [
    "NO_PATCH_META",
    "SCHEMALESS",
    "FieldPatch",
    "PatchMeta",
    "SchemaIndex",
    "Schemaless",
]

Schema = Mapping[str, Any]

PATCH_STRATEGY = "x-kubernetes-patch-strategy"
PATCH_MERGE_KEY = "x-kubernetes-patch-merge-key"
RETAIN_KEYS_STRATEGY = "retainKeys"


@dataclass(frozen=True, slots=True)
class FieldPatch:
    """A field's patch strategies (`x-kubernetes-patch-strategy` split on ",") and merge key."""

    strategies: tuple[str, ...] = ()
    merge_key: str = ""

    def split(self) -> tuple[bool, str]:
        """(whether `retainKeys` is among the strategies, the other strategy or "").

        Upstream's extractRetainKeysPatchStrategy: at most two strategies, and with two, one
        of them must be `retainKeys`.
        """
        strategies = self.strategies
        if len(strategies) <= 1:
            single = strategies[0] if strategies else ""
            return (True, "") if single == RETAIN_KEYS_STRATEGY else (False, single)
        if len(strategies) == 2 and RETAIN_KEYS_STRATEGY in strategies:
            first, second = strategies
            return True, second if first == RETAIN_KEYS_STRATEGY else first
        raise PatchError(f"unexpected patch strategy: [{' '.join(strategies)}]")


NO_PATCH_META = FieldPatch()


class PatchMeta(Protocol):
    """What strategic merge patch asks about one type (upstream's LookupPatchMeta)."""

    @property
    def name(self) -> str:
        """The type's name, for error messages (`Container`)."""
        ...

    def lookup_struct(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        """The field `key` holding a map: the value's type and the field's metadata."""
        ...

    def lookup_slice(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        """The field `key` holding a list: the element type and the field's metadata."""
        ...


class Schemaless:
    """A type with no schema: every field has no metadata and is itself schemaless."""

    name = ""

    def lookup_struct(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        return self, NO_PATCH_META

    def lookup_slice(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        return self, NO_PATCH_META

    def __repr__(self) -> str:
        return "SCHEMALESS"


SCHEMALESS = Schemaless()


def _field_patch(schema: Schema) -> FieldPatch:
    strategy = schema.get(PATCH_STRATEGY)
    merge_key = schema.get(PATCH_MERGE_KEY)
    return FieldPatch(
        tuple(strategy.split(",")) if isinstance(strategy, str) and strategy else (),
        merge_key if isinstance(merge_key, str) else "",
    )


def _type(schema: Schema) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # kubernetes-validate's ["object", "null"]
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else ""


class _SchemaPatchMeta:
    """The `PatchMeta` of one resolved schema.

    Lookups of declared fields are cached (bounded by the schema); a map's value type is
    computed once for all keys; unknown keys are never cached, so clients cannot grow it.
    """

    def __init__(self, index: SchemaIndex, schema: Schema, name: str) -> None:
        self._index = index
        self._schema = schema
        self.name = name
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        self._properties: Mapping[str, Schema] | None = (
            properties if isinstance(properties, Mapping) else None
        )
        self._values: Schema | None = additional if isinstance(additional, Mapping) else None
        self._preserves_unknown = schema.get("x-kubernetes-preserve-unknown-fields") is True
        self._structs: dict[str, tuple[PatchMeta, FieldPatch]] = {}
        self._slices: dict[str, tuple[PatchMeta, FieldPatch]] = {}

    def __repr__(self) -> str:
        return f"<PatchMeta {self.name or 'anonymous'} ({self.shape or 'untyped'})>"

    @property
    def shape(self) -> str:
        """One of struct, map, array, a primitive type name, or "" (no schema)."""
        if self._properties is not None:
            return "struct"
        if self._values is not None:
            return "map"
        kind = _type(self._schema)
        if "items" in self._schema or kind == "array":
            return "array"
        return "" if kind == "object" else kind

    def _element_meta(self) -> PatchMeta:
        items = self._schema.get("items")
        return self._index.meta(items) if isinstance(items, Mapping) else SCHEMALESS

    def _field(self, key: str) -> tuple[Schema | None, FieldPatch]:
        """The schema and metadata of the field `key` (None: anything, no metadata)."""
        if self._properties is not None:
            prop = self._properties.get(key)
            if isinstance(prop, Mapping):
                return prop, _field_patch(prop)
            if self._preserves_unknown:
                return None, NO_PATCH_META
            raise PatchError(
                f'unable to find api field in struct {self.name} for the json field "{key}"'
            )
        if self._values is not None:
            return self._values, NO_PATCH_META
        shape = self.shape
        if shape:
            go_kind = {"array": "slice", "integer": "int64", "number": "float64"}.get(shape, shape)
            raise PatchError(
                "merging an object in json but data type is not map or struct, "
                f"instead is: {go_kind}"
            )
        return None, NO_PATCH_META

    def _cacheable(self, key: str) -> bool:
        return self._properties is not None and key in self._properties

    def lookup_struct(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        found = self._structs.get(key)
        if found is None:
            schema, field = self._field(key)
            found = (SCHEMALESS if schema is None else self._index.meta(schema), field)
            if self._cacheable(key):
                self._structs[key] = found
        return found

    def lookup_slice(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        found = self._slices.get(key)
        if found is None:
            found = self._slice(key)
            if self._cacheable(key):
                self._slices[key] = found
        return found

    def _slice(self, key: str) -> tuple[PatchMeta, FieldPatch]:
        schema, field = self._field(key)
        if schema is None:
            return SCHEMALESS, field
        value = self._index.meta(schema)
        if not isinstance(value, _SchemaPatchMeta):
            return SCHEMALESS, field
        shape = value.shape
        if shape == "array":
            return value._element_meta(), field
        if shape:
            parent = "struct" if self._properties is not None else "map"
            raise PatchError(f"expected slice or array type, but got: {parent}")
        return SCHEMALESS, field


class SchemaIndex:
    """`PatchMeta`s built from a table of OpenAPI definitions, each built once.

    `definitions` maps a definition name (`io.k8s.api.core.v1.Pod`) to its schema; a `$ref`
    names one by its last path segment, whatever the prefix (`#/definitions/`,
    `#/components/schemas/`, `#/$defs/`). The table is read, never modified.
    """

    def __init__(self, definitions: Mapping[str, Schema]) -> None:
        self._definitions = definitions
        self._by_name: dict[str, PatchMeta] = {}

    def definition(self, name: str) -> PatchMeta:
        """The `PatchMeta` of a named definition (SCHEMALESS if there is none)."""
        meta = self._by_name.get(name)
        if meta is None:
            self._by_name[name] = SCHEMALESS  # while resolving: an alias cycle ends here
            schema = self._definitions.get(name)
            resolved, ref = self._resolve(schema) if isinstance(schema, Mapping) else (None, "")
            meta = self.definition(ref) if ref else self._build(resolved, name)
            self._by_name[name] = meta
        return meta

    def meta(self, schema: Schema) -> PatchMeta:
        """The `PatchMeta` of a schema fragment: a reference, a wrapper or an inline type."""
        resolved, ref = self._resolve(schema)
        return self.definition(ref) if ref else self._build(resolved, "")

    def _build(self, schema: Schema | None, name: str) -> PatchMeta:
        if not schema:
            return SCHEMALESS
        meta = _SchemaPatchMeta(self, schema, name.rsplit(".", 1)[-1])
        return meta if meta.shape else SCHEMALESS  # an untyped object: no metadata in it

    def _resolve(self, schema: Schema) -> tuple[Schema | None, str]:
        """Follow a `$ref` or single-entry `allOf` wrappers: (the schema, the name it refers to).

        Stops at the first reference: `definition` builds (and caches) what it names.
        """
        for _ in range(64):
            ref = schema.get("$ref")
            if isinstance(ref, str):
                return None, ref.rsplit("/", 1)[-1]
            all_of = schema.get("allOf")
            if not (isinstance(all_of, list) and len(all_of) == 1):
                return schema, ""
            if not isinstance(all_of[0], Mapping) or "properties" in schema:
                return schema, ""
            schema = all_of[0]
        return None, ""
