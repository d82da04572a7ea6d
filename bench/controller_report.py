"""Deployment to pods: `python -m bench.controller_report [--replicas N] [--unthrottled]`.

The issue's controller figure: a Deployment of N replicas (10,000) from apply to N pod objects
created, with the controller-manager's client unthrottled (`--unthrottled`) or at a given
`--qps`/`--burst` (default upstream's 20/30). What runs where:

- a bare API server, `kube server --controllers= --disable-scheduler` (SQLite, HTTPS), in its
  own process (`bench.api_server.kube_server`), stopped by its PID;
- in this process, what `kube controller-manager` runs for the figure: the `deployment` and
  `replicaset` controllers (`run_controllers`) on one RESTClient with the chosen throttle,
  sharing informers, with the real `EventRecorder` (its spam filter and all);
- "apply" is one create of the Deployment by a separate, unthrottled client.

Pods are counted on the controllers' own shared pods informer (an extra handler on the watch
they already have, rather than a second watch competing for the same two cores): the first
and last ADDED give "pods created per second" ((N - 1) / (last - first)); "time to all N" runs
from the apply to the last ADDED.

Informer memory is measured twice, and the report says which is which:

- `tracemalloc`: after the run, a fresh pods informer (same code, same decoding) fills its
  cache from the server with tracemalloc on; the retained difference of two snapshots, scaled
  to 10,000 pods. This is the cache itself (objects, keys, indices), not allocator slack;
- `rss`: this process's resident set after the run minus before the apply (after a gc),
  scaled likewise: an upper bound that also counts queues, events and allocator slack.

`--output json` prints the raw figures; `--profile DIR` runs py-spy (`bench.api_profile`) on
this process and on the server during the apply and prints both hot-spot tables.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench import api_profile
from bench.api_report import source_state, wait_for_quiet
from bench.api_server import RunningServer, cpu_seconds, kube_server, machine_busy_seconds
from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.events import EventRecorder
from kube.client.informer import EventHandler, SharedInformerFactory, trim_managed_fields
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.manager import run_controllers

PODS = resource("pods")
DEPLOYMENTS = resource("deployments")
NAMESPACES = resource("namespaces")
# No serviceaccount controller runs: its admission plugin is off, as in upstream's benchmarks.
SERVER_ARGS = (
    "--controllers=",
    "--disable-scheduler",
    "--disable-admission-plugins=ServiceAccount",
)
CONTROLLERS = ["deployment", "replicaset"]
DEFAULT_QPS = 20.0  # kube controller-manager's --kube-api-qps / --kube-api-burst defaults
DEFAULT_BURST = 30
TARGET_PODS_PER_S = 500.0  # the target, unthrottled
PER = 10_000  # memory is reported per this many pods
BUSY_MACHINE = 0.3  # cores other processes used, above which the figures are flagged
NAMESPACE = "bench-controllers"


def deployment(name: str, replicas: int) -> Object:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "localhost/busybox:latest",
                            "command": ["sleep", "3600"],
                        }
                    ]
                },
            },
        },
    }


def rss_bytes() -> int:
    """This process's resident set size, from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def _profiled(profile_dir: Path | None, pids: dict[str, int]) -> Iterator[dict[str, Path]]:
    """py-spy on each named pid for the block (nothing when `profile_dir` is None)."""
    raws: dict[str, Path] = {}
    with ExitStack() as stack:
        if profile_dir is not None:
            profile_dir.mkdir(parents=True, exist_ok=True)
            for name, pid in pids.items():
                raws[name] = stack.enter_context(
                    api_profile.record(pid, profile_dir / f"{name}.pyspy.txt")
                )
        yield raws


def _count_create_errors(rest: RESTClient) -> Counter[str]:
    """Count the controllers' failed creates by reason (wrapping this client's `create`).

    A 409 AlreadyExists here is a generateName collision: the server picked a taken name.
    """
    errors: Counter[str] = Counter()
    create = rest.create

    async def counted(*args: Any, **kwargs: Any) -> Object:
        try:
            return await create(*args, **kwargs)
        except APIError as err:
            errors[f"{err.code} {err.reason}"] += 1
            raise

    rest.create = counted  # type: ignore[method-assign]
    return errors


