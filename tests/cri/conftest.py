"""Fixtures for the CRI tests: the busybox test image, and whether this machine can isolate.

The machine facts decide between running and skipping, never the test's convenience: where we
are root and runc is installed (as here and in CI), the runc tests must run, and a missing
piece they need (busybox-static, iproute2) is a failure that names the package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/bin/busybox")


def can_isolate() -> bool:
    """Root with runc on PATH: the machine runs real containers."""
    return os.geteuid() == 0 and shutil.which("runc") is not None


def require_isolation() -> None:
    """Skip only where the machine cannot isolate; fail if it can but a tool is missing."""
    if not can_isolate():
        pytest.skip("needs root and runc (Debian runc); this machine has neither")
    for tool, package in (("ip", "iproute2"), ("mount", "mount")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: install Debian's {package} (make setup does)")


@pytest.fixture(scope="session")
def busybox_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout tarball of localhost/busybox:latest, built by tools/build_busybox_image.py."""
    if not BUSYBOX.is_file():
        if os.geteuid() == 0:
            pytest.fail(f"{BUSYBOX} not found: install Debian's busybox-static (make setup does)")
        pytest.skip(f"{BUSYBOX} not found (Debian busybox-static)")
    out = tmp_path_factory.mktemp("image") / "busybox-oci.tar"
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_busybox_image.py"), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def unmount_under(directory: Path) -> None:
    """Unmounts, deepest first, what is still mounted under the test's own `directory`: a
    runtime's state tmpfs and the overlays in it, the kubelet's volume mounts (tmpfs for secrets
    and kube-api-access tokens) of pods still on the node at teardown, which would otherwise
    make pytest fail to remove its temp dirs later."""
    prefix = f"{directory.resolve()}/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


@pytest.fixture(autouse=True)
def _unmount_states(request: pytest.FixtureRequest) -> Iterator[None]:
    """A runtime made as root mounts a tmpfs on its state (`<root>-state`) and overlays in it:
    what a test's runtime left mounted under its tmp_path is unmounted."""
    if os.geteuid() != 0 or "tmp_path" not in request.fixturenames:
        yield
        return
    tmp_path = request.getfixturevalue("tmp_path")
    yield
    unmount_under(tmp_path)
