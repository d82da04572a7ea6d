"""Restart backoff per container: upstream's CrashLoopBackOff (10 s doubling to 5 minutes).

As upstream's flowcontrol.Backoff in the kubelet: each restart of an exited container doubles
the wait before the next (10 s, 20 s, ... capped at 300 s); a container that ran for 10
minutes before exiting starts afresh at 10 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0  # a container that ran this long starts its backoff afresh


@dataclass
class Backoff:
    """Per-container restart backoff (upstream's flowcontrol.Backoff, 10 s .. 5 min)."""

    delays: dict[str, float] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def remaining(self, key: str, now: float) -> float:
        return max(0.0, self.until.get(key, 0.0) - now)

    def next(self, key: str, now: float, ran_for: float) -> float:
        delay = self.delays.get(key, 0.0)
        if ran_for >= BACKOFF_RESET or delay == 0.0:
            delay = BACKOFF_INITIAL
        else:
            delay = min(delay * 2, BACKOFF_MAX)
        self.delays[key] = delay
        self.until[key] = now + delay
        return delay

    def forget(self, prefix: str) -> None:
        for table in (self.delays, self.until):
            for key in [k for k in table if k.startswith(prefix)]:
                del table[key]
