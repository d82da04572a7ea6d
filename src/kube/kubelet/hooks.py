"""Container lifecycle hooks (postStart, preStop), as upstream's lifecycle HandlerRunner.

A hook is an exec (through the CRI's ExecSync) or an httpGet (to the pod IP, or `host`) and,
since 1.29, a sleep. `run_hook` returns None when it succeeded, else upstream's message, which
the kubelet puts in the FailedPostStartHook / FailedPreStopHook event. The caller bounds the
time: postStart has none of its own upstream, preStop counts against the grace period.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kube.cri.client import RuntimeClient
from kube.kubelet.handlers import exec_action, http_action

NO_LIMIT = 0.0


def pod_label(pod: dict[str, Any]) -> str:
    """upstream's format.Pod: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def _go_list(items: list[str]) -> str:
    return "[" + " ".join(items) + "]"


async def run_hook(
    cri: RuntimeClient,
    handler: dict[str, Any],
    pod: dict[str, Any],
    container: dict[str, Any],
    container_id: str,
    pod_ip: str,
    seconds: float = NO_LIMIT,
) -> str | None:
    """Runs one hook handler; None when it succeeded, else the message for the event."""
    name = container.get("name", "")
    if isinstance(handler.get("exec"), dict):
        command = [str(c) for c in handler["exec"].get("command") or []]
        ok, output, error = await exec_action(cri, container_id, command, seconds)
        if ok:
            return None
        return (
            f'Exec lifecycle hook ({_go_list(command)}) for Container "{name}" in Pod '
            f'"{pod_label(pod)}" failed - error: {error}, message: "{output}"'
        )
    if isinstance(handler.get("httpGet"), dict):
        get = handler["httpGet"]
        ok, output = await http_action(get, container, pod_ip, seconds or 120.0)
        if ok:
            return None
        return (
            f'HTTP lifecycle hook ({get.get("path", "")}) for Container "{name}" in Pod '
            f'"{pod_label(pod)}" failed - error: {output}'
        )
    if isinstance(handler.get("sleep"), dict):
        await asyncio.sleep(float(handler["sleep"].get("seconds") or 0))
        return None
    return f'Cannot run handler: invalid handler for Container "{name}"'
