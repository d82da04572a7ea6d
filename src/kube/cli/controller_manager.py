"""`kube controller-manager`: the built-in controllers in one process, behind leader election.

As kube-controller-manager: it talks to the API server through a kubeconfig (`--kubeconfig`),
with client-side throttling of 20 requests/s and bursts of 30 (`--kube-api-qps`,
`--kube-api-burst`, upstream's defaults), and runs the controllers `--controllers` selects
(upstream's syntax: `*`, `name`, `-name`). Several copies may run at once: with
`--leader-elect` (the default) they compete for the Lease `kube-system/kube-controller-manager`
and only the leader runs controllers. Each leading term gets fresh informers, so a process that
lost the Lease and wins it again starts from what the server says, not from stale caches.

Losing the Lease (no renewal within `--leader-elect-renew-deadline`) stops the controllers and
ends the process with status 1 ("leaderelection lost"), as upstream, so a supervisor restarts
it as a clean standby. SIGTERM or SIGINT releases the Lease, so a standby takes over at once,
and exits 0. Inside `kube server` (the `controller-manager` row) a lost Lease instead sends the
manager back to standby: the rest of the control plane keeps running.

Per-controller flags (`--concurrent-deployment-syncs`, `--node-monitor-grace-period`, ...) are
upstream's; the ones given reach the controllers as `ControllerContext.options[flag name]`
(durations in seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kube import eventloop
from kube.auth.kubeconfig import KubeconfigError, load_kubeconfig
from kube.cli.children import notify_when_ready
from kube.client.events import EventRecorder
from kube.client.informer import SharedInformerFactory, trim_managed_fields
from kube.client.leaderelection import LeadershipLost, lead_while_elected, validate
from kube.client.rest import DEFAULT_CONTENT_TYPE, RESTClient, wants_protobuf
from kube.controllers.base import ControllerContext
from kube.controllers.manager import enabled, run_controllers

log = logging.getLogger("kube.controller-manager")

COMPONENT = "kube-controller-manager"
DEFAULT_QPS = 20.0
DEFAULT_BURST = 30

# Upstream's --concurrent-*-syncs flags (their defaults live with each controller's WORKERS).
CONCURRENT_SYNCS = (
    "concurrent-cron-job-syncs",
    "concurrent-daemonset-syncs",
    "concurrent-deployment-syncs",
    "concurrent-endpoint-syncs",
    "concurrent-ephemeralvolume-syncs",
    "concurrent-gc-syncs",
    "concurrent-horizontal-pod-autoscaler-syncs",
    "concurrent-job-syncs",
    "concurrent-namespace-syncs",
    "concurrent-rc-syncs",
    "concurrent-replicaset-syncs",
    "concurrent-resource-quota-syncs",
    "concurrent-service-endpoint-syncs",
    "concurrent-service-syncs",
    "concurrent-serviceaccount-token-syncs",
    "concurrent-statefulset-syncs",
    "concurrent-ttl-after-finished-syncs",
)
# Other per-controller flags the controllers read, with how to parse them.
DURATION_OPTIONS = ("node-monitor-period", "node-monitor-grace-period", "node-startup-grace-period")
FLOAT_OPTIONS = ("node-eviction-rate",)
INT_OPTIONS = ("max-endpoints-per-slice", "terminated-pod-gc-threshold")

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def go_duration(text: str) -> float:
    """Seconds of a Go duration (`15s`, `1m30s`, `500ms`, `0`), as the upstream flags take."""
    body = text.strip()
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(body):
        match = _GO_DURATION.match(body, pos)
        if match is None:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 15s, 1m30s)")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use e.g. 15s, 1m30s)")
    return total


def go_bool(text: str) -> bool:
    """A Go bool flag value (`--leader-elect=false`)."""
    value = text.strip().lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (use true or false)")


@dataclass
class ManagerConfig:
    """Everything a controller-manager needs, from flags or from `kube server`'s context."""

    kubeconfig: Path
    controllers: list[str]
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_name: str = COMPONENT
    lease_namespace: str = "kube-system"
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    protobuf: bool = False  # --kube-api-content-type
    options: dict[str, Any] = field(default_factory=dict)


