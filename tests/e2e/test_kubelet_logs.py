"""Logs of finished and restarted containers, end to end with real runc (kubectl as a user).

The kubelet keeps a finished pod's exited containers until the pod is deleted, and one dead
instance of a restarted container (upstream's container GC, maxPerPodContainer=1), so
`kubectl logs` reads a Succeeded pod's output and `kubectl logs --previous` the run before a
restart. Reuses the `node` fixture of test_kubelet.py.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from kube.cri.runtime.runtime import default_state
from tests.e2e import test_kubelet
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import IMAGE, Node, _pod, _ready_node, _wait_for

node = test_kubelet.node  # the module-scoped fixture: a server, a runtime and a kubelet

pytestmark = pytest.mark.slow


def _phase(node: Node, name: str) -> str:
    return str(node.get("pod", name).get("status", {}).get("phase", ""))


def _logs(node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "logs", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_logs_of_a_succeeded_pod(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "once", "image": IMAGE, "command": ["sh", "-c", "echo done"]}
    node.kubectl(
        "apply", "-f", "-", input=_pod("once", node.name, container, restartPolicy="Never")
    )
    _wait_for(lambda: _phase(node, "once") == "Succeeded", 60, "pod once Succeeded")
    assert node.kubectl("logs", "once") == "done\n"
    assert node.kubectl("logs", "once", "-c", "once") == "done\n"
    # It never restarted: there is no previous instance.
    previous = _logs(node, "once", "--previous")
    assert previous.returncode == 1
    assert 'previous terminated container "once" in pod "once" not found' in previous.stderr
    node.kubectl("delete", "pod", "once", "--wait=true", "--timeout=60s")
    # Deleted: its containers and sandbox go with it.
    assert _wait_for(
        lambda: not list((default_state(node.runtime_root) / "sandboxes").iterdir()),
        15,
        "no sandbox",
    )


def test_logs_previous_of_a_restarted_container(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    # Each run counts itself in an emptyDir, which outlives the container's restarts.
    script = "n=$(( $(cat /data/n 2>/dev/null || echo 0) + 1 )); echo $n > /data/n; echo run $n"
    container = {
        "name": "crash",
        "image": IMAGE,
        "command": ["sh", "-c", script + "; exit 1"],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "crashy",
            node.name,
            container,
            terminationGracePeriodSeconds=1,
            volumes=[{"name": "data", "emptyDir": {}}],
        ),
    )

    def restarted() -> dict[str, Any] | None:
        statuses = node.get("pod", "crashy").get("status", {}).get("containerStatuses") or []
        if statuses and statuses[0]["restartCount"] >= 1 and "running" not in statuses[0]["state"]:
            return dict(statuses[0])
        return None

    _wait_for(restarted, 30, "a restarted container that exited again")
    current = node.kubectl("logs", "crashy")
    previous = node.kubectl("logs", "crashy", "--previous")
    assert current.startswith("run ")
    runs = int(current.split()[1])
    assert runs >= 2
    assert previous == f"run {runs - 1}\n"
    node.kubectl("delete", "pod", "crashy", "--wait=true", "--timeout=60s")
