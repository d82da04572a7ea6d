"""Server CPU per write with 5,000 idle hollow nodes renewing their Leases (issue 7's floor).

Every scale figure starts from the same load: `kube sim up --nodes N` makes N clients each
renew a Lease every 10 s (and report node status now and then), so the API server must serve
about N/10 writes a second before any pod work. What matters for the targets is how much of
the server's one core each write costs, a figure much less sensitive to a shared machine
than throughput: this harness starts `kube server --disable-agent` and `kube sim up`, waits
until the writes settle, then samples for `--seconds`:

- writes/s by verb and resource, from `apiserver_request_total` deltas of /metrics;
- the server process's CPU (utime + stime of /proc/PID/stat, its own threads, not the
  controller-manager and scheduler children), as cores and as milliseconds per write;
- optionally (`--profile FILE`) a py-spy raw profile of the same window, summarised by
  `bench.api_profile.hot_spots`;
- the load average before and after, so a figure can be judged against what else ran.

    .venv/bin/python -m bench.steady_writes --nodes 5000 --seconds 60 [--profile /tmp/p.raw]

The hollow nodes report status every 60 s in waves, so the mix of a window varies (10-80
node status PATCHes a second beside the Lease PUTs); `--sim-arg=--status-interval=3600` gives
Lease PUTs alone, `--nodes 2000 --sim-arg=--status-interval=10` as many PATCHes as PUTs.

`--mode pods` is the pod-heavy load instead (scheduler_perf's API server: `kube server
--controllers= --disable-scheduler --disable-admission-plugins=ServiceAccount`, no hollow
nodes): this process creates scheduler_perf's default pod at `--rate` pods a second and binds
each one (`POST pods`, then `POST pods/{name}/binding`, as the scheduler does), while
`--watchers` clients watch all pods (the scheduler's informer, the controller-manager's), so
the figure is the server's CPU per pod created and bound, watch fan-out included:

    .venv/bin/python -m bench.steady_writes --mode pods --pod-rate 300 --seconds 30

Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bench import api_profile
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.perf.server import RunningServer, kube_server, stop
from kube.perf.workloads import pod_default

KUBECTL = str(Path(sys.executable).parent / "kubectl")
KUBE = str(Path(sys.executable).parent / "kube")
SAMPLE = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE", "CREATE", "UPDATE", "APPLY"}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (its threads included, its children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of `pid`, keyed `tid comm` (the loop's is the process id)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            head, _, rest = (task / "stat").read_text().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        comm = head.partition("(")[2]
        out[f"{task.name} {comm}"] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def requests(kubeconfig: Path) -> Counter[tuple[str, str]]:
    """apiserver_request_total summed by (verb, resource/subresource)."""
    text = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "--raw", "/metrics"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    counts: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(LABEL.findall(match[1]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        counts[(labels.get("verb", ""), resource)] += int(float(match[2]))
    return counts


def ready_nodes(kubeconfig: Path) -> int:
    out = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return sum(1 for line in out.splitlines() if " Ready " in line)


def _py_spy(
    pid: int, out: Path, seconds: float, *, native: bool, rate: int = 50
) -> subprocess.Popen[bytes]:
    """py-spy over the sampling window, raw format (blocking: whole stacks; --native: the
    C frames of uvloop, OpenSSL and the HTTP parser instead of one opaque event-loop frame)."""
    assert api_profile.PY_SPY is not None, "py-spy is not installed"
    command = [api_profile.PY_SPY, "record", "-p", str(pid), "-d", str(int(seconds))]
    command += ["-f", "raw", "-o", str(out), "--threads", "-r", str(rate)]
    if native:
        command.append("--native")
    log = out.with_suffix(".log").open("w")
    return subprocess.Popen(command, stdout=log, stderr=log)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


PODS = resource("pods")
NAMESPACES = resource("namespaces")
POD_NAMESPACE = "bench"
POD_SERVER_ARGS = [
    "--controllers=",
    "--disable-scheduler",
    "--disable-admission-plugins=ServiceAccount",
]


EVENTS_V1 = resource("events", "events.k8s.io")


def scheduled_event(pod: str, i: int) -> dict[str, object]:
    """The Scheduled Event kube-scheduler writes for a bound pod (events.k8s.io/v1)."""
    stamp = time.time_ns()
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{pod}.{stamp:x}", "namespace": POD_NAMESPACE},
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(stamp / 1e9)),
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-bench",
        "action": "Binding",
        "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": POD_NAMESPACE, "name": pod, "apiVersion": "v1"},
        "note": f"Successfully assigned {POD_NAMESPACE}/{pod} to node-{i % 100}",
        "type": "Normal",
    }


class Window:
    """Server CPU, request counts and the load average over one sampling window."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.load_before = load_average()
        self.before = requests(server.kubeconfig)
        self.threads0 = thread_cpu(server.pid)
        self.cpu0, self.t0 = cpu_seconds(server.pid), time.monotonic()

    def close(self) -> None:
        self.cpu1, self.t1 = cpu_seconds(self.server.pid), time.monotonic()
        self.threads1 = thread_cpu(self.server.pid)
        self.after = requests(self.server.kubeconfig)
        self.load_after = load_average()


