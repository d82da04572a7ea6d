"""`kube sim`: a synthetic cluster of hollow nodes (kubemark/kwok) against a real control plane.

`kube sim up --nodes N` runs N hollow nodes in this process (kube.sim.hollow): each registers
its Node, renews its Lease, reports status and runs the pods bound to it. It talks to the
cluster of `--kubeconfig` (or $KUBECONFIG), or with `--with-control-plane` starts a
`kube server` of its own in a temporary data directory. A progress bar shows nodes coming
Ready; at the end (after `--duration` seconds, or SIGINT/SIGTERM) one summary line:

    sim: nodes Ready 5000/5000, time to all Ready 41.2s, pods running 0, errors 0

and the exit code is 0 when every node came Ready, 1 otherwise.

`kube sim fail-node NAME... | --fraction F` sets the annotation `sim.kube.io/fail: "true"` on
hollow Nodes; the sim process running them stops their heartbeats, so the node lifecycle
controller marks them NotReady and evicts their pods. `--recover` removes the annotation.

`kube sim load --profile load|density|churn` runs clusterloader2-style workloads and reports
their SLIs (kube.sim.load).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from kube import eventloop
from kube.api import errors
from kube.auth.kubeconfig import KubeconfigError
from kube.client.rest import RESTClient
from kube.sim import load as sim_load
from kube.sim import shape as sh
from kube.sim.hollow import NODES, HollowCluster, SimConfig

log = logging.getLogger("kube.sim")

SERVER_START_TIMEOUT = 120.0


def _duration(text: str) -> float:
    try:
        return sh.parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], not {value}")
    return value


def default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path.home() / ".kube" / "config"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    up = sub.add_parser("up", help="run hollow nodes until --duration or Ctrl-C")
    up.add_argument("--nodes", type=_positive_int, required=True, help="how many hollow nodes")
    where = up.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", help="the cluster to join (default $KUBECONFIG)")
    where.add_argument(
        "--with-control-plane",
        action="store_true",
        help="start a `kube server` in a temporary data directory and join it",
    )
    up.add_argument("--pods-per-node", type=_positive_int, default=None, help="pods capacity")
    up.add_argument("--node-shape", default=sh.DEFAULT_SHAPE, help="cpu=..,memory=..,pods=..")
    up.add_argument("--zones", type=_positive_int, default=3, help="zone-0 .. zone-<n-1>")
    up.add_argument("--run-delay", type=_duration, default=1.0, help="bound pod to Running")
    up.add_argument("--duration", type=_duration, default=None, help="seconds, then exit")
    up.add_argument("--name-prefix", default="hollow-node-", help="node names: <prefix><i>")
    up.add_argument("--lease-interval", type=_duration, default=10.0, help="lease renewal")
    up.add_argument(
        "--status-interval",
        type=_duration,
        default=SimConfig.status_interval,
        help="how often an unchanged node status is reported (default %(default)ss, "
        "upstream's nodeStatusReportFrequency)",
    )
    up.add_argument(
        "--concurrency",
        type=_positive_int,
        default=SimConfig.concurrency,
        help="API requests (and connections) in flight at most (default %(default)s)",
    )
    up.add_argument(
        "--protobuf",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="speak protobuf to the API server, as kubelets do (--no-protobuf: JSON)",
    )
    up.add_argument("--no-progress", action="store_true", help="no progress bar")
    up.set_defaults(func=run_up)

    fail = sub.add_parser("fail-node", help="stop hollow nodes' heartbeats (by annotation)")
    fail.add_argument("names", nargs="*", metavar="NAME")
    fail.add_argument("--fraction", type=_fraction, help="a random fraction of hollow nodes")
    fail.add_argument("--recover", action="store_true", help="remove the annotation instead")
    fail.add_argument("--kubeconfig", help="the cluster (default $KUBECONFIG)")
    fail.set_defaults(func=run_fail_node)

    load = sub.add_parser("load", help="clusterloader2-style load and its SLIs")
    sim_load.add_arguments(load)
    load.set_defaults(func=run_load)


# -- kube sim up -----------------------------------------------------------------------------


def run_up(args: argparse.Namespace) -> int:
    try:
        shape = sh.parse_shape(args.node_shape, args.pods_per_node)
    except ValueError as err:
        print(f"kube sim up: {err}", file=sys.stderr)
        return 2
    config = SimConfig(
        nodes=args.nodes,
        shape=shape,
        zones=args.zones,
        prefix=args.name_prefix,
        run_delay=args.run_delay,
        lease_interval=args.lease_interval,
        status_interval=args.status_interval,
        concurrency=args.concurrency,
    )
    return eventloop.run(_up(args, config))


async def _up(args: argparse.Namespace, config: SimConfig) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if args.with_control_plane:
            kubeconfig = await stack.enter_async_context(_control_plane(stop))
            if kubeconfig is None:
                return 1
        else:
            kubeconfig = Path(args.kubeconfig or default_kubeconfig())
        try:
            client = RESTClient.from_kubeconfig(
                kubeconfig,
                qps=None,
                user_agent="kube-sim",
                connections=config.concurrency,
                protobuf=args.protobuf,
            )
        except (KubeconfigError, OSError) as err:
            print(f"kube sim up: {err}", file=sys.stderr)
            return 1
        await stack.enter_async_context(client)
        return await _run_nodes(client, config, stop, args.duration, not args.no_progress)


async def _run_nodes(
    client: RESTClient, config: SimConfig, stop: asyncio.Event, duration: float | None, bar: bool
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    sim = HollowCluster(client, config)
    started = time.monotonic()
    ready_after: float | None = None
    registered_after: float | None = None
    task = asyncio.create_task(sim.run())
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("hollow nodes Ready"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not bar or not console.is_terminal,
    )
    deadline = started + duration if duration is not None else None
    with progress:
        bar_id = progress.add_task("nodes", total=config.nodes)
        while not stop.is_set() and not task.done():
            if deadline is not None and time.monotonic() >= deadline:
                break
            progress.update(bar_id, completed=len(sim.ready))
            if registered_after is None and sim.registered == config.nodes:
                registered_after = time.monotonic() - started
                log.info("all %d nodes registered in %.1fs", config.nodes, registered_after)
            if ready_after is None and sim.all_ready.is_set():
                ready_after = time.monotonic() - started
                progress.update(bar_id, completed=config.nodes)
                if not console.is_terminal or not bar:
                    print(f"sim: all {config.nodes} nodes Ready in {ready_after:.1f}s", flush=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    running = sim.pods_running()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if task.done() and not task.cancelled() and task.exception() is not None:
        print(f"kube sim up: {task.exception()}", file=sys.stderr)
    took = f"{ready_after:.1f}s" if ready_after is not None else "never"
    print(
        f"sim: nodes Ready {len(sim.ready)}/{config.nodes}, time to all Ready {took}, "
        f"pods running {running}, errors {sim.errors}",
        flush=True,
    )
    return 0 if ready_after is not None else 1


@contextlib.asynccontextmanager
async def _control_plane(stop: asyncio.Event) -> AsyncIterator[Path | None]:
    """A `kube server` (all controllers and the scheduler) in a temporary data dir."""
    with tempfile.TemporaryDirectory(prefix="kube-sim-") as tmp:
        data_dir = Path(tmp)
        log = (data_dir / "server.log").open("w")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kube.cli.main",
            "server",
            "--disable-agent",
            "--data-dir",
            str(data_dir),
            "--secure-port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        drain: asyncio.Task[None] | None = None
        try:
            up = await _wait_up(proc, stop)
            if up and proc.stdout is not None:
                # Keep reading its stdout so the server never blocks on a full pipe.
                drain = asyncio.create_task(_drain(proc.stdout))
            if not up:
                print(
                    "kube sim up: kube server did not start: "
                    + (data_dir / "server.log").read_text()[-2000:],
                    file=sys.stderr,
                )
            yield data_dir / "admin.kubeconfig" if up else None
        finally:
            if drain is not None:
                drain.cancel()
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            log.close()


async def _wait_up(proc: asyncio.subprocess.Process, stop: asyncio.Event) -> bool:
    assert proc.stdout is not None
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline and not stop.is_set():
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 1.0)
        except TimeoutError:
            continue
        if not line:
            return False
        if b"kube server is up" in line:
            return True
    return False


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


# -- kube sim load ---------------------------------------------------------------------------


def run_load(args: argparse.Namespace) -> int:
    return eventloop.run(_load(args))


async def _load(args: argparse.Namespace) -> int:
    """The cluster of --kubeconfig, or a `kube server` of our own (kube.sim.load does the rest)."""
    async with contextlib.AsyncExitStack() as stack:
        if args.with_control_plane:
            kubeconfig = await stack.enter_async_context(_control_plane(asyncio.Event()))
            if kubeconfig is None:
                return 1
        else:
            kubeconfig = Path(args.kubeconfig or default_kubeconfig())
        return await sim_load.main(args, kubeconfig, own_control_plane=args.with_control_plane)


# -- kube sim fail-node ----------------------------------------------------------------------


def run_fail_node(args: argparse.Namespace) -> int:
    if not args.names and args.fraction is None:
        print("kube sim fail-node: name nodes or give --fraction", file=sys.stderr)
        return 2
    return asyncio.run(_fail(args))


async def _fail(args: argparse.Namespace) -> int:
    try:
        client = RESTClient.from_kubeconfig(args.kubeconfig or default_kubeconfig(), qps=None)
    except (KubeconfigError, OSError) as err:
        print(f"kube sim fail-node: {err}", file=sys.stderr)
        return 1
    async with client:
        names = list(args.names)
        if args.fraction is not None:
            listed = await client.list(NODES, label_selector=f"{sh.HOLLOW_LABEL}=true")
            hollow = sorted(str(n["metadata"]["name"]) for n in listed.get("items") or [])
            count = max(1, round(len(hollow) * args.fraction)) if hollow else 0
            names += random.sample(hollow, count)
        value = None if args.recover else "true"
        code = 0
        for name in dict.fromkeys(names):
            patch = {"metadata": {"annotations": {sh.FAIL_ANNOTATION: value}}}
            try:
                await client.patch(NODES, name, patch)
            except errors.APIError as err:
                print(f"Error from server ({err.reason}): {err.message}", file=sys.stderr)
                code = 1
                continue
            print(f"node/{name} {'recovered' if args.recover else 'failed'}")
        return code
