"""Two `kube controller-manager` processes against a real server: one leads, the other stands by.

Each test uses its own Lease name (`--leader-elect-resource-name`) so that it never competes
with the controller-manager `kube server` runs itself, and short timings (lease 4 s, renew
deadline 3 s, retry 1 s) so that a takeover takes seconds. Who leads is read as a user would,
with `kubectl get lease`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Cluster

pytestmark = pytest.mark.slow

LEASE_DURATION = 4.0
RETRY = 1.0
TIMINGS = (
    f"--leader-elect-lease-duration={LEASE_DURATION:g}s",
    "--leader-elect-renew-deadline=3s",
    f"--leader-elect-retry-period={RETRY:g}s",
)


@dataclass
class Manager:
    process: subprocess.Popen[str]
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def identity(self, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if match := re.search(r"leader election id (\S+)", self.text()):
                return match.group(1)
            assert self.process.poll() is None, f"controller-manager exited: {self.text()[-2000:]}"
            time.sleep(0.05)
        raise AssertionError(f"no leader election id logged: {self.text()[-2000:]}")


@pytest.fixture
def managers(cluster: Cluster, tmp_path: Path) -> Iterator[list[Manager]]:
    started: list[Manager] = []
    yield started
    for manager in started:
        if manager.process.poll() is None:
            manager.process.kill()
        manager.process.wait(timeout=10)


def start(cluster: Cluster, managers: list[Manager], lease: str, controllers: str = "") -> Manager:
    log = cluster.data_dir / f"cm-{lease}-{len(managers)}.log"
    with log.open("w") as err:
        process = subprocess.Popen(
            [
                str(BIN / "kube"),
                "controller-manager",
                "--kubeconfig",
                str(cluster.kubeconfig),
                f"--controllers={controllers}",
                f"--leader-elect-resource-name={lease}",
                *TIMINGS,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    manager = Manager(process, log)
    managers.append(manager)
    return manager


def holder(cluster: Cluster, lease: str) -> str | None:
    """The Lease's holderIdentity as kubectl prints it; None while there is no Lease."""
    result = cluster.kubectl(
        "get",
        "lease",
        "-n",
        "kube-system",
        lease,
        "-o",
        "jsonpath={.spec.holderIdentity}",
        check=False,
    )
    return result.stdout if result.returncode == 0 else None


def wait_for_holder(cluster: Cluster, lease: str, wanted: set[str], timeout: float) -> float:
    """Seconds until the Lease is held by one of `wanted`."""
    start = time.monotonic()
    last = None
    while time.monotonic() - start < timeout:
        last = holder(cluster, lease)
        if last in wanted:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"Lease {lease} held by {last!r}, not one of {wanted} after {timeout}s")


def test_one_leads_and_the_other_takes_over_when_it_is_killed(
    cluster: Cluster, managers: list[Manager]
) -> None:
    lease = f"cm-e2e-{uuid.uuid4().hex[:6]}"
    leader = start(cluster, managers, lease)
    leader_id = leader.identity()
    wait_for_holder(cluster, lease, {leader_id}, timeout=20)
    # The standby runs a real (idempotent) controller, but only once it leads.
    standby = start(cluster, managers, lease, controllers="root-ca-cert-publisher")
    standby_id = standby.identity()
    time.sleep(3 * RETRY)
    assert holder(cluster, lease) == leader_id
    assert "attempting to acquire leader lease" in standby.text()
    assert "controllers running" not in standby.text()

    leader.process.send_signal(signal.SIGKILL)
    leader.process.wait(timeout=10)
    took = wait_for_holder(cluster, lease, {standby_id}, timeout=LEASE_DURATION + 8)
    # The Lease expires a lease duration after the standby last saw it renewed (up to one
    # jittered retry after the kill); it is taken at the standby's next jittered retry.
    assert took <= LEASE_DURATION + 2 * 2.2 * RETRY + 1.0
    transitions = cluster.kubectl(
        "get", "lease", "-n", "kube-system", lease, "-o", "jsonpath={.spec.leaseTransitions}"
    ).stdout
    assert transitions == "1"
    deadline = time.monotonic() + 10
    while "controllers running: root-ca-cert-publisher" not in standby.text():
        assert time.monotonic() < deadline, standby.text()[-2000:]
        time.sleep(0.1)


def test_sigterm_releases_the_lease_and_the_other_takes_over_at_once(
    cluster: Cluster, managers: list[Manager]
) -> None:
    lease = f"cm-e2e-{uuid.uuid4().hex[:6]}"
    first = start(cluster, managers, lease)
    second = start(cluster, managers, lease)
    ids = {first.identity(): first, second.identity(): second}
    wait_for_holder(cluster, lease, set(ids), timeout=20)
    leader_id = holder(cluster, lease)
    assert leader_id in ids
    leader = ids[leader_id]
    standby_id = next(i for i, m in ids.items() if m is not leader)
    time.sleep(RETRY)

    leader.process.send_signal(signal.SIGTERM)
    assert leader.process.wait(timeout=10) == 0
    assert "released lease" in leader.text()
    # Released: held by nobody, or already by the standby; taken well within a lease duration.
    assert holder(cluster, lease) in {"", standby_id}
    took = wait_for_holder(cluster, lease, {standby_id}, timeout=LEASE_DURATION)
    assert took <= 2.2 * RETRY + 1.0


def test_kube_server_runs_its_own_controller_manager(cluster: Cluster) -> None:
    """The server's row holds kube-system/kube-controller-manager and says so in an Event."""
    deadline = time.monotonic() + 20
    while not holder(cluster, "kube-controller-manager"):
        assert time.monotonic() < deadline, "kube server's controller-manager never led"
        time.sleep(0.1)
    leader_id = holder(cluster, "kube-controller-manager")
    events = json.loads(cluster.kubectl("get", "events", "-n", "kube-system", "-o", "json").stdout)
    election = [
        e
        for e in events["items"]
        if e["reason"] == "LeaderElection"
        and e["involvedObject"].get("name") == "kube-controller-manager"
    ]
    assert any(e["message"] == f"{leader_id} became leader" for e in election)
    event = election[-1]
    assert event["involvedObject"]["kind"] == "Lease"
    assert event["source"] == {"component": "kube-controller-manager"}
