"""`DeleteOptions` of a DELETE request, read and checked as upstream's delete handler does.

Clients send them as a body (kubectl: `{"kind":"DeleteOptions","apiVersion":"v1",
"propagationPolicy":"Background"}`, plus `gracePeriodSeconds` for `--grace-period`/`--force`)
or as query parameters (`?gracePeriodSeconds=0&dryRun=All`). Upstream reads the body when
there is one and the query otherwise; here a field the body leaves out is taken from the
query, so a `?dryRun=All` is never silently dropped. Wrong types are a 400 worded as Go's
decoders word them; values `ValidateDeleteOptions` refuses are a 422 on `DeleteOptions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from kube.api import errors
from kube.apiserver import negotiation

GO_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str = ""
    orphan_dependents: bool | None = None
    precondition_uid: str = ""
    precondition_rv: str = ""
    dry_run: bool = False

    @property
    def policy(self) -> str:
        """The propagation policy the store applies (the deprecated orphanDependents mapped)."""
        if self.propagation_policy:
            return self.propagation_policy
        if self.orphan_dependents is not None:
            return "Orphan" if self.orphan_dependents else "Background"
        return ""


def _json_type(value: Any) -> str:
    """How Go's encoding/json names a JSON value in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _wrong_type(field: str, value: Any, go_type: str) -> errors.APIError:
    return errors.bad_request(
        f"json: cannot unmarshal {_json_type(value)} into Go struct field "
        f"DeleteOptions.{field} of type {go_type}"
    )


def _int64(doc: Mapping[str, Any], field: str) -> int | None:
    value = doc.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(field, value, "int64")
    if not GO_INT64[0] <= value <= GO_INT64[1]:
        raise _wrong_type(field, value, "int64")
    return value


def _string(doc: Mapping[str, Any], field: str, go_field: str = "") -> str:
    value = doc.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong_type(go_field or field, value, "string")
    return value


def _query_int(text: str) -> int:
    """A query integer as Go's strconv.ParseInt(text, 10, 64) reads it, with its errors."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        raise errors.bad_request(
            f"strconv.ParseInt: parsing {errors.go_quote(text)}: invalid syntax"
        )
    value = int(text)
    if not GO_INT64[0] <= value <= GO_INT64[1]:
        raise errors.bad_request(
            f"strconv.ParseInt: parsing {errors.go_quote(text)}: value out of range"
        )
    return value


GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _query_bool(text: str) -> bool:
    if text in GO_TRUE:
        return True
    if text in GO_FALSE:
        return False
    raise errors.bad_request(f"strconv.ParseBool: parsing {errors.go_quote(text)}: invalid syntax")


def _from_body(content_type: str, body: bytes) -> dict[str, Any]:
    doc = negotiation.decode_body(content_type, body)
    kind = doc.get("kind")
    if kind not in (None, "", "DeleteOptions"):
        raise errors.bad_request("decoded object cannot be converted to DeleteOptions")
    return doc


def _dry_run_values(values: Sequence[str]) -> bool:
    bad = [v for v in values if v != "All"]
    if bad:
        shown = "[]string{" + ", ".join(errors.go_quote(v) for v in values) + "}"
        raise _invalid(
            "FieldValueNotSupported",
            f'Unsupported value: {shown}: supported values: "All"',
            "dryRun",
        )
    return bool(values)


def _invalid(reason: str, message: str, field: str) -> errors.APIError:
    return errors.invalid(
        "meta.k8s.io", "DeleteOptions", "", [errors.Cause(reason, message, field)]
    )


def parse(query: MultiMapping[str], content_type: str, body: bytes) -> DeleteOptions:
    """The request's DeleteOptions; 400 for a malformed body or parameter, 422 if invalid."""
    doc: dict[str, Any] = _from_body(content_type, body) if body.strip() else {}

    grace = _int64(doc, "gracePeriodSeconds")
    if grace is None and query.get("gracePeriodSeconds", ""):
        grace = _query_int(query.get("gracePeriodSeconds", ""))

    policy = _string(doc, "propagationPolicy")
    if "propagationPolicy" not in doc:
        policy = query.get("propagationPolicy", "")

    orphan = doc.get("orphanDependents")
    if orphan is not None and not isinstance(orphan, bool):
        raise _wrong_type("orphanDependents", orphan, "bool")
    if orphan is None and query.get("orphanDependents", ""):
        orphan = _query_bool(query.get("orphanDependents", ""))

    pre = doc.get("preconditions")
    if pre is not None and not isinstance(pre, dict):
        raise _wrong_type("preconditions", pre, "v1.Preconditions")
    pre = pre or {}
    uid = _string(pre, "uid", "preconditions.uid")
    rv = _string(pre, "resourceVersion", "preconditions.resourceVersion")

    dry = doc.get("dryRun")
    if dry is not None and (not isinstance(dry, list) or not all(isinstance(v, str) for v in dry)):
        raise _wrong_type("dryRun", dry, "[]string")
    dry_run = _dry_run_values(dry if dry is not None else query.getall("dryRun", []))

    if orphan is not None and policy:
        raise _invalid(
            "FieldValueInvalid",
            f"Invalid value: {errors.go_quote(policy)}: orphanDependents and "
            "deletionPropagation cannot be both set",
            "propagationPolicy",
        )
    return DeleteOptions(grace, policy, orphan, uid, rv, dry_run)
