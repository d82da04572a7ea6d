"""Run upstream's scheduler_perf workloads against a real API server and report pods/s.

    kube bench scheduler --workload SchedulingBasic [--nodes N] [--init-pods N] [--pods N]
        [--output json]

As upstream's scheduler_perf: the API server runs as `kube server --controllers=
--disable-scheduler` in its own process (SQLite, no kubelets: nodes are objects, see
kube.perf.workloads for their shape); the scheduler runs in this process through an
unthrottled client, so its phases can be timed; the pods are created by a load generator in
a third process (kube.perf.loadgen), as upstream's come from other goroutines, so the
scheduler's figure does not pay for them. The nodes are created, then the initial pods,
which are scheduled before anything is measured; then the measured pods are created (with a
churn pod every 200 ms for PreemptionAsync and Unschedulable) and the number bound is sampled
every second.

Reported: the average pods/s over the measured pods (first create to last bind) and the
per-second samples; the p50/p90/p99 latency from a pod's create call to its bind as the
scheduler's informer saw it; the scheduler's time per phase over the measured phase (queue
wait, PreFilter+Filter, PreScore+Score, PreBind+Bind, from `Scheduler.phase_seconds`); the
Filter+Score time of the workload's measured pod over every node of the final snapshot with
the compiled kernels, the numpy ones and the per-node references; churn pods created and
bound, and low-priority pods preempted; the CPU seconds of the scheduler's process, the API
server and the load generator over the measured phase. A `rich` progress bar runs on stderr;
`--output json` prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kube import eventloop
from kube.api.resources import resource
from kube.client.eventsv1 import EventBroadcaster
from kube.client.informer import (
    DeletedFinalStateUnknown,
    EventHandler,
    SharedInformerFactory,
    trim_managed_fields,
)
from kube.client.rest import RESTClient
from kube.perf.cpu import CPUMeter, GCTimer
from kube.perf.loadgen import RemoteGenerator, pod_object
from kube.perf.server import kube_server
from kube.perf.workloads import HOSTNAME, NODE_PREFIX, NODE_STATUS, WORKLOADS, Object, Workload
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.scheduler import Scheduler

NODES = resource("nodes")
PODS = resource("pods")
NAMESPACES = resource("namespaces")
SERVICE_ACCOUNTS = resource("serviceaccounts")
CONCURRENCY = 32  # create calls in flight at once
STALL_TIMEOUT_S = 120.0  # give up on a phase after this long without one more pod bound
CHURN_SETTLE_S = 30.0  # how long schedulable churn pods get to bind after the measured pods
STOP_WAIT_S = 30.0  # after a stop, how long the load generator gets to finish its creates
PHASES = ("queue", "filter", "score", "bind")


@dataclass
class Result:
    """What one run measured; the JSON of `--output json`, field for field."""

    workload: str
    nodes: int
    init_pods: int
    measured_pods: int
    bound_pods: int
    all_bound: bool
    throughput_avg: float
    throughput_samples: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    stopped_early: bool = False  # SIGINT/SIGTERM ended the run: figures of the pods so far
    setup_seconds: dict[str, float] = field(default_factory=dict)  # nodes, initial pods
    latency_p50_ms: float = 0.0
    latency_p90_ms: float = 0.0
    latency_p99_ms: float = 0.0
    # Scheduler seconds per phase over the measured phase, and per measured pod in ms.
    phase_seconds: dict[str, float] = field(default_factory=dict)
    phase_ms_per_pod: dict[str, float] = field(default_factory=dict)
    # CPU seconds per process over the measured phase (harness: the scheduler's process;
    # server: `kube server`), and per measured pod in ms: steadier than pods/s on a shared box.
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_pod: dict[str, float] = field(default_factory=dict)
    # The scheduler's process: seconds in the cyclic garbage collector over the measured phase.
    gc_seconds: float = 0.0
    gc_collections: dict[str, int] = field(default_factory=dict)  # per generation
    kernel_native_us: float | None = None
    kernel_numpy_us: float | None = None
    kernel_reference_us: float | None = None
    kernel_speedup: float | None = None
    kernel_agree: bool | None = None
    churn_created: int = 0
    churn_bound: int = 0
    preempted: int = 0
    # The scheduler's events.k8s.io Events: written, and dropped by a full queue (1000).
    events_written: int = 0
    events_dropped: int = 0
    upstream_threshold: float | None = None
    target: float | None = None
    load_avg_start: list[float] = field(default_factory=list)
    load_avg_end: list[float] = field(default_factory=list)
    cpus: int = 0


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser, *, default_workload: str | None = None) -> None:
    """The flags; `default_workload` makes `--workload` optional (the bench/ shim)."""
    names = ", ".join(WORKLOADS)
    parser.add_argument(
        "--workload",
        choices=list(WORKLOADS),
        required=default_workload is None,
        default=default_workload,
        metavar="NAME",
        help=f"one of {names}",
    )
    parser.add_argument(
        "--nodes", type=positive_int, help="nodes to create (default: the workload's, 5000)"
    )
    parser.add_argument(
        "--init-pods", type=non_negative_int, help="pods scheduled before measuring"
    )
    parser.add_argument("--pods", type=positive_int, help="measured pods")
    parser.add_argument("--output", choices=["text", "json"], default="text")


# -- objects ---------------------------------------------------------------------------------


def node_object(i: int, workload: Workload) -> Object:
    name = f"{NODE_PREFIX}{i}"
    labels = {HOSTNAME: name, **workload.node_labels(i)}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


async def bounded(count: int, make: Callable[[int], Awaitable[None]]) -> None:
    """`make(0..count-1)`, at most CONCURRENCY at a time."""
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with semaphore:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(count)))


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Sizes:
    nodes: int
    init_pods: int
    pods: int


class Tracker:
    """What the shared pod informer saw: when each pod was bound, which pods went away."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.counts: dict[str, int] = {"init": 0, "measured": 0, "churn": 0}
        self.deleted: dict[str, int] = {"init": 0, "measured": 0, "churn": 0}
        # Set by SIGINT/SIGTERM: every phase ends and the figures so far are reported.
        self.stop = asyncio.Event()

    def _seen(self, pod: Object) -> None:
        name = pod["metadata"]["name"]
        if (pod.get("spec") or {}).get("nodeName") and name not in self.bound:
            self.bound[name] = time.monotonic()
            self.counts[name.partition("-")[0]] += 1

    def on_add(self, pod: Object) -> None:
        self._seen(pod)

    def on_update(self, old: Object, new: Object) -> None:
        self._seen(new)

    def on_delete(self, obj: Object | DeletedFinalStateUnknown) -> None:
        pod = obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
        self.deleted[pod["metadata"]["name"].partition("-")[0]] += 1