async def run_manager(
    config: ManagerConfig,
    ready: asyncio.Event | None = None,
    *,
    rejoin: bool = False,
) -> None:
    """Run until cancelled (releasing the Lease) or, unless `rejoin`, until the Lease is lost."""
    info = load_kubeconfig(config.kubeconfig)
    options = dict(config.options)
    if "root-ca-file" not in options and info.ca_data:
        # Upstream falls back to the kubeconfig's CA when --root-ca-file is not given.
        options.setdefault("root-ca-data", info.ca_data)
    qps = config.qps if config.qps > 0 else None
    async with RESTClient.from_kubeconfig(
        config.kubeconfig,
        qps=qps,
        burst=config.burst,
        user_agent=COMPONENT,
        protobuf=config.protobuf,
    ) as rest:
        recorder = EventRecorder(rest, COMPONENT)
        recorder.start()

        async def lead() -> None:
            ctx = ControllerContext(
                rest,
                SharedInformerFactory(rest, transform=trim_managed_fields),
                recorder,
                options=options,
            )
            if not config.controllers:
                log.info("leading with no controllers to run")
                await asyncio.Event().wait()
            await run_controllers(ctx, config.controllers)
            raise RuntimeError("the controllers stopped on their own")

        try:
            await lead_while_elected(
                rest,
                lead,
                elect=config.leader_elect,
                namespace=config.lease_namespace,
                name=config.lease_name,
                lease_duration=config.lease_duration,
                renew_deadline=config.renew_deadline,
                retry_period=config.retry_period,
                recorder=recorder,
                ready=ready,
                rejoin=rejoin,
            )
        finally:
            await recorder.stop()


# -- the command ----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="PATH",
        type=Path,
        required=True,
        help="kubeconfig with the API server and credentials (e.g. kube server's admin.kubeconfig)",
    )
    parser.add_argument(
        "--controllers",
        metavar="SPEC",
        default="*",
        help="controllers to run: '*' all on by default, 'name' enable, '-name' disable, "
        "comma-separated; '' runs none (default %(default)s)",
    )
    parser.add_argument(
        "--leader-elect",
        type=go_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="run only while holding the leader Lease (default true)",
    )
    parser.add_argument(
        "--leader-elect-lease-duration",
        type=go_duration,
        default=15.0,
        metavar="DURATION",
        help="how long standbys wait after the last renewal before taking over (default 15s)",
    )
    parser.add_argument(
        "--leader-elect-renew-deadline",
        type=go_duration,
        default=10.0,
        metavar="DURATION",
        help="how long the leader tries to renew before it stops leading (default 10s)",
    )
    parser.add_argument(
        "--leader-elect-retry-period",
        type=go_duration,
        default=2.0,
        metavar="DURATION",
        help="how often to try to acquire or renew the Lease (default 2s)",
    )
    parser.add_argument(
        "--leader-elect-resource-lock",
        metavar="KIND",
        default="leases",
        help="the kind of lock object; only 'leases' (default)",
    )
    parser.add_argument(
        "--leader-elect-resource-name",
        metavar="NAME",
        default=COMPONENT,
        help="name of the Lease (default %(default)s)",
    )
    parser.add_argument(
        "--leader-elect-resource-namespace",
        metavar="NAMESPACE",
        default="kube-system",
        help="namespace of the Lease (default %(default)s)",
    )
    parser.add_argument(
        "--kube-api-qps",
        metavar="QPS",
        type=float,
        default=DEFAULT_QPS,
        help="requests per second to the API server; 0 = unthrottled (default 20)",
    )
    parser.add_argument(
        "--kube-api-burst",
        metavar="N",
        type=int,
        default=DEFAULT_BURST,
        help="burst of requests to the API server (default %(default)s)",
    )
    parser.add_argument(
        "--kube-api-content-type",
        metavar="TYPE",
        default=DEFAULT_CONTENT_TYPE,
        help="content type of requests to the API server: application/json (the default) "
        "or application/vnd.kubernetes.protobuf",
    )
    parser.add_argument(
        "--root-ca-file",
        metavar="PATH",
        type=Path,
        default=None,
        help="CA bundle put in each namespace's kube-root-ca.crt (default: the kubeconfig's CA)",
    )
    for flag in CONCURRENT_SYNCS:
        parser.add_argument(
            f"--{flag}", type=int, default=None, metavar="N", help=argparse.SUPPRESS
        )
    for flag in DURATION_OPTIONS:
        parser.add_argument(f"--{flag}", type=go_duration, default=None, help=argparse.SUPPRESS)
    for flag in FLOAT_OPTIONS:
        parser.add_argument(f"--{flag}", type=float, default=None, help=argparse.SUPPRESS)
    for flag in INT_OPTIONS:
        parser.add_argument(f"--{flag}", type=int, default=None, help=argparse.SUPPRESS)
    parser.epilog = (
        "Per-controller flags (upstream's): "
        + ", ".join(f"--{f}" for f in (*CONCURRENT_SYNCS, *DURATION_OPTIONS))
        + ", --node-eviction-rate, --max-endpoints-per-slice, --terminated-pod-gc-threshold."
    )


