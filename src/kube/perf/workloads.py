"""upstream scheduler_perf's workloads, as data: node and pod shapes, sizes, churn.

Each row mirrors one test case of kubernetes/test/integration/scheduler_perf (the
`performance-config.yaml` of misc/, affinity/ and topology_spreading/ and the templates they
name): the nodes are node-default.yaml (4 CPUs, 32 Gi, 110 pods, Ready), some labelled with a
zone by `labelNodePrepareStrategy`; the initial pods are created and scheduled first; the
measured pods are created while the number bound is sampled; a churn pod (PreemptionAsync,
Unschedulable) is created every 200 ms from the start of the measured phase to its end. The
default sizes are upstream's 5000-node performance cases (the ones its CI gates with a
threshold); `kube bench scheduler --nodes/--init-pods/--pods` shrink them.

The pod templates are upstream's, minus the container port 80 (no hostPort, so it changes
nothing for the scheduler) and with the image pinned to one pause tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Object = dict[str, Any]

PAUSE = "registry.k8s.io/pause:3.10"
ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
NODE_PREFIX = "scheduler-perf-"
DEFAULT_NAMESPACE = "sched-perf"

# node-default.yaml: capacity and allocatable (upstream's node status is both), Ready.
NODE_STATUS: Object = {
    "status": {
        "capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"},
        "allocatable": {"pods": "110", "cpu": "4", "memory": "32Gi"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "phase": "Running",
    }
}


def _container(cpu: str, memory: str = "500Mi", *, limits: bool = True) -> Object:
    resources: Object = {"requests": {"cpu": cpu, "memory": memory}}
    if limits:
        resources["limits"] = {"cpu": cpu, "memory": memory}
    return {"name": "pause", "image": PAUSE, "resources": resources}


def pod_default() -> Object:
    """pod-default.yaml: 100m CPU, 500 Mi, nothing else."""
    return {"spec": {"containers": [_container("100m")]}}


def pod_with_pod_anti_affinity() -> Object:
    """pod-with-pod-anti-affinity.yaml: one `color: green` pod per hostname, both namespaces."""
    return {
        "metadata": {"labels": {"color": "green"}},
        "spec": {
            "affinity": {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {"matchLabels": {"color": "green"}},
                            "topologyKey": HOSTNAME,
                            "namespaces": ["sched-1", "sched-0"],
                        }
                    ]
                }
            },
            "containers": [_container("100m")],
        },
    }


def pod_with_node_affinity() -> Object:
    """pod-with-node-affinity.yaml: required zone In (zone1, zone2)."""
    term = {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone1", "zone2"]}]}
    return {
        "spec": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
                }
            },
            "containers": [_container("100m")],
        }
    }


def pod_with_topology_spreading() -> Object:
    """pod-with-topology-spreading.yaml: `color: blue`, maxSkew 5 over zones, DoNotSchedule."""
    return {
        "metadata": {"labels": {"color": "blue"}},
        "spec": {
            "topologySpreadConstraints": [
                {
                    "maxSkew": 5,
                    "topologyKey": ZONE,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"color": "blue"}},
                }
            ],
            "containers": [_container("100m")],
        },
    }


def pod_low_priority() -> Object:
    """pod-low-priority.yaml: 900m CPU, grace period 0 (so a preempted victim goes at once)."""
    return {"spec": {"terminationGracePeriodSeconds": 0, "containers": [_container("900m")]}}


def pod_high_priority() -> Object:
    """pod-high-priority.yaml: priority 10, 3 CPUs: needs 3 of a full node's 4 victims."""
    return {"spec": {"priority": 10, "containers": [_container("3000m")]}}


def pod_high_priority_large_cpu() -> Object:
    """pod-high-priority-large-cpu.yaml: priority 10, 9 CPUs: fits no 4-CPU node, ever."""
    return {"spec": {"priority": 10, "containers": [_container("9", limits=False)]}}


def no_labels(i: int) -> dict[str, str]:
    return {}


def zones(*values: str) -> Callable[[int], dict[str, str]]:
    """upstream labelNodePrepareStrategy: node i gets `zone: values[i % len(values)]`."""

    def label(i: int) -> dict[str, str]:
        return {ZONE: values[i % len(values)]}

    return label


@dataclass(frozen=True)
class Workload:
    """One scheduler_perf test case: sizes, templates and what the run must show."""

    name: str
    summary: str
    nodes: int
    init_pods: int
    pods: int
    measured_template: Callable[[], Object]
    init_template: Callable[[], Object] = pod_default
    node_labels: Callable[[int], dict[str, str]] = no_labels
    init_namespace: str = DEFAULT_NAMESPACE
    measured_namespace: str = DEFAULT_NAMESPACE
    # A pod created every `churn_interval_s` during the measured phase (upstream's churn op).
    churn_template: Callable[[], Object] | None = None
    churn_interval_s: float = 0.2
    # Whether the churn pods can be scheduled (by preemption) and so are waited for at the end.
    churn_schedulable: bool = False
    # upstream's CI threshold (pods/s) and this project's target on 2 cores (issue 5).
    upstream_threshold: float | None = None
    target: float | None = None

    @property
    def namespaces(self) -> list[str]:
        return sorted({self.init_namespace, self.measured_namespace})


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "SchedulingBasic",
            "pod-default pods on plain nodes",
            nodes=5000,
            init_pods=1000,
            pods=10000,
            measured_template=pod_default,
            upstream_threshold=680,
            target=1000,
        ),
        Workload(
            "TopologySpreading",
            "maxSkew 5 zone spread over 3 zones, after pod-default pods",
            nodes=5000,
            init_pods=5000,
            pods=5000,
            measured_template=pod_with_topology_spreading,
            node_labels=zones("moon-1", "moon-2", "moon-3"),
            upstream_threshold=460,
            target=600,
        ),
        Workload(
            "SchedulingPodAntiAffinity",
            "required hostname anti-affinity across two namespaces",
            nodes=5000,
            init_pods=1000,
            pods=2000,
            measured_template=pod_with_pod_anti_affinity,
            init_template=pod_with_pod_anti_affinity,
            init_namespace="sched-0",
            measured_namespace="sched-1",
            upstream_threshold=60,
            target=500,
        ),
        Workload(
            "SchedulingNodeAffinity",
            "required node affinity zone In (zone1, zone2), every node in zone1",
            nodes=5000,
            init_pods=5000,
            pods=10000,
            measured_template=pod_with_node_affinity,
            init_template=pod_with_node_affinity,
            node_labels=zones("zone1"),
            upstream_threshold=220,
            target=1000,
        ),
        Workload(
            "PreemptionAsync",
            "pod-default pods while a 3-CPU priority-10 pod preempts every 200 ms",
            nodes=5000,
            init_pods=20000,
            pods=5000,
            measured_template=pod_default,
            init_template=pod_low_priority,
            churn_template=pod_high_priority,
            churn_schedulable=True,
            upstream_threshold=570,
        ),
        Workload(
            "Unschedulable",
            "pod-default pods while a 9-CPU pod that fits nowhere arrives every 200 ms",
            nodes=5000,
            init_pods=100,
            pods=10000,
            measured_template=pod_default,
            churn_template=pod_high_priority_large_cpu,
            upstream_threshold=590,
        ),
    )
}
