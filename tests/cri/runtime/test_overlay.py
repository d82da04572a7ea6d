"""A container's rootfs is an overlay mounted with mount(2) itself (no `mount` process each).

The image's layer directories are the read-only lower layers (the last one on top); what the
container writes goes to its own upper directory and leaves the layers as they were.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kube.cri.runtime.containers import mount_overlay


def test_an_overlay_of_two_layers(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    base, top, upper, work, rootfs = (tmp_path / n for n in ("base", "top", "up", "w", "root"))
    for directory in (base, top, upper, work, rootfs):
        directory.mkdir()
    (base / "etc").mkdir()
    (base / "etc" / "motd").write_text("base\n")
    (base / "only-base").write_text("b\n")
    (top / "etc").mkdir()
    (top / "etc" / "motd").write_text("top\n")
    mount_overlay(rootfs, f"lowerdir={top}:{base},upperdir={upper},workdir={work}")
    try:
        assert (rootfs / "etc" / "motd").read_text() == "top\n"
        assert (rootfs / "only-base").read_text() == "b\n"
        (rootfs / "new").write_text("written\n")
        assert (upper / "new").read_text() == "written\n"
        assert not (base / "new").exists()
    finally:
        subprocess.run(["umount", str(rootfs)], check=True)


def test_a_failed_mount_says_why(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")
    with pytest.raises(OSError, match=r"mount overlay on .*: No such file or directory"):
        mount_overlay(tmp_path / "missing", f"lowerdir={tmp_path}")
