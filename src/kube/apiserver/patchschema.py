"""The strategic-merge-patch metadata of each served kind, from the upstream type schemas.

kube-apiserver reads a field's patch strategy and merge key from the Go struct tags of the
built-in types; the same facts are in the upstream OpenAPI schemas this server already
serves (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, see
`openapi_schemas`). `patch_meta(group, version, kind)` gives the `PatchMeta` that
`kube.api.strategicpatch.strategic_merge_patch` needs, built lazily from those schemas
and kept for the life of the process (one `SchemaIndex` over all definitions, so shared
types such as `ObjectMeta` and `PodSpec` are walked once).

A kind with no upstream schema (a custom resource) gets `SCHEMALESS`: its lists are
replaced, as by a JSON merge patch. (kube-apiserver refuses strategic merge patches for
custom resources with 415; whether to do so is the patch handler's choice.)
"""

from __future__ import annotations

from functools import cache

from kube.api.patchmeta import SCHEMALESS, PatchMeta, SchemaIndex
from kube.apiserver.openapi_schemas import definition_name, raw_definitions

__all__ = ["patch_meta"]


@cache
def _index() -> SchemaIndex:
    return SchemaIndex(raw_definitions())


def patch_meta(group: str, version: str, kind: str) -> PatchMeta:
    """The `PatchMeta` of a kind (`("apps", "v1", "Deployment")`); SCHEMALESS if unknown."""
    name = definition_name(group, version, kind)
    return SCHEMALESS if name is None else _index().definition(name)
