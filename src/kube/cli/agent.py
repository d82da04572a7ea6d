"""`kube agent`: this machine (or network namespace) as a node of a cluster, k3s-style.

    kube agent --kubeconfig K [--node-name N] [--data-dir D] [--pod-cidr CIDR] [--bridge kube0]

runs the built-in CRI runtime (kube.cri.runtime) and a kubelet pointed at it, in one process,
supervised like `kube server`'s rows: the runtime first, the kubelet once the runtime serves;
if either stops, the agent stops. `kube server` runs the same two as its `kubelet` row unless
`--disable-agent`. Everything lives under the data dir:

    <data-dir>/runtime/        the runtime's state: images (`kube image --root`), sandboxes,
                               containers
    <data-dir>/runtime.sock    the CRI socket the kubelet uses
    <data-dir>/kubelet/        the kubelet's root dir (its serving certificate)
    <data-dir>/pods/           the containers' CRI logs

A node needs root and runc to isolate its pods (network namespaces on a bridge, runc
containers); where the machine has neither, `kube agent` refuses and `kube server` leaves its
row out with one log line (`kube doctor` explains).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kube.cli.supervisor import Component, ComponentFailed, install_stop_signals, supervise
from kube.kubelet.dns import parse_cluster_dns

log = logging.getLogger("kube.agent")

DEFAULT_POD_CIDR = "10.42.0.0/24"
KUBELET_PORT = 10250


def default_data_dir() -> Path:
    if env := os.environ.get("KUBE_DATA_DIR"):
        return Path(env) / "agent"
    if os.geteuid() == 0:
        return Path("/var/lib/kube/agent")
    return Path.home() / ".local" / "share" / "kube" / "agent"


def cannot_isolate() -> str | None:
    """Why this machine cannot run an isolating node, or None when it can."""
    if os.geteuid() != 0:
        return "not root (pod network namespaces and runc need root)"
    for tool, package in (("runc", "runc"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian {package})"
    return None


@dataclass
class AgentOptions:
    """What the runtime and the kubelet of one node need."""

    kubeconfig: Path
    data_dir: Path
    node_name: str
    pod_cidr: str = DEFAULT_POD_CIDR
    bridge: str = "kube0"
    node_ip: str | None = None
    address: str = "0.0.0.0"
    port: int = KUBELET_PORT
    cgroup_root: str = "/kubepods"
    client_ca_file: Path | None = None
    cluster_dns: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"unix://{self.data_dir / 'runtime.sock'}"


async def run_runtime(options: AgentOptions, ready: asyncio.Event) -> None:
    """The built-in CRI runtime on `<data-dir>/runtime.sock`."""
    from kube.cri.runtime.runtime import Runtime
    from kube.cri.runtime.server import serve

    runtime = Runtime(
        options.data_dir / "runtime", bridge=options.bridge, pod_cidr=options.pod_cidr
    )
    await serve(runtime, options.endpoint, ready)


async def run_node_kubelet(options: AgentOptions, ready: asyncio.Event) -> None:
    """The kubelet over that runtime."""
    from kube.cli.kubelet import run_kubelet
    from kube.kubelet.kubelet import KubeletConfig
    from kube.kubelet.node import NodeConfig, default_node_ip

    config = KubeletConfig(
        node=NodeConfig(
            name=options.node_name,
            node_ip=options.node_ip or default_node_ip(),
            pod_cidr=options.pod_cidr,
            root_dir=options.data_dir / "kubelet",
        ),
        runtime_endpoint=options.endpoint,
        pod_logs_dir=options.data_dir / "pods",
        cgroup_root=options.cgroup_root,
        address=options.address,
        port=options.port,
        client_ca_file=options.client_ca_file,
        cluster_dns=list(options.cluster_dns),
    )
    await run_kubelet(options.kubeconfig, config, ready)


COMPONENTS: list[Component[AgentOptions]] = [
    Component("runtime", run_runtime),
    Component("kubelet", run_node_kubelet),
]


async def run_agent(options: AgentOptions, ready: asyncio.Event) -> None:
    """Both rows as one (the `kubelet` row of `kube server`): ready when the kubelet is."""
    await supervise(COMPONENTS, options, on_ready=ready.set, stop=asyncio.Event())


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags `kube agent` and `kube server` share for their node."""
    parser.add_argument(
        "--node-name", default=None, help="this node's name (default: the hostname)"
    )
    parser.add_argument(
        "--pod-cidr",
        default=DEFAULT_POD_CIDR,
        help="this node's pod addresses (default %(default)s)",
    )
    parser.add_argument(
        "--bridge", default="kube0", help="the node bridge pods attach to (default %(default)s)"
    )
    parser.add_argument(
        "--kubelet-port",
        type=int,
        default=KUBELET_PORT,
        help="the kubelet's HTTPS port; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument(
        "--cgroup-root", default="/kubepods", help="the parent of the pods' cgroups"
    )
    parser.add_argument(
        "--cluster-dns",
        action="append",
        default=[],
        metavar="IP[,IP]",
        help="the kubelet's cluster DNS server(s) for ClusterFirst pods (repeatable)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", type=Path, required=True, metavar="PATH")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the runtime's and the kubelet's state "
        "(default: $KUBE_DATA_DIR/agent, else /var/lib/kube/agent as root)",
    )
    add_node_arguments(parser)
    parser.add_argument(
        "--node-ip", default=None, help="the node's InternalIP (default: the default route's)"
    )
    parser.add_argument(
        "--address", default="0.0.0.0", help="the IP the kubelet's HTTPS server listens on"
    )
    parser.add_argument(
        "--client-ca-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="require client certificates signed by this CA (the API server's)",
    )


class UsageError(Exception):
    pass


def check_node_flags(args: argparse.Namespace) -> None:
    """The shared flags' values, before anything starts (one line each, as upstream)."""
    try:
        ipaddress.ip_network(args.pod_cidr, strict=False)
    except ValueError as err:
        raise UsageError(f"--pod-cidr {args.pod_cidr!r}: {err}") from err
    if len(args.bridge) > 15 or not args.bridge:
        raise UsageError(f"--bridge {args.bridge!r}: an interface name of 1 to 15 characters")
    if not 0 <= args.kubelet_port <= 65535:
        raise UsageError(f"--kubelet-port {args.kubelet_port} is not a port number (0-65535)")
    try:
        parse_cluster_dns(args.cluster_dns)
    except ValueError as err:
        raise UsageError(str(err)) from err


def configure(args: argparse.Namespace) -> AgentOptions:
    if not args.kubeconfig.is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig} does not exist")
    check_node_flags(args)
    if args.client_ca_file is not None and not args.client_ca_file.is_file():
        raise UsageError(f"--client-ca-file {args.client_ca_file} does not exist")
    why = cannot_isolate()
    if why is not None:
        raise UsageError(f"this machine cannot run pods: {why}; see kube doctor")
    data_dir = (args.data_dir or default_data_dir()).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return AgentOptions(
        kubeconfig=args.kubeconfig,
        data_dir=data_dir,
        node_name=(args.node_name or socket.gethostname()).lower(),
        pod_cidr=args.pod_cidr,
        bridge=args.bridge,
        node_ip=args.node_ip,
        address=args.address,
        port=args.kubelet_port,
        cgroup_root=args.cgroup_root,
        client_ca_file=args.client_ca_file,
        cluster_dns=parse_cluster_dns(args.cluster_dns),
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of `kube agent`."""
    try:
        options = configure(args)
    except (UsageError, OSError) as err:
        print(f"kube agent: {err}", file=sys.stderr)
        return 2

    def announce() -> None:
        print(f"kube agent is up: node {options.node_name}; data dir {options.data_dir}")
        sys.stdout.flush()

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await supervise(COMPONENTS, options, on_ready=announce, stop=stop)

    try:
        asyncio.run(main())
    except ComponentFailed as err:
        log.error("component failed", exc_info=err.cause)
        print(f"kube agent: component {err}", file=sys.stderr)
        return 1
    print("kube agent stopped", flush=True)
    return 0
