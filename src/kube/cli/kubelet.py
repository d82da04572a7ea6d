"""`kube kubelet`: the node agent, running this machine's pods through a CRI runtime.

    kube kubelet --kubeconfig K --node-name N \
        --container-runtime-endpoint unix:///run/kube/kube-runtime.sock [--pod-cidr CIDR]

registers the Node, renews its Lease, and runs the pods bound to it (see kube.kubelet.kubelet).
The runtime is `kube runtime` or any CRI runtime (containerd, CRI-O) on that socket.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path

from kube import eventloop
from kube.auth.kubeconfig import KubeconfigError, load_kubeconfig
from kube.client.rest import RESTClient
from kube.cri.client import RuntimeClient, channel_target
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DEFAULT_RESOLV_CONF, parse_cluster_dns
from kube.kubelet.kubelet import Kubelet, KubeletConfig
from kube.kubelet.node import NodeConfig, default_node_ip

log = logging.getLogger("kube.kubelet")

DEFAULT_ENDPOINT = "unix:///run/kube/kube-runtime.sock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", type=Path, required=True, metavar="PATH")
    parser.add_argument(
        "--node-name", default=None, help="this node's name (default: the hostname)"
    )
    parser.add_argument(
        "--container-runtime-endpoint",
        default=DEFAULT_ENDPOINT,
        help="the CRI socket (default %(default)s)",
    )
    parser.add_argument("--pod-cidr", default="", help="this node's pod addresses")
    parser.add_argument(
        "--node-ip", default=None, help="the node's InternalIP (default: the default route's)"
    )
    parser.add_argument("--node-labels", default="", help="extra node labels, key=value,key=value")
    parser.add_argument("--root-dir", type=Path, default=Path("/var/lib/kubelet"))
    parser.add_argument("--pod-logs-dir", type=Path, default=Path("/var/log/pods"))
    parser.add_argument(
        "--cgroup-root", default="/kubepods", help="the parent of the pods' cgroups"
    )
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument(
        "--address", default="0.0.0.0", help="the IP the kubelet's HTTPS server listens on"
    )
    parser.add_argument("--port", type=int, default=10250, help="its port (0: any free one)")
    parser.add_argument("--tls-cert-file", type=Path, default=None, metavar="PATH")
    parser.add_argument("--tls-private-key-file", type=Path, default=None, metavar="PATH")
    parser.add_argument(
        "--client-ca-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="require client certificates signed by this CA (the API server's)",
    )
    add_dns_arguments(parser)


def add_dns_arguments(parser: argparse.ArgumentParser) -> None:
    """The pods' DNS flags (kube.kubelet.dns), as upstream's kubelet names them."""
    parser.add_argument(
        "--cluster-dns",
        action="append",
        default=[],
        metavar="IP[,IP]",
        help="the cluster DNS server(s) for ClusterFirst pods (repeatable or comma-separated); "
        "without it such pods get the Default policy",
    )
    parser.add_argument(
        "--cluster-domain",
        default=DEFAULT_CLUSTER_DOMAIN,
        help="the cluster's DNS domain, searched by ClusterFirst pods (default %(default)s)",
    )
    parser.add_argument(
        "--resolv-conf",
        default=DEFAULT_RESOLV_CONF,
        help="the resolver configuration Default pods get (default %(default)s; '' for none)",
    )


class UsageError(Exception):
    pass


def configure(args: argparse.Namespace) -> KubeletConfig:
    if not args.kubeconfig.is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig} does not exist")
    try:
        load_kubeconfig(args.kubeconfig)
    except (KubeconfigError, OSError) as err:
        raise UsageError(f"--kubeconfig: {err}") from err
    try:
        channel_target(args.container_runtime_endpoint)
    except ValueError as err:
        raise UsageError(f"--container-runtime-endpoint: {err}") from err
    if args.pod_cidr:
        try:
            ipaddress.ip_network(args.pod_cidr, strict=False)
        except ValueError as err:
            raise UsageError(f"--pod-cidr {args.pod_cidr!r}: {err}") from err
    try:
        parse_cluster_dns(args.cluster_dns)
    except ValueError as err:
        raise UsageError(str(err)) from err
    labels: dict[str, str] = {}
    for item in filter(None, args.node_labels.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--node-labels: {item!r} is not key=value")
        labels[key] = value
    node = NodeConfig(
        name=(args.node_name or socket.gethostname()).lower(),
        node_ip=args.node_ip or default_node_ip(),
        pod_cidr=args.pod_cidr,
        labels=labels,
        root_dir=args.root_dir,
        max_pods=args.max_pods,
    )
    return KubeletConfig(
        node=node,
        runtime_endpoint=args.container_runtime_endpoint,
        pod_logs_dir=args.pod_logs_dir,
        cgroup_root=args.cgroup_root,
        address=args.address,
        port=args.port,
        tls_cert_file=args.tls_cert_file,
        tls_private_key_file=args.tls_private_key_file,
        client_ca_file=args.client_ca_file,
        cluster_dns=parse_cluster_dns(args.cluster_dns),
        cluster_domain=args.cluster_domain,
        resolv_conf=args.resolv_conf,
    )


async def run_kubelet(
    kubeconfig: Path, config: KubeletConfig, ready: asyncio.Event | None = None
) -> None:
    async with (
        RESTClient.from_kubeconfig(kubeconfig, qps=50, burst=100, user_agent="kubelet") as rest,
        RuntimeClient(config.runtime_endpoint) as cri,
    ):
        await Kubelet(rest, cri, config).run(ready)


def run(args: argparse.Namespace) -> int:
    try:
        config = configure(args)
    except UsageError as err:
        print(f"kube kubelet: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await run_kubelet(args.kubeconfig, config)

    try:
        eventloop.run(main())
    except asyncio.CancelledError:
        log.info("stopped")
    return 0
