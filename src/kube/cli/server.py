"""`kube server`: the all-in-one control plane, started from one table of components.

The table's rows, each started once the row before it is ready: storage, the API server, the
controller-manager, the scheduler (`--disable-scheduler` leaves it out) and `kubelet`, this
machine as a node: the built-in runtime and a kubelet (kube.cli.agent; `--disable-agent`
leaves it out, and it is skipped with one log line where the machine cannot isolate pods).

Everything the server keeps lives under the data dir (`--data-dir`, default
`$KUBE_DATA_DIR`, else `/var/lib/kube` as root or `~/.local/share/kube` otherwise):

    <data-dir>/db/state.db      the SQLite store (with --storage sqlite, the default)
    <data-dir>/tls/             the cluster CA, the serving and the admin certificates
    <data-dir>/admin.kubeconfig kubectl's credentials for this cluster (system:masters)
    <data-dir>/agent/           the node's runtime and kubelet state (kube.cli.agent)
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kube import eventloop
from kube.apiserver import server as apiserver
from kube.cli import agent, children, controller_manager, scheduler
from kube.cli.supervisor import Component, ComponentFailed, install_stop_signals, supervise
from kube.controllers.manager import enabled as enabled_controllers
from kube.kubelet.dns import parse_cluster_dns
from kube.storage.backend import Backend, StorageError
from kube.storage.factory import BACKENDS, StorageConfig, make_backend

log = logging.getLogger("kube.server")


def default_data_dir() -> Path:
    if env := os.environ.get("KUBE_DATA_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/kube")
    return Path.home() / ".local" / "share" / "kube"


@dataclass
class ServerContext:
    """What the components share: the configuration and what earlier rows started."""

    data_dir: Path
    storage_config: StorageConfig
    apiserver_options: apiserver.APIServerOptions
    storage: Backend | None = None
    notes: list[str] = field(default_factory=list)
    # The controller-manager's --controllers (upstream syntax: "*", "name", "-name"; "" = none).
    controllers: str = "*"
    # k3s's --disable-scheduler: no scheduler row (pods stay Pending unless bound by hand).
    scheduler: bool = True
    # The controller-manager and scheduler inside this process (--in-process) rather than each
    # in a child process of its own (kube.cli.children), which leaves the API server a core.
    in_process: bool = False
    # --kube-api-qps/--kube-api-burst for the controller-manager and scheduler (None: theirs).
    client_qps: float | None = None
    client_burst: int | None = None
    # The node row (k3s's agent): None with --disable-agent.
    agent: argparse.Namespace | None = None


async def run_storage(ctx: ServerContext, ready: asyncio.Event) -> None:
    backend = make_backend(ctx.storage_config)
    await backend.start()
    ctx.storage = backend
    try:
        revision = await backend.current_revision()
        ctx.notes.append(f"storage: {ctx.storage_config.describe()} (revision {revision})")
        ready.set()
        await asyncio.Event().wait()
    finally:
        ctx.storage = None
        await backend.close()


async def run_apiserver(ctx: ServerContext, ready: asyncio.Event) -> None:
    assert ctx.storage is not None, "storage starts first"
    options = ctx.apiserver_options
    up = asyncio.Event()
    task = asyncio.create_task(apiserver.run(ctx.storage, options, up))
    waiter = asyncio.create_task(up.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            await task
        ctx.notes.append(f"apiserver: https://{options.bind_address}:{options.secure_port}")
        ctx.notes.append(f"kubeconfig: {options.kubeconfig_path}")
        ctx.notes.append(f"try: kubectl --kubeconfig {options.kubeconfig_path} get namespaces")
        ready.set()
        await task
    finally:
        waiter.cancel()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def client_flags(ctx: ServerContext) -> list[str]:
    """The client throttling flags a child row gets from `kube server`'s own."""
    flags = []
    if ctx.client_qps is not None:
        flags.append(f"--kube-api-qps={ctx.client_qps:g}")
    if ctx.client_burst is not None:
        flags.append(f"--kube-api-burst={ctx.client_burst}")
    return flags


async def run_controller_manager(ctx: ServerContext, ready: asyncio.Event) -> None:
    """The controllers through the admin kubeconfig, behind leader election.

    A lost Lease sends this manager back to standby rather than ending the whole server.
    """
    if not ctx.controllers:
        ready.set()
        await asyncio.Event().wait()
    names = enabled_controllers(ctx.controllers)
    kubeconfig = ctx.apiserver_options.kubeconfig_path
    how = "in process" if ctx.in_process else "own process"
    ctx.notes.append(f"controller-manager ({how}): {', '.join(names) or 'no controllers'}")
    if not ctx.in_process:
        argv = children.kube_command(
            "controller-manager",
            "--kubeconfig",
            str(kubeconfig),
            f"--controllers={ctx.controllers}",
            *client_flags(ctx),
        )
        await children.run_child("controller-manager", argv, ready)
        return
    config = controller_manager.ManagerConfig(kubeconfig=kubeconfig, controllers=names)
    if ctx.client_qps is not None:
        config.qps = ctx.client_qps
    if ctx.client_burst is not None:
        config.burst = ctx.client_burst
    await controller_manager.run_manager(config, ready, rejoin=True)


