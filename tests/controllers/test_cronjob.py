"""CronJob schedules (pure) and the CronJob controller on a fake clock against a real server.

The controller's wall time follows its injected clock (`WallClock`), so advancing a FakeClock
by minutes makes schedules come due at once; the requeue for the next due time is a delayed
add on that clock, which is what these tests exercise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.resources import resource
from kube.client.clock import FakeClock
from kube.client.informer import SharedInformerFactory
from kube.client.rest import RESTClient
from kube.controllers.base import ControllerContext
from kube.controllers.cronjob.controller import most_recent_schedule_time
from kube.controllers.cronjob.schedule import CronError, parse
from kube.controllers.manager import run_controllers
from kube.controllers.walltime import WallClock
from tests.controllers.conftest import eventually
from tests.controllers.recording import Recorder

CRONJOBS = resource("cronjobs")
JOBS = resource("jobs")
NAMESPACES = resource("namespaces")
UTC = dt.UTC

# -- schedule parsing ---------------------------------------------------------------------------


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def nexts(spec: str, start: str, count: int = 3) -> list[str]:
    schedule = parse(spec)
    t: dt.datetime | None = at(start)
    out = []
    for _ in range(count):
        assert t is not None
        t = schedule.next(t)
        assert t is not None
        out.append(t.strftime("%Y-%m-%d %H:%M"))
    return out


def test_five_fields_ranges_steps_lists_and_names() -> None:
    assert nexts("*/15 * * * *", "2024-01-01T10:07:00") == [
        "2024-01-01 10:15",
        "2024-01-01 10:30",
        "2024-01-01 10:45",
    ]
    assert nexts("0 9-17/4 * * *", "2024-01-01T10:00:00") == [
        "2024-01-01 13:00",
        "2024-01-01 17:00",
        "2024-01-02 09:00",
    ]
    assert nexts("5,35 1 * jan-feb mon,wed", "2024-01-01T00:00:00", 4) == [
        "2024-01-01 01:05",
        "2024-01-01 01:35",
        "2024-01-03 01:05",
        "2024-01-03 01:35",
    ]
    # `N/step` runs from N to the maximum (robfig).
    assert nexts("50/5 * * * *", "2024-01-01T00:00:00") == [
        "2024-01-01 00:50",
        "2024-01-01 00:55",
        "2024-01-01 01:50",
    ]


def test_day_of_month_or_day_of_week() -> None:
    # Both restricted: either matches (2024-01-02 is a Tuesday).
    assert nexts("0 0 13 * 5", "2024-01-01T00:00:00") == [
        "2024-01-05 00:00",
        "2024-01-12 00:00",
        "2024-01-13 00:00",
    ]
    # One of them `*` or `?`: the other decides alone.
    assert nexts("0 0 ? * 1", "2024-01-01T00:00:00", 2) == ["2024-01-08 00:00", "2024-01-15 00:00"]


def test_descriptors_and_every() -> None:
    assert nexts("@hourly", "2024-01-01T10:30:00", 1) == ["2024-01-01 11:00"]
    assert nexts("@daily", "2024-01-01T10:30:00", 1) == ["2024-01-02 00:00"]
    assert nexts("@midnight", "2024-01-01T10:30:00", 1) == ["2024-01-02 00:00"]
    assert nexts("@weekly", "2024-01-01T10:30:00", 1) == ["2024-01-07 00:00"]
    assert nexts("@monthly", "2024-01-01T10:30:00", 1) == ["2024-02-01 00:00"]
    assert nexts("@yearly", "2024-01-01T10:30:00", 1) == ["2025-01-01 00:00"]
    assert nexts("@annually", "2024-01-01T10:30:00", 1) == ["2025-01-01 00:00"]
    assert nexts("@every 1h30m", "2024-01-01T10:00:00", 2) == [
        "2024-01-01 11:30",
        "2024-01-01 13:00",
    ]


def test_time_zone_prefix_is_honoured() -> None:
    # 09:00 in New York is 14:00 UTC in January.
    assert nexts("TZ=America/New_York 0 9 * * *", "2024-01-01T00:00:00", 1) == ["2024-01-01 14:00"]
    assert nexts("CRON_TZ=Asia/Tokyo 0 9 * * *", "2024-01-01T00:00:00", 1) == ["2024-01-02 00:00"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        (
            "TZ=Mars/Olympus * * * * *",
            "provided bad location Mars/Olympus: unknown time zone Mars/Olympus",
        ),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
    ],
)
def test_rejected_as_robfig_does(spec: str, message: str) -> None:
    with pytest.raises(CronError) as err:
        parse(spec)
    assert str(err.value) == message


def test_impossible_date_has_no_next_time() -> None:
    assert parse("0 0 30 2 *").next(at("2024-01-01T00:00:00")) is None


def test_too_many_missed_times_counted() -> None:
    cronjob = {"metadata": {"creationTimestamp": "2024-01-01T00:00:00Z"}, "spec": {}}
    due = most_recent_schedule_time(cronjob, at("2024-01-01T03:20:30"), parse("* * * * *"), True)
    assert due.most_recent == at("2024-01-01T03:20:00")
    assert due.missed > 100
    due = most_recent_schedule_time(cronjob, at("2024-01-01T00:00:30"), parse("* * * * *"), True)
    assert due.most_recent is None
    assert due.missed == 0


# -- the controller on a fake clock ----------------------------------------------------------------

_ids = itertools.count()


@contextlib.asynccontextmanager
async def fake_time_controllers(
    kubeconfig: Path, *names: str
) -> AsyncIterator[tuple[ControllerContext, Recorder, FakeClock]]:
    """Run controllers whose clock is a FakeClock (the informers keep real time)."""
    clock = FakeClock()
    recorder = Recorder()
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as rest:
        ctx = ControllerContext(rest, SharedInformerFactory(rest), recorder=recorder, clock=clock)
        task = asyncio.create_task(run_controllers(ctx, list(names)))
        try:
            await asyncio.wait_for(ctx.informers.wait_for_cache_sync(), 10)
            yield ctx, recorder, clock
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def namespace(client: RESTClient) -> str:
    name = f"cj-{next(_ids)}-{id(client) % 100000}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def cron_job(name: str, schedule: str = "* * * * *", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"team": "blue"}},
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "busybox"}],
                        }
                    }
                },
            },
            **spec,
        },
    }


async def jobs(client: RESTClient, ns: str) -> list[dict[str, Any]]:
    items = (await client.list(JOBS, ns))["items"]
    return sorted(items, key=lambda j: j["metadata"]["name"])


async def job_count(client: RESTClient, ns: str, count: int) -> list[dict[str, Any]] | None:
    found = await jobs(client, ns)
    return found if len(found) == count else None


async def next_minute(clock: FakeClock, wall: WallClock) -> None:
    """Advance the fake clock just past the next whole minute of the controller's wall time."""
    now = wall.timestamp()
    await clock.advance(60 - now % 60 + 0.5)


