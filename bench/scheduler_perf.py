"""scheduler_perf-style workloads against a real `kube server` (SQLite, no kubelets).

    python -m bench.scheduler_perf --workload SchedulingBasic --nodes 100 --init-pods 100 \
        --pods 500 [--output json]

As upstream's scheduler_perf: the API server runs as `kube server --controllers=
--disable-scheduler` in its own process; nodes are objects (4 CPUs, 32 Gi, 110 pods, Ready,
as node-default.yaml); the scheduler runs in this process (so its phases can be timed) through
an unthrottled client. The initial pods are created and scheduled first; then the measured
pods are created and the number bound is sampled every second. Reported: the average pods/s
over the measured pods (first create to last bind), the per-second samples, the p50/p99
latency from a pod's creation to its bind as the scheduler's informer saw it, and the
Filter+Score time of one pod over all nodes with the compiled and the numpy kernels and with
the per-node references on the final snapshot.

Only SchedulingBasic exists so far (pod-default: 100m CPU, 500 Mi); the other workloads of
the issue (TopologySpreading, SchedulingPodAntiAffinity, ...) are the next step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.api_server import kube_server
from kube.api.resources import resource
from kube.client.informer import EventHandler, SharedInformerFactory
from kube.client.rest import RESTClient
from kube.scheduler.scheduler import Scheduler

NODES = resource("nodes")
PODS = resource("pods")
NAMESPACES = resource("namespaces")
NS = "sched-perf"
CONCURRENCY = 32


@dataclass
class Result:
    workload: str
    nodes: int
    init_pods: int
    measured_pods: int
    throughput_avg: float
    throughput_samples: list[int] = field(default_factory=list)
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    kernel_native_us: float = 0.0
    kernel_numpy_us: float = 0.0
    kernel_reference_us: float = 0.0


def node_object(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"scheduler-perf-{i}",
            "labels": {"kubernetes.io/hostname": f"scheduler-perf-{i}"},
        },
    }


NODE_STATUS = {
    "status": {
        "capacity": {"pods": "110", "cpu": "4", "memory": "32Gi"},
        "allocatable": {"pods": "110", "cpu": "4", "memory": "32Gi"},
        "conditions": [{"type": "Ready", "status": "True"}],
        "phase": "Running",
    }
}


def pod_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "containers": [
                {
                    "name": "pause",
                    "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
                }
            ]
        },
    }


async def bounded(count: int, make: Callable[[int], Any]) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with semaphore:
            await make(i)

    await asyncio.gather(*(one(i) for i in range(count)))


def progress(text: str) -> None:
    print(f"\r{text:<70}", end="", file=sys.stderr, flush=True)


async def run_workload(args: argparse.Namespace, kubeconfig: Any) -> Result:
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as client:
        await client.create(NAMESPACES, {"metadata": {"name": NS}})

        async def make_node(i: int) -> None:
            await client.create(NODES, node_object(i))
            await client.patch(NODES, f"scheduler-perf-{i}", NODE_STATUS, subresource="status")

        await bounded(args.nodes, make_node)
        progress(f"{args.nodes} nodes created")

        scheduler = Scheduler(client, seed=1)
        informers = SharedInformerFactory(client)
        created: dict[str, float] = {}
        bound: dict[str, float] = {}

        def seen(old: dict[str, Any], new: dict[str, Any]) -> None:
            name = new["metadata"]["name"]
            if (new.get("spec") or {}).get("nodeName") and name not in bound:
                bound[name] = time.monotonic()

        informers.informer(PODS).add_event_handler(EventHandler(on_update=seen))
        ready = asyncio.Event()
        task = asyncio.create_task(scheduler.run(informers, ready))
        await ready.wait()
        try:

            async def make_pod(prefix: str, i: int) -> None:
                name = f"{prefix}-{i}"
                created[name] = time.monotonic()
                await client.create(PODS, pod_object(name), namespace=NS)

            await bounded(args.init_pods, lambda i: make_pod("init", i))
            while sum(1 for n in bound if n.startswith("init-")) < args.init_pods:
                progress(f"initial pods bound: {len(bound)}/{args.init_pods}")
                await asyncio.sleep(0.2)
            start = time.monotonic()
            samples: list[int] = []
            creating = asyncio.create_task(bounded(args.pods, lambda i: make_pod("measured", i)))
            last = 0
            while True:
                await asyncio.sleep(1.0)
                done = sum(1 for n in bound if n.startswith("measured-"))
                samples.append(done - last)
                last = done
                progress(f"measured pods bound: {done}/{args.pods} ({samples[-1]} pods/s)")
                if done >= args.pods:
                    break
            await creating
            measured = [n for n in bound if n.startswith("measured-")]
            end = max(bound[n] for n in measured)
            latencies = sorted((bound[n] - created[n]) * 1000 for n in measured)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        print(file=sys.stderr)
        kernel = kernel_times(scheduler)
        return Result(
            workload=args.workload,
            nodes=args.nodes,
            init_pods=args.init_pods,
            measured_pods=args.pods,
            throughput_avg=round(args.pods / (end - start), 1),
            throughput_samples=samples,
            latency_p50_ms=round(statistics.median(latencies), 1),
            latency_p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
            **kernel,
        )


def kernel_times(scheduler: Scheduler) -> dict[str, float]:
    """Filter+Score of one pod over the final snapshot: compiled, numpy, per-node."""
    from bench.test_scheduler_kernels import per_node, vectorised
    from kube.scheduler import kernels
    from kube.scheduler.plugins import (
        balancedallocation,
        nodeaffinity,
        nodeports,
        noderesourcesfit,
        tainttoleration,
    )

    snapshot = scheduler.cache.snapshot()
    names = {k.name for k in kernels.KERNELS}
    modules = (tainttoleration, nodeaffinity, noderesourcesfit, balancedallocation, nodeports)

    def timed(fn: Callable[[], Any], rounds: int) -> float:
        best = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return round(best * 1e6, 1)

    out = {"kernel_native_us": timed(lambda: vectorised(snapshot), 50)}
    saved = [
        (m, a, getattr(m, a))
        for m in modules
        for a in dir(m)
        if a.lstrip("_") in names and a.startswith("_")
    ]
    try:
        for module, attr, _ in saved:
            setattr(module, attr, kernels.numpy_version(attr.lstrip("_")))
        out["kernel_numpy_us"] = timed(lambda: vectorised(snapshot), 50)
    finally:
        for module, attr, fn in saved:
            setattr(module, attr, fn)
    out["kernel_reference_us"] = timed(lambda: per_node(snapshot), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scheduler_perf", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workload", default="SchedulingBasic", choices=["SchedulingBasic"])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--init-pods", type=int, default=100)
    parser.add_argument("--pods", type=int, default=500)
    parser.add_argument("--output", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    with kube_server(extra_args=["--controllers=", "--disable-scheduler"]) as server:
        result = asyncio.run(run_workload(args, server.kubeconfig))
    if args.output == "json":
        print(json.dumps(asdict(result)))
    else:
        for key, value in asdict(result).items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
