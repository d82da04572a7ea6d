"""What a hollow node says about itself: its Node, Lease and its pods' statuses, as pure data.

The shapes follow what upstream's kubelet writes (pkg/kubelet/kubelet_node_status.go,
nodelease, status_manager) so controllers and the scheduler cannot tell a hollow node from a
real one: standard labels (hostname, zone, instance type, os/arch), capacity and allocatable
from `--node-shape`, the four node conditions, nodeInfo, a Lease in kube-node-lease holding
leaseDurationSeconds 40, and pod statuses with a podIP from the node's podCIDR.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass
from typing import Any

from kube.api import quantity
from kube.api.meta import now_rfc3339

HOLLOW_LABEL = "sim.kube.io/hollow"
FAIL_ANNOTATION = "sim.kube.io/fail"
RUN_FOR_ANNOTATION = "sim.kube.io/run-for"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
KUBELET_VERSION = "v1.37.0"
RUNTIME_VERSION = "sim://1.0.0"
INSTANCE_TYPE = "sim.hollow"
DEFAULT_SHAPE = "cpu=32,memory=256Gi,pods=110"
SHAPE_KEYS = ("cpu", "memory", "pods", "ephemeral-storage")
POD_NETWORK = ipaddress.ip_network("10.128.0.0/9")


@dataclass(frozen=True)
class NodeShape:
    """The resources every hollow node offers (capacity == allocatable)."""

    cpu: str = "32"
    memory: str = "256Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"

    def resources(self) -> dict[str, str]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            "ephemeral-storage": self.ephemeral_storage,
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        }


def parse_shape(text: str, pods: int | None = None) -> NodeShape:
    """`cpu=32,memory=256Gi,pods=110` (any subset); `pods` (from --pods-per-node) wins.

    Raises ValueError naming the bad part, so the CLI can print one line.
    """
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SHAPE_KEYS:
            raise ValueError(f"bad node shape part {part!r}: want one of {', '.join(SHAPE_KEYS)}")
        if quantity.try_parse(value) is None:
            raise ValueError(f"bad quantity {value!r} for {key}")
        values[key] = value
    count = pods if pods is not None else int(values.get("pods", "110"))
    if count < 1:
        raise ValueError(f"pods must be at least 1, not {count}")
    return NodeShape(
        cpu=values.get("cpu", "32"),
        memory=values.get("memory", "256Gi"),
        pods=count,
        ephemeral_storage=values.get("ephemeral-storage", "100Gi"),
    )


def now_micro() -> str:
    """A MicroTime as the API writes it (Lease renewTime)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pod_cidr(index: int) -> str:
    """Node `index`'s /24 inside 10.128.0.0/9 (32,768 nodes before it wraps)."""
    base = int(POD_NETWORK.network_address) + (index % 32768) * 256
    return f"{ipaddress.IPv4Address(base)}/24"


def node_ip(index: int) -> str:
    """A made-up InternalIP in 172.16.0.0/12, one per node."""
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("172.16.0.0")) + 1 + index))


def node_conditions(ready: bool, previous: list[Any] | None = None) -> list[dict[str, Any]]:
    """The kubelet's four conditions; a condition keeps lastTransitionTime while unchanged."""
    now = now_rfc3339()
    before = {c.get("type"): c for c in previous or [] if isinstance(c, dict)}
    wanted = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True" if ready else "False",
         "KubeletReady" if ready else "KubeletNotReady",
         "kubelet is posting ready status" if ready else "hollow node failed"),
    ]  # fmt: skip
    out = []
    for kind, status, reason, message in wanted:
        old = before.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": since or now,
                "reason": reason,
                "message": message,
            }
        )
    return out


def node_status(
    name: str, index: int, shape: NodeShape, previous: list[Any] | None = None
) -> dict[str, Any]:
    resources = shape.resources()
    return {
        "capacity": resources,
        "allocatable": dict(resources),
        "conditions": node_conditions(True, previous),
        "addresses": [
            {"type": "InternalIP", "address": node_ip(index)},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": f"{index:032x}",
            "systemUUID": f"{index:08x}-0000-0000-0000-000000000000",
            "bootID": f"{index:08x}-0000-0000-0000-000000000001",
            "kernelVersion": "6.1.0-sim",
            "osImage": "Hollow Linux",
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def node_object(name: str, index: int, zones: int, shape: NodeShape) -> dict[str, Any]:
    """The Node a hollow node registers (status included, as the kubelet's create does)."""
    cidr = pod_cidr(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": name,
                "topology.kubernetes.io/zone": f"zone-{index % max(1, zones)}",
                "node.kubernetes.io/instance-type": INSTANCE_TYPE,
                HOLLOW_LABEL: "true",
            },
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": node_status(name, index, shape),
    }


def lease_object(name: str, node_uid: str) -> dict[str, Any]:
    owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [owner] if node_uid else [],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION,
            "renewTime": now_micro(),
        },
    }


def pod_ip(cidr: str, slot: int) -> str:
    """The `slot`-th address handed out in a node's pod CIDR (skipping .0 and .1)."""
    base, usable = _pod_range(cidr)
    return str(ipaddress.ip_address(base + 2 + slot % usable))


@functools.lru_cache(maxsize=16_384)
def _pod_range(cidr: str) -> tuple[int, int]:
    """(network address as an integer, usable addresses) of a CIDR, parsed once per node."""
    net = ipaddress.ip_network(cidr, strict=False)
    return int(net.network_address), max(1, net.num_addresses - 3)


def _container_statuses(pod: dict[str, Any], state: dict[str, Any], ready: bool) -> list[Any]:
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    out = []
    for i, container in enumerate((pod.get("spec") or {}).get("containers") or []):
        image = str(container.get("image") or "")
        out.append(
            {
                "name": container.get("name", f"c{i}"),
                "image": image,
                "imageID": f"sim://{image}",
                "containerID": f"sim://{uid}-{i}",
                "ready": ready,
                "started": "running" in state,
                "restartCount": 0,
                "state": state,
            }
        )
    return out


def _pod_conditions(ready: bool, now: str) -> list[dict[str, Any]]:
    value = "True" if ready else "False"
    return [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "Ready", "status": value, "lastTransitionTime": now},
        {"type": "ContainersReady", "status": value, "lastTransitionTime": now},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
    ]


def running_status(pod: dict[str, Any], host_ip: str, ip: str) -> dict[str, Any]:
    """The status a kubelet reports once every container of `pod` runs and is ready."""
    now = now_rfc3339()
    return {
        "phase": "Running",
        "conditions": _pod_conditions(True, now),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": (pod.get("status") or {}).get("qosClass") or "BestEffort",
        "containerStatuses": _container_statuses(pod, {"running": {"startedAt": now}}, True),
    }


def succeeded_status(pod: dict[str, Any]) -> dict[str, Any]:
    """The status of a pod whose containers all exited 0 (what completes a Job's pod)."""
    now = now_rfc3339()
    old = pod.get("status") or {}
    started = old.get("startTime") or now
    terminated = {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": started,
            "finishedAt": now,
            "containerID": "",
        }
    }
    statuses = _container_statuses(pod, terminated, False)
    for status in statuses:
        status["state"]["terminated"]["containerID"] = status["containerID"]
    return {
        "phase": "Succeeded",
        "conditions": _pod_conditions(False, now),
        "containerStatuses": statuses,
    }


def parse_duration(text: str) -> float:
    """A Go-style duration (`30s`, `1m30s`, `500ms`, `2h`) or bare seconds, in seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise ValueError(f"bad duration {text!r}")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number or not text:
        raise ValueError(f"bad duration {text!r}")
    return total
