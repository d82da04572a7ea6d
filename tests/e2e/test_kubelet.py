"""The kubelet end to end: a bare `kube server`, `kube runtime` (runc) and `kube kubelet`.

What a user sees with kubectl: the node registers Ready with its labels, capacity and Lease; a
pod bound to it runs busybox httpd in its own network namespace and answers on its pod IP from
the node; a crashing container is restarted; a missing image is reported with upstream's reason;
`kubectl delete pod` stops the pod gracefully and the object goes away; `kubectl logs` (with
`--tail`, `--timestamps`) and `kubectl exec` (output and exit codes) reach the container through
the API server's proxy to the kubelet's server.

Runs where the machine can isolate (root and runc, as in CI). The bridge (`kube-e<hex>`) and
every pod namespace and veth are made by the test's runtime and removed by name at the end,
even when a test fails; traffic goes only to pod addresses on that bridge.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kube.cri.runtime.runtime import default_state
from tests.cri.conftest import require_isolation, unmount_under
from tests.e2e.conftest import KUBECTL

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
IMAGE = "localhost/busybox:latest"

pytestmark = pytest.mark.slow


@dataclass
class Node:
    kubeconfig: Path
    name: str
    cidr: str
    runtime_root: Path
    logs: Path

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any]:
        out = self.kubectl("get", kind, name, "-n", namespace, "-o", "json")
        result: dict[str, Any] = json.loads(out)
        return result


def _start(argv: list[str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=sink, text=True, start_new_session=True
        )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def _wait_for(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    pytest.fail(f"{what} not within {seconds}s; last: {last!r}")


def cleanup_runtime(root: Path, bridge: str) -> None:
    """Removes by name what the test's runtime made: containers, mounts, netns, veths, bridge.
    Its state (`<root>-state`, a tmpfs) is beside `root`, so unmounted with the rest."""
    state = default_state(root)
    runc_root = state / "runc"
    for bundle in sorted((state / "containers").glob("*")):
        subprocess.run(
            ["runc", "--root", str(runc_root), "delete", "--force", bundle.name],
            capture_output=True,
        )
        subprocess.run(["umount", "-l", str(bundle / "rootfs")], capture_output=True)
    for sandbox in sorted((state / "sandboxes").glob("*")):
        subprocess.run(["ip", "link", "del", f"kube-{sandbox.name[:10]}"], capture_output=True)
        subprocess.run(["ip", "netns", "del", f"kube-{sandbox.name[:16]}"], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    unmount_under(root.parent)


def kubelet_command(kubeconfig: Path, name: str, socket: Path, cidr: str, work: Path) -> list[str]:
    """`kube kubelet` for a test node: its state under `work`, its cgroups under
    `/kubepods-<name>`, its server (logs, exec) on loopback, where the API server reaches it
    through the node's InternalIP, taking only the API server's kubelet client certificate."""
    return [
        str(BIN / "kube"),
        "kubelet",
        "--kubeconfig",
        str(kubeconfig),
        "--node-name",
        name,
        "--container-runtime-endpoint",
        f"unix://{socket}",
        "--pod-cidr",
        cidr,
        "--root-dir",
        str(work / "kubelet"),
        "--pod-logs-dir",
        str(work / "pods"),
        "--cgroup-root",
        f"/kubepods-{name}",
        "--node-ip",
        "127.0.0.1",
        "--address",
        "127.0.0.1",
        "--port",
        "0",
        "--client-ca-file",
        str(work / "server" / "tls" / "ca.crt"),
    ]


def busybox_archive(work: Path) -> Path:
    """localhost/busybox:latest as an OCI archive in `work` (tools/build_busybox_image.py)."""
    archive = work / "busybox-oci.tar"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_busybox_image.py"), "-o", str(archive)],
        check=True,
        capture_output=True,
    )
    return archive


def import_busybox(runtime_root: Path, work: Path) -> None:
    """Build localhost/busybox:latest and import it into the runtime's image store."""
    archive = busybox_archive(work)
    subprocess.run(
        [str(BIN / "kube"), "image", "--root", str(runtime_root), "import", str(archive)],
        check=True,
        capture_output=True,
    )


