"""The SLIs `kube sim load` reports, computed as clusterloader2 computes them.

- API call latency: the API server's `apiserver_request_duration_seconds` histogram, read from
  /metrics before and after the run; the difference of the two is this run's calls alone, and
  p50/p99 per (verb, resource, subresource, scope) come from its buckets by linear
  interpolation, as Prometheus' histogram_quantile does (so they are only as fine as
  upstream's buckets: 5, 25, 50, 100, 200, 400 ms, ...).
- Pod startup latency: exact percentiles over per-pod durations (nearest-rank).
- Component CPU and memory: per process, from psutil (or /proc when psutil is missing).

Upstream's SLOs these are held against: mutating API calls p99 <= 1 s, pod startup p99 <= 5 s.
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

DURATION_METRIC = "apiserver_request_duration_seconds"
MUTATING_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION"})
MUTATING_SLO_MS = 1000.0
POD_STARTUP_SLO_MS = 5000.0

# (verb, resource, subresource, scope) -> {upper bound: cumulative count}
Key = tuple[str, str, str, str]
Histograms = dict[Key, dict[float, float]]


def parse_histograms(text: str) -> Histograms:
    """The request duration buckets of a /metrics page, summed over the labels we do not keep."""
    out: Histograms = defaultdict(lambda: defaultdict(float))
    for family in text_string_to_metric_families(text):
        if family.name != DURATION_METRIC:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_bucket"):
                continue
            labels = sample.labels
            key = (
                labels.get("verb", ""),
                labels.get("resource", ""),
                labels.get("subresource", ""),
                labels.get("scope", ""),
            )
            out[key][float(labels["le"])] += sample.value
    return {k: dict(v) for k, v in out.items()}


def delta(after: Histograms, before: Histograms) -> Histograms:
    """after - before, bucket by bucket; series with no new observations are dropped."""
    out: Histograms = {}
    for key, buckets in after.items():
        old = before.get(key, {})
        diff = {le: count - old.get(le, 0.0) for le, count in buckets.items()}
        if diff.get(math.inf, 0.0) > 0:
            out[key] = diff
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' histogram_quantile over cumulative buckets, in seconds (NaN when empty)."""
    bounds = sorted(buckets)
    total = buckets.get(math.inf, 0.0)
    if total <= 0 or not bounds:
        return math.nan
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                # Beyond the last finite bucket: Prometheus answers that bucket's bound.
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def api_latency(hist: Histograms) -> list[dict[str, Any]]:
    """One row per (verb, resource, subresource, scope): count, p50_ms, p99_ms; busiest first."""
    rows: list[dict[str, Any]] = []
    for (verb, res, sub, scope), buckets in hist.items():
        rows.append(
            {
                "verb": verb,
                "resource": res,
                "subresource": sub,
                "scope": scope,
                "count": int(buckets.get(math.inf, 0.0)),
                "p50_ms": round(histogram_quantile(0.5, buckets) * 1000, 2),
                "p99_ms": round(histogram_quantile(0.99, buckets) * 1000, 2),
                "mutating": verb in MUTATING_VERBS,
            }
        )
    rows.sort(key=lambda r: (-r["count"], r["verb"], r["resource"]))
    return rows


def worst_mutating_p99(rows: Iterable[dict[str, Any]]) -> float | None:
    """The highest mutating p99 over single-object calls (scope "resource"), in ms.

    Upstream's SLO bounds "mutating API calls for single objects" by 1 s; collection calls
    (a namespace's DELETECOLLECTION of its events when it is deleted) are namespace-scoped
    and held to clusterloader2's 5 s (namespace) and 30 s (cluster) thresholds instead."""
    values = [
        float(r["p99_ms"])
        for r in rows
        if r["mutating"] and r["resource"] and r.get("scope", "resource") == "resource"
    ]
    return max(values) if values else None


