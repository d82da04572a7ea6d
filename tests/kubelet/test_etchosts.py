"""The kubelet-managed /etc/hosts (upstream's managedHostsFileContent and nodeHostsFileContent),
the pod's hostname and FQDN, the mount into containers, and the sandbox's hostPort mappings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.kubelet.etchosts import (
    HostnameError,
    ensure_hosts_file,
    hosts_content,
    kernel_hostname,
    wants_hosts_mount,
)
from kube.kubelet.specs import sandbox_config

LOCAL = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def _pod(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "team", "uid": "u-1"},
        "spec": {"containers": [{"name": "c", "image": "i"}], **spec},
    }


def test_a_pods_own_hosts_file() -> None:
    assert hosts_content(_pod(), ["10.244.0.5"], "cluster.local") == LOCAL + ("10.244.0.5\tweb\n")


def test_hostname_subdomain_and_host_aliases() -> None:
    pod = _pod(
        hostname="db-0",
        subdomain="db",
        hostAliases=[
            {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
            {"ip": "10.1.2.3", "hostnames": ["foo.remote"]},
        ],
    )
    assert hosts_content(pod, ["10.244.0.5"], "cluster.local") == LOCAL + (
        "10.244.0.5\tdb-0.db.team.svc.cluster.local\tdb-0\n"
        "\n"
        "# Entries added by HostAliases.\n"
        "127.0.0.1\tfoo.local\tbar.local\n"
        "10.1.2.3\tfoo.remote\n"
    )


def test_a_host_network_pod_gets_the_nodes_file(tmp_path: Path) -> None:
    node = tmp_path / "hosts"
    node.write_text("127.0.0.1\tlocalhost\n192.0.2.1\tthe-node\n")
    pod = _pod(hostNetwork=True, hostAliases=[{"ip": "10.1.2.3", "hostnames": ["x"]}])
    assert hosts_content(pod, ["192.0.2.1"], "cluster.local", node) == (
        "# Kubernetes-managed hosts file (host network).\n"
        "127.0.0.1\tlocalhost\n192.0.2.1\tthe-node\n"
        "\n# Entries added by HostAliases.\n10.1.2.3\tx\n"
    )


def test_the_file_lives_in_the_pod_dir_and_is_rewritten_on_change(tmp_path: Path) -> None:
    path = ensure_hosts_file(tmp_path, _pod(), ["10.244.0.5"], "cluster.local")
    assert path == tmp_path / "pods" / "u-1" / "etc-hosts"
    assert path.read_text().endswith("10.244.0.5\tweb\n")
    inode = path.stat().st_ino
    ensure_hosts_file(tmp_path, _pod(), ["10.244.0.6"], "cluster.local")
    assert path.read_text().endswith("10.244.0.6\tweb\n")
    assert path.stat().st_ino == inode  # in place: running containers see it


def test_mounted_only_with_a_pod_ip_and_no_own_etc_hosts() -> None:
    assert wants_hosts_mount({"name": "c"}, ["10.0.0.1"])
    assert not wants_hosts_mount({"name": "c"}, [])
    own = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/etc/hosts"}]}
    assert not wants_hosts_mount(own, ["10.0.0.1"])


def test_kernel_hostname() -> None:
    assert kernel_hostname(_pod(), "cluster.local") == "web"
    assert kernel_hostname(_pod("x" * 70 + "-y"), "cluster.local") == "x" * 63
    pod = _pod(hostname="h", subdomain="s", setHostnameAsFQDN=True)
    assert kernel_hostname(pod, "cluster.local") == "h.s.team.svc.cluster.local"
    assert kernel_hostname(_pod(hostname="h", setHostnameAsFQDN=True), "c.l") == "h"
    with pytest.raises(HostnameError, match="is too long"):
        kernel_hostname(_pod(hostname="h" * 60, subdomain="s", setHostnameAsFQDN=True), "c.l")


def _sandbox(pod: dict[str, Any]) -> Any:
    return sandbox_config(pod, 0, node_name="node-1", pod_logs_dir="/l", cgroup_root="/kubepods")


def test_sandbox_hostname() -> None:
    assert _sandbox(_pod(hostname="h", subdomain="s")).hostname == "h"
    assert _sandbox(_pod(hostname="h", subdomain="s", setHostnameAsFQDN=True)).hostname == (
        "h.s.team.svc.cluster.local"
    )
    assert _sandbox(_pod(hostNetwork=True, hostname="h")).hostname == "node-1"


def test_sandbox_port_mappings() -> None:
    pod = _pod()
    pod["spec"]["containers"] = [
        {
            "name": "a",
            "ports": [
                {"containerPort": 8080, "hostPort": 18080},
                {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "10.0.0.1"},
            ],
        },
        {"name": "b", "ports": [{"containerPort": 9090}]},
    ]
    mappings = [
        (m.protocol, m.container_port, m.host_port, m.host_ip) for m in _sandbox(pod).port_mappings
    ]
    assert mappings == [
        (pb.TCP, 8080, 18080, ""),
        (pb.UDP, 53, 5353, "10.0.0.1"),
        (pb.TCP, 9090, 0, ""),
    ]
