"""The runtime's sealed in-memory copy of runc (kube.cri.runtime.sealed).

runc's init takes a binary that is a fully sealed memfd as already cloned and skips copying
itself; what matters to a user is that the path runs the same program, under its own name, and
that nothing can write to it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kube.cri.runtime.sealed import F_GET_SEALS, SEALS, sealed_binary


def test_the_sealed_copy_runs_the_program_under_its_name(tmp_path: Path) -> None:
    path = sealed_binary("true", tmp_path / "bin")
    assert path is not None
    assert Path(path).name == "true"  # ps and pgrep show the program's name
    assert subprocess.run([path], check=False).returncode == 0
    original = shutil.which("true")
    assert original is not None
    assert Path(path).read_bytes() == Path(original).read_bytes()


def test_the_copy_is_sealed_and_cannot_be_written(tmp_path: Path) -> None:
    path = sealed_binary("true", tmp_path / "bin")
    assert path is not None
    fd = os.open(path, os.O_RDONLY)
    try:
        assert fcntl.fcntl(fd, F_GET_SEALS) == SEALS  # runc's RUNC_MEMFD_SEALS, exactly
    finally:
        os.close(fd)
    with pytest.raises(PermissionError):
        Path(path).write_bytes(b"#!/bin/sh\n")


def test_a_missing_program_has_no_sealed_copy(tmp_path: Path) -> None:
    assert sealed_binary("no-such-program-here", tmp_path / "bin") is None
    assert not (tmp_path / "bin").exists()


def test_one_copy_per_program_for_every_runtime_of_a_process(tmp_path: Path) -> None:
    first = sealed_binary("true", tmp_path / "a")
    second = sealed_binary("true", tmp_path / "b")
    assert first is not None
    assert second is not None
    assert first != second
    assert os.readlink(first) == os.readlink(second)  # the same memfd
