"""ttl-after-finished: a finished Job goes `ttlSecondsAfterFinished` after it finished."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.api.resources import resource
from kube.client.clock import FakeClock
from kube.client.informer import SharedInformerFactory
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.manager import run_controllers
from kube.controllers.ttlafterfinished import finish_time, needs_cleanup, time_left
from kube.controllers.walltime import WallClock, rfc3339
from tests.controllers.conftest import eventually

JOBS = resource("jobs")
NAMESPACES = resource("namespaces")
_ids = itertools.count()


@contextlib.asynccontextmanager
async def fake_time(kubeconfig: Path, *names: str) -> AsyncIterator[FakeClock]:
    clock = FakeClock()
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as rest:
        ctx = ControllerContext(rest, SharedInformerFactory(rest), clock=clock)
        task = asyncio.create_task(run_controllers(ctx, list(names)))
        try:
            await asyncio.wait_for(ctx.informers.wait_for_cache_sync(), 10)
            yield clock
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def job(name: str, ttl: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
        }
    }
    if ttl is not None:
        spec["ttlSecondsAfterFinished"] = ttl
    return {"metadata": {"name": name}, "spec": spec}


async def finish(client: RESTClient, ns: str, name: str, when: str, kind: str = "Complete") -> None:
    conditions = [{"type": kind, "status": "True", "lastTransitionTime": when}]
    status: dict[str, Any] = {"startTime": when, "conditions": conditions}
    if kind == "Complete":
        status["completionTime"] = when
        status["succeeded"] = 1
        conditions.insert(
            0, {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": when}
        )
    else:
        conditions.insert(
            0, {"type": "FailureTarget", "status": "True", "lastTransitionTime": when}
        )
        status["failed"] = 1
    await client.patch(JOBS, name, {"status": status}, ns, subresource="status")


async def test_finished_jobs_are_deleted_after_their_ttl(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = f"ttl-{next(_ids)}-{id(client) % 100000}"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    async with fake_time(bare_cluster, "ttl-after-finished") as clock:
        wall = WallClock(clock)
        for name, ttl in (("done", 60), ("broken", 60), ("keep", None), ("running", 60)):
            await client.create(JOBS, job(name, ttl), ns)
        now = rfc3339(wall.now())
        await finish(client, ns, "done", now)
        await finish(client, ns, "broken", now, "Failed")
        await finish(client, ns, "keep", now)
        await asyncio.sleep(0.3)
        await clock.advance(30)
        await asyncio.sleep(0.3)
        for name in ("done", "broken", "keep", "running"):
            assert not (await client.get(JOBS, name, ns))["metadata"].get("deletionTimestamp")
        await clock.advance(31)

        async def deleting(name: str) -> dict[str, Any] | None:
            try:
                obj = await client.get(JOBS, name, ns)
            except APIError as err:
                return {"gone": True} if err.code == 404 else None
            return obj if obj["metadata"].get("deletionTimestamp") else None

        for name in ("done", "broken"):
            obj = await eventually(lambda name=name: deleting(name))
            # Foreground: the Job waits for the garbage collector to delete its pods first.
            assert obj["metadata"]["finalizers"] == ["foregroundDeletion"]
        for name in ("keep", "running"):
            assert not (await client.get(JOBS, name, ns))["metadata"].get("deletionTimestamp")


def test_time_left() -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    obj = job("x", 100)
    assert not needs_cleanup(obj)
    obj["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": rfc3339(when)}]
    }
    assert needs_cleanup(obj)
    assert finish_time(obj) == when
    assert time_left(obj, when + dt.timedelta(seconds=30)) == 70
    obj["status"]["conditions"][0].pop("lastTransitionTime")
    with pytest.raises(ValueError, match="unable to find the time when the Job"):
        finish_time(obj)