async def _watch_pods(client: RESTClient, seen: Counter[str]) -> None:
    """A watch on all pods, read to the end (the scheduler's and controllers' informers)."""
    while True:
        async for event in client.watch(PODS):
            seen[event.type] += 1


async def _pod_load(
    server: RunningServer, args: argparse.Namespace
) -> tuple[Window, dict[str, object]]:
    """Creates and binds pods at `args.rate` a second; the window is the last `args.seconds`
    of `args.settle + args.seconds` (the first seconds fill the connection pools)."""
    async with RESTClient.from_kubeconfig(server.kubeconfig, qps=None) as client:
        await client.create(NAMESPACES, {"metadata": {"name": POD_NAMESPACE}})
        seen: Counter[str] = Counter()
        watchers = [client.sibling(throttle=None, connections=0) for _ in range(args.watchers)]
        watches = [asyncio.create_task(_watch_pods(w, seen)) for w in watchers]
        names = itertools.count()
        slots = asyncio.Semaphore(128)
        failures: Counter[str] = Counter()
        pending: set[asyncio.Task[None]] = set()

        async def one(i: int) -> None:
            async with slots:
                name = f"pod-{i}"
                pod = pod_default()
                pod["metadata"] = {"name": name}
                try:
                    await client.create(PODS, pod, namespace=POD_NAMESPACE)
                    binding = {
                        "apiVersion": "v1",
                        "kind": "Binding",
                        "metadata": {"name": name, "namespace": POD_NAMESPACE},
                        "target": {"kind": "Node", "name": f"node-{i % 100}"},
                    }
                    await client.create(
                        PODS, binding, namespace=POD_NAMESPACE, name=name, subresource="binding"
                    )
                    if args.events:
                        await client.create(EVENTS_V1, scheduled_event(name, i))
                except Exception as exc:  # counted, the load goes on
                    failures[type(exc).__name__] += 1

        window: Window | None = None
        started = time.monotonic()
        tick = 0.02
        due = 0.0
        end = started + args.settle + args.seconds
        while (now := time.monotonic()) < end:
            if window is None and now - started >= args.settle:
                window = await asyncio.to_thread(Window, server)
            due += args.pod_rate * tick
            while due >= 1:
                due -= 1
                task = asyncio.create_task(one(next(names)))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.sleep(tick)
        assert window is not None
        await asyncio.to_thread(window.close)
        await asyncio.gather(*pending, return_exceptions=True)
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        for w in watchers:
            await w.close()
    return window, {
        "pods_started": next(names),
        "watch_events": dict(seen),
        "failures": dict(failures),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", choices=("nodes", "pods"), default="nodes", help="hollow nodes, or pod load"
    )
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--watchers", type=int, default=2, help="--mode pods: pod watches")
    parser.add_argument(
        "--events",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--mode pods: a Scheduled Event per bound pod, as kube-scheduler writes",
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0, help="wait after all Ready")
    parser.add_argument("--profile", type=Path, help="py-spy raw output over the window")
    parser.add_argument(
        "--sim-arg",
        action="append",
        default=[],
        help="passed to `kube sim up` (e.g. --sim-arg=--status-interval=3600: Lease PUTs only)",
    )
    parser.add_argument("--rate", type=int, default=50, help="py-spy samples a second")
    parser.add_argument(
        "--pod-rate", type=float, default=300, help="--mode pods: pods created and bound a second"
    )
    parser.add_argument("--native", action="store_true", help="py-spy --native")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    extra: dict[str, object] = {}
    if args.mode == "pods":
        with kube_server(POD_SERVER_ARGS) as server:
            spy = None
            if args.profile is not None:
                spy = _delayed_spy(server.pid, args)
            window, extra = asyncio.run(_pod_load(server, args))
            if spy is not None:
                spy.join(timeout=180)
    else:
        window, extra = _node_load(args)
    return _report(args, window, extra)


