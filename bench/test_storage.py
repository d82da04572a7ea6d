"""pytest-benchmark: each storage workload on SQLite and on a real etcd, grouped side by side.

Run with `make bench` (or `pytest bench/test_storage.py --benchmark-only`). Throughput
workloads report the time of one batch; `extra_info` carries ops/s and latency percentiles.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.storage_workloads import WORKLOADS, Latencies
from kube.storage.backend import Backend
from kube.storage.etcd import EtcdBackend
from kube.storage.sqlite import SQLiteBackend
from tests.support.etcd import EtcdProcess


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess() as process:
        yield process


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("kind", ["sqlite", "etcd"])
def test_storage(benchmark: Any, etcd: EtcdProcess, kind: str, workload: str) -> None:
    benchmark.group = f"storage: {workload}"
    benchmark.name = kind

    async def once() -> float | Latencies:
        with tempfile.TemporaryDirectory() as tmp:
            store: Backend = (
                SQLiteBackend(Path(tmp) / "state.db")
                if kind == "sqlite"
                else EtcdBackend(etcd.endpoints)
            )
            await store.start()
            try:
                return await WORKLOADS[workload](store)
            finally:
                await store.close()

    result = benchmark.pedantic(lambda: asyncio.run(once()), rounds=1, iterations=1)
    if isinstance(result, Latencies):
        benchmark.extra_info["p50_ms"] = result.p50 * 1e3
        benchmark.extra_info["p99_ms"] = result.p99 * 1e3
    else:
        benchmark.extra_info["ops_per_s"] = result
