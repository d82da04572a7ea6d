"""Unknown fields: what kube-apiserver's decoder drops, warns about, or refuses.

kube-apiserver decodes a request body into the Go type of its kind, so a field the type does not
declare never reaches storage. The request's `fieldValidation` says what else happens
(`Ignore`: nothing; `Warn`, the default: a `Warning` header per field; `Strict`: the request is
refused with 400 `strict decoding error: unknown field "spec.foo"`). `prune` does the dropping
over plain JSON objects with the kind's `FieldType`, and returns the dropped paths in upstream's
notation (`spec.containers[0].foo`) for the caller to warn or refuse with.
"""

from __future__ import annotations

from typing import Any, Final

from kube.api import errors
from kube.api.fieldmanager import DEDUCED, UNTYPED_ATOMIC, FieldType

IGNORE: Final = "Ignore"
WARN: Final = "Warn"
STRICT: Final = "Strict"
DIRECTIVES: Final = (IGNORE, STRICT, WARN)


def prune(obj: Any, t: FieldType) -> list[str]:
    """Remove the fields of `obj` that `t` does not declare (in place); their paths, in order."""
    dropped: list[str] = []
    _prune(obj, t, "", dropped)
    return dropped


def _prune(value: Any, t: FieldType, path: str, dropped: list[str]) -> None:
    if isinstance(value, dict) and t.is_map:
        if t is DEDUCED or t is UNTYPED_ATOMIC:
            return  # untyped (no schema, preserve-unknown-fields): anything goes
        for key in list(value):
            child = t.child(key)
            where = f"{path}.{key}" if path else str(key)
            if child is None:
                dropped.append(where)
                del value[key]
            else:
                _prune(value[key], child, where, dropped)
    elif isinstance(value, list) and t.is_list:
        element = t.list_element()
        for i, item in enumerate(value):
            _prune(item, element, f"{path}[{i}]", dropped)


def messages(dropped: list[str]) -> list[str]:
    """Upstream's wording of each dropped field (the text of its warning)."""
    return [f'unknown field "{path}"' for path in dropped]


def directive(value: str, options_kind: str = "CreateOptions") -> str:
    """The request's `fieldValidation` (default Warn); 422 for a value upstream does not know."""
    if not value:
        return WARN
    if value not in DIRECTIVES:
        supported = ", ".join(f'"{d}"' for d in DIRECTIVES)
        raise errors.invalid(
            "meta.k8s.io",
            options_kind,
            "",
            [
                errors.Cause(
                    "FieldValueNotSupported",
                    f"Unsupported value: {errors.go_quote(value)}: supported values: {supported}",
                    "fieldValidation",
                )
            ],
        )
    return value


def strict_error(dropped: list[str], prefix: str = "") -> errors.APIError:
    """The 400 a Strict request with unknown fields gets."""
    return errors.bad_request(prefix + "strict decoding error: " + ", ".join(messages(dropped)))
