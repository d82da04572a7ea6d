"""`python -m bench.pod_startup`: pod startup latency on one real node (runc), end to end.

    python -m bench.pod_startup [--pods 100] [--output json] [--profile DIR]

Starts a bare `kube server` (API server, controller-manager and scheduler; `--disable-agent`),
then a real `kube runtime` (runc, its own bridge `kube-b<hex>`) and `kube kubelet` for one node,
as tests/e2e/test_kubelet.py's `node` fixture does, and creates one Deployment of `--pods`
replicas of localhost/busybox:latest running `httpd -f`. A pod watch, opened before the
Deployment is created, stamps every event on receipt; a pod's startup latency is the time from
its creation (the receipt of its ADDED event: creationTimestamp has whole seconds only, too
coarse for sub-second figures) to the first event that shows it Running, as upstream's pod
startup SLI (image pulls excluded: the image is already in the runtime's store). The per-phase
split comes from the same events: scheduled (spec.nodeName set), sandbox ready (status.podIP
set) and running. Figures: p50/p90/p99/max of each, and the total time from the Deployment's
creation to the last pod Running.

`--profile DIR` samples the kubelet and the runtime with py-spy for the whole run and writes
their collapsed stacks (DIR/kubelet.txt, DIR/runtime.txt: `frame;frame;... count` lines) and
the processes' CPU seconds, so where the time goes can be read with `sort -k2`.

CPU seconds are given two ways: `cpu_seconds`, each process and its reaped children from /proc
(the runtime's daemonized shims, and the runc each shim runs, are not its reaped children), and
`cpu_seconds_tree`, each process with everything it started, from a cpuacct cgroup the harness
puts it in (shims, runc, `ip` and `mount` count to the runtime; the containers themselves are
moved into their own cgroups by runc). The second is the one to compare across runs on a shared
machine: it does not depend on what else the machine is doing.

Everything it makes (containers, mounts, netns, veths, the bridge, cgroups) is removed by name
at the end, even when the run fails or is stopped (Ctrl-C, SIGTERM, SIGHUP); killed outright,
its server, runtime and kubelet still get SIGTERM. Needs root, runc and /bin/busybox
(`make setup`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.cri.client import RuntimeClient
from kube.cri.runtime.runtime import default_state

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/busybox:latest"
NAMESPACE = "default"
APP = "startup-bench"
PODS = resource("pods")
DEPLOYMENTS = resource("deployments")
NODES = resource("nodes")
MAX_PODS = 110  # the kubelet's allocatable pods
PHASES = ("scheduled", "sandbox_ready", "running")
# The runtime's side of the same pods (CRI timestamps, wall clock): when the kubelet asked for
# the sandbox, when it asked for the container, when runc had started it.
RUNTIME_PHASES = ("sandbox_requested", "container_requested", "container_started")
POD_UID_LABEL = "io.kubernetes.pod.uid"


@dataclass
class PodTimes:
    """Receipt times (monotonic seconds) of what the watch showed about one pod."""

    created: float
    created_wall: float = 0.0  # the same instant as time.time(), to line up with the CRI's
    scheduled: float | None = None
    sandbox_ready: float | None = None
    running: float | None = None
    runtime: dict[str, float] = field(default_factory=dict)  # RUNTIME_PHASES, monotonic
    events: int = 0  # watch events until Running: creation, binding, each status write
    statuses: list[str] = field(default_factory=list)  # what each status write showed


@dataclass
class Cluster:
    work: Path
    kubeconfig: Path
    node: str
    bridge: str
    runtime_root: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    accounting: CpuAccounting | None = None


class CpuAccounting:
    """One cpuacct cgroup per process, so CPU counts everything it starts (cgroups v1
    `cpuacct.usage` in ns, or v2 `cpu.stat` usage_usec); unavailable -> `create` gives None."""

    def __init__(self, root: Path, usage_file: str, scale: float) -> None:
        self.root = root
        self.usage_file = usage_file
        self.scale = scale  # of the file's unit, to seconds

    @classmethod
    def create(cls, name: str) -> CpuAccounting | None:
        v1 = Path("/sys/fs/cgroup/cpuacct")
        v2 = Path("/sys/fs/cgroup")
        try:
            if (v1 / "cpuacct.usage").exists():
                accounting = cls(v1 / name, "cpuacct.usage", 1e-9)
            elif (v2 / "cgroup.controllers").exists():
                accounting = cls(v2 / name, "cpu.stat", 1e-6)
            else:
                return None
            accounting.root.mkdir()
        except OSError:
            return None
        return accounting

    def add(self, name: str, pid: int) -> None:
        group = self.root / name
        try:
            group.mkdir(exist_ok=True)
            (group / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass

    def seconds(self) -> dict[str, float]:
        figures: dict[str, float] = {}
        for group in sorted(self.root.iterdir()):
            if not group.is_dir():
                continue
            try:
                text = (group / self.usage_file).read_text()
            except OSError:
                continue
            if self.usage_file == "cpu.stat":
                fields = dict(line.split() for line in text.splitlines() if line.strip())
                value = float(fields.get("usage_usec", 0))
            else:
                value = float(text.strip())
            figures[group.name] = value * self.scale
        return figures

    def remove(self) -> None:
        """Moves whatever is left (a shim of a container being deleted) up, then removes."""
        parent = self.root.parent / "cgroup.procs"
        for group in [*sorted(p for p in self.root.iterdir() if p.is_dir()), self.root]:
            for _ in range(50):
                try:
                    pids = (group / "cgroup.procs").read_text().split()
                    for pid in pids:
                        with contextlib.suppress(OSError):
                            parent.write_text(pid)
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """A component in a session of its own (Ctrl-C reaches the harness only; it stops the
    rest), which gets SIGTERM if the harness dies without stopping it (killed with SIGKILL):
    util-linux's `setpriv --pdeathsig`, kept across its exec of the component."""
    pdeathsig = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
    with log.open("w") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*pdeathsig, *argv],
            stdout=subprocess.PIPE,
            stderr=sink,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _cleanup(cluster: Cluster) -> None:
    """Removes by name what the run's runtime made: containers, mounts, netns, veths, bridge.
    Its state (`<root>-state`, a tmpfs) is in the work directory, unmounted with the rest."""
    state = default_state(cluster.runtime_root)
    for bundle in sorted((state / "containers").glob("*")):
        subprocess.run(
            ["runc", "--root", str(state / "runc"), "delete", "--force", bundle.name],
            capture_output=True,
        )
        subprocess.run(["umount", "-l", str(bundle / "rootfs")], capture_output=True)
    for sandbox in sorted((state / "sandboxes").glob("*")):
        subprocess.run(["ip", "link", "del", f"kube-{sandbox.name[:10]}"], capture_output=True)
        subprocess.run(["ip", "netns", "del", f"kube-{sandbox.name[:16]}"], capture_output=True)
    subprocess.run(["ip", "link", "del", cluster.bridge], capture_output=True)
    # The kubelet's volume mounts (tmpfs for each pod's kube-api-access token) and the runtime's
    # state, deepest first.
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    inside = [m for m in mounts if m.startswith(f"{cluster.work}/")]
    for target in sorted(inside, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if not hierarchy.is_dir():
            continue
        for directory in sorted(hierarchy.glob(f"kubepods-{cluster.node}*/**/"), reverse=True):
            subprocess.run(["rmdir", str(directory)], capture_output=True)


def _wait_line(process: subprocess.Popen[bytes], marker: str, seconds: float, log: Path) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"{log.name}: exited: {log.read_text()[-2000:]}")
        if marker in line.decode(errors="replace"):
            return
    raise RuntimeError(f"{log.name}: no {marker!r} within {seconds}s")