async def run_scheduler(ctx: ServerContext, ready: asyncio.Event) -> None:
    """The default scheduler through the admin kubeconfig, behind leader election."""
    if not ctx.scheduler:
        ready.set()
        await asyncio.Event().wait()
    kubeconfig = ctx.apiserver_options.kubeconfig_path
    how = "in process" if ctx.in_process else "own process"
    ctx.notes.append(f"scheduler ({how}): default-scheduler")
    if not ctx.in_process:
        argv = children.kube_command(
            "scheduler", "--kubeconfig", str(kubeconfig), *client_flags(ctx)
        )
        await children.run_child("scheduler", argv, ready)
        return
    config = scheduler.SchedulerConfig(kubeconfig=kubeconfig)
    if ctx.client_qps is not None:
        config.qps = ctx.client_qps
    if ctx.client_burst is not None:
        config.burst = ctx.client_burst
    await scheduler.run_scheduler(config, ready, rejoin=True)


async def run_node(ctx: ServerContext, ready: asyncio.Event) -> None:
    """This machine as a node (kube.cli.agent), through the admin kubeconfig; its kubelet
    serves on loopback and takes only the API server's kubelet client certificate."""
    args = ctx.agent
    why = None if args is None else agent.cannot_isolate()
    if args is None or why is not None:
        if why is not None:
            log.warning("not running the node agent: %s (see kube doctor)", why)
        ready.set()
        await asyncio.Event().wait()
    assert args is not None
    options = agent.AgentOptions(
        kubeconfig=ctx.apiserver_options.kubeconfig_path,
        data_dir=ctx.data_dir / "agent",
        node_name=(args.node_name or socket.gethostname()).lower(),
        pod_cidr=args.pod_cidr,
        bridge=args.bridge,
        node_ip="127.0.0.1",
        address="127.0.0.1",
        port=args.kubelet_port,
        cgroup_root=args.cgroup_root,
        client_ca_file=ctx.data_dir / "tls" / "ca.crt",
        cluster_dns=parse_cluster_dns(args.cluster_dns),
    )
    ctx.notes.append(f"kubelet: node {options.node_name} (runtime {options.endpoint})")
    await agent.run_agent(options, ready)


COMPONENTS: list[Component[ServerContext]] = [
    Component("storage", run_storage),
    Component("apiserver", run_apiserver),
    Component("controller-manager", run_controller_manager),
    Component("scheduler", run_scheduler),
    Component("kubelet", run_node),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the database, certificates and kubeconfig live "
        "(default: $KUBE_DATA_DIR, else /var/lib/kube as root, else ~/.local/share/kube)",
    )
    parser.add_argument(
        "--storage",
        default="sqlite",
        metavar="{" + ",".join(BACKENDS) + "}",
        help="storage backend: embedded SQLite (default) or etcd v3",
    )
    parser.add_argument(
        "--bind-address",
        default="127.0.0.1",
        help="address the API server listens on (default %(default)s)",
    )
    parser.add_argument(
        "--secure-port",
        type=int,
        default=6443,
        help="HTTPS port of the API server; 0 picks a free one (default %(default)s)",
    )
    parser.add_argument(
        "--token-auth-file",
        type=Path,
        default=None,
        help='static bearer tokens, CSV: token,user,uid,"group1,group2"',
    )
    parser.add_argument(
        "--service-cluster-ip-range",
        default="10.43.0.0/16",
        help="CIDR of Service cluster IPs (default %(default)s)",
    )
    parser.add_argument(
        "--disable-admission-plugins",
        default="",
        metavar="NAMES",
        help="admission plugins to turn off, comma-separated (upstream's flag; known: "
        f"{', '.join(apiserver.ADMISSION_PLUGINS)}), e.g. for a server that runs no serviceaccount "
        "controller",
    )
    parser.add_argument(
        "--controllers",
        default="*",
        help="controllers to run, upstream syntax: '*' all, 'name' enable, '-name' disable, "
        "comma-separated; '' runs none (default %(default)s)",
    )
    parser.add_argument(
        "--disable-scheduler",
        action="store_true",
        help="do not run the scheduler (k3s's flag); pods stay Pending unless bound by hand",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the controller-manager and scheduler inside the server's process (one core "
        "for all); by default each runs as a child process, as upstream's separate binaries",
    )
    parser.add_argument(
        "--kube-api-qps",
        type=float,
        default=None,
        metavar="QPS",
        help="requests/s the controller-manager and scheduler may send (default: theirs, "
        "upstream's 20 and 50; 0 = unthrottled, for large synthetic clusters)",
    )
    parser.add_argument(
        "--kube-api-burst",
        type=int,
        default=None,
        metavar="N",
        help="their burst of requests (default: theirs, 30 and 100)",
    )
    parser.add_argument(
        "--disable-agent",
        action="store_true",
        help="do not run this machine as a node (k3s's flag): no runtime, no kubelet",
    )
    agent.add_node_arguments(parser)
    parser.add_argument(
        "--etcd-servers",
        default="http://127.0.0.1:2379",
        help="comma-separated etcd client URLs, with --storage etcd (default %(default)s)",
    )


