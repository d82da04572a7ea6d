"""Upstream type schemas for the OpenAPI documents, from the `kubernetes-validate` package.

kubernetes-validate ships, per Kubernetes release, every API type's schema as generated from
upstream's OpenAPI: `kubernetes-json-schema/v<release>-local/_definitions.json` holds them all
under `$defs`, keyed by upstream's definition names (`io.k8s.api.core.v1.Pod`), with the
descriptions, formats, `required` lists, `x-kubernetes-group-version-kind` and the list and
patch metadata (`x-kubernetes-patch-merge-key`, `-patch-strategy`, `-list-type`,
`-list-map-keys`) that kubectl's strategic merge patch and `explain` read.

Its generator (openapi2jsonschema) made a few changes that this module undoes, so that the
schemas read as kube-apiserver serves them:

- every `type` became `[type, "null"]`: the null is dropped;
- `apiVersion` and `kind` of each top-level kind got an `enum` of the one allowed value:
  removed (upstream has none);
- IntOrString and Quantity lost their description and IntOrString its `int-or-string`
  format: restored;
- references point at `#/$defs/<name>`: rewritten to `#/components/schemas/<name>` (v3) or
  `#/definitions/<name>` (v2). In v3 a reference with siblings (a description) is wrapped in
  `allOf`, as upstream does, because OpenAPI 3.0 ignores siblings of `$ref`.

`closure(names)` gives the definitions a set of roots needs, which is what a per-group-version
document carries in `components.schemas`.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import orjson

from kube.version import KUBERNETES_MAJOR, KUBERNETES_MINOR

Schema = dict[str, Any]

_DEFS_REF = "#/$defs/"
V3_REF = "#/components/schemas/"
V2_REF = "#/definitions/"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

_INT_OR_STRING_DESCRIPTION = (
    "IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML "
    "marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to "
    "have, for example, a JSON field that can accept a name or number."
)
_QUANTITY_DESCRIPTION = (
    "Quantity is a fixed-point representation of a number. It provides convenient "
    "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() "
    "accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= "
    '<signedNumber><suffix>\n\n\t(Note that <suffix> may be empty, from the "" case in '
    "<decimalSI>.)\n\n<digit>           ::= 0 | 1 | ... | 9 <digits>          ::= <digit> | "
    "<digit><digits> <number>          ::= <digits> | <digits>.<digits> | <digits>. | "
    '.<digits> <sign>            ::= "+" | "-" <signedNumber>    ::= <number> | '
    "<sign><number> <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> "
    "<binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t(International System of units; "
    'See: http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>       ::= m | "" | '
    "k | M | G | T | P | E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the "
    'capitalization.)\n\n<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber> ```'
    "\n\nNo matter which of the three exponent forms is used, no quantity may represent a "
    "number greater than 2^63-1 in magnitude, nor may it have more than 3 decimal places. "
    "Numbers larger or more precise will be capped or rounded up. (E.g.: 0.1m will rounded up "
    "to 1m.) This may be extended in the future if we require larger or smaller quantities."
    "\n\nWhen a Quantity is parsed from a string, it will remember the type of suffix it had, "
    "and will use the same type again when it is serialized.\n\nBefore serializing, Quantity "
    'will be put in "canonical form". This means that Exponent/suffix will be adjusted up or '
    "down (with a corresponding increase or decrease in Mantissa) such that:\n\n- No "
    "precision is lost - No fractional digits will be emitted - The exponent (or suffix) is "
    "as large as possible.\n\nThe sign will be omitted unless the number is negative.\n\n"
    'Examples:\n\n- 1.5 will be serialized as "1500m" - 1.5Gi will be serialized as '
    '"1536Mi"\n\nNote that the quantity will NEVER be internally represented by a floating '
    "point number. That is the whole point of this exercise.\n\nNon-canonical values will "
    "still parse as long as they are well formed, but will be re-emitted in their canonical "
    "form. (So always use canonical form, or don't diff.)\n\nThis format is intended to make "
    "it difficult to use these numbers without writing some sort of special handling code in "
    "the hopes that that will cause implementors to also use a fixed point implementation."
)

_RELEASE_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local$")


def _definitions_file() -> Any:
    """`_definitions.json` of the release this server follows (else the newest shipped)."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    wanted = (int(KUBERNETES_MAJOR), int(KUBERNETES_MINOR))
    releases = []
    for entry in root.iterdir():
        m = _RELEASE_DIR.match(entry.name)
        if m:
            releases.append(((int(m.group(1)), int(m.group(2)), int(m.group(3))), entry))
    if not releases:
        raise RuntimeError("kubernetes-validate ships no schemas (kubernetes-json-schema/)")
    exact = [r for r in releases if r[0][:2] == wanted]
    _, chosen = max(exact or releases, key=lambda r: r[0])
    return chosen / "_definitions.json"


