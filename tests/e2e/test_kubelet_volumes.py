"""Volumes, memory limits and /stats/summary end to end, with real runc (kubectl as a user).

One pod mounts every kind of volume (configMap with items and modes, secret with a
defaultMode, emptyDir on disk and in memory, hostPath DirectoryOrCreate, downwardAPI, and the
projected `kube-api-access-*` volume the API server's admission would add: a bound
service-account token, the cluster CA and the namespace), and `kubectl exec` shows the content,
the modes, the tmpfs mounts and the read-only API data. A pod naming a missing ConfigMap stays
ContainerCreating with upstream's FailedMount event until the ConfigMap appears. A memory hog
over its limit is OOMKilled (exit 137). The kubelet's `/stats/summary` (called directly with the
API server's kubelet client certificate: this API server has no nodes/proxy) reports the pod's
containers' CPU and memory.

Reuses the `node` fixture of test_kubelet.py (a bare server, `kube runtime`, `kube kubelet`).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cri.conftest import unmount_under
from tests.e2e import test_kubelet
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import IMAGE, Node, _pod, _ready_node, _running, _wait_for

node = test_kubelet.node  # the module-scoped fixture: a server, a runtime and a kubelet

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _no_volume_left(node: Node) -> Iterator[None]:
    """After the module (even a failed one): the pods deleted, so the kubelet tears their
    volumes down, and any tmpfs still mounted under its pods dir unmounted."""
    yield
    node.kubectl("delete", "pods", "--all", "--wait=true", "--timeout=60s", check=False)
    unmount_under(node.logs / "kubelet" / "pods")


def _exec(node: Node, pod: str, script: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", pod, "--", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _apply(node: Node, obj: dict[str, Any]) -> None:
    node.kubectl("apply", "-f", "-", input=json.dumps(obj))


def test_volumes_are_visible_with_content_and_modes(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    _apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app-config"},
            "data": {"greeting": "hello", "other": "x"},
        },
    )
    node.kubectl("create", "secret", "generic", "app-secret", "--from-literal=password=s3cr3t")
    node.kubectl("create", "serviceaccount", "robot")
    _apply(
        node,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kube-root-ca.crt"},
            "data": {"ca.crt": "CA-PEM"},
        },
    )
    host_dir = node.logs / "host-volume"
    container = {
        "name": "app",
        "image": IMAGE,
        "command": ["sleep", "3600"],
        "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/config"},
            {"name": "secret", "mountPath": "/etc/secret"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "scratch", "mountPath": "/sub", "subPath": "nested"},
            {"name": "memory", "mountPath": "/memory"},
            {"name": "host", "mountPath": "/host"},
            {"name": "podinfo", "mountPath": "/etc/podinfo"},
            {
                "name": "kube-api-access-x7k2p",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            },
        ],
    }
    volumes = [
        {
            "name": "config",
            "configMap": {
                "name": "app-config",
                "items": [{"key": "greeting", "path": "conf/greeting.txt", "mode": 0o600}],
            },
        },
        {"name": "secret", "secret": {"secretName": "app-secret", "defaultMode": 0o400}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "memory", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}},
        {"name": "host", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
        {
            "name": "podinfo",
            "downwardAPI": {
                "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                    {
                        "path": "cpu_limit",
                        "resourceFieldRef": {
                            "containerName": "app",
                            "resource": "limits.cpu",
                            "divisor": "1m",
                        },
                    },
                ]
            },
        },
        {
            "name": "kube-api-access-x7k2p",
            "projected": {
                "defaultMode": 0o644,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {
                                        "apiVersion": "v1",
                                        "fieldPath": "metadata.namespace",
                                    },
                                }
                            ]
                        }
                    },
                ],
            },
        },
    ]
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "vols",
            node.name,
            container,
            volumes=volumes,
            serviceAccountName="robot",
            terminationGracePeriodSeconds=0,
        ),
    )
    _wait_for(lambda: _running(node, "vols"), 60, "pod vols Running")
    pod = node.get("pod", "vols")
    uid = pod["metadata"]["uid"]

    code, out, err = _exec(
        node,
        "vols",
        "cat /etc/config/conf/greeting.txt; echo; ls /etc/config;"
        " stat -L -c %a /etc/config/conf/greeting.txt;"
        " cat /etc/secret/password; echo; stat -L -c %a /etc/secret/password;"
        " cat /etc/podinfo/name; echo; cat /etc/podinfo/labels; echo;"
        " cat /etc/podinfo/cpu_limit; echo;"
        " cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo;"
        " cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt; echo",
    )
    assert code == 0, err
    assert out.splitlines() == [
        "hello",
        "conf",
        "600",
        "s3cr3t",
        "400",
        "vols",
        'app="vols"',
        "250",
        "default",
        "CA-PEM",
    ]
    # The token is a JWT for the robot service account, bound to this pod.
    code, token, err = _exec(
        node, "vols", "cat /var/run/secrets/kubernetes.io/serviceaccount/token"
    )
    assert code == 0, err
    assert token.count(".") == 2
    review = node.kubectl(
        "create",
        "--validate=false",
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
        ),
    )
    user = json.loads(review)["status"]["user"]
    assert user["username"] == "system:serviceaccount:default:robot"
    # Secrets, projected, downwardAPI and memory emptyDirs are tmpfs; API data is read-only.
    code, mounts, err = _exec(node, "vols", "cat /proc/mounts")
    assert code == 0, err
    by_target = {line.split()[1]: line.split() for line in mounts.splitlines()}
    assert by_target["/etc/secret"][2] == "tmpfs"
    assert by_target["/memory"][2] == "tmpfs"
    assert "size=8192k" in by_target["/memory"][3]
    assert by_target["/etc/config"][3].startswith("ro")
    assert by_target["/var/run/secrets/kubernetes.io/serviceaccount"][3].startswith("ro")
    code, _, _ = _exec(node, "vols", "touch /etc/config/new")
    assert code != 0
    # emptyDir, its subPath and hostPath are writable and shared with the node.
    code, _, err = _exec(
        node, "vols", "echo data > /scratch/f && echo sub > /sub/g && echo host > /host/h"
    )
    assert code == 0, err
    volumes_dir = node.logs / "kubelet" / "pods" / uid / "volumes"
    assert (volumes_dir / "kubernetes.io~empty-dir" / "scratch" / "f").read_text() == "data\n"
    assert (volumes_dir / "kubernetes.io~empty-dir" / "scratch" / "nested" / "g").read_text() == (
        "sub\n"
    )
    assert (host_dir / "h").read_text() == "host\n"
    assert (volumes_dir / "kubernetes.io~configmap" / "config" / "..data").is_symlink()

    summary = _summary(node)
    _wait_for(lambda: _pod_stats(_summary(node), "vols"), 10, "a CPU rate for pod vols")
    assert summary["node"]["nodeName"] == node.name

    node.kubectl("delete", "pod", "vols", "--wait=true", "--timeout=60s")
    assert _wait_for(lambda: not (node.logs / "kubelet" / "pods" / uid).exists(), 10, "cleanup")
    assert host_dir.is_dir()  # a hostPath is the node's, never removed


def _summary(node: Node) -> dict[str, Any]:
    """GET /stats/summary from the kubelet with the API server's kubelet client certificate."""
    port = node.get("node", node.name)["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    tls = node.logs / "server" / "tls"
    context.load_cert_chain(
        tls / "apiserver-kubelet-client.crt", tls / "apiserver-kubelet-client.key"
    )
    url = f"https://127.0.0.1:{port}/stats/summary"
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/json")
        body: dict[str, Any] = json.loads(answer.read())
    return body


def _pod_stats(summary: dict[str, Any], name: str) -> dict[str, Any] | None:
    for pod in summary["pods"]:
        if pod["podRef"]["name"] != name:
            continue
        (container,) = pod["containers"]
        if "usageNanoCores" not in container["cpu"]:
            return None
        assert pod["podRef"]["namespace"] == "default"
        assert container["name"] == "app"
        assert container["cpu"]["usageCoreNanoSeconds"] > 0
        assert container["memory"]["workingSetBytes"] > 0
        assert container["memory"]["usageBytes"] >= container["memory"]["workingSetBytes"]
        assert container["memory"]["availableBytes"] <= 64 * 1024 * 1024  # the limit
        assert pod["memory"]["workingSetBytes"] == container["memory"]["workingSetBytes"]
        figures = summary["node"]
        assert figures["cpu"]["usageCoreNanoSeconds"] > 0
        assert "usageNanoCores" in figures["cpu"]
        assert figures["memory"]["workingSetBytes"] > 0
        return dict(pod)
    return None


def _events(node: Node, pod: str) -> list[dict[str, Any]]:
    out = node.kubectl(
        "get", "events", "-o", "json", "--field-selector", f"involvedObject.name={pod}"
    )
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_missing_configmap_keeps_the_pod_container_creating(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {
        "name": "c",
        "image": IMAGE,
        "command": ["sleep", "3600"],
        "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}],
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "nocfg",
            node.name,
            container,
            volumes=[{"name": "cfg", "configMap": {"name": "later"}}],
            terminationGracePeriodSeconds=0,
        ),
    )

    def failed_mount() -> dict[str, Any] | None:
        found = [e for e in _events(node, "nocfg") if e["reason"] == "FailedMount"]
        return found[0] if found else None

    event = _wait_for(failed_mount, 30, "a FailedMount event")
    assert event["type"] == "Warning"
    assert event["message"] == (
        'MountVolume.SetUp failed for volume "cfg" : configmap "later" not found'
    )
    assert event["source"]["component"] == "kubelet"
    status = node.get("pod", "nocfg")["status"]
    assert status["phase"] == "Pending"
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    node.kubectl("create", "configmap", "later", "--from-literal=k=v")
    _wait_for(lambda: _running(node, "nocfg"), 30, "pod nocfg Running once the ConfigMap exists")
    code, out, err = _exec(node, "nocfg", "cat /cfg/k")
    assert (code, out) == (0, "v"), err
    # An update reaches the running container (atomic swap of ..data) on the next resync.
    node.kubectl("patch", "configmap", "later", "-p", '{"data": {"k": "changed"}}')
    _wait_for(lambda: _exec(node, "nocfg", "cat /cfg/k")[1] == "changed", 25, "the update")
    node.kubectl("delete", "pod", "nocfg", "--wait=true", "--timeout=60s")


def test_a_container_over_its_memory_limit_is_oom_killed(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {
        "name": "hog",
        "image": IMAGE,
        "command": ["sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done"],
        "resources": {"limits": {"memory": "16Mi"}},
    }
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod(
            "hog", node.name, container, restartPolicy="Never", terminationGracePeriodSeconds=0
        ),
    )

    def terminated() -> dict[str, Any] | None:
        statuses = node.get("pod", "hog").get("status", {}).get("containerStatuses") or []
        if statuses and "terminated" in statuses[0]["state"]:
            return dict(statuses[0]["state"]["terminated"])
        return None

    started = time.monotonic()
    state = _wait_for(terminated, 60, "the hog terminated")
    assert state["reason"] == "OOMKilled", state
    assert state["exitCode"] == 137
    assert time.monotonic() - started < 60
    assert node.get("pod", "hog")["status"]["phase"] == "Failed"
    node.kubectl("delete", "pod", "hog", "--wait=true", "--timeout=60s")