async def wait_bound(
    tracker: Tracker, kind: str, total: int, tick: Callable[[int], None], stall_s: float
) -> bool:
    """Until `total` pods of `kind` are bound; False after `stall_s` s without progress."""
    last, last_change = -1, time.monotonic()
    while tracker.counts[kind] < total and not tracker.stop.is_set():
        done = tracker.counts[kind]
        if done != last:
            last, last_change = done, time.monotonic()
            tick(done)
        elif time.monotonic() - last_change > stall_s:
            return False
        await asyncio.sleep(0.1)
    tick(tracker.counts[kind])
    return True


async def unless_stopped(tracker: Tracker, work: Awaitable[Any]) -> None:
    """Await `work`, or cancel it when the run is stopped first."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.create_task(tracker.stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, stopped):
            t.cancel()
        await asyncio.gather(task, stopped, return_exceptions=True)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    progress = Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=False,
    )
    with progress:
        yield progress


async def run_workload(
    workload: Workload,
    sizes: Sizes,
    kubeconfig: Path,
    progress: Progress,
    server_pid: int | None = None,
) -> Result:
    load_start = list(os.getloadavg())
    tracker = Tracker()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, tracker.stop.set)
    setup: dict[str, float] = {}
    t0 = time.monotonic()
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as client:
        for ns in workload.namespaces:
            await client.create(NAMESPACES, {"metadata": {"name": ns}})
            # With no controllers running nobody makes the namespace's `default` account,
            # which the ServiceAccount admission requires; no token is mounted, as in
            # upstream's scheduler_perf (whose API server runs without that admission).
            await client.create(
                SERVICE_ACCOUNTS,
                {"metadata": {"name": "default"}, "automountServiceAccountToken": False},
                namespace=ns,
            )

        node_task = progress.add_task("nodes", total=sizes.nodes, rate="")

        async def make_node(i: int) -> None:
            await client.create(NODES, node_object(i, workload))
            await client.patch(NODES, f"{NODE_PREFIX}{i}", NODE_STATUS, subresource="status")
            progress.advance(node_task)

        await unless_stopped(tracker, bounded(sizes.nodes, make_node))
        setup["nodes"] = round(time.monotonic() - t0, 1)
        progress.console.print(f"{sizes.nodes} nodes created in {setup['nodes']} s")

        generator = await RemoteGenerator.start(kubeconfig, workload.name)
        # Upstream's harness starts its scheduler with an events.k8s.io broadcaster: every
        # bound pod costs a Scheduled Event write, as in a real cluster.
        broadcaster = EventBroadcaster(client)
        broadcaster.start()
        scheduler = Scheduler(
            client, recorder=broadcaster.new_recorder("default-scheduler"), seed=1
        )
        # As `kube scheduler` and upstream's scheduler (whose pod informer scheduler_perf uses):
        # managedFields are dropped before caching; nothing in the scheduler reads them.
        informers = SharedInformerFactory(client, transform=trim_managed_fields)
        informers.informer(PODS).add_event_handler(
            EventHandler(
                on_add=tracker.on_add, on_update=tracker.on_update, on_delete=tracker.on_delete
            )
        )
        ready = asyncio.Event()
        scheduling = asyncio.create_task(scheduler.run(informers, ready))
        churn: asyncio.Future[list[float]] | None = None
        meter = CPUMeter({"harness": None, "server": server_pid, "loadgen": generator.pid})
        gc_timer = GCTimer()
        try:
            await unless_stopped(tracker, ready.wait())
            t0 = time.monotonic()
            init_task = progress.add_task("initial pods", total=sizes.init_pods, rate="")
            await created(
                tracker,
                generator,
                generator.create("init", "init", workload.init_namespace, sizes.init_pods),
                "init",
            )
            await wait_bound(
                tracker,
                "init",
                sizes.init_pods,
                lambda n: progress.update(init_task, completed=n),
                STALL_TIMEOUT_S,
            )
            setup["init_pods"] = round(time.monotonic() - t0, 1)
            progress.console.print(
                f"{tracker.counts['init']} initial pods bound in {setup['init_pods']} s"
            )

            before = dict(getattr(scheduler, "phase_seconds", {}))
            measured_task = progress.add_task("measured pods", total=sizes.pods, rate="")
            meter.start()
            gc_timer.start()
            start = time.monotonic()
            if workload.churn_template is not None:
                churn = generator.churn(
                    "churn", workload.measured_namespace, workload.churn_interval_s
                )
            creating = asyncio.ensure_future(
                created(
                    tracker,
                    generator,
                    generator.create(
                        "measured", "measured", workload.measured_namespace, sizes.pods
                    ),
                    "measured",
                )
            )
            samples = await sample(tracker, sizes.pods, progress, measured_task)
            await creating
            meter.stop()
            gc_timer.stop()
            after = dict(getattr(scheduler, "phase_seconds", {}))
            if churn is not None:
                generator.stop("churn")
                await created(tracker, generator, churn, "churn")
                churn = None
                if workload.churn_schedulable:
                    churn_total = sum(1 for n in tracker.created if n.startswith("churn-"))
                    settle = progress.add_task("churn pods", total=churn_total, rate="")
                    await wait_bound(
                        tracker,
                        "churn",
                        churn_total,
                        lambda n: progress.update(settle, completed=n),
                        CHURN_SETTLE_S,
                    )
        finally:
            gc_timer.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            if churn is not None:
                churn.cancel()
            await generator.close()
            scheduling.cancel()
            await asyncio.gather(scheduling, return_exceptions=True)
            await broadcaster.stop()
        measured = [n for n in tracker.bound if n.startswith("measured-")]
        end = max((tracker.bound[n] for n in measured), default=time.monotonic())
        latencies = sorted(
            (tracker.bound[n] - tracker.created[n]) * 1000 for n in measured if n in tracker.created
        )
        phases = {k: round(after.get(k, 0.0) - before.get(k, 0.0), 3) for k in PHASES}
        cpu = meter.seconds
        kernel = kernel_times(
            scheduler.cache.snapshot(),
            pod_object(workload.measured_template, "kernel-probe", workload.measured_namespace),
        )
        return Result(
            workload=workload.name,
            nodes=sizes.nodes,
            init_pods=sizes.init_pods,
            measured_pods=sizes.pods,
            bound_pods=len(measured),
            all_bound=len(measured) == sizes.pods,
            throughput_avg=round(len(measured) / max(end - start, 1e-9), 1),
            throughput_samples=samples,
            duration_s=round(end - start, 2),
            stopped_early=tracker.stop.is_set(),
            setup_seconds=setup,
            latency_p50_ms=round(statistics.median(latencies), 1) if latencies else 0.0,
            latency_p90_ms=round(percentile(latencies, 0.90), 1),
            latency_p99_ms=round(percentile(latencies, 0.99), 1),
            phase_seconds=phases,
            phase_ms_per_pod={
                k: round(v * 1000 / max(len(measured), 1), 3) for k, v in phases.items()
            },
            cpu_seconds=cpu,
            gc_seconds=round(gc_timer.seconds, 3),
            gc_collections={str(k): v for k, v in sorted(gc_timer.collections.items())},
            cpu_ms_per_pod={k: round(v * 1000 / max(len(measured), 1), 3) for k, v in cpu.items()},
            churn_created=sum(1 for n in tracker.created if n.startswith("churn-")),
            churn_bound=tracker.counts["churn"],
            preempted=tracker.deleted["init"],
            events_written=broadcaster.written,
            events_dropped=broadcaster.dropped,
            upstream_threshold=workload.upstream_threshold,
            target=workload.target,
            load_avg_start=[round(x, 2) for x in load_start],
            load_avg_end=[round(x, 2) for x in os.getloadavg()],
            cpus=os.cpu_count() or 0,
            **kernel,
        )


async def created(
    tracker: Tracker,
    generator: RemoteGenerator,
    future: asyncio.Future[list[float]],
    kind: str,
) -> None:
    """Wait for the load generator's create times of `kind` and keep them in the tracker.

    When the run is stopped first (SIGINT/SIGTERM) the generator is told to start no more
    creates of `kind` and answers with the times of those it made, so the latencies of a
    stopped run are those of the pods that were created.
    """
    stopped: asyncio.Future[Any] = asyncio.ensure_future(tracker.stop.wait())
    try:
        await asyncio.wait([future, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not future.done():
        generator.stop(kind)
        await asyncio.wait_for(asyncio.shield(future), STOP_WAIT_S)
    for i, stamp in enumerate(future.result()):
        if stamp:
            tracker.created[f"{kind}-{i}"] = stamp


async def sample(tracker: Tracker, total: int, progress: Progress, task: Any) -> list[int]:
    """Measured pods bound in each whole second, like upstream's throughput collector.

    Polled every 100 ms so a short run ends when its last pod is bound, not at the next
    second; the last, partial second is not a sample (it would read as a slowdown).
    """
    samples: list[int] = []
    at_second, next_second = 0, time.monotonic() + 1.0
    last, last_change = 0, time.monotonic()
    while tracker.counts["measured"] < total and not tracker.stop.is_set():
        await asyncio.sleep(0.1)
        now, done = time.monotonic(), tracker.counts["measured"]
        if now >= next_second:
            samples.append(done - at_second)
            at_second, next_second = done, next_second + 1.0
            progress.update(task, completed=done, rate=f"{samples[-1]} pods/s")
        if done != last:
            last, last_change = done, now
        elif now - last_change > STALL_TIMEOUT_S:
            break
    progress.update(task, completed=tracker.counts["measured"])
    return samples


# -- kernels on the final snapshot -----------------------------------------------------------


def kernel_times(snapshot: Snapshot, pod: Object) -> dict[str, Any]:
    """Filter+Score of one pod over every node of `snapshot`: compiled, numpy, per-node.

    The built-in plugins that have vectorised kernels (NodeUnschedulable, NodeName,
    TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit as Filters; NodeResourcesFit,
    BalancedAllocation, TaintToleration, NodeAffinity as Scores), the same set as
    bench/test_scheduler_kernels.py; the per-node references are the plugins' own
    `filter`/`score`, which are the spec. Best of several rounds.
    """
    from kube.scheduler import kernels
    from kube.scheduler.plugins import (
        balancedallocation,
        nodeaffinity,
        nodeports,
        noderesourcesfit,
        tainttoleration,
    )
    from kube.scheduler.plugins.balancedallocation import BalancedAllocation
    from kube.scheduler.plugins.nodeaffinity import NodeAffinity
    from kube.scheduler.plugins.nodename import NodeName
    from kube.scheduler.plugins.nodeports import NodePorts
    from kube.scheduler.plugins.noderesourcesfit import NodeResourcesFit
    from kube.scheduler.plugins.nodeunschedulable import NodeUnschedulable
    from kube.scheduler.plugins.tainttoleration import TaintToleration

    filters: list[Any] = [
        NodeUnschedulable(),
        NodeName(),
        TaintToleration(),
        NodeAffinity(),
        NodePorts(),
        NodeResourcesFit(),
    ]
    scorers: list[Any] = [
        NodeResourcesFit(),
        BalancedAllocation(),
        TaintToleration(),
        NodeAffinity(),
    ]

    def vectorised() -> list[int]:
        state = CycleState()
        alive = np.ones(len(snapshot), np.bool_)
        for plugin in filters:
            if hasattr(plugin, "pre_filter"):
                plugin.pre_filter(state, pod, snapshot)
            alive &= plugin.filter_nodes(state, pod, snapshot).codes == 0
        rows = np.flatnonzero(alive)
        total = np.zeros(len(rows), np.int64)
        for plugin in scorers:
            total += plugin.score_nodes(state, pod, snapshot, rows)
        return [int(x) for x in total]

    def per_node() -> list[int]:
        state = CycleState()
        for plugin in filters:
            if hasattr(plugin, "pre_filter"):
                plugin.pre_filter(state, pod, snapshot)
        feasible = [
            info
            for info in snapshot.node_infos
            if all(p.filter(state, pod, info).is_success() for p in filters)
        ]
        return [sum(p.score(state, pod, info)[0] for p in scorers) for info in feasible]

    def timed(fn: Callable[[], Any], rounds: int) -> float:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return round(best * 1e6, 1)

    out: dict[str, Any] = {}
    try:
        native = vectorised()
        out["kernel_native_us"] = timed(vectorised, 50)
        reference = per_node()
        out["kernel_reference_us"] = timed(per_node, 3)
    except Exception as err:  # a kernel API in flux must not lose the run's figures
        print(f"kernel timing skipped: {err}", file=sys.stderr)
        return out
    out["kernel_agree"] = native == reference
    if out["kernel_native_us"]:
        out["kernel_speedup"] = round(out["kernel_reference_us"] / out["kernel_native_us"], 1)
    modules = (tainttoleration, nodeaffinity, noderesourcesfit, balancedallocation, nodeports)
    names = {k.name for k in kernels.KERNELS}
    saved = [
        (m, a, getattr(m, a))
        for m in modules
        for a in dir(m)
        if a.startswith("_") and a.lstrip("_") in names
    ]
    try:
        for module, attr, _ in saved:
            setattr(module, attr, kernels.numpy_version(attr.lstrip("_")))
        out["kernel_numpy_us"] = timed(vectorised, 20)
    except Exception as err:
        print(f"numpy kernel timing skipped: {err}", file=sys.stderr)
    finally:
        for module, attr, fn in saved:
            setattr(module, attr, fn)
    return out


# -- the command -----------------------------------------------------------------------------


def sizes_for(args: argparse.Namespace, workload: Workload) -> Sizes:
    return Sizes(
        nodes=args.nodes if args.nodes is not None else workload.nodes,
        init_pods=args.init_pods if args.init_pods is not None else workload.init_pods,
        pods=args.pods if args.pods is not None else workload.pods,
    )


def report(result: Result) -> str:
    lines = [
        f"{result.workload}: {result.nodes} nodes, {result.init_pods} initial pods, "
        f"{result.bound_pods}/{result.measured_pods} measured pods bound"
        + (" (stopped early)" if result.stopped_early else ""),
        f"  throughput   {result.throughput_avg} pods/s average"
        + (f" (target {result.target:g})" if result.target else "")
        + (
            f", upstream CI floor {result.upstream_threshold:g}"
            if result.upstream_threshold
            else ""
        ),
        f"  samples      {result.throughput_samples}",
        f"  latency      p50 {result.latency_p50_ms} ms, p90 {result.latency_p90_ms} ms, "
        f"p99 {result.latency_p99_ms} ms",
        "  phases       "
        + ", ".join(
            f"{k} {v} s ({result.phase_ms_per_pod[k]} ms/pod)"
            for k, v in result.phase_seconds.items()
        ),
        f"  kernels      native {result.kernel_native_us} us, numpy {result.kernel_numpy_us} us, "
        f"per-node {result.kernel_reference_us} us (x{result.kernel_speedup}, "
        f"agree: {result.kernel_agree})",
    ]
    if result.churn_created:
        lines.append(
            f"  churn        {result.churn_created} created, {result.churn_bound} bound, "
            f"{result.preempted} preempted"
        )
    lines.append(
        f"  load         {result.load_avg_start} -> {result.load_avg_end} ({result.cpus} CPUs)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    workload = WORKLOADS[args.workload]
    sizes = sizes_for(args, workload)
    if not getattr(args, "verbose", False):
        # One "unable to schedule" line per failed attempt would drown the progress bar.
        logging.getLogger("kube").setLevel(logging.WARNING)
    with (
        kube_server(
            # As upstream's scheduler_perf: no controllers, so no ServiceAccount admission.
            extra_args=[
                "--controllers=",
                "--disable-scheduler",
                "--disable-admission-plugins=ServiceAccount",
            ]
        ) as server,
        progress_bar(enabled=True) as progress,
    ):
        result = eventloop.run(
            run_workload(workload, sizes, server.kubeconfig, progress, server.pid)
        )
    if args.output == "json":
        print(json.dumps(asdict(result)))
    else:
        print(report(result))
    return 0 if result.all_bound else 1
