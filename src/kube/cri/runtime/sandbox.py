"""Pod sandboxes: a network namespace per pod, wired to the node bridge, and the pod's files.

For each pod (unless it uses the host's network) the runtime makes, by rtnetlink
(kube.cri.runtime.netlink; the bridge and teardown with iproute2's `ip`):

- a network namespace `kube-<sandbox id prefix>` (under /run/netns) with `lo` up;
- a veth pair: `eth0` inside the namespace, `kube-<10 hex>` on the node bridge (default
  `kube0`, whose address is the first of the node's pod CIDR, the pod's gateway);
- an address from the pod CIDR (host-local IPAM: one file per address under
  `<root>/network/<bridge>/`), and the default route through the gateway.

The bridge is created when the first pod needs it; nothing else on the host is changed (no
default routes, no other interfaces, no sysctls). Every name the runtime creates starts with
`kube`, and teardown removes them by name, so a crashed run leaves nothing that is not found and
removed by the next. The pod's /etc/hosts, /etc/resolv.conf and /etc/hostname are files in the
sandbox directory, bind-mounted into each container.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from kube.cri.runtime import netlink

log = logging.getLogger("kube.runtime.network")

NETNS_DIR = Path("/run/netns")


class NetworkError(Exception):
    """A network set-up step failed (with the command's own words)."""


@dataclass(frozen=True)
class Attachment:
    """What a pod's network is: its namespace (path) and address."""

    netns: str
    netns_path: str
    ip: str
    host_veth: str


async def ip(*args: str, check: bool = True) -> str:
    """Runs `ip ARGS`; its stdout, or NetworkError with its stderr when `check`."""
    process = await asyncio.create_subprocess_exec(
        "ip",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if check and process.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {err.decode().strip()}")
    return out.decode()


async def ip_batch(commands: list[list[str]], netns: str | None = None) -> None:
    """Runs several `ip` commands in one process (`ip -batch -`), in `netns` if given.

    One process instead of one per command (a pod's network was nine `ip` runs, then two
    batches; it is netlink now). `ip` stops at the first failing command and exits non-zero:
    a NetworkError.
    """
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    script = "".join(" ".join(command) + "\n" for command in commands)
    _, err = await process.communicate(script.encode())
    if process.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {err.decode().strip()}")


def _link_exists(name: str) -> bool:
    return os.path.lexists(f"/sys/class/net/{name}")


def _path_exists(path: Path) -> bool:
    return os.path.lexists(path)


def netns_name(sandbox_id: str) -> str:
    return f"kube-{sandbox_id[:16]}"


def veth_name(sandbox_id: str) -> str:
    return f"kube-{sandbox_id[:10]}"  # 15 characters: the kernel's limit for interface names


class PodNetwork:
    """The node bridge, the pod CIDR's addresses and each pod's namespace and veth."""

    def __init__(self, state_dir: Path, bridge: str = "kube0", cidr: str | None = None) -> None:
        if len(bridge) > 15:
            raise ValueError(f"bridge name {bridge!r} is longer than 15 characters")
        self.bridge = bridge
        self.state_dir = state_dir / bridge
        self.cidr: ipaddress.IPv4Network | None = None
        self._lock = asyncio.Lock()
        self._bridge_ready: ipaddress.IPv4Network | None = None  # the CIDR it was set up for
        self._last = 0  # the address last given, as an int (0: none yet)
        if cidr:
            self.set_cidr(cidr)

    def set_cidr(self, cidr: str) -> None:
        """The node's pod CIDR (from a flag or the kubelet's UpdateRuntimeConfig)."""
        network = ipaddress.ip_network(cidr, strict=False)
        if not isinstance(network, ipaddress.IPv4Network) or network.prefixlen > 30:
            raise ValueError(f"pod CIDR {cidr!r}: an IPv4 network of at least 4 addresses")
        self.cidr = network

    @property
    def ready(self) -> bool:
        return self.cidr is not None

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        assert self.cidr is not None
        return self.cidr.network_address + 1

    async def ensure_bridge(self) -> None:
        assert self.cidr is not None
        if not _link_exists(self.bridge):
            await ip("link", "add", self.bridge, "type", "bridge")
        address = f"{self.gateway}/{self.cidr.prefixlen}"
        addresses = await ip("-o", "-4", "addr", "show", "dev", self.bridge)
        if f" {address} " not in addresses:
            await ip("addr", "replace", address, "dev", self.bridge)
        await ip("link", "set", self.bridge, "up")

    def _allocate(self, sandbox_id: str) -> ipaddress.IPv4Address:
        """The next free address after the last one given (host-local IPAM, one file per
        address, round robin from its last reserved IP as upstream's plugin): starting from the
        gateway each time tried every address already taken, 5,000 files for 100 pods."""
        assert self.cidr is not None
        self.state_dir.mkdir(parents=True, exist_ok=True)
        first = int(self.gateway) + 1
        last = int(self.cidr.broadcast_address) - 1
        start = self._last + 1 if first <= self._last < last else first
        for value in [*range(start, last + 1), *range(first, start)]:
            address = ipaddress.IPv4Address(value)
            path = self.state_dir / str(address)
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(sandbox_id)
            self._last = value
            return address
        raise NetworkError(f"no free address left in {self.cidr}")

    def release(self, sandbox_id: str) -> None:
        if not self.state_dir.is_dir():
            return
        for path in self.state_dir.iterdir():
            try:
                if path.read_text() == sandbox_id:
                    path.unlink()
            except OSError:
                continue

    async def attach(self, sandbox_id: str) -> Attachment:
        """A new namespace for the pod, wired to the bridge, with an address and a route."""
        if self.cidr is None:
            raise NetworkError(
                "the node has no pod CIDR yet (kube runtime --pod-cidr, or the kubelet's "
                "UpdateRuntimeConfig)"
            )
        async with self._lock:
            if self._bridge_ready != self.cidr or not _link_exists(self.bridge):
                await self.ensure_bridge()
                self._bridge_ready = self.cidr  # three `ip` runs per pod otherwise
            address = await asyncio.to_thread(self._allocate, sandbox_id)  # a file per address
        ns, host = netns_name(sandbox_id), veth_name(sandbox_id)
        interface = ipaddress.IPv4Interface(f"{address}/{self.cidr.prefixlen}")
        try:
            # By netlink, as `ip netns add`, `ip link add HOST type veth peer name eth0 netns
            # NS`, `ip link set HOST master BRIDGE up` and, in NS, `lo` up, the address, `eth0`
            # up and the default route (kube.cri.runtime.netlink): no process per pod.
            await asyncio.to_thread(
                netlink.wire_pod, NETNS_DIR / ns, host, self.bridge, interface, self.gateway
            )
        except OSError as err:
            await self.detach(sandbox_id)
            raise NetworkError(f"pod network of {sandbox_id[:12]}: {err.strerror or err}") from err
        return Attachment(ns, str(NETNS_DIR / ns), str(address), host)

    async def detach(self, sandbox_id: str) -> None:
        """Removes the pod's veth and namespace and frees its address; missing parts are fine."""
        host = veth_name(sandbox_id)
        if _link_exists(host):
            await ip("link", "del", host, check=False)
        ns = netns_name(sandbox_id)
        if _path_exists(NETNS_DIR / ns):
            await ip("netns", "del", ns, check=False)
        self.release(sandbox_id)

    async def remove_bridge(self) -> None:
        """Deletes the bridge (tests and `kube runtime --cleanup-network`)."""
        if _link_exists(self.bridge):
            await ip("link", "del", self.bridge, check=False)
        await asyncio.to_thread(shutil.rmtree, self.state_dir, True)


def hosts_file(ip_address: str, hostname: str) -> str:
    """/etc/hosts as the kubelet writes it for a pod (managed, with the pod's own name)."""
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if ip_address and hostname:
        lines.append(f"{ip_address}\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_conf(servers: list[str], searches: list[str], options: list[str]) -> str:
    """/etc/resolv.conf from the sandbox's DNSConfig; the host's when the config is empty."""
    if not servers and not searches and not options:
        try:
            return Path("/etc/resolv.conf").read_text()
        except OSError:
            return ""
    lines = []
    if searches:
        lines.append("search " + " ".join(searches))
    lines.extend(f"nameserver {server}" for server in servers)
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"
