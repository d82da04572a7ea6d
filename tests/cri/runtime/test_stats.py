"""Container CPU and memory from cgroup files (v1 and v2), and the nanocore rate."""

from __future__ import annotations

from pathlib import Path

from kube.cri.runtime.stats import CpuRate, read_usage


def _write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)


def test_cgroup_v1_counters(tmp_path: Path) -> None:
    _write(tmp_path / "cpuacct" / "kubepods" / "c1", {"cpuacct.usage": "123456789\n"})
    _write(
        tmp_path / "memory" / "kubepods" / "c1",
        {
            "memory.usage_in_bytes": "10000\n",
            "memory.limit_in_bytes": "65536\n",
            "memory.stat": "cache 5\nrss 7\ntotal_rss 4000\ntotal_inactive_file 1000\n"
            "total_pgfault 42\ntotal_pgmajfault 3\n",
        },
    )
    usage = read_usage("/kubepods/c1", 5, tmp_path)
    assert usage.cpu_ns == 123456789
    assert usage.memory_usage == 10000
    assert usage.working_set == 9000  # usage less the inactive file cache
    assert usage.rss == 4000
    assert (usage.page_faults, usage.major_page_faults) == (42, 3)
    assert usage.available == 65536 - 9000


def test_unlimited_v1_memory_has_no_available(tmp_path: Path) -> None:
    _write(
        tmp_path / "memory" / "x",
        {"memory.usage_in_bytes": "1", "memory.limit_in_bytes": "9223372036854771712"},
    )
    assert read_usage("x", 0, tmp_path).available is None


def test_cgroup_v2_counters(tmp_path: Path) -> None:
    _write(
        tmp_path / "pod" / "c",
        {
            "cpu.stat": "usage_usec 2000\nuser_usec 1500\n",
            "memory.current": "8192\n",
            "memory.max": "max\n",
            "memory.stat": "anon 4096\ninactive_file 1024\npgfault 9\npgmajfault 1\n",
        },
    )
    usage = read_usage("pod/c", 0, tmp_path)
    assert usage.cpu_ns == 2_000_000
    assert usage.working_set == 7168
    assert usage.rss == 4096
    assert usage.memory_limit is None


def test_missing_cgroup_reads_as_unknown(tmp_path: Path) -> None:
    usage = read_usage("gone", 0, tmp_path)
    assert usage.cpu_ns is None
    assert usage.memory_usage is None


def test_nanocores_from_two_samples() -> None:
    rates = CpuRate()
    assert rates.rate("c", 1_000_000_000, 0) is None  # the first sample has no rate
    # half a core: 0.5 s of CPU over 1 s
    assert rates.rate("c", 2_000_000_000, 500_000_000) == 500_000_000
    assert rates.rate("c", 2_000_000_000, 600_000_000) is None  # no time passed
    assert rates.rate("c", 3_000_000_000, 100) is None  # counter reset
    rates.forget(set())
    assert rates.last == {}
