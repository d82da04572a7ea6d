"""pytest-benchmark: a Deployment's pods created by the deployment + replicaset controllers.

Run with `make bench` (or `pytest bench/test_controllers.py --benchmark-only`); the default
test run skips it (`--benchmark-skip`). A small size of `python -m bench.controller_report`
(which starts its own bare `kube server` and runs the controllers in the benchmark's process);
the benchmark time is one whole run, `extra_info` carries the report's figures.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.controller_report import run

SMALL = 1000


@pytest.mark.parametrize("qps", [None, 100.0], ids=["unthrottled", "qps100"])
def test_deployment_pods(benchmark: Any, qps: float | None) -> None:
    benchmark.group = "controllers"
    benchmark.name = (
        f"deployment of {SMALL} replicas, {'unthrottled' if qps is None else f'qps {qps:g}'}"
    )

    def once() -> dict[str, Any]:
        return run(SMALL, qps, int(qps or 0) * 2)

    figures = benchmark.pedantic(once, rounds=1, iterations=1)
    benchmark.extra_info["pods_per_s"] = figures["pods_per_s"]
    benchmark.extra_info["all_created_s"] = figures["all_created_s"]
    benchmark.extra_info["informer_bytes_per_10k"] = figures["tracemalloc"]["bytes_per_10k"]
    benchmark.extra_info["cpu_share"] = figures["cpu_share"]
    assert figures["complete"], f"only {figures['created']} of {SMALL} pods created"
    if qps is not None:
        # The client's token bucket holds the rate near qps (the burst lets a little more by).
        assert figures["pods_per_s"] < qps * 1.5
