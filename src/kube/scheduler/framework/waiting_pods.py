"""Pods that a Permit plugin asked to wait, and the allow/reject API other code drives them with.

Upstream's `waitingPod` and `waitingPodsMap` (framework/runtime/waiting_pods_map.go). When
Permit plugins answer Wait (and none rejects), the pod is assumed on its node and its binding
cycle waits in `wait()` until one of:

- every waiting plugin has called `allow(plugin)`: the pod goes on to PreBind and Bind;
- anyone calls `reject(plugin, message)`: the pod is Unschedulable with that message (a
  co-scheduling plugin rejecting a gang, or the scheduler when the pod is deleted);
- a plugin's own timeout passes first: the pod is rejected with upstream's message
  "rejected due to timeout after waiting 10s at plugin Coscheduling".

Only the first outcome counts (later allow/reject calls do nothing), as upstream's non-blocking
channel send. Plugins reach waiting pods through the framework handle
(`get_waiting_pod(uid)`, `iterate_over_waiting_pods(fn)`, `reject_waiting_pod(uid)`). Timeouts
run on the scheduler's `Clock` (a fake clock in tests), one timer per waiting plugin, and
every timer is cancelled once the pod's fate is decided.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from kube.api.meta import Object
from kube.client.clock import Clock, TimerHandle
from kube.scheduler.framework.status import Code, Status

MAX_TIMEOUT = 15 * 60.0  # upstream maxTimeout: a Permit plugin waits 15 minutes at most


def go_duration(seconds: float) -> str:
    """Go's time.Duration.String() for `seconds`: "10s", "1m30s", "500ms", "1h0m0s"."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1_000:
        return f"{sign}{nanos}ns"
    if nanos < 1_000_000:
        return f"{sign}{_trim(nanos / 1_000)}µs"
    if nanos < 1_000_000_000:
        return f"{sign}{_trim(nanos / 1_000_000)}ms"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    secs = _trim(rest / 1e9)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def pod_uid(pod: Object) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace') or ''}/{meta.get('name') or ''}")


class WaitingPod:
    """One pod waiting at Permit: the plugins still to allow it, and its final status."""

    def __init__(self, pod: Object, plugin_timeouts: dict[str, float], clock: Clock) -> None:
        self.pod = pod
        self._pending: dict[str, TimerHandle | None] = {}
        self._result: Status | None = None
        self._decided = asyncio.Event()
        for plugin, timeout in plugin_timeouts.items():
            wait = min(max(timeout, 0.0), MAX_TIMEOUT)
            self._pending[plugin] = clock.call_at(clock.now() + wait, self._timer(plugin, wait))

    def _timer(self, plugin: str, wait: float) -> Callable[[], None]:
        message = f"rejected due to timeout after waiting {go_duration(wait)} at plugin {plugin}"

        def expired() -> None:
            self.reject(plugin, message)

        return expired

    def get_pod(self) -> Object:
        return self.pod

    def get_pending_plugins(self) -> list[str]:
        """The plugins that asked the pod to wait and have not allowed it yet."""
        return list(self._pending)

    @property
    def result(self) -> Status | None:
        """The decided status (None while still waiting)."""
        return self._result

    def allow(self, plugin: str) -> None:
        """`plugin` lets the pod go; it is bound once every waiting plugin has allowed it."""
        timer = self._pending.pop(plugin, None)
        if timer is not None:
            timer.cancel()
        if not self._pending:
            self._decide(Status())

    def reject(self, plugin: str, message: str) -> None:
        """The pod will not bind: Unschedulable with `message` from `plugin` ("": the framework)."""
        self._decide(Status(Code.UNSCHEDULABLE, [message], plugin))

    def _decide(self, status: Status) -> None:
        if self._result is not None:
            return
        self._result = status
        for timer in self._pending.values():
            if timer is not None:
                timer.cancel()
        self._decided.set()

    async def wait(self) -> Status:
        """Until allowed, rejected or timed out; the status the binding cycle goes on with."""
        await self._decided.wait()
        assert self._result is not None
        return self._result


class WaitingPods:
    """The waiting pods by UID (upstream's waitingPodsMap; shared by a scheduler's profiles)."""

    def __init__(self) -> None:
        self._pods: dict[str, WaitingPod] = {}

    def add(self, pod: WaitingPod) -> None:
        self._pods[pod_uid(pod.pod)] = pod

    def remove(self, uid: str) -> None:
        self._pods.pop(uid, None)

    def get(self, uid: str) -> WaitingPod | None:
        return self._pods.get(uid)

    def iterate(self, callback: Callable[[WaitingPod], object]) -> None:
        for pod in list(self._pods.values()):
            callback(pod)

    def __iter__(self) -> Iterator[WaitingPod]:
        return iter(list(self._pods.values()))

    def __len__(self) -> int:
        return len(self._pods)
