"""CPU seconds of a process (user + system), read from /proc, for the harnesses' figures.

Throughput on a shared 2-core machine moves with what else runs; the CPU a process spends per
pod does not (much). The harnesses read it for themselves and for the processes they start
(the API server, the load generator) at the start and the end of a measured phase.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

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


class GCTimer:
    """CPU seconds this process spends in the cyclic garbage collector (start() to stop()).

    A py-spy profile charges a collection to whatever line allocated last, so its cost shows
    up spread over unrelated lines; `gc.callbacks` measures it as one figure.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections: dict[int, int] = {}
        self._began = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.thread_time()  # CPU, not wall: a busy machine preempts a pass
        else:
            self.seconds += time.thread_time() - self._began
            generation = int(info.get("generation", 0))
            self.collections[generation] = self.collections.get(generation, 0) + 1

    def start(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)
