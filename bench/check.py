"""The performance gate: a pytest-benchmark JSON against the baselines in `bench/baselines/`.

Two kinds of check, both read from one results file (`make bench` writes
`bench/results/latest.json`):

- ratio checks (`bench/baselines/ratios.json`): the median of a slow implementation (the
  pure-Python reference) over the median of a fast one (the native kernel), both measured in
  the same run. A ratio holds on a noisy or slower machine because both sides slow down
  together, so these are what `.ci/run` gates on. Each has a floor chosen from measured values
  with headroom; a ratio below its floor fails. Every benchmark whose name says `native` must be
  the fast side of some ratio check, so a new kernel cannot join the suite ungated.
- median checks (`bench/baselines/medians.json`, skipped by `--ratios-only`): each benchmark's
  median against the committed one; slower by more than the tolerance (25 % unless the entry
  says otherwise) fails. These depend on the machine, so they belong to a machine that made the
  baseline (`--write-medians` rewrites it from a results file).

Run with

    python -m bench.check [--ratios-only] [--results FILE] [--baselines DIR]

Exit status 1 and one `FAIL ...` line per failing check on stderr when any check fails; a table of
every check on stdout either way.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

HERE = Path(__file__).resolve().parent
DEFAULT_RESULTS = HERE / "results" / "latest.json"
DEFAULT_BASELINES = HERE / "baselines"
DEFAULT_TOLERANCE = 0.25


@dataclass(frozen=True)
class Outcome:
    """One check's row in the report; `passed` decides the exit status."""

    kind: str
    name: str
    measured: str
    threshold: str
    passed: bool
    reason: str = ""
    gated: bool = True


def load_medians(results: dict[str, Any]) -> dict[str, float]:
    """Each benchmark's median in seconds, by its pytest fullname (file::test[params])."""
    return {b["fullname"]: float(b["stats"]["median"]) for b in results.get("benchmarks", [])}


def is_native(fullname: str) -> bool:
    """A benchmark of a native implementation: its parameters name it (`[native]`, `[2 KB-native]`,
    `[protobuf-native]`)."""
    params = fullname.partition("[")[2]
    return "native" in params.replace("-", " ").replace("]", " ").split()


def ratio_checks(medians: dict[str, float], spec: dict[str, Any]) -> list[Outcome]:
    """Every ratio in the spec, plus a failure for each native benchmark no ratio covers."""
    outcomes = []
    covered = set()
    for check in spec["checks"]:
        name, fast, slow = check["name"], check["fast"], check["slow"]
        floor = check.get("floor")
        covered.add(fast)
        threshold = f">= {floor:g}x" if floor is not None else "(reported only)"
        missing = [f for f in (fast, slow) if f not in medians]
        if missing:
            outcomes.append(
                Outcome("ratio", name, "-", threshold, False, f"not in results: {missing[0]}")
            )
            continue
        ratio = medians[slow] / medians[fast]
        passed = floor is None or ratio >= floor
        reason = "" if passed else f"{ratio:.3g}x is below the floor {floor:g}x"
        outcomes.append(
            Outcome("ratio", name, f"{ratio:.3g}x", threshold, passed, reason, floor is not None)
        )
    for fullname in sorted(medians):
        if is_native(fullname) and fullname not in covered:
            outcomes.append(
                Outcome(
                    "ratio", fullname, "-", "-", False, "native benchmark without a ratio check"
                )
            )
    return outcomes


def median_checks(
    medians: dict[str, float], spec: dict[str, Any], tolerance: float | None
) -> list[Outcome]:
    """Each baseline median against this run's; a benchmark new to this run only shows up."""
    default = tolerance if tolerance is not None else spec.get("tolerance", DEFAULT_TOLERANCE)
    outcomes = []
    baseline: dict[str, dict[str, float]] = spec["benchmarks"]
    for fullname, entry in baseline.items():
        allowed = tolerance if tolerance is not None else entry.get("tolerance", default)
        limit = entry["median"] * (1 + allowed)
        threshold = f"<= {human_time(limit)} (+{allowed:.0%})"
        if fullname not in medians:
            outcomes.append(Outcome("median", fullname, "-", threshold, False, "not in results"))
            continue
        now = medians[fullname]
        change = now / entry["median"] - 1
        passed = now <= limit
        measured = f"{human_time(now)} ({change:+.0%})"
        reason = "" if passed else f"{human_time(now)} is {change:+.0%} against the baseline"
        outcomes.append(Outcome("median", fullname, measured, threshold, passed, reason))
    for fullname in sorted(set(medians) - set(baseline)):
        outcomes.append(
            Outcome(
                "median", fullname, human_time(medians[fullname]), "(no baseline)", True, "", False
            )
        )
    return outcomes


def human_time(seconds: float) -> str:
    """A duration with a unit that keeps three significant digits readable."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def write_medians(medians: dict[str, float], path: Path, previous: dict[str, Any]) -> None:
    """Rewrites the median baseline from a run, keeping per-benchmark tolerances already set."""
    old: dict[str, dict[str, float]] = previous.get("benchmarks", {})
    entries: dict[str, dict[str, float]] = {}
    for fullname in sorted(medians):
        entry = {"median": medians[fullname]}
        if "tolerance" in old.get(fullname, {}):
            entry["tolerance"] = old[fullname]["tolerance"]
        entries[fullname] = entry
    body = {
        **{k: v for k, v in previous.items() if k != "benchmarks"},
        "tolerance": previous.get("tolerance", DEFAULT_TOLERANCE),
        "benchmarks": entries,
    }
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def report(outcomes: list[Outcome], console: Console) -> None:
    table = Table(title="performance gate", title_justify="left")
    for column in ("check", "benchmark", "measured", "threshold", "result"):
        table.add_column(column)
    for o in outcomes:
        if not o.passed:
            result = f"[red]FAIL[/red] {escape(o.reason)}"
        else:
            result = "[green]ok[/green]" if o.gated else "[dim]not gated[/dim]"
        table.add_row(o.kind, escape(o.name), o.measured, o.threshold, result)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.check", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, help="pytest-benchmark JSON"
    )
    parser.add_argument("--baselines", type=Path, default=DEFAULT_BASELINES)
    parser.add_argument("--ratios-only", action="store_true", help="skip the median checks")
    parser.add_argument(
        "--tolerance", type=float, help="median tolerance for every benchmark (0.25 = 25 %%)"
    )
    parser.add_argument(
        "--write-medians", action="store_true", help="rewrite medians.json from --results"
    )
    args = parser.parse_args(argv)
    console = Console(width=160)
    try:
        results = json.loads(args.results.read_text())
    except (OSError, ValueError) as err:
        print(f"FAIL results: cannot read {args.results}: {err}", file=sys.stderr)
        return 1
    medians = load_medians(results)
    medians_path = args.baselines / "medians.json"
    if args.write_medians:
        previous = json.loads(medians_path.read_text()) if medians_path.exists() else {}
        write_medians(medians, medians_path, previous)
        console.print(f"wrote {len(medians)} medians to {medians_path}")
        return 0
    outcomes = ratio_checks(medians, json.loads((args.baselines / "ratios.json").read_text()))
    if not args.ratios_only:
        spec = json.loads(medians_path.read_text())
        outcomes += median_checks(medians, spec, args.tolerance)
    report(outcomes, console)
    failed = [o for o in outcomes if not o.passed]
    for o in failed:
        print(f"FAIL {o.kind} {o.name}: {o.reason}", file=sys.stderr)
    checked = "ratio" if args.ratios_only else "ratio and median"
    console.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} {checked} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