async def informer_memory(admin: RESTClient, expected: int) -> dict[str, Any]:
    """Retained bytes of a pods informer cache holding `expected` pods (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        factory = SharedInformerFactory(admin)
        informer = factory.informer(PODS)
        factory.start()
        await factory.wait_for_cache_sync(120)
        held = len(informer.indexer)
        gc.collect()
        after = tracemalloc.take_snapshot()
        retained = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        await factory.shutdown()
    finally:
        tracemalloc.stop()
    return {
        "pods": held,
        "expected": expected,
        "bytes": retained,
        "bytes_per_10k": retained * PER / held if held else 0.0,
    }


async def measure(
    server: RunningServer,
    replicas: int,
    qps: float | None,
    burst: int,
    progress: Progress | None = None,
    profile_dir: Path | None = None,
    timeout_s: float = 1800.0,
) -> dict[str, Any]:
    """Apply the Deployment and time its pods; the figures as a dict (see the module doc)."""
    seen: list[float] = []

    def pod_added(pod: Object) -> None:
        if (pod.get("metadata") or {}).get("namespace") == NAMESPACE:
            seen.append(time.perf_counter())

    async with (
        RESTClient.from_kubeconfig(server.kubeconfig, qps=None, user_agent="bench") as admin,
        RESTClient.from_kubeconfig(
            server.kubeconfig, qps=qps, burst=burst, user_agent="kube-controller-manager"
        ) as rest,
    ):
        await admin.create(
            NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        )
        create_errors = _count_create_errors(rest)
        recorder = EventRecorder(rest, "kube-controller-manager")
        recorder.start()
        ctx = ControllerContext(
            rest, SharedInformerFactory(rest, transform=trim_managed_fields), recorder
        )
        ctx.informers.informer(PODS).add_event_handler(EventHandler(on_add=pod_added))
        ready = asyncio.Event()
        running = asyncio.create_task(run_controllers(ctx, CONTROLLERS, ready))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            gc.collect()
            rss_before = rss_bytes()
            cpu_before = {
                "controllers": cpu_seconds(os.getpid()),
                "server": cpu_seconds(server.pid),
                "machine": machine_busy_seconds(),
            }
            task = None
            if progress is not None:
                task = progress.add_task("pods created", total=replicas)
            pids = {"controllers": os.getpid(), "server": server.pid}
            with _profiled(profile_dir, pids) as raws:
                applied = time.perf_counter()
                await admin.create(DEPLOYMENTS, deployment("bench", replicas), NAMESPACE)
                deadline = applied + timeout_s
                while len(seen) < replicas and time.perf_counter() < deadline:
                    if running.done():
                        await running  # a controller failed: its error
                    if progress is not None and task is not None:
                        progress.update(task, completed=len(seen))
                    await asyncio.sleep(0.2)
                done = time.perf_counter()
            cpu = {
                "controllers": cpu_seconds(os.getpid()) - cpu_before["controllers"],
                "server": cpu_seconds(server.pid) - cpu_before["server"],
            }
            # What everything else on the machine used meanwhile (py-spy included, if on).
            cpu["other"] = max(
                0.0, machine_busy_seconds() - cpu_before["machine"] - sum(cpu.values())
            )
            if progress is not None and task is not None:
                progress.update(task, completed=len(seen))
            gc.collect()
            rss_after = rss_bytes()
            created = len(seen)
            first, last = (seen[0], seen[-1]) if seen else (applied, done)
            wall = done - applied
            figures: dict[str, Any] = {
                "replicas": replicas,
                "qps": qps,
                "burst": burst if qps else None,
                "created": created,
                "complete": created >= replicas,
                "pods_per_s": (created - 1) / (last - first) if created > 1 and last > first else 0,
                "first_pod_s": first - applied,
                "all_created_s": last - applied if created >= replicas else None,
                "wall_s": wall,
                "cpu_s": cpu,
                "cpu_share": {k: v / wall if wall else 0.0 for k, v in cpu.items()},
                "events_dropped": recorder.dropped,
                "create_errors": dict(create_errors),
                "rss": {
                    "bytes": rss_after - rss_before,
                    "bytes_per_10k": (rss_after - rss_before) * PER / created if created else 0,
                },
            }
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            await recorder.stop(grace=1.0)
        figures["tracemalloc"] = await informer_memory(admin, created)
        figures["profiles"] = {name: api_profile.hot_spots(raw) for name, raw in raws.items()}
        return figures


def run(
    replicas: int,
    qps: float | None,
    burst: int,
    *,
    progress: Progress | None = None,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Start a bare server, measure, stop it: the figures plus the server's PID and source."""
    with kube_server(extra_args=SERVER_ARGS) as server:
        if progress is not None:
            progress.console.print(f"kube server pid {server.pid} at {server.url}", style="dim")
        figures = asyncio.run(measure(server, replicas, qps, burst, progress, profile_dir))
    figures["source"] = source_state()
    return figures


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def table(f: dict[str, Any]) -> Table:
    client = "unthrottled" if f["qps"] is None else f"qps {f['qps']:g}, burst {f['burst']}"
    title = f"Deployment of {f['replicas']:,} replicas → pods ({client}; deployment + replicaset)"
    out = Table(title=title)
    for name in ("figure", "measured", "target", "ratio"):
        out.add_column(name, justify="left" if name == "figure" else "right")
    rate = f["pods_per_s"]
    ratio = ""
    target = ""
    if f["qps"] is None:
        r = rate / TARGET_PODS_PER_S
        target = f">= {TARGET_PODS_PER_S:,.0f}/s"
        ratio = f"[{'green' if r >= 1 else 'red'}]{r:.2f}x[/]"
    elif f["qps"]:
        target = f"<= {f['qps']:g}/s (qps)"
    out.add_row("pods created per second (first to last)", f"{rate:,.0f}/s", target, ratio)
    all_s = f["all_created_s"]
    shown = f"{all_s:.1f} s" if all_s is not None else f"incomplete: {f['created']:,}"
    out.add_row(f"apply → all {f['replicas']:,} pods created", shown, "", "")
    out.add_row("apply → first pod created", f"{f['first_pod_s'] * 1e3:.0f} ms", "", "")
    tm = f["tracemalloc"]
    out.add_row(
        "pods informer cache per 10,000 pods (tracemalloc)",
        mib(tm["bytes_per_10k"]),
        "",
        "",
    )
    out.add_row(
        "process RSS growth per 10,000 pods (RSS delta)", mib(f["rss"]["bytes_per_10k"]), "", ""
    )
    cpu = f["cpu_share"]
    out.add_row("CPU, controllers process (cores)", f"{cpu['controllers']:.2f}", "", "")
    out.add_row("CPU, API server (cores)", f"{cpu['server']:.2f}", "", "")
    other = cpu["other"]
    flag = f"[yellow]{other:.2f}[/]" if other > BUSY_MACHINE else f"{other:.2f}"
    out.add_row("CPU, other processes (cores)", flag, f"<= {BUSY_MACHINE}", "")
    out.add_row("events dropped (recorder queue full)", str(f["events_dropped"]), "", "")
    errors = ", ".join(f"{n}: {what}" for what, n in f["create_errors"].items()) or "none"
    out.add_row("pod creates refused (409s are retried)", errors, "", "")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--replicas", type=int, default=10_000)
    parser.add_argument("--qps", type=float, default=DEFAULT_QPS)
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST)
    parser.add_argument(
        "--unthrottled", action="store_true", help="no client-side rate limit (qps=None)"
    )
    parser.add_argument("--output", choices=["table", "json"], default="table")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="py-spy both processes; raw files in DIR"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for other processes to go quiet",
    )
    args = parser.parse_args()
    if args.profile is not None and not api_profile.available():
        parser.error("--profile needs py-spy: .venv/bin/pip install py-spy")
    qps = None if args.unthrottled or args.qps <= 0 else args.qps
    console = Console(stderr=args.output == "json")
    if not console.is_terminal:
        console.width = 160
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=args.output == "json",
    )
    if args.wait_quiet:
        wait_for_quiet(args.wait_quiet, console)
    with progress:
        figures = run(args.replicas, qps, args.burst, progress=progress, profile_dir=args.profile)
    if args.output == "json":
        sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    source = figures["source"]
    dirty = (
        f", {len(source['uncommitted'])} uncommitted files in src/" if source["uncommitted"] else ""
    )
    console.print(f"source: {source['commit']}{dirty}", style="dim")
    console.print(table(figures))
    for name, spots in figures["profiles"].items():
        console.print(api_profile_table(name, spots))


def api_profile_table(name: str, spots: dict[str, Any]) -> Table:
    out = Table(title=f"{name} hot spots ({spots['samples']:,} py-spy samples)")
    out.add_column("#", justify="right")
    out.add_column("self time: function (file:hottest line)")
    out.add_column("share", justify="right")
    out.add_column("inclusive, kube/ code")
    out.add_column("share", justify="right")
    for i in range(max(len(spots["self"]), len(spots["inclusive_project"]))):
        cells = [str(i + 1)]
        for key in ("self", "inclusive_project"):
            entries = spots[key]
            cells += (
                [entries[i]["where"], f"{entries[i]['share']:.1%}"]
                if i < len(entries)
                else ["", ""]
            )
        out.add_row(*cells)
    return out


if __name__ == "__main__":
    main()
