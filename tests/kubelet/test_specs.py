"""The Linux namespaces the kubelet asks a CRI runtime for, as upstream's namespacesForPod.

A runtime that honours NamespaceOption (containerd) would otherwise put every container in
the sandbox's PID namespace: the zero value of NamespaceMode is POD.
"""

from __future__ import annotations

from typing import Any

import pytest

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.kubelet.specs import container_config, sandbox_config

POD: dict[str, Any] = {"metadata": {"uid": "u1", "name": "p", "namespace": "default"}}


def _configs(spec: dict[str, Any]) -> tuple[Any, Any]:
    pod = {**POD, "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}
    sandbox = sandbox_config(pod, 0, node_name="n", pod_logs_dir="/logs", cgroup_root="/kubepods")
    container = container_config(
        pod, pod["spec"]["containers"][0], 0, {}, mounts=[], resources=pb.LinuxContainerResources()
    )
    return (
        sandbox.linux.security_context.namespace_options,
        container.linux.security_context.namespace_options,
    )


@pytest.mark.parametrize(
    ("spec", "network", "ipc", "pid"),
    [
        ({}, pb.POD, pb.POD, pb.CONTAINER),
        ({"shareProcessNamespace": True}, pb.POD, pb.POD, pb.POD),
        ({"hostPID": True, "shareProcessNamespace": True}, pb.POD, pb.POD, pb.NODE),
        ({"hostNetwork": True, "hostIPC": True}, pb.NODE, pb.NODE, pb.CONTAINER),
    ],
)
def test_namespace_options(spec: dict[str, Any], network: int, ipc: int, pid: int) -> None:
    for options in _configs(spec):
        assert (options.network, options.ipc, options.pid) == (network, ipc, pid)


def test_host_network_sandbox_takes_the_node_name() -> None:
    pod = {**POD, "spec": {"hostNetwork": True}}
    config = sandbox_config(pod, 0, node_name="n", pod_logs_dir="/l", cgroup_root="/kubepods")
    assert config.hostname == "n"
