"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's tools/leaderelection.

Several copies of a component (the controller-manager, the scheduler) run at once; one leads
and the others stand by. The Lease `namespace/name` records who leads:

    spec.holderIdentity        the leader's identity (`<hostname>_<uuid>`), "" once released
    spec.leaseDurationSeconds  how long the others wait without seeing it renewed
    spec.acquireTime           when the current holder took it (MicroTime, microseconds)
    spec.renewTime             when the holder last renewed it
    spec.leaseTransitions      how many times it changed hands

`LeaderElector.run(on_started_leading, on_stopped_leading)` follows client-go's loop:

- acquire: try every `retry_period` (jittered by up to 1.2x, client-go's JitterFactor) to create
  the Lease or, once it has expired, take it over with an update carrying the resourceVersion
  last read (compare-and-swap: of two candidates only one update succeeds);
- lead: start `on_started_leading()` as a task and renew the Lease every `retry_period`;
- lose: if no renewal succeeds within `renew_deadline`, cancel the leading task and call
  `on_stopped_leading()`; `run` then returns;
- stop: cancelling `run` cancels the leading task and, with `release_on_cancel` (client-go's
  ReleaseOnCancel, on by default here), releases the Lease — holderIdentity "" and
  leaseDurationSeconds 1 — so a standby takes over at once instead of after a lease duration.

Expiry is judged as client-go judges it, on this process's own clock: a Lease is still held
while `observed_at + leaseDurationSeconds` lies in the future, where `observed_at` is when this
elector last saw the record change. Comparing the wall-clock `renewTime` written by another
machine would make the election depend on clock skew between machines; local observation only
needs the clocks to run at the same rate. The injected `Clock` makes that testable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.clock import Clock, RealClock
from kube.client.rest import RESTClient

log = logging.getLogger("kube.leaderelection")

LEASES = resource("leases")

# client-go's JitterFactor: acquisition retries wait retry_period * (1 + rand * 1.2).
JITTER_FACTOR = 1.2


class Recorder(Protocol):
    """What the elector needs of an event recorder (`kube.client.events.EventRecorder`)."""

    def event(self, obj: Object, event_type: str, reason: str, message: str) -> None: ...


def default_identity() -> str:
    """`<hostname>_<uuid>`, as kube-controller-manager builds its leader-election id."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def micro_time(when: dt.datetime | None = None) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    when = when or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validate(lease_duration: float, renew_deadline: float, retry_period: float) -> None:
    """client-go's NewLeaderElector checks, with its messages; ValueError if one fails."""
    if lease_duration <= renew_deadline:
        raise ValueError("leaseDuration must be greater than renewDeadline")
    if renew_deadline <= JITTER_FACTOR * retry_period:
        raise ValueError("renewDeadline must be greater than retryPeriod*JitterFactor")
    if lease_duration <= 0:
        raise ValueError("leaseDuration must be greater than zero")
    if renew_deadline <= 0:
        raise ValueError("renewDeadline must be greater than zero")
    if retry_period <= 0:
        raise ValueError("retryPeriod must be greater than zero")


class LeaderElector:
    """One candidate for the leadership of `namespace/name`."""

    def __init__(
        self,
        client: RESTClient,
        *,
        namespace: str = "kube-system",
        name: str = "kube-controller-manager",
        identity: str | None = None,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        clock: Clock | None = None,
        release_on_cancel: bool = True,
        recorder: Recorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        validate(lease_duration, renew_deadline, retry_period)
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity if identity is not None else default_identity()
        if not self.identity:
            raise ValueError("Lock identity is empty")
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock: Clock = clock or RealClock()
        self.release_on_cancel = release_on_cancel
        self.recorder = recorder
        self._rng = rng or random.Random()
        # The Lease as last read or written (its resourceVersion is the CAS precondition).
        self._lease: Object | None = None
        # The record last observed and when (on self.clock) it was observed to change.
        self._observed: dict[str, Any] = {}
        self._observed_at = 0.0

    @property
    def description(self) -> str:
        return f"{self.namespace}/{self.name}"

    def leader(self) -> str:
        """The holder this elector last observed ("" if none)."""
        return str(self._observed.get("holderIdentity") or "")

    def is_leader(self) -> bool:
        return self.leader() == self.identity

    # -- the loop ----------------------------------------------------------------------------

    async def run(
        self,
        on_started_leading: Callable[[], Coroutine[Any, Any, None]],
        on_stopped_leading: Callable[[], Awaitable[None] | None] | None = None,
    ) -> None:
        """Wait to lead, lead until the Lease is lost, then return.

        `on_started_leading()` runs as a task while this elector leads; it is cancelled when
        leadership is lost or `run` is cancelled. If it ends on its own, `run` stops renewing,
        releases the Lease and returns (re-raising its exception, if it raised one).
        `on_stopped_leading()` is called once leadership ends, after the leading task is done.
        """
        await self._acquire()
        leading = asyncio.create_task(on_started_leading(), name=f"leading-{self.name}")
        renewing = asyncio.create_task(self._renew(), name=f"renew-{self.name}")
        try:
            await asyncio.wait({leading, renewing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (renewing, leading):
                task.cancel()
            await asyncio.gather(renewing, leading, return_exceptions=True)
            if self.release_on_cancel:
                await self.release()
            if on_stopped_leading is not None:
                result = on_stopped_leading()
                if result is not None:
                    await result
        if not leading.cancelled() and (err := leading.exception()) is not None:
            raise err

    async def _acquire(self) -> None:
        log.info("attempting to acquire leader lease %s...", self.description)
        while True:
            if await self.try_acquire_or_renew():
                log.info("successfully acquired lease %s", self.description)
                self._record("became leader")
                return
            log.debug("lease %s is held by %r", self.description, self.leader())
            jitter = self.retry_period * self._rng.random() * JITTER_FACTOR
            await self.clock.sleep(self.retry_period + jitter)

    async def _renew(self) -> None:
        """Renew every retry_period; return once a renewal has not succeeded in time."""
        while True:
            deadline = self.clock.now() + self.renew_deadline
            while not await self._before(self.try_acquire_or_renew(), deadline):
                remaining = deadline - self.clock.now()
                if remaining <= 0:
                    log.info(
                        "failed to renew lease %s: timed out waiting for the condition",
                        self.description,
                    )
                    self._record("stopped leading")
                    return
                await self.clock.sleep(min(self.retry_period, remaining))
            await self.clock.sleep(self.retry_period)

    async def _before(self, attempt: Coroutine[Any, Any, bool], deadline: float) -> bool:
        """`attempt`'s answer if it comes before `deadline` on the clock, else False."""
        work = asyncio.ensure_future(attempt)
        timer = asyncio.ensure_future(self.clock.sleep_until(deadline))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
            return work.done() and not work.cancelled() and work.result()
        finally:
            for task in (work, timer):
                task.cancel()
            await asyncio.gather(work, timer, return_exceptions=True)

    # -- one attempt -------------------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """client-go's tryAcquireOrRenew: one attempt, True if this elector now holds the Lease."""
        try:
            return await self._try_acquire_or_renew()
        except asyncio.CancelledError:
            raise
        except Exception as err:  # any failure is "not this time", retried later
            log.warning("error retrieving resource lock %s: %s", self.description, err)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        now = self.clock.now()
        stamp = micro_time()
        record: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.lease_duration),
            "acquireTime": stamp,
            "renewTime": stamp,
            "leaseTransitions": 0,
        }
        # 1. Fast path: the leader updates optimistically with the Lease it last wrote.
        if self.is_leader() and self._valid(now) and self._lease is not None:
            record["acquireTime"] = self._observed.get("acquireTime", stamp)
            record["leaseTransitions"] = self._observed.get("leaseTransitions", 0)
            try:
                await self._update(record)
                return True
            except APIError as err:
                log.info("failed to update lock optimistically: %s, falling back to slow path", err)

        # 2. Read the Lease, or create it.
        try:
            lease = await self.client.get(LEASES, self.name, self.namespace)
        except APIError as err:
            if err.code != 404:
                log.warning("error retrieving resource lock %s: %s", self.description, err)
                return False
            try:
                created = await self.client.create(
                    LEASES,
                    {"metadata": {"name": self.name, "namespace": self.namespace}, "spec": record},
                    self.namespace,
                )
            except APIError as create_err:
                log.info("error initially creating leader election record: %s", create_err)
                return False
            self._lease = created
            self._observe(record)
            return True

        # 3. Someone else's record: is it still valid?
        self._lease = lease
        old = _record_of(lease)
        if old != self._observed:
            self._observe(old)
        if old.get("holderIdentity") and self._valid(self.clock.now()) and not self.is_leader():
            log.debug("lock is held by %s and has not yet expired", old["holderIdentity"])
            return False

        # 4. Ours to renew, or expired/released and ours to take.
        if self.is_leader():
            record["acquireTime"] = old.get("acquireTime") or stamp
            record["leaseTransitions"] = old.get("leaseTransitions") or 0
        else:
            record["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
        try:
            await self._update(record)
        except APIError as err:
            log.info("failed to update lock %s: %s", self.description, err)
            return False
        return True

    async def _update(self, record: dict[str, Any]) -> None:
        """Write `record` over the Lease last read; a Conflict means someone else wrote first."""
        assert self._lease is not None
        lease = dict(self._lease)
        lease["spec"] = {**dict(lease.get("spec") or {}), **record}
        self._lease = await self.client.update(LEASES, lease)
        self._observe(record)

    def _observe(self, record: dict[str, Any]) -> None:
        self._observed = dict(record)
        self._observed_at = self.clock.now()

    def _valid(self, now: float) -> bool:
        """client-go's isLeaseValid: observed_at + leaseDurationSeconds is still ahead."""
        seconds = float(self._observed.get("leaseDurationSeconds") or 0)
        return self._observed_at + seconds > now

    # -- giving it up ------------------------------------------------------------------------

    async def release(self) -> bool:
        """Give the Lease up if this elector holds it (holderIdentity "", duration 1 s).

        Bounded by renew_deadline of real time: it runs on shutdown, when nothing else should
        keep the process alive. True when nothing is held any more.
        """
        if not self.is_leader():
            return True
        try:
            async with asyncio.timeout(self.renew_deadline):
                while True:
                    self._lease = await self.client.get(LEASES, self.name, self.namespace)
                    if _record_of(self._lease).get("holderIdentity") != self.identity:
                        self._observe(_record_of(self._lease))
                        return True
                    stamp = micro_time()
                    try:
                        await self._update(
                            {
                                "holderIdentity": "",
                                "leaseDurationSeconds": 1,
                                "acquireTime": stamp,
                                "renewTime": stamp,
                                "leaseTransitions": self._observed.get("leaseTransitions") or 0,
                            }
                        )
                    except APIError as err:
                        if err.code != 409:
                            raise
                        continue  # a renewal in flight moved it on: read again, still ours?
                    break
        except (APIError, TimeoutError, OSError) as err:
            log.error("failed to release lock %s: %s", self.description, err)
            return False
        log.info("released lease %s", self.description)
        return True

    def _record(self, what: str) -> None:
        if self.recorder is not None and self._lease is not None:
            self.recorder.event(self._lease, "Normal", "LeaderElection", f"{self.identity} {what}")


def _record_of(lease: Object) -> dict[str, Any]:
    spec = lease.get("spec") or {}
    keys = ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime")
    record = {key: spec.get(key) for key in keys}
    record["leaseTransitions"] = spec.get("leaseTransitions") or 0
    return record


class LeadershipLost(Exception):
    """The Lease could not be renewed in time; upstream exits with "leaderelection lost"."""


async def lead_while_elected(
    client: RESTClient,
    lead: Callable[[], Coroutine[Any, Any, None]],
    *,
    elect: bool,
    namespace: str,
    name: str,
    lease_duration: float,
    renew_deadline: float,
    retry_period: float,
    recorder: Recorder | None = None,
    ready: asyncio.Event | None = None,
    rejoin: bool = False,
) -> None:
    """A component's main loop: `lead()` at once (`elect` False), or whenever this process
    holds the Lease `namespace/name`. `ready` is set once it is leading or standing by.

    Losing the Lease raises LeadershipLost (upstream's components exit), unless `rejoin`:
    then it stands by again, as a component inside `kube server` does.
    """
    if not elect:
        if ready is not None:
            ready.set()
        await lead()
        return
    elector = LeaderElector(
        client,
        namespace=namespace,
        name=name,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
        recorder=recorder,
    )
    log.info("leader election id %s", elector.identity)
    if ready is not None:
        ready.set()
    while True:
        await elector.run(lead)
        log.error("leaderelection lost")
        if not rejoin:
            raise LeadershipLost("leaderelection lost")
