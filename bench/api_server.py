"""Process figures for the API benchmarks, and the `kube server` they run against.

The server itself is `kube.perf.server.kube_server` (shared with `kube bench scheduler`): a
real `kube server --data-dir <tmp> --secure-port 0` in its own process and session, stopped by
its PID, its log in a file and its stdout drained. This module adds the /proc readings the
reports use to say how much CPU the server and the rest of the machine spent.
"""

from __future__ import annotations

import os
from pathlib import Path

from kube.perf.server import RunningServer, ServerFailed, kube_server

__all__ = ["RunningServer", "ServerFailed", "cpu_seconds", "kube_server", "machine_busy_seconds"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat); utime and stime are fields 14 and 15.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine spent busy (not idle or in iowait) so far."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
