"""Native kernels against their pure-Python references, in one run.

Each group holds the same workload on both implementations; pytest-benchmark prints the ratio
to the fastest in parentheses. Run with

    .venv/bin/pytest bench/test_native_kernels.py --benchmark-only -q

A native kernel that is not built fails here (comparing the reference with itself is useless).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from kube.native import kernel

IMPLEMENTATIONS = ("native", "reference")


def implementation(name: str, which: str) -> Callable[..., Any]:
    k = kernel(name)
    fn: Callable[..., Any] = k.load_native() if which == "native" else k.reference
    return fn


def pod_labels(count: int, seed: int = 1) -> list[dict[str, str]]:
    """Label sets shaped like a cluster's pods: a few apps, tiers, tracks and hashes."""
    rng = random.Random(seed)
    apps = [f"app-{i}" for i in range(40)]
    sets = []
    for i in range(count):
        labels = {
            "app": rng.choice(apps),
            "tier": rng.choice(["frontend", "backend", "cache"]),
            "pod-template-hash": f"{rng.getrandbits(40):010x}",
            "app.kubernetes.io/managed-by": "kube",
        }
        if i % 3 == 0:
            labels["track"] = rng.choice(["stable", "canary"])
        if i % 5 == 0:
            labels["release"] = str(rng.randrange(1, 50))
        sets.append(labels)
    return sets


LABEL_SETS = pod_labels(10_000)
# `app in (app-1,app-2,...,app-9),tier=frontend,track!=canary`
SELECTOR = [
    ("app", "in", frozenset(f"app-{i}" for i in range(1, 10))),
    ("tier", "=", ("frontend",)),
    ("track", "!=", ("canary",)),
]
# `release>10,app,!track`: integer parsing on every candidate
NUMERIC_SELECTOR = [("app", "exists", ()), ("release", "gt", ("10",)), ("track", "!", ())]

FIELD_SETS = [
    {
        "metadata.name": f"pod-{i}",
        "metadata.namespace": f"ns-{i % 20}",
        "spec.nodeName": "" if i % 7 == 0 else f"node-{i % 100}",
        "status.phase": "Running" if i % 4 else "Pending",
    }
    for i in range(10_000)
]
FIELD_SELECTOR = [("metadata.namespace", "=", "ns-3"), ("status.phase", "!=", "Pending")]


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
@pytest.mark.benchmark(group="match_labels: 10,000 label sets x 3 requirements (in, =, !=)")
def test_match_labels(benchmark: Any, which: str) -> None:
    match = implementation("match_labels", which)
    result = benchmark(match, SELECTOR, LABEL_SETS)
    assert result == implementation("match_labels", "reference")(SELECTOR, LABEL_SETS)
    assert 0 < len(result) < len(LABEL_SETS)


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
@pytest.mark.benchmark(group="match_labels: 10,000 label sets x 3 requirements (exists, gt, !)")
def test_match_labels_numeric(benchmark: Any, which: str) -> None:
    match = implementation("match_labels", which)
    result = benchmark(match, NUMERIC_SELECTOR, LABEL_SETS)
    assert 0 < len(result) < len(LABEL_SETS)


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
@pytest.mark.benchmark(group="match_fields: 10,000 field sets x 2 requirements")
def test_match_fields(benchmark: Any, which: str) -> None:
    match = implementation("match_fields", which)
    result = benchmark(match, FIELD_SELECTOR, FIELD_SETS)
    assert 0 < len(result) < len(FIELD_SETS)


def envelope_of(size: int) -> bytes:
    raw = random.Random(size).randbytes(size)
    encode: Callable[..., bytes] = kernel("encode_envelope").reference
    return encode("apps/v1", "Deployment", raw)


ENVELOPES = {"2 KB": envelope_of(2_000), "200 KB": envelope_of(200_000)}


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", list(ENVELOPES))
def test_decode_envelope(benchmark: Any, size: str, which: str) -> None:
    benchmark.group = f"decode_envelope: {size}"
    decode = implementation("decode_envelope", which)
    api_version, kind, *_ = benchmark(decode, ENVELOPES[size])
    assert (api_version, kind) == ("apps/v1", "Deployment")


@pytest.mark.parametrize("which", IMPLEMENTATIONS)
@pytest.mark.parametrize("size", list(ENVELOPES))
def test_encode_envelope(benchmark: Any, size: str, which: str) -> None:
    benchmark.group = f"encode_envelope: {size}"
    encode = implementation("encode_envelope", which)
    fields = implementation("decode_envelope", "reference")(ENVELOPES[size])
    assert benchmark(encode, *fields) == ENVELOPES[size]
