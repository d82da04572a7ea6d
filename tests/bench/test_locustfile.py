"""bench/locustfile.py, headless for a few seconds against a real `kube server`.

What `make loadtest` users see, at a small size: locust exits 0, every kind of user made its
requests (kubectl's apply and reads, a controller's list-watch, a kubelet's lease and pod
status), nothing failed, the intended 404s were counted as successes, and the run's namespace
is deleted at the end. Locust runs in its own process: it monkey-patches the standard library
with gevent, which must not happen inside pytest's asyncio tests.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bench.conftest import Cluster

REPO = Path(__file__).resolve().parents[2]
LOCUST = str(Path(sys.executable).parent / "locust")


@pytest.mark.slow
def test_locust_smoke(cluster: Cluster, tmp_path: Path) -> None:
    locustfile = str(REPO / "bench" / "locustfile.py")
    users = ["--users", "11", "--spawn-rate", "11", "--run-time", "5s"]
    output_to = ["--kubeconfig", str(cluster.kubeconfig), "--csv", str(tmp_path / "run")]
    done = subprocess.run(
        [LOCUST, "-f", locustfile, "--headless", "--only-summary", *users, *output_to],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]

    with (tmp_path / "run_stats.csv").open() as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert rows["Aggregated"]["Failure Count"] == "0", output[-3000:]
    for name in (
        "APPLY configmap",
        "GET configmap (404)",
        "LIST configmaps (informer)",
        "LIST pods (informer)",
        "CREATE pod",
        "CREATE lease",
    ):
        assert int(rows[name]["Request Count"]) > 0, name

    summary = re.search(
        r"kube loadtest: (\d+) requests .* p99 (\d+) ms; .* failures (\d+) "
        r"\(intended 404s, counted as successes: (\d+)\)",
        output,
    )
    assert summary is not None, output[-3000:]
    requests, _p99, failures, intended = map(int, summary.groups())
    assert requests >= int(rows["Aggregated"]["Request Count"])  # + the users' on_stop
    assert failures == 0
    assert intended >= 1

    namespaces = cluster.kubectl("get", "namespaces", "-o", "name").stdout.split()
    leftover = [n for n in namespaces if n.startswith("namespace/locust-")]
    for name in leftover:  # deleted at the end of the run: gone, or on its way out
        phase = cluster.kubectl("get", name, "-o", "jsonpath={.status.phase}", check=False)
        assert phase.stdout in ("", "Terminating"), name
