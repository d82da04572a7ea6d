"""`kube bench scheduler`: every workload at a tiny size, run as a user runs it.

Each test starts `kube bench scheduler --workload NAME ... --output json` as a subprocess (it
starts its own `kube server` and runs the scheduler in-process) and reads the one JSON object
it prints: every measured pod bound, the figures present, and what the workload is about
actually happening (victims preempted, unschedulable pods left pending). Throughput at these
sizes means nothing and is not asserted; the figures at upstream's sizes are in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

KUBE = Path(sys.executable).parent / "kube"
RUN_TIMEOUT_S = 60

FIELDS = (
    "workload",
    "nodes",
    "measured_pods",
    "throughput_avg",
    "throughput_samples",
    "latency_p50_ms",
    "latency_p99_ms",
    "phase_seconds",
    "kernel_native_us",
    "kernel_reference_us",
)


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBE), "bench", "scheduler", *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def run_json(workload: str, nodes: int, init_pods: int, pods: int) -> dict[str, Any]:
    done = bench(
        "--workload",
        workload,
        "--nodes",
        str(nodes),
        "--init-pods",
        str(init_pods),
        "--pods",
        str(pods),
        "--output",
        "json",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    result: dict[str, Any] = json.loads(lines[0])
    for name in FIELDS:
        assert name in result, name
    assert result["workload"] == workload
    assert result["nodes"] == nodes
    assert result["measured_pods"] == pods
    assert result["bound_pods"] == pods
    assert result["all_bound"] is True
    assert result["throughput_avg"] > 0
    assert 0 < result["latency_p50_ms"] <= result["latency_p99_ms"]
    assert set(result["phase_seconds"]) == {"queue", "filter", "score", "bind"}
    assert result["phase_seconds"]["bind"] > 0
    assert result["kernel_native_us"] > 0
    assert result["kernel_reference_us"] > 0
    assert result["kernel_agree"] is True
    # The scheduler's process, the API server and the load generator (its own process).
    assert set(result["cpu_seconds"]) == {"harness", "server", "loadgen"}
    assert result["cpu_seconds"]["harness"] > 0
    assert result["gc_seconds"] >= 0
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    "workload",
    ["SchedulingBasic", "TopologySpreading", "SchedulingPodAntiAffinity", "SchedulingNodeAffinity"],
)
def test_workload_binds_every_measured_pod(workload: str) -> None:
    result = run_json(workload, nodes=20, init_pods=5, pods=10)
    assert result["churn_created"] == 0


@pytest.mark.slow
def test_preemption_async_preempts_low_priority_pods() -> None:
    # 20 nodes, each filled to 3.6 of its 4 CPUs by four 900m pods: every 3-CPU churn pod
    # must evict three of them, and then binds.
    result = run_json("PreemptionAsync", nodes=20, init_pods=80, pods=20)
    assert result["churn_created"] >= 1
    assert result["churn_bound"] == result["churn_created"]
    assert result["preempted"] >= 3 * result["churn_bound"]


@pytest.mark.slow
def test_unschedulable_pods_stay_pending_while_measured_pods_bind() -> None:
    result = run_json("Unschedulable", nodes=20, init_pods=5, pods=20)
    assert result["churn_created"] >= 1
    assert result["churn_bound"] == 0
    assert result["preempted"] == 0


def test_unknown_workload_lists_the_valid_names() -> None:
    done = bench("--workload", "SchedulingEverything", "--output", "json")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "invalid choice: 'SchedulingEverything'" in lines[0]
    for name in ("SchedulingBasic", "TopologySpreading", "PreemptionAsync", "Unschedulable"):
        assert name in lines[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nodes", "0"], "argument --nodes: must be a positive integer, not '0'"),
        (["--pods", "ten"], "argument --pods: not an integer: 'ten'"),
        (["--init-pods", "-1"], "argument --init-pods: must be 0 or more, not '-1'"),
        (["--output", "yaml"], "argument --output: invalid choice: 'yaml'"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(flags: list[str], message: str) -> None:
    done = bench("--workload", "SchedulingBasic", *flags)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert message in lines[0]


def test_workload_is_required() -> None:
    done = bench("--nodes", "5")
    assert done.returncode == 2
    assert "--workload" in done.stderr
