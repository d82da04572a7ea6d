"""The pod lifecycle end to end with runc: probes, hooks, init containers, env, messages.

Same set-up as test_kubelet.py (its `node` fixture: a bare `kube server`, `kube runtime` with
runc on a test-made bridge, `kube kubelet`), driven by kubectl. What a user sees:
- readiness and liveness probes: Ready follows the readiness probe (httpGet to the pod IP),
  a failing liveness probe (exec) restarts the container with Unhealthy and Killing events;
- preStop runs before SIGTERM (the order is in the container's log);
- init containers run in order before the container (their output in a shared emptyDir),
  and a failing one under restartPolicy Never shows `Init:Error`;
- env from a ConfigMap and a Secret is visible through `kubectl exec`, a missing ConfigMap is
  CreateContainerConfigError;
- what a container writes to /dev/termination-log is its terminated state's message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_kubelet import (
    IMAGE,
    Node,
    _pod,
    _ready_node,
    _running,
    _wait_for,
    node,
)

__all__ = ["node"]  # the fixture, imported for this module

pytestmark = pytest.mark.slow


def _apply(node: Node, obj: dict[str, Any]) -> None:
    node.kubectl("apply", "-f", "-", input=json.dumps(obj))


def _conditions(node: Node, name: str) -> dict[str, str]:
    status = node.get("pod", name).get("status") or {}
    return {c["type"]: c["status"] for c in status.get("conditions") or []}


def _events(node: Node, name: str) -> list[tuple[str, str]]:
    out = node.kubectl(
        "get", "events", "--field-selector", f"involvedObject.name={name}", "-o", "json"
    )
    return [(e["reason"], e["message"]) for e in json.loads(out)["items"]]


def _status_column(node: Node, name: str) -> str:
    out = node.kubectl("get", "pod", name, "--no-headers")
    return out.split()[2] if out else ""


def test_probes_drive_ready_and_restarts(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "touch /tmp/alive; mkdir -p /www; echo ok > /www/ready; exec httpd -f -p 8080 -h /www"
    container = {
        "name": "web",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
        "livenessProbe": {
            "exec": {"command": ["test", "-f", "/tmp/alive"]},
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("probed", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _conditions(node, "probed").get("Ready") == "True", 60, "Ready")
    (web,) = node.get("pod", "probed")["status"]["containerStatuses"]
    assert (web["ready"], web["started"], web["restartCount"]) == (True, True, 0)

    node.kubectl("exec", "probed", "--", "rm", "/www/ready")
    _wait_for(lambda: _conditions(node, "probed").get("Ready") == "False", 20, "not Ready")
    assert _conditions(node, "probed")["ContainersReady"] == "False"
    pod = node.get("pod", "probed")
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    assert pod["status"]["phase"] == "Running"
    failed = [m for r, m in _events(node, "probed") if r == "Unhealthy"]
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in failed

    node.kubectl("exec", "probed", "--", "rm", "/tmp/alive")

    def restarted() -> bool:
        statuses = node.get("pod", "probed")["status"]["containerStatuses"]
        return bool(statuses[0]["restartCount"] >= 1)

    _wait_for(restarted, 30, "a liveness restart")
    events = _events(node, "probed")
    assert ("Killing", "Container web failed liveness probe, will be restarted") in events
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed:") for r, m in events)
    # The new instance recreated its files: Ready again.
    _wait_for(lambda: _conditions(node, "probed").get("Ready") == "True", 30, "Ready again")
    node.kubectl("delete", "pod", "probed", "--wait=true", "--timeout=60s")


def test_prestop_runs_before_sigterm(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"
    container = {
        "name": "stopper",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "lifecycle": {
            "preStop": {"exec": {"command": ["sh", "-c", "echo prestop ran > /proc/1/fd/1"]}}
        },
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("stopper", node.name, container, terminationGracePeriodSeconds=10),
    )
    _wait_for(lambda: _running(node, "stopper"), 60, "pod stopper Running")
    node.kubectl("delete", "pod", "stopper", "--wait=true", "--timeout=60s")
    (log,) = list(node.logs.glob("pods/default_stopper_*/stopper/0.log"))
    lines = [line.split(" ", 3)[3] for line in log.read_text().splitlines()]
    assert lines == ["started", "prestop ran", "got TERM"]


def test_init_containers_run_in_order(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")

    def step(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "image": IMAGE,
            "command": ["sh", "-c", f"echo {name} >> /work/order"],
            "volumeMounts": [{"name": "work", "mountPath": "/work"}],
        }

    main = {
        "name": "main",
        "image": IMAGE,
        "command": ["sh", "-c", "cat /work/order; exec sleep 3600"],
        "volumeMounts": [{"name": "work", "mountPath": "/work"}],
    }
    pod = json.loads(
        _pod(
            "ordered",
            node.name,
            main,
            initContainers=[step("one"), step("two")],
            volumes=[{"name": "work", "emptyDir": {}}],
            terminationGracePeriodSeconds=1,
        )
    )
    _apply(node, pod)
    _wait_for(lambda: _running(node, "ordered"), 60, "pod ordered Running")
    assert _wait_for(lambda: node.kubectl("logs", "ordered") == "one\ntwo\n", 15, "the order")
    status = node.get("pod", "ordered")["status"]
    assert [s["state"]["terminated"]["reason"] for s in status["initContainerStatuses"]] == [
        "Completed",
        "Completed",
    ]
    assert _conditions(node, "ordered")["Initialized"] == "True"
    assert _status_column(node, "ordered") == "Running"
    node.kubectl("delete", "pod", "ordered", "--wait=false")

    broken = {"name": "broken", "image": IMAGE, "command": ["sh", "-c", "exit 3"]}
    pod = json.loads(
        _pod(
            "initfail",
            node.name,
            main | {"volumeMounts": []},
            initContainers=[broken],
            restartPolicy="Never",
        )
    )
    _apply(node, pod)
    _wait_for(lambda: _status_column(node, "initfail") == "Init:Error", 60, "Init:Error")
    status = node.get("pod", "initfail")["status"]
    assert status["phase"] == "Failed"
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert "running" not in status["containerStatuses"][0]["state"]
    node.kubectl("delete", "pod", "initfail", "--wait=true", "--timeout=60s")
    node.kubectl("delete", "pod", "ordered", "--wait=true", "--timeout=60s", "--ignore-not-found")


def test_env_from_configmaps_and_secrets(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    node.kubectl("create", "configmap", "settings", "--from-literal=MODE=fast")
    node.kubectl("create", "secret", "generic", "creds", "--from-literal=PASSWORD=s3cret")
    container = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", "echo bye > /dev/termination-log; exec sleep 3600"],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
            {"name": "ME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "value": "$(ME) runs $(CFG_MODE)"},
        ],
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("envy", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "envy"), 60, "pod envy Running")
    out = node.kubectl("exec", "envy", "--", "sh", "-c", 'echo "$CFG_MODE $PW $GREETING"')
    assert out == "fast s3cret envy runs fast\n"
    node.kubectl("delete", "pod", "envy", "--wait=true", "--timeout=60s")

    missing = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", "exit 0"],
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}],
    }
    node.kubectl("apply", "-f", "-", input=_pod("noconfig", node.name, missing))

    def waiting() -> dict[str, Any] | None:
        statuses = node.get("pod", "noconfig").get("status", {}).get("containerStatuses") or []
        if statuses and "waiting" in statuses[0]["state"]:
            state: dict[str, Any] = statuses[0]["state"]["waiting"]
            return state if state.get("reason") != "ContainerCreating" else None
        return None

    assert _wait_for(waiting, 30, "CreateContainerConfigError") == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "nope" not found',
    }
    assert _status_column(node, "noconfig") == "CreateContainerConfigError"
    node.kubectl("delete", "pod", "noconfig", "--wait=true", "--timeout=60s")
    node.kubectl("delete", "configmap", "settings")
    node.kubectl("delete", "secret", "creds")


def test_termination_message(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {
        "name": "done",
        "image": IMAGE,
        "command": ["sh", "-c", "echo -n all good > /dev/termination-log"],
    }
    failing = {
        "name": "failing",
        "image": IMAGE,
        "command": ["sh", "-c", "echo last words; exit 1"],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod = json.loads(_pod("said", node.name, container, restartPolicy="Never"))
    pod["spec"]["containers"].append(failing)
    _apply(node, pod)

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = node.get("pod", "said").get("status") or {}
        return status if status.get("phase") == "Failed" else None

    status = _wait_for(finished, 60, "pod said Failed")
    states = {s["name"]: s["state"]["terminated"] for s in status["containerStatuses"]}
    assert states["done"]["message"] == "all good"
    assert states["failing"]["message"] == "last words\n"
    node.kubectl("delete", "pod", "said", "--wait=true", "--timeout=60s")
