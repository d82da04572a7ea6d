"""`kube server` with its `kubelet` row (the built-in runtime and a kubelet for this machine), and
without it (`--disable-agent`, or a machine that cannot isolate pods); `kube agent`'s bad flags.

The node's bridge (`kube-a<hex>`), pod CIDR, cgroup root and name are the test's own; what its
runtime made (containers, namespaces, veths, the bridge) is removed by name at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cri.conftest import require_isolation
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import cleanup_runtime

BIN = Path(sys.executable).parent
KUBE = str(BIN / "kube")
REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/busybox:latest"


def _wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"{what} not within {seconds}s; last: {last!r}")


class Server:
    """A `kube server` process and its admin kubeconfig."""

    def __init__(self, data: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.log = data.parent / f"{data.name}.log"
        with self.log.open("w") as sink:
            self.proc = subprocess.Popen(
                [KUBE, "server", "--data-dir", str(data), "--secure-port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                env=env,
                start_new_session=True,
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + self.log.read_text()[-3000:])
            if "kube server is up" in line:
                return
        pytest.fail("kube server not up in 60 s")

    def kubectl(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.data / "admin.kubeconfig"), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def nodes(self) -> list[dict[str, Any]]:
        done = self.kubectl("get", "nodes", "-o", "json")
        assert done.returncode == 0, done.stderr
        items: list[dict[str, Any]] = json.loads(done.stdout)["items"]
        return items

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def agent_server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    require_isolation()
    data = tmp_path / "data"
    runtime_root = data / "agent" / "runtime"
    archive = tmp_path / "busybox-oci.tar"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_busybox_image.py"), "-o", str(archive)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [KUBE, "image", "--root", str(runtime_root), "import", str(archive)],
        check=True,
        capture_output=True,
    )
    bridge = f"kube-a{secrets.token_hex(4)}"
    name = f"agent-{secrets.token_hex(3)}"
    cidr = f"10.244.{150 + secrets.randbelow(40)}.0/24"
    server: Server | None = None
    try:
        server = Server(
            data,
            # The accounts and root CA its pods' API access volume needs, no other controller.
            "--controllers=serviceaccount,root-ca-cert-publisher",
            "--node-name",
            name,
            "--pod-cidr",
            cidr,
            "--bridge",
            bridge,
            "--kubelet-port",
            "0",
            "--cgroup-root",
            f"/kubepods-{name}",
        )
        yield server, name
    finally:
        if server is not None:
            server.stop()
        cleanup_runtime(runtime_root, bridge)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for directory in sorted(hierarchy.glob(f"kubepods-{name}*/**/"), reverse=True):
                subprocess.run(["rmdir", str(directory)], capture_output=True)


@pytest.mark.slow
def test_server_runs_a_node_that_runs_pods(agent_server: tuple[Server, str]) -> None:
    server, name = agent_server

    def ready() -> dict[str, Any] | None:
        for node in server.nodes():
            conditions = {c["type"]: c["status"] for c in node["status"].get("conditions", [])}
            if node["metadata"]["name"] == name and conditions.get("Ready") == "True":
                return node
        return None

    node = _wait_for(ready, 30, "the agent's node Ready")
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "nodeName": name,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "c", "image": IMAGE, "command": ["sh", "-c", "echo hi; sleep 3600"]}
            ],
        },
    }
    done = server.kubectl("apply", "-f", "-", input=json.dumps(pod))
    assert done.returncode == 0, done.stderr

    def running() -> bool:
        got = server.kubectl("get", "pod", "hello", "-o", "jsonpath={.status.phase}")
        return got.stdout == "Running"

    _wait_for(running, 60, "pod hello Running")
    assert _wait_for(lambda: server.kubectl("logs", "hello").stdout, 15, "the log") == "hi\n"
    done = server.kubectl("delete", "pod", "hello", "--wait=true", "--timeout=60s")
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_disable_agent_gives_no_node(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", "--controllers=", "--disable-agent")
    try:
        assert server.nodes() == []
        assert not (tmp_path / "data" / "agent").exists()
    finally:
        server.stop()
    assert "node agent" not in server.log.read_text()


@pytest.mark.slow
def test_a_machine_that_cannot_isolate_skips_the_node_with_one_line(tmp_path: Path) -> None:
    # No runc on PATH: the row is left out, said once in the log, and the server serves.
    env = {**os.environ, "PATH": str(tmp_path / "empty")}
    server = Server(tmp_path / "data", "--controllers=", env=env)
    try:
        assert server.nodes() == []
    finally:
        server.stop()
    lines = [line for line in server.log.read_text().splitlines() if "node agent" in line]
    assert len(lines) == 1
    why = "not root" if os.geteuid() != 0 else "runc not found"
    assert why in lines[0]
    assert "kube doctor" in lines[0]


@pytest.mark.parametrize(
    ("command", "flags", "message"),
    [
        ("agent", ["--pod-cidr", "nope"], "kube agent: --pod-cidr 'nope'"),
        ("agent", ["--bridge", "a-very-long-bridge-name"], "kube agent: --bridge"),
        ("server", ["--kubelet-port", "70000"], "kube server: --kubelet-port 70000 is not a port"),
    ],
)
def test_bad_node_flags_are_one_line(
    tmp_path: Path, command: str, flags: list[str], message: str
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    where = ["--kubeconfig", str(kubeconfig)] if command == "agent" else []
    done = subprocess.run(
        [KUBE, command, *where, "--data-dir", str(tmp_path / "d"), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(message)
    assert not (tmp_path / "d").exists()  # nothing written


def test_agent_needs_its_kubeconfig(tmp_path: Path) -> None:
    done = subprocess.run(
        [KUBE, "agent", "--kubeconfig", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"kube agent: --kubeconfig {tmp_path / 'missing'} does not exist"
