"""The API load generator: one scenario per run, in its own process, against a running server.

Run as `python -m bench.api_load SCENARIO --kubeconfig FILE [--params JSON] [--server-pid N]
[--profile FILE]`; it prints one JSON object of figures on stdout (progress goes to stderr with
rich). `run_scenario` does exactly that from another Python process, which is how the report
and the pytest-benchmark suite use it: the load generator's event loop must not share a core's
time slice with the server's, or the figures would measure the two loops taking turns.

The client is what a controller or kubectl is: aiohttp over HTTPS with the admin kubeconfig's
client certificate, a keep-alive connection pool (one TLS handshake per connection, not per
request), JSON bodies. Each scenario is bounded in operations and in wall time.

Scenarios (defaults in `DEFAULTS`, each overridable through `--params`):

- `creates`: closed loop, `concurrency` workers each creating its next pod as soon as the last
  answered; pods/s and latency percentiles.
- `gets`: the same loop reading `pool` existing pods by name.
- `mutating`: open loop at a fixed `rate` for `seconds`, cycling create / patch / delete. Each
  request is sent at its scheduled time whatever the earlier ones are doing, and its latency is
  counted from that scheduled time, so a stalled server shows up as latency instead of silently
  lowering the offered rate (coordinated omission).
- `list`: fill a namespace with `pods` pods, then time full-body receipt of the LIST in JSON and
  in protobuf (`repeats` times each, median reported).
- `watch`: `watchers` concurrent watches on one namespace; a writer patches one pod `writes`
  times, each time writing `time.perf_counter_ns()` into an annotation just before sending the
  PATCH, and every watcher records receive time minus that stamp. The writer waits until all
  watchers saw a write before the next, so the figure is delivery latency, not queueing.

When `--server-pid` is given, the server's CPU seconds over the measured phase are reported
(from /proc), and with `--profile` py-spy samples the server during that phase only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import api_profile
from bench.api_server import cpu_seconds, machine_busy_seconds
from kube.auth.kubeconfig import load_kubeconfig

REPO = Path(__file__).resolve().parent.parent
JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
STAMP = "bench.kube.io/written-at"
console = Console(stderr=True)

DEFAULTS: dict[str, dict[str, Any]] = {
    "creates": {"count": 5000, "concurrency": 32, "seconds": 60},
    "gets": {"count": 20000, "concurrency": 32, "pool": 100, "seconds": 60},
    "mutating": {"rate": 200, "seconds": 10, "pool": 200},
    "list": {"pods": 10000, "repeats": 5, "concurrency": 64, "seconds": 180},
    "watch": {"watchers": 100, "writes": 50, "interval": 0.02, "seconds": 60},
}


def pod(name: str, namespace: str, extra_labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as a Deployment's template makes them: one container, requests = limits, a port.

    The golden core.v1.Pod in testdata is a fuzzer fixture (every optional field filled with
    placeholder values, 61 KB) that no controller would send; this is scheduler_perf's
    `pod-default.yaml` with the labels and the owner-less shape of a ReplicaSet's pod.
    """
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": "web", "pod-template-hash": "5d4f8c7b9", **(extra_labels or {})},
            "annotations": {"kubectl.kubernetes.io/default-container": "web"},
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "registry.k8s.io/nginx-slim:0.27",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": "100m", "memory": "500Mi"},
                        "limits": {"cpu": "100m", "memory": "500Mi"},
                    },
                    "env": [{"name": "MODE", "value": "bench"}],
                }
            ],
            "terminationGracePeriodSeconds": 30,
        },
    }


# ---------------------------------------------------------------------------- figures


@dataclass
class Samples:
    """Latencies in seconds and error counts of one phase."""

    latencies: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)

    def add_error(self, what: str) -> None:
        self.errors[what] += 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": len(self.latencies), "errors": dict(self.errors)}
        if self.latencies:
            ordered = sorted(self.latencies)
            out["p50_ms"] = statistics.median(ordered) * 1e3
            out["p99_ms"] = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3
            out["max_ms"] = ordered[-1] * 1e3
        return out


