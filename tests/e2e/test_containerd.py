"""The same kubelet on containerd: a bare `kube server`, Debian's containerd and `kube kubelet`.

The kubelet speaks only CRI, so the runtime behind `--container-runtime-endpoint` is
interchangeable; this module shows it against containerd (Debian bookworm's 1.6) as a user
would see it with kubectl: the node registers Ready with containerd's version, a pod runs
busybox httpd that answers on its pod IP from the host, `kubectl logs` and `kubectl exec` reach
the container through containerd's streaming server (as SPDY streams, so stdin's end reaches
the command), `kubectl port-forward` reaches the pod (its SPDY session over an upgrade to
containerd), a crashing container is restarted, and `kubectl delete pod` stops the pod
gracefully.

containerd runs with a config of its own in the test's temp dir (root, state, gRPC socket,
runc root, network namespaces under the state dir), the CRI plugin's sandbox image
`localhost/pause:3.9` (tools/build_pause_image.py) and the busybox test image imported with
`ctr images import` (no registry is reachable), and CNI (containernetworking-plugins' bridge,
host-local, loopback) on a bridge `kube-c<hex>` the test makes with a subnet of its own; the host
reaches pods on that bridge only. At the end, even on failure, the sandboxes are removed through
CRI, containerd is stopped by PID, leftover containers and shims (found by this test's socket)
are killed, mounts under the temp dir are unmounted and the bridge is deleted by name.

Where containerd is not installed: a failure as root with apt (CI installs it through
tools/system-packages.txt), else a skip that says so.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cri.conftest import require_isolation
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import (
    BIN,
    IMAGE,
    REPO,
    Node,
    _pod,
    _ready_node,
    _running,
    _serves_through_port_forward,
    _start,
    _stop,
    _wait_for,
    kubelet_command,
)

pytestmark = pytest.mark.slow

PAUSE = "localhost/pause:3.9"
CNI_BIN = Path("/usr/lib/cni")
NAMESPACE = "k8s.io"  # the containerd namespace of the CRI plugin


def _require_containerd() -> None:
    """containerd, ctr and the CNI plugins, or a failure naming the package where CI has apt."""
    missing = [
        package
        for present, package in (
            (shutil.which("containerd") and shutil.which("ctr"), "containerd"),
            (
                all((CNI_BIN / p).is_file() for p in ("bridge", "host-local", "loopback")),
                "containernetworking-plugins",
            ),
        )
        if not present
    ]
    if not missing:
        return
    why = f"needs Debian's {' and '.join(missing)}"
    if os.environ.get("CI") or (os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.fail(f"{why}: `make setup` installs it (tools/system-packages.txt)")
    pytest.skip(f"{why} (not installed on this machine)")


def containerd_config(work: Path, cni_dir: Path) -> str:
    """containerd's config.toml (version 2): everything under `work`, CRI with cgroupfs, the
    overlayfs snapshotter, a local sandbox image, and CNI from `cni_dir`."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{work}/root"
state = "{work}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "{work}/containerd.sock"

[ttrpc]
  address = "{work}/containerd.sock.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{work}/opt"

[{cri}]
  sandbox_image = "{PAUSE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # Sandboxes at oom_score_adj -998 need CAP_SYS_RESOURCE, which a containerised CI lacks.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{work}/runc"

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{cni_dir}"
  max_conf_num = 1
