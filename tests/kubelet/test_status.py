"""Pod status from runtime state: phase (upstream's getPhase), container statuses, conditions."""

from __future__ import annotations

from typing import Any

from kube.kubelet.status import EXITED, RUNNING, ContainerInfo, phase, pod_status

NOW = "2026-01-01T00:00:10Z"
S = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


def pod(policy: str = "Always", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "img"}]},
        "status": status,
    }


def running(attempt: int = 0) -> ContainerInfo:
    return ContainerInfo("id1", "c", attempt, RUNNING, started_at=S, image_ref="sha256:ab")


def exited(code: int, attempt: int = 0) -> ContainerInfo:
    return ContainerInfo(
        f"id{attempt}", "c", attempt, EXITED, started_at=S, finished_at=S + 10**9, exit_code=code
    )


def status_of(p: dict[str, Any], history: list[ContainerInfo], **kw: Any) -> dict[str, Any]:
    return pod_status(
        p,
        sandbox_ready=True,
        pod_ip="10.244.1.2",
        host_ip="192.0.2.2",
        containers={"c": history},
        waiting=kw.get("waiting", {}),
        runtime="kube-runtime",
        now=NOW,
    )


def test_running_pod() -> None:
    status = status_of(pod(), [running()])
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.244.1.2"
    assert status["podIPs"] == [{"ip": "10.244.1.2"}]
    assert status["hostIP"] == "192.0.2.2"
    assert status["startTime"] == NOW
    (c,) = status["containerStatuses"]
    assert c["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
    assert c["ready"] is True
    assert c["started"] is True
    assert c["containerID"] == "kube-runtime://id1"
    assert c["imageID"] == "sha256:ab"
    conditions = {x["type"]: x["status"] for x in status["conditions"]}
    assert conditions == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }


def test_waiting_container_keeps_the_pod_pending() -> None:
    status = status_of(pod(), [], waiting={"c": ("ErrImageNeverPull", "not present")})
    assert status["phase"] == "Pending"
    (c,) = status["containerStatuses"]
    assert c["state"] == {"waiting": {"reason": "ErrImageNeverPull", "message": "not present"}}
    ready = next(x for x in status["conditions"] if x["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "ContainersNotReady"
    assert ready["message"] == "containers with unready status: [c]"


def test_crash_loop_shows_last_state_and_restart_count() -> None:
    status = status_of(
        pod(), [exited(1, 0), exited(1, 1)], waiting={"c": ("CrashLoopBackOff", "back-off 10s")}
    )
    (c,) = status["containerStatuses"]
    assert c["restartCount"] == 1
    assert c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert c["lastState"]["terminated"]["exitCode"] == 1
    assert c["lastState"]["terminated"]["reason"] == "Error"
    assert status["phase"] == "Running"  # restartPolicy Always: a restarting pod runs


def test_phases_by_restart_policy() -> None:
    done = [{"state": {"terminated": {"exitCode": 0}}, "lastState": {}}]
    failed = [{"state": {"terminated": {"exitCode": 2}}, "lastState": {}}]
    assert phase(pod("Never"), done) == "Succeeded"
    assert phase(pod("Never"), failed) == "Failed"
    assert phase(pod("OnFailure"), failed) == "Running"
    assert phase(pod("OnFailure"), done) == "Succeeded"
    assert phase(pod("Always"), done) == "Running"


def test_transition_times_hold_while_status_holds() -> None:
    earlier = "2025-12-31T00:00:00Z"
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": earlier}]
    status = status_of(pod(conditions=previous, startTime=earlier), [running()])
    ready = next(x for x in status["conditions"] if x["type"] == "Ready")
    assert ready["lastTransitionTime"] == earlier
    assert status["startTime"] == earlier
