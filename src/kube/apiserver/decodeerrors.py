"""Why a request body is not an object of the URL's kind, in upstream's words.

kube-apiserver decodes a create or update body into the Go type of the URL's kind, and a
failure is a 400 worded by `transformDecodeError` (apiserver/pkg/endpoints/handlers/rest.go):

- when the decoder could not even read the body's kind (a JSON or YAML syntax error, a body
  that is not an object, bad protobuf), `the object provided is unrecognized (must be of type
  ConfigMap): <error> (<the first 30 bytes>)`, the bytes as text when the body starts with `{`
  and in hex otherwise (`summarizeData`);
- when it read a kind (the body's, defaulted from the URL), `Secret in version "v1" cannot be
  handled as a ConfigMap: <error>`: a kind the scheme does not have for that version, a kind
  that does not convert into the URL's, or a value of the wrong JSON type
  (`kube.api.typecheck`).

A body of the URL's kind in another version of the same group decodes, and is then refused as
`the API version in the data (...) does not match the expected API version (...)`.
"""

from __future__ import annotations

from kube.api import errors
from kube.api.meta import Object, api_version
from kube.api.resources import REGISTRY

SUMMARY_BYTES = 30
# The scheme kube-apiserver decodes built-in kinds with, as its errors name it.
LEGACY_SCHEME = "pkg/api/legacyscheme/scheme.go:30"


def summarize(body: bytes, limit: int = SUMMARY_BYTES) -> str:
    """upstream's summarizeData: the body's start, as text when it is JSON, else in hex."""
    if not body:
        return "<empty>"
    head = body[:limit]
    text = head.decode("utf-8", "replace") if body.startswith(b"{") else head.hex()
    return text + " ..." if len(body) > limit else text


def unrecognized(kind: str, why: str, body: bytes) -> errors.APIError:
    """The 400 for a body whose kind could not be read."""
    return errors.bad_request(
        f"the object provided is unrecognized (must be of type {kind}): {why} ({summarize(body)})"
    )


def cannot_handle(got_kind: str, got_version: str, kind: str, why: str) -> errors.APIError:
    """The 400 for a body of kind `got_kind` (version `got_version`) that did not decode."""
    version = got_version.rsplit("/", 1)[-1]
    return errors.bad_request(
        f"{got_kind} in version {errors.go_quote(version)} cannot be handled as a {kind}: {why}"
    )


def _internal_package(group: str, kind: str) -> str:
    """The Go package of a kind's internal type (`core` for the core group, events too)."""
    if not group or (group == "events.k8s.io" and kind == "Event"):
        return "core"
    return group.split(".", 1)[0]


def check_kind(obj: Object, group: str, version: str, kind: str) -> None:
    """400 unless `obj` (with apiVersion and kind defaulted from the URL) is of the URL's kind.

    Fills in the URL's apiVersion and kind where the body leaves them out.
    """
    want_version = api_version(group, version)
    got_version = str(obj.get("apiVersion") or want_version)
    got_kind = str(obj.get("kind") or kind)
    if (got_version, got_kind) != (want_version, kind):
        got_group, _, got_v = got_version.rpartition("/")
        row = REGISTRY.for_kind(got_group, got_v, got_kind)
        if row is None:
            why = (
                f"no kind {errors.go_quote(got_kind)} is registered for version "
                f"{errors.go_quote(got_version)} in scheme {errors.go_quote(LEGACY_SCHEME)}"
            )
            raise cannot_handle(got_kind, got_version, kind, why)
        source = _internal_package(got_group, got_kind)
        target = _internal_package(group, kind)
        if (source, got_kind) != (target, kind):
            why = f"converting ({got_v}.{got_kind}) to ({target}.{kind}): unknown conversion"
            raise cannot_handle(got_kind, got_version, kind, why)
        raise errors.bad_request(
            f"the API version in the data ({got_version}) does not match the expected API "
            f"version ({want_version})"
        )
    obj["apiVersion"], obj["kind"] = want_version, kind
