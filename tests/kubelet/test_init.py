"""Pod lifecycle over a fake CRI: init containers in order, sidecars, hooks, env errors.

The fake runtime keeps containers in memory; the test plays the containers' exits. What is
asserted is what a user sees in the pod status (initContainerStatuses, Initialized, phase,
`kubectl get pods`' Init:N/M inputs) and the order of runtime calls (preStop before the stop).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.kubelet.pods import PodSyncer
from kube.kubelet.status import EXITED, RUNNING, ContainerInfo, Probed, pod_status

NS = 1_000_000_000


@dataclass
class FakeContainer:
    id: str
    config: Any
    state: int = pb.CONTAINER_CREATED
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0


@dataclass
class FakeCRI:
    """Enough of RuntimeService/ImageService for PodSyncer, recording the calls."""

    containers: dict[str, FakeContainer] = field(default_factory=dict)
    sandboxes: list[Any] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    exec_exit: int = 0
    ids: itertools.count[int] = field(default_factory=itertools.count)

    async def image_call(self, method: str, request: Any, deadline: float | None = None) -> Any:
        return pb.ImageStatusResponse(image=pb.Image(id="sha256:1"))

    async def call(self, method: str, request: Any, deadline: float | None = None) -> Any:
        handler = getattr(self, method)
        return handler(request)

    def ListPodSandbox(self, request: Any) -> Any:
        return pb.ListPodSandboxResponse(items=self.sandboxes)

    def RunPodSandbox(self, request: Any) -> Any:
        sandbox = pb.PodSandbox(id="sb", state=pb.SANDBOX_READY, metadata=request.config.metadata)
        self.sandboxes.append(sandbox)
        return pb.RunPodSandboxResponse(pod_sandbox_id="sb")

    def PodSandboxStatus(self, request: Any) -> Any:
        status = pb.PodSandboxStatus(id="sb", network=pb.PodSandboxNetworkStatus(ip="10.0.0.2"))
        return pb.PodSandboxStatusResponse(status=status)

    def StopPodSandbox(self, request: Any) -> Any:
        self.calls.append("StopPodSandbox")
        return pb.StopPodSandboxResponse()

    def RemovePodSandbox(self, request: Any) -> Any:
        self.sandboxes.clear()
        return pb.RemovePodSandboxResponse()

    def ListContainers(self, request: Any) -> Any:
        return pb.ListContainersResponse(
            containers=[
                pb.Container(id=c.id, labels=c.config.labels, metadata=c.config.metadata)
                for c in self.containers.values()
            ]
        )

    def ContainerStatus(self, request: Any) -> Any:
        c = self.containers[request.container_id]
        return pb.ContainerStatusResponse(
            status=pb.ContainerStatus(
                id=c.id,
                metadata=c.config.metadata,
                state=c.state,
                created_at=1,
                started_at=c.started_at,
                finished_at=c.finished_at,
                exit_code=c.exit_code,
                annotations=c.config.annotations,
                mounts=c.config.mounts,
            )
        )

    def CreateContainer(self, request: Any) -> Any:
        cid = f"{request.config.metadata.name}-{next(self.ids)}"
        self.containers[cid] = FakeContainer(cid, request.config)
        self.calls.append(f"create {request.config.metadata.name}")
        return pb.CreateContainerResponse(container_id=cid)

    def StartContainer(self, request: Any) -> Any:
        c = self.containers[request.container_id]
        c.state, c.started_at = pb.CONTAINER_RUNNING, time.time_ns()
        return pb.StartContainerResponse()

    def StopContainer(self, request: Any) -> Any:
        c = self.containers[request.container_id]
        self.calls.append(f"stop {c.config.metadata.name} {request.timeout}")
        if c.state == pb.CONTAINER_RUNNING:
            self.exit(c.config.metadata.name, 143)
        return pb.StopContainerResponse()

    def ExecSync(self, request: Any) -> Any:
        c = self.containers[request.container_id]
        self.calls.append(f"exec {c.config.metadata.name} {' '.join(request.cmd)}")
        return pb.ExecSyncResponse(
            exit_code=self.exec_exit, stderr=b"boom" if self.exec_exit else b""
        )

    # -- the test's hand ---------------------------------------------------------------------

    def current(self, name: str) -> FakeContainer:
        mine = [c for c in self.containers.values() if c.config.metadata.name == name]
        return max(mine, key=lambda c: c.config.metadata.attempt)

    def exit(self, name: str, code: int) -> None:
        c = self.current(name)
        c.state, c.exit_code = pb.CONTAINER_EXITED, code
        c.finished_at = max(c.started_at + NS, time.time_ns())


def make_pod(policy: str = "Always", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": [
                {"name": "first", "image": "img"},
                {"name": "second", "image": "img"},
            ],
            "containers": [{"name": "main", "image": "img"}],
            **spec,
        },
    }


def syncer(cri: FakeCRI, tmp_path: Path | None = None) -> tuple[PodSyncer, list[Any]]:
    events: list[Any] = []
    return (
        PodSyncer(
            cri,  # type: ignore[arg-type]
            node_name="n1",
            node_ip="192.0.2.2",
            pod_logs_dir="/tmp/pods",
            runtime_name="fake",
            recorder=lambda _obj, kind, reason, message, **_ref: events.append(
                (kind, reason, message)
            ),
            root_dir=tmp_path,
        ),
        events,
    )


def conditions(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


async def test_init_containers_run_in_order_then_the_containers() -> None:
    cri = FakeCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod()
    status, _ = await kubelet.sync(pod)
    assert cri.calls == ["create first"]
    assert status["phase"] == "Pending"
    first, second = status["initContainerStatuses"]
    assert "running" in first["state"]
    assert second["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["status"] == "False"
    assert initialized["reason"] == "ContainersNotInitialized"
    assert initialized["message"] == "containers with incomplete status: [first second]"

    await kubelet.sync(pod)
    assert cri.calls == ["create first"]  # still running: the next one waits
    cri.exit("first", 0)
    status, _ = await kubelet.sync(pod)
    assert cri.calls == ["create first", "create second"]
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert status["initContainerStatuses"][0]["ready"] is True
    cri.exit("second", 0)
    status, _ = await kubelet.sync(pod)
    assert cri.calls[-1] == "create main"
    assert status["phase"] == "Running"
    assert conditions(status)["Initialized"] == "True"
    assert conditions(status)["Ready"] == "True"


async def test_a_failed_init_container_backs_off_or_fails_the_pod() -> None:
    cri = FakeCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod("Always")
    await kubelet.sync(pod)
    cri.exit("first", 1)
    status, _ = await kubelet.sync(pod)  # restarted at once, the next restart backs off
    assert cri.calls == ["create first", "create first"]
    assert status["initContainerStatuses"][0]["restartCount"] == 1
    cri.exit("first", 1)
    status, wake = await kubelet.sync(pod)
    assert wake is not None
    assert 9 < wake <= 10
    first = status["initContainerStatuses"][0]
    assert first["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert first["lastState"]["terminated"]["exitCode"] == 1
    assert status["phase"] == "Pending"  # kubectl: Init:CrashLoopBackOff

    cri = FakeCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod("Never")
    await kubelet.sync(pod)
    cri.exit("first", 2)
    status, _ = await kubelet.sync(pod)
    assert cri.calls == ["create first"]  # never retried, nothing else started
    assert status["phase"] == "Failed"
    assert status["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    assert conditions(status)["Initialized"] == "False"


async def test_sidecars_start_in_order_keep_running_and_stop_after_the_containers() -> None:
    cri = FakeCRI()
    kubelet, _ = syncer(cri)
    pod = make_pod(
        "Never",
        initContainers=[
            {"name": "proxy", "image": "img", "restartPolicy": "Always"},
            {"name": "setup", "image": "img"},
        ],
    )
    status, _ = await kubelet.sync(pod)
    assert cri.calls == ["create proxy", "create setup"]  # a started sidecar lets the next run
    cri.exit("setup", 0)
    await kubelet.sync(pod)
    assert cri.calls[-1] == "create main"
    cri.exit("proxy", 1)
    status, _ = await kubelet.sync(pod)
    assert cri.calls[-1] == "create proxy"  # a sidecar is restarted whatever the pod's policy
    assert status["phase"] == "Running"
    cri.exit("main", 0)
    status, _ = await kubelet.sync(pod)
    assert cri.calls[-1] == "stop proxy 30"  # the containers are done: the sidecar goes
    assert status["phase"] == "Succeeded"  # the sidecar's exit code does not count


async def test_prestop_runs_before_the_stop_and_counts_against_the_grace() -> None:
    cri = FakeCRI()
    kubelet, events = syncer(cri)
    pod = make_pod(terminationGracePeriodSeconds=20, initContainers=[])
    pod["spec"]["containers"][0]["lifecycle"] = {
        "postStart": {"exec": {"command": ["touch", "/started"]}},
        "preStop": {"exec": {"command": ["sh", "-c", "echo bye"]}},
    }
    await kubelet.sync(pod)
    assert cri.calls == ["create main", "exec main touch /started"]
    await kubelet.terminate(pod, 20)
    assert cri.calls[2:] == ["exec main sh -c echo bye", "stop main 20", "StopPodSandbox"]
    assert ("Normal", "Killing", "Stopping container main") in events


async def test_failed_hooks_are_events_and_a_failed_poststart_kills_the_container() -> None:
    cri = FakeCRI(exec_exit=1)
    kubelet, events = syncer(cri)
    pod = make_pod(terminationGracePeriodSeconds=5, initContainers=[])
    pod["spec"]["containers"][0]["lifecycle"] = {
        "postStart": {"exec": {"command": ["false"]}},
        "preStop": {"exec": {"command": ["false"]}},
    }
    status, _ = await kubelet.sync(pod)
    assert cri.calls == ["create main", "exec main false", "exec main false", "stop main 5"]
    (kind, _reason, message) = next(e for e in events if e[1] == "FailedPostStartHook")
    assert kind == "Warning"
    assert message == (
        'Exec lifecycle hook ([false]) for Container "main" in Pod "p_default(u1)" failed - '
        "error: command 'false' exited with 1: boom, message: \"boom\""
    )
    assert any(e[1] == "FailedPreStopHook" for e in events)
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "PostStartHookError"


async def test_a_missing_configmap_is_create_container_config_error() -> None:
    cri = FakeCRI()
    kubelet, events = syncer(cri)
    pod = make_pod(initContainers=[])
    pod["spec"]["containers"][0]["env"] = [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}
    ]
    status, _ = await kubelet.sync(pod)
    assert cri.calls == []
    waiting = status["containerStatuses"][0]["state"]["waiting"]
    assert waiting == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "cfg" not found',
    }
    assert ("Warning", "Failed", 'Error: configmap "cfg" not found') in events


async def test_termination_message_from_the_file_or_the_log(tmp_path: Path) -> None:
    cri = FakeCRI()
    kubelet, _ = syncer(cri, tmp_path)
    pod = make_pod("Never", initContainers=[])
    pod["spec"]["containers"][0]["terminationMessagePolicy"] = "FallbackToLogsOnError"
    await kubelet.sync(pod)
    hosts, mount = cri.current("main").config.mounts  # the pod's /etc/hosts, the message file
    assert hosts.container_path == "/etc/hosts"
    assert mount.container_path == "/dev/termination-log"
    Path(mount.host_path).write_text("all done")  # noqa: ASYNC240 (a test's small file)
    cri.exit("main", 0)
    status, _ = await kubelet.sync(pod)
    assert status["containerStatuses"][0]["state"]["terminated"]["message"] == "all done"


def test_status_of_a_pod_with_a_sidecar_and_probes() -> None:
    pod = make_pod(
        initContainers=[
            {"name": "setup", "image": "img"},
            {"name": "proxy", "image": "img", "restartPolicy": "Always"},
        ]
    )
    s = 1_767_225_600 * NS

    def status(probed: dict[str, Probed], **extra: Any) -> dict[str, Any]:
        containers = {
            "setup": [ContainerInfo("s", "setup", 0, EXITED, started_at=s, finished_at=s + NS)],
            "proxy": [ContainerInfo("x", "proxy", 0, RUNNING, started_at=s)],
            "main": [ContainerInfo("m", "main", 0, RUNNING, started_at=s)],
            **extra,
        }
        return pod_status(
            pod,
            sandbox_ready=True,
            pod_ip="10.0.0.2",
            host_ip="192.0.2.2",
            containers=containers,
            waiting={},
            runtime="fake",
            now="2026-01-01T00:00:10Z",
            probed=probed,
        )

    ready = status({"proxy": Probed(ready=True), "main": Probed(ready=True)})
    assert ready["phase"] == "Running"
    assert conditions(ready) | {"PodReadyToStartContainers": "True"} == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    setup, proxy = ready["initContainerStatuses"]
    assert (setup["ready"], setup["started"]) == (True, False)
    assert (proxy["ready"], proxy["started"]) == (True, True)

    # An unready sidecar makes the pod unready, as upstream's ContainersReady.
    unready = status({"proxy": Probed(ready=False), "main": Probed(ready=True)})
    ready_condition = next(c for c in unready["conditions"] if c["type"] == "ContainersReady")
    assert ready_condition["status"] == "False"
    assert ready_condition["message"] == "containers with unready status: [proxy]"

    # A container whose startup probe has not succeeded is neither started nor ready.
    starting = status({"main": Probed(started=False, ready=True)})
    (main,) = starting["containerStatuses"]
    assert (main["started"], main["ready"]) == (False, False)
