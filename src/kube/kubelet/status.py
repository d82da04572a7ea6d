"""A pod's status from what the runtime says, as upstream's kubelet computes it.

Pure functions (no I/O), so the rules are unit-tested directly: the phase (upstream's getPhase),
the container statuses (state, lastState, ready, started, restartCount, image, imageID,
containerID), and the conditions PodReadyToStartContainers, Initialized, ContainersReady, Ready
and PodScheduled, each keeping its lastTransitionTime while its status does not change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

# runtime.v1 ContainerState values.
CREATED, RUNNING, EXITED, UNKNOWN = 0, 1, 2, 3


@dataclass(frozen=True)
class ContainerInfo:
    """One container as the runtime reports it (from CRI ContainerStatus)."""

    id: str
    name: str
    attempt: int
    state: int
    created_at: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image_ref: str = ""


def rfc3339(ns: int) -> str:
    """Nanoseconds since the epoch as an API timestamp (whole seconds, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // 1_000_000_000))


def _terminated(info: ContainerInfo, runtime: str) -> dict[str, Any]:
    state: dict[str, Any] = {
        "exitCode": info.exit_code,
        "reason": info.reason or ("Completed" if info.exit_code == 0 else "Error"),
        "startedAt": rfc3339(info.started_at) if info.started_at else None,
        "finishedAt": rfc3339(info.finished_at) if info.finished_at else None,
        "containerID": f"{runtime}://{info.id}",
    }
    if info.message:
        state["message"] = info.message
    return state


def container_status(
    spec: dict[str, Any],
    history: list[ContainerInfo],
    waiting: tuple[str, str] | None,
    runtime: str,
) -> dict[str, Any]:
    """The status of one container: `history` is its runtime containers, newest last."""
    name = spec["name"]
    current = history[-1] if history else None
    previous = history[-2] if len(history) > 1 else None
    status: dict[str, Any] = {
        "name": name,
        "image": spec.get("image", ""),
        "imageID": "",
        "ready": False,
        "restartCount": current.attempt if current else 0,
        "started": False,
        "state": {},
        "lastState": {},
    }
    if current is not None:
        status["imageID"] = current.image_ref
        status["containerID"] = f"{runtime}://{current.id}"
    if current is not None and current.state == RUNNING and waiting is None:
        status["state"] = {"running": {"startedAt": rfc3339(current.started_at)}}
        status["ready"] = True  # no readiness probes yet: running is ready
        status["started"] = True
    elif current is not None and current.state == EXITED and waiting is None:
        status["state"] = {"terminated": _terminated(current, runtime)}
    else:
        reason, message = waiting or ("ContainerCreating", "")
        status["state"] = {
            "waiting": {"reason": reason, **({"message": message} if message else {})}
        }
    last = current if (waiting is not None and current is not None) else previous
    if last is not None and last.state == EXITED:
        status["lastState"] = {"terminated": _terminated(last, runtime)}
    return status


def phase(pod: dict[str, Any], statuses: list[dict[str, Any]]) -> str:
    """upstream's getPhase for the regular containers."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    waiting = running = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif "terminated" in (status.get("lastState") or {}):
            stopped += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "OnFailure":
            return "Running"
        return "Failed"
    return "Pending"


def condition(
    kind: str, ok: bool, previous: dict[str, dict[str, Any]], now: str, reason: str = ""
) -> dict[str, Any]:
    status = "True" if ok else "False"
    old = previous.get(kind) or {}
    transition = old.get("lastTransitionTime") if old.get("status") == status else None
    out: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": transition or now,
    }
    if reason and not ok:
        out["reason"] = reason
    return out


def pod_status(
    pod: dict[str, Any],
    *,
    sandbox_ready: bool,
    pod_ip: str,
    host_ip: str,
    containers: dict[str, list[ContainerInfo]],
    waiting: dict[str, tuple[str, str]],
    runtime: str,
    now: str,
) -> dict[str, Any]:
    """The status fields this kubelet owns, for a merge patch of pods/status."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    statuses = [
        container_status(c, containers.get(c["name"], []), waiting.get(c["name"]), runtime)
        for c in spec.get("containers") or []
    ]
    pod_phase = phase(pod, statuses)
    ready = bool(statuses) and all(s["ready"] for s in statuses)
    previous: dict[str, dict[str, Any]] = {
        str(c.get("type")): c for c in old.get("conditions") or [] if isinstance(c, dict)
    }
    not_ready = [s["name"] for s in statuses if not s["ready"]]
    reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    conditions = [
        condition("PodReadyToStartContainers", sandbox_ready, previous, now),
        condition("Initialized", True, previous, now),
        condition("Ready", ready, previous, now, reason),
        condition("ContainersReady", ready, previous, now, reason),
        condition("PodScheduled", True, previous, now),
    ]
    if not ready and reason == "ContainersNotReady":
        message = f"containers with unready status: [{' '.join(not_ready)}]"
        for item in conditions[2:4]:
            item["message"] = message
    status: dict[str, Any] = {
        "phase": pod_phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": old.get("startTime") or now,
        "containerStatuses": statuses,
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """A status without the parts that change on every computation (for change detection)."""
    return {k: v for k, v in status.items() if k != "conditions"} | {
        "conditions": [(c["type"], c["status"]) for c in status.get("conditions") or []]
    }
