"""`kube sim load`: clusterloader2-style workloads against a cluster of hollow nodes, with SLIs.

A run creates the namespaces, then the profile's Deployments (kube.sim.profiles) and a
ClusterIP Service over each, paced so pods are requested at `--pods-per-second`; waits for
them to be Running; scales each to 50-150 % (load, churn) and waits again; then deletes them
at the same pace and waits for the pods to go. `--duration` stops the creating early (the
run reports how far it got). Meanwhile it measures:

- pod startup latency: from the pod's creationTimestamp (whole seconds, so this errs long by
  up to 1 s, as upstream's does) to Running seen on a watch; also from first seen on the watch
  to Running (`watch_to_running`), which is not rounded;
- scheduling throughput: pods first seen bound to a node, per second, sampled every second;
- API call latency p50/p99 per verb and resource: the /metrics histograms' difference over
  the run (kube.sim.slis);
- CPU and RSS of every component process, sampled every second;
- Ready nodes and their Ready -> NotReady transitions on a node watch.

SIGINT or SIGTERM ends the run early with what it measured so far (`"interrupted": true`):
creating stops, the waits end, and only the namespaces are deleted, so a long run can be
time-boxed with `timeout -s INT 900 kube sim load ...`.

The exit code is 0 when the run went through every phase with pods Running, 1 when it was
cut short (`--duration`, a signal) or could not start (no Ready nodes, no cluster), 2 for bad
flags.

Everything the run creates carries the label `sim.kube.io/load=<run id>`, so its pod watch
sees only its own pods and a second run on the same cluster is independent of the first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import logging
import os
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.auth.kubeconfig import KubeconfigError, load_kubeconfig
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, Informer
from kube.client.rest import RESTClient
from kube.sim import profiles, slis
from kube.sim.hollow import node_is_ready

log = logging.getLogger("kube.sim")

PODS = resource("pods")
NODES = resource("nodes")
NAMESPACES = resource("namespaces")
SERVICES = resource("services")
DEPLOYMENTS = resource("deployments", "apps")

LOAD_LABEL = "sim.kube.io/load"
PODS_PER_NODE = 30  # clusterloader2's default density: pods per node the load test targets
CREATE_CONCURRENCY = 16


@dataclass
class LoadConfig:
    """What to run: the profile, how many pods where, how fast, and for how long at most."""

    profile: str = "load"
    pods: int | None = None  # None: PODS_PER_NODE per Ready node
    namespaces: int = 10
    pods_per_second: float = 10.0
    duration: float | None = None  # stop creating after this many seconds
    wait_timeout: float = 120.0  # per wait for Running / for deletion
    services: bool = True
    scale: bool = True
    delete: bool = True
    seed: int = 0
    sample_interval: float = 1.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6])


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class PodTracker:
    """This run's pods on one watch: when each was first seen, bound, and Running."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.seen: dict[str, float] = {}  # uid -> monotonic first seen
        self.scheduled: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.live: set[str] = set()
        self.live_running: set[str] = set()
        self.startup_ms: list[float] = []  # creationTimestamp -> Running watched
        self.watch_to_running_ms: list[float] = []

    def on_pod(self, pod: Object) -> None:
        meta = pod.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        now = time.monotonic()
        if meta.get("deletionTimestamp"):
            self.live.discard(uid)
            self.live_running.discard(uid)
            self.seen.setdefault(uid, now)
            return
        first = self.seen.setdefault(uid, now)
        self.live.add(uid)
        if (pod.get("spec") or {}).get("nodeName") and uid not in self.scheduled:
            self.scheduled[uid] = now
        if (pod.get("status") or {}).get("phase") == "Running":
            self.live_running.add(uid)
            if uid not in self.running:
                self.running[uid] = now
                created = _timestamp(meta.get("creationTimestamp"))
                if created is not None:
                    self.startup_ms.append(max(0.0, (time.time() - created) * 1000))
                self.watch_to_running_ms.append((now - first) * 1000)

    def on_gone(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        self.live.discard(uid)
        self.live_running.discard(uid)


class NodeTracker:
    """Ready nodes, and how often one went from Ready to not Ready, on a node watch."""

    def __init__(self) -> None:
        self.ready: dict[str, bool] = {}
        self.not_ready_transitions = 0

    def on_node(self, node: Object) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        now_ready = node_is_ready(node)
        if self.ready.get(name) and not now_ready:
            self.not_ready_transitions += 1
            log.warning("node %s went NotReady", name)
        self.ready[name] = now_ready

    def on_gone(self, obj: Object | DeletedFinalStateUnknown) -> None:
        node = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        self.ready.pop(str((node.get("metadata") or {}).get("name") or ""), None)

    @property
    def ready_count(self) -> int:
        return sum(self.ready.values())


ProgressFn = Callable[[str, dict[str, Any]], None]


class LoadRun:
    """One run of a profile against the cluster of `client`; `await run()` for the result."""

    def __init__(
        self,
        client: RESTClient,
        config: LoadConfig,
        components: dict[str, int] | None = None,
        progress: ProgressFn | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.progress = progress
        self.pods = PodTracker()
        self.nodes = NodeTracker()
        self.pod_informer = Informer(client, PODS, label_selector=f"{LOAD_LABEL}={config.run_id}")
        self.node_informer = Informer(client, NODES)
        self.watches = [slis.ProcessWatch(name, pid) for name, pid in (components or {}).items()]
        self.errors: Counter[str] = Counter()
        self.phases: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.phase = "starting"
        self.requested = 0  # pods asked for (sum of replicas as created or scaled up)
        self.expected = 0  # replicas the Deployments want now
        self.sem = asyncio.Semaphore(CREATE_CONCURRENCY)
        self.t0 = time.monotonic()
        self.stopped_early = False
        # Set (by SIGINT/SIGTERM in `kube sim load`) to end the run now with what it measured:
        # waits end, creating stops, the remaining phases but the namespaces' deletion are
        # skipped, and the result says `interrupted`.
        self.interrupted = asyncio.Event()

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        cfg = self.config
        self.pod_informer.add_event_handler(
            EventHandler(
                on_add=self.pods.on_pod,
                on_update=lambda _o, n: self.pods.on_pod(n),
                on_delete=self.pods.on_gone,
            )
        )
        self.node_informer.add_event_handler(
            EventHandler(
                on_add=self.nodes.on_node,
                on_update=lambda _o, n: self.nodes.on_node(n),
                on_delete=self.nodes.on_gone,
            )
        )
        self.pod_informer.start()
        self.node_informer.start()
        sampler = asyncio.create_task(self._sample_forever())
        load_before = os.getloadavg()
        try:
            await self._wait_synced()
            nodes = self.nodes.ready_count
            if nodes == 0:
                raise LoadError("no Ready nodes: start hollow nodes (kube sim up) first")
            total = cfg.pods if cfg.pods is not None else PODS_PER_NODE * nodes
            namespaces = [f"load-{cfg.run_id}-{i}" for i in range(cfg.namespaces)]
            groups = profiles.plan(cfg.profile, total, namespaces)
            before = slis.parse_histograms(await self._metrics())
            self.t0 = time.monotonic()
            self.pods.t0 = self.t0
            await self._phase("namespaces", self._create_namespaces(namespaces))
            created = await self._phase("create", self._create_all(groups))
            await self._phase("wait-running", self._wait_running())
            scale = cfg.scale and cfg.profile != "density" and not self.stopped_early
            if scale and not self.interrupted.is_set():
                await self._phase("scale", self._scale(created, profiles.scaled(created, cfg.seed)))
                await self._phase("wait-running", self._wait_running())
            if cfg.profile == "churn" and not self.interrupted.is_set():
                await self._phase("delete", self._delete(created))
                await self._phase("wait-deleted", self._wait_deleted())
                again = await self._phase("create", self._create_all(groups))
                await self._phase("wait-running", self._wait_running())
                created = again
            if cfg.delete and not self.interrupted.is_set():
                await self._phase("delete", self._delete(created))
                await self._phase("wait-deleted", self._wait_deleted())
            after = slis.parse_histograms(await self._metrics())
            if cfg.delete:
                await self._phase("namespaces-delete", self._delete_namespaces(namespaces))
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await self.pod_informer.stop()
            await self.node_informer.stop()
        return self._result(total, nodes, groups, slis.delta(after, before), load_before)

    async def _phase(self, name: str, work: Awaitable[Any]) -> Any:
        self.phase = name
        started = time.monotonic() - self.t0
        result = await work
        self.phases.append(
            {"name": name, "started_s": round(started, 2), "ended_s": round(self._t(), 2)}
        )
        return result

    def _t(self) -> float:
        return time.monotonic() - self.t0

    async def _wait_synced(self) -> None:
        deadline = time.monotonic() + self.config.wait_timeout
        while not (self.pod_informer.has_synced and self.node_informer.has_synced):
            if time.monotonic() > deadline:
                raise LoadError("the pod and node watches did not sync")
            await asyncio.sleep(0.1)

    async def _metrics(self) -> str:
        answer = await self.client.request("GET", "/metrics", accept="text/plain")
        return answer.body.decode()

    # -- creating, scaling, deleting ----------------------------------------------------------

    async def _call(self, what: str, func: Callable[[], Awaitable[Object]]) -> bool:
        async with self.sem:
            try:
                await func()
                return True
            except errors.APIError as err:
                self.errors[f"{what}: {err.reason or err.code}"] += 1
                log.warning("%s failed: %s", what, err)
            except (OSError, TimeoutError) as err:
                self.errors[f"{what}: {type(err).__name__}"] += 1
                log.warning("%s failed: %s", what, err)
            return False

    async def _paced(
        self, items: list[tuple[int, Callable[[], Coroutine[Any, Any, bool]]]]
    ) -> list[int]:
        """Start item i once the pods of items before it are due at the rate; the indices done."""
        rate = self.config.pods_per_second
        start = time.monotonic()
        budget = 0
        tasks: list[tuple[int, asyncio.Task[bool]]] = []
        deadline = self.t0 + self.config.duration if self.config.duration is not None else None
        for i, (pods, make) in enumerate(items):
            due = start + budget / rate
            if (deadline is not None and due >= deadline) or self.interrupted.is_set():
                self.stopped_early = True
                break
            if (wait := due - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.interrupted.wait(), wait)
                if self.interrupted.is_set():
                    self.stopped_early = True
                    break
            budget += pods
            tasks.append((i, asyncio.create_task(make())))
        done = []
        for i, task in tasks:
            if await task:
                done.append(i)
        return done

    async def _create_namespaces(self, names: list[str]) -> None:
        labels = {LOAD_LABEL: self.config.run_id}
        await asyncio.gather(
            *(
                self._call(
                    "create namespace",
                    lambda n=name: self.client.create(  # type: ignore[misc]
                        NAMESPACES, {"metadata": {"name": n, "labels": labels}}
                    ),
                )
                for name in names
            )
        )

    async def _create_all(self, groups: list[profiles.Group]) -> list[profiles.Group]:
        def make(g: profiles.Group) -> Callable[[], Coroutine[Any, Any, bool]]:
            async def create() -> bool:
                ok = await self._call(
                    "create deployment",
                    lambda: self.client.create(DEPLOYMENTS, self._deployment(g), g.namespace),
                )
                if ok:
                    self.requested += g.replicas
                    self.expected += g.replicas
                if ok and self.config.services:
                    await self._call(
                        "create service",
                        lambda: self.client.create(SERVICES, self._service(g), g.namespace),
                    )
                return ok

            return create

        done = await self._paced([(g.replicas, make(g)) for g in groups])
        return [groups[i] for i in done]

    async def _scale(self, old: list[profiles.Group], new: list[profiles.Group]) -> None:
        def make(
            was: profiles.Group, now: profiles.Group
        ) -> Callable[[], Coroutine[Any, Any, bool]]:
            async def scale() -> bool:
                patch = {"spec": {"replicas": now.replicas}}
                ok = await self._call(
                    "scale deployment",
                    lambda: self.client.patch(DEPLOYMENTS, now.name, patch, now.namespace),
                )
                if ok:
                    self.expected += now.replicas - was.replicas
                    self.requested += max(0, now.replicas - was.replicas)
                return ok

            return scale

        await self._paced(
            [(abs(n.replicas - o.replicas), make(o, n)) for o, n in zip(old, new, strict=True)]
        )

    async def _delete(self, groups: list[profiles.Group]) -> None:
        def make(g: profiles.Group) -> Callable[[], Coroutine[Any, Any, bool]]:
            async def delete() -> bool:
                ok = await self._call(
                    "delete deployment",
                    lambda: self.client.delete(
                        DEPLOYMENTS, g.name, g.namespace, propagation_policy="Background"
                    ),
                )
                if self.config.services:
                    await self._call(
                        "delete service", lambda: self.client.delete(SERVICES, g.name, g.namespace)
                    )
                return ok

            return delete

        saved, self.config.duration = self.config.duration, None  # deleting is never cut short
        try:
            await self._paced([(g.replicas, make(g)) for g in groups])
        finally:
            self.config.duration = saved
        self.expected = 0

    async def _delete_namespaces(self, names: list[str]) -> None:
        await asyncio.gather(
            *(
                self._call(
                    "delete namespace",
                    lambda n=name: self.client.delete(NAMESPACES, n),  # type: ignore[misc]
                )
                for name in names
            )
        )

    async def _wait_running(self) -> None:
        deadline = time.monotonic() + self.config.wait_timeout
        while len(self.pods.live_running) < self.expected and not self.interrupted.is_set():
            if time.monotonic() > deadline:
                self.errors["pods not Running in time"] += self.expected - len(
                    self.pods.live_running
                )
                return
            await asyncio.sleep(0.2)

    async def _wait_deleted(self) -> None:
        deadline = time.monotonic() + self.config.wait_timeout
        while self.pods.live and not self.interrupted.is_set():
            if time.monotonic() > deadline:
                self.errors["pods not gone in time"] += len(self.pods.live)
                return
            await asyncio.sleep(0.2)

    def _labels(self, g: profiles.Group) -> dict[str, str]:
        return {LOAD_LABEL: self.config.run_id, "group": g.name, "size": g.size}

    def _deployment(self, g: profiles.Group) -> Object:
        labels = self._labels(g)
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": g.name, "labels": labels},
            "spec": {
                "replicas": g.replicas,
                "selector": {"matchLabels": {LOAD_LABEL: self.config.run_id, "group": g.name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "pause",
                                "image": "registry.k8s.io/pause:3.10",
                                "resources": {"requests": {"cpu": "10m", "memory": "10Mi"}},
                            }
                        ]
                    },
                },
            },
        }

    def _service(self, g: profiles.Group) -> Object:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": g.name, "labels": self._labels(g)},
            "spec": {
                "selector": {LOAD_LABEL: self.config.run_id, "group": g.name},
                "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        }

    # -- sampling and the result ----------------------------------------------------------

    async def _sample_forever(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(self.config.sample_interval)

    def _sample(self) -> None:
        t = self._t()
        for watch in self.watches:
            watch.sample(t)
        row = {
            "t": round(t, 2),
            "phase": self.phase,
            "requested": self.requested,
            "created": len(self.pods.seen),
            "scheduled": len(self.pods.scheduled),
            "running": len(self.pods.running),
            "live": len(self.pods.live),
            "live_running": len(self.pods.live_running),
            "nodes_ready": self.nodes.ready_count,
        }
        self.timeline.append(row)
        if self.progress is not None:
            self.progress(self.phase, row)

    def _result(
        self,
        total: int,
        nodes: int,
        groups: list[profiles.Group],
        hist: slis.Histograms,
        load_before: tuple[float, float, float],
    ) -> dict[str, Any]:
        api = slis.api_latency(hist)
        startup = slis.percentiles(self.pods.startup_ms, (0.5, 0.9, 0.99))
        watch_run = slis.percentiles(self.pods.watch_to_running_ms, (0.5, 0.9, 0.99))
        mutating = slis.worst_mutating_p99(api)
        sched_times = sorted(self.pods.scheduled.values())
        sched_span = (sched_times[-1] - sched_times[0]) if len(sched_times) > 1 else 0.0
        per_second = [b["scheduled"] - a["scheduled"] for a, b in itertools.pairwise(self.timeline)]
        sizes = Counter(g.size for g in groups)
        return {
            "kind": "SimLoadResult",
            "profile": self.config.profile,
            "run_id": self.config.run_id,
            "nodes_ready": nodes,
            "namespaces": self.config.namespaces,
            "pods_per_second": self.config.pods_per_second,
            "pods_target": total,
            "deployments": dict(sizes),
            "pods_requested": self.requested,
            "pods_created": len(self.pods.seen),
            "pods_scheduled": len(self.pods.scheduled),
            "pods_running": len(self.pods.running),
            "stopped_early": self.stopped_early,
            "interrupted": self.interrupted.is_set(),
            "duration_s": round(self._t(), 2),
            "phases": self.phases,
            "pod_startup_ms": {
                "count": len(self.pods.startup_ms),
                **{k: round(v, 1) for k, v in startup.items()},
            },
            "watch_to_running_ms": {
                "count": len(self.pods.watch_to_running_ms),
                **{k: round(v, 1) for k, v in watch_run.items()},
            },
            "scheduling": {
                "pods": len(sched_times),
                "throughput_avg": round(len(sched_times) / sched_span, 1) if sched_span else 0.0,
                "throughput_max": max(per_second, default=0) / self.config.sample_interval,
            },
            "api_latency": api,
            "api_mutating_p99_ms": mutating,
            "slo": {
                "mutating_p99_ms_max": slis.MUTATING_SLO_MS,
                "mutating_ok": mutating is not None and mutating <= slis.MUTATING_SLO_MS,
                "pod_startup_p99_ms_max": slis.POD_STARTUP_SLO_MS,
                "pod_startup_ok": bool(startup) and startup["p99"] <= slis.POD_STARTUP_SLO_MS,
            },
            "nodes_not_ready_transitions": self.nodes.not_ready_transitions,
            "components": {w.name: w.summary() for w in self.watches},
            "timeline": self.timeline,
            "errors": dict(self.errors),
            "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
            "cpus": os.cpu_count(),
        }


class LoadError(Exception):
    """The run cannot start (no nodes, no watch): one line for the user."""


# -- the command ------------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`kube sim load`'s flags (the cluster flags are kube.cli.sim's)."""
    parser.add_argument("--profile", choices=profiles.PROFILES, default="load")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", help="the cluster, with its hollow nodes running")
    where.add_argument(
        "--with-control-plane",
        action="store_true",
        help="start a `kube server` and `kube sim up --nodes N` of its own",
    )
    parser.add_argument(
        "--nodes", type=_positive_int, default=100, help="hollow nodes (--with-control-plane)"
    )
    parser.add_argument("--namespaces", type=_positive_int, default=10)
    parser.add_argument(
        "--pods",
        type=_positive_int,
        default=None,
        help=f"pods to create (default {PODS_PER_NODE} per Ready node)",
    )
    parser.add_argument("--pods-per-second", type=_positive_float, default=10.0)
    parser.add_argument(
        "--duration", type=_positive_float, default=None, help="stop creating after S seconds"
    )
    parser.add_argument(
        "--wait-timeout",
        type=_positive_float,
        default=120.0,
        help="seconds to wait for pods Running (or gone) after each phase",
    )
    parser.add_argument("--no-services", action="store_true", help="Deployments only")
    parser.add_argument("--keep", action="store_true", help="do not delete at the end")
    parser.add_argument("--seed", type=int, default=0, help="the scale phase's random sizes")
    parser.add_argument(
        "--component",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="a process to sample (repeatable); default: every `kube` component of this user",
    )
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_of(args: argparse.Namespace) -> LoadConfig:
    return LoadConfig(
        profile=args.profile,
        pods=args.pods,
        namespaces=args.namespaces,
        pods_per_second=args.pods_per_second,
        duration=args.duration,
        wait_timeout=args.wait_timeout,
        services=not args.no_services,
        delete=not args.keep,
        seed=args.seed,
    )


def _named_pids(values: list[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, _, pid = value.rpartition("=")
        if not name or not pid.isdigit():
            raise LoadError(f"--component wants NAME=PID, not {value!r}")
        out[name] = int(pid)
    return out


@contextlib.asynccontextmanager
async def hollow_nodes(kubeconfig: Path, nodes: int) -> AsyncIterator[int]:
    """`kube sim up --nodes N` in a process of its own (the other core); yields its PID once
    every node is Ready, stops it by that PID at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kube.cli.main",
        "sim",
        "up",
        "--kubeconfig",
        str(kubeconfig),
        "--nodes",
        str(nodes),
        "--no-progress",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    drain: asyncio.Task[None] | None = None
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + max(60.0, nodes / 50)
        while True:
            if time.monotonic() > deadline:
                raise LoadError(f"{nodes} hollow nodes not Ready in time")
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 1.0)
            except TimeoutError:
                continue
            if not line:
                raise LoadError("kube sim up exited")
            if b"nodes Ready in" in line:
                break
        drain = asyncio.create_task(_drain(proc.stdout))
        yield proc.pid
    finally:
        if drain is not None:
            drain.cancel()
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


def _cluster_components(kubeconfig: Path) -> dict[str, int]:
    """The `kube` processes of the cluster `kubeconfig` names, when its server is on this
    machine (found by its port); every `kube` process of this user otherwise."""
    server = urlsplit(load_kubeconfig(kubeconfig).server)
    local = server.hostname in ("127.0.0.1", "localhost", "::1")
    if local and server.port is not None:
        found = slis.find_components(port=server.port)
        if found:
            return found
    return slis.find_components()


async def main(args: argparse.Namespace, kubeconfig: Path, own_control_plane: bool) -> int:
    """Run `kube sim load` against `kubeconfig`; print the table or the JSON; the exit code."""
    from rich.console import Console

    config = config_of(args)
    console = Console(stderr=True)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if own_control_plane:
                await stack.enter_async_context(hollow_nodes(kubeconfig, args.nodes))
                components = slis.find_components(descendants_of=os.getpid())
            elif args.component:
                components = _named_pids(args.component)
            else:
                components = _cluster_components(kubeconfig)
            components["kube sim load"] = os.getpid()
            client = RESTClient.from_kubeconfig(
                kubeconfig, qps=None, user_agent="kube-sim-load", protobuf=True
            )
            await stack.enter_async_context(client)
            bar = _progress_bar(console, enabled=not args.no_progress)
            run = LoadRun(client, config, components, bar.update)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, run.interrupted.set)
            with bar.live if bar.live is not None else contextlib.nullcontext():
                result = await run.run()
    except (LoadError, KubeconfigError, OSError, errors.APIError) as err:
        print(f"kube sim load: {err}", file=sys.stderr)
        return 1
    if args.output == "json":
        sys.stdout.write(orjson.dumps(result).decode() + "\n")
    else:
        Console().print(summary_table(result))
    finished = not result["stopped_early"] and not result["interrupted"]
    return 0 if result["pods_running"] > 0 and finished else 1


@dataclass
class _Bar:
    """A rich progress line on stderr (phase, pods requested/created/scheduled/Running)."""

    live: Any
    task: Any = None

    def update(self, phase: str, row: dict[str, Any]) -> None:
        if self.live is None:
            return
        text = (
            f"{phase:<14} requested {row['requested']:>6}  created {row['created']:>6}  "
            f"scheduled {row['scheduled']:>6}  running {row['live_running']:>6}  "
            f"nodes Ready {row['nodes_ready']}"
        )
        self.live.update(self.task, description=text, completed=row["live_running"])


def _progress_bar(console: Any, enabled: bool) -> _Bar:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not enabled or not console.is_terminal:
        return _Bar(None)
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    )
    return _Bar(progress, progress.add_task("starting", total=None))


def summary_table(result: dict[str, Any]) -> Any:
    """The figures a person reads first, against upstream's SLOs, and the busiest API calls."""
    from rich.table import Table

    table = Table(
        title=f"kube sim load --profile {result['profile']}: {result['nodes_ready']} nodes, "
        f"{result['pods_per_second']:g} pods/s requested"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("SLO")
    startup = result["pod_startup_ms"]
    mutating = result["api_mutating_p99_ms"]
    rows = [
        ("pods requested / created", f"{result['pods_requested']} / {result['pods_created']}", ""),
        ("pods Running (seen on the watch)", str(result["pods_running"]), ""),
        ("run time", f"{result['duration_s']:.0f} s", ""),
        (
            "pod startup p50 / p90 / p99",
            " / ".join(f"{startup.get(k, 0) / 1000:.2f}s" for k in ("p50", "p90", "p99")),
            "p99 <= 5 s " + ("ok" if result["slo"]["pod_startup_ok"] else "MISSED"),
        ),
        (
            "mutating API call p99 (worst)",
            f"{mutating:.0f} ms" if mutating is not None else "-",
            "<= 1 s " + ("ok" if result["slo"]["mutating_ok"] else "MISSED"),
        ),
        (
            "scheduling throughput avg / max",
            f"{result['scheduling']['throughput_avg']:.1f} / "
            f"{result['scheduling']['throughput_max']:.0f} pods/s",
            "",
        ),
        ("nodes Ready -> NotReady", str(result["nodes_not_ready_transitions"]), "0"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in result["errors"].items()) or "none", ""),
    ]
    for name, comp in result["components"].items():
        rows.append(
            (
                f"{name}: CPU avg / RSS max",
                f"{comp['cpu_avg_cores']:.2f} cores / {comp['rss_max_mb']:.0f} MiB",
                "",
            )
        )
    for row in result["api_latency"][:12]:
        what = f"{row['verb']} {row['resource']}" + (
            f"/{row['subresource']}" if row["subresource"] else ""
        )
        rows.append(
            (
                f"  {what} ({row['scope']}) x{row['count']}",
                f"p50 {row['p50_ms']:.0f} / p99 {row['p99_ms']:.0f} ms",
                "",
            )
        )
    for row_values in rows:
        table.add_row(*row_values)
    return table
