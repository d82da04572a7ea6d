"""Server-side apply and `metadata.managedFields`, as kube-apiserver's field manager does them.

Every write records who owns which fields. `record_update` is called for create, update and the
non-apply patches (operation `Update`); `apply` serves `PATCH application/apply-patch+yaml`
(operation `Apply`). Both read and write `metadata.managedFields`: one entry per manager, with
the `FieldSet` (`kube.api.fieldpath`) it owns in FieldsV1 form.

The mechanism is upstream's sigs.k8s.io/structured-merge-diff, driven by the OpenAPI schema of
the kind (`SchemaTypes` turns upstream definitions into `FieldType`s: maps merge key by key unless
`x-kubernetes-map-type: atomic`; lists are atomic unless `x-kubernetes-list-type` is `set`
(items named by value) or `map` (items named by `x-kubernetes-list-map-keys`), falling back to the
strategic-merge-patch metadata as upstream's schema conversion does):

- *Update*: compare the old and the new object. The changed leaves and the added maps, lists and
  items go to the updater's set and are taken away from everyone else (an update is always
  "forced"); removed fields leave every set.
- *Apply*: merge the applied configuration into the live object (the applied value wins; maps and
  associative lists merge; atomic values are replaced). The applier's set becomes the fields of
  its configuration. A field another manager owns whose value the merge changes is a conflict:
  409 with upstream's message, unless `force`, which moves ownership to the applier. Fields the
  applier owned before and no longer applies are removed from the object unless another manager
  owns them (upstream's prune: remove, add back what others own, add back what was not ours).

Around that core sit the same wrappers as upstream's default field manager, in the same order:
the kind and version check, the `kubectl.kubernetes.io/last-applied-configuration` handling for
manager `kubectl` (conflicts on fields the annotation shows were client-side applied are
allowed, and the annotation follows the applied configuration), not starting to track an object
whose managedFields were cleared, capping update entries at 10 (the oldest merge into
`ancient-changes`), the timestamp of the entry that changed, and stripping the fields the server
owns (`metadata.name`, `resourceVersion`, ...) from every set. Entries are sorted as upstream
sorts them: `Apply` before `Update`, then oldest first, then by manager, apiVersion, subresource.

Objects are plain dicts in JSON wire shape; nothing here modifies its arguments. Conversion
between API versions is not done: a manager's set recorded at another version is compared as is.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from kube.api import errors
from kube.api.fieldpath import (
    FieldPathError,
    FieldSet,
    Path,
    PathElement,
    go_json,
    go_string,
    path_string,
)
from kube.api.patch import json_equal, same_json

__all__ = [
    "DEDUCED",
    "LAST_APPLIED_ANNOTATION",
    "MAX_UPDATE_MANAGERS",
    "MISSING",
    "UNTYPED_ATOMIC",
    "UPSTREAM_KEY_DEFAULTS",
    "ApplyConflict",
    "Comparison",
    "Conflict",
    "FieldManagerError",
    "FieldType",
    "SchemaTypes",
    "apply",
    "compare",
    "ensure_named_fields",
    "field_set",
    "merge",
    "record_update",
    "remove_items",
    "to_field_set",
    "validate",
    "validate_field_manager",
    "validate_managed_fields",
    "validate_patch_options",
]

Schema = Mapping[str, Any]
Object = dict[str, Any]

LAST_APPLIED_ANNOTATION: Final = "kubectl.kubernetes.io/last-applied-configuration"
MAX_UPDATE_MANAGERS: Final = 10  # upstream's DefaultMaxUpdateManagers
ANCIENT_CHANGES: Final = "ancient-changes"
FIELD_MANAGER_MAX_LENGTH: Final = 128
TOTAL_ANNOTATION_SIZE_LIMIT: Final = 256 * 1024
KUBECTL: Final = "kubectl"  # the only manager whose apply reads and writes last-applied

_MAP_TYPE: Final = "x-kubernetes-map-type"
_LIST_TYPE: Final = "x-kubernetes-list-type"
_LIST_KEYS: Final = "x-kubernetes-list-map-keys"
_PATCH_STRATEGY: Final = "x-kubernetes-patch-strategy"
_PATCH_KEY: Final = "x-kubernetes-patch-merge-key"
_RAW_EXTENSION: Final = "io.k8s.apimachinery.pkg.runtime.RawExtension"

# kubernetes-validate drops the schemas' `default`s; upstream's list-map keys that have one.
UPSTREAM_KEY_DEFAULTS: Final[Mapping[tuple[str, str], Any]] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
}

# Go writes a non-pointer struct field even when it is empty (`spec: {}`); pointer fields are
# omitted. The OpenAPI marks the former with `default: {}`; for schemas without defaults these
# are the non-pointer struct fields of the served kinds (and one pointer one of the same name).
_VALUE_STRUCT_FIELDS: Final = frozenset(
    ("metadata", "spec", "status", "template", "strategy", "updateStrategy", "jobTemplate")
)
_POINTER_STRUCT_FIELDS: Final = frozenset(
    (("io.k8s.api.core.v1.ReplicationControllerSpec", "template"),)
)
# Non-pointer `metav1.Time` fields: a struct in Go, null in JSON when zero.
_TIME_FIELDS: Final = frozenset(
    ("creationTimestamp", "firstTimestamp", "lastTimestamp", "eventTime", "lastTransitionTime")
)


class _Missing:
    """An absent value (unlike None, which is JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


# -- Types: what structured-merge-diff calls atoms, from OpenAPI definitions --------------------


class FieldType:
    """The type of one node of an object: scalar, map (struct or map), list, or several of these.

    A *struct* is a map with declared fields; a *map* has one element type for all keys (labels),
    or none, in which case undeclared keys are an error. Maps are granular unless atomic; lists
    are atomic unless associative, in which case `keys` names the key fields (a list map) or is
    empty (a set). `DEDUCED` (no schema: custom resources, `x-kubernetes-preserve-unknown-fields`)
    is all three at once, and the value decides: granular maps, atomic lists, scalars.

    Field and element types are resolved on first use and kept, so recursive schemas are fine and
    each definition is walked once per `SchemaTypes`.
    """

    __slots__ = (
        "_fields",
        "_index",
        "_list_element",
        "_map_element",
        "_schema",
        "_zero_value",
        "is_list",
        "is_map",
        "keys",
        "list_atomic",
        "map_atomic",
        "name",
        "scalar",
    )

    def __init__(
        self,
        *,
        name: str = "",
        scalar: str | None = None,
        is_map: bool = False,
        is_list: bool = False,
        map_atomic: bool = False,
        list_atomic: bool = True,
        keys: tuple[str, ...] = (),
        index: SchemaTypes | None = None,
        schema: Schema | None = None,
        element: FieldType | None = None,
    ) -> None:
        self.name = name
        self.scalar = scalar
        self.is_map = is_map
        self.is_list = is_list
        self.map_atomic = map_atomic
        self.list_atomic = list_atomic
        self.keys = keys
        self._index = index
        self._schema = schema
        self._fields: dict[str, FieldType | None] = {}
        self._map_element: FieldType | _Missing | None = element if schema is None else MISSING
        self._list_element: FieldType | _Missing | None = element if schema is None else MISSING
        self._zero_value: Object | None = None

    def __repr__(self) -> str:
        shape = [
            s
            for s, on in (
                ("struct" if self.is_struct else "map", self.is_map),
                ("list", self.is_list),
                (f"scalar:{self.scalar}", self.scalar is not None),
            )
            if on
        ]
        return f"<FieldType {self.name or 'inline'} {'|'.join(shape)}>"

    @property
    def is_struct(self) -> bool:
        return self._schema is not None and isinstance(self._schema.get("properties"), Mapping)

    def _properties(self) -> Mapping[str, Any]:
        props = self._schema.get("properties") if self._schema is not None else None
        return props if isinstance(props, Mapping) else {}

    def field(self, name: str) -> FieldType | None:
        """The type of the declared field `name` of a struct (None if it is not declared)."""
        if name in self._fields:
            return self._fields[name]
        prop = self._properties().get(name)
        found = None
        if isinstance(prop, Mapping) and self._index is not None:
            found = self._index.resolve(prop)
        if prop is not None:
            self._fields[name] = found
        return found

    def map_element(self) -> FieldType | None:
        """The type of undeclared keys: the map's values, DEDUCED, or None (not allowed)."""
        if isinstance(self._map_element, _Missing):
            schema = self._schema or {}
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping) and self._index is not None:
                self._map_element = self._index.resolve(extra)
            elif extra is True or (
                extra is None
                and (
                    schema.get("x-kubernetes-preserve-unknown-fields") is True or not self.is_struct
                )
            ):
                self._map_element = DEDUCED
            else:
                self._map_element = None
        return self._map_element

    def list_element(self) -> FieldType:
        """The type of a list's items (untyped and atomic when the schema has no `items`)."""
        if isinstance(self._list_element, _Missing):
            items = (self._schema or {}).get("items")
            if isinstance(items, Mapping) and self._index is not None:
                self._list_element = self._index.resolve(items)
            else:
                self._list_element = UNTYPED_ATOMIC
        return self._list_element or UNTYPED_ATOMIC

    def child(self, name: str) -> FieldType | None:
        """The type of key `name` of a map: its declared field, else the element type."""
        return self.field(name) or self.map_element()

    def key_default(self, key: str) -> Any:
        """The default of list-map key field `key` (MISSING if it has none)."""
        element = self.list_element()
        prop = element._properties().get(key)
        if isinstance(prop, Mapping) and "default" in prop:
            return prop["default"]
        defaults = self._index.key_defaults if self._index is not None else {}
        return defaults.get((element.name, key), MISSING)

    def with_map_atomic(self, atomic: bool) -> FieldType:
        """This type with its map element relationship overridden (a `$ref` with a map type)."""
        if not self.is_map or self.map_atomic == atomic:
            return self
        twin = FieldType(
            name=self.name,
            scalar=self.scalar,
            is_map=True,
            is_list=self.is_list,
            map_atomic=atomic,
            list_atomic=self.list_atomic,
            keys=self.keys,
            index=self._index,
            schema=self._schema,
        )
        twin._fields = self._fields
        return twin

    def zero(self) -> Object:
        """The Go zero value of this struct as its JSON would read: what kube-apiserver compares
        a created object with (`spec: {}` for non-pointer structs, null for non-omitempty
        pointers and slices). Only the fields that decide ownership markers matter here.

        Computed once per type and shared by every create: callers only read it."""
        if self._zero_value is None:
            self._zero_value = self._zero(0) if self.is_struct else {}
        return self._zero_value

    def _zero(self, depth: int) -> Object:
        props = self._properties()
        schema = self._schema or {}
        required = set(schema.get("required") or ())
        has_defaults = any(isinstance(p, Mapping) and "default" in p for p in props.values())
        out: Object = {}
        for name, prop in props.items():
            if not isinstance(prop, Mapping):
                continue
            child = self.field(name)
            default = prop.get("default", MISSING)
            if child is not None and child.is_struct:
                if has_defaults:
                    value_struct = isinstance(default, dict) and not default
                else:
                    value_struct = (
                        name in _VALUE_STRUCT_FIELDS
                        and (self.name, name) not in _POINTER_STRUCT_FIELDS
                    )
                if value_struct and depth < 8:
                    out[name] = child._zero(depth + 1)
                elif name in required:
                    out[name] = None
            elif (isinstance(default, dict) and not default) or (
                not has_defaults and name in _TIME_FIELDS
            ):
                out[name] = None  # a Go struct that marshals as null (metav1.Time)
            elif name in required:
                if isinstance(default, str | int | float | bool):
                    out[name] = default
                elif child is not None and not child.is_map and not child.is_list:
                    out[name] = {"string": "", "numeric": 0, "boolean": False}.get(
                        child.scalar or ""
                    )
                else:
                    out[name] = None
        return out


