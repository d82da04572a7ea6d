"""Storage workloads shared by the pytest-benchmark suite and `python -m bench.storage_report`.

Each workload takes a started `Backend` and returns plain figures (operations per second or
latencies in seconds), so the same code measures SQLite and etcd side by side in one run.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kube.storage.backend import Backend

VALUE = b"x" * 512  # about the size of a small ConfigMap or Lease in protobuf
_run_ids = itertools.count()


def fresh_prefix(name: str) -> str:
    """A key prefix no earlier workload in this process used (etcd is shared between runs)."""
    return f"/registry/bench-{name}-{next(_run_ids)}/"


@dataclass(frozen=True)
class Latencies:
    samples: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return self.percentile(99)


async def sequential_creates(store: Backend, n: int) -> float:
    """Creates/s with one writer awaiting each create."""
    prefix = fresh_prefix("seq")
    start = time.perf_counter()
    for i in range(n):
        await store.create(f"{prefix}{i}", VALUE)
    return n / (time.perf_counter() - start)


async def concurrent_creates(store: Backend, n: int, writers: int = 64) -> float:
    """Creates/s with `writers` coroutines each awaiting its own creates."""
    prefix = fresh_prefix("par")

    async def writer(w: int) -> None:
        for i in range(w, n, writers):
            await store.create(f"{prefix}{i}", VALUE)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return n / (time.perf_counter() - start)


async def fill(store: Backend, prefix: str, n: int, writers: int = 64) -> None:
    async def writer(w: int) -> None:
        for i in range(w, n, writers):
            await store.create(f"{prefix}{i:06d}", VALUE)

    await asyncio.gather(*(writer(w) for w in range(writers)))


async def get_latency(store: Backend, keys: int = 1000, reads: int = 2000) -> Latencies:
    prefix = fresh_prefix("get")
    await fill(store, prefix, keys)
    samples = []
    for i in range(reads):
        key = f"{prefix}{i % keys:06d}"
        start = time.perf_counter()
        await store.get(key)
        samples.append(time.perf_counter() - start)
    return Latencies(samples)


async def list_latency(store: Backend, keys: int = 10_000, rounds: int = 5) -> Latencies:
    prefix = fresh_prefix("list")
    await fill(store, prefix, keys)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = await store.list(prefix)
        samples.append(time.perf_counter() - start)
        assert len(result.kvs) == keys
    return Latencies(samples)


async def watch_latency(store: Backend, writes: int = 1000) -> Latencies:
    """Time from the start of a create to its event arriving on a watch of the prefix."""
    prefix = fresh_prefix("watch")
    started: dict[str, float] = {}
    samples: list[float] = []
    events = store.watch(prefix, since=await store.current_revision())
    done = asyncio.Event()

    async def consume() -> None:
        async for event in events:
            samples.append(time.perf_counter() - started[event.kv.key])
            if len(samples) == writes:
                done.set()
                return

    consumer = asyncio.create_task(consume())
    for i in range(writes):
        key = f"{prefix}{i}"
        started[key] = time.perf_counter()
        await store.create(key, VALUE)
    await asyncio.wait_for(done.wait(), 30)
    await consumer
    await events.aclose()  # type: ignore[attr-defined]
    return Latencies(samples)


WORKLOADS: dict[str, Callable[[Backend], Awaitable[float | Latencies]]] = {
    "sequential creates/s": lambda s: sequential_creates(s, 3000),
    "creates/s, 64 writers": lambda s: concurrent_creates(s, 20_000),
    "get latency": get_latency,
    "list 10,000 keys": list_latency,
    "watch delivery latency": watch_latency,
}
