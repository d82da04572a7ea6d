"""The scheduler: informers feed the cache and the queue; one loop schedules pod after pod.

Upstream's `Scheduler.ScheduleOne`, per pod popped from the queue:

scheduling cycle (synchronous, on a snapshot of the cache)
    the pod's nominated node first (after a preemption), if it still passes every Filter;
    PreFilter -> Filter over the nodes, from a start index that rotates between cycles and
    stopping after `numFeasibleNodesToFind` feasible ones (percentageOfNodesToScore: the
    profile's, the configuration's, or adaptive 50% - nodes/125, floor 5%, at least 100
    nodes) -> PreScore -> Score -> the best node (ties at random) -> assume the pod in the
    cache -> Reserve -> Permit.
    No node fits: PostFilter (preemption) may nominate a node; the pod gets a
    FailedScheduling event with upstream's message ("0/5 nodes are available: 3 Insufficient
    cpu, 2 node(s) had untolerated taint {k: v}. preemption: ..."), the condition PodScheduled
    False/Unschedulable with that message, `status.nominatedNodeName` when nominated, and goes
    back to the queue (unschedulable pool or backoff).
binding cycle (asynchronous task, so the next pod is scheduled meanwhile)
    wait for Permit -> PreBind -> Bind (POST pods/<name>/binding) -> the Scheduled event
    "Successfully assigned ns/pod to node" -> PostBind. A failure forgets the assumed pod,
    runs Unreserve and requeues the pod with backoff.

Per pod the cycle does no work proportional to the cluster outside the kernels: the snapshot is
the cache's, kept current incrementally; the pod is parsed once (`cycle_pod`, reused by every
plugin's PodInfo.of and by the assume); only the feasible rows are scored.

Only pods whose `spec.schedulerName` names one of the profiles (`default-scheduler` by
default) and that are not bound or terminating are scheduled; every bound pod counts in the
cache. Status writes carry the pod's resourceVersion, so a stale failure never overwrites a
pod that someone else bound meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from operator import itemgetter
from typing import Any

import numpy as np

from kube.api.errors import APIError
from kube.api.meta import Object, now_rfc3339
from kube.api.resources import resource
from kube.client.clock import Clock, RealClock
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, SharedInformerFactory
from kube.client.rest import RESTClient
from kube.scheduler.cache import Cache, node_name_of
from kube.scheduler.config import DEFAULT_SCHEDULER_NAME, Configuration, Profile
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import (
    ASSIGNED_POD,
    NODE,
    ActionType,
    ClusterEvent,
    ClusterEventWithHint,
    node_update_actions,
    pod_update_actions,
)
from kube.scheduler.framework.nodeinfo import cycle_pod, pod_key
from kube.scheduler.framework.nominator import Nominator
from kube.scheduler.framework.registry import Registry
from kube.scheduler.framework.runtime import Diagnosis, Framework, Handle, fit_error_message
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Code, Status, error
from kube.scheduler.framework.waiting_pods import WaitingPods, pod_uid
from kube.scheduler.plugins import in_tree_registry
from kube.scheduler.queue import QueuedPodInfo, SchedulingQueue

log = logging.getLogger("kube.scheduler")

PODS = resource("pods")
NODES = resource("nodes")
PDBS = resource("poddisruptionbudgets")
NAMESPACES = resource("namespaces")

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
NO_NODES_AVAILABLE = "no nodes available to schedule pods"
MAX_MESSAGE = 1024


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """upstream numFeasibleNodesToFind (percentage 0 = adaptive)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage == 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    found = num_all_nodes * percentage // 100
    return max(found, MIN_FEASIBLE_NODES_TO_FIND)


def scheduler_name(pod: Object) -> str:
    return str((pod.get("spec") or {}).get("schedulerName") or DEFAULT_SCHEDULER_NAME)


def _assigned(pod: Object) -> bool:
    return bool(node_name_of(pod))


def _terminating(pod: Object) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _finished(pod: Object) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _as_pod(pod: Object) -> Object:
    """The pod with its kind, so events name it (list items come without)."""
    if pod.get("kind") and pod.get("apiVersion"):
        return pod
    return {"apiVersion": "v1", "kind": "Pod", **pod}


def _truncate(message: str) -> str:
    if len(message) <= MAX_MESSAGE:
        return message
    return message[: MAX_MESSAGE - 3] + "..."