DEDUCED: Final = FieldType(
    name="__untyped_deduced_", scalar="untyped", is_map=True, is_list=True, list_atomic=True
)
DEDUCED._map_element = DEDUCED
DEDUCED._list_element = DEDUCED

UNTYPED_ATOMIC: Final = FieldType(
    name="__untyped_atomic_",
    scalar="untyped",
    is_map=True,
    is_list=True,
    map_atomic=True,
    list_atomic=True,
)
UNTYPED_ATOMIC._map_element = UNTYPED_ATOMIC
UNTYPED_ATOMIC._list_element = UNTYPED_ATOMIC


def _schema_type(schema: Schema) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # kubernetes-validate's ["object", "null"]
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else ""


def _ref_name(schema: Schema) -> str:
    """The definition a fragment refers to: a `$ref`, or one wrapped in a single-entry allOf."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            ref = all_of[0].get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""


def _list_relationship(schema: Schema) -> tuple[bool, tuple[str, ...]]:
    """(atomic, keys) of an array, as upstream's schema conversion reads the extensions."""
    list_type = schema.get(_LIST_TYPE)
    if list_type == "set":
        return False, ()
    if list_type == "map":
        keys = schema.get(_LIST_KEYS)
        return False, tuple(k for k in keys if isinstance(k, str)) if isinstance(keys, list) else ()
    if list_type is not None:
        return True, ()
    strategy = schema.get(_PATCH_STRATEGY)
    if strategy in ("merge", "merge,retainKeys"):
        key = schema.get(_PATCH_KEY)
        return False, (key,) if isinstance(key, str) and key else ()
    return True, ()


_SCALARS: Final = {
    "string": "string",
    "integer": "numeric",
    "number": "numeric",
    "boolean": "boolean",
}


class SchemaTypes:
    """`FieldType`s built from a table of OpenAPI definitions (`{name: schema}`), each once.

    Accepts upstream's shapes: kubernetes-validate's `$defs` (`$ref` with siblings, nullable
    `type` lists) and OpenAPI v3 `components.schemas` (`allOf` wrappers, `default`s). `key_defaults`
    supplies list-map key defaults the table lacks. The table is read, never modified.
    """

    def __init__(
        self,
        definitions: Mapping[str, Schema],
        key_defaults: Mapping[tuple[str, str], Any] = UPSTREAM_KEY_DEFAULTS,
    ) -> None:
        self._definitions = definitions
        self.key_defaults = key_defaults
        self._by_name: dict[str, FieldType] = {}
        self._inline: dict[int, tuple[Schema, FieldType]] = {}

    def definition(self, name: str) -> FieldType:
        """The type of a named definition (DEDUCED if the table has no such definition)."""
        found = self._by_name.get(name)
        if found is None:
            if name == _RAW_EXTENSION:
                return UNTYPED_ATOMIC
            self._by_name[name] = DEDUCED  # while resolving: an alias cycle ends here
            schema = self._definitions.get(name)
            if not isinstance(schema, Mapping):
                found = DEDUCED
            elif _ref_name(schema) and "properties" not in schema:
                found = self.definition(_ref_name(schema))
            else:
                found = self._build(schema, name)
            self._by_name[name] = found
        return found

    def resolve(self, fragment: Schema) -> FieldType:
        """The type of a schema fragment: a reference (with a map-type override) or inline."""
        ref = _ref_name(fragment)
        if ref:
            found = self.definition(ref)
            map_type = fragment.get(_MAP_TYPE)
            if map_type in ("atomic", "granular"):
                return found.with_map_atomic(map_type == "atomic")
            return found
        cached = self._inline.get(id(fragment))
        if cached is not None and cached[0] is fragment:
            return cached[1]
        built = self._build(fragment, "")
        self._inline[id(fragment)] = (fragment, built)
        return built

    def _build(self, schema: Schema, name: str) -> FieldType:
        kind = _schema_type(schema)
        if not kind:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema:
                kind = "array"
        if schema.get("x-kubernetes-int-or-string") is True:
            return FieldType(name=name, scalar="untyped")
        if kind == "object":
            return FieldType(
                name=name,
                is_map=True,
                map_atomic=schema.get(_MAP_TYPE) == "atomic",
                index=self,
                schema=schema,
            )
        if kind == "array":
            atomic, keys = _list_relationship(schema)
            return FieldType(
                name=name, is_list=True, list_atomic=atomic, keys=keys, index=self, schema=schema
            )
        if kind in _SCALARS:
            scalar = _SCALARS[kind]
            if kind == "string" and schema.get("format") not in (None, "", "byte", "date-time"):
                scalar = "untyped"
            return FieldType(name=name, scalar=scalar)
        variants = schema.get("oneOf") or schema.get("anyOf")
        if isinstance(variants, list) and variants:
            return FieldType(name=name, scalar="untyped")  # IntOrString, Quantity
        return DEDUCED


