"""Controllers under test run in the test's process against a real `kube server` that runs none.

`bare_cluster` is a `kube server --controllers=` (API server only, SQLite); `controllers(...)`
starts the named controllers in-process on the test's event loop with an unthrottled client,
so a test sees exactly what its controller does. `kubelet` plays the kubelet for pods through
the pods/status subresource (Running/Ready, Succeeded, Failed), as the issue allows until the
real kubelet exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.meta import now_rfc3339
from kube.api.resources import resolve
from kube.client.informer import SharedInformerFactory
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.manager import run_controllers

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The admin kubeconfig of a `kube server` that runs no controllers."""
    data_dir = tmp_path_factory.mktemp("bare")
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",
            "--data-dir",
            str(data_dir),
            "--secure-port",
            "0",
            "--controllers=",
            "--disable-scheduler",
            # No serviceaccount controller makes the accounts pods need: upstream's
            # integration tests turn the plugin off likewise.
            "--disable-admission-plugins=ServiceAccount",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail("kube server exited: " + (data_dir / "server.log").read_text()[-2000:])
            if "kube server is up" in line:
                break
        yield data_dir / "admin.kubeconfig"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        log.close()


@pytest.fixture
async def client(bare_cluster: Path) -> AsyncIterator[RESTClient]:
    async with RESTClient.from_kubeconfig(bare_cluster, qps=None) as c:
        yield c


@contextlib.asynccontextmanager
async def controllers(
    kubeconfig: Path, *names: str, **options: Any
) -> AsyncIterator[ControllerContext]:
    """Run the named controllers in-process until the block ends."""
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as rest:
        ctx = ControllerContext(rest, SharedInformerFactory(rest), options=dict(options))
        ready = asyncio.Event()
        task = asyncio.create_task(run_controllers(ctx, list(names), ready))
        try:
            # Ready once every controller set up its informers and their caches filled.
            waiter = asyncio.ensure_future(ready.wait())
            await asyncio.wait({waiter, task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                waiter.cancel()
                await task  # a controller that failed to start: its error, not a timeout
            assert ready.is_set(), "controllers did not sync within 10 s"
            yield ctx
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


PODS = resolve("pods")
assert PODS is not None


async def set_pod_phase(
    client: RESTClient, pod: dict[str, Any], phase: str, **extra: Any
) -> dict[str, Any]:
    """Play the kubelet: report `phase` (Running means Ready too) through pods/status, with
    `extra` status fields (containerStatuses) in the same write, as a kubelet sends them: a
    controller that saw the phase before the exit codes would judge another failure."""
    meta = pod["metadata"]
    ready = "True" if phase == "Running" else "False"
    now = now_rfc3339()
    status = {
        "phase": phase,
        "conditions": [
            {
                "type": t,
                "status": ready if t in ("Ready", "ContainersReady") else "True",
                "lastTransitionTime": now,
            }
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "startTime": now,
        **extra,
    }
    return await client.patch(
        PODS, meta["name"], {"status": status}, meta["namespace"], subresource="status"
    )


async def eventually(check: Any, seconds: float = 10.0, interval: float = 0.05) -> Any:
    """Poll the async `check()` until it returns a truthy value; fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {seconds}s; last value: {last!r}")
