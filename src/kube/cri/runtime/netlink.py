"""A pod's network namespace and veth made with rtnetlink itself, not `ip` processes.

Starting 100 pods at once, the runtime's two `ip -batch` runs per pod were a third of its own
CPU (a fork and exec of a large process each, and iproute2's start-up) besides `ip`'s own.
`wire_pod` does the same steps as those batches with a few netlink messages from one short
thread, as `ip` itself does them:

- the namespace as `ip netns add` makes it: `/run/netns` a shared mount (bound onto itself
  once), a file `/run/netns/<name>` on which the new namespace is bind-mounted; the thread
  enters the new namespace with unshare(CLONE_NEWNET), opens a netlink socket there (a socket
  stays in the namespace it was made in), and returns to the host's with setns(2);
- one RTM_NEWLINK makes the veth pair: the host end `kube-<id>` on the bridge and up, its peer
  `eth0` created inside the pod's namespace (IFLA_NET_NS_FD);
- on the pod's socket: `lo` up, `eth0`'s address (RTM_NEWADDR), `eth0` up, and the default
  route through the gateway (RTM_NEWROUTE).

A failure is an OSError naming the step, with the kernel's errno; the caller removes what was
made, as it did after a failing `ip` batch.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import socket
import struct
import threading
from pathlib import Path

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 18, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1
CLONE_NEWNET = 0x40000000
MS_BIND, MS_REC, MS_SHARED = 0x1000, 0x4000, 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _attr(kind: int, data: bytes) -> bytes:
    """One rtattr (length, type, data), padded to 4 bytes."""
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def _name(text: str) -> bytes:
    return text.encode() + b"\0"


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", socket.AF_UNSPEC, 0, index, flags, change)


class Netlink:
    """A NETLINK_ROUTE socket (in the network namespace of the thread that made it) that sends
    one request at a time and waits for its answer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes, what: str) -> bytes:
        """Sends one message (with NLM_F_ACK); the payload of the answer that is not the ACK
        (RTM_GETLINK's link), b"" for a bare ACK; OSError(errno) for a NLMSG_ERROR."""
        self.seq += 1
        header = struct.pack("=LHHLL", 16 + len(body), kind, flags | NLM_F_REQUEST, self.seq, 0)
        self.sock.send(header + body)
        answer = b""
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, msg_type, _, seq, _ = struct.unpack_from("=LHHLL", data, offset)
                payload = data[offset + 16 : offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if msg_type == NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload)
                    if error:
                        raise OSError(-error, f"{what}: {os.strerror(-error)}")
                    return answer
                answer = payload
                if not flags & NLM_F_ACK:
                    return answer

    def link_index(self, name: str) -> int:
        payload = self.request(RTM_GETLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, _name(name)), name)
        (index,) = struct.unpack_from("=i", payload, 4)
        return int(index)

    def link_up(self, name: str) -> None:
        body = _ifinfo(flags=IFF_UP, change=IFF_UP) + _attr(IFLA_IFNAME, _name(name))
        self.request(RTM_NEWLINK, NLM_F_ACK, body, f"set {name} up")


def _ensure_netns_dir(run_dir: Path) -> None:
    """`/run/netns` as `ip netns add` leaves it: a shared mount, so that namespaces mounted on
    its files show in every mount namespace (a container's too)."""
    run_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    target = os.fsencode(run_dir)
    if _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None) == 0:
        return
    if ctypes.get_errno() != 22:  # EINVAL: not a mount point yet
        _check(-1, f"mount --make-shared {run_dir}")
    _check(_libc.mount(target, target, b"none", MS_BIND | MS_REC, None), f"bind {run_dir}")
    _check(
        _libc.mount(b"none", target, None, MS_SHARED | MS_REC, None),
        f"mount --make-shared {run_dir}",
    )


def _new_netns(path: Path) -> tuple[int, Netlink]:
    """A new network namespace mounted on `path`: (an fd of it, a netlink socket in it).

    Runs on a thread of its own: unshare(2) moves only the calling thread, which goes back to
    the namespace it came from before returning."""
    _ensure_netns_dir(path.parent)
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            _check(
                _libc.mount(b"/proc/thread-self/ns/net", os.fsencode(path), b"none", MS_BIND, None),
                f"mount the namespace on {path}",
            )
            pod = Netlink()
        finally:
            # Back home before anything else can run on this thread.
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the host's namespace")
    finally:
        os.close(home)
    return os.open(path, os.O_RDONLY), pod


def _wire(
    netns_path: Path,
    host: str,
    bridge: str,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
) -> None:
    fd, pod = _new_netns(netns_path)
    node = Netlink()
    try:
        peer = _ifinfo() + _attr(IFLA_IFNAME, _name("eth0")) + _attr(IFLA_NET_NS_FD, _u32(fd))
        info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
        body = (
            _ifinfo(flags=IFF_UP, change=IFF_UP)
            + _attr(IFLA_IFNAME, _name(host))
            + _attr(IFLA_MASTER, _u32(socket.if_nametoindex(bridge)))
            + _attr(IFLA_LINKINFO, info)
        )
        node.request(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, f"add veth {host}")
        pod.link_up("lo")
        eth0 = pod.link_index("eth0")
        packed = address.ip.packed
        ifaddr = struct.pack(
            "=BBBBI", socket.AF_INET, address.network.prefixlen, 0, RT_SCOPE_UNIVERSE, eth0
        )
        pod.request(
            RTM_NEWADDR,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            ifaddr + _attr(IFA_LOCAL, packed) + _attr(IFA_ADDRESS, packed),
            f"add address {address} to eth0",
        )
        pod.link_up("eth0")
        route = struct.pack(
            "=BBBBBBBBI",
            socket.AF_INET,
            0,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
            0,
        )
        pod.request(
            RTM_NEWROUTE,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            route + _attr(RTA_GATEWAY, gateway.packed),
            f"add default route via {gateway}",
        )
    finally:
        os.close(fd)
        node.close()
        pod.close()


def _u32(value: int) -> bytes:
    return struct.pack("=I", value)


def wire_pod(
    netns_path: Path,
    host: str,
    bridge: str,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address,
) -> None:
    """Makes the pod's namespace at `netns_path` with `eth0` (`address`, default route via
    `gateway`) paired with `host` on `bridge`. Blocking: it runs on a new thread of its own
    (never a pooled one, whose namespace others would inherit if going back failed) and
    returns when that thread is done; OSError when a step fails."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _wire(netns_path, host, bridge, address, gateway)
        except BaseException as err:  # handed to the caller's thread
            failure.append(err)

    thread = threading.Thread(target=run, name=f"netns-{host}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
