"""The default scheduler inside `kube server`, driven with the real kubectl as a user would.

Nodes are objects made by hand (no kubelet): labels and taints through `kubectl apply`, then
allocatable, capacity and a Ready condition through the status subresource, as a kubelet
would report them. Each test gets its own nodes, labelled with a group the test's pods select
(`nodeSelector`), and every node carries the taint `e2e.kube/scheduler=test:NoSchedule` that
only these tests' pods tolerate, so the pending pods of other test modules (which stay
Pending on purpose) never land here. The pods also tolerate the node lifecycle taints, since
no kubelet renews these nodes' heartbeats. Bound pods are never started; the test plays the
kubelet where it must (force-deleting a preempted victim).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import yaml

from tests.e2e.conftest import Cluster

NS = "e2e-sched"
TAINT = {"key": "e2e.kube/scheduler", "value": "test", "effect": "NoSchedule"}
TOLERATIONS = [
    {"key": "e2e.kube/scheduler", "operator": "Exists"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists"},
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
]

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 30.0, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def k(cluster: Cluster) -> Iterator[Cluster]:
    cluster.kubectl("create", "namespace", NS)
    yield cluster
    nodes = cluster.kubectl("get", "nodes", "-l", "e2e-sched-group", "-o", "name").stdout.split()
    if nodes:
        cluster.kubectl("delete", "--wait=false", *nodes)


def add_node(
    k: Cluster,
    name: str,
    group: str,
    *,
    cpu: str = "4",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "e2e-sched-group": group, **(labels or {})},
        },
        "spec": {"taints": [TAINT, *(taints or [])]},
    }
    k.kubectl("apply", "-f", "-", input=yaml.safe_dump(node))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    resources = {"cpu": cpu, "memory": "8Gi", "pods": "20"}
    status = {
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
        }
    }
    k.kubectl(
        "patch", "node", name, "--subresource=status", "--type=merge", "-p", json.dumps(status)
    )


def add_pod(
    k: Cluster,
    name: str,
    group: str,
    *,
    cpu: str | None = None,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> None:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    body = {"containers": [container], **(spec or {})}
    body["tolerations"] = [*TOLERATIONS, *body.get("tolerations", [])]
    body["nodeSelector"] = {"e2e-sched-group": group, **body.get("nodeSelector", {})}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": labels or {}},
        "spec": body,
    }
    k.kubectl("apply", "-f", "-", input=yaml.safe_dump(pod))


def node_of(k: Cluster, pod: str) -> str:
    out = k.kubectl("get", "pod", pod, "-n", NS, "-o", "jsonpath={.spec.nodeName}", check=False)
    return out.stdout.strip()


def bound(k: Cluster, *pods: str) -> dict[str, str]:
    def check() -> dict[str, str] | None:
        nodes = {p: node_of(k, p) for p in pods}
        return nodes if all(nodes.values()) else None

    return eventually(check, what=f"pods {pods} to be bound")


def events_of(k: Cluster, pod: str, reason: str) -> list[dict[str, Any]]:
    out = k.kubectl(
        "get",
        "events",
        "-n",
        NS,
        f"--field-selector=involvedObject.name={pod},reason={reason}",
        "-o",
        "json",
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_pods_land_where_upstream_would(k: Cluster) -> None:
    g = "place"
    add_node(k, "place-a", g, cpu="2", labels={"disk": "ssd", "zone": "z1"})
    add_node(k, "place-b", g, cpu="4", labels={"zone": "z2"})
    add_node(
        k,
        "place-c",
        g,
        cpu="4",
        labels={"zone": "z2"},
        taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    )
    add_pod(k, "needs-3cpu", g, cpu="3")
    add_pod(k, "wants-ssd", g, spec={"nodeSelector": {"disk": "ssd"}})
    gpu_affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["place-c"]}
                    ]
                }
            ]
        }
    }
    add_pod(
        k,
        "gpu-job",
        g,
        spec={
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
            ],
            "affinity": {"nodeAffinity": gpu_affinity},
        },
    )
    assert bound(k, "needs-3cpu", "wants-ssd", "gpu-job") == {
        "needs-3cpu": "place-b",
        "wants-ssd": "place-a",
        "gpu-job": "place-c",
    }
    scheduled = events_of(k, "needs-3cpu", "Scheduled")
    # events.k8s.io Events, as upstream's scheduler writes them, read through core/v1.
    assert [(e["type"], e["message"], e["reportingComponent"], e["action"]) for e in scheduled] == [
        (
            "Normal",
            f"Successfully assigned {NS}/needs-3cpu to place-b",
            "default-scheduler",
            "Binding",
        )
    ]
    condition = json.loads(
        k.kubectl(
            "get", "pod", "needs-3cpu", "-n", NS, "-o", "jsonpath={.status.conditions}"
        ).stdout
    )
    assert [(c["type"], c["status"]) for c in condition if c["type"] == "PodScheduled"] == [
        ("PodScheduled", "True")
    ]
    rows = k.kubectl("get", "pods", "-n", NS, "-o", "wide", "--no-headers").stdout
    assert any(r.split()[0] == "gpu-job" and "place-c" in r.split() for r in rows.splitlines())


def test_anti_affinity_and_topology_spread(k: Cluster) -> None:
    g = "spread"
    for name, zone in (
        ("spread-1", "z1"),
        ("spread-2", "z1"),
        ("spread-3", "z2"),
        ("spread-4", "z2"),
    ):
        add_node(k, name, g, labels={"zone": zone})
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "zone"}
            ]
        }
    }
    add_pod(k, "web-1", g, labels={"app": "web"}, spec={"affinity": anti})
    add_pod(k, "web-2", g, labels={"app": "web"}, spec={"affinity": anti})
    placed = bound(k, "web-1", "web-2")
    zones = {"spread-1": "z1", "spread-2": "z1", "spread-3": "z2", "spread-4": "z2"}
    assert {zones[n] for n in placed.values()} == {"z1", "z2"}
    # A third anti-affine pod has no zone left: upstream's message, and it stays Pending.
    add_pod(k, "web-3", g, labels={"app": "web"}, spec={"affinity": anti})
    failed = eventually(lambda: events_of(k, "web-3", "FailedScheduling"), what="FailedScheduling")
    assert "4 node(s) didn't match pod anti-affinity rules" in failed[0]["message"]
    assert node_of(k, "web-3") == ""

    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "db"}},
        }
    ]
    names = [f"db-{i}" for i in range(4)]
    for name in names:
        add_pod(k, name, g, labels={"app": "db"}, spec={"topologySpreadConstraints": spread})
    placed = bound(k, *names)
    per_zone = [zones[n] for n in placed.values()]
    assert sorted(per_zone) == ["z1", "z1", "z2", "z2"]


def test_an_unschedulable_pod_waits_for_a_node_that_fits(k: Cluster) -> None:
    g = "grow"
    add_node(k, "grow-1", g, cpu="2")
    add_node(k, "grow-2", g, cpu="2")
    add_pod(k, "huge", g, cpu="8")
    failed = eventually(lambda: events_of(k, "huge", "FailedScheduling"), what="FailedScheduling")
    message = failed[0]["message"]
    # Other tests' nodes count too ("didn't match Pod's node affinity/selector"): check ours.
    assert message.startswith("0/")
    assert " nodes are available: " in message
    assert "2 Insufficient cpu" in message
    assert "preemption: " in message
    assert "2 No preemption victims found for incoming pod" in message
    assert failed[0]["type"] == "Warning"
    described = k.kubectl("describe", "pod", "huge", "-n", NS).stdout
    assert "FailedScheduling" in described
    assert "default-scheduler" in described
    conditions = json.loads(
        k.kubectl("get", "pod", "huge", "-n", NS, "-o", "jsonpath={.status.conditions}").stdout
    )
    scheduled = [c for c in conditions if c["type"] == "PodScheduled"]
    assert [(c["status"], c["reason"]) for c in scheduled] == [("False", "Unschedulable")]
    assert scheduled[0]["message"] == message
    add_node(k, "grow-big", g, cpu="16")
    assert bound(k, "huge") == {"huge": "grow-big"}


PRIORITY_CLASSES = """
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: e2e-sched-low}
value: 10
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: e2e-sched-high}
value: 1000
"""


def test_a_high_priority_pod_preempts(k: Cluster) -> None:
    g = "preempt"
    k.kubectl("apply", "-f", "-", input=PRIORITY_CLASSES)
    add_node(k, "preempt-1", g, cpu="2")
    add_pod(k, "low", g, cpu="2", spec={"priorityClassName": "e2e-sched-low", "priority": 10})
    assert bound(k, "low") == {"low": "preempt-1"}
    low_uid = k.kubectl("get", "pod", "low", "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    add_pod(k, "high", g, cpu="2", spec={"priorityClassName": "e2e-sched-high", "priority": 1000})

    def victim_terminating() -> bool:
        out = k.kubectl(
            "get",
            "pod",
            "low",
            "-n",
            NS,
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
            check=False,
        )
        return out.returncode != 0 or bool(out.stdout.strip())

    eventually(victim_terminating, what="the victim to be deleted")
    high_uid = k.kubectl("get", "pod", "high", "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    preempted = events_of(k, "low", "Preempted")
    assert [e["message"] for e in preempted] == [f"Preempted by pod {high_uid} on node preempt-1"]
    nominated = eventually(
        lambda: (
            k.kubectl(
                "get", "pod", "high", "-n", NS, "-o", "jsonpath={.status.nominatedNodeName}"
            ).stdout.strip()
            or node_of(k, "high")
        ),
        what="the preemptor to be nominated",
    )
    assert nominated == "preempt-1"
    # The kubelet would stop the victim and remove it; there is none, so the test does.
    k.kubectl("delete", "pod", "low", "-n", NS, "--grace-period=0", "--force", check=False)
    assert bound(k, "high") == {"high": "preempt-1"}
    assert low_uid


def test_pods_for_other_schedulers_are_left_alone(k: Cluster) -> None:
    g = "other"
    add_node(k, "other-1", g)
    add_pod(k, "theirs", g, spec={"schedulerName": "someone-else"})
    add_pod(k, "ours", g)
    assert bound(k, "ours") == {"ours": "other-1"}
    time.sleep(1)
    assert node_of(k, "theirs") == ""
    assert events_of(k, "theirs", "FailedScheduling") == []
