"""`python -m bench.pod_startup` at 5 pods, run as a user runs it (real runc, its own bridge).

The harness starts its own `kube server`, `kube runtime` and `kube kubelet`, creates a
Deployment and prints one JSON object; this checks every pod got Running and that the figures
a reader of the README relies on are there. Latencies at this size are not asserted (the
machine is shared); the figures at 100 pods are in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.pod_startup import check_machine

REPO = Path(__file__).resolve().parents[2]
SUMMARY = ("p50_ms", "p90_ms", "p99_ms", "max_ms")

pytestmark = pytest.mark.slow


def test_five_pods_all_running_with_figures() -> None:
    problem = check_machine()
    if problem:
        pytest.skip(problem)
    done = subprocess.run(
        [sys.executable, "-m", "bench.pod_startup", "--pods", "5", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["pods"] == 5
    assert result["pods_running"] == 5
    assert set(result["startup_latency"]) == set(SUMMARY)
    assert 0 < result["startup_latency"]["p50_ms"] <= result["startup_latency"]["max_ms"]
    assert set(result["phases"]) == {
        "created_to_scheduled",
        "scheduled_to_sandbox_ready",
        "sandbox_ready_to_running",
        # the runtime's side, from the CRI's timestamps
        "scheduled_to_sandbox_requested",
        "sandbox_requested_to_container_requested",
        "container_requested_to_container_started",
        "container_started_to_running",
    }
    for summary in result["phases"].values():
        assert set(summary) == set(SUMMARY)
    assert result["total_seconds"] > 0
    assert set(result["cpu_seconds"]) == {"server", "runtime", "kubelet"}
    # With everything each started (cpuacct cgroups), where the machine has them.
    assert set(result["cpu_seconds_tree"]) in ({"server", "runtime", "kubelet"}, set())
    assert len(result["load_average"]) == 3
    # ADDED, the binding, then one status write that shows the pod Running.
    assert result["events_per_pod"] >= 3
    assert result["common_event_sequence"].startswith("Pending [] [] ip=")
    assert result["common_event_sequence"].split(" | ")[-1].startswith("Running ")
    assert result["requests_per_pod"]["POST serviceaccounts/token"] == 1
    assert result["requests_per_pod"]["PATCH pods/status"] >= 1
