"""`/stats/summary`: the node's and each pod's CPU and memory, in upstream's Summary shape.

As upstream's CRI stats provider (pkg/kubelet/stats/cri_stats_provider.go) the container
figures come from the runtime, CRI `ListContainerStats` (running containers), grouped into pods
by the io.kubernetes.* labels of the ready sandboxes (`ListPodSandbox`); a pod's CPU and memory
are the sums of its containers'. The node's figures are its root cgroup's (cpuacct.usage,
memory.usage_in_bytes less the inactive file cache), the filesystem under the kubelet's root
dir and the process limits, which cAdvisor gives upstream. `usageNanoCores` is a rate: the
runtime's when it answers one, else computed here from the previous sample (absent, as
upstream, on the very first).

The JSON is the stats/v1alpha1 `Summary` (`node.cpu.usageNanoCores`,
`node.memory.workingSetBytes`, `pods[].podRef`, `pods[].containers[].cpu.usageCoreNanoSeconds`,
...), which metrics-server reads.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.cri.runtime.stats import CGROUP_ROOT, CgroupUsage, CpuRate, read_usage

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
NODE_KEY = "\x00node"


def rfc3339(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(message: Any, name: str) -> int | None:
    return int(getattr(message, name).value) if message.HasField(name) else None


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def cpu_stats(stats: Any, nano_cores: int | None) -> dict[str, Any] | None:
    """A CRI CpuUsage as the Summary's CPUStats (None when the runtime gave none)."""
    if not stats.HasField("cpu") or not stats.cpu.timestamp:
        return None
    cpu = stats.cpu
    return _drop_none(
        {
            "time": rfc3339(cpu.timestamp),
            "usageNanoCores": _value(cpu, "usage_nano_cores")
            if cpu.HasField("usage_nano_cores")
            else nano_cores,
            "usageCoreNanoSeconds": _value(cpu, "usage_core_nano_seconds"),
        }
    )


def memory_stats(stats: Any) -> dict[str, Any] | None:
    """A CRI MemoryUsage as the Summary's MemoryStats."""
    if not stats.HasField("memory") or not stats.memory.timestamp:
        return None
    memory = stats.memory
    return _drop_none(
        {
            "time": rfc3339(memory.timestamp),
            "availableBytes": _value(memory, "available_bytes"),
            "usageBytes": _value(memory, "usage_bytes"),
            "workingSetBytes": _value(memory, "working_set_bytes"),
            "rssBytes": _value(memory, "rss_bytes"),
            "pageFaults": _value(memory, "page_faults"),
            "majorPageFaults": _value(memory, "major_page_faults"),
        }
    )


def _sum(parts: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, Any] | None:
    """The pod's figures: each field summed over the containers that have it."""
    if not parts:
        return None
    out: dict[str, Any] = {"time": max(p["time"] for p in parts)}
    for name in fields:
        values = [p[name] for p in parts if name in p]
        if values:
            out[name] = sum(values)
    return out


def pod_summaries(
    sandboxes: list[Any], containers: list[Any], stats: list[Any], rates: CpuRate
) -> list[dict[str, Any]]:
    """`pods[]` from the CRI's ready sandboxes, containers (start times) and container stats."""
    created = {c.id: c.created_at for c in containers}
    by_pod: dict[str, list[dict[str, Any]]] = {}
    for item in stats:
        attributes = item.attributes
        uid = attributes.labels.get(POD_UID, "")
        rate = None
        if item.HasField("cpu") and item.cpu.HasField("usage_core_nano_seconds"):
            rate = rates.rate(
                attributes.id, item.cpu.timestamp, item.cpu.usage_core_nano_seconds.value
            )
        entry: dict[str, Any] = {
            "name": attributes.labels.get(CONTAINER_NAME) or attributes.metadata.name,
            "startTime": rfc3339(created.get(attributes.id, 0)),
        }
        if (cpu := cpu_stats(item, rate)) is not None:
            entry["cpu"] = cpu
        if (memory := memory_stats(item)) is not None:
            entry["memory"] = memory
        by_pod.setdefault(uid, []).append(entry)
    pods = []
    seen: set[str] = set()
    for sandbox in sorted(sandboxes, key=lambda s: s.created_at):
        if sandbox.state != pb.SANDBOX_READY:
            continue
        uid = sandbox.labels.get(POD_UID) or sandbox.metadata.uid
        if uid in seen:
            continue
        seen.add(uid)
        members = sorted(by_pod.get(uid, []), key=lambda c: str(c["name"]))
        pod: dict[str, Any] = {
            "podRef": {
                "name": sandbox.labels.get(POD_NAME) or sandbox.metadata.name,
                "namespace": sandbox.labels.get(POD_NAMESPACE) or sandbox.metadata.namespace,
                "uid": uid,
            },
            "startTime": rfc3339(sandbox.created_at),
            "containers": members,
        }
        cpu = _sum(
            [c["cpu"] for c in members if "cpu" in c], ("usageNanoCores", "usageCoreNanoSeconds")
        )
        memory = _sum(
            [c["memory"] for c in members if "memory" in c],
            ("usageBytes", "workingSetBytes", "rssBytes", "pageFaults", "majorPageFaults"),
        )
        if cpu is not None:
            pod["cpu"] = cpu
        if memory is not None:
            pod["memory"] = memory
        pods.append(pod)
    return pods


