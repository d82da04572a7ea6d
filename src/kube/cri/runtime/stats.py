"""Container CPU and memory usage from cgroup files: what CRI ContainerStats answers.

cgroups v1 (this project's machines): `cpuacct/<path>/cpuacct.usage` is the CPU time in
nanoseconds; `memory/<path>/memory.usage_in_bytes` and `memory.stat` give usage, the working
set (usage minus `total_inactive_file`, as cAdvisor and containerd compute it), RSS and page
faults; `memory.limit_in_bytes` gives what is still available. cgroups v2 (`cpu.stat`
`usage_usec`, `memory.current`, `memory.stat`, `memory.max`) are read when the v1 files are
absent.

`usage_nano_cores` needs two samples: `CpuRate` keeps the previous sample per key and answers
the average rate since then (None for the first sample), as containerd's CRI plugin does.
The same reader serves the kubelet's node figures (the root cgroup, path "").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 1 << 62  # v1 reports "no limit" as a huge page-rounded number


@dataclass(frozen=True)
class CgroupUsage:
    """One sample of a cgroup's CPU and memory counters (None: not readable)."""

    timestamp_ns: int
    cpu_ns: int | None = None
    memory_usage: int | None = None
    working_set: int | None = None
    rss: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None
    memory_limit: int | None = None  # None: unlimited

    @property
    def available(self) -> int | None:
        if self.memory_limit is None or self.working_set is None:
            return None
        return max(0, self.memory_limit - self.working_set)


def _int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def read_usage(cgroups_path: str, timestamp_ns: int, root: Path = CGROUP_ROOT) -> CgroupUsage:
    """The counters of the cgroup at `cgroups_path` (relative to each hierarchy; "" = root)."""
    relative = cgroups_path.strip("/")
    memory_dir = root / "memory" / relative
    if (memory_dir / "memory.usage_in_bytes").exists() or (
        root / "cpuacct" / relative / "cpuacct.usage"
    ).exists():
        stat = _keyed(memory_dir / "memory.stat")
        usage = _int(memory_dir / "memory.usage_in_bytes")
        limit = _int(memory_dir / "memory.limit_in_bytes")
        inactive = stat.get("total_inactive_file", 0)
        return CgroupUsage(
            timestamp_ns=timestamp_ns,
            cpu_ns=_int(root / "cpuacct" / relative / "cpuacct.usage"),
            memory_usage=usage,
            working_set=None if usage is None else max(0, usage - inactive),
            rss=stat.get("total_rss"),
            page_faults=stat.get("total_pgfault"),
            major_page_faults=stat.get("total_pgmajfault"),
            memory_limit=limit if limit is not None and limit < UNLIMITED else None,
        )
    unified = root / relative
    cpu = _keyed(unified / "cpu.stat")
    stat = _keyed(unified / "memory.stat")
    usage = _int(unified / "memory.current")
    return CgroupUsage(
        timestamp_ns=timestamp_ns,
        cpu_ns=cpu["usage_usec"] * 1000 if "usage_usec" in cpu else None,
        memory_usage=usage,
        working_set=None if usage is None else max(0, usage - stat.get("inactive_file", 0)),
        rss=stat.get("anon"),
        page_faults=stat.get("pgfault"),
        major_page_faults=stat.get("pgmajfault"),
        memory_limit=_int(unified / "memory.max"),
    )


@dataclass
class CpuRate:
    """usage_nano_cores from successive samples of cumulative CPU time, per key."""

    last: dict[str, tuple[int, int]] = field(default_factory=dict)

    def rate(self, key: str, timestamp_ns: int, cpu_ns: int | None) -> int | None:
        """Nanocores since the previous sample of `key`; None for the first (or a reset)."""
        if cpu_ns is None:
            return None
        previous = self.last.get(key)
        self.last[key] = (timestamp_ns, cpu_ns)
        if previous is None:
            return None
        then, used = previous
        elapsed = timestamp_ns - then
        if elapsed <= 0 or cpu_ns < used:
            return None
        return (cpu_ns - used) * 1_000_000_000 // elapsed

    def forget(self, keep: set[str]) -> None:
        for key in [k for k in self.last if k not in keep]:
            del self.last[key]
