"""CPU seconds of a process (user + system), read from /proc, for the harnesses' figures.

Throughput on a shared 2-core machine moves with what else runs; the CPU a process spends per
pod does not (much). The harnesses read it for themselves and for the processes they start
(the API server, the load generator) at the start and the end of a measured phase.
"""

from __future__ import annotations

import os
import time

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int | None = None) -> float | None:
    """utime + stime of `pid` (every thread), or this process's own; None once it is gone."""
    if pid is None or pid == os.getpid():
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


class CPUMeter:
    """CPU seconds per named process between `start()` and `stop()`."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = dict(pids)
        self._start: dict[str, float | None] = {}
        self.seconds: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        for name, pid in self.pids.items():
            before, after = self._start.get(name), cpu_seconds(pid)
            if before is not None and after is not None:
                self.seconds[name] = round(after - before, 2)
        return self.seconds
