"""`kube sim up --with-control-plane`: hollow nodes against a `kube server` it starts itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_sim_up_with_control_plane_brings_fifty_nodes_ready() -> None:
    result = subprocess.run(
        [
            str(BIN / "kube"),
            "sim",
            "up",
            "--with-control-plane",
            "--nodes",
            "50",
            "--duration",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"sim: nodes Ready 50/50, time to all Ready \d+\.\ds, pods running \d+, errors 0", summary
    ), summary


def test_sim_up_rejects_a_bad_node_shape() -> None:
    result = subprocess.run(
        [str(BIN / "kube"), "sim", "up", "--nodes", "1", "--node-shape", "gpu=1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "bad node shape part 'gpu=1'" in result.stderr
