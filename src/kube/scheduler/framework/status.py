"""What a plugin answers: a status code, the reasons a user reads, and who said it.

Upstream's `framework.Status`. The codes mean, for the scheduling cycle:

- `SUCCESS`: go on;
- `ERROR`: something is broken (a bug, an API failure); the pod is retried with backoff and
  the message is logged and recorded, never shown as a reason the pod does not fit;
- `UNSCHEDULABLE`: the pod does not fit this node now, but preempting pods on it may help;
- `UNSCHEDULABLE_AND_UNRESOLVABLE`: the pod does not fit and preemption cannot change that
  (a node selector, an untolerated taint): the node is not a preemption candidate;
- `WAIT`: only from Permit, the pod waits (with a timeout) to be allowed or rejected;
- `SKIP`: from PreFilter/PreScore, the plugin has nothing to do for this pod, and its
  Filter/Score are skipped for the whole cycle.

`reasons` are the user-facing phrases ("Insufficient cpu"); the aggregated FailedScheduling
message counts them across nodes, so one node may give several (one per missing resource).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Code(enum.IntEnum):
    SUCCESS = 0
    ERROR = 1
    UNSCHEDULABLE = 2
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    WAIT = 4
    SKIP = 5


@dataclass
class Status:
    """A plugin's answer; `Status()` is success."""

    code: Code = Code.SUCCESS
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    def is_wait(self) -> bool:
        return self.code == Code.WAIT

    def is_rejected(self) -> bool:
        """Unschedulable in either form: the pod does not fit (not an error)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def with_plugin(self, plugin: str) -> Status:
        if not self.plugin:
            self.plugin = plugin
        return self


SUCCESS_STATUS = Status()


def success() -> Status:
    return Status()


def unschedulable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, list(reasons))


def unresolvable(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, list(reasons))


def error(message: str) -> Status:
    return Status(Code.ERROR, [message])


def skip() -> Status:
    return Status(Code.SKIP)
