"""`Status` errors: code, reason, details and message text as k8s.io/apimachinery/pkg/api/errors.

Clients match on `reason` and `code`, people read `message`: both are upstream's, including
Go's `%q` quoting of names and the way an aggregate of field errors is printed.
"""

from __future__ import annotations

import pytest

from kube.api import errors
from kube.api.errors import APIError, Cause, go_quote


def test_status_body() -> None:
    err = errors.not_found("apps", "deployments", "web")
    assert err.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "web" not found',
        "reason": "NotFound",
        "details": {"name": "web", "group": "apps", "kind": "deployments"},
        "code": 404,
    }


def test_status_body_leaves_out_empty_details() -> None:
    body = errors.bad_request("nope").status()
    assert "details" not in body
    assert body["code"] == 400
    assert body["reason"] == "BadRequest"
    assert body["message"] == "nope"


def test_api_error_is_an_exception_that_prints_its_message() -> None:
    err = errors.conflict("", "pods", "p", "why")
    assert isinstance(err, Exception)
    assert str(err) == 'Operation cannot be fulfilled on pods "p": why'
    with pytest.raises(APIError):
        raise err


@pytest.mark.parametrize(
    ("err", "code", "reason", "message", "details"),
    [
        (
            errors.not_found("", "pods", "web"),
            404,
            "NotFound",
            'pods "web" not found',
            {"name": "web", "kind": "pods"},
        ),
        (
            errors.already_exists("", "configmaps", "cm"),
            409,
            "AlreadyExists",
            'configmaps "cm" already exists',
            {"name": "cm", "kind": "configmaps"},
        ),
        (
            errors.conflict("apps", "deployments", "d", errors.OBJECT_MODIFIED),
            409,
            "Conflict",
            'Operation cannot be fulfilled on deployments.apps "d": the object has been '
            "modified; please apply your changes to the latest version and try again",
            {"name": "d", "group": "apps", "kind": "deployments"},
        ),
        (
            errors.forbidden("", "secrets", "s", "no RBAC policy matched"),
            403,
            "Forbidden",
            'secrets "s" is forbidden: no RBAC policy matched',
            {"name": "s", "kind": "secrets"},
        ),
        (
            errors.forbidden("apps", "deployments", "", "no"),
            403,
            "Forbidden",
            "deployments.apps is forbidden: no",
            {"group": "apps", "kind": "deployments"},
        ),
        (errors.forbidden("", "", "", "no"), 403, "Forbidden", "forbidden: no", {}),
        (
            errors.method_not_supported("", "pods/log", "update"),
            405,
            "MethodNotAllowed",
            'update is not supported on resources of kind "pods/log"',
            {"kind": "pods/log"},
        ),
        (
            errors.method_not_supported("apps", "deployments", "deletecollection"),
            405,
            "MethodNotAllowed",
            'deletecollection is not supported on resources of kind "deployments.apps"',
            {"group": "apps", "kind": "deployments"},
        ),
        (errors.bad_request("bad"), 400, "BadRequest", "bad", {}),
        (errors.unauthorized(), 401, "Unauthorized", "Unauthorized", {}),
        (errors.gone("too old"), 410, "Expired", "too old", {}),
        (
            errors.too_large(3145728),
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728",
            {},
        ),
        (
            errors.not_acceptable("application/json, application/yaml"),
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml",
            {},
        ),
        (
            errors.internal("boom"),
            500,
            "InternalError",
            "Internal error occurred: boom",
            {},
        ),
        (errors.timeout("slow"), 504, "Timeout", "Timeout: slow", {}),
        (errors.timeout("slow", 2), 504, "Timeout", "Timeout: slow", {"retryAfterSeconds": 2}),
    ],
)
def test_constructors(
    err: APIError, code: int, reason: str, message: str, details: dict[str, object]
) -> None:
    assert (err.code, err.reason, err.message, err.details) == (code, reason, message, details)


def test_unsupported_media_type_lists_what_is_accepted() -> None:
    err = errors.unsupported_media_type("text/plain")
    assert (err.code, err.reason) == (415, "UnsupportedMediaType")
    assert err.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml"
    )
    patch = errors.unsupported_media_type(
        "text/plain", ("application/json-patch+json", "application/merge-patch+json")
    )
    assert patch.message.endswith(
        "accepted media types include: application/json-patch+json, application/merge-patch+json"
    )


def test_too_large_resource_version_carries_the_cause_client_go_checks() -> None:
    err = errors.too_large_resource_version(12, 7)
    assert err.code == 504
    assert err.reason == "Timeout"
    assert err.message == "Timeout: Too large resource version: 12, current: 7"
    assert err.details == {
        "retryAfterSeconds": 1,
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
    }


# -- Invalid ---------------------------------------------------------------------------------


def test_invalid_with_one_cause() -> None:
    cause = Cause("FieldValueRequired", "Required value", "spec.containers")
    err = errors.invalid("", "Pod", "web", [cause])
    assert (err.code, err.reason) == (422, "Invalid")
    assert err.message == 'Pod "web" is invalid: spec.containers: Required value'
    assert err.details == {
        "name": "web",
        "kind": "Pod",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": "spec.containers",
            }
        ],
    }


def test_invalid_with_several_causes_lists_them_in_brackets_once_each() -> None:
    a = Cause("FieldValueInvalid", 'Invalid value: "x": bad', "metadata.name")
    b = Cause("FieldValueRequired", "Required value", "spec.selector")
    err = errors.invalid("apps", "Deployment", "x", [a, b, a])
    assert err.message == (
        'Deployment.apps "x" is invalid: [metadata.name: Invalid value: "x": bad, '
        "spec.selector: Required value]"
    )
    assert err.details["group"] == "apps"
    assert len(err.details["causes"]) == 3  # causes keep every entry, as upstream


def test_invalid_without_causes_and_without_a_name() -> None:
    err = errors.invalid("meta.k8s.io", "DeleteOptions", "", [])
    assert err.message == 'DeleteOptions.meta.k8s.io "" is invalid'
    assert err.details == {"group": "meta.k8s.io", "kind": "DeleteOptions", "causes": []}


def test_invalid_cause_without_field_prints_its_message_alone() -> None:
    err = errors.invalid("", "Pod", "p", [Cause("FieldValueInvalid", "something is off")])
    assert err.message == 'Pod "p" is invalid: something is off'
    assert err.details["causes"] == [{"reason": "FieldValueInvalid", "message": "something is off"}]


# -- names in messages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web", '"web"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there", '"tab\\there"'),
        ("nl\n", '"nl\\n"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("é✓", '"é✓"'),  # printable runes stay as they are
        ("\u2028", '"\\u2028"'),
        ("\U000e0001", '"\\U000e0001"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_names_are_quoted_like_go() -> None:
    assert errors.not_found("", "pods", 'we"b').message == 'pods "we\\"b" not found'


def test_qualified() -> None:
    assert errors.qualified("", "pods") == "pods"
    assert errors.qualified("apps", "deployments") == "deployments.apps"


def test_cause_to_dict_leaves_out_an_empty_field() -> None:
    assert Cause("R", "m").to_dict() == {"reason": "R", "message": "m"}
    assert Cause("R", "m", "f").to_dict() == {"reason": "R", "message": "m", "field": "f"}