@cache
def raw_definitions() -> dict[str, Schema]:
    """kubernetes-validate's definitions, as shipped (read once, never mutated)."""
    defs: dict[str, Schema] = orjson.loads(_definitions_file().read_bytes())["$defs"]
    return defs


def _convert(node: Any, ref_prefix: str, wrap_refs: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, ref_prefix, wrap_refs) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        elif key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.removeprefix(_DEFS_REF)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(prop, ref_prefix, wrap_refs) for name, prop in value.items()}
        else:
            out[key] = _convert(value, ref_prefix, wrap_refs)
    if wrap_refs and "$ref" in out and len(out) > 1:
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _convert_definition(name: str, schema: Schema, flavour: str) -> Schema:
    v3 = flavour == "v3"
    if name == INT_OR_STRING:
        shape: Schema = (
            {"oneOf": [{"type": "integer"}, {"type": "string"}]} if v3 else {"type": "string"}
        )
        return {"description": _INT_OR_STRING_DESCRIPTION, "format": "int-or-string", **shape}
    if name == QUANTITY:
        shape = {"oneOf": [{"type": "string"}, {"type": "number"}]} if v3 else {"type": "string"}
        return {"description": _QUANTITY_DESCRIPTION, **shape}
    out: Schema = _convert(schema, V3_REF if v3 else V2_REF, wrap_refs=v3)
    if "x-kubernetes-group-version-kind" in out:
        for field in ("apiVersion", "kind"):
            prop = out.get("properties", {}).get(field)
            if isinstance(prop, dict):
                prop.pop("enum", None)
    return out


@cache
def definitions(flavour: str) -> dict[str, Schema]:
    """Every definition as served upstream, for `flavour` "v3" or "v2" (computed once)."""
    if flavour not in ("v2", "v3"):
        raise ValueError(f"unknown OpenAPI flavour {flavour!r}")
    return {
        name: _convert_definition(name, schema, flavour)
        for name, schema in raw_definitions().items()
    }


@cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in raw_definitions().items():
        gvks = schema.get("x-kubernetes-group-version-kind") or []
        if len(gvks) != 1:  # shared meta types (DeleteOptions, WatchEvent) list every group
            continue
        gvk = gvks[0]
        index[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """Upstream's definition name of a kind (`("apps", "v1", "Deployment")` ->
    `io.k8s.api.apps.v1.Deployment`), from the schemas' `x-kubernetes-group-version-kind`."""
    return _gvk_index().get((group, version, kind))


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value.rsplit("/", 1)[-1])
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def referenced(node: Any) -> set[str]:
    """The definition names a document fragment refers to."""
    found: set[str] = set()
    _refs(node, found)
    return found


def closure(roots: Iterable[str]) -> list[str]:
    """`roots` and every definition they reach, sorted (what a document must carry)."""
    defs = raw_definitions()
    seen: set[str] = set()
    todo = [name for name in roots if name in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(referenced(defs[name]) - seen)
    return sorted(seen)
