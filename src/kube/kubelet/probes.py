"""Liveness, readiness and startup probes, as upstream's prober manager and workers.

One worker (an asyncio task) per (pod, container, probe kind) whose container spec has that
probe. Each period it probes the container's current instance and feeds the outcome to a
`ProbeState`, the pure threshold state machine (upstream's worker.doProbe):

- a result is published only after `failureThreshold` consecutive failures or
  `successThreshold` consecutive successes; until then the previous result stands;
- the initial result is Failure for readiness (not ready until a probe succeeds), Success for
  liveness and "not yet" for startup; a new container instance starts afresh;
- nothing is probed before `initialDelaySeconds` since the container started, and liveness
  and readiness wait until the startup probe (if any) has succeeded;
- after a liveness or startup failure is published the worker holds (the kubelet kills the
  container) until a new instance appears.

Every failed probe records an Unhealthy event ("Liveness probe failed: <output>"), as upstream.
A published change pokes the pod's worker (`on_change(uid)`), which then reads `probed()` to
set `started`/`ready` or kills a container that failed its liveness or startup probe.
Time comes from an injected `Clock` (FakeClock in tests) and wall time for the start delay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.client.clock import Clock, RealClock
from kube.cri.client import RuntimeClient
from kube.kubelet.grpcprobe import grpc_action
from kube.kubelet.handlers import exec_action, http_action, resolve_port, tcp_action
from kube.kubelet.status import ContainerInfo, Probed, is_sidecar

log = logging.getLogger("kube.kubelet.probes")

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
KINDS = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
TITLES = {LIVENESS: "Liveness", READINESS: "Readiness", STARTUP: "Startup"}
# A new instance's result: alive, not ready, not yet started.
INITIAL: dict[str, bool | None] = {LIVENESS: True, READINESS: False, STARTUP: None}


@dataclass(frozen=True)
class Timing:
    """A probe's timing fields with upstream's defaults."""

    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: dict[str, Any], kind: str) -> Timing:
        success = int(probe.get("successThreshold") or 1)
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            # Liveness and startup probes must have successThreshold 1 (validation says so).
            success_threshold=success if kind == READINESS else 1,
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


@dataclass
class ProbeState:
    """The threshold state machine of one probe on one container instance."""

    kind: str
    timing: Timing
    container_id: str = ""
    result: bool | None = None  # the published result (None: startup not yet known)
    last: bool | None = None
    run: int = 0
    on_hold: bool = False

    def reset(self, container_id: str) -> None:
        """A new container instance: the initial result, counters cleared, no hold."""
        self.container_id = container_id
        self.result = INITIAL[self.kind]
        self.last, self.run, self.on_hold = None, 0, False

    def observe(self, ok: bool) -> bool:
        """One probe outcome; True when the published result changed."""
        if ok == self.last:
            self.run += 1
        else:
            self.last, self.run = ok, 1
        if (not ok and self.run < self.timing.failure_threshold) or (
            ok and self.run < self.timing.success_threshold
        ):
            return False
        changed = self.result != ok
        self.result = ok
        if not ok and self.kind in (LIVENESS, STARTUP):
            self.on_hold, self.run = True, 0  # the container is restarted; wait for the next
        return changed


@dataclass
class Target:
    """What a worker probes: the pod, the container spec and its current running instance."""

    pod: dict[str, Any]
    container: dict[str, Any]
    container_id: str = ""
    started_at: float = 0.0  # wall seconds
    running: bool = False
    pod_ip: str = ""


# (kind, probe spec, target) -> (ok, output)
Runner = Callable[[str, dict[str, Any], Target], Awaitable[tuple[bool, str]]]
# (pod, container name, event type, reason, message)
EventSink = Callable[[dict[str, Any], str, str, str, str], None]


@dataclass
class Worker:
    state: ProbeState
    probe: dict[str, Any]
    target: Target
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class ProbeManager:
    """The probe workers of every pod on the node and their published results."""

    def __init__(
        self,
        runner: Runner,
        on_change: Callable[[str], None],
        events: EventSink,
        *,
        clock: Clock | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.runner = runner
        self.on_change = on_change
        self.events = events
        self.clock = clock or RealClock()
        self.wall = wall
        self.workers: dict[tuple[str, str, str], Worker] = {}

    def update(
        self,
        pod: dict[str, Any],
        containers: list[dict[str, Any]],
        current: dict[str, tuple[str, bool, float]],
        pod_ip: str,
    ) -> None:
        """Starts the workers `containers` need and tells them the current instances.

        `current` maps a container name to (container id, running, started_at wall seconds).
        """
        uid = str(pod["metadata"]["uid"])
        for container in containers:
            name = str(container["name"])
            for kind, key in KINDS.items():
                probe = container.get(key)
                if not isinstance(probe, dict):
                    continue
                worker = self.workers.get((uid, name, kind))
                if worker is None:
                    state = ProbeState(kind, Timing.of(probe, kind))
                    state.reset("")
                    worker = Worker(state, probe, Target(pod, container))
                    self.workers[(uid, name, kind)] = worker
                    worker.task = asyncio.create_task(
                        self._run(uid, name, worker), name=f"probe-{kind}-{uid}-{name}"
                    )
                target = worker.target
                target.pod, target.container, target.pod_ip = pod, container, pod_ip
                cid, running, started_at = current.get(name, ("", False, 0.0))
                fresh = cid != target.container_id or running != target.running
                target.container_id, target.running, target.started_at = cid, running, started_at
                if fresh:
                    worker.wake.set()

    def update_pod(
        self, pod: dict[str, Any], containers: dict[str, list[ContainerInfo]], pod_ip: str
    ) -> None:
        """`update` for a pod's probed containers (sidecars and containers) from the runtime."""
        spec = pod.get("spec") or {}
        current = {
            name: (h[-1].id, h[-1].state == pb.CONTAINER_RUNNING, h[-1].started_at / 1e9)
            for name, h in containers.items()
            if h
        }
        probed = [
            *(c for c in spec.get("initContainers") or [] if is_sidecar(c)),
            *(spec.get("containers") or []),
        ]
        self.update(pod, probed, current, pod_ip)

    def probed_pod(self, uid: str, containers: dict[str, list[ContainerInfo]]) -> dict[str, Probed]:
        """`probed` of each container's current instance."""
        return {
            name: self.probed(uid, name, history[-1].id)
            for name, history in containers.items()
            if history
        }

    def probed(self, uid: str, name: str, container_id: str) -> Probed:
        """started/ready of one container instance from its probes' published results."""
        started = ready = True
        if (STARTUP, True) in self._results(uid, name, container_id):
            started = self._result(uid, name, STARTUP, container_id) is True
        if (READINESS, True) in self._results(uid, name, container_id):
            ready = self._result(uid, name, READINESS, container_id) is True
        return Probed(started=started, ready=ready)

    def failed(self, uid: str, name: str, container_id: str) -> str | None:
        """ "liveness" or "startup" when that probe failed this instance (it must restart)."""
        for kind in (LIVENESS, STARTUP):
            if (uid, name, kind) in self.workers and (
                self._result(uid, name, kind, container_id) is False
            ):
                return kind
        return None

    def _results(self, uid: str, name: str, container_id: str) -> set[tuple[str, bool]]:
        """Which kinds of probe the container has: {(kind, True)}."""
        return {(kind, True) for kind in KINDS if (uid, name, kind) in self.workers}

    def _result(self, uid: str, name: str, kind: str, container_id: str) -> bool | None:
        state = self.workers[(uid, name, kind)].state
        if state.container_id != container_id:
            return INITIAL[kind]
        return state.result

    async def remove(self, uid: str) -> None:
        """Stops the pod's workers (the pod is being terminated or is gone)."""
        tasks = []
        for key in [k for k in self.workers if k[0] == uid]:
            task = self.workers.pop(key).task
            if task is not None:
                task.cancel()
                tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        for uid in {k[0] for k in self.workers}:
            await self.remove(uid)

    async def _run(self, uid: str, name: str, worker: Worker) -> None:
        while True:
            worker.wake.clear()
            try:
                await self.probe_once(uid, name, worker)
            except Exception:  # a probe must never end its worker
                log.exception("probe of %s/%s failed unexpectedly", uid, name)
            sleeper = asyncio.ensure_future(self.clock.sleep(worker.state.timing.period))
            waker = asyncio.ensure_future(worker.wake.wait())
            try:
                await asyncio.wait([sleeper, waker], return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    async def probe_once(self, uid: str, name: str, worker: Worker) -> None:
        """One doProbe: skip when there is nothing to probe yet, else probe and publish."""
        state, target = worker.state, worker.target
        if target.container_id != state.container_id:
            state.reset(target.container_id)
        if not target.running or not target.container_id or state.on_hold:
            return
        if state.kind != STARTUP and self.probed(uid, name, state.container_id).started is False:
            return
        if state.kind == STARTUP and state.result is True:
            return
        if self.wall() - target.started_at < state.timing.initial_delay:
            return
        ok, output = await self.runner(state.kind, worker.probe, target)
        if target.container_id != state.container_id:
            return  # the instance changed while probing: this result is about the old one
        if not ok:
            message = f"{TITLES[state.kind]} probe failed: {output}"
            self.events(target.pod, name, "Warning", "Unhealthy", message)
        if state.observe(ok):
            self.on_change(uid)


async def run_probe(
    cri: RuntimeClient, kind: str, probe: dict[str, Any], target: Target
) -> tuple[bool, str]:
    """Runs one probe of the target container: exec (CRI ExecSync), httpGet, tcpSocket or
    grpc (Health/Check on the pod IP)."""
    seconds = Timing.of(probe, kind).timeout
    if isinstance(probe.get("exec"), dict):
        command = [str(c) for c in probe["exec"].get("command") or []]
        ok, output, _error = await exec_action(cri, target.container_id, command, seconds)
        return ok, output
    if isinstance(probe.get("httpGet"), dict):
        return await http_action(probe["httpGet"], target.container, target.pod_ip, seconds)
    if isinstance(probe.get("tcpSocket"), dict):
        tcp = probe["tcpSocket"]
        try:
            port = resolve_port(tcp.get("port"), target.container)
        except ValueError as err:
            return False, str(err)
        return await tcp_action(str(tcp.get("host") or target.pod_ip), port, seconds)
    if isinstance(probe.get("grpc"), dict):
        check = probe["grpc"]
        service = str(check.get("service") or "")
        return await grpc_action(target.pod_ip, int(check.get("port") or 0), service, seconds)
    return False, "probe has no supported handler (exec, httpGet, tcpSocket, grpc)"