def new_cluster(work: Path) -> Cluster:
    """The names of a run's node, bridge and directories; nothing started yet."""
    name = f"bench-{secrets.token_hex(3)}"
    return Cluster(
        work=work,
        kubeconfig=work / "server" / "admin.kubeconfig",
        node=name,
        bridge=f"kube-b{secrets.token_hex(4)}",
        runtime_root=work / "runtime",
        accounting=CpuAccounting.create(f"kube-{name}"),
    )


def start_cluster(cluster: Cluster, server_args: tuple[str, ...] = ()) -> None:
    """Server (with controllers and scheduler), runtime and kubelet, each kept in
    `cluster.processes` as it starts: `stop_cluster` stops what did, however far this got."""
    work, name = cluster.work, cluster.node
    server_log = work / "server.log"
    server = _start(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",  # the bench's own runtime and kubelet are the node
            "--data-dir",
            str(work / "server"),
            "--secure-port",
            "0",
            *server_args,
        ],
        server_log,
    )
    cluster.processes["server"] = server
    _account(cluster, "server")
    _wait_line(server, "kube server is up", 60, server_log)
    archive = work / "busybox-oci.tar"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_busybox_image.py"), "-o", str(archive)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [str(BIN / "kube"), "image", "--root", str(cluster.runtime_root), "import", str(archive)],
        check=True,
        capture_output=True,
    )
    socket = work / "cri.sock"
    cluster.processes["runtime"] = _start(
        [
            str(BIN / "kube"),
            "runtime",
            "--root",
            str(cluster.runtime_root),
            "--listen",
            f"unix://{socket}",
            "--bridge",
            cluster.bridge,
        ],
        work / "runtime.log",
    )
    _account(cluster, "runtime")
    deadline = time.monotonic() + 20
    while not socket.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no CRI socket: " + (work / "runtime.log").read_text()[-2000:])
        time.sleep(0.1)
    cluster.processes["kubelet"] = _start(
        [
            str(BIN / "kube"),
            "kubelet",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--node-name",
            name,
            "--container-runtime-endpoint",
            f"unix://{socket}",
            "--pod-cidr",
            f"10.244.{150 + secrets.randbelow(50)}.0/24",
            "--root-dir",
            str(work / "kubelet"),
            "--pod-logs-dir",
            str(work / "pods"),
            "--cgroup-root",
            f"/kubepods-{name}",
            "--node-ip",
            "127.0.0.1",
            "--address",
            "127.0.0.1",
            "--port",
            "0",
        ],
        work / "kubelet.log",
    )
    _account(cluster, "kubelet")


