"""Create-only "review" resources: the server answers a question instead of storing an object.

- `authorization.k8s.io/v1` SelfSubjectAccessReview (`kubectl auth can-i`) and
  SubjectAccessReview: ask the authorizer whether the user may do the verb.
- `authorization.k8s.io/v1` SelfSubjectRulesReview (`kubectl auth can-i --list`): what the
  user may do in a namespace, from the authorizer's `rules_for` when it has one; an
  authorizer without it allows everything, which upstream's AlwaysAllow answers as `*`.
- `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`): who the server
  thinks the caller is. TokenReview: whether a bearer token authenticates, and as whom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kube.api import errors
from kube.api.meta import Object
from kube.apiserver.requestinfo import RequestInfo
from kube.auth.authn import UserInfo


class Authorizer(Protocol):
    def allowed(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]: ...


# What `rules_for(user, namespace)` returns: resource rules, non-resource rules, incomplete.
Rules = tuple[list[dict[str, Any]], list[dict[str, Any]], bool]

# upstream's alwaysAllowAuthorizer.RulesFor: every verb on everything.
ALLOW_ALL_RULES: Rules = (
    [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    False,
)


def _rules_review(body: Object, user: UserInfo, authorizer: Authorizer) -> Object:
    """SelfSubjectRulesReview: the rules the caller holds in `spec.namespace`."""
    spec = body.get("spec")
    namespace = spec.get("namespace") if isinstance(spec, dict) else None
    if not namespace:
        raise errors.bad_request("no namespace on request")
    rules_for: Callable[[UserInfo, str], Rules] | None = getattr(authorizer, "rules_for", None)
    resource, non_resource, incomplete = (
        rules_for(user, str(namespace)) if rules_for is not None else ALLOW_ALL_RULES
    )
    status = {
        "resourceRules": resource,
        "nonResourceRules": non_resource,
        "incomplete": incomplete,
    }
    return {**body, "metadata": body.get("metadata") or {}, "status": status}


def _user_dict(user: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


def _access_info(spec: dict[str, Any]) -> RequestInfo:
    attrs = spec.get("resourceAttributes")
    if attrs:
        return RequestInfo(
            True,
            "",
            str(attrs.get("verb", "")),
            str(attrs.get("group", "")),
            str(attrs.get("version", "")),
            str(attrs.get("namespace", "")),
            str(attrs.get("resource", "")),
            str(attrs.get("name", "")),
            str(attrs.get("subresource", "")),
        )
    other = spec.get("nonResourceAttributes") or {}
    return RequestInfo(False, str(other.get("path", "")), str(other.get("verb", "")))


def _access_review(
    body: Object, user: UserInfo, authorizer: Authorizer, *, self_review: bool
) -> Object:
    spec = body.get("spec")
    if not isinstance(spec, dict) or not (
        spec.get("resourceAttributes") or spec.get("nonResourceAttributes")
    ):
        raise errors.invalid(
            "authorization.k8s.io",
            body.get("kind", "SubjectAccessReview"),
            "",
            [
                errors.Cause(
                    "FieldValueRequired",
                    "Required value: exactly one of nonResourceAttributes or resourceAttributes "
                    "must be specified",
                    "spec.resourceAttributes",
                )
            ],
        )
    subject = user
    if not self_review:
        subject = UserInfo(
            name=str(spec.get("user", "")),
            uid=str(spec.get("uid", "")),
            groups=tuple(spec.get("groups") or ()),
        )
    allowed, reason = authorizer.allowed(subject, _access_info(spec))
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    if not allowed:
        status["denied"] = False
    return {**body, "metadata": body.get("metadata") or {}, "status": status}


def review(
    info: RequestInfo,
    body: Object,
    user: UserInfo,
    authorizer: Authorizer,
    authenticate_token: Callable[[str], UserInfo | None],
) -> Object:
    """The answered review for a POST to a review resource."""
    key = (info.group, info.resource)
    if key == ("authorization.k8s.io", "selfsubjectaccessreviews"):
        return _access_review(body, user, authorizer, self_review=True)
    if key == ("authorization.k8s.io", "subjectaccessreviews"):
        return _access_review(body, user, authorizer, self_review=False)
    if key == ("authorization.k8s.io", "selfsubjectrulesreviews"):
        return _rules_review(body, user, authorizer)
    if key == ("authentication.k8s.io", "selfsubjectreviews"):
        return {**body, "metadata": {}, "status": {"userInfo": _user_dict(user)}}
    if key == ("authentication.k8s.io", "tokenreviews"):
        token = str((body.get("spec") or {}).get("token", ""))
        found = authenticate_token(token) if token else None
        status: dict[str, Any] = {"authenticated": found is not None}
        if found is not None:
            status["user"] = _user_dict(found)
        return {**body, "metadata": {}, "status": status}
    raise errors.method_not_supported(info.group, info.resource, info.verb)