# -- Walking values with their types ------------------------------------------------------------


def _atom(t: FieldType, value: Any) -> str:
    """Which of the type's shapes handles `value` (upstream's deduceAtom + handleAtom order)."""
    if isinstance(value, dict):
        if t.is_map:
            return "map"
    elif isinstance(value, list):
        if t.is_list:
            return "list"
    elif value is not None and t.scalar is not None:
        return "scalar"
    if t.is_map:
        return "map"
    if t.scalar is not None:
        return "scalar"
    if t.is_list:
        return "list"
    return ""


def _field(name: str) -> PathElement:
    return PathElement.field(name)


def _item_element(t: FieldType, item: Any) -> tuple[PathElement | None, str]:
    """The path element naming an item of associative list `t`, or (None, why not)."""
    if t.keys:
        if item is None:
            return None, "associative list with keys may not have a null element"
        if not isinstance(item, dict):
            return None, "associative list with keys may not have non-map elements"
        fields: dict[str, Any] = {}
        for key in t.keys:
            if key in item:
                fields[key] = item[key]
            else:
                default = t.key_default(key)
                if default is not MISSING:
                    fields[key] = default
        if not fields:
            if len(t.keys) == 1:
                return None, (
                    "associative list with keys has an element that omits key field "
                    f"{go_json(t.keys[0])} (and doesn't have default value)"
                )
            return None, (
                "associative list with keys has an element that omits all key fields "
                f"[{' '.join(go_json(k) for k in t.keys)}] (and doesn't have default values for "
                "any key fields)"
            )
        return PathElement.key(fields), ""
    if isinstance(item, dict):
        return None, "associative list without keys has an element that's a map type"
    if isinstance(item, list):
        return None, "not supported: associative list with lists as elements"
    if item is None:
        return None, "associative list without keys has an element that's an explicit null"
    return PathElement.value(item), ""


def _index_items(
    t: FieldType, items: list[Any]
) -> tuple[list[PathElement], dict[PathElement, list[Any]]]:
    """Items of an associative list grouped by element (first-seen order); invalid items are
    left out, as upstream skips what it cannot name."""
    order: list[PathElement] = []
    groups: dict[PathElement, list[Any]] = {}
    for item in items:
        pe, _why = _item_element(t, item)
        if pe is None:
            continue
        if pe in groups:
            groups[pe].append(item)
        else:
            groups[pe] = [item]
            order.append(pe)
    return order, groups


def _as_list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


