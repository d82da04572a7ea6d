"""`kube scheduler`: binds pending pods to nodes, as kube-scheduler, behind leader election.

It talks to the API server through a kubeconfig (`--kubeconfig`), reads an optional
KubeSchedulerConfiguration (`--config`, upstream's v1 file: profiles, plugins, pluginConfig,
percentageOfNodesToScore, backoff), and schedules only while holding the Lease
`kube-system/kube-scheduler` (`--leader-elect`, on by default, with upstream's
`--leader-elect-*` flags; the file's `leaderElection` section is read too). Client throttling
is upstream's 50 requests/s with bursts of 100 (`--kube-api-qps`, `--kube-api-burst`).
Out-of-tree plugins come from the entry point group `kube.scheduler.plugins` and from
`--plugin module:Class`, and are enabled by name in the configuration like a built-in.

Each leading term starts from fresh informers and an empty cache. Losing the Lease ends the
process with status 1 ("leaderelection lost") as upstream; inside `kube server` the scheduler
row goes back to standby instead. SIGTERM or SIGINT releases the Lease and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from kube import eventloop
from kube.auth.kubeconfig import KubeconfigError, load_kubeconfig
from kube.cli.children import notify_when_ready
from kube.cli.controller_manager import go_bool, go_duration
from kube.client.events import EventRecorder
from kube.client.eventsv1 import EventBroadcaster
from kube.client.informer import SharedInformerFactory, trim_managed_fields
from kube.client.leaderelection import LeadershipLost, lead_while_elected, validate
from kube.client.rest import DEFAULT_CONTENT_TYPE, RESTClient, wants_protobuf
from kube.scheduler.config import ConfigError, Configuration, load
from kube.scheduler.framework.registry import DuplicatePluginError, Registry
from kube.scheduler.framework.runtime import PluginNotFound
from kube.scheduler.plugins import PluginLoadError, in_tree_registry, registry_with
from kube.scheduler.scheduler import Scheduler

log = logging.getLogger("kube.scheduler")

COMPONENT = "kube-scheduler"
DEFAULT_QPS = 50.0
DEFAULT_BURST = 100


@dataclass
class SchedulerConfig:
    kubeconfig: Path
    config: Configuration = field(default_factory=Configuration)
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_name: str = COMPONENT
    lease_namespace: str = "kube-system"
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    protobuf: bool = False  # --kube-api-content-type / clientConnection.contentType
    registry: Registry = field(default_factory=in_tree_registry)


async def run_scheduler(
    config: SchedulerConfig, ready: asyncio.Event | None = None, *, rejoin: bool = False
) -> None:
    """Run until cancelled (releasing the Lease) or, unless `rejoin`, until the Lease is lost."""
    qps = config.qps if config.qps > 0 else None
    async with RESTClient.from_kubeconfig(
        config.kubeconfig,
        qps=qps,
        burst=config.burst,
        user_agent=COMPONENT,
        protobuf=config.protobuf,
    ) as rest:
        # As upstream: the scheduler's own events (Scheduled, FailedScheduling, Preempted)
        # go through an events.k8s.io broadcaster, the leader election's through a core one.
        recorder = EventRecorder(rest, "default-scheduler")
        recorder.start()
        broadcaster = EventBroadcaster(rest)
        broadcaster.start()

        async def lead() -> None:
            scheduler = Scheduler(
                rest,
                config.config,
                registry=config.registry,
                recorder=broadcaster.new_recorder("default-scheduler"),
            )
            await scheduler.run(SharedInformerFactory(rest, transform=trim_managed_fields))

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
            await asyncio.gather(recorder.stop(), broadcaster.stop())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        metavar="PATH",
        type=Path,
        required=True,
        help="kubeconfig with the API server and credentials (e.g. kube server's admin.kubeconfig)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=None,
        help="a KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1)",
    )
    parser.add_argument(
        "--leader-elect",
        type=go_bool,
        nargs="?",
        const=True,
        default=None,
        metavar="true|false",
        help="schedule only while holding the leader Lease (default true)",
    )
    parser.add_argument(
        "--plugin",
        metavar="MODULE:CLASS",
        action="append",
        default=[],
        help="an out-of-tree plugin class to register (repeatable); enable it by name in --config",
    )
    parser.add_argument("--leader-elect-lease-duration", type=go_duration, default=None)
    parser.add_argument("--leader-elect-renew-deadline", type=go_duration, default=None)
    parser.add_argument("--leader-elect-retry-period", type=go_duration, default=None)
    parser.add_argument("--leader-elect-resource-name", metavar="NAME", default=None)
    parser.add_argument("--leader-elect-resource-namespace", metavar="NAMESPACE", default=None)
    parser.add_argument("--kube-api-qps", metavar="QPS", type=float, default=None)
    parser.add_argument("--kube-api-burst", metavar="N", type=int, default=None)
    parser.add_argument(
        "--kube-api-content-type",
        metavar="TYPE",
        default=None,
        help="content type of requests to the API server: application/json (the default, "
        "or the configuration's clientConnection.contentType) or "
        "application/vnd.kubernetes.protobuf",
    )


class UsageError(Exception):
    """Bad flags or configuration, reported as one line with exit status 2."""


def _seconds(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return go_duration(str(value))
    except argparse.ArgumentTypeError as err:
        raise UsageError(f"{where}: {err}") from err


def configure(args: argparse.Namespace) -> SchedulerConfig:
    if not args.kubeconfig.is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig} does not exist")
    try:
        load_kubeconfig(args.kubeconfig)
    except (KubeconfigError, OSError) as err:
        raise UsageError(f"--kubeconfig: {err}") from err
    try:
        registry = registry_with(list(args.plugin))
    except (PluginLoadError, DuplicatePluginError) as err:
        raise UsageError(str(err)) from err
    try:
        config = load(args.config) if args.config is not None else Configuration()
        # Every profile's plugins must exist and implement the points they are enabled at.
        Scheduler(None, config, registry=registry)
    except (ConfigError, PluginNotFound, ValueError) as err:
        raise UsageError(f"--config: {err}") from err
    le = config.leader_election
    client = config.client_connection

    def duration(flag: float | None, key: str, default: float) -> float:
        if flag is not None:
            return flag
        found = _seconds(le.get(key), f"leaderElection.{key}")
        return default if found is None else found

    def text(flag: str | None, key: str, default: str) -> str:
        return flag if flag is not None else str(le.get(key, default))

    leader_elect = args.leader_elect if args.leader_elect is not None else le.get("leaderElect")
    qps = args.kube_api_qps if args.kube_api_qps is not None else client.get("qps")
    burst = args.kube_api_burst if args.kube_api_burst is not None else client.get("burst")
    content_type = args.kube_api_content_type or client.get("contentType") or DEFAULT_CONTENT_TYPE
    try:
        protobuf = wants_protobuf(str(content_type))
    except ValueError as err:
        raise UsageError(str(err)) from None
    result = SchedulerConfig(
        kubeconfig=args.kubeconfig,
        config=config,
        leader_elect=True if leader_elect is None else bool(leader_elect),
        lease_duration=duration(args.leader_elect_lease_duration, "leaseDuration", 15.0),
        renew_deadline=duration(args.leader_elect_renew_deadline, "renewDeadline", 10.0),
        retry_period=duration(args.leader_elect_retry_period, "retryPeriod", 2.0),
        lease_name=text(args.leader_elect_resource_name, "resourceName", COMPONENT),
        lease_namespace=text(
            args.leader_elect_resource_namespace, "resourceNamespace", "kube-system"
        ),
        qps=float(DEFAULT_QPS if qps is None else qps),
        burst=int(DEFAULT_BURST if burst is None else burst),
        protobuf=protobuf,
        registry=registry,
    )
    try:
        validate(result.lease_duration, result.renew_deadline, result.retry_period)
    except ValueError as err:
        raise UsageError(f"leader election timings: {err}") from err
    if result.qps < 0:
        raise UsageError(f"--kube-api-qps {result.qps} must not be negative")
    if result.burst < 1:
        raise UsageError(f"--kube-api-burst {result.burst} must be at least 1")
    return result


def run(args: argparse.Namespace) -> int:
    """Entry point of `kube scheduler`; returns the process exit code."""
    try:
        config = configure(args)
    except UsageError as err:
        print(f"kube scheduler: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        profiles = ", ".join(p.scheduler_name for p in config.config.profiles)
        log.info(
            "profiles: %s; leader election %s", profiles, "on" if config.leader_elect else "off"
        )
        ready = asyncio.Event()
        notify_when_ready(ready)  # when started as a row of `kube server`
        await run_scheduler(config, ready)

    try:
        eventloop.run(main())
    except asyncio.CancelledError:
        log.info("stopped")
        return 0
    except LeadershipLost as err:
        print(f"kube scheduler: {err}", file=sys.stderr)
        return 1
    return 0
