"""hostPort: DNAT rules from the node's ports to a pod's, in the node's network namespace.

What the CNI `portmap` plugin does for containerd, for the built-in runtime: each PortMapping of
a sandbox with a hostPort becomes an nftables DNAT rule, so `<node IP>:<hostPort>` (or
`<hostIP>:<hostPort>` when the mapping names one) reaches `<pod IP>:<containerPort>`, for
packets arriving from outside (prerouting) and for connections made on the node itself
(output; loopback destinations excluded, they would need route_localnet).

Each sandbox's rules are one nftables table, `ip kube-hp-<sandbox id prefix>`, made in one
atomic `nft -f` transaction (replacing any older table of that name) and deleted by that name
at StopPodSandbox/RemovePodSandbox: idempotent, and a restarted runtime removes the rules of a
sandbox it made before without remembering them. Nothing else (no sysctls, no other tables)
is touched. hostNetwork pods need no rules: their ports are the node's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from dataclasses import dataclass

from kube.cri.runtime.sandbox import NetworkError

PROTOCOLS = {0: "tcp", 1: "udp", 2: "sctp"}  # runtime.v1.Protocol


@dataclass(frozen=True)
class HostPort:
    """One CRI PortMapping, in plain Python."""

    protocol: int
    container_port: int
    host_port: int
    host_ip: str = ""


def _ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


def table_name(sandbox_id: str) -> str:
    return f"kube-hp-{sandbox_id[:16]}"


def rules(sandbox_id: str, pod_ip: str, mappings: list[HostPort]) -> str | None:
    """The `nft -f` script for the sandbox's mappings with a hostPort (None when there are
    none, or only IPv6 ones: pods have IPv4 addresses here)."""
    lines: list[str] = []
    for mapping in mappings:
        if mapping.host_port <= 0 or mapping.container_port <= 0:
            continue
        if mapping.host_ip and not _ipv4(mapping.host_ip):
            continue
        protocol = PROTOCOLS.get(mapping.protocol, "tcp")
        target = f"dnat to {pod_ip}:{mapping.container_port}"
        match = f"{protocol} dport {mapping.host_port}"
        if mapping.host_ip and mapping.host_ip != "0.0.0.0":
            where = f"ip daddr {mapping.host_ip}"
        else:
            where = "fib daddr type local"
        lines.append(f"add rule ip {{t}} prerouting {where} {match} {target}")
        lines.append(f"add rule ip {{t}} output ip daddr != 127.0.0.0/8 {where} {match} {target}")
    if not lines:
        return None
    table = table_name(sandbox_id)
    head = [
        f"add table ip {table}",
        f"delete table ip {table}",  # the add makes this delete safe: a clean table
        f"add table ip {table}",
        f"add chain ip {table} prerouting {{ type nat hook prerouting priority -100 ; }}",
        f"add chain ip {table} output {{ type nat hook output priority -100 ; }}",
    ]
    return "\n".join([*head, *(line.replace("{t}", table) for line in lines)]) + "\n"


async def _nft(script: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "nft",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate(script.encode())
    return process.returncode or 0, err.decode().strip()


async def install(sandbox_id: str, pod_ip: str, mappings: list[HostPort]) -> bool:
    """Installs the sandbox's DNAT rules; False when it has no hostPort. A NetworkError when
    nft is missing or refuses them (the sandbox then fails, as with the CNI portmap)."""
    script = rules(sandbox_id, pod_ip, mappings)
    if script is None:
        return False
    if shutil.which("nft") is None:
        raise NetworkError("hostPort needs nftables' nft (Debian nftables)")
    code, err = await _nft(script)
    if code != 0:
        raise NetworkError(f"nft (hostPort rules of sandbox {sandbox_id[:12]}): {err}")
    return True


async def remove(sandbox_id: str) -> None:
    """Deletes the sandbox's table if there is one (safe to repeat, also after a restart)."""
    if shutil.which("nft") is None:
        return
    table = table_name(sandbox_id)
    await _nft(f"add table ip {table}\ndelete table ip {table}\n")