def percentiles(values: Sequence[float], qs: Sequence[float]) -> dict[str, float]:
    """Nearest-rank percentiles of `values` (same unit), keyed "p50", "p90", ..."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for q in qs:
        rank = max(1, math.ceil(q * len(ordered)))
        out[f"p{round(q * 100)}"] = ordered[rank - 1]
    return out


# -- processes --------------------------------------------------------------------------------

COMPONENT_COMMANDS = (
    "server",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kubelet",
    "sim",
)


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def component_name(cmdline: Sequence[str]) -> str | None:
    """'kube server' / 'kube sim up' / ... for a `kube` command line, else None."""
    for i, part in enumerate(cmdline):
        base = os.path.basename(part)
        is_kube = base == "kube" or (part == "kube.cli.main" and i > 0 and cmdline[i - 1] == "-m")
        if is_kube and i + 1 < len(cmdline):
            sub = cmdline[i + 1]
            if sub not in COMPONENT_COMMANDS:
                return None
            if sub == "sim" and i + 2 < len(cmdline):
                return f"kube sim {cmdline[i + 2]}"
            return f"kube {sub}"
    return None


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _descendants(root: int, pids: list[int]) -> set[int]:
    parent = {pid: _ppid(pid) for pid in pids}
    out: set[int] = set()
    for pid in pids:
        p = pid
        while p > 1:
            if p == root:
                out.add(pid)
                break
            p = parent.get(p, 0)
    return out


def _tcp_inodes(port: int) -> tuple[set[int], set[int]]:
    """The socket inodes listening on TCP `port`, and those connected to it (IPv4 and 6)."""
    listening: set[int] = set()
    connected: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 10:
                continue
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listening.add(inode)
            elif state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                connected.add(inode)
    return listening, connected


def _socket_owners(pids: list[int], inodes: set[int]) -> set[int]:
    """The processes among `pids` holding one of the socket `inodes`."""
    owners: set[int] = set()
    if not inodes:
        return owners
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    owners.add(pid)
                    break
            except OSError:
                continue
    return owners


def cluster_pids(port: int) -> set[int]:
    """The processes of the cluster whose API server listens on local TCP `port`: that
    server and everything it started, and every process connected to it (hollow nodes, a
    controller-manager or scheduler run on their own)."""
    pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    listening, connected = _tcp_inodes(port)
    servers = _socket_owners(pids, listening)
    out = set(servers) | _socket_owners(pids, connected)
    for server in servers:
        out |= _descendants(server, pids)
    return out


def find_components(
    extra: dict[str, int] | None = None,
    descendants_of: int | None = None,
    port: int | None = None,
) -> dict[str, int]:
    """name -> pid of this user's running `kube` components (server, sim, ...), plus `extra`.

    With `descendants_of`, only that process's children (a control plane it started); with
    `port`, the processes of the cluster served on that local port (`cluster_pids`);
    otherwise every one on the machine. Two processes of one kind are told apart by their
    PID (`kube sim up[1234]`).
    """
    found: dict[str, int] = {}
    uid = os.getuid()
    pids = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    if descendants_of is not None:
        pids = sorted(_descendants(descendants_of, pids))
    elif port is not None:
        pids = sorted(cluster_pids(port))
    for pid in pids:
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        name = component_name(_cmdline(pid))
        if name is None or pid == os.getpid():
            continue
        found[f"{name}[{pid}]" if name in found or name in (extra or {}) else name] = pid
    found.update(extra or {})
    return found


@dataclass
class ProcessSample:
    t: float
    cpu_cores: float  # CPU used since the previous sample, in cores
    rss_mb: float


@dataclass
class ProcessWatch:
    """CPU time and RSS of one process, sampled; CPU per interval from the cumulative times."""

    name: str
    pid: int
    samples: list[ProcessSample] = field(default_factory=list)
    _last: tuple[float, float] | None = None  # (monotonic, cpu seconds)
    _first_cpu: float | None = None
    gone: bool = False

    def sample(self, t: float) -> None:
        if self.gone:
            return
        read = _read_process(self.pid)
        if read is None:
            self.gone = True
            return
        cpu, rss = read
        now = time.monotonic()
        if self._first_cpu is None:
            self._first_cpu = cpu
        if self._last is not None and now > self._last[0]:
            cores = (cpu - self._last[1]) / (now - self._last[0])
            self.samples.append(ProcessSample(round(t, 2), round(cores, 3), round(rss, 1)))
        self._last = (now, cpu)

    def summary(self) -> dict[str, Any]:
        cpu_total = (self._last[1] - self._first_cpu) if self._last and self._first_cpu else 0.0
        cores = [s.cpu_cores for s in self.samples]
        return {
            "pid": self.pid,
            "cpu_seconds": round(cpu_total, 2),
            "cpu_avg_cores": round(sum(cores) / len(cores), 3) if cores else 0.0,
            "cpu_max_cores": max(cores) if cores else 0.0,
            "rss_max_mb": max((s.rss_mb for s in self.samples), default=0.0),
            "rss_last_mb": self.samples[-1].rss_mb if self.samples else 0.0,
            "samples": [
                {"t": s.t, "cpu_cores": s.cpu_cores, "rss_mb": s.rss_mb} for s in self.samples
            ],
        }


def _read_process(pid: int) -> tuple[float, float] | None:
    """(user+system CPU seconds, RSS in MiB) of `pid`, or None once it is gone."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _read_proc(pid)
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            rss = proc.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return times.user + times.system, rss / 2**20


def _read_proc(pid: int) -> tuple[float, float] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20  # rss (field 24)
    return cpu, rss
