"""`kubectl attach`, `kubectl port-forward` and `kubectl cp` through the API server, the kubelet
and the built-in runtime (runc), on the `node` of test_kubelet.py.

attach: a container reading its stdin (stdin, stdinOnce) gets what `kubectl attach -i` pipes
in, its answers come back, and when kubectl's stdin ends the container's does (stdinOnce), so
it finishes and kubectl returns. port-forward: kubectl's SPDY-over-WebSocket session reaches
busybox httpd inside the pod's network namespace from 127.0.0.1:<local port>. cp: a file goes
in and comes back out (`tar` in the container) with the same content.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import (
    IMAGE,
    Node,
    _pod,
    _ready_node,
    _running,
    _serves_through_port_forward,
    _wait_for,
    node,
)

pytestmark = pytest.mark.slow
__all__ = ["node"]  # the fixture, imported for this module


def _kubectl(node: Node, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_attach_sends_stdin_and_returns_output(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "while read line; do echo got:$line; done; echo bye"
    container = {
        "name": "reader",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "stdin": True,
        "stdinOnce": True,
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "reader", node.name, container, restartPolicy="Never", terminationGracePeriodSeconds=1
        ),
    )
    _wait_for(lambda: _running(node, "reader"), 60, "pod reader Running")
    done = _kubectl(node, "attach", "-i", "reader", "-c", "reader", input="hello\nworld\n")
    assert done.returncode == 0, done.stderr
    assert "got:hello\ngot:world\nbye\n" in done.stdout
    # The container ended when its stdin did (stdinOnce).
    pod = _wait_for(
        lambda: (p := node.get("pod", "reader"))["status"].get("phase") == "Succeeded" and p,
        30,
        "pod reader Succeeded",
    )
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    node.kubectl("delete", "pod", "reader", "--wait=true", "--timeout=60s")


def test_port_forward_reaches_httpd_in_the_pod(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "mkdir -p /www && echo forwarded-page > /www/index.html && httpd -f -p 8080 -h /www"
    container = {"name": "web", "image": IMAGE, "command": ["sh", "-c", script]}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("pf", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "pf"), 60, "pod pf Running")
    _serves_through_port_forward(node, "pf", 8080, "forwarded-page\n")
    node.kubectl("delete", "pod", "pf", "--wait=true", "--timeout=60s")


def test_cp_in_and_out(node: Node, tmp_path: Path) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "box", "image": IMAGE, "command": ["sleep", "3600"]}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("cp", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "cp"), 60, "pod cp Running")
    source = tmp_path / "in.txt"
    content = "".join(f"line {n} of the copied file\n" for n in range(2000))
    source.write_text(content)
    copied = _kubectl(node, "cp", str(source), "default/cp:/tmp/in.txt", "-c", "box")
    assert copied.returncode == 0, copied.stderr
    inside = _kubectl(node, "exec", "cp", "--", "cat", "/tmp/in.txt")
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout == content
    back = tmp_path / "out.txt"
    started = time.monotonic()
    copied = _kubectl(node, "cp", "default/cp:/tmp/in.txt", str(back), "-c", "box")
    assert copied.returncode == 0, copied.stderr
    assert time.monotonic() - started < 30
    assert back.read_text() == content
    node.kubectl("delete", "pod", "cp", "--wait=true", "--timeout=60s")


def test_attach_to_a_tty_container(node: Node) -> None:
    """A `tty: true` container's terminal (runc's console, kept by the shim): keystrokes in,
    the shell's answers out, as `kubectl attach -it` and the Python client use it."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "shell", "image": IMAGE, "command": ["sh"], "stdin": True, "tty": True}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("tty", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "tty"), 60, "pod tty Running")
    with client.ApiClient(config.new_client_from_config(str(node.kubeconfig)).configuration) as api:
        session = stream(
            client.CoreV1Api(api).connect_get_namespaced_pod_attach,
            "tty",
            "default",
            container="shell",
            stdin=True,
            stdout=True,
            stderr=False,
            tty=True,
            _preload_content=False,
        )
        try:
            session.write_stdin("echo sum-$((40+2)); tty\n")
            out = ""
            deadline = time.monotonic() + 15
            while session.is_open() and time.monotonic() < deadline and "/dev/" not in out:
                session.update(timeout=1)
                if session.peek_stdout():
                    out += session.read_stdout()
        finally:
            session.close()
    assert "sum-42" in out
    assert "/dev/pts/" in out or "/dev/console" in out
    node.kubectl("delete", "pod", "tty", "--wait=true", "--timeout=60s")
