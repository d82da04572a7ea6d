"""Bodies that are not of the URL's kind, refused in upstream's transformDecodeError words."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api import errors
from kube.apiserver.decodeerrors import check_kind, summarize, unrecognized


def test_summaries_are_text_for_json_and_hex_otherwise() -> None:
    assert summarize(b"") == "<empty>"
    assert summarize(b'{"a":1}') == '{"a":1}'
    assert summarize(b"{" + b"x" * 40) == "{" + "x" * 29 + " ..."
    assert summarize(b"\x01\x02") == "0102"
    assert summarize(b"k" * 31) == "6b" * 30 + " ..."


def test_unrecognized() -> None:
    err = unrecognized("ConfigMap", "unexpected EOF", b"\x01")
    assert (err.code, err.message) == (
        400,
        "the object provided is unrecognized (must be of type ConfigMap): unexpected EOF (01)",
    )


def refused(obj: dict[str, Any], group: str = "", kind: str = "ConfigMap") -> str:
    with pytest.raises(errors.APIError) as info:
        check_kind(obj, group, "v1", kind)
    assert info.value.code == 400
    return info.value.message


def test_a_body_without_kind_takes_the_urls() -> None:
    obj: dict[str, Any] = {"metadata": {"name": "x"}}
    check_kind(obj, "", "v1", "ConfigMap")
    assert (obj["apiVersion"], obj["kind"]) == ("v1", "ConfigMap")


def test_a_kind_that_does_not_convert() -> None:
    assert refused({"apiVersion": "v1", "kind": "Secret"}) == (
        'Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to '
        "(core.ConfigMap): unknown conversion"
    )
    assert refused({"apiVersion": "apps/v1", "kind": "Deployment"}, "batch", "Job") == (
        'Deployment in version "v1" cannot be handled as a Job: converting (v1.Deployment) to '
        "(batch.Job): unknown conversion"
    )


def test_a_kind_the_scheme_does_not_have() -> None:
    assert refused({"kind": "pod"}, kind="Pod") == (
        'pod in version "v1" cannot be handled as a Pod: no kind "pod" is registered for '
        'version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30"'
    )


def test_the_same_kind_in_another_version_of_its_group() -> None:
    message = refused({"apiVersion": "events.k8s.io/v1", "kind": "Event"}, kind="Event")
    assert message == (
        "the API version in the data (events.k8s.io/v1) does not match the expected API "
        "version (v1)"
    )
