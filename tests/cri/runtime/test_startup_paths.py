"""The runtime's pod-start paths made cheap for many pods at once (bench/pod_startup.py).

A pod's network is made by netlink (kube.cri.runtime.netlink), no `ip` process: the namespace,
its loopback, its `eth0` with the address and default route, the host veth on the bridge, all
as before; a failing `ip` batch (still used for the bridge) is a NetworkError with `ip`'s
message. Addresses are given round robin, as upstream's host-local IPAM. A running container's
shim is looked at once per SHIM_CHECK_PERIOD, so a shim that died is still reported (reason
Unknown) after at most that long.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from kube.cri.runtime import containers as containers_module
from kube.cri.runtime.containers import ContainerManager
from kube.cri.runtime.images import ImageStore
from kube.cri.runtime.sandbox import (
    NetworkError,
    PodNetwork,
    ip,
    ip_batch,
    netns_name,
    veth_name,
)
from kube.cri.runtime.state import CONTAINER_EXITED, CONTAINER_RUNNING, ContainerRecord
from tests.cri.conftest import require_isolation


def _gone(path: str) -> bool:
    return not os.path.lexists(path)


def _ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False).stdout


async def test_a_pod_network_in_batches(tmp_path: Path) -> None:
    require_isolation()
    bridge = f"kube-t{secrets.token_hex(4)}"
    network = PodNetwork(tmp_path, bridge=bridge, cidr="10.244.251.0/24")
    ids = [secrets.token_hex(32) for _ in range(2)]
    try:
        first = await network.attach(ids[0])
        second = await network.attach(ids[1])
        assert (first.ip, second.ip) == ("10.244.251.2", "10.244.251.3")
        ns = netns_name(ids[0])
        assert "10.244.251.2/24" in _ip("-n", ns, "-o", "-4", "addr", "show", "dev", "eth0")
        assert "default via 10.244.251.1 dev eth0" in _ip("-n", ns, "route")
        assert "state UP" in _ip("-n", ns, "link", "show", "lo") or "UNKNOWN" in _ip(
            "-n", ns, "link", "show", "lo"
        )
        assert f"master {bridge}" in _ip("link", "show", veth_name(ids[0]))
        await network.detach(ids[0])
        assert _gone(f"/sys/class/net/{veth_name(ids[0])}")
        assert _gone(f"/run/netns/{ns}")
    finally:
        for sandbox_id in ids:
            await network.detach(sandbox_id)
        await network.remove_bridge()
    assert _gone(f"/sys/class/net/{bridge}")


async def test_a_failing_batch_says_why() -> None:
    require_isolation()
    with pytest.raises(NetworkError, match="kube-nosuch0"):
        await ip_batch([["link", "set", "kube-nosuch0", "up"]])


def _manager(tmp_path: Path) -> ContainerManager:
    return ContainerManager(tmp_path / "containers", ImageStore(tmp_path / "images"))


def _running(manager: ContainerManager, pid: int) -> ContainerRecord:
    record = ContainerRecord(
        id="c" * 64, sandbox_id="s" * 64, name="app", attempt=0, image="x", image_id="sha256:x"
    )
    record.started_at = 1
    bundle = manager.bundle(record.id)
    bundle.mkdir(parents=True)
    (bundle / "shim.pid").write_text(str(pid))
    return record


def test_a_dead_shim_is_seen_within_the_check_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = _manager(tmp_path)
    record = _running(manager, os.getpid())
    assert manager.state(record) == CONTAINER_RUNNING
    dead = subprocess.Popen(["true"])
    dead.wait()
    (manager.bundle(record.id) / "shim.pid").write_text(str(dead.pid))
    assert manager.state(record) == CONTAINER_RUNNING  # not looked at again this soon
    monkeypatch.setattr(containers_module, "SHIM_CHECK_PERIOD", 0.0)
    assert manager.state(record) == CONTAINER_EXITED
    assert (record.reason, record.exit_code) == ("Unknown", 255)


def test_addresses_are_given_round_robin_from_the_last_one(tmp_path: Path) -> None:
    """As upstream's host-local IPAM: the next address after the last reserved one, wrapping
    around to the start of the range, skipping the ones still taken."""
    network = PodNetwork(tmp_path, bridge="kube-tipam", cidr="10.244.252.0/29")
    given = [str(network._allocate(f"s{i}")) for i in range(5)]
    assert given == [f"10.244.252.{i}" for i in range(2, 7)]
    with pytest.raises(NetworkError, match="no free address"):
        network._allocate("s5")
    network.release("s1")  # 10.244.252.3
    network.release("s3")  # 10.244.252.5
    assert str(network._allocate("s6")) == "10.244.252.3"  # wrapped around
    assert str(network._allocate("s7")) == "10.244.252.5"


async def test_a_failing_netlink_step_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    require_isolation()
    bridge = f"kube-t{secrets.token_hex(4)}"
    network = PodNetwork(tmp_path, bridge=bridge, cidr="10.244.250.0/24")
    sandbox_id = secrets.token_hex(32)
    # The host end's name is taken: the veth cannot be made.
    await ip("link", "add", veth_name(sandbox_id), "type", "bridge")
    try:
        with pytest.raises(NetworkError, match=r"add veth .*File exists"):
            await network.attach(sandbox_id)
        assert _gone(f"/run/netns/{netns_name(sandbox_id)}")
        assert list((tmp_path / bridge).iterdir()) == []  # the address was released
    finally:
        await network.detach(sandbox_id)
        await network.remove_bridge()
    assert _gone(f"/sys/class/net/{veth_name(sandbox_id)}")