class UsageError(Exception):
    """Bad flags, reported as one line with exit status 2."""


def configure(args: argparse.Namespace) -> ManagerConfig:
    """The config the flags describe; UsageError naming the flag when they do not add up."""
    if args.leader_elect_resource_lock != "leases":
        raise UsageError(
            f"--leader-elect-resource-lock {args.leader_elect_resource_lock!r}: "
            "only 'leases' is supported"
        )
    try:
        validate(
            args.leader_elect_lease_duration,
            args.leader_elect_renew_deadline,
            args.leader_elect_retry_period,
        )
    except ValueError as err:
        raise UsageError(f"leader election timings: {err}") from err
    if args.kube_api_qps < 0:
        raise UsageError(f"--kube-api-qps {args.kube_api_qps} must not be negative")
    try:
        protobuf = wants_protobuf(args.kube_api_content_type)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.kube_api_burst < 1:
        raise UsageError(f"--kube-api-burst {args.kube_api_burst} must be at least 1")
    try:
        names = enabled(args.controllers)
    except ValueError as err:
        raise UsageError(f"--controllers: {err}") from err
    if not args.kubeconfig.is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig} does not exist")
    try:
        load_kubeconfig(args.kubeconfig)
    except (KubeconfigError, OSError) as err:
        raise UsageError(f"--kubeconfig: {err}") from err
    options: dict[str, Any] = {}
    for flag in (*CONCURRENT_SYNCS, *DURATION_OPTIONS, *FLOAT_OPTIONS, *INT_OPTIONS):
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            if flag in CONCURRENT_SYNCS and value < 1:
                raise UsageError(f"--{flag} {value} must be at least 1")
            options[flag] = value
    if args.root_ca_file is not None:
        if not args.root_ca_file.is_file():
            raise UsageError(f"--root-ca-file {args.root_ca_file} does not exist")
        options["root-ca-file"] = str(args.root_ca_file)
    return ManagerConfig(
        kubeconfig=args.kubeconfig,
        controllers=names,
        leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        lease_name=args.leader_elect_resource_name,
        lease_namespace=args.leader_elect_resource_namespace,
        qps=args.kube_api_qps,
        burst=args.kube_api_burst,
        protobuf=protobuf,
        options=options,
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of `kube controller-manager`; returns the process exit code."""
    try:
        config = configure(args)
    except UsageError as err:
        print(f"kube controller-manager: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        log.info(
            "controllers: %s; leader election %s",
            ", ".join(config.controllers) or "none",
            f"on Lease {config.lease_namespace}/{config.lease_name}"
            if config.leader_elect
            else "off",
        )
        ready = asyncio.Event()
        notify_when_ready(ready)  # when started as a row of `kube server`
        await run_manager(config, ready)

    try:
        eventloop.run(main())
    except asyncio.CancelledError:
        log.info("stopped")
        return 0
    except LeadershipLost as err:
        print(f"kube controller-manager: {err}", file=sys.stderr)
        return 1
    return 0