def _account(cluster: Cluster, name: str) -> None:
    if cluster.accounting is not None:
        cluster.accounting.add(name, cluster.processes[name].pid)


def stop_cluster(cluster: Cluster) -> None:
    for process in reversed(list(cluster.processes.values())):
        _stop(process)
    _cleanup(cluster)
    if cluster.accounting is not None:
        cluster.accounting.remove()


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": APP}},
            "template": {
                "metadata": {"labels": {"app": APP}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [
                        {
                            "name": "httpd",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["httpd", "-f", "-p", "8080"],
                        }
                    ],
                },
            },
        },
    }


async def _node_ready(client: RESTClient, name: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            node = await client.get(NODES, name)
        except Exception:  # not registered yet
            node = {}
        conditions = {
            c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []
        }
        taints = (node.get("spec") or {}).get("taints") or []
        if conditions.get("Ready") == "True" and not taints:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"node {name} not Ready (without taints) within {seconds}s")


def _observe(times: dict[str, PodTimes], pod: dict[str, Any], at: float) -> None:
    uid = (pod.get("metadata") or {}).get("uid", "")
    entry = times.setdefault(uid, PodTimes(created=at, created_wall=time.time()))
    if entry.running is None:
        entry.events += 1
        entry.statuses.append(_status_summary(pod))
    if entry.scheduled is None and (pod.get("spec") or {}).get("nodeName"):
        entry.scheduled = at
    status = pod.get("status") or {}
    if entry.sandbox_ready is None and status.get("podIP"):
        entry.sandbox_ready = at
    if entry.running is None and status.get("phase") == "Running":
        entry.running = at


def _status_summary(pod: dict[str, Any]) -> str:
    """`phase conditions containers` of one event, to see what each status write changed."""
    status = pod.get("status") or {}
    conditions = ",".join(
        f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or []
    )
    states = ",".join(
        next(iter(c.get("state") or {"none": 0})) for c in status.get("containerStatuses") or []
    )
    return f"{status.get('phase')} [{conditions}] [{states}] ip={status.get('podIP', '')}"


