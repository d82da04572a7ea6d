"""The entry points over every served kind: upstream's round-trip fixtures and random input.

The fixtures in ../shared/testdata/k8s-api are upstream's fuzzed objects (every field set
to a placeholder such as `nameValue`), so they do not validate; what is checked on them is
that defaulting and validation take any shape without raising, that defaulting is
idempotent and keeps what is set, and that validation reports causes with a field path.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kube.api.defaults import DEFAULTERS, default, prepare_create, prepare_update
from kube.api.errors import Cause
from kube.api.resources import REGISTRY
from kube.api.validation import VALIDATORS, validate
from tests.conftest import SHARED_TESTDATA

FIXTURES = SHARED_TESTDATA / "k8s-api"


def served_fixtures() -> list[tuple[str, str, str, Path]]:
    found = []
    for row in REGISTRY:
        path = FIXTURES / f"{row.group or 'core'}.{row.version}.{row.kind}.json"
        if path.exists():
            found.append((row.group, row.version, row.kind, path))
    return found


FIXTURE_CASES = served_fixtures()


def test_the_golden_fixtures_are_found() -> None:
    """The parametrised cases below would silently be none without ../shared beside the repo."""
    assert FIXTURES.is_dir(), f"golden fixtures not found at {FIXTURES}"
    assert len(FIXTURE_CASES) >= 40


def test_every_kind_with_defaults_or_validation_is_served() -> None:
    served = {(row.group, row.version, row.kind) for row in REGISTRY}
    assert set(DEFAULTERS) <= served
    assert set(VALIDATORS) <= served


@pytest.mark.skipif(not FIXTURE_CASES, reason="no upstream fixtures on this machine")
@pytest.mark.parametrize(("group", "version", "kind", "path"), FIXTURE_CASES, ids=lambda v: str(v))
def test_fixtures(group: str, version: str, kind: str, path: Path) -> None:
    original = json.loads(path.read_text())
    obj = copy.deepcopy(original)
    default(group, version, kind, obj)
    again = copy.deepcopy(obj)
    default(group, version, kind, again)
    assert again == obj  # idempotent
    assert obj["metadata"] == original["metadata"] or kind in (
        "Namespace",
        "Job",
        "ReplicationController",
    )
    created = copy.deepcopy(obj)
    prepare_create(group, version, kind, created)
    causes = validate(group, version, kind, created, None)
    assert all(isinstance(c, Cause) and c.reason.startswith(("Field", "Internal")) for c in causes)
    updated = copy.deepcopy(obj)
    prepare_update(group, version, kind, updated, copy.deepcopy(obj))
    for cause in validate(group, version, kind, updated, obj):
        assert isinstance(cause, Cause)


def test_unknown_kinds_are_left_alone() -> None:
    obj = {"metadata": {"name": "x"}, "spec": {"a": 1}}
    default("example.com", "v1", "Widget", obj)
    prepare_create("apps", "v1beta1", "Deployment", obj)
    assert obj == {"metadata": {"name": "x"}, "spec": {"a": 1}}
    assert validate("example.com", "v1", "Widget", obj) == []


# Random JSON built from the field names the defaulters and validators look at, so the
# walks reach deep into specs with every wrong type JSON can hold.
FIELDS = [
    "metadata",
    "spec",
    "status",
    "template",
    "containers",
    "initContainers",
    "volumes",
    "ports",
    "resources",
    "limits",
    "requests",
    "cpu",
    "memory",
    "selector",
    "matchLabels",
    "matchExpressions",
    "labels",
    "annotations",
    "name",
    "image",
    "env",
    "valueFrom",
    "fieldRef",
    "livenessProbe",
    "httpGet",
    "port",
    "targetPort",
    "type",
    "strategy",
    "rollingUpdate",
    "maxSurge",
    "maxUnavailable",
    "replicas",
    "data",
    "stringData",
    "jobTemplate",
    "schedule",
    "updateStrategy",
    "volumeClaimTemplates",
    "clusterIP",
    "clusterIPs",
    "secret",
    "configMap",
    "emptyDir",
    "projected",
    "sources",
    "items",
    "finalizers",
    "ownerReferences",
    "hostPath",
    "tolerations",
    "volumeMounts",
    "subsets",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.sampled_from(["", "x", "1Gi", "-1", "None", "RollingUpdate", "25%", "*/5 * * * *"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)
KINDS = sorted(set(DEFAULTERS) | set(VALIDATORS))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KINDS), st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6), JSON)
def test_random_input_never_raises(
    gvk: tuple[str, str, str], obj: dict[str, Any], old: Any
) -> None:
    group, version, kind = gvk
    prepare_create(group, version, kind, obj)
    validate(group, version, kind, obj, None)
    if isinstance(old, dict):
        prepare_update(group, version, kind, obj, old)
        validate(group, version, kind, obj, old)