def _as_map(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


# ToFieldSet: the fields a configuration sets.


def to_field_set(value: Any, t: FieldType) -> FieldSet:
    """Every field `value` sets: leaves, list items, undeclared map keys, atomic values, and
    fields set to null or `{}` (upstream's `TypedValue.ToFieldSet`)."""
    out = FieldSet()
    _to_set(value, t, (), out)
    return out


def _to_set(value: Any, t: FieldType, path: Path, out: FieldSet) -> None:
    atom = _atom(t, value)
    if atom == "list":
        if t.list_atomic:
            out.insert(path)
            return
        items = _as_list(value)
        if not items:
            return
        order, groups = _index_items(t, items)
        element = t.list_element()
        for pe in order:
            child = (*path, pe)
            if len(groups[pe]) == 1:
                _to_set(groups[pe][0], element, child, out)
            out.insert(child)
    elif atom == "map":
        if t.map_atomic:
            out.insert(path)
            return
        mapping = _as_map(value)
        if not mapping:
            return
        for key, sub in mapping.items():
            declared = t.field(key)
            child = (*path, _field(key))
            _to_set(sub, declared or t.map_element() or DEDUCED, child, out)
            if sub is None or (isinstance(sub, dict) and not sub) or declared is None:
                out.insert(child)
    else:
        out.insert(path)


# Compare: what changed between two objects.


class Comparison:
    """Fields `added`, `modified` (leaves whose value changed) and `removed` from lhs to rhs."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self) -> None:
        self.added = FieldSet()
        self.modified = FieldSet()
        self.removed = FieldSet()

    def exclude(self, fields: FieldSet | None) -> Comparison:
        if fields is not None and not fields.empty():
            self.added = self.added.recursive_difference(fields)
            self.modified = self.modified.recursive_difference(fields)
            self.removed = self.removed.recursive_difference(fields)
        return self


_SAME_BYTES_DEPTH: Final = 2  # below this, serialising a subtree costs more than walking it


def compare(lhs: Any, rhs: Any, t: FieldType, *, remember: bool = False) -> Comparison:
    """Upstream's `TypedValue.Compare`; `lhs` or `rhs` may be MISSING (nothing).

    `remember`: each top-level field's comparison is kept by its two sides' JSON and reused
    (a create compares the kind's zero value with objects that mostly share a template: the
    pods of one ReplicaSet, one Job, one benchmark have the same spec).
    """
    out = Comparison()
    if (
        remember
        and isinstance(lhs, dict)
        and isinstance(rhs, dict)
        and (lhs or rhs)
        and _atom(t, lhs) == "map" == _atom(t, rhs)
        and not t.map_atomic
    ):
        # The root's map walk of _compare_atom, each field through the memo.
        for key in [*lhs, *(k for k in rhs if k not in lhs)]:
            _compare_remembered(
                lhs.get(key, MISSING), rhs.get(key, MISSING), t.child(key) or DEDUCED, key, out
            )
    else:
        _compare(lhs, rhs, t, (), out)
    return out


# Top-level field comparisons by (type, field, JSON of each side): what `compare(remember=True)`
# reuses. Sets are values once made (see FieldSet), so a kept result is shared, not copied.
_REMEMBERED: dict[tuple[FieldType, str, bytes, bytes], Comparison] = {}
_REMEMBERED_LIMIT: Final = 1024


def _compare_remembered(lhs: Any, rhs: Any, t: FieldType, key: str, out: Comparison) -> None:
    pe = _field(key)
    if not isinstance(lhs, dict | list) and not isinstance(rhs, dict | list):
        _compare(lhs, rhs, t, (pe,), out)  # a scalar: cheaper compared than serialised
        return
    try:
        left = b"" if lhs is MISSING else orjson.dumps(lhs, option=orjson.OPT_SORT_KEYS)
        right = b"" if rhs is MISSING else orjson.dumps(rhs, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        _compare(lhs, rhs, t, (pe,), out)
        return
    if left == right and lhs is not MISSING and rhs is not MISSING:
        return  # equal JSON: nothing added, changed or removed
    memo = (t, key, left, right)
    sub = _REMEMBERED.get(memo)
    if sub is None:
        sub = Comparison()
        _compare(lhs, rhs, t, (pe,), sub)
        if len(_REMEMBERED) >= _REMEMBERED_LIMIT:
            _REMEMBERED.clear()
        _REMEMBERED[memo] = sub
    # Every path of `sub` starts with `pe`, which no other top-level field shares.
    for mine, kept in (
        (out.added, sub.added),
        (out.modified, sub.modified),
        (out.removed, sub.removed),
    ):
        if pe in kept.members:
            mine.members.add(pe)
        child = kept.children.get(pe)
        if child is not None:
            mine.children[pe] = child


def _compare(lhs: Any, rhs: Any, t: FieldType, path: Path, out: Comparison) -> None:
    if len(path) <= _SAME_BYTES_DEPTH and same_json(lhs, rhs):
        return  # an unchanged subtree (most of an update) has nothing to report
    if rhs is MISSING:
        leaf = _compare_atom(_atom(t, lhs), lhs, rhs, t, path, out)
    elif lhs is MISSING or _atom(t, lhs) == _atom(t, rhs):
        leaf = _compare_atom(_atom(t, rhs), lhs, rhs, t, path, out)
    else:
        _compare_atom(_atom(t, lhs), lhs, rhs, t, path, out)
        leaf = _compare_atom(_atom(t, rhs), lhs, rhs, t, path, out)
    if not leaf:
        if lhs is MISSING:
            out.added.insert(path)
        elif rhs is MISSING:
            out.removed.insert(path)


def _compare_leaf(lhs: Any, rhs: Any, path: Path, out: Comparison) -> bool:
    if lhs is MISSING:
        out.added.insert(path)
    elif rhs is MISSING:
        out.removed.insert(path)
    elif not json_equal(lhs, rhs):
        out.modified.insert(path)
    return True


def _compare_atom(atom: str, lhs: Any, rhs: Any, t: FieldType, path: Path, out: Comparison) -> bool:
    """Compare under one shape; True if the node was handled as a leaf."""
    if atom == "list":
        left, right = _as_list(lhs), _as_list(rhs)
        if t.list_atomic or (not left and not right):
            return _compare_leaf(lhs, rhs, path, out)
        _compare_items(left or [], right or [], t, path, out)
        return False
    if atom == "map":
        left_map, right_map = _as_map(lhs), _as_map(rhs)
        if t.map_atomic or (not left_map and not right_map):
            return _compare_leaf(lhs, rhs, path, out)
        left_map, right_map = left_map or {}, right_map or {}
        for key in [*left_map, *(k for k in right_map if k not in left_map)]:
            _compare(
                left_map.get(key, MISSING),
                right_map.get(key, MISSING),
                t.child(key) or DEDUCED,
                (*path, _field(key)),
                out,
            )
        return False
    return _compare_leaf(lhs, rhs, path, out)


def _compare_items(
    left: list[Any], right: list[Any], t: FieldType, path: Path, out: Comparison
) -> None:
    left_order, left_groups = _index_items(t, left)
    right_order, right_groups = _index_items(t, right)
    element = t.list_element()
    for pe in [*left_order, *(p for p in right_order if p not in left_groups)]:
        lgroup, rgroup = left_groups.get(pe, []), right_groups.get(pe, [])
        child = (*path, pe)
        if len(lgroup) <= 1 and len(rgroup) <= 1:
            _compare(
                lgroup[0] if lgroup else MISSING,
                rgroup[0] if rgroup else MISSING,
                element,
                child,
                out,
            )
        elif len(lgroup) >= 2 and len(rgroup) >= 2:
            if not json_equal(lgroup, rgroup):
                out.modified.insert(child)
        elif len(lgroup) >= 2:  # duplicates no more
            if rgroup:
                _compare(MISSING, rgroup[0], element, child, out)
            out.removed.insert(child)
        else:  # new duplicates
            if lgroup:
                _compare(lgroup[0], MISSING, element, child, out)
            out.added.insert(child)


# Merge: the applied configuration over the live object.


def merge(lhs: Any, rhs: Any, t: FieldType) -> Any:
    """Upstream's `TypedValue.Merge`: rhs wins at leaves and atomic values, maps merge key by
    key, associative lists item by item (rhs order for shared items, lhs-only items kept in
    place). Returns a new value sharing nothing with the inputs."""
    return copy.deepcopy(_merge(lhs, rhs, t))


def _merge(lhs: Any, rhs: Any, t: FieldType) -> Any:
    if rhs is MISSING:
        return lhs
    if lhs is MISSING:
        return rhs
    atom = _atom(t, rhs)
    if atom == "list":
        left, right = _as_list(lhs), _as_list(rhs)
        if t.list_atomic or (not left and not right):
            return rhs
        merged = _merge_items(left or [], right or [], t)
        return merged if merged else MISSING
    if atom == "map":
        left_map, right_map = _as_map(lhs), _as_map(rhs)
        if t.map_atomic or (not left_map and not right_map):
            return rhs
        left_map, right_map = left_map or {}, right_map or {}
        out: Object = {}
        for key in [*left_map, *(k for k in right_map if k not in left_map)]:
            value = _merge(
                left_map.get(key, MISSING), right_map.get(key, MISSING), t.child(key) or DEDUCED
            )
            if value is not MISSING:
                out[key] = value
        return out if out else MISSING
    return rhs


def _merge_items(left: list[Any], right: list[Any], t: FieldType) -> list[Any]:
    """Upstream's list merge order: walk both lists; an lhs item the rhs also has waits until
    the rhs reaches it, so shared items follow the rhs order and lhs-only items stay put."""
    left_order, left_groups = _index_items(t, left)
    right_order, right_groups = _index_items(t, right)
    element = t.list_element()
    shared = [pe for pe in right_order if pe in left_groups]
    next_shared = 0
    emitted: set[PathElement] = set()
    out: list[Any] = []

    def take(pe: PathElement, with_left: bool) -> None:
        emitted.add(pe)
        lgroup = left_groups.get(pe, [])
        if pe not in right_groups:
            out.extend(lgroup)  # lhs-only items, duplicates included, are kept as they are
            return
        rchild = right_groups[pe][0]
        lchild = lgroup[0] if with_left and len(lgroup) == 1 else MISSING
        merged = _merge(lchild, rchild, element)
        if merged is not MISSING:
            out.append(merged)

    li = ri = 0
    while li < len(left_order) or ri < len(right_order):
        if li < len(left_order) and left_order[li] in emitted:
            li += 1
            continue
        if li < len(left_order) and ri < len(right_order):
            pe = left_order[li]
            if pe == right_order[ri]:
                take(pe, True)
                li += 1
                ri += 1
                next_shared += 1
                continue
            if pe in right_groups and next_shared < len(shared) and shared[next_shared] != pe:
                li += 1  # a shared item, but not the next one in rhs order
                continue
        if li < len(left_order) and left_order[li] not in right_groups:
            take(left_order[li], True)
            li += 1
            continue
        if ri < len(right_order):
            pe = right_order[ri]
            take(pe, True)
            ri += 1
            if next_shared < len(shared) and shared[next_shared] == pe:
                next_shared += 1
            continue
        li += 1  # an lhs item the rhs has and already placed
    return out


# RemoveItems: take fields out of an object.


def remove_items(value: Any, fields: FieldSet, t: FieldType) -> Any:
    """`value` without the fields in `fields` (a member removes the whole subtree). A map or
    list emptied this way stays, empty (structured-merge-diff v6)."""
    out = _remove(value, fields, t)
    return {} if out is None and isinstance(value, dict) else copy.deepcopy(out)


def _emptied(before: Any, after: Any) -> Any:
    if after is None:
        if isinstance(before, dict):
            return {}
        if isinstance(before, list):
            return []
    return after


def _remove(value: Any, fields: FieldSet, t: FieldType) -> Any:
    atom = _atom(t, value)
    if atom == "list":
        items = _as_list(value)
        if not items or t.list_atomic:
            return None
        element = t.list_element()
        kept: list[Any] = []
        matched = False
        for item in items:
            pe, _why = _item_element(t, item)
            if pe is not None:
                if pe in fields.members:
                    continue
                below = fields.children.get(pe)
                if below is not None and not below.empty():
                    matched = True
                    item = _emptied(item, _remove(item, below, element))
            kept.append(item)
        return kept if kept or matched else None
    if atom == "map":
        mapping = _as_map(value)
        if not mapping or t.map_atomic:
            return None
        out: Object = {}
        matched = False
        for key, sub in mapping.items():
            pe = _field(key)
            if pe in fields.members:
                continue
            below = fields.children.get(pe)
            if below is not None and not below.empty():
                matched = True
                sub = _emptied(sub, _remove(sub, below, t.child(key) or DEDUCED))
            out[key] = sub
        return out if out or matched else None
    return value


def ensure_named_fields(fields: FieldSet, t: FieldType | None) -> FieldSet:
    """`fields` plus, as members, every declared struct field that has owned fields below it
    (upstream's `EnsureNamedFieldsAreMembers`: owning `.spec.replicas` implies `.spec`)."""
    members = set(fields.members)
    children: dict[PathElement, FieldSet] = {}
    for pe, below in fields.children.items():
        child_type: FieldType | None = None
        if t is not None and pe.kind == PathElement.FIELD and t.is_map:
            declared = t.field(pe.raw)
            if declared is not None:
                members.add(pe)
            child_type = declared or t.map_element()
        elif t is not None and pe.kind == PathElement.KEY and t.is_list:
            child_type = t.list_element()
        children[pe] = ensure_named_fields(below, child_type)
    return FieldSet(members, children)


# Validation of an applied configuration (upstream's typed conversion of the patch object).


def _go_v(value: Any) -> str:
    """Go's `%v` of an unstructured value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool | int | float):
        return go_string(value)
    if isinstance(value, list):
        return "[" + " ".join(_go_v(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_v(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "<nil>"


def _scalar_error(kind: str | None, value: Any) -> str:
    if value is None or kind in (None, "untyped"):
        return ""
    if kind == "numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"expected numeric (int or float), got {_go_type(value)}"
    elif kind == "string":
        if not isinstance(value, str):
            inner = go_json(value) if isinstance(value, bool | int | float) else _go_v(value)
            return f"expected string, got &value.valueUnstructured{{Value:{inner}}}"
    elif kind == "boolean" and not isinstance(value, bool):
        return f"expected boolean, got &{{{_go_v(value)}}}"
    return ""


def validate(value: Any, t: FieldType) -> list[str]:
    """Why `value` is not of type `t` (upstream's messages, each with its path); [] if it is."""
    errs: list[str] = []
    _validate(value, t, "", errs)
    return errs


def _validate(value: Any, t: FieldType, path: str, errs: list[str]) -> None:
    def error(message: str, where: str = path) -> None:
        errs.append(f"{where}: {message}" if where else message)

    atom = _atom(t, value)
    if atom == "scalar":
        why = _scalar_error(t.scalar, value)
        if why:
            error(why)
    elif atom == "list":
        if value is None:
            return
        if not isinstance(value, list):
            error(f"expected list, got &{{{_go_v(value)}}}")
            return
        element = t.list_element()
        if t.list_atomic:
            for i, item in enumerate(value):
                _validate(item, element, f"{path}[{i}]", errs)
            return
        seen: set[PathElement] = set()
        for i, item in enumerate(value):
            pe, why = _item_element(t, item)
            if pe is None:
                error(f"element {i}: {why}")
                return
            if pe in seen:
                error(f"duplicate entries for key {pe}")
            seen.add(pe)
            _validate(item, element, f"{path}{pe}", errs)
    elif atom == "map":
        if value is None:
            return
        if not isinstance(value, dict):
            error(f"expected map, got &{{{_go_v(value)}}}")
            return
        for key, sub in value.items():
            child = t.child(key)
            if child is None:
                error("field not declared in schema", f"{path}.{key}")
                return
            _validate(sub, child, f"{path}.{key}", errs)
    else:
        error("schema error: invalid atom: " + (f"named type: {t.name}" if t.name else "inlined"))


def _errors_text(errs: list[str]) -> str:
    if len(errs) == 1:
        return errs[0]
    return "\n".join(["errors:", *(f"  {e}" for e in errs)])


# -- Ownership bookkeeping (structured-merge-diff's Updater) ------------------------------------


@dataclass(frozen=True, slots=True)
class _Owned:
    """One manager's fields, at the apiVersion it used, and whether it applied them."""

    fields: FieldSet
    api_version: str
    applied: bool


Managers = dict[str, _Owned]  # by manager identifier (upstream's BuildManagerIdentifier JSON)


@dataclass(frozen=True, slots=True)
class Conflict:
    """A field an apply would change that another manager owns."""

    manager: str  # the manager's identifier: {"manager":...,"operation":...,...}
    path: Path

    @property
    def field(self) -> str:
        return path_string(self.path)

    @property
    def who(self) -> str:
        """How upstream names the manager: `"kubectl"`, `"x" using apps/v1`, with subresource."""
        return _print_manager(self.manager)


class _Conflicts(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__(f"{len(conflicts)} conflicts")
        self.conflicts = conflicts


def _update_sets(
    old: Any,
    new: Any,
    t: FieldType,
    managers: Managers,
    workflow: str,
    force: bool,
    ignored: FieldSet | None,
    changes: Comparison | None = None,
) -> tuple[Managers, Comparison]:
    """Take changed fields from every other manager (conflicts unless `force`) and removed
    fields from everyone; drop managers left with nothing. Every manager's set is compared at
    the object's version: sets recorded at another apiVersion are not converted. `changes`:
    the comparison of `old` and `new` if the caller made it already."""
    if changes is None:
        changes = compare(old, new, t).exclude(ignored)
    touched = changes.modified.union(changes.added)
    conflicts: dict[str, FieldSet] = {}
    for manager, owned in managers.items():
        if manager == workflow:
            continue
        clash = owned.fields.intersection(touched)
        if not clash.empty():
            conflicts[manager] = clash
    if conflicts and not force:
        raise _Conflicts(
            [
                Conflict(manager, path)
                for manager in sorted(conflicts)
                for path in conflicts[manager].iterate()
            ]
        )
    out: Managers = {}
    for manager, owned in managers.items():
        fields = owned.fields
        if manager != workflow:
            if manager in conflicts:
                fields = fields.difference(conflicts[manager])
            fields = fields.difference(changes.removed)
        if not fields.empty() or manager == workflow:
            out[manager] = _Owned(fields, owned.api_version, owned.applied)
    return out, changes


def _smd_update(
    live: Any,
    new: Any,
    t: FieldType,
    version: str,
    managers: Managers,
    manager: str,
    ignored: FieldSet | None,
    changes: Comparison | None = None,
) -> Managers:
    managers, changes = _update_sets(live, new, t, managers, manager, True, ignored, changes)
    previous = managers.get(manager)
    fields = previous.fields if previous is not None else FieldSet()
    fields = fields.difference(changes.removed).union(changes.modified).union(changes.added)
    if ignored is not None:
        fields = fields.recursive_difference(ignored)
    if fields.empty():
        managers.pop(manager, None)
    else:
        managers[manager] = _Owned(fields, version, False)
    return managers


def _smd_apply(
    live: Any,
    config: Object,
    t: FieldType,
    version: str,
    managers: Managers,
    manager: str,
    force: bool,
    ignored: FieldSet | None,
) -> tuple[Any, Managers]:
    """Merge, record the applier's set, prune what it stopped applying, settle ownership.
    Returns MISSING as the object when the apply changes nothing."""
    merged = merge(live, config, t)
    last = managers.get(manager)
    fields = to_field_set(config, t)
    if ignored is not None:
        fields = fields.recursive_difference(ignored)
    managers = dict(managers)
    managers[manager] = _Owned(fields, version, True)
    merged = _prune(merged, managers, last, t)
    managers, _changes = _update_sets(live, merged, t, managers, manager, force, ignored)
    if managers[manager].fields.empty():
        del managers[manager]
    if json_equal(live, merged):
        return MISSING, managers
    return merged, managers


def _prune(merged: Any, managers: Managers, last: _Owned | None, t: FieldType) -> Any:
    """Remove what the applier applied last time and not now, unless someone else owns it."""
    if last is None or last.fields.empty():
        return merged

    def named(fields: FieldSet) -> FieldSet:
        return ensure_named_fields(fields, t)

    last_fields = named(last.fields)
    pruned = remove_items(merged, last_fields, t)
    # Add back what any manager (the applier's new configuration included) owns.
    owned = FieldSet()
    for entry in managers.values():
        owned = owned.union(entry.fields)
    merged_set = named(to_field_set(merged, t))
    unowned = merged_set.difference(named(to_field_set(pruned, t)).union(named(owned)))
    pruned = remove_items(merged, unowned, t)
    # Add back what the applier did not own last time (nobody's, or updaters' only).
    dangling = merged_set.difference(named(to_field_set(pruned, t))).intersection(last_fields)
    return remove_items(merged, dangling, t)


# -- managedFields: the wire form ----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _identifier(manager: str, operation: str, api_version: str, subresource: str) -> str:
    """Upstream's BuildManagerIdentifier: an apply is one manager whatever its apiVersion.
    (Every entry of every write is named again: the few distinct names are remembered.)"""
    entry: dict[str, str] = {}
    if manager:
        entry["manager"] = manager
    if operation:
        entry["operation"] = operation
    if api_version and operation != "Apply":
        entry["apiVersion"] = api_version
    if subresource:
        entry["subresource"] = subresource
    return json.dumps(entry, separators=(",", ":"))


def _print_manager(identifier: str) -> str:
    try:
        entry = json.loads(identifier)
    except ValueError:
        entry = None
    if not isinstance(entry, dict):
        return errors.go_quote(identifier)
    text = errors.go_quote(str(entry.get("manager", "")))
    if entry.get("subresource"):
        text += f" with subresource {errors.go_quote(str(entry['subresource']))}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


class _DecodeError(ValueError):
    pass


def _decode(entries: Any) -> tuple[Managers, dict[str, str | None]]:
    """Upstream's DecodeManagedFields: later entries of the same manager win."""
    managers: Managers = {}
    times: dict[str, str | None] = {}
    if entries is None:
        return managers, times
    if not isinstance(entries, list):
        raise _DecodeError("managedFields must be a list")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _DecodeError(f"managed fields entry {i} is not an object")
        operation = entry.get("operation")
        if operation not in ("Apply", "Update"):
            raise _DecodeError("operation must be `Apply` or `Update`")
        api_version = entry.get("apiVersion")
        if not isinstance(api_version, str) or not api_version:
            raise _DecodeError("apiVersion must not be empty")
        fields_type = entry.get("fieldsType")
        if not fields_type:
            raise _DecodeError(f"missing fieldsType in managed fields entry {i}")
        if fields_type != "FieldsV1":
            raise _DecodeError(
                f"invalid fieldsType {go_json(fields_type)} in managed fields entry {i}"
            )
        manager = entry.get("manager", "")
        subresource = entry.get("subresource", "")
        time = entry.get("time")
        if not isinstance(manager, str) or not isinstance(subresource, str):
            raise _DecodeError(f"managed fields entry {i} has a non-string manager or subresource")
        if time is not None and not isinstance(time, str):
            raise _DecodeError(f"managed fields entry {i} has a non-string time")
        identifier = _identifier(manager, operation, api_version, subresource)
        raw = entry.get("fieldsV1")
        try:
            fields = FieldSet.from_json(raw if raw is not None else {})
        except FieldPathError as err:
            raise _DecodeError(f"error decoding versioned set from entry {i}: {err}") from None
        managers[identifier] = _Owned(fields, api_version, operation == "Apply")
        times[identifier] = time
    return managers, times


def _seconds(time: str | None) -> int:
    if not time:
        return 0
    try:
        parsed = datetime.fromisoformat(time)
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


Originals = dict[str, tuple[Object, FieldSet]]  # the entries a record was read from, by manager


def _originals(entries: Any) -> Originals:
    """The readable entries of a managedFields list with their sets, by manager identifier."""
    out: Originals = {}
    for entry in entries if isinstance(entries, list) else ():
        try:
            ((identifier, owned),) = _decode([entry])[0].items()
        except _DecodeError:
            continue
        out[identifier] = (entry, owned.fields)
    return out


def _encode(
    managers: Managers, times: Mapping[str, str | None], originals: Originals
) -> list[Object]:
    """Upstream's encodeManagedFields: an entry whose set, version and operation did not change
    is kept as it was read (its FieldsV1 as sent, only the time updated); the others are built
    afresh. Sorted as sortEncodedManagedFields sorts."""
    entries: list[Object] = []
    for identifier, owned in managers.items():
        original = originals.get(identifier)
        if (
            original is not None
            and original[0].get("fieldsV1") is not None
            and original[0].get("apiVersion") == owned.api_version
            and (original[0].get("operation") == "Apply") == owned.applied
            and original[1] == owned.fields
        ):
            kept = dict(original[0])  # its fieldsV1 is shared, never changed in place
            if identifier in times:
                if times[identifier]:
                    kept["time"] = times[identifier]
                else:
                    kept.pop("time", None)
            entries.append(kept)
            continue
        who = json.loads(identifier)
        entry: Object = {}
        if who.get("manager"):
            entry["manager"] = who["manager"]
        entry["operation"] = "Apply" if owned.applied else who.get("operation", "Update")
        entry["apiVersion"] = owned.api_version
        if times.get(identifier):
            entry["time"] = times[identifier]
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = owned.fields.to_json()
        if who.get("subresource"):
            entry["subresource"] = who["subresource"]
        entries.append(entry)
    entries.sort(
        key=lambda e: (
            str(e.get("operation", "")),
            _seconds(e.get("time")),
            str(e.get("manager", "")),
            str(e.get("apiVersion", "")),
            str(e.get("subresource", "")),
        )
    )
    return entries


_STRIPPED: Final = FieldSet.of(
    (_field("apiVersion"),),
    (_field("kind"),),
    (_field("metadata"),),
    *(
        (_field("metadata"), _field(name))
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ),
)


def _strip_server_fields(managers: Managers, manager: str) -> Managers:
    """Upstream's stripMetaManager: nobody owns the fields the server sets."""
    owned = managers.get(manager)
    if owned is not None:
        fields = owned.fields.difference(_STRIPPED)
        if fields.empty():
            del managers[manager]
        else:
            managers[manager] = _Owned(fields, owned.api_version, owned.applied)
    return managers


def _cap_updaters(
    managers: Managers, times: dict[str, str | None], limit: int = MAX_UPDATE_MANAGERS
) -> None:
    """Upstream's capManagersManager: merge the oldest update entries, per apiVersion, into
    an `ancient-changes` entry until at most `limit` update entries remain."""
    updaters = [m for m, owned in managers.items() if not owned.applied]
    if len(updaters) <= limit:
        return
    updaters.sort(key=lambda m: (_seconds(times.get(m)), m))
    first_of_version: dict[str, str] = {}
    length = len(updaters)
    for manager in updaters:
        if length <= limit:
            break
        owned = managers[manager]
        version = owned.api_version
        bucket = _identifier(ANCIENT_CHANGES, "Update", version, "")
        if version not in first_of_version:
            first_of_version[version] = manager
            continue
        if bucket not in managers:
            managers[bucket] = managers.pop(first_of_version[version])
        managers[bucket] = _Owned(
            owned.fields.union(managers[bucket].fields), owned.api_version, owned.applied
        )
        del managers[manager]
        length -= 1
        times[bucket] = times.get(manager)


def _metadata(obj: Object) -> Object:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _set_managed_fields(
    obj: Object, managers: Managers, times: Mapping[str, str | None], originals: Originals
) -> None:
    entries = _encode(managers, times, originals)
    if entries:
        _metadata(obj)["managedFields"] = entries
    else:
        _remove_managed_fields(obj)


def _managed_entries(obj: Object) -> Any:
    meta = obj.get("metadata")
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _with_own_metadata(obj: Object) -> Object:
    """A copy of `obj` whose top level and metadata are its own (the rest is shared)."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = dict(meta)
    return out


def _remove_managed_fields(obj: Object) -> None:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)


def _is_reset(entries: Any) -> bool:
    """Upstream's isResetManagedFields: `[]` or `[{}]` clears the record."""
    if isinstance(entries, list):
        return not entries or (len(entries) == 1 and entries[0] == {})
    return False


# -- The API the request handlers call ------------------------------------------------------------


class FieldManagerError(errors.APIError, ValueError):
    """A field manager failure, already in the shape of the `Status` the server answers with."""

    def __init__(self, code: int, reason: str, message: str, details: Object | None = None) -> None:
        errors.APIError.__init__(self, code, reason, message, details or {})


class ApplyConflict(FieldManagerError):
    """409: the apply would change fields other managers own (and `force` was not given).

    The message and `details.causes` are upstream's: `Apply failed with 1 conflict: conflict
    with "kubectl-client-side-apply" using apps/v1: .spec.replicas`; one cause per field, with
    reason `FieldManagerConflict`.
    """

    def __init__(self, conflicts: Iterable[Conflict]) -> None:
        self.conflicts = tuple(conflicts)
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {c.who}",
                "field": c.field,
            }
            for c in self.conflicts
        ]
        super().__init__(409, "Conflict", _conflict_message(self.conflicts), {"causes": causes})


def _conflict_message(conflicts: tuple[Conflict, ...]) -> str:
    """Upstream's getConflictMessage: one conflict inline, several grouped by manager (sorted
    by manager identifier), one path per line."""
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.who}: {only.field}"
    by_manager: dict[str, list[Conflict]] = {}
    for c in conflicts:
        by_manager.setdefault(c.manager, []).append(c)
    lines: list[str] = []
    for manager in sorted(by_manager):
        lines.append(f"conflicts with {_print_manager(manager)}:")
        lines.extend(f"- {c.field}" for c in by_manager[manager])
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


def _group_version(api_version: Any) -> tuple[str, str]:
    if not isinstance(api_version, str) or not api_version:
        return "", ""
    parts = api_version.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return "", ""


def _gvk_string(api_version: Any, kind: Any) -> str:
    group, version = _group_version(api_version)
    return f"{group}/{version}, Kind={kind if isinstance(kind, str) else ''}"


def field_set(*dotted: str) -> FieldSet:
    """A set of plain field paths (`field_set("status", "metadata.labels")`), e.g. the fields
    a strategy resets, which nobody owns through that endpoint."""
    return FieldSet.of(*(tuple(_field(part) for part in path.split(".")) for path in dotted))


def validate_field_manager(name: str, field: str = "fieldManager") -> list[errors.Cause]:
    """Upstream's ValidateFieldManager: at most 128 bytes, printable characters only."""
    causes: list[errors.Cause] = []
    if len(name.encode()) > FIELD_MANAGER_MAX_LENGTH:
        causes.append(
            errors.Cause(
                "FieldValueTooLong",
                f"Too long: may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes",
                field,
            )
        )
    offset = 0
    for char in name:
        if not char.isprintable():
            causes.append(
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {errors.go_quote(name)}: "
                    "must only contain printable characters",
                    f"{field}[{offset}]",
                )
            )
        offset += len(char.encode())
    return causes


