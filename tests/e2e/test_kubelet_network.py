"""Pod networking details end to end: resolv.conf per dnsPolicy, the kubelet's /etc/hosts,
hostNetwork pods and hostPort, with real runc, seen through kubectl.

The whole node lives in a network namespace the test makes (`kube-n<hex>`, with a veth pair
whose `kn<hex>a` end holds the node's InternalIP): `kube server`, `kube runtime` and
`kube kubelet` (the `kubelet_command` of test_kubelet.py, with `--cluster-dns 10.96.0.10` and a
resolv.conf of the test's own for Default pods) run in it, so a hostNetwork pod sees that
namespace's interfaces and the hostPort DNAT rules go into its nftables, never the machine's.
The runtime and kubelet share a mount namespace with /sys/class/net showing the node
namespace's links (the runtime checks links there; `ip netns exec` would also hide the cgroup
hierarchies runc needs). Traffic goes only to addresses inside that namespace.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
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
    Node,
    _running,
    _wait_for,
    cleanup_runtime,
    import_busybox,
    kubelet_command,
)

pytestmark = pytest.mark.slow

CLUSTER_DNS = "10.96.0.10"
NODE_RESOLV = "nameserver 192.0.2.53\nsearch example.test\noptions timeout:2\n"
SLEEP = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


@dataclass
class NetNode(Node):
    """A node whose processes, kubectl included, run in the test's network namespace."""

    netns: str = ""
    node_ip: str = ""
    interface: str = ""

    def enter(self, *argv: str) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.netns}", *argv]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        done = subprocess.run(
            self.enter(KUBECTL, "--kubeconfig", str(self.kubeconfig), *args),
            input=input,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {done.stderr}")
        return done.stdout


# Runs in a new mount namespace of the node's network namespace: /sys/class/net (and the
# devices its links point at) from a sysfs mounted there, then the runtime, then the kubelet.
NODE_SCRIPT = """
set -e
mount -t sysfs sysfs "$SYSFS"
mount --bind "$SYSFS/class/net" /sys/class/net
mount --bind "$SYSFS/devices/virtual/net" /sys/devices/virtual/net
"$KUBE" runtime --root "$RUNTIME_ROOT" --listen "unix://$SOCKET" --bridge "$BRIDGE" &
i=0
while [ ! -S "$SOCKET" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
exec "$@"
"""


def _start(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    with log.open("w") as sink:
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            start_new_session=True,
            env=env,
        )


def _stop_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group this test started (the runtime runs beside the kubelet)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetNode]:
    require_isolation()
    work = tmp_path_factory.mktemp("kubelet-net")
    tag = secrets.token_hex(4)
    netns, interface = f"kube-n{tag}", f"kn{tag}a"
    node_ip = f"10.251.{secrets.randbelow(250)}.2"
    cidr = f"10.244.{200 + secrets.randbelow(50)}.0/24"
    bridge = f"kube-e{tag}"
    name = f"node-{secrets.token_hex(3)}"
    runtime_root = work / "runtime"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    processes: list[subprocess.Popen[str]] = []
    try:
        for command in (
            ["link", "set", "lo", "up"],
            ["link", "add", interface, "type", "veth", "peer", "name", f"kn{tag}b"],
            ["addr", "add", f"{node_ip}/24", "dev", interface],
            ["link", "set", interface, "up"],
            ["link", "set", f"kn{tag}b", "up"],
        ):
            subprocess.run(["ip", "-n", netns, *command], check=True, capture_output=True)
        enter = ["nsenter", f"--net=/run/netns/{netns}"]
        server = _start(
            [
                *enter,
                str(BIN / "kube"),
                "server",
                "--disable-agent",
                "--data-dir",
                str(work / "server"),
                "--secure-port",
                "0",
                "--controllers=",
            ],
            work / "server.log",
        )
        processes.append(server)
        assert server.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + (work / "server.log").read_text()[-2000:])
            if "kube server is up" in line:
                break
        kubeconfig = work / "server" / "admin.kubeconfig"
        net = NetNode(kubeconfig, name, cidr, runtime_root, work, netns, node_ip, interface)
        net.kubectl("create", "serviceaccount", "default")
        net.kubectl(
            "create",
            "configmap",
            "kube-root-ca.crt",
            f"--from-file=ca.crt={work / 'server' / 'tls' / 'ca.crt'}",
        )
        import_busybox(runtime_root, work)
        resolv = work / "node-resolv.conf"
        resolv.write_text(NODE_RESOLV)
        (work / "sysfs").mkdir()
        socket = work / "cri.sock"
        kubelet = [
            *kubelet_command(kubeconfig, name, socket, cidr, work),
            "--node-ip",  # the last of a repeated flag wins
            node_ip,
            "--address",
            node_ip,
            "--cluster-dns",
            CLUSTER_DNS,
            "--resolv-conf",
            str(resolv),
        ]
        env = {
            **os.environ,
            "SYSFS": str(work / "sysfs"),
            "KUBE": str(BIN / "kube"),
            "RUNTIME_ROOT": str(runtime_root),
            "SOCKET": str(socket),
            "BRIDGE": bridge,
        }
        processes.append(
            _start(
                [*enter, "unshare", "--mount", "sh", "-c", NODE_SCRIPT, "sh", *kubelet],
                work / "node.log",
                env,
            )
        )
        yield net
    finally:
        for process in reversed(processes):
            _stop_group(process)
        cleanup_runtime(runtime_root, bridge)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            for directory in sorted(hierarchy.glob(f"kubepods-{name}*/**/"), reverse=True):
                subprocess.run(["rmdir", str(directory)], capture_output=True)
        log = work / "node.log"
        if log.exists():
            sys.stderr.write(f"--- node.log (tail)\n{log.read_text()[-3000:]}\n")


