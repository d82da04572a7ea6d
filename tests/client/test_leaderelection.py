"""Leader election against a real API server, with time on a FakeClock.

The Lease is real (created, renewed, taken over and released through the API); only the
passing of time is fake, so "15 seconds later" takes milliseconds and is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kube.api.resources import resource
from kube.client.clock import FakeClock
from kube.client.leaderelection import LeaderElector, micro_time, validate
from kube.client.rest import RESTClient

LEASES = resource("leases")
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Candidate(LeaderElector):
    """An elector that counts its attempts in flight, so the test knows when it is idle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inflight = 0
        self.started = 0
        self.stopped = 0
        self.leading_cancelled = 0
        self.task: asyncio.Task[None] | None = None

    async def try_acquire_or_renew(self) -> bool:
        self.inflight += 1
        try:
            return await super().try_acquire_or_renew()
        finally:
            self.inflight -= 1

    async def _lead(self) -> None:
        self.started += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.leading_cancelled += 1
            raise

    def _stop(self) -> None:
        self.stopped += 1

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(self._lead, self._stop))

    async def halt(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def idle(candidates: list[Candidate]) -> None:
    """Wait (real time) until no candidate has a request in flight."""
    for _ in range(500):
        await asyncio.sleep(0.005)
        if all(c.inflight == 0 for c in candidates):
            await asyncio.sleep(0.005)
            if all(c.inflight == 0 for c in candidates):
                return
    raise AssertionError("requests still in flight after 2.5 s")


async def run_for(
    clock: FakeClock,
    candidates: list[Candidate],
    seconds: float,
    until: Callable[[], bool] | None = None,
    step: float = 0.5,
) -> float:
    """Advance fake time in steps, letting requests finish; the fake seconds it took."""
    start = clock.now()
    await idle(candidates)
    while clock.now() - start < seconds:
        if until is not None and until():
            break
        await clock.advance(step)
        await idle(candidates)
    return clock.now() - start


@pytest.fixture
def lease_name() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def two(client: RESTClient, name: str, **options: Any) -> AsyncIterator[list[Candidate]]:
    clock = FakeClock()
    candidates = [
        Candidate(
            client, namespace="default", name=name, identity=f"cand-{i}", clock=clock, **options
        )
        for i in (1, 2)
    ]
    try:
        yield candidates
    finally:
        for c in candidates:
            if c.task is not None and not c.task.done():
                await c.halt()


async def lease_spec(client: RESTClient, name: str) -> dict[str, Any]:
    lease = await client.get(LEASES, name, "default")
    return dict(lease["spec"])


def leaders(candidates: list[Candidate]) -> list[Candidate]:
    return [c for c in candidates if c.started - c.stopped > 0]


async def test_exactly_one_of_two_leads_and_keeps_renewing(
    client: RESTClient, lease_name: str
) -> None:
    async with two(client, lease_name) as cands:
        clock = cands[0].clock
        assert isinstance(clock, FakeClock)
        for c in cands:
            c.start()
        await run_for(clock, cands, 5, until=lambda: bool(leaders(cands)))
        [leader] = leaders(cands)
        spec = await lease_spec(client, lease_name)
        assert spec["holderIdentity"] == leader.identity
        assert spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0
        assert MICRO.match(spec["acquireTime"])
        assert MICRO.match(spec["renewTime"])
        first_renew = spec["renewTime"]

        # A minute later: still one leader, the same one, renewing (renewTime moves on).
        await run_for(clock, cands, 60)
        assert leaders(cands) == [leader]
        spec = await lease_spec(client, lease_name)
        assert spec["holderIdentity"] == leader.identity
        assert spec["renewTime"] > first_renew
        assert spec["leaseTransitions"] == 0
        assert all(c.stopped == 0 for c in cands)


async def test_the_other_takes_over_after_the_lease_duration_when_the_leader_dies(
    client: RESTClient, lease_name: str
) -> None:
    # release_on_cancel=False: cancelling is then a crash (kill -9), the Lease stays as it was.
    async with two(client, lease_name, release_on_cancel=False) as cands:
        clock = cands[0].clock
        assert isinstance(clock, FakeClock)
        for c in cands:
            c.start()
        await run_for(clock, cands, 5, until=lambda: bool(leaders(cands)))
        [leader] = leaders(cands)
        [standby] = [c for c in cands if c is not leader]
        await run_for(clock, cands, 10)
        acquired = (await lease_spec(client, lease_name))["acquireTime"]

        await leader.halt()
        assert (await lease_spec(client, lease_name))["holderIdentity"] == leader.identity

        # Not before the lease duration has passed since the standby last saw it renewed...
        await run_for(clock, [standby], 12)
        assert standby.started == 0
        # ...but soon after (the standby's own retry period, jittered, on top).
        took = await run_for(clock, [standby], 20, until=lambda: standby.started == 1)
        assert standby.started == 1
        # Expired 15 s after the standby last saw a renewal (up to one jittered retry after
        # the last one), taken at the standby's next retry.
        assert 12 + took <= 15 + 2 * (2 * 2.2) + 0.5
        spec = await lease_spec(client, lease_name)
        assert spec["holderIdentity"] == standby.identity
        assert spec["leaseTransitions"] == 1
        assert spec["acquireTime"] != acquired


async def test_release_lets_the_other_take_over_at_once(
    client: RESTClient, lease_name: str
) -> None:
    async with two(client, lease_name) as cands:
        clock = cands[0].clock
        assert isinstance(clock, FakeClock)
        for c in cands:
            c.start()
        await run_for(clock, cands, 5, until=lambda: bool(leaders(cands)))
        [leader] = leaders(cands)
        [standby] = [c for c in cands if c is not leader]
        await run_for(clock, cands, 4)

        await leader.halt()  # a clean shutdown: ReleaseOnCancel
        assert leader.leading_cancelled == 1
        assert leader.stopped == 1
        spec = await lease_spec(client, lease_name)
        assert spec["holderIdentity"] == ""
        assert spec["leaseDurationSeconds"] == 1

        took = await run_for(clock, [standby], 10, until=lambda: standby.started == 1)
        assert standby.started == 1
        assert took <= 2 * 2.2 + 0.5  # one retry period, not a lease duration
        spec = await lease_spec(client, lease_name)
        assert spec["holderIdentity"] == standby.identity
        assert spec["leaseTransitions"] == 1


async def test_a_leader_that_cannot_renew_steps_down_after_the_renew_deadline(
    client: RESTClient, lease_name: str
) -> None:
    clock = FakeClock()
    leader = Candidate(client, namespace="default", name=lease_name, identity="me", clock=clock)
    leader.start()
    await run_for(clock, [leader], 5, until=lambda: leader.started == 1)
    assert leader.started == 1

    # Someone else writes the Lease (as a partitioned leader would see it): renewals now fail.
    lease = await client.get(LEASES, lease_name, "default")
    now = micro_time()
    lease["spec"].update(holderIdentity="intruder", renewTime=now, acquireTime=now)
    await client.update(LEASES, lease)

    await run_for(clock, [leader], 9)
    assert leader.stopped == 0  # still within the renew deadline
    await run_for(clock, [leader], 5, until=lambda: leader.stopped == 1)
    assert leader.stopped == 1
    assert leader.leading_cancelled == 1
    assert leader.task is not None
    await asyncio.wait_for(leader.task, 5)  # run() returns
    # It did not release what is not its own.
    assert (await lease_spec(client, lease_name))["holderIdentity"] == "intruder"


async def test_a_leading_callable_that_fails_ends_run_and_releases(
    client: RESTClient, lease_name: str
) -> None:
    elector = LeaderElector(client, namespace="default", name=lease_name, identity="x")

    async def lead() -> None:
        raise RuntimeError("controllers crashed")

    with pytest.raises(RuntimeError, match="controllers crashed"):
        await asyncio.wait_for(elector.run(lead), 10)
    assert (await lease_spec(client, lease_name))["holderIdentity"] == ""


async def test_a_conflicting_create_is_a_lost_race_not_an_error(
    client: RESTClient, lease_name: str
) -> None:
    a = LeaderElector(client, namespace="default", name=lease_name, identity="a")
    b = LeaderElector(client, namespace="default", name=lease_name, identity="b")
    results = await asyncio.gather(a.try_acquire_or_renew(), b.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    winner = a if results[0] else b
    assert (await lease_spec(client, lease_name))["holderIdentity"] == winner.identity


def test_timings_are_checked_as_client_go_checks_them() -> None:
    validate(15, 10, 2)
    with pytest.raises(ValueError, match="leaseDuration must be greater than renewDeadline"):
        validate(10, 10, 2)
    with pytest.raises(ValueError, match=r"renewDeadline must be greater than retryPeriod\*Jitter"):
        validate(15, 2, 2)
    with pytest.raises(ValueError, match="retryPeriod must be greater than zero"):
        validate(15, 10, 0)


def test_micro_time_has_six_fractional_digits() -> None:
    assert MICRO.match(micro_time())
