"""The kubelet's Node: registration, status, and the heartbeat Lease in kube-node-lease.

As upstream's kubelet (pkg/kubelet/kubelet_node_status.go, nodelease): at start it creates its
Node (or adopts the existing one) with the standard labels, capacity and allocatable from the
machine, addresses, nodeInfo and the Ready/MemoryPressure/DiskPressure/PIDPressure conditions;
then renews the Lease `kube-node-lease/<node>` every 10 s (leaseDurationSeconds 40) and patches
the node's status when it changes, and at least every 5 minutes (nodeStatusReportFrequency).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import platform
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube.api import errors
from kube.api.meta import now_rfc3339
from kube.api.resources import resource
from kube.client.rest import RESTClient

log = logging.getLogger("kube.kubelet.node")

NODES = resource("nodes")
LEASES = resource("leases")
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40
RENEW_INTERVAL = 10.0
STATUS_REPORT_FREQUENCY = 300.0
KUBELET_VERSION = "v1.37.0"
KUBELET_PORT = 10250
MAX_PODS = 110


def now_micro() -> str:
    """A MicroTime as the API writes it (RFC 3339 with microseconds, UTC)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def memory_kib() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return "Linux"


def go_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def default_node_ip() -> str:
    """The address other machines reach this one at: the source of the default route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


@dataclass
class NodeConfig:
    """What the kubelet says about its machine."""

    name: str
    node_ip: str
    pod_cidr: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    root_dir: Path = Path("/var/lib/kubelet")
    cpu: str = ""
    memory: str = ""
    max_pods: int = MAX_PODS
    kubelet_port: int = KUBELET_PORT  # where the API server reaches this kubelet's server


def capacity(config: NodeConfig) -> dict[str, str]:
    """cpu, memory, pods, ephemeral-storage, hugepages: from the machine unless flags say."""
    storage_root = config.root_dir if config.root_dir.exists() else Path("/")
    disk = shutil.disk_usage(storage_root).total
    return {
        "cpu": config.cpu or str(os.cpu_count() or 1),
        "memory": config.memory or f"{memory_kib()}Ki",
        "pods": str(config.max_pods),
        "ephemeral-storage": f"{disk // 1024}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    }


def node_labels(config: NodeConfig) -> dict[str, str]:
    return {
        "beta.kubernetes.io/arch": go_arch(),
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": go_arch(),
        "kubernetes.io/hostname": config.name,
        "kubernetes.io/os": "linux",
        **config.labels,
    }


def conditions(ready: bool, reason: str, message: str, previous: list[Any]) -> list[Any]:
    """The four node conditions, keeping each one's lastTransitionTime while its status holds."""
    now = now_rfc3339()
    before = {c.get("type"): c for c in previous if isinstance(c, dict)}
    wanted = [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory",
         "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True" if ready else "False", reason, message),
    ]  # fmt: skip
    out = []
    for kind, status, why, text in wanted:
        old = before.get(kind) or {}
        transition = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": transition or now,
                "reason": why,
                "message": text,
            }
        )
    return out


def node_status(
    config: NodeConfig,
    runtime_version: str,
    ready: tuple[bool, str, str],
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The node's status as this kubelet reports it."""
    cap = capacity(config)
    machine_id = _read("/etc/machine-id")
    return {
        "capacity": cap,
        "allocatable": dict(cap),
        "conditions": conditions(*ready, list((previous or {}).get("conditions") or [])),
        "addresses": [
            {"type": "InternalIP", "address": config.node_ip},
            {"type": "Hostname", "address": config.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
        "nodeInfo": {
            "machineID": machine_id,
            "systemUUID": _read("/sys/class/dmi/id/product_uuid") or machine_id,
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": os_image(),
            "containerRuntimeVersion": runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": go_arch(),
        },
    }


def _without_heartbeats(status: dict[str, Any]) -> dict[str, Any]:
    copy = dict(status)
    copy["conditions"] = [
        {k: v for k, v in c.items() if k != "lastHeartbeatTime"}
        for c in status.get("conditions") or []
    ]
    return copy


class NodeAgent:
    """Registers the Node and keeps its Lease and status fresh."""

    def __init__(
        self,
        client: RESTClient,
        config: NodeConfig,
        runtime_version: str,
        ready: Callable[[], tuple[bool, str, str]],
    ) -> None:
        self.client = client
        self.config = config
        self.runtime_version = runtime_version
        self.ready = ready
        self.node: dict[str, Any] = {}
        self._reported: dict[str, Any] = {}
        self._reported_at = 0.0

    async def register(self) -> dict[str, Any]:
        """Creates the Node, or adopts an existing one (labels merged, status replaced)."""
        name = self.config.name
        status = node_status(self.config, self.runtime_version, self.ready())
        body: dict[str, Any] = {
            "metadata": {
                "name": name,
                "labels": node_labels(self.config),
                "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": {"podCIDR": self.config.pod_cidr, "podCIDRs": [self.config.pod_cidr]}
            if self.config.pod_cidr
            else {},
        }
        try:
            self.node = await self.client.create(NODES, body)
            log.info("registered node %s", name)
        except errors.APIError as err:
            if err.code != 409:
                raise
            self.node = await self.client.patch(
                NODES, name, {"metadata": {"labels": node_labels(self.config)}}
            )
            log.info("node %s already exists: adopted it", name)
        if not self.config.pod_cidr:
            self.config.pod_cidr = str((self.node.get("spec") or {}).get("podCIDR") or "")
        await self.report_status(status)
        return self.node

    async def report_status(self, status: dict[str, Any] | None = None) -> None:
        status = status or node_status(
            self.config, self.runtime_version, self.ready(), self.node.get("status")
        )
        self.node = await self.client.patch(
            NODES, self.config.name, {"status": status}, subresource="status"
        )
        self._reported = _without_heartbeats(status)
        self._reported_at = asyncio.get_running_loop().time()

    async def maybe_report_status(self) -> None:
        """Patches the status when it changed, or when the last report is 5 minutes old."""
        status = node_status(
            self.config, self.runtime_version, self.ready(), self.node.get("status")
        )
        stale = asyncio.get_running_loop().time() - self._reported_at >= STATUS_REPORT_FREQUENCY
        if stale or _without_heartbeats(status) != self._reported:
            await self.report_status(status)

    async def renew_lease(self) -> None:
        name = self.config.name
        now = now_micro()
        try:
            lease = await self.client.get(LEASES, name, LEASE_NAMESPACE)
        except errors.APIError as err:
            if err.code != 404:
                raise
            owner = {
                "apiVersion": "v1",
                "kind": "Node",
                "name": name,
                "uid": (self.node.get("metadata") or {}).get("uid", ""),
            }
            await self.client.create(
                LEASES,
                {
                    "metadata": {
                        "name": name,
                        "namespace": LEASE_NAMESPACE,
                        "ownerReferences": [owner] if owner["uid"] else [],
                    },
                    "spec": {
                        "holderIdentity": name,
                        "leaseDurationSeconds": LEASE_DURATION,
                        "renewTime": now,
                    },
                },
                LEASE_NAMESPACE,
            )
            return
        lease.setdefault("spec", {}).update(
            {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION, "renewTime": now}
        )
        await self.client.update(LEASES, lease)

    async def run(self) -> None:
        """Renews the Lease every 10 s and reports status on change, until cancelled."""
        while True:
            try:
                await self.renew_lease()
                await self.maybe_report_status()
            except (errors.APIError, OSError) as err:
                log.warning("node heartbeat failed: %s", err)
            await asyncio.sleep(RENEW_INTERVAL)
