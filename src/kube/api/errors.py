"""API errors as upstream `Status` objects: the reason, code and message text clients match on.

Every failure the API server answers is an `APIError`. Its constructors follow
k8s.io/apimachinery/pkg/api/errors, so the messages read exactly as kubectl users know them
(`pods "web" not found`, `Operation cannot be fulfilled on ...`).
"""

from __future__ import annotations

from collections.abc import Sequence
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


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """`text` as Go's `%q` (strconv.Quote) writes it: how upstream quotes names in messages."""
    out = ['"']
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) < 0x10000:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def qualified(group: str, resource: str) -> str:
    """`pods` or `deployments.apps`: how upstream names a resource in messages."""
    return f"{resource}.{group}" if group else resource


def _details(group: str, resource: str, name: str) -> dict[str, Any]:
    """`StatusDetails` as upstream serialises it: empty fields are omitted."""
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if resource:
        details["kind"] = resource
    return details


def not_found(group: str, resource: str, name: str) -> APIError:
    return APIError(
        404,
        "NotFound",
        f"{qualified(group, resource)} {go_quote(name)} not found",
        _details(group, resource, name),
    )


def already_exists(group: str, resource: str, name: str) -> APIError:
    return APIError(
        409,
        "AlreadyExists",
        f"{qualified(group, resource)} {go_quote(name)} already exists",
        _details(group, resource, name),
    )


def conflict(group: str, resource: str, name: str, why: str) -> APIError:
    return APIError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {qualified(group, resource)} {go_quote(name)}: {why}",
        _details(group, resource, name),
    )


OBJECT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(group: str, kind: str, name: str, causes: list[Cause]) -> APIError:
    """422 Invalid, with the message format of upstream's `NewInvalid`.

    The causes are listed as upstream's aggregate prints them: one as is, several in brackets,
    each distinct message once; with no causes the message ends at "is invalid".
    """
    parts = list(dict.fromkeys(f"{c.field}: {c.message}" if c.field else c.message for c in causes))
    target = f"{qualified(group, kind)} {go_quote(name)} is invalid"
    if not parts:
        message = target
    elif len(parts) == 1:
        message = f"{target}: {parts[0]}"
    else:
        message = f"{target}: [{', '.join(parts)}]"
    details = _details(group, kind, name)
    details["causes"] = [c.to_dict() for c in causes]
    return APIError(422, "Invalid", message, details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> APIError:
    return APIError(401, "Unauthorized", message)


def forbidden(group: str, resource: str, name: str, why: str) -> APIError:
    if not resource:
        message = f"forbidden: {why}"
    elif name:
        message = f"{qualified(group, resource)} {go_quote(name)} is forbidden: {why}"
    else:
        message = f"{qualified(group, resource)} is forbidden: {why}"
    return APIError(403, "Forbidden", message, _details(group, resource, name))


def method_not_supported(group: str, resource: str, verb: str) -> APIError:
    return APIError(
        405,
        "MethodNotAllowed",
        f"{verb} is not supported on resources of kind {go_quote(qualified(group, resource))}",
        _details(group, resource, ""),
    )


def method_not_allowed() -> APIError:
    """405 for a method the path has no route for (upstream's router, NewGenericServerResponse)."""
    return APIError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def gone(message: str) -> APIError:
    """410 Gone: a resourceVersion older than storage keeps (upstream reason Expired)."""
    return APIError(410, "Expired", message)


def too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


OBJECT_MEDIA_TYPES = ("application/json", "application/yaml")


def unsupported_media_type(
    content_type: str = "", accepted: Sequence[str] = OBJECT_MEDIA_TYPES
) -> APIError:
    """415 listing the media types `accepted`; upstream does not repeat the one sent."""
    return APIError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def not_acceptable(accept: str) -> APIError:
    return APIError(406, "NotAcceptable", f"only the following media types are accepted: {accept}")


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str, retry_after_seconds: int = 0) -> APIError:
    """504 Timeout; upstream's message starts with "Timeout: "."""
    details: dict[str, Any] = {}
    if retry_after_seconds:
        details["retryAfterSeconds"] = retry_after_seconds
    return APIError(504, "Timeout", f"Timeout: {message}", details)


def too_large_resource_version(requested: int, current: int) -> APIError:
    """504 for a resourceVersion newer than storage has; client-go retries on the cause."""
    err = timeout(f"Too large resource version: {requested}, current: {current}", 1)
    err.details["causes"] = [
        {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
    ]
    return err