def validate_patch_options(field_manager: str, force: bool | None, *, apply: bool) -> None:
    """Upstream's ValidatePatchOptions: apply needs a `fieldManager`, only apply takes `force`;
    raises the 422 `PatchOptions.meta.k8s.io "" is invalid: ...` upstream answers."""
    causes: list[errors.Cause] = []
    if not apply and force is not None:
        causes.append(
            errors.Cause(
                "FieldValueForbidden",
                "Forbidden: may not be specified for non-apply patch",
                "force",
            )
        )
    if apply and not field_manager:
        causes.append(
            errors.Cause(
                "FieldValueRequired", "Required value: is required for apply patch", "fieldManager"
            )
        )
    causes.extend(validate_field_manager(field_manager))
    if causes:
        raise errors.invalid("meta.k8s.io", "PatchOptions", "", causes)


def validate_managed_fields(
    entries: Any, field: str = "metadata.managedFields"
) -> list[errors.Cause]:
    """Upstream's ValidateManagedFields, for objects sent to create and update (422 causes)."""
    causes: list[errors.Cause] = []
    if not isinstance(entries, list):
        return causes
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        where = f"{field}[{i}]"
        operation = entry.get("operation", "")
        if operation not in ("Apply", "Update"):
            causes.append(
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {errors.go_quote(str(operation))}: "
                    "must be `Apply` or `Update`",
                    f"{where}.operation",
                )
            )
        fields_type = entry.get("fieldsType", "")
        if fields_type and fields_type != "FieldsV1":
            causes.append(
                errors.Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {errors.go_quote(str(fields_type))}: must be `FieldsV1`",
                    f"{where}.fieldsType",
                )
            )
        causes.extend(validate_field_manager(str(entry.get("manager", "")), f"{where}.manager"))
        subresource = str(entry.get("subresource", ""))
        if len(subresource) > 256:
            causes.append(
                errors.Cause(
                    "FieldValueTooLong",
                    "Too long: may not be more than 256 bytes",
                    f"{where}.subresource",
                )
            )
    return causes


