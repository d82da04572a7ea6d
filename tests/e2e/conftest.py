"""A real `kube server` for end-to-end tests, driven by the real kubectl and Python client."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
KUBECTL = str(BIN / "kubectl")


@dataclass
class Cluster:
    data_dir: Path
    kubeconfig: Path
    process: subprocess.Popen[str]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data_dir = tmp_path_factory.mktemp("cluster")
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "kube"),
            "server",
            "--disable-agent",
            "--data-dir",
            str(data_dir),
            "--secure-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                log.flush()
                tail = (data_dir / "server.log").read_text()[-2000:]
                pytest.fail(f"kube server exited: {tail}")
            if "kube server is up" in line:
                break
        yield Cluster(data_dir, data_dir / "admin.kubeconfig", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        log.close()
