"""The sandbox step of a pod's sync: a ready sandbox for the pod, made when it has none.

`SandboxStep.ensure(pod)` gives (sandbox id, pod IP, sandbox config) of the pod's ready
sandbox; without one, it stops and removes the dead ones (their containers go with them) and
runs a new sandbox (RunPodSandbox with the pod's hostname, DNS, log directory and cgroup
parent, kube.kubelet.specs), then asks its IP (PodSandboxStatus). A sandbox's IP is asked once
per sandbox, not on every sync; a pod's first sandbox is remembered as having no containers
yet (the CRI's containers are in a sandbox, and it was just made), so the sync need not list
them.
"""

from __future__ import annotations

from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DNSConfigurer
from kube.kubelet.podevents import PodEvents
from kube.kubelet.runtimeview import RuntimeView
from kube.kubelet.specs import sandbox_config


class SandboxStep:
    """Makes and finds pods' sandboxes on one node."""

    def __init__(
        self,
        cri: RuntimeClient,
        view: RuntimeView,
        events: PodEvents,
        *,
        node_name: str,
        node_ip: str,
        pod_logs_dir: str,
        cgroup_root: str,
        dns: DNSConfigurer | None,
    ) -> None:
        self.cri = cri
        self.view = view
        self.events = events
        self.node_name = node_name
        self.node_ip = node_ip
        self.pod_logs_dir = pod_logs_dir
        self.cgroup_root = cgroup_root
        self.dns = dns  # None: only spec.dnsConfig (kube.kubelet.dns)
        # sandbox id -> its IP (PodSandboxStatus once per sandbox, not on every sync)
        self.ips: dict[str, str] = {}
        # Sandboxes just made for a pod that had none: it has no containers to list yet.
        self.first: set[str] = set()

    def config(self, pod: dict[str, Any], attempt: int, events: bool = False) -> Any:
        """The pod's PodSandboxConfig; with `events`, DNS problems become the pod's events."""
        dns = None
        if self.dns is not None:
            dns, warnings = self.dns.pod_dns(pod)
            for kind, reason, message in warnings if events else []:
                self.events.event(pod, kind, reason, message)
        return sandbox_config(
            pod,
            attempt,
            node_name=self.node_name,
            pod_logs_dir=self.pod_logs_dir,
            cgroup_root=self.cgroup_root,
            dns=dns,
            cluster_domain=self.dns.cluster_domain if self.dns else DEFAULT_CLUSTER_DOMAIN,
        )

    async def ensure(self, pod: dict[str, Any]) -> tuple[str, str, Any]:
        """(sandbox id, pod IP, sandbox config) of a ready sandbox, made if needed."""
        uid = pod["metadata"]["uid"]
        sandboxes = await self.view.sandboxes(uid)
        ready = [s for s in sandboxes if s.state == pb.SANDBOX_READY]
        if ready:
            sandbox = ready[0]
            config = self.config(pod, sandbox.metadata.attempt)
            ip = self.ips.get(sandbox.id)
            if ip is None:
                status = await self.cri.call(
                    "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox.id)
                )
                ip = self.ips[sandbox.id] = status.status.network.ip
            return sandbox.id, ip, config
        for old in sandboxes:  # a dead sandbox: its containers go with it
            self.ips.pop(old.id, None)
            await self.cri.call("StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=old.id))
            await self.cri.call(
                "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=old.id)
            )
        config = self.config(pod, len(sandboxes), events=True)
        answer = await self.cri.call("RunPodSandbox", pb.RunPodSandboxRequest(config=config))
        if not sandboxes:
            self.first.add(answer.pod_sandbox_id)
        status = await self.cri.call(
            "PodSandboxStatus", pb.PodSandboxStatusRequest(pod_sandbox_id=answer.pod_sandbox_id)
        )
        ip = self.ips[answer.pod_sandbox_id] = status.status.network.ip
        if (pod.get("spec") or {}).get("hostNetwork"):
            ip = self.node_ip
        return answer.pod_sandbox_id, ip, config

    def made_first(self, sandbox_id: str) -> bool:
        """Whether `sandbox_id` is a pod's first sandbox, not yet synced past (then forgotten):
        it has no containers to list."""
        if sandbox_id in self.first:
            self.first.discard(sandbox_id)
            return True
        return False

    async def stop_all(self, uid: str, *, remove: bool) -> None:
        """Stops (and with `remove`, removes) every sandbox of the pod."""
        for sandbox in await self.view.sandboxes(uid):
            self.ips.pop(sandbox.id, None)
            self.first.discard(sandbox.id)
            await self.cri.call(
                "StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id)
            )
            if remove:
                await self.cri.call(
                    "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id)
                )
