"""The performance gate (`python -m bench.check`) on synthetic pytest-benchmark results.

What a user sees: exit status 0 and a table when every check holds; exit status 1 and one
`FAIL ...` line per failing check when a ratio falls below its floor, a median regresses past
its tolerance, or a benchmark the baselines name is missing from the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import check

REPO = Path(__file__).resolve().parents[2]
FAST = "bench/test_k.py::test_k[native]"
SLOW = "bench/test_k.py::test_k[reference]"


def results(medians: dict[str, float]) -> dict[str, Any]:
    """A pytest-benchmark JSON with only the fields the gate reads."""
    return {
        "benchmarks": [
            {"fullname": name, "name": name.split("::")[1], "stats": {"median": m, "rounds": 5}}
            for name, m in medians.items()
        ]
    }


@pytest.fixture
def baselines(tmp_path: Path) -> Path:
    root = tmp_path / "baselines"
    root.mkdir()
    ratios = {"checks": [{"name": "k native/reference", "fast": FAST, "slow": SLOW, "floor": 10}]}
    (root / "ratios.json").write_text(json.dumps(ratios))
    medians = {
        "tolerance": 0.25,
        "benchmarks": {FAST: {"median": 1e-3}, SLOW: {"median": 20e-3, "tolerance": 1.0}},
    }
    (root / "medians.json").write_text(json.dumps(medians))
    return root


def run(tmp_path: Path, baselines: Path, medians: dict[str, float], *args: str) -> tuple[int, str]:
    """`python -m bench.check` in a subprocess, as make runs it; returns (status, stderr)."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results(medians)))
    command = [sys.executable, "-m", "bench.check", "--results", str(path)]
    done = subprocess.run(
        [*command, "--baselines", str(baselines), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "performance gate" in done.stdout, done.stdout + done.stderr
    return done.returncode, done.stderr


def test_all_checks_hold(tmp_path: Path, baselines: Path) -> None:
    status, stderr = run(tmp_path, baselines, {FAST: 1.1e-3, SLOW: 21e-3})
    assert (status, stderr) == (0, "")


def test_ratio_below_floor_fails(tmp_path: Path, baselines: Path) -> None:
    # 18 ms / 2 ms = 9x < 10x; the medians alone are within tolerance only for the slow side.
    status, stderr = run(tmp_path, baselines, {FAST: 2e-3, SLOW: 18e-3}, "--ratios-only")
    assert status == 1
    assert stderr.splitlines() == ["FAIL ratio k native/reference: 9x is below the floor 10x"]


def test_median_regression_fails_unless_ratios_only(tmp_path: Path, baselines: Path) -> None:
    # Both sides 30 % slower: the ratio holds, the fast side's median is past 25 %; the slow
    # side's own tolerance (100 %) lets it by.
    medians = {FAST: 1.3e-3, SLOW: 26e-3}
    status, stderr = run(tmp_path, baselines, medians)
    assert status == 1
    assert stderr.splitlines() == [f"FAIL median {FAST}: 1.3 ms is +30% against the baseline"]
    assert run(tmp_path, baselines, medians, "--ratios-only") == (0, "")
    assert run(tmp_path, baselines, medians, "--tolerance", "0.5") == (0, "")


def test_missing_benchmark_fails(tmp_path: Path, baselines: Path) -> None:
    status, stderr = run(tmp_path, baselines, {FAST: 1e-3}, "--ratios-only")
    assert status == 1
    assert stderr.splitlines() == [f"FAIL ratio k native/reference: not in results: {SLOW}"]


def test_native_benchmark_without_ratio_check_fails(tmp_path: Path, baselines: Path) -> None:
    other = "bench/test_k.py::test_other[2 KB-native]"
    status, stderr = run(
        tmp_path, baselines, {FAST: 1e-3, SLOW: 20e-3, other: 1e-6}, "--ratios-only"
    )
    assert status == 1
    assert stderr.splitlines() == [f"FAIL ratio {other}: native benchmark without a ratio check"]


def test_unreadable_results_fail(tmp_path: Path, baselines: Path) -> None:
    missing = tmp_path / "nope.json"
    assert check.main(["--results", str(missing), "--baselines", str(baselines)]) == 1


def test_write_medians_keeps_tolerances(tmp_path: Path, baselines: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results({FAST: 2e-3, SLOW: 30e-3})))
    assert (
        check.main(["--results", str(path), "--baselines", str(baselines), "--write-medians"]) == 0
    )
    written = json.loads((baselines / "medians.json").read_text())
    assert written["benchmarks"] == {
        FAST: {"median": 2e-3},
        SLOW: {"median": 30e-3, "tolerance": 1.0},
    }


def test_committed_baselines_cover_every_native_kernel_benchmark() -> None:
    """Every committed ratio check names benchmarks that exist in bench/ (a rename would
    otherwise fail only at gate time), and its floor is below what was measured."""
    spec = json.loads((REPO / "bench" / "baselines" / "ratios.json").read_text())
    for entry in spec["checks"]:
        for side in (entry["fast"], entry["slow"]):
            path, _, test = side.partition("::")
            source = (REPO / path).read_text()
            assert f"def {test.partition('[')[0]}(" in source, side
        if entry["floor"] is not None:
            assert entry["floor"] <= entry["measured"] / 1.5, entry["name"]
    scheduler = [c for c in spec["checks"] if c["fast"].endswith("test_vectorised[native]")]
    assert len(scheduler) == 1
    assert scheduler[0]["floor"] >= 30  # the target