"""


def cni_conflist(bridge: str, cidr: str, data_dir: Path) -> str:
    """bridge + host-local + loopback on the test's bridge. The bridge is made (with the
    gateway address) by the test, so the plugin neither addresses it nor turns on forwarding;
    pods need no route beyond their subnet to answer the host."""
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": bridge,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": False,
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": cidr}]],
                        "dataDir": str(data_dir),
                    },
                },
                {"type": "loopback"},
            ],
        },
        indent=2,
    )


def _gateway(cidr: str) -> str:
    return cidr.rsplit(".", 1)[0] + ".1"


def _remove_sandboxes(socket: Path) -> None:
    """Stops and removes every CRI sandbox through containerd, which tears down its network
    (CNI DEL: veth and address), its containers and its mounts."""
    from kube._generated.cri import runtime_v1_pb2 as pb
    from kube.cri.client import RuntimeClient

    async def remove() -> None:
        async with RuntimeClient(f"unix://{socket}", timeout=30) as cri:
            answer = await cri.call("ListPodSandbox", pb.ListPodSandboxRequest())
            for sandbox in answer.items:
                await cri.call(
                    "StopPodSandbox", pb.StopPodSandboxRequest(pod_sandbox_id=sandbox.id)
                )
                await cri.call(
                    "RemovePodSandbox", pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox.id)
                )

    try:
        asyncio.run(remove())
    except Exception as err:  # cleanup goes on with the by-name steps below
        sys.stderr.write(f"removing sandboxes through CRI: {err}\n")


def _shims(socket: Path) -> list[int]:
    """PIDs of the containerd shims serving this test's containerd (its socket in argv)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            found.append(int(proc.name))
    return found