async def runtime_times(socket: Path, times: dict[str, PodTimes]) -> None:
    """Fills each pod's RUNTIME_PHASES from the runtime's sandboxes and containers."""
    async with RuntimeClient(f"unix://{socket}") as cri:
        sandboxes = await cri.call("ListPodSandbox", pb.ListPodSandboxRequest())
        containers = await cri.call("ListContainers", pb.ListContainersRequest())
        seen: dict[str, dict[str, float]] = {}
        for sandbox in sandboxes.items:
            uid = sandbox.labels.get(POD_UID_LABEL) or sandbox.metadata.uid
            seen.setdefault(uid, {})["sandbox_requested"] = sandbox.created_at / 1e9
        for container in containers.containers:
            status = await cri.call(
                "ContainerStatus", pb.ContainerStatusRequest(container_id=container.id)
            )
            entry = seen.setdefault(container.labels.get(POD_UID_LABEL, ""), {})
            entry["container_requested"] = status.status.created_at / 1e9
            if status.status.started_at:
                entry["container_started"] = status.status.started_at / 1e9
    for uid, wall in seen.items():
        pod = times.get(uid)
        if pod is not None and pod.created_wall:
            pod.runtime = {k: pod.created + (v - pod.created_wall) for k, v in wall.items()}


async def measure(
    kubeconfig: Path, socket: Path, node: str, pods: int, seconds: float, progress: Progress | None
) -> dict[str, Any]:
    """Creates the Deployment and watches its pods until all are Running (or the timeout)."""
    times: dict[str, PodTimes] = {}
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as client:
        await _node_ready(client, node, 60)
        listed = await client.list(PODS, NAMESPACE)
        version = str((listed.get("metadata") or {}).get("resourceVersion") or "")
        task = progress.add_task("pods Running", total=pods) if progress else None
        all_running = asyncio.Event()

        async def watch() -> None:
            async for event in client.watch(
                PODS, NAMESPACE, resource_version=version, label_selector=f"app={APP}"
            ):
                at = time.monotonic()
                if event.type in ("ADDED", "MODIFIED"):
                    _observe(times, event.object, at)
                running = sum(1 for t in times.values() if t.running is not None)
                if progress is not None and task is not None:
                    progress.update(task, completed=running)
                if running >= pods:
                    all_running.set()
                    return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0.2)  # the watch is open before the first pod exists
        requests_before = await _request_counts(client)
        started = time.monotonic()
        await client.create(DEPLOYMENTS, deployment(pods), NAMESPACE)
        try:
            await asyncio.wait_for(all_running.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            watcher.cancel()
        requests_after = await _request_counts(client)
        await runtime_times(socket, times)
        result = report(times, pods, started)
        result["timeline"] = timeline(times, started)
        result["started_monotonic"] = started  # CLOCK_MONOTONIC: other processes' samples align
        result["requests_per_pod"] = {
            key: round((count - requests_before.get(key, 0)) / pods, 2)
            for key, count in sorted(requests_after.items())
            if key in NODE_REQUESTS and count > requests_before.get(key, 0)
        }
        return result


# The kubelet's API requests per pod it starts (the API server's apiserver_request_total).
NODE_REQUESTS = (
    "GET configmaps",
    "GET secrets",
    "POST serviceaccounts/token",
    "PATCH pods/status",
    "GET pods",
    "POST events",
)


async def _request_counts(client: RESTClient) -> dict[str, float]:
    """`VERB resource[/subresource]` -> requests so far, from the API server's /metrics."""
    try:
        answer = await client.request("GET", "/metrics", accept="text/plain")
    except Exception:  # figures only: a server without /metrics gives none
        return {}
    counts: dict[str, float] = {}
    for line in answer.body.decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels = dict(
            part.split("=", 1) for part in labels_text.split("{", 1)[1].split(",") if "=" in part
        )
        label = {k: v.strip('"') for k, v in labels.items()}
        resource_name = label.get("resource", "")
        if label.get("subresource"):
            resource_name += "/" + label["subresource"]
        key = f"{label.get('verb', '')} {resource_name}"
        counts[key] = counts.get(key, 0.0) + float(value)
    return counts


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (upstream's e2e perf util), 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(_percentile(values, 0.50) * 1000, 1),
        "p90_ms": round(_percentile(values, 0.90) * 1000, 1),
        "p99_ms": round(_percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values, default=0.0) * 1000, 1),
    }


