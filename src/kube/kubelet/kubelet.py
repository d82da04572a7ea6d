"""The kubelet's main loop: its Node, its pods (one worker each), the PLEG, housekeeping.

It watches only the pods bound to its node (fieldSelector `spec.nodeName=<node>`), gives each
pod a worker that serializes its syncs (upstream's podWorkers), and wakes a worker when the
pod changes in the API, when the PLEG sees its containers change in the runtime, when a
backoff expires, and every 10 s as a resync. A pod being deleted (deletionTimestamp set) has
its containers stopped with its grace period, its sandbox stopped and removed, and then the
kubelet deletes the API object for good (DELETE with gracePeriodSeconds=0 and the pod's uid as
precondition), as upstream's status manager does. Sandboxes of pods the API no longer has are
removed by housekeeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api import errors
from kube.api.resources import resource
from kube.client.events import EventRecorder
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, Informer
from kube.client.ratelimit import TokenBucket
from kube.client.rest import RESTClient
from kube.cri.client import RuntimeClient
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DEFAULT_RESOLV_CONF, DNSConfigurer
from kube.kubelet.node import KUBELET_PORT, NodeAgent, NodeConfig
from kube.kubelet.objectcache import ObjectCache
from kube.kubelet.pleg import PLEG
from kube.kubelet.pods import PodSyncer
from kube.kubelet.server import CRIContainers, KubeletServer, serve, ssl_context
from kube.kubelet.stats import SummaryProvider
from kube.kubelet.status import comparable
from kube.kubelet.volumes import VolumeManager

log = logging.getLogger("kube.kubelet")

PODS = resource("pods")
RESYNC = 10.0
# Upstream's eventRecordQPS and eventBurst: Events go through a client of their own, so a burst
# of them (several per starting pod) does not queue the pods' own requests behind it.
EVENT_QPS = 50.0
EVENT_BURST = 100
RETRY = 1.0
# Runtimes whose streaming server takes the WebSockets kubectl sends (the built-in one); any
# other gets SPDY, as upstream's kubelet speaks to containerd and CRI-O (kube.kubelet.server).
WEBSOCKET_RUNTIMES = ("kube-runtime",)
HOUSEKEEPING = 2.0
TERMINAL = ("Succeeded", "Failed")
# What of a pod's metadata a sync depends on (upstream's checkAndUpdatePod compares these).
SYNCED_METADATA = ("labels", "annotations", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass
class KubeletConfig:
    node: NodeConfig
    runtime_endpoint: str
    pod_logs_dir: Path = Path("/var/log/pods")
    cgroup_root: str = "/kubepods"
    # The HTTPS server (logs, exec): kube.kubelet.server.
    address: str = "0.0.0.0"
    port: int = KUBELET_PORT
    tls_cert_file: Path | None = None
    tls_private_key_file: Path | None = None
    client_ca_file: Path | None = None
    # Pods' DNS (kube.kubelet.dns): --cluster-dns, --cluster-domain, --resolv-conf.
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    resolv_conf: str = DEFAULT_RESOLV_CONF


@dataclass
class PodWorker:
    """Serializes the syncs of one pod; `poke()` asks for another pass."""

    pod: dict[str, Any]
    removed: bool = False
    reported: dict[str, Any] | None = None
    # The last status written, the base of the next one (upstream's status manager cache):
    # the watch may not have brought it back yet, and a stale pod would move startTime and
    # the conditions' lastTransitionTime to this second, and write the status again.
    status: dict[str, Any] | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    syncing: bool = False
    synced_at: float = 0.0  # time.monotonic() at the end of the last sync
    relisted: bool = False  # a relist changed the pod during a sync: judged when it ends

    def poke(self) -> None:
        self.event.set()


def _uid(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def status_only_change(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` differs from `old` in status (and bookkeeping metadata) only, to a phase
    that is not terminal (a pod failed by someone else still gets its containers stopped)."""
    if old.get("spec") != new.get("spec"):
        return False
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    if any(before.get(k) != after.get(k) for k in SYNCED_METADATA):
        return False
    phase = (new.get("status") or {}).get("phase")
    return phase not in TERMINAL or phase == (old.get("status") or {}).get("phase")


def event_client(client: RESTClient) -> RESTClient:
    """A client to the same server as `client` with a throttle of its own (upstream's kubelet
    makes its event client from the same kubeconfig with eventRecordQPS/eventBurst)."""
    throttle = None if client.throttle is None else TokenBucket(EVENT_QPS, EVENT_BURST)
    return client.sibling(throttle=throttle)


def watch_client(client: RESTClient) -> RESTClient:
    """A client for the object cache's watches: `client`'s server and throttle, with no limit
    on connections. Over HTTP/1.1 each watch holds a connection; upstream's client multiplexes
    them over HTTP/2, but here pods in a hundred namespaces would hold every connection of the
    kubelet's own pool (100) and its other requests would wait for one."""
    return client.sibling(throttle=client.throttle, connections=0)  # 0: aiohttp's no limit


