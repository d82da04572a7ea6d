"""pytest-benchmark: the API server scenarios of `bench.api_load`, at smaller sizes.

Run with `make bench` (or `pytest bench/test_api.py --benchmark-only`); the default test run
skips them (`--benchmark-skip`). One `kube server` serves the module; each scenario runs in its
own load-generator process, as in `python -m bench.api_report`. The benchmark time is one
whole scenario; `extra_info` carries the figures the report prints (ops/s, percentiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.api_load import run_scenario
from bench.api_server import RunningServer, kube_server

SMALL: dict[str, dict[str, Any]] = {
    "creates": {"count": 1000, "concurrency": 32},
    "gets": {"count": 3000, "concurrency": 32},
    "mutating": {"rate": 200, "seconds": 3},
    "watch": {"watchers": 100, "writes": 20},
    "list": {"pods": 1000, "repeats": 3},
}
KEPT = ("ops_per_s", "p50_ms", "p99_ms", "max_ms", "first_p50_ms", "server_cpu_share")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with kube_server() as running:
        yield running


@pytest.mark.parametrize("scenario", list(SMALL))
def test_api(benchmark: Any, server: RunningServer, scenario: str) -> None:
    benchmark.group = "api server"
    benchmark.name = scenario

    def once() -> dict[str, Any]:
        return run_scenario(scenario, server.kubeconfig, SMALL[scenario], server_pid=server.pid)

    figures = benchmark.pedantic(once, rounds=1, iterations=1)
    for key in KEPT:
        if figures.get(key) is not None:
            benchmark.extra_info[key] = figures[key]
    for fmt in ("json", "protobuf"):
        if fmt in figures:
            benchmark.extra_info[f"list_{fmt}_p50_ms"] = figures[fmt]["p50_ms"]
            assert figures[fmt]["content_ok"], f"LIST in {fmt} did not return the pods"
    assert not figures.get("errors"), figures["errors"]
