"""`/stats/summary` shaping: CRI sandboxes and container stats into upstream's Summary JSON."""

from __future__ import annotations

from pathlib import Path

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.runtime.stats import CgroupUsage, CpuRate
from kube.kubelet.stats import node_summary, pod_summaries, rfc3339

SECOND = 1_000_000_000
LABELS = {
    "io.kubernetes.pod.uid": "u1",
    "io.kubernetes.pod.name": "web",
    "io.kubernetes.pod.namespace": "default",
}


def _stats(container_id: str, name: str, cpu_ns: int, at: int, working: int) -> pb.ContainerStats:
    stats = pb.ContainerStats(
        attributes=pb.ContainerAttributes(
            id=container_id,
            metadata=pb.ContainerMetadata(name=name),
            labels={**LABELS, "io.kubernetes.container.name": name},
        )
    )
    stats.cpu.timestamp = at
    stats.cpu.usage_core_nano_seconds.value = cpu_ns
    stats.memory.timestamp = at
    stats.memory.usage_bytes.value = working + 100
    stats.memory.working_set_bytes.value = working
    return stats


def test_pods_group_containers_and_sum() -> None:
    sandboxes = [
        pb.PodSandbox(
            id="s1",
            metadata=pb.PodSandboxMetadata(name="web", uid="u1", namespace="default"),
            state=pb.SANDBOX_READY,
            created_at=10 * SECOND,
            labels=LABELS,
        ),
        pb.PodSandbox(id="s0", state=pb.SANDBOX_NOTREADY, labels={"io.kubernetes.pod.uid": "old"}),
    ]
    containers = [pb.Container(id="c1", created_at=11 * SECOND)]
    rates = CpuRate()
    first = pod_summaries(
        sandboxes,
        containers,
        [_stats("c1", "app", 0, 20 * SECOND, 1000), _stats("c2", "side", 0, 20 * SECOND, 50)],
        rates,
    )
    assert len(first) == 1
    pod = first[0]
    assert pod["podRef"] == {"name": "web", "namespace": "default", "uid": "u1"}
    assert pod["startTime"] == rfc3339(10 * SECOND)
    assert [c["name"] for c in pod["containers"]] == ["app", "side"]
    assert pod["containers"][0]["startTime"] == rfc3339(11 * SECOND)
    assert "usageNanoCores" not in pod["containers"][0]["cpu"]  # one sample: no rate yet
    assert pod["memory"]["workingSetBytes"] == 1050
    assert pod["memory"]["usageBytes"] == 1250
    second = pod_summaries(
        sandboxes,
        containers,
        [
            _stats("c1", "app", SECOND // 4, 21 * SECOND, 1000),
            _stats("c2", "side", SECOND // 4, 21 * SECOND, 50),
        ],
        rates,
    )[0]
    assert second["containers"][0]["cpu"] == {
        "time": rfc3339(21 * SECOND),
        "usageNanoCores": 250_000_000,
        "usageCoreNanoSeconds": 250_000_000,
    }
    assert second["cpu"]["usageNanoCores"] == 500_000_000
    assert second["cpu"]["usageCoreNanoSeconds"] == 500_000_000


def test_node_summary(tmp_path: Path) -> None:
    usage = CgroupUsage(
        timestamp_ns=5 * SECOND, cpu_ns=7, memory_usage=3000, working_set=2000, rss=1500
    )
    node = node_summary("n1", usage, 12, 10_000, SECOND, tmp_path)
    assert node["nodeName"] == "n1"
    assert node["startTime"] == rfc3339(SECOND)
    assert node["cpu"] == {
        "time": rfc3339(5 * SECOND),
        "usageNanoCores": 12,
        "usageCoreNanoSeconds": 7,
    }
    assert node["memory"]["availableBytes"] == 8000
    assert node["memory"]["workingSetBytes"] == 2000
    assert node["fs"]["capacityBytes"] > 0
    assert node["rlimit"]["maxpid"] > 0
