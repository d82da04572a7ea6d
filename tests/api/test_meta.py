"""Object metadata helpers: generated names, uids, timestamps and list shapes as upstream."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from kube.api import meta

# k8s.io/apimachinery/pkg/util/rand: no vowels, no 0, 1 or 3.
UPSTREAM_ALPHABET = set("bcdfghjklmnpqrstvwxz2456789")


def test_generate_name_appends_five_characters_of_upstreams_alphabet() -> None:
    for _ in range(200):
        name = meta.generate_name("web-")
        assert name.startswith("web-")
        assert len(name) == len("web-") + 5
        assert set(name[4:]) <= UPSTREAM_ALPHABET


def test_generate_name_truncates_the_base_to_58_characters() -> None:
    assert meta.MAX_GENERATED_NAME_LENGTH == 58
    name = meta.generate_name("b" * 80)
    assert len(name) == 63
    assert name[:58] == "b" * 58


def test_generate_name_is_random() -> None:
    assert len({meta.generate_name("x-") for _ in range(50)}) > 45


def test_now_rfc3339_is_utc_whole_seconds() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    text = meta.now_rfc3339()
    after = dt.datetime.now(dt.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert before <= meta.parse_rfc3339(text) <= after


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29T23:59:59Z", dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)),
        (
            "2024-01-01T01:00:00+01:00",
            dt.datetime(2024, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
        ),
        (
            "2024-01-01T00:00:00.123456Z",
            dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC),
        ),
    ],
)
def test_parse_rfc3339(text: str, expected: dt.datetime) -> None:
    assert meta.parse_rfc3339(text) == expected


def test_new_uid_is_a_random_uuid() -> None:
    uid = meta.new_uid()
    assert uuid.UUID(uid).version == 4
    assert str(uuid.UUID(uid)) == uid
    assert uid != meta.new_uid()


def test_metadata_returns_and_creates_the_dict() -> None:
    obj: meta.Object = {}
    m = meta.metadata(obj)
    m["name"] = "x"
    assert obj == {"metadata": {"name": "x"}}
    assert meta.metadata(obj) is m
    broken: meta.Object = {"metadata": None}
    assert meta.metadata(broken) == {}
    assert broken == {"metadata": {}}


@pytest.mark.parametrize(
    ("obj", "name", "namespace", "labels"),
    [
        (
            {"metadata": {"name": "a", "namespace": "ns", "labels": {"k": "v"}}},
            "a",
            "ns",
            {"k": "v"},
        ),
        ({}, "", "", {}),
        ({"metadata": None}, "", "", {}),
        ({"metadata": {"name": None, "labels": None}}, "", "", {}),
        ({"metadata": {"labels": ["not", "a", "map"]}}, "", "", {}),
    ],
)
def test_readers(obj: meta.Object, name: str, namespace: str, labels: dict[str, str]) -> None:
    assert meta.name_of(obj) == name
    assert meta.namespace_of(obj) == namespace
    assert meta.labels_of(obj) == labels


def test_api_version() -> None:
    assert meta.api_version("", "v1") == "v1"
    assert meta.api_version("apps", "v1") == "apps/v1"


def test_list_object() -> None:
    items = [{"metadata": {"name": "a"}}]
    assert meta.list_object("v1", "PodList", items, "42") == {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": "42"},
        "items": items,
    }


def test_list_object_keeps_set_list_metadata_only() -> None:
    listed = meta.list_object(
        "apps/v1", "DeploymentList", [], "7", **{"continue": "", "remainingItemCount": None}
    )
    assert listed["metadata"] == {"resourceVersion": "7"}
    paged = meta.list_object(
        "v1", "PodList", [], "7", **{"continue": "tok", "remainingItemCount": 0}
    )
    assert paged["metadata"] == {"resourceVersion": "7", "continue": "tok", "remainingItemCount": 0}