class UsageError(Exception):
    """Bad flags or environment, reported as one line before anything is written."""


def prepare_data_dir(path: Path) -> Path:
    """Create the data dir if needed and prove it is writable, without leaving anything behind."""
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        reason = err.strerror or str(err)
        raise UsageError(
            f"data dir {path} is not writable ({reason}); choose another with --data-dir"
        ) from err
    return path


def configure(args: argparse.Namespace) -> ServerContext:
    if args.storage not in BACKENDS:
        raise UsageError(f"unknown --storage {args.storage!r}; use one of: {', '.join(BACKENDS)}")
    servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
    if args.storage == "etcd" and not servers:
        raise UsageError(
            "--etcd-servers is empty; give etcd client URLs like http://127.0.0.1:2379"
        )
    if args.kube_api_qps is not None and args.kube_api_qps < 0:
        raise UsageError(f"--kube-api-qps {args.kube_api_qps:g} must not be negative")
    if args.kube_api_burst is not None and args.kube_api_burst < 1:
        raise UsageError(f"--kube-api-burst {args.kube_api_burst} must be at least 1")
    if not 0 <= args.secure_port <= 65535:
        raise UsageError(f"--secure-port {args.secure_port} is not a port number (0-65535)")
    try:
        ipaddress.ip_network(args.service_cluster_ip_range)
    except ValueError as err:
        raise UsageError(f"--service-cluster-ip-range: {err}") from err
    try:
        enabled_controllers(args.controllers)
    except ValueError as err:
        raise UsageError(f"--controllers: {err}") from err
    disabled = tuple(p.strip() for p in args.disable_admission_plugins.split(",") if p.strip())
    for plugin in disabled:
        if plugin not in apiserver.ADMISSION_PLUGINS:
            raise UsageError(f"--disable-admission-plugins: plugin {plugin!r} is unknown")
    try:
        agent.check_node_flags(args)
    except agent.UsageError as err:
        raise UsageError(str(err)) from err
    if args.token_auth_file is not None and not args.token_auth_file.is_file():
        raise UsageError(f"--token-auth-file {args.token_auth_file} does not exist")
    data_dir = prepare_data_dir(args.data_dir or default_data_dir())
    return ServerContext(
        data_dir=data_dir,
        storage_config=StorageConfig(
            kind=args.storage, sqlite_path=data_dir / "db" / "state.db", etcd_servers=servers
        ),
        apiserver_options=apiserver.APIServerOptions(
            data_dir=data_dir,
            bind_address=args.bind_address,
            secure_port=args.secure_port,
            token_auth_file=args.token_auth_file,
            service_cluster_ip_range=args.service_cluster_ip_range,
            disable_admission_plugins=disabled,
        ),
        controllers=args.controllers,
        scheduler=not args.disable_scheduler,
        in_process=args.in_process,
        client_qps=args.kube_api_qps,
        client_burst=args.kube_api_burst,
        agent=None if args.disable_agent else args,
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of `kube server`; returns the process exit code."""
    try:
        ctx = configure(args)
    except UsageError as err:
        print(f"kube server: {err}", file=sys.stderr)
        return 2

    def announce() -> None:
        print(f"kube server is up; data dir {ctx.data_dir}", flush=True)
        for note in ctx.notes:
            print(f"  {note}", flush=True)
        print("  stop with Ctrl-C", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        install_stop_signals(stop)
        await supervise(COMPONENTS, ctx, on_ready=announce, stop=stop)

    try:
        # uvloop unless this process also runs the node agent (containers, child watchers).
        eventloop.run(main(), native=ctx.agent is None)
    except ComponentFailed as err:
        cause = err.cause
        if isinstance(cause, StorageError):
            print(f"kube server: {cause}", file=sys.stderr)
        else:
            log.error("component failed", exc_info=cause)
            print(f"kube server: component {err}", file=sys.stderr)
        return 1
    print("kube server stopped", flush=True)
    return 0