class _NoRecorder:
    """Logs what an events.k8s.io recorder would write (a scheduler without an API server)."""

    def eventf(
        self,
        regarding: Object,
        related: Object | None,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        message = note % args if args else note
        log.info("%s %s %s: %s", event_type, pod_key(regarding), reason, message)

    def with_component(self, component: str, host: str | None = None) -> Any:
        return self


class Scheduler:
    def __init__(
        self,
        client: RESTClient | None,
        config: Configuration | None = None,
        *,
        registry: Registry | None = None,
        recorder: Any = None,
        clock: Clock | None = None,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.config = config or Configuration()
        self.clock = clock or RealClock()
        self.recorder = recorder or _NoRecorder()
        self.cache = Cache()
        self.registry = registry if registry is not None else in_tree_registry()
        self.frameworks: dict[str, Framework] = {}
        self._pdbs: Callable[[], list[Object]] = lambda: []
        self._namespace_labels: Callable[[str], dict[str, str] | None] = lambda ns: None
        # Shared by every profile's handle, as upstream: nominated pods and Permit's waiters.
        self.nominator = Nominator()
        self.waiting_pods = WaitingPods()
        for profile in self.config.profiles:
            self.frameworks[profile.scheduler_name] = self._framework(profile, seed)
        first = self.frameworks[self.config.profiles[0].scheduler_name]
        hints: dict[str, list[ClusterEventWithHint]] = {}
        for fwk in self.frameworks.values():
            for plugin, events in fwk.events_to_register().items():
                hints.setdefault(plugin, []).extend(events)
        self.queue = SchedulingQueue(
            first.less,
            self._pre_enqueue,
            hints,
            clock=self.clock,
            initial_backoff=self.config.pod_initial_backoff_seconds,
            max_backoff=self.config.pod_max_backoff_seconds,
        )
        self.next_start_node_index = 0
        self._pod_lister: Any = None
        self._binding: set[asyncio.Task[None]] = set()
        self._status_writes: set[asyncio.Task[None]] = set()
        # Seconds spent per phase, summed over all pods (read by `kube bench scheduler`):
        # queue (added/requeued -> popped, scheduler clock), filter (PreFilter + Filter),
        # score (PreScore + Score + host selection), bind (PreBind + Bind, wall time).
        self.phase_seconds: dict[str, float] = dict.fromkeys(
            ("queue", "filter", "score", "bind"), 0.0
        )

    def _framework(self, profile: Profile, seed: int | None) -> Framework:
        recorder = self.recorder.with_component(profile.scheduler_name)
        handle = Handle(
            self.client,
            recorder,
            pdbs=lambda: self._pdbs(),
            namespace_labels=lambda ns: self._namespace_labels(ns),
            nominator=self.nominator,
            waiting_pods=self.waiting_pods,
            clock=self.clock,
        )
        fwk = Framework(profile, self.registry, handle)
        if seed is not None:
            fwk.rng.seed(seed)
        return fwk

    def responsible(self, pod: Object) -> bool:
        return scheduler_name(pod) in self.frameworks

    def _pre_enqueue(self, pod: Object) -> Status:
        fwk = self.frameworks.get(scheduler_name(pod))
        return fwk.pre_enqueue(pod) if fwk is not None else Status()

    # -- informer events -------------------------------------------------------------------

    def on_pod_add(self, pod: Object) -> None:
        if _assigned(pod):
            if not _finished(pod):
                self.cache.add_pod(pod)
                self.queue.move_all(ClusterEvent(ASSIGNED_POD, ActionType.ADD), None, pod)
        elif self.responsible(pod) and not _terminating(pod):
            self.nominator.add(pod)  # status.nominatedNodeName, e.g. after a restart
            self.queue.add(pod)

    def on_pod_update(self, old: Object, new: Object) -> None:
        if _assigned(new):
            if not _assigned(old):
                self.queue.delete(old)
                self._forget_nomination(new)
            if _finished(new):
                self.cache.remove_pod(new)
                self.queue.move_all(ClusterEvent(ASSIGNED_POD, ActionType.DELETE), old, None)
                return
            self.cache.update_pod(new)
            action = ActionType.ADD if not _assigned(old) else pod_update_actions(old, new)
            if action:
                self.queue.move_all(ClusterEvent(ASSIGNED_POD, action), old, new)
            return
        if not self.responsible(new):
            self.queue.delete(new)
            return
        if _terminating(new):
            self.queue.delete(new)
            return
        if self.cache.is_assumed(new):
            return
        self.nominator.update(new)
        self.queue.update(old, new)

    def _forget_nomination(self, pod: Object) -> None:
        self.nominator.delete(pod_key(pod))

    def on_pod_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        self._forget_nomination(pod)
        if _assigned(pod):
            self.cache.remove_pod(pod)
            self.queue.move_all(ClusterEvent(ASSIGNED_POD, ActionType.DELETE), pod, None)
        else:
            self.queue.delete(pod)
            # An assumed pod waiting at Permit is rejected ("removed"), freeing its node.
            fwk = self.frameworks.get(scheduler_name(pod))
            if fwk is not None and fwk.handle.reject_waiting_pod(pod_uid(pod)):
                self.queue.move_all(ClusterEvent(ASSIGNED_POD, ActionType.DELETE), pod, None)

    def on_node_add(self, node: Object) -> None:
        self.cache.add_node(node)
        self.queue.move_all(ClusterEvent(NODE, ActionType.ADD), None, node)

    def on_node_update(self, old: Object, new: Object) -> None:
        self.cache.update_node(new)
        action = node_update_actions(old, new)
        if action:
            self.queue.move_all(ClusterEvent(NODE, action), old, new)

    def on_node_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        node = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        self.cache.remove_node(node)

    def setup(self, informers: SharedInformerFactory) -> None:
        pods = informers.informer(PODS)
        pods.add_event_handler(
            EventHandler(
                on_add=self.on_pod_add, on_update=self.on_pod_update, on_delete=self.on_pod_delete
            )
        )
        self._pod_lister = pods.lister()
        nodes = informers.informer(NODES)
        nodes.add_event_handler(
            EventHandler(
                on_add=self.on_node_add,
                on_update=self.on_node_update,
                on_delete=self.on_node_delete,
            )
        )
        pdb_lister = informers.informer(PDBS).lister()
        ns_lister = informers.informer(NAMESPACES).lister()
        for fwk in self.frameworks.values():
            fwk.handle.set_informers(informers)  # plugins' own listers, before the start
        self._pdbs = lambda: pdb_lister.list()

        def namespace_labels(ns: str) -> dict[str, str] | None:
            found = ns_lister.get(ns)
            if found is None:
                return None
            return dict((found.get("metadata") or {}).get("labels") or {})

        self._namespace_labels = namespace_labels

    # -- running ---------------------------------------------------------------------------

    async def run(
        self, informers: SharedInformerFactory, ready: asyncio.Event | None = None
    ) -> None:
        """Watch, then schedule until cancelled."""
        self.setup(informers)
        informers.start()
        await informers.wait_for_cache_sync()
        if ready is not None:
            ready.set()
        flusher = asyncio.create_task(self.queue.run(), name="scheduler-queue-flush")
        expiry = asyncio.create_task(self._expire_assumed(), name="scheduler-assumed-expiry")
        try:
            while True:
                await self.schedule_one()
                # A queue that is never empty never suspends `pop`: yield once per pod so the
                # informers, binding tasks and the leader Lease renewal keep running.
                await asyncio.sleep(0)
        finally:
            self.queue.close()
            for task in (flusher, expiry, *self._binding, *self._status_writes):
                task.cancel()
            await asyncio.gather(
                flusher, expiry, *self._binding, *self._status_writes, return_exceptions=True
            )
            await informers.shutdown()

    async def _expire_assumed(self) -> None:
        while True:
            await self.clock.sleep(1.0)
            self.cache.cleanup_expired(self.clock.now())

    async def wait_idle(self) -> None:
        """Until the binding tasks and status writes started so far are done (tests)."""
        while self._binding or self._status_writes:
            await asyncio.gather(*self._binding, *self._status_writes, return_exceptions=True)

    # -- one pod -----------------------------------------------------------------------------

    async def schedule_one(self) -> None:
        info = await self.queue.pop()
        self.phase_seconds["queue"] += self.clock.now() - info.timestamp
        pod = info.pod
        fwk = self.frameworks.get(scheduler_name(pod))
        if fwk is None or _terminating(pod) or self.cache.is_assumed(pod):
            self.queue.done(info.key)
            return
        self.schedule_pod_cycle(fwk, info)

    def schedule_pod_cycle(self, fwk: Framework, info: QueuedPodInfo) -> None:
        """The synchronous scheduling cycle; starts the binding cycle on success."""
        pod = info.pod
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        snapshot = self.cache.snapshot()
        fwk.handle.snapshot = snapshot
        parsed = None
        try:
            with cycle_pod(pod) as parsed:
                host, diagnosis, status = self.schedule_pod(fwk, state, pod, snapshot)
        except Exception as err:
            log.exception("scheduling %s failed", info.key)
            host, diagnosis, status = None, None, error(str(err))
        if host is None:
            nominated: str | None = None
            if diagnosis is not None and status.is_rejected():
                if fwk.points["postFilter"] and diagnosis.num_all_nodes:
                    nominated, post = fwk.run_post_filter(state, pod, diagnosis)
                    if post.code == Code.ERROR:
                        log.error("PostFilter for %s: %s", info.key, post.message)
                    elif not post.is_success() and post.message:
                        diagnosis.post_filter_msg = post.message
                message = fit_error_message(diagnosis)
                info.unschedulable_plugins = set(diagnosis.unschedulable_plugins)
                info.error = False
                self._fail(fwk, info, cycle, message, "Unschedulable", nominated)
            elif status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                info.unschedulable_plugins = set()
                info.error = False
                self._fail(fwk, info, cycle, status.message, "Unschedulable", None)
            else:
                info.error = True
                self._fail(fwk, info, cycle, status.message, "SchedulerError", None)
            return
        assumed = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": host}}
        try:
            self.cache.assume_pod(assumed, parsed)
        except ValueError as err:
            info.error = True
            self._fail(fwk, info, cycle, str(err), "SchedulerError", None)
            return
        self.nominator.delete(info.key)  # assumed now: counted in the cache, not as nominated
        status = fwk.run_reserve(state, assumed, host)
        wait = 0.0
        if status.is_success():
            status, wait = fwk.run_permit(state, assumed, host)
        if not status.is_success() and not status.is_wait():
            fwk.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            info.error = status.code == Code.ERROR
            info.unschedulable_plugins = {status.plugin} if status.plugin else set()
            reason = "SchedulerError" if info.error else "Unschedulable"
            self._fail(fwk, info, cycle, status.message, reason, None)
            return
        task = asyncio.get_running_loop().create_task(
            self._binding_cycle(fwk, state, info, assumed, host, wait if status.is_wait() else 0.0)
        )
        self._binding.add(task)
        task.add_done_callback(self._binding.discard)

    def schedule_pod(
        self, fwk: Framework, state: CycleState, pod: Object, snapshot: Snapshot
    ) -> tuple[str | None, Diagnosis | None, Status]:
        """upstream schedulePod: (host, None, Success) or (None, diagnosis, why not)."""
        n = len(snapshot)
        if n == 0:
            return None, None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [NO_NODES_AVAILABLE])
        started = time.perf_counter()
        diagnosis = Diagnosis(num_all_nodes=n)
        diagnosis._names = snapshot.matrix.names
        status = fwk.run_pre_filter(state, pod, snapshot)
        if not status.is_success():
            if not status.is_rejected():
                return None, None, status
            diagnosis.pre_filter_msg = status.message
            if status.plugin:
                diagnosis.unschedulable_plugins.add(status.plugin)
            rejected = Status(status.code, list(status.reasons), status.plugin)
            diagnosis._vector.append(
                (status.plugin, np.arange(n), np.ones(n, np.int64), lambda code: rejected)
            )
            return None, diagnosis, status
        nominated = str((pod.get("status") or {}).get("nominatedNodeName") or "")
        info = snapshot.get(nominated) if nominated else None
        if (
            info is not None
            and fwk.run_filter_plugins_with_nominated_pods(state, pod, info).is_success()
        ):
            return nominated, None, Status()
        profile_pct = fwk.profile.percentage_of_nodes_to_score
        pct = profile_pct if profile_pct is not None else self.config.percentage_of_nodes_to_score
        start = self.next_start_node_index % n
        feasible, processed, status = fwk.find_feasible(
            state, pod, snapshot, num_feasible_nodes_to_find(pct, n), start, diagnosis
        )
        if not status.is_success():
            return None, None, status
        self.next_start_node_index = (start + processed) % n
        filtered = time.perf_counter()
        self.phase_seconds["filter"] += filtered - started
        if not feasible:
            return None, diagnosis, Status(Code.UNSCHEDULABLE, ["no fit"])
        if len(feasible) == 1:
            return snapshot.node_infos[feasible[0]].name, None, Status()
        nodes = list(itemgetter(*feasible)(snapshot.node_infos))
        rows = state.feasible_rows  # set by find_feasible when it had them as an array
        if rows is None or len(rows) != len(feasible):
            rows = state.feasible_rows = np.asarray(feasible, np.int64)
        status = fwk.run_pre_score(state, pod, nodes)
        if not status.is_success():
            return None, None, status
        totals, status = fwk.run_score(state, pod, snapshot, rows)
        if not status.is_success():
            return None, None, status
        host = snapshot.node_infos[fwk.select_host(feasible, totals)].name
        self.phase_seconds["score"] += time.perf_counter() - filtered
        return host, None, Status()

    async def _binding_cycle(
        self,
        fwk: Framework,
        state: CycleState,
        info: QueuedPodInfo,
        assumed: Object,
        host: str,
        wait: float,
    ) -> None:
        cycle = self.queue.scheduling_cycle
        try:
            # Permit's waiting pod: allowed, rejected, or timed out (Success if not waiting).
            status = await fwk.wait_on_permit(assumed)
            binding = time.perf_counter()
            if status.is_success():
                status = await fwk.run_pre_bind(state, assumed, host)
            if status.is_success():
                status = await fwk.run_bind(state, assumed, host)
            self.phase_seconds["bind"] += time.perf_counter() - binding
        except asyncio.CancelledError:
            self.cache.forget_pod(assumed)
            self.queue.done(info.key)
            raise
        except Exception as err:
            log.exception("binding %s failed", info.key)
            status = error(str(err))
        if not status.is_success():
            fwk.run_unreserve(state, assumed, host)
            self.cache.forget_pod(assumed)
            # Rejected at Permit: upstream reports a FitError over the one node it had.
            rejected = status.is_rejected()
            info.error = not rejected
            info.unschedulable_plugins = {status.plugin} if rejected and status.plugin else set()
            message = (
                f"0/1 nodes are available: 1 {status.message}." if rejected else status.message
            )
            reason = "Unschedulable" if rejected else "SchedulerError"
            self._fail(fwk, info, cycle, message, reason, None)
            self.queue.move_all(ClusterEvent(ASSIGNED_POD, ActionType.DELETE), assumed, None)
            return
        self.cache.finish_binding(assumed, self.clock.now())
        self.queue.done(info.key)
        meta = assumed.get("metadata") or {}
        fwk.handle.recorder.eventf(
            _as_pod(assumed),
            None,
            "Normal",
            "Scheduled",
            "Binding",
            f"Successfully assigned {meta.get('namespace')}/{meta.get('name')} to {host}",
        )
        await fwk.run_post_bind(state, assumed, host)

    # -- failures ----------------------------------------------------------------------------

    def _fail(
        self,
        fwk: Framework,
        info: QueuedPodInfo,
        cycle: int,
        message: str,
        reason: str,
        nominated: str | None,
    ) -> None:
        """upstream handleSchedulingFailure: requeue, event, PodScheduled condition."""
        pod = info.pod
        key = info.key
        log.info("unable to schedule %s: %s", key, message)
        current = None
        if self._pod_lister is not None:
            ns, _, name = key.partition("/")
            current = self._pod_lister.get(name, ns)
        else:
            current = pod
        if current is None or _assigned(current):
            self.queue.done(key)
        else:
            info.pod = current
            self.queue.add_unschedulable(info, cycle)
        fwk.handle.recorder.eventf(
            _as_pod(pod), None, "Warning", "FailedScheduling", "Scheduling", _truncate(message)
        )
        if nominated is not None:
            fwk.handle.nominate(pod, nominated)
        target = current if current is not None else pod
        if current is None or _assigned(current) or self.client is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._update_status(target, reason, message, nominated)
        )
        self._status_writes.add(task)
        task.add_done_callback(self._status_writes.discard)

    async def _update_status(
        self, pod: Object, reason: str, message: str, nominated: str | None
    ) -> None:
        status = pod.get("status") or {}
        old = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None
        )
        condition: dict[str, Any] = {
            "type": "PodScheduled",
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": None,
        }
        same = old is not None and all(
            old.get(k) == condition[k] for k in ("status", "reason", "message")
        )
        nominated_changed = nominated is not None and nominated != status.get("nominatedNodeName")
        if same and not nominated_changed:
            return
        condition["lastTransitionTime"] = (
            old.get("lastTransitionTime")
            if old is not None and old.get("status") == "False"
            else now_rfc3339()
        )
        patch: dict[str, Any] = {
            "metadata": {"resourceVersion": (pod.get("metadata") or {}).get("resourceVersion")},
            "status": {"conditions": [condition]},
        }
        if nominated_changed:
            patch["status"]["nominatedNodeName"] = nominated
        meta = pod.get("metadata") or {}
        assert self.client is not None
        with contextlib.suppress(APIError):
            await self.client.patch(
                PODS,
                str(meta.get("name")),
                patch,
                namespace=meta.get("namespace"),
                patch_type="strategic",
                subresource="status",
            )
