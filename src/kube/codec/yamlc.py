"""YAML input (kubectl may send `application/yaml`); safe loading, one document per body."""

from __future__ import annotations

from typing import Any

import yaml

from kube.codec import jsonc
from kube.codec.jsonc import DecodeError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when compiled in


def go_yaml_error(err: yaml.YAMLError) -> str:
    """`err` as go-yaml v2 (upstream's YAML reader, libyaml's messages) words it.

    go-yaml names the problem's line counted from 0 for parser errors and from 1 for
    scanner errors (`yaml: line 2: mapping values are not allowed in this context`).
    """
    problem = getattr(err, "problem", None)
    if not isinstance(err, yaml.MarkedYAMLError) or not problem:
        return str(err).replace("\n", " ")
    line = 0
    if err.problem_mark is not None and err.problem_mark.line:
        line = err.problem_mark.line + (1 if isinstance(err, yaml.scanner.ScannerError) else 0)
    elif err.context_mark is not None and err.context_mark.line:
        line = err.context_mark.line
    return f"yaml: line {line}: {problem}" if line else f"yaml: {problem}"


def loads_object(data: bytes | str) -> dict[str, Any]:
    try:
        doc = yaml.load(data, Loader=_Loader)
    except yaml.YAMLError as err:
        raise DecodeError(f"error converting YAML to JSON: {go_yaml_error(err)}") from err
    if not isinstance(doc, dict):
        # Upstream converts to JSON first, then reads apiVersion and kind from that.
        return jsonc.loads_object(jsonc.dumps(doc))
    return doc


class _Dumper(yaml.SafeDumper):
    """Writes every value where it is: a part shared by two places of the object (the watch
    cache shares managedFields documents) is written twice, never as an `&id` anchor and a
    `*id` alias, which upstream's YAML (made from JSON) never has."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dumps(obj: Any) -> bytes:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False).encode()
