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
    # Where the runtime writes the container's log, and the host file of its termination
    # message (kube.kubelet.termination), when it has them.
    log_path: str = ""
    message_path: str = ""


@dataclass(frozen=True)
class Probed:
    """What the probes say about a running container (no probe: started and ready)."""

    started: bool = True
    ready: bool = True


def is_sidecar(container: dict[str, Any]) -> bool:
    """A restartable init container (restartPolicy: Always), upstream's sidecar."""
    return container.get("restartPolicy") == "Always"


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
    probed: Probed | None = None,
    default_reason: str = "ContainerCreating",
) -> dict[str, Any]:
    """The status of one container: `history` is its runtime containers, newest last."""
    probed = probed or Probed()
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
        status["started"] = probed.started
        status["ready"] = probed.started and probed.ready
    elif current is not None and current.state == EXITED and waiting is None:
        status["state"] = {"terminated": _terminated(current, runtime)}
    else:
        reason, message = waiting or (default_reason, "")
        status["state"] = {
            "waiting": {"reason": reason, **({"message": message} if message else {})}
        }
    last = current if (waiting is not None and current is not None) else previous
    if last is not None and last.state == EXITED:
        status["lastState"] = {"terminated": _terminated(last, runtime)}
    return status


def phase(
    pod: dict[str, Any],
    statuses: list[dict[str, Any]],
    init_statuses: list[dict[str, Any]] | None = None,
) -> str:
    """upstream's getPhase: init containers (regular and sidecar), then the containers."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    by_name = {s["name"]: s for s in init_statuses or []}
    pending_init = pending_sidecars = failed_init = 0
    waiting = running = stopped = succeeded = unknown = 0
    for container in spec.get("initContainers") or []:
        status = by_name.get(container.get("name", ""))
        state = (status or {}).get("state") or {}
        last = (status or {}).get("lastState") or {}
        if is_sidecar(container):
            if status is None:
                unknown += 1
            elif "running" in state:
                pending_sidecars += 0 if status.get("started") else 1
                running += 1
            elif "waiting" in state and "terminated" not in last:
                pending_sidecars += 1
            continue
        if status is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode") != 0
        elif "terminated" in last:
            failed_init += last["terminated"].get("exitCode") != 0
        else:
            pending_init += 1
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
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if pending_init > 0 or (pending_sidecars > 0 and unknown + running + stopped + waiting > 0):
        return "Pending"
    if waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def initialized(spec: dict[str, Any], init_statuses: list[dict[str, Any]]) -> list[str]:
    """The init containers not done yet (upstream's GeneratePodInitializedCondition).

    A regular one is done when it exited 0; a sidecar when it is running and started.
    """
    by_name = {s["name"]: s for s in init_statuses}
    pending = []
    for container in spec.get("initContainers") or []:
        status = by_name.get(container.get("name", "")) or {}
        state = status.get("state") or {}
        if is_sidecar(container):
            done = "running" in state and bool(status.get("started"))
        else:
            done = (state.get("terminated") or {}).get("exitCode", 1) == 0
        if not done:
            pending.append(str(container.get("name", "")))
    return pending


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
    probed: dict[str, Probed] | None = None,
) -> dict[str, Any]:
    """The status fields this kubelet owns, for a merge patch of pods/status."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    probed = probed or {}
    init_specs = spec.get("initContainers") or []
    # As upstream: with init containers, what has not been created yet is PodInitializing.
    default = "PodInitializing" if init_specs else "ContainerCreating"

    def one(c: dict[str, Any], init: bool = False) -> dict[str, Any]:
        name = c["name"]
        status = container_status(
            c, containers.get(name, []), waiting.get(name), runtime, probed.get(name), default
        )
        if init and not is_sidecar(c):
            terminated = status["state"].get("terminated") or {}
            status["ready"] = terminated.get("exitCode", 1) == 0  # a completed init container
        return status

    statuses = [one(c) for c in spec.get("containers") or []]
    init_statuses = [one(c, init=True) for c in init_specs]
    pod_phase = phase(pod, statuses, init_statuses)
    sidecars = [s for c, s in zip(init_specs, init_statuses, strict=True) if is_sidecar(c)]
    not_ready = [s["name"] for s in [*sidecars, *statuses] if not s["ready"]]
    ready = bool(statuses) and not not_ready
    previous: dict[str, dict[str, Any]] = {
        str(c.get("type")): c for c in old.get("conditions") or [] if isinstance(c, dict)
    }
    pending_init = initialized(spec, init_statuses)
    if (previous.get("Initialized") or {}).get("status") == "True" and any(
        containers.get(c["name"]) for c in spec.get("containers") or []
    ):
        pending_init = []  # once initialized, a pod stays so (its containers have run)
    reason = "PodCompleted" if pod_phase in ("Succeeded", "Failed") else "ContainersNotReady"
    conditions = [
        condition("PodReadyToStartContainers", sandbox_ready, previous, now),
        condition("Initialized", not pending_init, previous, now, "ContainersNotInitialized"),
        condition("Ready", ready, previous, now, reason),
        condition("ContainersReady", ready, previous, now, reason),
        condition("PodScheduled", True, previous, now),
    ]
    if pending_init:
        conditions[1]["message"] = f"containers with incomplete status: [{' '.join(pending_init)}]"
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
    if init_specs:
        status["initContainerStatuses"] = init_statuses
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return status


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """A status without the parts that change on every computation (for change detection)."""
    return {k: v for k, v in status.items() if k != "conditions"} | {
        "conditions": [(c["type"], c["status"]) for c in status.get("conditions") or []]
    }
