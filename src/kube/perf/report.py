"""`kube bench report RESULT.json... [-o DIR]`: PNG charts of benchmark results, to look at.

From a `kube sim load --output json` result it draws three charts: pods per second over time
(requested, created, scheduled and Running, with the pods Running on a second axis), API call
latency p50/p99 per verb and resource against upstream's 1 s SLO, and CPU and memory of each
component process over time. From a `kube bench scheduler --output json` result (an object, or
a list of them, with `workload` and `throughput_samples`) it draws the scheduling throughput
samples and the latency percentiles. Files are named after the result file:
`<DIR>/<stem>-throughput.png` and so on; the paths written are printed one a line.

A file that is missing, not JSON, or not one of these results is one line on stderr and exit
code 2, before any chart is drawn. matplotlib runs headless (the Agg backend).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import orjson

SLO_MUTATING_MS = 1000.0
TOP_CALLS = 15  # API calls charted, busiest first


class BadResult(Exception):
    """A result file the report cannot read: the message is the one line the user sees."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=Path("bench-report"), help="where PNGs go"
    )


def run(args: argparse.Namespace) -> int:
    try:
        loaded = [(path, load(path)) for path in args.results]
    except BadResult as err:
        print(f"kube bench report: {err}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for path, (kind, data) in loaded:
        if kind == "load":
            written = load_charts(data[0], args.output_dir, path.stem)
        else:
            written = scheduler_charts(data, args.output_dir, path.stem)
        for out in written:
            print(out)
    return 0


def load(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """("load" | "scheduler", the result objects) of one file, or BadResult."""
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as err:
        raise BadResult(f"{path}: {err.strerror or err}") from None
    except orjson.JSONDecodeError as err:
        raise BadResult(f"{path}: not JSON ({err})") from None
    if isinstance(data, dict) and data.get("kind") == "SimLoadResult":
        if not isinstance(data.get("timeline"), list):
            raise BadResult(f"{path}: a sim load result without a timeline")
        return "load", [data]
    items = data if isinstance(data, list) else [data]
    if items and all(
        isinstance(i, dict) and "workload" in i and isinstance(i.get("throughput_samples"), list)
        for i in items
    ):
        return "scheduler", items
    raise BadResult(
        f"{path}: not a `kube sim load --output json` or `kube bench scheduler --output json` "
        "result"
    )


def _rates(timeline: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    ts, rates = [], []
    for a, b in itertools.pairwise(timeline):
        dt = float(b["t"]) - float(a["t"])
        if dt > 0:
            ts.append(float(b["t"]))
            rates.append((float(b[key]) - float(a[key])) / dt)
    return ts, rates


def load_charts(result: dict[str, Any], out: Path, stem: str) -> list[Path]:
    """Throughput over time, API latency per call, components' CPU and memory."""
    import matplotlib.pyplot as plt

    written = []
    title = (
        f"kube sim load --profile {result.get('profile')}: {result.get('nodes_ready')} nodes, "
        f"{result.get('pods_per_second')} pods/s"
    )
    timeline = result["timeline"]

    fig, ax = plt.subplots(figsize=(10, 5))
    for key, label in (
        ("created", "created"),
        ("scheduled", "scheduled"),
        ("running", "Running"),
    ):
        ts, rates = _rates(timeline, key)
        ax.plot(ts, rates, label=f"{label} /s", linewidth=1)
    ax.set_xlabel("seconds")
    ax.set_ylabel("pods per second")
    ax2 = ax.twinx()
    ax2.plot(
        [float(r["t"]) for r in timeline],
        [int(r["live_running"]) for r in timeline],
        color="black",
        linestyle="--",
        label="pods Running",
    )
    ax2.set_ylabel("pods Running")
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    startup = result.get("pod_startup_ms") or {}
    ax.set_title(
        f"{title}\npod startup p50 {startup.get('p50', 0) / 1000:.2f}s, "
        f"p99 {startup.get('p99', 0) / 1000:.2f}s (SLO 5 s)"
    )
    written.append(_save(fig, out / f"{stem}-throughput.png"))

    calls = sorted(result.get("api_latency") or [], key=lambda r: -int(r["count"]))[:TOP_CALLS]
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.4 * len(calls) + 1.5)))
    names = [
        f"{c['verb']} {c['resource']}{'/' + c['subresource'] if c['subresource'] else ''}"
        f" ({c['scope']})"
        for c in calls
    ]
    ys = list(range(len(calls)))
    ax.barh([y + 0.2 for y in ys], [c["p50_ms"] for c in calls], height=0.4, label="p50")
    ax.barh([y - 0.2 for y in ys], [c["p99_ms"] for c in calls], height=0.4, label="p99")
    ax.axvline(SLO_MUTATING_MS, color="red", linestyle=":", label="SLO 1 s (mutating p99)")
    ax.set_yticks(ys, names)
    ax.invert_yaxis()
    ax.set_xlabel("ms (from apiserver_request_duration_seconds buckets)")
    ax.set_title(f"{title}\nAPI call latency, busiest {len(calls)} calls")
    ax.legend(loc="lower right")
    written.append(_save(fig, out / f"{stem}-api-latency.png"))

    components = result.get("components") or {}
    fig, (cpu, mem) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, comp in components.items():
        samples = comp.get("samples") or []
        ts = [float(s["t"]) for s in samples]
        cpu.plot(ts, [float(s["cpu_cores"]) for s in samples], label=name, linewidth=1)
        mem.plot(ts, [float(s["rss_mb"]) for s in samples], label=name, linewidth=1)
    cpu.set_ylabel("CPU (cores)")
    mem.set_ylabel("RSS (MiB)")
    mem.set_xlabel("seconds")
    cpu.set_title(f"{title}\ncomponent processes")
    if components:
        cpu.legend(loc="upper left")
    written.append(_save(fig, out / f"{stem}-components.png"))
    return written


def scheduler_charts(results: list[dict[str, Any]], out: Path, stem: str) -> list[Path]:
    """Scheduling throughput samples per workload, and latency percentiles per workload."""
    import matplotlib.pyplot as plt

    fig, (thr, lat) = plt.subplots(2, 1, figsize=(10, 7))
    for r in results:
        samples = [float(s) for s in r["throughput_samples"]]
        thr.plot(range(1, len(samples) + 1), samples, label=str(r["workload"]), linewidth=1)
    thr.set_xlabel("sample (s)")
    thr.set_ylabel("pods scheduled /s")
    thr.legend(loc="upper left")
    thr.set_title("kube bench scheduler")
    keys = [k for k in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms") if k in results[0]]
    width = 0.8 / max(1, len(keys))
    for i, key in enumerate(keys):
        lat.bar(
            [j + i * width for j in range(len(results))],
            [float(r.get(key) or 0) for r in results],
            width=width,
            label=key.removeprefix("latency_").removesuffix("_ms"),
        )
    lat.set_xticks(
        [j + width * (len(keys) - 1) / 2 for j in range(len(results))],
        [str(r["workload"]) for r in results],
    )
    lat.set_ylabel("scheduling latency (ms)")
    if keys:
        lat.legend()
    return [_save(fig, out / f"{stem}-scheduler.png")]


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
