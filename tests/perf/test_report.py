"""`kube bench report`: PNG charts from result JSON, and one line plus exit code 2 for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from kube.cli.main import main as kube_main

BIN = Path(sys.executable).parent
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def load_result() -> dict[str, Any]:
    """A small `kube sim load --output json` result, as the command writes it."""
    timeline = [
        {
            "t": float(t),
            "phase": "create",
            "requested": 10 * t,
            "created": 10 * t,
            "scheduled": max(0, 10 * t - 5),
            "running": max(0, 10 * t - 10),
            "live": 10 * t,
            "live_running": max(0, 10 * t - 10),
            "nodes_ready": 5,
        }
        for t in range(6)
    ]
    samples = [{"t": float(t), "cpu_cores": 0.5, "rss_mb": 100.0 + t} for t in range(6)]
    return {
        "kind": "SimLoadResult",
        "profile": "load",
        "nodes_ready": 5,
        "pods_per_second": 10.0,
        "timeline": timeline,
        "pod_startup_ms": {"count": 50, "p50": 1200.0, "p90": 1500.0, "p99": 1900.0},
        "api_latency": [
            {
                "verb": "POST",
                "resource": "pods",
                "subresource": "",
                "scope": "resource",
                "count": 50,
                "p50_ms": 12.0,
                "p99_ms": 80.0,
                "mutating": True,
            },
            {
                "verb": "PATCH",
                "resource": "pods",
                "subresource": "status",
                "scope": "resource",
                "count": 50,
                "p50_ms": 9.0,
                "p99_ms": 40.0,
                "mutating": True,
            },
        ],
        "components": {
            "kube server": {"pid": 1, "samples": samples},
            "kube sim up": {"pid": 2, "samples": samples},
        },
    }


def scheduler_result() -> dict[str, Any]:
    return {
        "workload": "SchedulingBasic",
        "throughput_samples": [120, 150, 140],
        "latency_p50_ms": 3.0,
        "latency_p90_ms": 6.0,
        "latency_p99_ms": 9.0,
    }


def test_charts_are_written_as_pngs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load = tmp_path / "run1.json"
    load.write_bytes(orjson.dumps(load_result()))
    sched = tmp_path / "sched.json"
    sched.write_bytes(orjson.dumps(scheduler_result()))
    out = tmp_path / "charts"

    assert kube_main(["bench", "report", str(load), str(sched), "-o", str(out)]) == 0

    expected = {
        "run1-throughput.png",
        "run1-api-latency.png",
        "run1-components.png",
        "sched-scheduler.png",
    }
    assert {p.name for p in out.iterdir()} == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 5000  # a drawn chart, not an empty canvas
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == sorted(expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not JSON"),
        (b'{"kind": "Something"}', "not a `kube sim load --output json`"),
        (b'{"kind": "SimLoadResult"}', "a sim load result without a timeline"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(load_result()))
    out = tmp_path / "charts"

    assert kube_main(["bench", "report", str(good), str(bad), "-o", str(out)]) == 2

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"kube bench report: {bad}: ")
    assert message in lines[0]
    assert not out.exists()  # nothing drawn when any input is bad


def test_no_result_file_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(BIN / "kube"), "bench", "report"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "the following arguments are required: RESULT.json" in result.stderr


def test_missing_file_is_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    assert kube_main(["bench", "report", str(missing), "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"kube bench report: {missing}: No such file or directory"
