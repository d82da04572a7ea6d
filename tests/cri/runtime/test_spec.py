"""config.json for runc: namespaces, the pod's netns, mounts, cgroups, the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube.cri.runtime import spec as spec_module
from kube.cri.runtime.spec import (
    ContainerSpec,
    Mount,
    Resources,
    command_line,
    merge_env,
    oci_config,
)


def test_process_namespaces_and_pod_network() -> None:
    config = oci_config(
        ContainerSpec(
            args=["httpd", "-f"],
            env=["PATH=/bin", "A=1"],
            cwd="/www",
            uid=1000,
            gid=1000,
            hostname="web-0",
            netns_path="/run/netns/kube-abc",
            cgroups_path="/kubepods/podu1/c1",
        )
    )
    assert config["process"]["args"] == ["httpd", "-f"]
    assert config["process"]["env"] == ["PATH=/bin", "A=1"]
    assert config["process"]["cwd"] == "/www"
    assert config["process"]["user"]["uid"] == 1000
    assert config["hostname"] == "web-0"
    assert config["root"] == {"path": "rootfs", "readonly": False}
    namespaces = config["linux"]["namespaces"]
    assert {"type": "network", "path": "/run/netns/kube-abc"} in namespaces
    assert {n["type"] for n in namespaces} == {"pid", "ipc", "uts", "mount", "network"}
    assert config["linux"]["cgroupsPath"] == "/kubepods/podu1/c1"
    assert {m["destination"] for m in config["mounts"]} >= {"/proc", "/dev", "/sys", "/dev/pts"}


def test_host_network_has_no_network_namespace() -> None:
    config = oci_config(ContainerSpec(args=["sh"], netns_path=None))
    assert "network" not in {n["type"] for n in config["linux"]["namespaces"]}


def test_mounts_and_limits() -> None:
    config = oci_config(
        ContainerSpec(
            args=["sh"],
            mounts=[Mount("/data", "/var/lib/x", readonly=True), Mount("/etc/hosts", "/h")],
            resources=Resources(
                cpu_shares=512, cpu_quota=50000, cpu_period=100000, memory_limit_bytes=64 << 20
            ),
        )
    )
    binds = {m["destination"]: m for m in config["mounts"] if m["type"] == "bind"}
    assert binds["/data"]["source"] == "/var/lib/x"
    assert "ro" in binds["/data"]["options"]
    assert "rw" in binds["/etc/hosts"]["options"]
    resources = config["linux"]["resources"]
    assert resources["cpu"] == {"shares": 512, "quota": 50000, "period": 100000}
    assert resources["memory"] == {"limit": 64 << 20}


def test_command_and_args_against_the_image() -> None:
    # As Docker/containerd: command replaces ENTRYPOINT and drops CMD; args replace CMD.
    assert command_line(["/entry"], ["cmd"], [], []) == ["/entry", "cmd"]
    assert command_line(["/entry"], ["cmd"], [], ["a"]) == ["/entry", "a"]
    assert command_line(["/entry"], ["cmd"], ["sh"], []) == ["sh"]
    assert command_line([], ["sh"], ["sleep"], ["5"]) == ["sleep", "5"]


def test_env_overrides_the_image() -> None:
    assert merge_env(["PATH=/bin", "A=1"], [("A", "2"), ("B", "3")]) == [
        "PATH=/bin",
        "A=2",
        "B=3",
    ]
    assert merge_env([], [])[0].startswith("PATH=")


def test_memory_swap_is_set_where_the_kernel_accounts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Resources(memory_limit_bytes=16 << 20, memory_swap_bytes=16 << 20)
    monkeypatch.setattr(spec_module, "SWAP_ACCOUNTING", tmp_path / "memsw")
    config = oci_config(ContainerSpec(args=["sh"], resources=limits))
    assert config["linux"]["resources"]["memory"] == {"limit": 16 << 20}
    (tmp_path / "memsw").write_text("0")
    config = oci_config(ContainerSpec(args=["sh"], resources=limits))
    assert config["linux"]["resources"]["memory"] == {"limit": 16 << 20, "swap": 16 << 20}