def make_service_account(kubeconfig: Path, ca: Path) -> None:
    """What the serviceaccount and root-ca-cert-publisher controllers would make in `default`
    (this server runs no controllers): the API server refuses pods whose account is missing,
    and their `kube-api-access-*` volume projects the `kube-root-ca.crt` ConfigMap."""
    for args in (
        ["create", "serviceaccount", "default"],
        ["create", "configmap", "kube-root-ca.crt", f"--from-file=ca.crt={ca}"],
    ):
        subprocess.run(
            [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    require_isolation()
    if not Path("/bin/busybox").is_file():
        pytest.fail("/bin/busybox not found: install Debian's busybox-static (make setup does)")
    work = tmp_path_factory.mktemp("kubelet")
    server = _start(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",  # this module starts its own runtime and kubelet
            "--data-dir",
            str(work / "server"),
            "--secure-port",
            "0",
            "--controllers=",
        ],
        work / "server.log",
    )
    processes = [server]
    bridge = f"kube-e{secrets.token_hex(4)}"
    cidr = f"10.244.{200 + secrets.randbelow(50)}.0/24"
    runtime_root = work / "runtime"
    name = f"node-{secrets.token_hex(3)}"
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + (work / "server.log").read_text()[-2000:])
            if "kube server is up" in line:
                break
        kubeconfig = work / "server" / "admin.kubeconfig"
        make_service_account(kubeconfig, work / "server" / "tls" / "ca.crt")
        import_busybox(runtime_root, work)
        socket = work / "cri.sock"
        processes.append(
            _start(
                [
                    str(BIN / "kube"),
                    "runtime",
                    "--root",
                    str(runtime_root),
                    "--listen",
                    f"unix://{socket}",
                    "--bridge",
                    bridge,
                ],
                work / "runtime.log",
            )
        )
        _wait_for(socket.exists, 20, "the CRI socket")
        processes.append(
            _start(
                kubelet_command(kubeconfig, name, socket, cidr, work),
                work / "kubelet.log",
            )
        )
        yield Node(kubeconfig, name, cidr, runtime_root, work)
    finally:
        for process in reversed(processes):
            _stop(process)
        cleanup_runtime(runtime_root, bridge)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for directory in sorted(hierarchy.glob(f"kubepods-{name}*/**/"), reverse=True):
                subprocess.run(["rmdir", str(directory)], capture_output=True)
        for log in ("runtime.log", "kubelet.log"):
            path = work / log
            if path.exists():
                sys.stderr.write(f"--- {log} (tail)\n{path.read_text()[-3000:]}\n")


def _pod(name: str, node: str, container: dict[str, Any], **spec: Any) -> str:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [container], **spec},
    }
    return json.dumps(pod)


def _ready_node(node: Node) -> dict[str, Any] | None:
    out = node.kubectl("get", "node", node.name, "-o", "json", check=False)
    if not out:
        return None
    obj: dict[str, Any] = json.loads(out)
    conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
    return obj if conditions.get("Ready") == "True" else None