async def complete(client: RESTClient, job: dict[str, Any], ns: str, when: str) -> None:
    status = {
        "startTime": when,
        "completionTime": when,
        "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": when},
            {"type": "Complete", "status": "True", "lastTransitionTime": when},
        ],
    }
    await client.patch(JOBS, job["metadata"]["name"], {"status": status}, ns, subresource="status")


def wall_of(ctx: ControllerContext, clock: FakeClock) -> WallClock:
    # The controller anchored its WallClock on this clock when it was built; time.time() moved
    # on by a few milliseconds since, which does not matter at minute granularity.
    del ctx
    return WallClock(clock)


async def test_allow_creates_a_job_each_minute_and_keeps_history(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, events, clock):
        wall = wall_of(ctx, clock)
        cj = await client.create(CRONJOBS, cron_job("tick", successfulJobsHistoryLimit=1), ns)
        await asyncio.sleep(0.3)
        assert await jobs(client, ns) == []
        await next_minute(clock, wall)
        (first,) = await eventually(lambda: job_count(client, ns, 1))
        meta = first["metadata"]
        minute = int(wall.timestamp()) // 60
        assert meta["name"] == f"tick-{minute}"
        assert meta["labels"] == {"team": "blue"}
        scheduled = dt.datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert meta["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == scheduled
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "name": "tick",
                "uid": cj["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]

        async def recorded() -> dict[str, Any] | None:
            status = (await client.get(CRONJOBS, "tick", ns)).get("status", {})
            return status if status.get("lastScheduleTime") == scheduled else None

        status = await eventually(recorded)
        assert [(r["kind"], r["name"]) for r in status["active"]] == [("Job", meta["name"])]
        assert events.messages("SuccessfulCreate", "tick") == [f"Created job {meta['name']}"]

        # Allow: the next minute starts another Job while the first still runs.
        await next_minute(clock, wall)
        two = await eventually(lambda: job_count(client, ns, 2))
        # Both finish: the first completion is reported, the older one goes (limit 1).
        await complete(client, two[0], ns, "2024-01-01T00:00:00Z")
        await complete(client, two[1], ns, "2024-01-01T00:01:00Z")
        (kept,) = await eventually(lambda: job_count(client, ns, 1))
        assert kept["metadata"]["name"] == two[1]["metadata"]["name"]

        async def settled() -> dict[str, Any] | None:
            status = (await client.get(CRONJOBS, "tick", ns)).get("status", {})
            done = not status.get("active") and status.get("lastSuccessfulTime")
            return status if done else None

        status = await eventually(settled)
        assert status["lastSuccessfulTime"] == "2024-01-01T00:01:00Z"
        assert events.messages("SuccessfulDelete", "tick") == [
            f"Deleted job {two[0]['metadata']['name']}"
        ]
        saw = events.messages("SawCompletedJob", "tick")
        assert f"Saw completed job: {two[1]['metadata']['name']}, condition: Complete" in saw


async def test_forbid_skips_while_a_job_runs(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, events, clock):
        wall = wall_of(ctx, clock)
        await client.create(CRONJOBS, cron_job("solo", concurrencyPolicy="Forbid"), ns)
        await asyncio.sleep(0.3)
        await next_minute(clock, wall)
        await eventually(lambda: job_count(client, ns, 1))
        await eventually(
            lambda: _has_active(client, ns, "solo"),
        )
        await next_minute(clock, wall)
        await eventually(lambda: _messages(events, "JobAlreadyActive"))
        assert len(await jobs(client, ns)) == 1
        assert events.messages("JobAlreadyActive", "solo")[0] == (
            "Not starting job because prior execution is running and concurrency policy is Forbid"
        )


async def test_replace_deletes_the_running_job(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, events, clock):
        wall = wall_of(ctx, clock)
        await client.create(CRONJOBS, cron_job("swap", concurrencyPolicy="Replace"), ns)
        await asyncio.sleep(0.3)
        await next_minute(clock, wall)
        (first,) = await eventually(lambda: job_count(client, ns, 1))
        await eventually(lambda: _has_active(client, ns, "swap"))
        await next_minute(clock, wall)

        async def replaced() -> list[dict[str, Any]] | None:
            found = await jobs(client, ns)
            names = [j["metadata"]["name"] for j in found]
            return found if len(found) == 1 and names != [first["metadata"]["name"]] else None

        (second,) = await eventually(replaced)
        assert events.messages("SuccessfulDelete", "swap") == [
            f"Deleted job {first['metadata']['name']}"
        ]

        async def active_is_second() -> bool:
            status = (await client.get(CRONJOBS, "swap", ns)).get("status", {})
            return [r["name"] for r in status.get("active") or []] == [second["metadata"]["name"]]

        await eventually(active_is_second)


async def test_suspended_then_too_many_missed(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, events, clock):
        wall = wall_of(ctx, clock)
        await client.create(CRONJOBS, cron_job("late", suspend=True), ns)
        await asyncio.sleep(0.3)
        await clock.advance(200 * 60)
        await asyncio.sleep(0.3)
        assert await jobs(client, ns) == []
        await client.patch(CRONJOBS, "late", {"spec": {"suspend": False}}, ns)
        (job,) = await eventually(lambda: job_count(client, ns, 1))
        # Only the most recent missed time is run.
        assert job["metadata"]["name"] == f"late-{int(wall.timestamp()) // 60}"
        assert events.messages("TooManyMissedTimes", "late") == [
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or "
            "check clock skew"
        ]


async def test_starting_deadline_skips_missed_times(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, _, clock):
        wall = wall_of(ctx, clock)
        await client.create(
            CRONJOBS,
            cron_job("strict", "*/10 * * * *", suspend=True, startingDeadlineSeconds=30),
            ns,
        )
        await asyncio.sleep(0.3)
        # Move to 2 minutes after a due time, then resume: that time is past its deadline.
        now = wall.timestamp()
        await clock.advance(600 - now % 600 + 120)
        await client.patch(CRONJOBS, "strict", {"spec": {"suspend": False}}, ns)
        await asyncio.sleep(0.5)
        assert await jobs(client, ns) == []
        await clock.advance(8 * 60 + 1)
        await eventually(lambda: job_count(client, ns, 1))


async def _has_active(client: RESTClient, ns: str, name: str) -> bool:
    return bool((await client.get(CRONJOBS, name, ns)).get("status", {}).get("active"))


async def _messages(events: Recorder, reason: str) -> list[str]:
    return events.messages(reason)


async def test_time_zone_sets_the_scheduled_timestamp_offset(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with fake_time_controllers(bare_cluster, "cronjob") as (ctx, _, clock):
        wall = wall_of(ctx, clock)
        await client.create(CRONJOBS, cron_job("india", timeZone="Asia/Kolkata"), ns)
        await asyncio.sleep(0.3)
        await next_minute(clock, wall)
        (job,) = await eventually(lambda: job_count(client, ns, 1))
        minute = int(wall.timestamp()) // 60
        expected = (
            dt.datetime.fromtimestamp(minute * 60, UTC)
            .astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
            .isoformat(timespec="seconds")
        )
        annotations = job["metadata"]["annotations"]
        assert annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] == expected
        assert expected.endswith("+05:30")
