"""The protobuf codec on the golden Pod: native, reference, and orjson on the same object's JSON.

Each group holds one direction: decoding the Pod (protobuf with the native kernel and the
reference, `orjson.loads` of its compact JSON) and encoding it (likewise with `orjson.dumps`).
pytest-benchmark prints each row's ratio to the fastest in parentheses. Run with

    .venv/bin/pytest bench/test_protobuf_codec.py --benchmark-only -q

A native kernel that is not built fails here (comparing the reference with itself is useless).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from kube.native import kernel

GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "k8s-api"
POD_PB = (GOLDEN / "core.v1.Pod.pb").read_bytes()
POD = json.loads((GOLDEN / "core.v1.Pod.json").read_text())
POD_JSON = orjson.dumps(POD)

CODECS = ("protobuf-native", "protobuf-reference", "orjson")


def implementation(name: str, which: str) -> Callable[..., Any]:
    k = kernel(name)
    fn: Callable[..., Any] = k.load_native() if which == "protobuf-native" else k.reference
    return fn


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.benchmark(group="decode: golden core.v1.Pod (13.6 KB protobuf, 32 KB JSON)")
def test_decode_pod(benchmark: Any, codec: str) -> None:
    if codec == "orjson":
        assert benchmark(orjson.loads, POD_JSON) == POD
    else:
        assert benchmark(implementation("decode_object", codec), POD_PB) == POD


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.benchmark(group="encode: golden core.v1.Pod")
def test_encode_pod(benchmark: Any, codec: str) -> None:
    if codec == "orjson":
        assert benchmark(orjson.dumps, POD) == POD_JSON
    else:
        assert benchmark(implementation("encode_object", codec), POD) == POD_PB