def _at(times: PodTimes, step: str) -> float | None:
    value: float | None = (
        times.runtime.get(step) if step in RUNTIME_PHASES else getattr(times, step)
    )
    return value


def report(times: dict[str, PodTimes], pods: int, started: float) -> dict[str, Any]:
    running = [t for t in times.values() if t.running is not None]
    phases: dict[str, dict[str, float]] = {}
    previous = "created"
    for phase in PHASES:
        spans = [
            getattr(t, phase) - getattr(t, previous)
            for t in times.values()
            if getattr(t, phase) is not None and getattr(t, previous) is not None
        ]
        phases[f"{previous}_to_{phase}"] = _summary(spans)
        previous = phase
    steps = ("created", "scheduled", *RUNTIME_PHASES, "running")
    for before, after in itertools.pairwise(steps):
        spans = [
            b - a
            for t in times.values()
            if (a := _at(t, before)) is not None and (b := _at(t, after)) is not None
        ]
        phases[f"{before}_to_{after}"] = _summary(spans)
    last = max((t.running for t in running if t.running is not None), default=started)
    return {
        "pods": pods,
        "pods_running": len(running),
        "startup_latency": _summary([t.running - t.created for t in running if t.running]),
        "phases": phases,
        "total_seconds": round(last - started, 3),
        # When the ReplicaSet controller's creations arrived (ADDED), from the Deployment's
        # creation: the pace of creation, apart from each pod's latency.
        "created_seconds": {
            "first": round(min((t.created for t in times.values()), default=started) - started, 3),
            "last": round(max((t.created for t in times.values()), default=started) - started, 3),
        },
        # Watch events per pod up to Running (ADDED, the binding, then the kubelet's status
        # writes) and the most common sequence of what they showed.
        "events_per_pod": round(sum(t.events for t in running) / max(1, len(running)), 2),
        "common_event_sequence": _most_common([" | ".join(t.statuses) for t in running]),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def timeline(times: dict[str, PodTimes], started: float) -> list[dict[str, float]]:
    """Each pod's steps in seconds from the Deployment's creation, in order of creation: which
    pods make the tail, and what the node was doing then (`--timeline FILE`)."""
    rows = []
    for entry in sorted(times.values(), key=lambda t: t.created):
        row = {}
        for step in ("created", "scheduled", *RUNTIME_PHASES, "running"):
            at = _at(entry, step)
            if at is not None:
                row[step] = round(at - started, 3)
        rows.append(row)
    return rows


def _most_common(values: list[str]) -> str:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return max(counts, key=lambda v: counts[v], default="")


def _cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return round(ticks / os.sysconf("SC_CLK_TCK"), 2)


def _table(result: dict[str, Any]) -> Table:
    table = Table(title=f"pod startup: {result['pods_running']}/{result['pods']} pods Running")
    table.add_column("span")
    for column in ("p50 ms", "p90 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    rows = [("created → Running", result["startup_latency"])]
    rows += [(name.replace("_to_", " → "), s) for name, s in result["phases"].items()]
    for name, s in rows:
        table.add_row(name, *(f"{s[k]:.0f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")))
    table.caption = (
        f"total {result['total_seconds']:.2f} s; load {result['load_average']} on "
        f"{result['cpus']} CPUs"
    )
    return table


def check_machine() -> str | None:
    """Why this machine cannot run the bench, or None."""
    if os.geteuid() != 0:
        return "needs root (runc, network namespaces)"
    for tool in ("runc", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} not found (make setup installs it)"
    if not Path("/bin/busybox").is_file():
        return "/bin/busybox not found: install Debian's busybox-static (make setup does)"
    return None


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    problem = check_machine()
    if problem:
        console.print(f"[red]pod_startup: {problem}")
        return 2
    if not 1 <= args.pods <= MAX_PODS:
        console.print(f"[red]--pods must be 1..{MAX_PODS} (one node's allocatable pods)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="pod-startup-"))
    cluster: Cluster | None = None
    samplers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        console.print("starting kube server, kube runtime and kube kubelet...")
        qps = args.kube_api_qps
        server_args = () if qps is None else (f"--kube-api-qps={qps:g}",)
        cluster = new_cluster(work)
        start_cluster(cluster, server_args)
        profile = Path(args.profile) if args.profile else None
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            for name in ("kubelet", "runtime"):
                samplers[name] = subprocess.Popen(
                    [
                        str(BIN / "py-spy"),
                        "record",
                        "--pid",
                        str(cluster.processes[name].pid),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "-o",
                        str(profile / f"{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        # What setting up wrote (the image, the server's files) goes to disk now, not during
        # the run: its writeback would otherwise share the cores with the pods' starts.
        os.sync()
        cpu_before = {n: _cpu_seconds(p.pid) for n, p in cluster.processes.items()}
        accounting = cluster.accounting
        tree_before = accounting.seconds() if accounting is not None else {}
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            result = asyncio.run(
                measure(
                    cluster.kubeconfig,
                    work / "cri.sock",
                    cluster.node,
                    args.pods,
                    args.timeout,
                    progress,
                )
            )
        result["cpu_seconds"] = {
            n: round(_cpu_seconds(p.pid) - cpu_before[n], 2) for n, p in cluster.processes.items()
        }
        tree_after = accounting.seconds() if accounting is not None else {}
        result["cpu_seconds_tree"] = {
            n: round(v - tree_before.get(n, 0.0), 2) for n, v in tree_after.items()
        }
        for sampler in samplers.values():
            sampler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            try:
                sampler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sampler.kill()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        console.print(f"[red]pod_startup failed: {err}")
        for log in ("server.log", "runtime.log", "kubelet.log"):
            path = work / log
            if path.exists():
                console.print(f"--- {log} (tail)\n{path.read_text()[-2000:]}", markup=False)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # cleanup runs to its end
            signal.signal(signum, signal.SIG_IGN)
        for sampler in samplers.values():
            if sampler.poll() is None:
                sampler.kill()
                sampler.wait()
        if cluster is not None:
            stop_cluster(cluster)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        os.sync()  # the cleanup's writeback here, not in whatever runs next (another run)
    timeline_rows = result.pop("timeline", [])
    if args.timeline:
        Path(args.timeline).write_text(json.dumps(timeline_rows, indent=0) + "\n")
    if args.output == "json":
        print(json.dumps(result))
    else:
        Console().print(_table(result))
        console.print(f"CPU seconds during the run: {result['cpu_seconds']}")
        console.print(f"CPU seconds with all they started: {result['cpu_seconds_tree']}")
        console.print(f"watch events per pod until Running: {result['events_per_pod']}")
        created = result["created_seconds"]
        console.print(f"pods created (ADDED) {created['first']:.2f} s to {created['last']:.2f} s")
        console.print(f"the node's API requests per pod: {result['requests_per_pod']}")
    return 0 if result["pods_running"] == args.pods else 1


def _exit_on_signal(signum: int, frame: object) -> None:
    """SIGTERM and SIGHUP end the harness as Ctrl-C does: through its cleanup (the cluster
    stopped, what the runtime made removed by name), not with the default immediate exit."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    parser = argparse.ArgumentParser(prog="python -m bench.pod_startup", description=__doc__)
    parser.add_argument("--pods", type=int, default=100, help="replicas (default 100)")
    parser.add_argument("--output", choices=("table", "json"), default="table")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for all Running")
    parser.add_argument("--profile", help="directory for py-spy stacks of kubelet and runtime")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--timeline", help="file for each pod's step times (JSON, s from start)")
    parser.add_argument(
        "--kube-api-qps",
        type=float,
        help="the controller-manager's and scheduler's client QPS (kube server's flag; default "
        "upstream's 20 and 50, 0 = unthrottled): whether their throttle paces pod creation",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
