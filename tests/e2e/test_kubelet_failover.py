"""Two kubelets, one dies: its pods are evicted and come up on the other node.

What a user sees with kubectl: a `kube server` (API server and scheduler) with a
`kube controller-manager` beside it, started with upstream's node lifecycle timing flags
(`--node-monitor-period`, `--node-monitor-grace-period`) so that it notices a silent node in
seconds rather than 40 s, and two real nodes (`kube runtime` with runc + `kube kubelet`, each
with its own bridge and pod CIDR). A Deployment of two httpd replicas is spread over both nodes
(topologySpreadConstraints on the hostname, tainted nodes not counted: `nodeTaintsPolicy:
Honor`), with tolerations of 2 s for the not-ready/unreachable NoExecute taints (instead of the
300 s the DefaultTolerationSeconds admission would give).

Then one kubelet is SIGKILLed (its runtime and containers keep running, as a node that lost
its kubelet): the Node goes Ready=Unknown (`NodeStatusUnknown`, "Kubelet stopped posting node
status."), gets the `node.kubernetes.io/unreachable` NoExecute taint, its pod is marked for
deletion by the taint eviction controller (`DisruptionTarget`/`DeletionByTaintManager`), and the
ReplicaSet's replacement runs on the surviving node, with a pod IP on that node's bridge, and
answers HTTP.

Before that, on the same two nodes (they are costly to start), a pod with `runAsUser: 1000`,
`fsGroup: 2000` and `supplementalGroups` writes to an emptyDir: `id` shows the groups and
`ls -ln` the volume's group 2000 and its setgid directory, so the non-root user can write.

Every bridge, pod namespace, veth and container is removed by name at the end (the dead node's
containers too), even when the test fails.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cri.conftest import require_isolation
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import (
    BIN,
    IMAGE,
    _start,
    _stop,
    _wait_for,
    busybox_archive,
    cleanup_runtime,
    kubelet_command,
)

pytestmark = pytest.mark.slow

GRACE = 16  # --node-monitor-grace-period: the kubelet renews its Lease every 10 s, with slack
TOLERATION = 2  # tolerationSeconds for the not-ready/unreachable NoExecute taints


@dataclass
class Member:
    """One node of the cluster: its kubelet and runtime processes and what they made."""

    name: str
    cidr: str
    bridge: str
    work: Path
    runtime: subprocess.Popen[str] | None = None
    kubelet: subprocess.Popen[str] | None = None


@dataclass
class Cluster:
    kubeconfig: Path
    nodes: list[Member]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def get(self, *args: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", *args, "-o", "json"))
        return result


def _wait_up(process: subprocess.Popen[str], log: Path) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"{process.args!r} exited: " + log.read_text()[-2000:])
        if "kube server is up" in line:
            return
    pytest.fail("kube server did not come up within 60 s")


def _start_runtime(member: Member, archive: Path) -> None:
    """`kube runtime` for `member`: its own root (with the busybox image) and bridge."""
    member.work.mkdir()
    root = member.work / "runtime"
    subprocess.run(
        [str(BIN / "kube"), "image", "--root", str(root), "import", str(archive)],
        check=True,
        capture_output=True,
    )
    socket = member.work / "cri.sock"
    member.runtime = _start(
        [
            str(BIN / "kube"),
            "runtime",
            "--root",
            str(root),
            "--listen",
            f"unix://{socket}",
            "--bridge",
            member.bridge,
        ],
        member.work / "runtime.log",
    )


def _start_kubelet(member: Member, kubeconfig: Path) -> None:
    """`kube kubelet` for `member` (its pod CIDR), once its runtime listens."""
    socket = member.work / "cri.sock"
    _wait_for(socket.exists, 20, "the CRI socket")
    # kubelet_command takes the API server's CA from <work>/server/tls.
    (member.work / "server").symlink_to(kubeconfig.parent)
    member.kubelet = _start(
        kubelet_command(kubeconfig, member.name, socket, member.cidr, member.work),
        member.work / "kubelet.log",
    )


def _cleanup_node(member: Member) -> None:
    """Stops what is left of the node and removes by name what its runtime made."""
    for process in (member.kubelet, member.runtime):
        if process is not None:
            _stop(process)
    cleanup_runtime(member.work / "runtime", member.bridge)
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for directory in sorted(hierarchy.glob(f"kubepods-{member.name}*/**/"), reverse=True):
            subprocess.run(["rmdir", str(directory)], capture_output=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_isolation()
    work = tmp_path_factory.mktemp("failover")
    server = _start(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",  # this module starts its own two nodes
            "--data-dir",
            str(work / "server"),
            "--secure-port",
            "0",
            "--controllers=",  # the controller-manager below runs them, with fast node timing
        ],
        work / "server.log",
    )
    processes = [server]
    octet = 200 + secrets.randbelow(25) * 2
    members = [
        Member(
            name=f"node-{letter}-{secrets.token_hex(3)}",
            cidr=f"10.244.{octet + i}.0/24",
            bridge=f"kube-f{secrets.token_hex(4)}",
            work=work / letter,
        )
        for i, letter in enumerate("ab")
    ]
    try:
        # While the server starts: the image, and both runtimes (they need no API server).
        archive = busybox_archive(work)
        for member in members:
            _start_runtime(member, archive)
        _wait_up(server, work / "server.log")
        kubeconfig = work / "server" / "admin.kubeconfig"
        processes.append(
            _start(
                [
                    str(BIN / "kube"),
                    "controller-manager",
                    "--kubeconfig",
                    str(kubeconfig),
                    "--leader-elect=false",
                    "--node-monitor-period=1s",
                    f"--node-monitor-grace-period={GRACE}s",
                ],
                work / "controller-manager.log",
            )
        )
        for member in members:
            _start_kubelet(member, kubeconfig)
        yield Cluster(kubeconfig, members)
    finally:
        for member in members:
            _cleanup_node(member)
        for process in reversed(processes):
            _stop(process)
        for log in (
            "controller-manager.log",
            *(f"{m.work.name}/{f}" for m in members for f in ("kubelet.log", "runtime.log")),
        ):
            path = work / log
            if path.exists():
                sys.stderr.write(f"--- {log} (tail)\n{path.read_text()[-3000:]}\n")


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _ready(node: dict[str, Any]) -> str:
    return str(_conditions(node).get("Ready", {}).get("status", ""))


def _deployment() -> str:
    tolerations = [
        {
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": TOLERATION,
        }
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    ]
    script = (
        "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && "
        "exec httpd -f -p 8080 -h /www"
    )
    labels = {"app": "web"}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "tolerations": tolerations,
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "kubernetes.io/hostname",
                                "whenUnsatisfiable": "DoNotSchedule",
                                "nodeTaintsPolicy": "Honor",
                                "labelSelector": {"matchLabels": labels},
                            }
                        ],
                        "containers": [
                            {"name": "web", "image": IMAGE, "command": ["sh", "-c", script]}
                        ],
                    },
                },
            },
        }
    )


def _fetch(ip: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{ip}:8080/", timeout=2) as answer:
            body: str = answer.read().decode()
            return body
    except OSError:
        return None


def _in(cidr: str, ip: str) -> bool:
    return ip.startswith(cidr.rsplit(".", 2)[0] + ".")


def _both_ready(cluster: Cluster) -> None:
    names = {m.name for m in cluster.nodes}

    def check() -> bool:
        nodes = cluster.get("nodes")["items"]
        return {n["metadata"]["name"] for n in nodes if _ready(n) == "True"} == names

    _wait_for(check, 30, "both nodes Ready")


def test_fs_group_owns_the_volume_and_is_a_process_group(cluster: Cluster) -> None:
    _both_ready(cluster)
    script = (
        "id; echo hi > /data/file && mkdir /data/dir && ls -ln /data && ls -lnd /data; "
        "ls -ln /config"
    )
    cluster.kubectl("create", "configmap", "settings", "--from-literal=key=value")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fsgroup", "namespace": "default"},
        "spec": {
            "nodeName": cluster.nodes[1].name,
            "restartPolicy": "Never",
            "securityContext": {
                "runAsUser": 1000,
                "runAsGroup": 3000,
                "fsGroup": 2000,
                "supplementalGroups": [4000],
            },
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "settings"}},
            ],
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "command": ["sh", "-c", script],
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "config", "mountPath": "/config"},
                    ],
                }
            ],
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def finished() -> str | None:
        phase = cluster.get("pod", "fsgroup")["status"].get("phase")
        return str(phase) if phase in ("Succeeded", "Failed") else None

    assert _wait_for(finished, 30, "the fsGroup pod to finish") == "Succeeded"
    lines = cluster.kubectl("logs", "fsgroup").splitlines()
    assert lines[0] == "uid=1000 gid=3000 groups=2000,3000,4000"  # the kernel sorts them
    listing = {}
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 9:  # `name -> target` for a symlink
            listing[fields[fields.index("->") - 1] if "->" in fields else fields[-1]] = fields
    # Made by uid 1000 in the setgid directory: the files inherit group 2000.
    assert listing["file"][2:4] == ["1000", "2000"]
    assert listing["dir"][0].startswith("drwx")
    assert listing["dir"][2:4] == ["1000", "2000"]
    assert listing["/data"][0] == "drwxrwsrwx"
    assert listing["/data"][3] == "2000"
    # The configMap's top-level name is a symlink, the link itself in group 2000.
    assert listing["key"][3] == "2000"
    cluster.kubectl("delete", "pod", "fsgroup", "--wait=true", "--timeout=30s")
    cluster.kubectl("delete", "configmap", "settings")


def test_a_dead_kubelets_pods_come_up_on_the_other_node(cluster: Cluster) -> None:
    a, b = cluster.nodes

    _both_ready(cluster)
    cluster.kubectl("apply", "-f", "-", input=_deployment())

    def spread_and_running() -> dict[str, dict[str, Any]] | None:
        pods = cluster.get("pods", "-l", "app=web")["items"]
        running = {
            p["spec"].get("nodeName"): p
            for p in pods
            if p["status"].get("phase") == "Running" and p["status"].get("podIP")
        }
        return running if set(running) == {a.name, b.name} else None

    placed = _wait_for(spread_and_running, 40, "one Running replica on each node")
    for member in (a, b):
        ip = placed[member.name]["status"]["podIP"]
        assert _in(member.cidr, ip)
        assert _wait_for(lambda ip=ip: _fetch(ip), 10, "httpd answering").startswith("hello-from")
    victim = placed[a.name]["metadata"]["name"]

    assert a.kubelet is not None
    a.kubelet.send_signal(signal.SIGKILL)  # the runtime and its containers keep running
    a.kubelet.wait(timeout=10)
    killed = time.monotonic()

    def unknown() -> dict[str, Any] | None:
        ready = _conditions(cluster.get("node", a.name))["Ready"]
        return ready if ready["status"] == "Unknown" else None

    ready = _wait_for(unknown, GRACE + 10, "the dead node Ready=Unknown")
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."

    def tainted() -> list[dict[str, Any]] | None:
        taints = cluster.get("node", a.name)["spec"].get("taints") or []
        found = [t for t in taints if t["key"] == "node.kubernetes.io/unreachable"]
        return found if {t["effect"] for t in found} == {"NoSchedule", "NoExecute"} else None

    taints = _wait_for(tainted, 10, "the unreachable taints")
    assert next(t for t in taints if t["effect"] == "NoExecute")["timeAdded"]
    assert _ready(cluster.get("node", b.name)) == "True"

    def evicted() -> dict[str, Any] | None:
        out = cluster.kubectl("get", "pod", victim, "-o", "json", "--ignore-not-found")
        if not out:
            return {"gone": True}
        pod: dict[str, Any] = json.loads(out)
        return pod if pod["metadata"].get("deletionTimestamp") else None

    pod = _wait_for(evicted, TOLERATION + 10, "the dead node's pod marked for deletion")
    if "gone" not in pod:
        target = _conditions(pod)["DisruptionTarget"]
        assert (target["status"], target["reason"]) == ("True", "DeletionByTaintManager")
    events = cluster.get("events", "--field-selector", f"involvedObject.name={victim}")["items"]
    assert any(e["reason"] == "TaintManagerEviction" for e in events)

    def replaced() -> dict[str, Any] | None:
        pods = cluster.get("pods", "-l", "app=web")["items"]
        fresh = [
            p
            for p in pods
            if p["metadata"]["name"] != victim
            and p["metadata"]["name"] != placed[b.name]["metadata"]["name"]
            and p["status"].get("phase") == "Running"
            and p["status"].get("podIP")
        ]
        return fresh[0] if fresh else None

    replacement = _wait_for(replaced, 30, "a replacement pod Running")
    assert replacement["spec"]["nodeName"] == b.name
    ip = replacement["status"]["podIP"]
    assert _in(b.cidr, ip)
    name = replacement["metadata"]["name"]
    assert _wait_for(lambda: _fetch(ip), 10, "the replacement answering") == f"hello-from-{name}\n"
    assert time.monotonic() - killed < GRACE + 30
    _wait_for(
        lambda: cluster.get("deployment", "web")["status"].get("availableReplicas") == 2,
        10,
        "the Deployment back at 2 available replicas",
    )
