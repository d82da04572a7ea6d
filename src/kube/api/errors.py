"""API errors as upstream `Status` objects: the reason, code and message text clients match on.

Every failure the API server answers is an `APIError`. Its constructors follow
k8s.io/apimachinery/pkg/api/errors, so the messages read exactly as kubectl users know them
(`pods "web" not found`, `Operation cannot be fulfilled on ...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One entry of `details.causes`: which field is wrong and how."""

    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, ...
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.reason, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class APIError(Exception):
    """A failed request; `status()` is the body the API server sends."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def qualified(group: str, resource: str) -> str:
    """`pods` or `deployments.apps`: how upstream names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def _details(group: str, resource: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def not_found(group: str, resource: str, name: str) -> APIError:
    return APIError(
        404,
        "NotFound",
        f'{qualified(group, resource)} "{name}" not found',
        _details(group, resource, name),
    )


def already_exists(group: str, resource: str, name: str) -> APIError:
    return APIError(
        409,
        "AlreadyExists",
        f'{qualified(group, resource)} "{name}" already exists',
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> APIError:
    return APIError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(group, resource)} "{name}": {why}',
        _details(group, resource, name),
    )


OBJECT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> APIError:
    """422 Invalid, with the message format of upstream's `NewInvalid`."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    listed = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [c.to_dict() for c in causes],
    }
    if group:
        details["group"] = group
    return APIError(
        422, "Invalid", f'{qualified(group, kind)} "{name}" is invalid: {listed}', details
    )


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(401, "Unauthorized", message)


def forbidden(group: str, resource: str, name: str, why: str) -> APIError:
    target = f'{qualified(group, resource)} "{name}"' if name else qualified(group, resource)
    return APIError(
        403, "Forbidden", f"{target} is forbidden: {why}", _details(group, resource, name)
    )


def method_not_supported(group: str, resource: str, verb: str) -> APIError:
    return APIError(
        405,
        "MethodNotAllowed",
        f"{verb} is not supported on resources of kind {qualified(group, resource)!r}",
        {"kind": resource, **({"group": group} if group else {})},
    )


def gone(message: str) -> APIError:
    """410 Gone: a resourceVersion older than storage keeps (upstream reason Expired)."""
    return APIError(410, "Expired", message)


def too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"limit is {limit}")


def unsupported_media_type(content_type: str) -> APIError:
    return APIError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format: {content_type}",
    )


def not_acceptable(accept: str) -> APIError:
    return APIError(406, "NotAcceptable", f"only the following media types are accepted: {accept}")


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str) -> APIError:
    return APIError(504, "Timeout", message)