def _delayed_spy(pid: int, args: argparse.Namespace) -> threading.Thread:
    """py-spy started when the pod load's window starts (after `args.settle`)."""

    def run() -> None:
        time.sleep(args.settle)
        _py_spy(pid, args.profile, args.seconds, native=args.native, rate=args.rate).wait(
            timeout=args.seconds + 120
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _node_load(args: argparse.Namespace) -> tuple[Window, dict[str, object]]:
    """`--nodes` hollow nodes renewing Leases; the window starts `--settle` s after all Ready."""
    server_args = ["--kube-api-qps=0", "--kube-api-burst=1000"]
    with kube_server(server_args) as server:
        sim_command = [KUBE, "sim", "up", "--kubeconfig", str(server.kubeconfig)]
        sim_command += ["--nodes", str(args.nodes), "--no-progress", *args.sim_arg]
        sim_log = (server.data_dir / "sim.log").open("w")
        sim = subprocess.Popen(
            sim_command,
            stdout=sim_log,
            stderr=sim_log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            started = time.monotonic()
            ready = 0
            while time.monotonic() - started < 180:
                time.sleep(3)
                ready = ready_nodes(server.kubeconfig)
                if ready >= args.nodes:
                    break
            all_ready_s = time.monotonic() - started
            time.sleep(args.settle)
            window = Window(server)
            spy: subprocess.Popen[bytes] | None = None
            if args.profile is not None:
                spy = _py_spy(
                    server.pid, args.profile, args.seconds, native=args.native, rate=args.rate
                )
            time.sleep(args.seconds)
            window.close()
            if spy is not None:
                spy.wait(timeout=120)
        finally:
            stop(sim, signal.SIGINT, timeout=60)
            sim_log.close()
    return window, {"nodes": args.nodes, "ready": ready, "all_ready_s": round(all_ready_s, 1)}


def _report(args: argparse.Namespace, window: Window, extra: dict[str, object]) -> int:
    t0, t1, cpu0, cpu1 = window.t0, window.t1, window.cpu0, window.cpu1
    before, after = window.before, window.after
    threads0, threads1 = window.threads0, window.threads1
    load_before, load_after = window.load_before, window.load_after
    elapsed = t1 - t0
    delta = after - before
    writes = sum(n for (verb, _), n in delta.items() if verb in WRITE_VERBS)
    total = sum(delta.values())
    cpu = cpu1 - cpu0
    result = {
        **extra,
        "seconds": round(elapsed, 1),
        "writes_per_s": round(writes / elapsed, 1),
        "requests_per_s": round(total / elapsed, 1),
        "server_cores": round(cpu / elapsed, 3),
        "server_ms_per_write": round(1000 * cpu / writes, 3) if writes else None,
        "server_ms_per_request": round(1000 * cpu / total, 3) if total else None,
        "by_verb_resource": {
            f"{verb} {resource}": round(n / elapsed, 1)
            for (verb, resource), n in delta.most_common(12)
        },
        "thread_cores": {
            name: round((threads1[name] - threads0.get(name, 0.0)) / elapsed, 3)
            for name in threads1
            if threads1[name] - threads0.get(name, 0.0) > 0.005 * elapsed
        },
        "load_before": load_before,
        "load_after": load_after,
    }
    if args.profile is not None:
        result["profile"] = api_profile.hot_spots(args.profile, top=25)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            if key != "profile":
                print(f"{key}: {value}")
        if args.profile is not None:
            spots = result["profile"]
            assert isinstance(spots, dict)
            print("categories:", json.dumps(spots["categories"], indent=1))
            for kind in ("self", "inclusive_project"):
                print(f"-- {kind}")
                for row in spots[kind]:
                    print(f"  {row['share']:.3f}  {row['where']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
