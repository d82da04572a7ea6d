"""Drop-in scheduler plugins of each kind change placement, in a real `kube scheduler`.

The plugins of examples/ (a Python GpuModel Filter, a Cython PackByLabel Score, a Rust
MostPods Score) are installed into the venv (`make test`) and found through the entry point
group `kube.scheduler.plugins`. A separate `kube scheduler` process runs against the session's
`kube server` with a KubeSchedulerConfiguration file of four profiles: `e2e-plain` (the
defaults) and one per plugin with it enabled. Each case applies the same pod to two identical
groups of node objects, once for the plain profile and once for the plugin's, with the real
kubectl, and the bindings differ. The server's own scheduler leaves these pods alone (another
schedulerName); the nodes carry the taint the scheduler e2e tests use, so nobody else's pods
land on them.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import BIN, Cluster
from tests.e2e.test_scheduler import TOLERATIONS, add_node, eventually

pytest.importorskip("kube_example_gpu", reason="make test installs examples/ (.stamps/examples)")
pytest.importorskip("kube_example_pack", reason="make test installs examples/ (.stamps/examples)")
pytest.importorskip("kube_example_rust", reason="make test installs examples/ (.stamps/examples)")

NS = "e2e-sched-plugins"
GPU = "example.kube.io/gpu-model"
PACK = "example.kube.io/pack"

CONFIG = """\
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection:
  leaderElect: false
profiles:
- schedulerName: e2e-plain
- schedulerName: e2e-gpu
  plugins:
    filter:
      enabled: [{name: GpuModel}]
- schedulerName: e2e-pack
  plugins:
    score:
      enabled: [{name: PackByLabel, weight: 10}]
- schedulerName: e2e-most
  plugins:
    score:
      enabled: [{name: MostPods, weight: 10}]
"""


@pytest.fixture(scope="module")
def k(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster.kubectl("create", "namespace", NS)
    config = tmp_path_factory.mktemp("sched-plugins") / "sched.yaml"
    config.write_text(CONFIG)
    log_path = config.parent / "scheduler.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                str(BIN / "kube"),
                "scheduler",
                "--kubeconfig",
                str(cluster.kubeconfig),
                "--config",
                str(config),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield cluster
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            nodes = cluster.kubectl(
                "get", "nodes", "-l", "e2e-sched-group", "-o", "name"
            ).stdout.split()
            mine = [n for n in nodes if n.startswith("node/sp-")]
            if mine:
                cluster.kubectl("delete", "--wait=false", *mine)
    assert proc.returncode == 0, Path(log_path).read_text()[-3000:]


def add_pod(
    k: Cluster,
    name: str,
    group: str,
    scheduler: str,
    *,
    cpu: str = "100m",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    node_name: str = "",
) -> None:
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}],
        "tolerations": TOLERATIONS,
        "nodeSelector": {"e2e-sched-group": group},
    }
    if node_name:
        spec["nodeName"] = node_name
    meta = {"name": name, "namespace": NS, "labels": labels or {}, "annotations": annotations or {}}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    k.kubectl("apply", "-f", "-", input=yaml.safe_dump(body))


def node_of(k: Cluster, pod: str) -> str:
    out = k.kubectl("get", "pod", pod, "-n", NS, "-o", "jsonpath={.spec.nodeName}", check=False)
    return out.stdout.strip()


def bound(k: Cluster, pod: str) -> str:
    return eventually(lambda: node_of(k, pod), what=f"pod {pod} to be bound")


def twin_groups(k: Cluster, case: str, nodes: list[tuple[str, str, dict[str, str]]]) -> None:
    """The same nodes twice: group <case>-plain and group <case>-plug (names sp-<group>-x)."""
    for variant in ("plain", "plug"):
        group = f"{case}-{variant}"
        for name, cpu, labels in nodes:
            add_node(k, f"sp-{group}-{name}", group, cpu=cpu, labels=labels)


def test_python_gpu_model_filter_changes_placement(k: Cluster) -> None:
    twin_groups(k, "gpu", [("big", "8", {}), ("a100", "2", {GPU: "a100"})])
    ask = {GPU: "a100"}
    add_pod(k, "gpu-plain", "gpu-plain", "e2e-plain", cpu="1", annotations=ask)
    add_pod(k, "gpu-plug", "gpu-plug", "e2e-gpu", cpu="1", annotations=ask)
    assert bound(k, "gpu-plain") == "sp-gpu-plain-big"  # the emptiest node
    assert bound(k, "gpu-plug") == "sp-gpu-plug-a100"  # the only node with the model


def test_cython_pack_by_label_scorer_changes_placement(k: Cluster) -> None:
    twin_groups(k, "pack", [("big", "8", {}), ("blue", "2", {PACK: "blue"})])
    add_pod(k, "pack-plain", "pack-plain", "e2e-plain", labels={PACK: "blue"})
    add_pod(k, "pack-plug", "pack-plug", "e2e-pack", labels={PACK: "blue"})
    assert bound(k, "pack-plain") == "sp-pack-plain-big"
    assert bound(k, "pack-plug") == "sp-pack-plug-blue"


def test_rust_most_pods_scorer_changes_placement(k: Cluster) -> None:
    twin_groups(k, "most", [("empty", "4", {}), ("busy", "4", {})])
    for variant in ("plain", "plug"):
        for i in range(3):  # already bound: counted by the scheduler's cache
            add_pod(
                k,
                f"most-{variant}-run{i}",
                f"most-{variant}",
                "e2e-plain",
                node_name=f"sp-most-{variant}-busy",
            )
    add_pod(k, "most-plain", "most-plain", "e2e-plain")
    add_pod(k, "most-plug", "most-plug", "e2e-most")
    assert bound(k, "most-plain") == "sp-most-plain-empty"
    assert bound(k, "most-plug") == "sp-most-plug-busy"


def test_a_pod_no_node_has_the_model_for_gets_failed_scheduling(k: Cluster) -> None:
    twin_groups(k, "nogpu", [("t4", "2", {GPU: "t4"})])
    add_pod(k, "wants-h100", "nogpu-plug", "e2e-gpu", annotations={GPU: "h100"})

    def failed() -> list[dict[str, Any]]:
        out = k.kubectl(
            "get",
            "events",
            "-n",
            NS,
            "--field-selector=involvedObject.name=wants-h100,reason=FailedScheduling",
            "-o",
            "json",
        ).stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    events = eventually(failed, what="a FailedScheduling event")
    message = events[0]["message"]
    assert message.startswith("0/")
    assert "node(s) didn't have the requested GPU model" in message
    assert events[0]["reportingComponent"] == "e2e-gpu"  # the profile that reported it
    assert node_of(k, "wants-h100") == ""