class Kubelet:
    def __init__(self, client: RESTClient, cri: RuntimeClient, config: KubeletConfig) -> None:
        self.client = client
        self.cri = cri
        self.config = config
        self.workers: dict[str, PodWorker] = {}
        self.runtime_ready: tuple[bool, str, str] = (False, "KubeletNotReady", "starting")
        self.syncer: PodSyncer | None = None
        self.pleg = PLEG(cri, self._relisted)
        self.informer: Informer | None = None

    # -- readiness -------------------------------------------------------------------------

    async def check_runtime(self) -> None:
        """The node's Ready condition from the runtime's Status (RuntimeReady, NetworkReady)."""
        try:
            answer = await self.cri.call("Status", pb.StatusRequest(), deadline=10)
        except grpc.aio.AioRpcError as err:
            self.runtime_ready = (
                False,
                "KubeletNotReady",
                f"container runtime is down: {err.details() or err.code()}",
            )
            return
        problems = [
            f"{c.type}=false reason:{c.reason} message:{c.message}"
            for c in answer.status.conditions
            if not c.status
        ]
        if problems:
            self.runtime_ready = (
                False,
                "KubeletNotReady",
                "container runtime network not ready: " + "; ".join(problems),
            )
        else:
            self.runtime_ready = (True, "KubeletReady", "kubelet is posting ready status")

    # -- pods ------------------------------------------------------------------------------

    def _pod_changed(self, pod: dict[str, Any]) -> None:
        uid = _uid(pod)
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(pod)
            worker.task = asyncio.create_task(self._work(uid, worker), name=f"pod-{uid}")
            self.workers[uid] = worker
        worker.pod = pod
        worker.poke()

    def _pod_updated(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """As upstream's pod config (checkAndUpdatePod): a write of the status alone (mostly
        this kubelet's own) is recorded without another sync; a resync (the same object) or a
        change of spec, labels, annotations or deletion syncs, as does a terminal phase."""
        worker = self.workers.get(_uid(new))
        if worker is not None and old is not new and status_only_change(old, new):
            worker.pod = new
            return
        self._pod_changed(new)

    def _pod_deleted(self, obj: dict[str, Any] | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        worker = self.workers.get(_uid(pod))
        if worker is not None:
            worker.pod = pod
            worker.removed = True
            worker.poke()

    def _relisted(self, uid: str) -> None:
        """A PLEG change: the pod syncs again unless its last sync already saw what the relist
        shows (kube.kubelet.pleg `PLEG.newer`). Most relist changes of a starting pod are the
        sandbox and containers its own sync just made and started; syncing again for them cost
        each pod another pass of runtime calls (sandbox list, container list and statuses). A
        relist during the pod's sync is judged when that sync ends, against what it saw."""
        worker = self.workers.get(uid)
        if worker is None:
            return
        if worker.syncing:  # what the sync will have seen is not known yet
            worker.relisted = True
            return
        if self._relist_news(uid, worker):
            worker.poke()

    def _relist_news(self, uid: str, worker: PodWorker) -> bool:
        seen = None if self.syncer is None else self.syncer.seen.get(uid)
        return seen is None or self.pleg.newer(uid, seen, worker.synced_at)

    def _runtime_changed(self, uid: str) -> None:
        worker = self.workers.get(uid)
        if worker is not None:
            worker.poke()

    async def _work(self, uid: str, worker: PodWorker) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await worker.event.wait()
            worker.event.clear()
            worker.syncing = True
            try:
                done = await self.sync_pod(worker)
            except (grpc.aio.AioRpcError, errors.APIError, OSError) as err:
                meta = worker.pod.get("metadata") or {}
                log.warning(
                    "sync of pod %s/%s failed: %s", meta.get("namespace"), meta.get("name"), err
                )
                loop.call_later(RETRY, worker.poke)
                continue
            finally:
                worker.syncing = False
                worker.synced_at = time.monotonic()
            if done:
                self.workers.pop(uid, None)
                return
            if worker.relisted:
                worker.relisted = False
                if self._relist_news(uid, worker):
                    worker.poke()

    async def sync_pod(self, worker: PodWorker) -> bool:
        """One pass for one pod; True when the pod is gone and its worker can end."""
        assert self.syncer is not None
        pod = worker.pod
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        name, namespace, uid = meta.get("name", ""), meta.get("namespace", "default"), _uid(pod)
        if worker.removed:
            await self.syncer.terminate(pod, int(meta.get("deletionGracePeriodSeconds") or 0))
            return True
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            if grace is None:
                grace = spec.get("terminationGracePeriodSeconds", 30)
            log.info("stopping pod %s/%s (grace %ss)", namespace, name, grace)
            await self.syncer.terminate(pod, int(grace))
            with contextlib.suppress(errors.APIError):
                await self.client.delete(
                    PODS, name, namespace, grace_period_seconds=0, preconditions={"uid": uid}
                )
            return True
        if (pod.get("status") or {}).get("phase") in TERMINAL:
            await self.syncer.terminate(pod, 0, remove=False)  # logs stay readable
            return False
        base = pod if worker.status is None else {**pod, "status": worker.status}
        status, wake = await self.syncer.sync(base)
        if comparable(status) != worker.reported:
            try:
                await self.client.patch(
                    PODS, name, {"status": status}, namespace, subresource="status"
                )
            except errors.APIError as err:
                if err.code != 404:
                    raise
            worker.reported = comparable(status)
            worker.status = status
        if status["phase"] in TERMINAL:
            await self.syncer.terminate(pod, 0, remove=False)
        if wake is not None:
            asyncio.get_running_loop().call_later(wake, worker.poke)
        return False

    async def housekeeping(self) -> None:
        """Removes sandboxes whose pods this kubelet does not (any longer) have."""
        assert self.syncer is not None
        assert self.informer is not None
        if not self.informer.has_synced:
            return
        known = {_uid(p) for p in self.informer.indexer.values()} | set(self.workers)
        for uid in self.pleg.pods - known:
            log.info("removing the sandbox of pod %s, which is gone from the API", uid)
            await self.syncer.terminate({"metadata": {"uid": uid}}, 0)
        if self.syncer.volumes is not None:
            await self.syncer.volumes.cleanup_orphans(known)

    # -- running ---------------------------------------------------------------------------

    async def run(self, ready: asyncio.Event | None = None) -> None:
        version = await self.cri.version()
        runtime_name = version.runtime_name
        node = self.config.node
        await self.check_runtime()
        config = self.config
        context = await asyncio.to_thread(
            ssl_context,
            config.tls_cert_file,
            config.tls_private_key_file,
            config.client_ca_file,
            node.root_dir / "pki",
            [node.name, node.node_ip, "localhost", "127.0.0.1"],
        )
        server = KubeletServer(
            CRIContainers(self.cri),
            require_client_cert=config.client_ca_file is not None,
            summary=SummaryProvider(self.cri, node.name, node.root_dir).summary,
            spdy=runtime_name not in WEBSOCKET_RUNTIMES,
        )
        runner, node.kubelet_port = await serve(server, config.address, config.port, context)
        agent = NodeAgent(
            self.client,
            node,
            f"{runtime_name}://{version.runtime_version}",
            lambda: self.runtime_ready,
        )
        await agent.register()
        if node.pod_cidr:
            await self.cri.call(
                "UpdateRuntimeConfig",
                pb.UpdateRuntimeConfigRequest(
                    runtime_config=pb.RuntimeConfig(
                        network_config=pb.NetworkConfig(pod_cidr=node.pod_cidr)
                    )
                ),
            )
            await self.check_runtime()
            await agent.report_status()
        events_client = event_client(self.client)
        events = EventRecorder(events_client, "kubelet", node.name)
        events.start()
        watches = watch_client(self.client)
        objects = ObjectCache(watches)
        self.syncer = PodSyncer(
            self.cri,
            node_name=node.name,
            node_ip=node.node_ip,
            pod_logs_dir=str(self.config.pod_logs_dir),
            runtime_name=runtime_name,
            cgroup_root=self.config.cgroup_root,
            volumes=VolumeManager(
                self.client, node.root_dir, recorder=events.event, objects=objects
            ),
            client=self.client,
            recorder=events.event,
            on_change=self._runtime_changed,
            root_dir=node.root_dir,
            dns=DNSConfigurer(
                cluster_dns=list(config.cluster_dns),
                cluster_domain=config.cluster_domain,
                resolv_conf=config.resolv_conf,
            ),
        )
        self.informer = Informer(self.client, PODS, field_selector=f"spec.nodeName={node.name}")
        self.informer.add_event_handler(
            EventHandler(
                on_add=self._pod_changed,
                on_update=self._pod_updated,
                on_delete=self._pod_deleted,
                resync=RESYNC,
            )
        )
        self.informer.start()
        tasks = [
            asyncio.create_task(agent.run(), name="node-heartbeat"),
            asyncio.create_task(self.pleg.run(), name="pleg"),
        ]
        try:
            await self.informer.wait_for_sync()
            log.info("kubelet for node %s is running pods (runtime %s)", node.name, runtime_name)
            if ready is not None:
                ready.set()
            while True:
                await asyncio.sleep(HOUSEKEEPING)
                await self.check_runtime()
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self.housekeeping()
        finally:
            for task in tasks:
                task.cancel()
            for worker in self.workers.values():
                if worker.task is not None:
                    worker.task.cancel()
            await self.informer.stop()
            await objects.close()
            await events_client.close()
            await watches.close()
            await runner.cleanup()