class Meter:
    """CPU of this process and (optionally) of the server over the measured phase."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.figures: dict[str, Any] = {}
        self.client: Client | None = None

    @contextlib.contextmanager
    def phase(self, profile: Path | None) -> Iterator[None]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        server = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        machine = machine_busy_seconds()
        connections = self.client.connections if self.client else 0
        spy: contextlib.AbstractContextManager[Any] = (
            api_profile.record(self.server_pid, profile)
            if profile is not None and self.server_pid
            else contextlib.nullcontext()
        )
        with spy:
            start = time.perf_counter()
            yield
            wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (after.ru_utime + after.ru_stime) - (own.ru_utime + own.ru_stime)
        self.figures["wall_s"] = wall
        if self.client is not None:
            self.figures["connections_opened"] = self.client.connections - connections
        self.figures["client_cpu_share"] = client_cpu / wall if wall else 0.0
        server_cpu = cpu_seconds(self.server_pid) - server if self.server_pid else 0.0
        if self.server_pid:
            self.figures["server_cpu_s"] = server_cpu
            self.figures["server_cpu_share"] = server_cpu / wall if wall else 0
        # Whatever else ran on the machine meanwhile (other test runs, py-spy): on 2 cores,
        # anything above a few tenths of a core here makes the figures pessimistic.
        others = machine_busy_seconds() - machine - server_cpu - client_cpu
        self.figures["other_cpu_share"] = max(others, 0.0) / wall if wall else 0.0
        self.figures["load_average_1m"] = os.getloadavg()[0]


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# ---------------------------------------------------------------------------- client


class Client:
    """One keep-alive HTTPS session with the admin credentials, and timed requests."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        # TLS connections opened so far: each is a handshake the server pays for (a few ms of
        # its one core), so a scenario that keeps opening them measures handshakes too.
        self.connections = 0

    async def call(
        self,
        method: str,
        path: str,
        samples: Samples | None,
        *,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        expect: tuple[int, ...] = (200, 201),
        started: float | None = None,
    ) -> bytes | None:
        """Send one request; record its latency (from `started` if given) or its failure."""
        headers = {"Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = orjson.dumps(body)
        begin = time.perf_counter() if started is None else started
        try:
            async with self.session.request(method, path, data=data, headers=headers) as resp:
                payload = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            if samples is not None:
                samples.add_error(type(err).__name__)
            return None
        if status not in expect:
            if samples is not None:
                samples.add_error(str(status))
            return None
        if samples is not None:
            samples.latencies.append(time.perf_counter() - begin)
        return payload


@contextlib.asynccontextmanager
async def connect(kubeconfig: Path, pool: int) -> AsyncIterator[Client]:
    info = load_kubeconfig(kubeconfig)
    connector = aiohttp.TCPConnector(
        ssl=info.ssl_context(), limit=pool, keepalive_timeout=120, force_close=False
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
    trace = aiohttp.TraceConfig()
    clients: list[Client] = []

    async def opened(*_: object) -> None:
        clients[0].connections += 1

    trace.on_connection_create_end.append(opened)
    async with aiohttp.ClientSession(
        info.server, connector=connector, timeout=timeout, trace_configs=[trace]
    ) as s:
        clients.append(Client(s))
        yield clients[0]


_namespaces = itertools.count()


async def namespace(client: Client, prefix: str) -> str:
    """A fresh namespace for one scenario, so scenarios sharing a server do not see each other."""
    for _ in range(100):
        name = f"{prefix}-{int(time.time() * 1000) % 10**8}-{next(_namespaces)}"
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        samples = Samples()
        if await client.call("POST", "/api/v1/namespaces", samples, body=body) is not None:
            return name
        if "409" not in samples.errors:
            raise RuntimeError(f"cannot create namespace {name}: {samples.errors}")
    raise RuntimeError("no free namespace name")


async def closed_loop(
    count: int, concurrency: int, seconds: float, label: str, op: Callable[[int], Awaitable[None]]
) -> float:
    """Run op(0..count-1) with `concurrency` workers, each awaiting its last; return ops/s."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds
    done = 0
    with progress() as bar:
        task = bar.add_task(label, total=count)

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                i = next(counter)
                if i >= count:
                    return
                await op(i)
                done += 1
                bar.advance(task)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return done / elapsed if elapsed else 0.0


async def fill(client: Client, ns: str, count: int, concurrency: int, seconds: float) -> list[str]:
    names = [f"pod-{i:06d}" for i in range(count)]
    failures = Samples()

    async def create(i: int) -> None:
        await client.call("POST", f"/api/v1/namespaces/{ns}/pods", failures, body=pod(names[i], ns))

    await closed_loop(count, concurrency, seconds, f"filling {ns}", create)
    if failures.errors:
        raise RuntimeError(f"filling {ns}: {dict(failures.errors)}")
    return names


# ---------------------------------------------------------------------------- scenarios


async def creates(client: Client, meter: Meter, p: dict[str, Any], prof: Path | None) -> Any:
    ns = await namespace(client, "bench-creates")
    samples = Samples()
    path = f"/api/v1/namespaces/{ns}/pods"

    async def create(i: int) -> None:
        await client.call("POST", path, samples, body=pod(f"pod-{i:06d}", ns))

    with meter.phase(prof):
        rate = await closed_loop(p["count"], p["concurrency"], p["seconds"], "pod creates", create)
    return {"ops_per_s": rate, **samples.summary()}


async def gets(client: Client, meter: Meter, p: dict[str, Any], prof: Path | None) -> Any:
    ns = await namespace(client, "bench-gets")
    names = await fill(client, ns, p["pool"], p["concurrency"], p["seconds"])
    samples = Samples()

    async def get(i: int) -> None:
        await client.call("GET", f"/api/v1/namespaces/{ns}/pods/{names[i % len(names)]}", samples)

    with meter.phase(prof):
        rate = await closed_loop(p["count"], p["concurrency"], p["seconds"], "pod gets", get)
    return {"ops_per_s": rate, **samples.summary()}


async def mutating(client: Client, meter: Meter, p: dict[str, Any], prof: Path | None) -> Any:
    """Open loop at a fixed rate: create, patch (strategic merge), delete, in turn."""
    ns = await namespace(client, "bench-mutating")
    live = collections.deque(await fill(client, ns, p["pool"], 32, 60))
    base = f"/api/v1/namespaces/{ns}/pods"
    kinds = {"create": Samples(), "patch": Samples(), "delete": Samples()}
    overall = Samples()
    rng = random.Random(7)
    total = int(p["rate"] * p["seconds"])
    lag = 0.0

    async def op(i: int, due: float) -> None:
        kind = ("create", "patch", "delete")[i % 3]
        samples = Samples()
        if kind == "create":
            name = f"new-{i:06d}"
            await client.call("POST", base, samples, body=pod(name, ns), started=due)
            if samples.latencies:
                live.append(name)
        elif len(live) < 2:
            # Creates are answering slower than deletes take pods: the server is far behind.
            samples.add_error("no live pod left (creates too slow)")
        elif kind == "patch":
            # The newer half: never a pod an in-flight delete (which takes the oldest) removes.
            name = live[rng.randrange(len(live) // 2, len(live))]
            body = {"metadata": {"labels": {"revision": str(i)}}}
            ctype = "application/strategic-merge-patch+json"
            await client.call(
                "PATCH", f"{base}/{name}", samples, body=body, content_type=ctype, started=due
            )
        else:
            name = live.popleft()
            await client.call("DELETE", f"{base}/{name}", samples, started=due)
        for target in (kinds[kind], overall):
            target.latencies.extend(samples.latencies)
            target.errors.update(samples.errors)

    tasks: set[asyncio.Task[None]] = set()
    with meter.phase(prof), progress() as bar:
        task = bar.add_task(f"mutating mix at {p['rate']}/s", total=total)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / p["rate"]
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            lag = max(lag, time.perf_counter() - due)
            t = asyncio.create_task(op(i, due))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            bar.advance(task)
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        late = list(tasks)
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)
        if late:
            overall.errors["no answer 30 s after the last send"] += len(late)
    offered = total / (meter.figures["wall_s"] or 1)
    return {
        **overall.summary(),
        "offered_per_s": offered,
        "send_lag_max_ms": lag * 1e3,
        "by_kind": {k: s.summary() for k, s in kinds.items()},
    }


async def listing(client: Client, meter: Meter, p: dict[str, Any], prof: Path | None) -> Any:
    ns = await namespace(client, "bench-list")
    start = time.perf_counter()
    await fill(client, ns, p["pods"], p["concurrency"], p["seconds"])
    fill_rate = p["pods"] / (time.perf_counter() - start)
    path = f"/api/v1/namespaces/{ns}/pods"
    out: dict[str, Any] = {"pods": p["pods"], "fill_creates_per_s": fill_rate}
    with meter.phase(prof), progress() as bar:
        for fmt, accept in (("json", JSON), ("protobuf", PROTOBUF)):
            task = bar.add_task(f"LIST {p['pods']} pods, {fmt}", total=p["repeats"])
            samples = Samples()
            size = 0
            for _ in range(p["repeats"]):
                body = await client.call("GET", path, samples, accept=accept)
                size = len(body or b"")
                bar.advance(task)
            figures = samples.summary()
            figures["bytes"] = size
            if body is not None:
                figures["content_ok"] = (
                    body.startswith(b"k8s\x00")
                    if fmt == "protobuf"
                    else len(orjson.loads(body)["items"]) == p["pods"]
                )
            out[fmt] = figures
    return out


async def watch(client: Client, meter: Meter, p: dict[str, Any], prof: Path | None) -> Any:
    ns = await namespace(client, "bench-watch")
    base = f"/api/v1/namespaces/{ns}/pods"
    created = await client.call("POST", base, None, body=pod("target", ns))
    if created is None:
        raise RuntimeError("cannot create the watched pod")
    rv = orjson.loads(created)["metadata"]["resourceVersion"]
    n = p["watchers"]
    delivered: dict[int, int] = collections.Counter()
    all_seen: dict[int, asyncio.Event] = collections.defaultdict(asyncio.Event)
    latencies = Samples()
    per_write: dict[int, list[float]] = collections.defaultdict(list)
    measuring = False
    ready = 0
    all_ready = asyncio.Event()

    async def watcher() -> None:
        nonlocal ready
        url = f"{base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=false"
        async with client.session.get(url, headers={"Accept": JSON}) as resp:
            if resp.status != 200:
                latencies.add_error(f"watch {resp.status}")
                return
            ready += 1
            if ready == n:
                all_ready.set()
            async for line in resp.content:
                now = time.perf_counter_ns()
                if not line.strip():
                    continue
                obj = orjson.loads(line)["object"]
                stamp = (obj["metadata"].get("annotations") or {}).get(STAMP)
                if stamp is None:
                    continue
                seq, _, written = stamp.partition("@")
                if measuring and int(seq) >= 0:
                    latency = (now - int(written)) / 1e9
                    latencies.latencies.append(latency)
                    per_write[int(seq)].append(latency)
                delivered[int(seq)] += 1
                if delivered[int(seq)] == n:
                    all_seen[int(seq)].set()

    async def write(seq: int, samples: Samples | None) -> bool:
        stamp = f"{seq}@{time.perf_counter_ns()}"
        body = {"metadata": {"annotations": {STAMP: stamp}}}
        ctype = "application/merge-patch+json"
        await client.call("PATCH", f"{base}/target", samples, body=body, content_type=ctype)
        try:
            await asyncio.wait_for(all_seen[seq].wait(), timeout=5)
        except TimeoutError:
            latencies.add_error("not delivered to every watcher within 5 s")
            return False
        return True

    watchers = [asyncio.create_task(watcher()) for _ in range(n)]
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_ready.wait(), timeout=30)
        # Warm-up writes (negative sequence numbers) prove every watch is live.
        for seq in range(-3, 0):
            await write(seq, None)
        measuring = True
        writes = Samples()
        with meter.phase(prof), progress() as bar:
            task = bar.add_task(f"watch: {n} watchers", total=p["writes"])
            end = time.perf_counter() + p["seconds"]
            for seq in range(p["writes"]):
                if time.perf_counter() > end:
                    break
                await write(seq, writes)
                bar.advance(task)
                await asyncio.sleep(p["interval"])
    finally:
        for t in watchers:
            t.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    first = Samples([min(v) for v in per_write.values()])
    last = Samples([max(v) for v in per_write.values()])
    return {
        "watchers": n,
        "established": ready,
        **latencies.summary(),
        # The first watcher to get a write is the server's own delivery time; the spread to
        # the last is fan-out (server) plus this one process reading 100 streams.
        "first_p50_ms": first.summary().get("p50_ms"),
        "last_p50_ms": last.summary().get("p50_ms"),
        "write": writes.summary(),
    }


SCENARIOS: dict[str, Callable[[Client, Meter, dict[str, Any], Path | None], Awaitable[Any]]] = {
    "creates": creates,
    "gets": gets,
    "mutating": mutating,
    "list": listing,
    "watch": watch,
}


async def run(
    scenario: str,
    kubeconfig: Path,
    params: dict[str, Any],
    server_pid: int | None,
    profile: Path | None,
) -> dict[str, Any]:
    p = {**DEFAULTS[scenario], **params}
    pool = max(p.get("concurrency", 32), p.get("watchers", 0) + 4, 256)
    meter = Meter(server_pid)
    async with connect(kubeconfig, pool) as client:
        meter.client = client
        figures = await SCENARIOS[scenario](client, meter, p, profile)
    return {"scenario": scenario, "params": p, **figures, **meter.figures}


# ---------------------------------------------------------------------------- process boundary


def run_scenario(
    scenario: str,
    kubeconfig: Path,
    params: dict[str, Any] | None = None,
    *,
    server_pid: int | None = None,
    profile: Path | None = None,
    timeout: float = 600,
) -> dict[str, Any]:
    """Run one scenario in a new Python process (see the module doc) and return its figures."""
    cmd = [sys.executable, "-m", "bench.api_load", scenario, "--kubeconfig", str(kubeconfig)]
    cmd += ["--params", orjson.dumps(params or {}).decode()]
    if server_pid is not None:
        cmd += ["--server-pid", str(server_pid)]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    done = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.PIPE, check=False, timeout=timeout, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}) for {scenario}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--params", default="{}", help="JSON object overriding DEFAULTS")
    parser.add_argument("--server-pid", type=int, help="report this process's CPU time")
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of --server-pid")
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            args.scenario, args.kubeconfig, orjson.loads(args.params), args.server_pid, args.profile
        )
    )
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")


if __name__ == "__main__":
    main()