def test_node_registers_ready_with_a_lease(node: Node) -> None:
    obj = _wait_for(lambda: _ready_node(node), 30, "node Ready")
    labels = obj["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == node.name
    assert labels["kubernetes.io/os"] == "linux"
    assert labels["kubernetes.io/arch"] in ("amd64", "arm64")
    status = obj["status"]
    assert int(status["capacity"]["cpu"]) >= 1
    assert status["capacity"]["memory"].endswith("Ki")
    assert status["allocatable"]["pods"] == "110"
    assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("kube-runtime://")
    assert status["nodeInfo"]["kubeletVersion"].startswith("v1.")
    assert obj["spec"]["podCIDR"] == node.cidr
    lease = node.get("lease", node.name, "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == node.name
    assert lease["spec"]["leaseDurationSeconds"] == 40


def _running(node: Node, name: str) -> dict[str, Any] | None:
    pod = node.get("pod", name)
    status = pod.get("status") or {}
    if status.get("phase") == "Running" and status.get("podIP"):
        return pod
    return None


def _serves_through_port_forward(node: Node, pod: str, port: int, page: str) -> None:
    """`kubectl port-forward pod/<pod> :<port>` answers `page`, twice over one session."""
    forward = subprocess.Popen(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "port-forward", f"pod/{pod}", f":{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        found = re.search(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {port}", line)
        assert found, line + (forward.stderr.read() if forward.poll() is not None else "")
        local = int(found.group(1))

        def fetch() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=5) as answer:
                    body: str = answer.read().decode()
                    return body
            except OSError:
                return None

        assert _wait_for(fetch, 15, "the page through port-forward") == page
        assert fetch() == page  # a second connection over the same session
    finally:
        forward.terminate()
        try:
            forward.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.communicate()


def test_pod_runs_httpd_with_its_own_ip_and_stops_gracefully(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    script = (
        "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
        "trap 'echo got TERM; exit 0' TERM; httpd -f -p 8080 -h /www & wait"
    )
    container = {"name": "web", "image": IMAGE, "command": ["sh", "-c", script]}
    node.kubectl("apply", "-f", "-", input=_pod("web", node.name, container))
    pod = _wait_for(lambda: _running(node, "web"), 60, "pod web Running")
    status = pod["status"]
    ip = status["podIP"]
    assert ip.startswith(node.cidr.rsplit(".", 2)[0] + ".")
    assert status["podIPs"] == [{"ip": ip}]
    assert status["hostIP"]
    assert status["startTime"]
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Ready"] == "True"
    assert conditions["ContainersReady"] == "True"
    assert conditions["Initialized"] == "True"
    assert conditions["PodScheduled"] == "True"
    (web,) = status["containerStatuses"]
    assert web["ready"] is True
    assert web["restartCount"] == 0
    assert "running" in web["state"]
    assert web["containerID"].startswith("kube-runtime://")
    assert web["imageID"].startswith("sha256:")
    assert web["image"] == IMAGE

    def fetch() -> str | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:8080/", timeout=2) as answer:
                body: str = answer.read().decode()
                return body
        except OSError:
            return None

    assert _wait_for(fetch, 15, "httpd answering") == "hello-from-web\n"

    # upstream's Normal events of the start, about the container, from the kubelet (which
    # also warns MissingClusterDNS here: the test's kubelet has no --cluster-dns).
    def start_events() -> list[tuple[str, str, str, str]] | None:
        out = node.kubectl(
            "get", "events", "-o", "json", "--field-selector", "involvedObject.name=web"
        )
        found = [
            (e["reason"], e["message"], e["involvedObject"].get("fieldPath", ""), e["type"])
            for e in json.loads(out)["items"]
            if e["source"].get("component") == "kubelet"
            and e["reason"] in ("Pulled", "Created", "Started")
        ]
        return found if len(found) >= 3 else None

    present = f'Container image "{IMAGE}" already present on machine and can be accessed by the pod'
    assert sorted(_wait_for(start_events, 15, "the start's events")) == sorted(
        [
            ("Pulled", present, "spec.containers{web}", "Normal"),
            ("Created", "Container created", "spec.containers{web}", "Normal"),
            ("Started", "Container started", "spec.containers{web}", "Normal"),
        ]
    )

    started = time.monotonic()
    node.kubectl("delete", "pod", "web", "--wait=true", "--timeout=60s")
    assert time.monotonic() - started < 25  # the TERM trap ends it well before the 30 s grace
    assert (
        "NotFound"
        in subprocess.run(
            [KUBECTL, "--kubeconfig", str(node.kubeconfig), "get", "pod", "web"],
            capture_output=True,
            text=True,
            check=False,
        ).stderr
    )
    # The container's log (CRI format) has what it printed when it got SIGTERM.
    logs = list(node.logs.glob("pods/default_web_*/web/0.log"))
    assert len(logs) == 1
    assert "stdout F got TERM" in logs[0].read_text()
    assert _wait_for(
        lambda: not list((default_state(node.runtime_root) / "sandboxes").iterdir()),
        10,
        "no sandbox",
    )


def test_a_crashing_container_is_restarted(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "crash", "image": IMAGE, "command": ["sh", "-c", "echo bye; exit 3"]}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("crash", node.name, container, terminationGracePeriodSeconds=1),
    )

    def restarted() -> dict[str, Any] | None:
        statuses = node.get("pod", "crash").get("status", {}).get("containerStatuses") or []
        if statuses and statuses[0]["restartCount"] >= 1 and statuses[0]["lastState"]:
            return dict(statuses[0])
        return None

    status = _wait_for(restarted, 30, "a restart")
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    node.kubectl("delete", "pod", "crash", "--wait=true", "--timeout=60s")


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
    assert state["message"] == (
        'Container image "localhost/absent:1" is not present with pull policy of Never'
    )
    assert node.get("pod", "noimage")["status"]["phase"] == "Pending"
    node.kubectl("delete", "pod", "noimage", "--wait=true", "--timeout=60s")


def test_logs_and_exec_through_the_api_server(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    port = node.get("node", node.name)["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert port > 0
    anonymous = ssl.create_default_context()
    anonymous.check_hostname, anonymous.verify_mode = False, ssl.CERT_NONE
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(
            f"https://127.0.0.1:{port}/containerLogs/default/talk/talk", context=anonymous
        )
    assert refused.value.code == 401
    refused.value.close()  # an HTTPError holds the open response (and its TLS socket)
    # Pauses keep the order of the lines across the stdout and stderr pipes.
    script = "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 3600"
    container = {"name": "talk", "image": IMAGE, "command": ["sh", "-c", script]}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("talk", node.name, container, terminationGracePeriodSeconds=1),
    )
    _wait_for(lambda: _running(node, "talk"), 60, "pod talk Running")
    assert _wait_for(lambda: node.kubectl("logs", "talk") == "one\ntwo\nthree\n", 15, "the log")
    assert node.kubectl("logs", "talk", "--tail=1") == "three\n"
    stamped = node.kubectl("logs", "talk", "--timestamps").splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "two", "three"]
    for line in stamped:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line.split(" ")[0])

    wrong = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "logs", "talk", "-c", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert wrong.returncode == 1
    assert "container nope is not valid for pod talk" in wrong.stderr

    hi = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", "talk", "--", "echo", "hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (hi.returncode, hi.stdout) == (0, "hi\n"), hi.stderr
    script = "echo out; echo err >&2; exit 3"
    failed = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", "talk", "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert "err\n" in failed.stderr
    assert "command terminated with exit code 3" in failed.stderr
    # -i: stdin goes to the command through the runtime's streaming exec.
    piped = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", "-i", "talk", "--", "cat"],
        input="piped in\nline two\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (piped.returncode, piped.stdout) == (0, "piped in\nline two\n"), piped.stderr
    _tty_exec(node)
    node.kubectl("delete", "pod", "talk", "--wait=true", "--timeout=60s")