def _pod(name: str, node: NetNode, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node.name,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": IMAGE, **container}],
            **spec,
        },
    }


HOST_PORT = 20000 + secrets.randbelow(10000)
PODS = {
    "cluster-first": {
        "hostname": "db-0",
        "subdomain": "db",
        "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}],
    },
    "default-dns": {"dnsPolicy": "Default"},
    "none-dns": {
        "dnsPolicy": "None",
        "dnsConfig": {
            "nameservers": ["192.0.2.99"],
            "searches": ["ns1.svc.cluster-domain.example"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        },
    },
    "host-net": {"hostNetwork": True},
}


@pytest.fixture(scope="module")
def pods(node: NetNode) -> dict[str, dict[str, Any]]:
    """All the module's pods, created at once (they start in parallel)."""
    web = {
        "command": ["sh", "-c", "mkdir -p /www && echo via-hostport > /www/index.html && "
                    "exec httpd -f -p 8080 -h /www"],
        "ports": [{"containerPort": 8080, "hostPort": HOST_PORT}],
    }  # fmt: skip
    items = [_pod(name, node, {"command": SLEEP}, **spec) for name, spec in PODS.items()]
    items.append(_pod("hostport", node, web))
    node.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    return {
        item["metadata"]["name"]: _wait_for(
            lambda n=item["metadata"]["name"]: _running(node, n), 60, "pod Running"
        )
        for item in items
    }


def _exec(node: NetNode, pod: str, *argv: str) -> str:
    return node.kubectl("exec", pod, "--", *argv)


def test_resolv_conf_per_dns_policy(node: NetNode, pods: dict[str, dict[str, Any]]) -> None:
    assert _exec(node, "cluster-first", "cat", "/etc/resolv.conf") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local example.test\n"
        f"nameserver {CLUSTER_DNS}\n"
        "options ndots:5\n"
    )
    assert _exec(node, "default-dns", "cat", "/etc/resolv.conf") == (
        "search example.test\nnameserver 192.0.2.53\noptions timeout:2\n"
    )
    assert _exec(node, "none-dns", "cat", "/etc/resolv.conf") == (
        "search ns1.svc.cluster-domain.example\nnameserver 192.0.2.99\noptions ndots:2 edns0\n"
    )
    # hostNetwork with ClusterFirst: Default, as upstream.
    assert "nameserver 192.0.2.53\n" in _exec(node, "host-net", "cat", "/etc/resolv.conf")


def test_etc_hosts_has_the_pod_ip_hostname_and_aliases(
    node: NetNode, pods: dict[str, dict[str, Any]]
) -> None:
    ip = pods["cluster-first"]["status"]["podIP"]
    hosts = _exec(node, "cluster-first", "cat", "/etc/hosts")
    assert hosts.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert f"\n{ip}\tdb-0.db.default.svc.cluster.local\tdb-0\n" in hosts
    assert hosts.endswith("\n# Entries added by HostAliases.\n10.1.2.3\tfoo.remote\tbar.remote\n")
    assert _exec(node, "cluster-first", "hostname") == "db-0\n"
    plain_ip = pods["default-dns"]["status"]["podIP"]
    assert f"\n{plain_ip}\tdefault-dns\n" in _exec(node, "default-dns", "cat", "/etc/hosts")


def test_host_network_pod_has_the_nodes_ip_and_interfaces(
    node: NetNode, pods: dict[str, dict[str, Any]]
) -> None:
    status = pods["host-net"]["status"]
    addresses = node.get("node", node.name)["status"]["addresses"]
    internal = next(a["address"] for a in addresses if a["type"] == "InternalIP")
    assert internal == node.node_ip
    assert status["podIP"] == internal
    assert status["hostIP"] == internal
    links = _exec(node, "host-net", "busybox", "ip", "addr")
    assert re.search(rf"\d+: {node.interface}@", links)
    assert f"inet {node.node_ip}/24" in links
    hosts = _exec(node, "host-net", "cat", "/etc/hosts")
    assert hosts.startswith("# Kubernetes-managed hosts file (host network).\n")
    # A pod with its own network namespace sees none of it.
    assert node.interface not in _exec(node, "default-dns", "busybox", "ip", "addr")


FETCH = (
    "import sys, urllib.request\n"
    "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())\n"
)


def _nft_ruleset(node: NetNode) -> str:
    return subprocess.run(
        node.enter("nft", "list", "ruleset"), capture_output=True, text=True, check=True
    ).stdout


def test_host_port_reaches_the_pod_until_it_is_deleted(
    node: NetNode, pods: dict[str, dict[str, Any]]
) -> None:
    pod_ip = pods["hostport"]["status"]["podIP"]
    assert pod_ip != node.node_ip

    def fetch(address: str = node.node_ip, port: int = HOST_PORT) -> str | None:
        """An HTTP GET from the node's network namespace (Python's: the machine's static
        busybox wget crashes outside a container)."""
        done = subprocess.run(
            node.enter(sys.executable, "-c", FETCH, f"http://{address}:{port}/"),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout if done.returncode == 0 else None

    assert f"dport {HOST_PORT} dnat to {pod_ip}:8080" in _nft_ruleset(node)
    assert _wait_for(lambda: fetch(pod_ip, 8080), 15, "httpd answering") == "via-hostport\n"
    assert fetch() == "via-hostport\n"
    node.kubectl("delete", "pod", "hostport", "--wait=true", "--timeout=60s")
    assert "kube-hp-" not in _nft_ruleset(node)
    assert fetch() is None