def node_summary(
    name: str,
    usage: CgroupUsage,
    nano_cores: int | None,
    memory_capacity: int,
    boot_ns: int,
    root_dir: Path,
) -> dict[str, Any]:
    """`node` from the root cgroup's counters, the root dir's filesystem and process limits."""
    stamp = rfc3339(usage.timestamp_ns)
    node: dict[str, Any] = {"nodeName": name, "startTime": rfc3339(boot_ns)}
    if usage.cpu_ns is not None:
        node["cpu"] = _drop_none(
            {"time": stamp, "usageNanoCores": nano_cores, "usageCoreNanoSeconds": usage.cpu_ns}
        )
    if usage.memory_usage is not None:
        working = usage.working_set or 0
        node["memory"] = _drop_none(
            {
                "time": stamp,
                "availableBytes": max(0, memory_capacity - working) if memory_capacity else None,
                "usageBytes": usage.memory_usage,
                "workingSetBytes": working,
                "rssBytes": usage.rss,
                "pageFaults": usage.page_faults,
                "majorPageFaults": usage.major_page_faults,
            }
        )
    try:
        fs = os.statvfs(root_dir if root_dir.exists() else "/")
    except OSError:
        fs = None
    if fs is not None:
        node["fs"] = {
            "time": stamp,
            "availableBytes": fs.f_bavail * fs.f_frsize,
            "capacityBytes": fs.f_blocks * fs.f_frsize,
            "usedBytes": (fs.f_blocks - fs.f_bfree) * fs.f_frsize,
            "inodesFree": fs.f_ffree,
            "inodes": fs.f_files,
            "inodesUsed": fs.f_files - fs.f_ffree,
        }
    node["rlimit"] = _drop_none({"time": stamp, "maxpid": _pid_max(), "curproc": _processes()})
    return node


def _pid_max() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return None


def _processes() -> int | None:
    try:
        return sum(1 for p in os.listdir("/proc") if p.isdigit())
    except OSError:
        return None


def _meminfo_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _boot_ns() -> int:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return int(line.split()[1]) * 1_000_000_000
    except (OSError, ValueError):
        pass
    return 0


class SummaryProvider:
    """Answers `/stats/summary` for one node from the CRI and the node's cgroups."""

    def __init__(
        self,
        cri: RuntimeClient,
        node_name: str,
        root_dir: Path,
        *,
        cgroup_root: Path = CGROUP_ROOT,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.cri = cri
        self.node_name = node_name
        self.root_dir = root_dir
        self.cgroup_root = cgroup_root
        self.clock = clock
        self.rates = CpuRate()

    async def summary(self) -> dict[str, Any]:
        sandboxes = (await self.cri.call("ListPodSandbox", pb.ListPodSandboxRequest())).items
        containers = (await self.cri.call("ListContainers", pb.ListContainersRequest())).containers
        stats = (await self.cri.call("ListContainerStats", pb.ListContainerStatsRequest())).stats
        now = self.clock()
        usage = read_usage("", now, self.cgroup_root)
        node_rate = self.rates.rate(NODE_KEY, now, usage.cpu_ns)
        pods = pod_summaries(list(sandboxes), list(containers), list(stats), self.rates)
        self.rates.forget({NODE_KEY} | {s.attributes.id for s in stats})
        node = node_summary(
            self.node_name, usage, node_rate, _meminfo_total(), _boot_ns(), self.root_dir
        )
        return {"node": node, "pods": pods}