def record_update(
    old: Object | None,
    new: Object,
    manager: str,
    *,
    schema: FieldType,
    api_version: str,
    now: str,
    subresource: str = "",
    ignored: FieldSet | None = None,
) -> Object:
    """`new` with `metadata.managedFields` updated for a create (`old` None), update or
    non-apply patch by `manager` (operation `Update`).

    The managedFields `new` carries are taken as the new record if valid and non-empty (a client
    may edit them; `[]` clears them, and a cleared object is not tracked again until an apply),
    else the old object's are kept (ignored on a subresource). `manager` "" is recorded as
    "unknown"; deriving one from the user agent is the caller's concern. `ignored` are fields
    nobody owns through this endpoint (the strategy's reset fields, `status` on the main
    resource). `now` is the RFC 3339 time stamped on the entry, if it changed anything.
    As upstream's UpdateNoErrors, a failure drops managedFields rather than the write.
    """
    key = _create_key(old, new, manager, schema, api_version, subresource, ignored)
    if key is not None and (entries := _CREATES.get(key)) is not None:
        result = _with_own_metadata(new)
        result["metadata"]["managedFields"] = [
            {**entry, "time": now} if "time" in entry else dict(entry) for entry in entries
        ]
        return result
    result = _record_update(old, new, manager, schema, api_version, now, subresource, ignored)
    if key is not None and (made := _managed_entries(result)):
        if len(_CREATES) >= _CREATES_LIMIT:
            _CREATES.clear()
        _CREATES[key] = made
    return result


