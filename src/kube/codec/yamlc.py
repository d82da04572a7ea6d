"""YAML input (kubectl may send `application/yaml`); safe loading, one document per body."""

from __future__ import annotations

from typing import Any

import yaml

from kube.codec.jsonc import DecodeError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when compiled in


def loads_object(data: bytes | str) -> dict[str, Any]:
    try:
        doc = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as err:
        raise DecodeError(f"error converting YAML to JSON: {err}".replace("\n", " ")) from err
    if not isinstance(doc, dict):
        raise DecodeError("error converting YAML to JSON: the document is not an object")
    return doc


def dumps(obj: Any) -> bytes:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).encode()