def _mounts_under(root: Path) -> list[str]:
    """Mount points under `root`, deepest first (/proc/self/mountinfo, octal escapes kept)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split(" ")[4].replace("\\040", " ")
        if point == str(root) or point.startswith(f"{root}/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def cleanup_containerd(work: Path, socket: Path, bridge: str) -> None:
    """What containerd made, removed by this test's paths and names even if it misbehaved:
    runc containers in its runc root, its shims, mounts (rootfs, shm, netns) under `work`,
    and the bridge."""
    runc_root = work / "runc" / NAMESPACE
    listed = subprocess.run(
        ["runc", "--root", str(runc_root), "list", "-q"], capture_output=True, text=True
    )
    for container in listed.stdout.split():
        subprocess.run(
            ["runc", "--root", str(runc_root), "delete", "--force", container],
            capture_output=True,
        )
    for pid in _shims(socket):
        os.kill(pid, signal.SIGKILL)
    for point in _mounts_under(work):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    require_isolation()
    _require_containerd()
    if not Path("/bin/busybox").is_file():
        pytest.fail("/bin/busybox not found: install Debian's busybox-static (make setup does)")
    work = tmp_path_factory.mktemp("containerd")
    bridge = f"kube-c{secrets.token_hex(4)}"
    cidr = f"10.245.{200 + secrets.randbelow(50)}.0/24"
    name = f"node-{secrets.token_hex(3)}"
    socket = work / "containerd.sock"
    processes: list[subprocess.Popen[str]] = []
    containerd: subprocess.Popen[str] | None = None
    try:
        processes.append(
            _start(
                [
                    str(BIN / "kube"),
                    "server",
                    "--disable-agent",  # this module starts its own runtime and kubelet
                    "--disable-scheduler",
                    "--data-dir",
                    str(work / "server"),
                    "--secure-port",
                    "0",
                    "--controllers=",
                ],
                work / "server.log",
            )
        )
        # The bridge, with the gateway address through which the host reaches the pods.
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", f"{_gateway(cidr)}/24", "dev", bridge], check=True)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
        cni_dir = work / "cni"
        cni_dir.mkdir()
        (cni_dir / "10-kube.conflist").write_text(cni_conflist(bridge, cidr, work / "ipam"))
        config = work / "config.toml"
        config.write_text(containerd_config(work, cni_dir))
        containerd = _start(["containerd", "--config", str(config)], work / "containerd.log")
        for tool, archive in (
            ("build_busybox_image.py", work / "busybox-oci.tar"),
            ("build_pause_image.py", work / "pause-oci.tar"),
        ):
            subprocess.run(
                [sys.executable, str(REPO / "tools" / tool), "-o", str(archive)],
                check=True,
                capture_output=True,
            )
        _wait_for(socket.exists, 20, "containerd's socket")
        for archive in (work / "busybox-oci.tar", work / "pause-oci.tar"):
            subprocess.run(
                ["ctr", "-a", str(socket), "-n", NAMESPACE, "images", "import", str(archive)],
                check=True,
                capture_output=True,
                timeout=60,
            )
        server = processes[0]
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + (work / "server.log").read_text()[-2000:])
            if "kube server is up" in line:
                break
        kubeconfig = work / "server" / "admin.kubeconfig"
        # No controllers run, so no one makes the ServiceAccount that pods use (nor the
        # kube-root-ca.crt ConfigMap its token volume needs: this module's pods go without).
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default"},
            "automountServiceAccountToken": False,
        }
        subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), "apply", "-f", "-"],
            input=json.dumps(account),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        processes.append(
            _start(
                kubelet_command(kubeconfig, name, socket, cidr, work),
                work / "kubelet.log",
            )
        )
        yield Node(kubeconfig, name, cidr, work / "root", work)
    finally:
        for process in reversed(processes[1:]):  # the kubelet first: it would remake pods
            _stop(process)
        if containerd is not None:
            if containerd.poll() is None:
                _remove_sandboxes(socket)
            _stop(containerd)
        if processes:
            _stop(processes[0])
        cleanup_containerd(work, socket, bridge)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for directory in sorted(hierarchy.glob(f"kubepods-{name}*/**/"), reverse=True):
                subprocess.run(["rmdir", str(directory)], capture_output=True)
        for log in ("containerd.log", "kubelet.log"):
            path = work / log
            if path.exists():
                sys.stderr.write(f"--- {log} (tail)\n{path.read_text()[-3000:]}\n")


def _container(name: str, command: str) -> dict[str, Any]:
    # The image is imported into containerd: never pulled (no registry is reachable).
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", command],
    }


def test_node_registers_ready_on_containerd(node: Node) -> None:
    obj = _wait_for(lambda: _ready_node(node), 30, "node Ready")
    assert obj["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://1.")
    assert obj["spec"]["podCIDR"] == node.cidr
    assert node.get("lease", node.name, "kube-node-lease")["spec"]["holderIdentity"] == node.name


def test_pod_runs_httpd_on_its_ip_and_stops_gracefully(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = (
        "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
        "trap 'echo got TERM; exit 0' TERM; httpd -f -p 8080 -h /www & wait"
    )
    node.kubectl("apply", "-f", "-", input=_pod("web", node.name, _container("web", script)))
    pod = _wait_for(lambda: _running(node, "web"), 60, "pod web Running")
    status = pod["status"]
    ip = status["podIP"]
    assert ip.startswith(node.cidr.rsplit(".", 1)[0] + ".")
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "True"
    (web,) = status["containerStatuses"]
    assert web["containerID"].startswith("containerd://")
    assert web["imageID"].startswith("sha256:")
    assert web["restartCount"] == 0

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:8080/", timeout=2) as answer:
                body: str = answer.read().decode()
                return body
        except OSError:
            return None

    assert _wait_for(fetch, 15, "httpd answering") == "hello-from-web\n"

    started = time.monotonic()
    node.kubectl("delete", "pod", "web", "--wait=true", "--timeout=60s")
    assert time.monotonic() - started < 25  # the TERM trap ends it well before the 30 s grace
    gone = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "get", "pod", "web"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "NotFound" in gone.stderr
    # containerd wrote the container's CRI log where the kubelet's log_directory said.
    (log,) = node.logs.glob("pods/default_web_*/web/0.log")
    assert "stdout F got TERM" in log.read_text()


def test_logs_and_exec_through_containerd(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 3600"
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("talk", node.name, _container("talk", script), terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "talk"), 60, "pod talk Running")
    assert _wait_for(lambda: node.kubectl("logs", "talk") == "one\ntwo\nthree\n", 15, "the log")
    assert node.kubectl("logs", "talk", "--tail=1") == "three\n"

    def kubectl_exec(*argv: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    hi = kubectl_exec("talk", "--", "echo", "hi")
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    # The container has a PID namespace of its own (CRI NamespaceOption pid=CONTAINER, as
    # upstream's kubelet asks): its PID 1 is its own command (sh exec'd the script's last
    # one), not the sandbox's `/bin/sleep inf`.
    init = kubectl_exec("talk", "--", "cat", "/proc/1/cmdline")
    assert init.stdout == "sleep\x003600\x00", init
    failed = kubectl_exec("talk", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert "err\n" in failed.stderr
    assert "command terminated with exit code 3" in failed.stderr
    # -i: stdin reaches the command, and so does its end: the kubelet speaks SPDY to
    # containerd (whose WebSocket protocol, v4.channel.k8s.io, cannot carry stdin's end), so a
    # command reading to EOF finishes.
    piped = kubectl_exec(
        "-i", "talk", "--", "sh", "-c", "read line; echo got $line", input="piped in\n"
    )
    assert (piped.returncode, piped.stdout) == (0, "got piped in\n"), piped.stderr
    count = "n=0; while read -r line; do n=$((n+1)); done; echo $n lines"
    counted = kubectl_exec("-i", "talk", "--", "sh", "-c", count, input="x" * 19 + "\n" * 1)
    assert (counted.returncode, counted.stdout) == (0, "1 lines\n"), counted.stderr
    lines = "".join(f"{i:019d}\n" for i in range(5000))  # 100 kB: more than one SPDY window
    counted = kubectl_exec("-i", "talk", "--", "sh", "-c", count, input=lines)
    assert (counted.returncode, counted.stdout) == (0, "5000 lines\n"), counted.stderr
    node.kubectl("delete", "pod", "talk", "--wait=true", "--timeout=60s")


def test_port_forward_through_containerd(node: Node) -> None:
    # kubectl tunnels its SPDY session in a WebSocket; containerd 1.6 takes SPDY only as an
    # HTTP upgrade, which the kubelet makes and copies the session's bytes through.
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = "mkdir -p /www && echo forwarded-page > /www/index.html && httpd -f -p 8080 -h /www"
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("pf", node.name, _container("web", script), terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "pf"), 60, "pod pf Running")
    _serves_through_port_forward(node, "pf", 8080, "forwarded-page\n")
    node.kubectl("delete", "pod", "pf", "--wait=true", "--timeout=60s")


def test_missing_image_with_pull_policy_never(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "c", "image": "localhost/absent:1", "imagePullPolicy": "Never"}
    node.kubectl("apply", "-f", "-", input=_pod("noimage", node.name, container))

    def waiting() -> dict[str, Any] | None:
        statuses = node.get("pod", "noimage").get("status", {}).get("containerStatuses") or []
        if statuses and "waiting" in statuses[0]["state"]:
            return dict(statuses[0]["state"]["waiting"])
        return None

    state = _wait_for(waiting, 30, "a waiting container")
    assert state["reason"] == "ErrImageNeverPull"
    node.kubectl("delete", "pod", "noimage", "--wait=true", "--timeout=60s")


def test_a_crashing_container_is_restarted(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "crash",
            node.name,
            _container("crash", "echo bye; exit 3"),
            terminationGracePeriodSeconds=1,
        ),
    )

    def restarted() -> dict[str, Any] | None:
        statuses = node.get("pod", "crash").get("status", {}).get("containerStatuses") or []
        if statuses and statuses[0]["restartCount"] >= 1 and statuses[0]["lastState"]:
            return dict(statuses[0])
        return None

    status = _wait_for(restarted, 30, "a restart")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert node.kubectl("logs", "crash", "--previous") == "bye\n"
    node.kubectl("delete", "pod", "crash", "--wait=true", "--timeout=60s")