def _create_key(
    old: Object | None,
    new: Object,
    manager: str,
    schema: FieldType,
    api_version: str,
    subresource: str,
    ignored: FieldSet | None,
) -> tuple[Any, ...] | None:
    """The memo key of a plain create (no old object, no requested record), else None."""
    meta = new.get("metadata")
    if old is not None or ignored is not None or not isinstance(meta, dict):
        return None
    if "managedFields" in meta:
        return None
    try:
        return (schema, manager, api_version, subresource, _shape(new))
    except TypeError:  # a value JSON cannot hold: no memo, the walk reports it
        return None


# Creates by (type, manager, version, subresource, shape of the object): the managedFields
# entries they recorded. What a create records depends on the object's shape only (see
# `_shape`): the pods of one template, the Events of one kind, differ in values the walk
# does not look at. The entries are shared, never changed in place (as `_encode` keeps them).
_CREATES: dict[tuple[Any, ...], list[Object]] = {}
_CREATES_LIMIT: Final = 1024


def _shape(value: Any) -> Any:
    """What a create's field set depends on in `value`: each map's keys in order, whether each
    scalar is null (`_atom` tells only null from the rest), and each list whole, as JSON (its
    items' key fields or values name their paths). TypeError if JSON cannot hold a list."""
    if isinstance(value, dict):
        return tuple([(k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return orjson.dumps(value)
    return value is None


def _record_update(
    old: Object | None,
    new: Object,
    manager: str,
    schema: FieldType,
    api_version: str,
    now: str,
    subresource: str,
    ignored: FieldSet | None,
) -> Object:
    """record_update's walk: compare, hand over ownership, encode."""
    # Only metadata.managedFields is written here: copying the top level and metadata keeps
    # the arguments unchanged without a deep copy (which was a fifth of a create's CPU). The
    # result shares the rest of its tree with `new`.
    result = _with_own_metadata(new)
    try:
        managers, times, read = _live_or_new_record(old, result, bool(subresource))
        _remove_managed_fields(result)
        if not managers and old is not None:
            return result  # not tracked: its managedFields were cleared (skipNonApplied)
        live: Any = schema.zero()  # shared: compared with, never changed
        if old is not None:
            live = _with_own_metadata(old)
            if isinstance(live, dict):
                _remove_managed_fields(live)
        identifier = _identifier(manager or "unknown", "Update", api_version, subresource)
        changes = compare(live, result, schema, remember=old is None).exclude(ignored)
        kept = _ownership_kept(managers, identifier, changes)
        if kept is not None:
            managers = kept
            if not changes.modified.empty() or not changes.added.empty():
                times[identifier] = now
        else:
            current = "\x00current-operation"
            managers = _smd_update(
                live, result, schema, api_version, managers, current, ignored, changes
            )
            managers = _strip_server_fields(managers, current)
            changed = managers.pop(current, None)
            if changed is not None:
                previous = managers.get(identifier)
                fields = (
                    changed.fields if previous is None else changed.fields.union(previous.fields)
                )
                managers[identifier] = _Owned(fields, changed.api_version, False)
                times[identifier] = now
        _cap_updaters(managers, times)
        _set_managed_fields(result, managers, times, _originals(read))
    except (FieldPathError, _DecodeError, RecursionError):
        _remove_managed_fields(result)
    return result


def _ownership_kept(managers: Managers, identifier: str, changes: Comparison) -> Managers | None:
    """The record after an Update that changes no one's ownership, or None to work it out.

    The common write (a Lease renewal, a status report) changes fields its manager already
    owns and nobody else does, and removes none: then the general bookkeeping (take the
    changed fields from every manager, give them to the current operation, strip the server's
    fields, merge into the manager's entry) ends with every set as it was, and only the
    manager's time moves (the caller's, when something changed). Managers left with an empty
    set are dropped, as the general path drops them.
    """
    own = managers.get(identifier)
    if own is None or not changes.removed.empty():
        return None
    touched = changes.modified.union(changes.added)
    if not touched.empty():
        if not touched.difference(own.fields).empty():
            return None
        if not touched.intersection(_STRIPPED).empty():
            return None
        for other, owned in managers.items():
            if other != identifier and not owned.fields.intersection(touched).empty():
                return None
    return {m: owned for m, owned in managers.items() if not owned.fields.empty()}


def _live_or_new_record(
    old: Object | None, new: Object, ignore_request: bool
) -> tuple[Managers, dict[str, str | None], Any]:
    """Upstream's decodeLiveOrNew: the request's record if it is valid and not empty (or a
    reset), else the live object's (an invalid one counts as empty); with the entries read."""
    requested = _managed_entries(new)
    if not ignore_request:
        if _is_reset(requested):
            return {}, {}, None
        try:
            managers, times = _decode(requested)
            if managers:
                return managers, times, requested
        except _DecodeError:
            pass
    current = _managed_entries(old) if old is not None else None
    try:
        managers, times = _decode(current)
    except _DecodeError:
        return {}, {}, None
    return managers, times, current


def apply(
    live: Object | None,
    applied: Object,
    manager: str,
    *,
    force: bool,
    schema: FieldType,
    api_version: str,
    kind: str,
    now: str,
    subresource: str = "",
    ignored: FieldSet | None = None,
) -> Object:
    """The object after `manager` server-side applies `applied` to `live` (None: create it).

    Raises `ApplyConflict` (409) on conflicts without `force`; a `FieldManagerError` with
    upstream's code and message for an applied object of another kind or version (400
    `invalid object type: ...`), one that sets managedFields (400), one that does not fit the
    schema (500 `failed to create typed patch object (...): .spec.foo: field not declared in
    schema`, as upstream), or a live object whose managedFields cannot be read (500); and the
    422 of `validate_patch_options` when `manager` is empty.

    A `metadata.resourceVersion` in `applied` is merged like any field, so the store's
    compare-and-swap turns a stale one into upstream's 409. Defaulting and validation of the
    result, and the strategy's reset of `ignored` fields, are the caller's.
    """
    if not manager:
        validate_patch_options(manager, force, apply=True)
    if applied.get("apiVersion") != api_version or applied.get("kind") != kind:
        raise FieldManagerError(
            400,
            "BadRequest",
            f"invalid object type: {_gvk_string(applied.get('apiVersion'), applied.get('kind'))}",
        )
    applied_meta = applied.get("metadata")
    if isinstance(applied_meta, dict) and applied_meta.get("managedFields") is not None:
        raise FieldManagerError(400, "BadRequest", "metadata.managedFields must be nil")
    base: Object = copy.deepcopy(live) if live is not None else {}
    read = _managed_entries(base)
    try:
        managers, times = _decode(read)
    except _DecodeError as err:
        raise FieldManagerError(500, "", f"failed to decode managed fields: {err}") from None
    _remove_managed_fields(base)
    problems = validate(applied, schema)
    if problems:
        meta = applied_meta if isinstance(applied_meta, dict) else {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        raise FieldManagerError(
            500,
            "",
            f"failed to create typed patch object ({where}; {_gvk_string(api_version, kind)}): "
            + _errors_text(problems),
        )

    def attempt(forced: bool) -> tuple[Object, Managers, dict[str, str | None]]:
        identifier = _identifier(manager, "Apply", api_version, subresource)
        merged, owners = _smd_apply(
            base, applied, schema, api_version, managers, identifier, forced, ignored
        )
        owners = _strip_server_fields(owners, identifier)
        stamps = dict(times)
        if merged is MISSING:
            merged = copy.deepcopy(base)
        else:
            stamps[identifier] = now
        _cap_updaters(owners, stamps)
        return merged, owners, stamps

    try:
        result, managers, times = attempt(force)
    except _Conflicts as clash:
        if manager != KUBECTL:
            raise ApplyConflict(clash.conflicts) from None
        allowed = _client_side_applied(base, schema, api_version)
        if allowed is None:
            raise ApplyConflict(clash.conflicts) from None
        remaining = [c for c in clash.conflicts if not allowed.has(c.path)]
        if remaining:
            raise ApplyConflict(remaining) from None
        result, managers, times = attempt(True)
    if manager == KUBECTL:
        _follow_last_applied(result, applied)
    _set_managed_fields(result, managers, times, _originals(read))
    return result


def _annotations(obj: Object) -> dict[str, Any] | None:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else None


def _client_side_applied(live: Object, t: FieldType, api_version: str) -> FieldSet | None:
    """Upstream's lastAppliedManager: the fields the last-applied annotation shows kubectl
    client-side applied and the live object still has as applied; None if there is none."""
    annotations = _annotations(live)
    text = annotations.get(LAST_APPLIED_ANNOTATION) if annotations else None
    if not isinstance(text, str) or not text:
        return None
    try:
        last = json.loads(text)
    except ValueError:
        return None
    if not isinstance(last, dict) or last.get("apiVersion") != api_version or validate(last, t):
        return None
    changes = compare(last, live, t)
    return (
        to_field_set(last, t)
        .difference(changes.modified)
        .difference(changes.added)
        .difference(changes.removed)
    )


def _follow_last_applied(obj: Object, applied: Object) -> None:
    """Upstream's lastAppliedUpdater: when kubectl server-side applies an object that has a
    last-applied annotation, the annotation becomes the applied configuration (as kubectl
    writes it: Go's JSON of the object without the annotation, newline-terminated), or is
    dropped if that would exceed the annotations size limit."""
    annotations = _annotations(obj)
    if not annotations or not annotations.get(LAST_APPLIED_ANNOTATION):
        return
    config = copy.deepcopy(applied)
    config_annotations = _annotations(config)
    if config_annotations is not None:
        config_annotations.pop(LAST_APPLIED_ANNOTATION, None)
    annotations[LAST_APPLIED_ANNOTATION] = go_json(config) + "\n"
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        del annotations[LAST_APPLIED_ANNOTATION]
