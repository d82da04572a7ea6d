"""hostPort DNAT rules of the built-in runtime: the nft script per sandbox, and (as root, in a
network namespace the test makes) install and idempotent removal by the sandbox's table name."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys

import pytest

from kube.cri.runtime import hostports
from kube.cri.runtime.hostports import HostPort

SANDBOX = "ab" * 32


def test_rules_for_the_mappings_with_a_host_port() -> None:
    script = hostports.rules(
        SANDBOX,
        "10.244.1.5",
        [
            HostPort(0, 8080, 18080),
            HostPort(1, 53, 5353, "10.0.0.1"),
            HostPort(0, 9090, 0),  # no hostPort: nothing to do
            HostPort(0, 80, 8081, "fd00::1"),  # IPv6 host address: pods are IPv4 here
        ],
    )
    assert script is not None
    table = "kube-hp-abababababababab"
    assert hostports.table_name(SANDBOX) == table
    lines = script.splitlines()
    assert lines[:3] == [
        f"add table ip {table}",
        f"delete table ip {table}",
        f"add table ip {table}",
    ]
    assert (
        f"add rule ip {table} prerouting fib daddr type local tcp dport 18080 "
        "dnat to 10.244.1.5:8080"
    ) in lines
    assert (
        f"add rule ip {table} output ip daddr != 127.0.0.0/8 ip daddr 10.0.0.1 udp dport 5353 "
        "dnat to 10.244.1.5:53"
    ) in lines
    assert not any("9090" in line or "8081" in line for line in lines)
    assert hostports.rules(SANDBOX, "10.244.1.5", [HostPort(0, 80, 0)]) is None


def test_install_and_remove_in_a_namespace() -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, nft and ip")
    netns = f"kube-t{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                netns,
                sys.executable,
                "-c",
                "import asyncio\n"
                "from kube.cri.runtime import hostports\n"
                "from kube.cri.runtime.hostports import HostPort\n"
                f"s = {SANDBOX!r}\n"
                "assert asyncio.run(hostports.install(s, '10.1.1.2', [HostPort(0, 80, 8080)]))\n"
                "assert asyncio.run(hostports.install(s, '10.1.1.2', [HostPort(0, 80, 8080)]))\n"
                "import subprocess\n"
                "print(subprocess.run(['nft', 'list', 'ruleset'], capture_output=True,"
                " text=True).stdout)\n"
                "asyncio.run(hostports.remove(s))\n"
                "asyncio.run(hostports.remove(s))\n"
                "print('AFTER', subprocess.run(['nft', 'list', 'ruleset'], capture_output=True,"
                " text=True).stdout)\n",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        before, after = done.stdout.split("AFTER")
        assert before.count("dnat to 10.1.1.2:80") == 2  # prerouting and output, once each
        assert "kube-hp-" not in after
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


def test_no_host_port_installs_nothing() -> None:
    assert asyncio.run(hostports.install(SANDBOX, "10.1.1.2", [HostPort(0, 80, 0)])) is False