def _tty_exec(node: Node) -> None:
    """`exec -it` as the Python client does it: a terminal in the container (runc's console
    socket), keystrokes in, a resize on channel 4, the exit Status on channel 3."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    with client.ApiClient(config.new_client_from_config(str(node.kubeconfig)).configuration) as api:
        session = stream(
            client.CoreV1Api(api).connect_get_namespaced_pod_exec,
            "talk",
            "default",
            command=["sh", "-c", "read line; echo got $line; sleep 1; stty size; tty"],
            stdin=True,
            stdout=True,
            stderr=False,
            tty=True,
            _preload_content=False,
        )
        try:
            # The resize travels beside stdin (channel 4 vs 0), so the command waits a second
            # before it reads the size rather than racing the resize.
            session.write_channel(4, json.dumps({"Width": 120, "Height": 40}))
            session.write_stdin("typed\n")
            out = ""
            deadline = time.monotonic() + 15
            while session.is_open() and time.monotonic() < deadline:
                session.update(timeout=1)
                if session.peek_stdout():
                    out += session.read_stdout()
            out = (out + session.read_stdout(timeout=1)).replace("\r\n", "\n")
            assert session.returncode == 0
        finally:
            session.close()
    assert "got typed\n" in out
    assert "40 120\n" in out
    assert "/dev/pts/" in out


def test_exec_into_a_pod_with_no_node_is_refused(node: Node) -> None:
    container = {"name": "c", "image": IMAGE}
    pod = json.loads(_pod("unbound", node.name, container))
    del pod["spec"]["nodeName"]
    pod["spec"]["nodeSelector"] = {"example.com/nowhere": "true"}  # no scheduler places it
    node.kubectl("apply", "-f", "-", input=json.dumps(pod))
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", "unbound", "--", "true"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "pod unbound does not have a host assigned" in done.stderr
    assert node.kubectl("logs", "unbound") == ""  # upstream: no node, an empty log
    node.kubectl("delete", "pod", "unbound", "--wait=true", "--timeout=60s")
