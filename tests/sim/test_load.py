"""`kube sim load` against a real `kube server` (controllers and scheduler) and hollow nodes.

The run's pods must really become Running (seen on the run's own watch and read back from the
API), and the SLIs it reports must come from what happened: API latency rows for the calls it
made, pod startup percentiles over every pod, the components it was told to watch sampled.
The percentile and plan arithmetic are checked on their own, without a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kube.cli.main import main as kube_main
from kube.client.rest import RESTClient
from kube.sim import profiles, slis
from kube.sim.hollow import HollowCluster, SimConfig
from kube.sim.load import LoadConfig, LoadRun, summary_table

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def full_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """(admin kubeconfig, pid) of a `kube server` with its controllers and scheduler."""
    data_dir = tmp_path_factory.mktemp("load")
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",
            "--data-dir",
            str(data_dir),
            "--secure-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + (data_dir / "server.log").read_text()[-2000:])
            if "kube server is up" in line:
                break
        yield data_dir / "admin.kubeconfig", proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        log.close()


@contextlib.asynccontextmanager
async def hollow(kubeconfig: Path, nodes: int) -> AsyncIterator[HollowCluster]:
    config = SimConfig(
        nodes=nodes,
        prefix=f"load-{uuid.uuid4().hex[:6]}-",
        run_delay=0.1,
        delete_delay=0.1,
        lease_interval=2.0,
    )
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None, protobuf=True) as client:
        sim = HollowCluster(client, config)
        task = asyncio.create_task(sim.run())
        try:
            await asyncio.wait_for(sim.all_ready.wait(), 30)
            yield sim
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.mark.slow  # about 10 s: Deployments created, scaled, deleted, and their pods gone
async def test_load_profile_runs_pods_and_reports_slis(full_cluster: tuple[Path, int]) -> None:
    kubeconfig, server_pid = full_cluster
    config = LoadConfig(profile="load", pods=12, namespaces=2, pods_per_second=50, wait_timeout=30)
    async with (
        hollow(kubeconfig, 5),
        RESTClient.from_kubeconfig(kubeconfig, qps=None) as client,
    ):
        components = {"kube server": server_pid, "kube sim load": os.getpid()}
        result = await LoadRun(client, config, components).run()

        # Everything the run made is gone again (it deletes at the end).
        deployments = await client.list(
            profiles_resource(), label_selector=f"sim.kube.io/load={config.run_id}"
        )
        assert deployments["items"] == []

    assert result["kind"] == "SimLoadResult"
    assert result["nodes_ready"] >= 5
    assert result["deployments"] == {"small": 3}  # 12 pods: two of 5 and one of 2
    assert result["pods_target"] == 12
    assert result["pods_running"] >= 12
    # A pod the scale phase removes may go before it runs; every pod is scheduled first.
    assert result["pods_created"] >= result["pods_running"]
    assert result["pods_scheduled"] >= result["pods_running"]
    assert result["errors"] == {}, result["phases"]
    assert not result["stopped_early"]
    assert [p["name"] for p in result["phases"]] == [
        "namespaces",
        "create",
        "wait-running",
        "scale",
        "wait-running",
        "delete",
        "wait-deleted",
        "namespaces-delete",
    ]

    startup = result["pod_startup_ms"]
    assert startup["count"] == result["pods_running"], result["phases"]
    assert 0 <= startup["p50"] <= startup["p90"] <= startup["p99"] < 30_000
    assert result["slo"]["pod_startup_ok"] == (startup["p99"] <= 5000)

    calls = {(r["verb"], r["resource"], r["subresource"]) for r in result["api_latency"]}
    assert ("POST", "deployments", "") in calls  # ours
    assert ("POST", "services", "") in calls  # ours
    assert ("PATCH", "deployments", "") in calls  # the scale phase
    assert ("POST", "pods", "") in calls  # the ReplicaSet controller's
    assert ("POST", "bindings", "") in calls or ("POST", "pods", "binding") in calls
    for row in result["api_latency"]:
        assert row["count"] > 0
        assert 0 <= row["p50_ms"] <= row["p99_ms"]
    assert result["api_mutating_p99_ms"] is not None

    assert result["scheduling"]["pods"] == result["pods_scheduled"]
    assert set(result["components"]) == {"kube server", "kube sim load"}
    server = result["components"]["kube server"]
    assert server["samples"]
    assert server["rss_max_mb"] > 10
    assert result["timeline"][-1]["running"] == result["pods_running"]
    assert result["nodes_not_ready_transitions"] == 0
    assert summary_table(result).row_count > 8


def profiles_resource():  # type: ignore[no-untyped-def]
    from kube.sim.load import DEPLOYMENTS

    return DEPLOYMENTS


def test_load_plan_follows_clusterloader2_ratios() -> None:
    namespaces = [f"ns-{i}" for i in range(4)]
    groups = profiles.plan("load", 3000, namespaces)
    pods = {
        size: sum(g.replicas for g in groups if g.size == size)
        for size in {"big", "medium", "small"}
    }
    assert sum(pods.values()) == 3000
    assert pods["big"] == 750  # a quarter in Deployments of 250
    assert {g.replicas for g in groups if g.size == "medium"} == {30}
    assert {g.replicas for g in groups if g.size == "small"} == {5}
    assert {g.namespace for g in groups} == set(namespaces)
    density = profiles.plan("density", 100, namespaces[:2])
    assert [g.replicas for g in density] == [50, 50]
    rescaled = profiles.scaled(groups, seed=1)
    assert all(
        0.5 * g.replicas - 1 <= r.replicas <= 1.5 * g.replicas + 1
        for g, r in zip(groups, rescaled, strict=True)
    )
    with pytest.raises(ValueError, match="unknown profile"):
        profiles.plan("soak", 10, namespaces)


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    text = "\n".join(
        [
            "# TYPE apiserver_request_duration_seconds histogram",
            *(
                f'apiserver_request_duration_seconds_bucket{{verb="POST",resource="pods",'
                f'subresource="",scope="resource",component="apiserver",le="{le}"}} {n}'
                for le, n in (("0.05", 50), ("0.1", 90), ("1.0", 100), ("+Inf", 100))
            ),
            "",
        ]
    )
    after = slis.parse_histograms(text)
    key = ("POST", "pods", "", "resource")
    assert slis.histogram_quantile(0.5, after[key]) == pytest.approx(0.05)
    assert slis.histogram_quantile(0.99, after[key]) == pytest.approx(0.91)
    assert math.isnan(slis.histogram_quantile(0.5, {}))
    assert slis.delta(after, after) == {}
    rows = slis.api_latency(slis.delta(after, {}))
    assert rows[0]["p99_ms"] == pytest.approx(910.0)
    assert slis.worst_mutating_p99(rows) == pytest.approx(910.0)
    # A namespace's DELETECOLLECTION is not a single-object call: not under the 1 s SLO.
    collection = {**rows[0], "verb": "DELETECOLLECTION", "scope": "namespace", "p99_ms": 9000.0}
    assert slis.worst_mutating_p99([*rows, collection]) == pytest.approx(910.0)
    assert slis.percentiles([5.0, 1.0, 3.0, 2.0, 4.0], (0.5, 0.99)) == {"p50": 3.0, "p99": 5.0}


def test_bad_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        kube_main(["sim", "load", "--pods-per-second", "0"])
    assert exit_info.value.code == 2
    assert "must be above 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        kube_main(["sim", "load", "--profile", "soak"])


def test_a_cluster_without_nodes_is_one_line_and_exit_1(
    full_cluster: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    # The module's other test may have left its (now heartbeat-less) nodes Ready; a fresh
    # kubeconfig that does not exist is the simplest cluster with no nodes at all.
    missing = full_cluster[0].parent / "nope.kubeconfig"
    assert kube_main(["sim", "load", "--kubeconfig", str(missing), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("kube sim load: ")


async def test_components_are_those_of_the_cluster_on_the_kubeconfigs_port(
    full_cluster: tuple[Path, int],
) -> None:
    """`kube sim load --kubeconfig` samples the cluster it drives: its server (found by the
    port it listens on), the controller-manager and scheduler the server started, and the
    processes connected to it, not another cluster's processes on the same machine."""
    from urllib.parse import urlsplit

    from kube.auth.kubeconfig import load_kubeconfig

    kubeconfig, server_pid = full_cluster
    port = urlsplit(load_kubeconfig(kubeconfig).server).port
    assert port is not None
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as client:
        await client.list(profiles_resource())  # this process now holds a connection
        pids = slis.cluster_pids(port)
        assert server_pid in pids
        assert os.getpid() in pids
        components = slis.find_components(port=port)
    assert components["kube server"] == server_pid
    assert {"kube controller-manager", "kube scheduler"} <= set(components)


def test_a_listener_on_another_port_is_another_cluster() -> None:
    """`cluster_pids` of a port takes the process listening on it, not this machine's others."""
    listen = (
        "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
        "print(s.getsockname()[1], flush=True); time.sleep(60)"
    )
    other = subprocess.Popen([sys.executable, "-c", listen], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        other_port = int(other.stdout.readline())
        assert slis.cluster_pids(other_port) == {other.pid}
    finally:
        other.kill()
        other.communicate()
