"""`kube doctor` reports every native kernel and each machine capability, with reasons."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kube.native import KERNELS
from kube.scheduler.kernels import KERNELS as SCHEDULER_KERNELS

KUBE = str(Path(sys.executable).parent / "kube")


def doctor(env: dict[str, str] | None = None) -> dict[str, list[dict[str, object]]]:
    result = subprocess.run(
        [KUBE, "doctor", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_doctor_lists_every_kernel_native_and_the_machine() -> None:
    report = doctor({"KUBE_NO_NATIVE": ""})
    kernels = {k["name"]: k for k in report["kernels"]}
    assert set(kernels) == {k.name for k in KERNELS} | {
        f"scheduler.{k.name}" for k in SCHEDULER_KERNELS
    }
    assert all(k["implementation"] == "native" for k in kernels.values()), kernels
    checks = {c["name"]: c for c in report["machine"]}
    assert set(checks) == {
        "runc",
        "container runtime",
        "etcd",
        "kubectl",
        "cgroups",
        "network namespaces",
        "nftables",
        "iptables",
    }
    assert checks["kubectl"]["ok"] is True
    # Root with runc isolates pods; anywhere else `kube runtime` runs plain processes.
    isolated = os.geteuid() == 0 and checks["runc"]["ok"]
    assert checks["container runtime"]["ok"] is isolated
    assert ("runc" if isolated else "process mode") in checks["container runtime"]["detail"]
    assert "v1.37" in str(checks["kubectl"]["detail"])
    for check in checks.values():
        assert check["detail"], check


def test_doctor_says_why_a_kernel_runs_the_reference() -> None:
    report = doctor({"KUBE_NO_NATIVE": "1"})
    for kernel in report["kernels"]:
        assert kernel["implementation"] == "reference"
        assert "KUBE_NO_NATIVE" in str(kernel["reason"])
