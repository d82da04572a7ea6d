"""The runtime's root and state directories (kube.cri.runtime.runtime): images and writable layers
under the root, on disk; sandboxes, bundles and runc's state under the state, in memory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from kube.cri.runtime.containers import ContainerRequest
from kube.cri.runtime.runtime import (
    MEMORY_FILESYSTEMS,
    SYSTEM_ROOT,
    SYSTEM_STATE,
    Runtime,
    SandboxRequest,
    _filesystem_type,
    default_state,
    memory_backed,
)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


def _mounts_at(path: Path) -> int:
    target = str(path.resolve())
    return sum(
        1
        for line in Path("/proc/self/mounts").read_text().splitlines()
        if line.split()[1] == target
    )


def test_default_state_goes_with_the_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBE_RUNTIME_STATE", raising=False)
    assert default_state(SYSTEM_ROOT) == SYSTEM_STATE == Path("/run/kube/runtime")
    assert default_state(tmp_path / "rt") == tmp_path / "rt-state"  # never shared by two roots
    monkeypatch.setenv("KUBE_RUNTIME_STATE", str(tmp_path / "elsewhere"))
    assert default_state(tmp_path / "rt") == tmp_path / "elsewhere"


@as_root
def test_state_is_mounted_in_memory_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert _filesystem_type(tmp_path) not in MEMORY_FILESYSTEMS  # the test's disk
    assert memory_backed(state)
    assert _filesystem_type(state) in MEMORY_FILESYSTEMS
    assert oct(state.stat().st_mode & 0o777) == oct(0o711)
    assert memory_backed(state)  # a restarted runtime finds it in memory: no second mount
    assert _mounts_at(state) == 1


@as_root
async def test_layers_on_disk_bundles_in_memory(tmp_path: Path, busybox_archive: Path) -> None:
    root = tmp_path / "rt"
    runtime = Runtime(root, mode="process")
    assert runtime.state == tmp_path / "rt-state"
    assert runtime.state_in_memory
    runtime.images.import_archive(busybox_archive)
    sandbox = await runtime.run_sandbox(SandboxRequest(name="p", uid="u", namespace="default"))
    try:
        record = await runtime.create_container(
            sandbox.id,
            ContainerRequest(
                name="c", image="localhost/busybox:latest", command=["sh", "-c", "sleep 30"]
            ),
        )
        bundle = runtime.state / "containers" / record.id
        snapshot = root / "snapshots" / record.id
        assert (bundle / "config.json").is_file()
        assert (bundle / "container.json").is_file()
        assert (runtime.state / "sandboxes" / sandbox.id / "hosts").is_file()
        assert _filesystem_type(bundle) in MEMORY_FILESYSTEMS
        assert (snapshot / "upper").is_dir()  # the writable layer: the container's own files
        assert _filesystem_type(snapshot) not in MEMORY_FILESYSTEMS
        (bundle / "rootfs" / "from-the-container").write_text("x")
        assert (snapshot / "upper" / "from-the-container").read_text() == "x"
        await runtime.remove_container(record.id)
        assert not bundle.exists()
        assert not snapshot.exists()
    finally:
        with contextlib.suppress(Exception):
            await runtime.remove_sandbox(sandbox.id)


@as_root
def test_a_snapshot_without_its_container_is_removed_at_start(tmp_path: Path) -> None:
    root = tmp_path / "rt"
    (root / "snapshots" / "gone" / "upper").mkdir(parents=True)  # its state went with a reboot
    runtime = Runtime(root, mode="process")
    assert not (root / "snapshots" / "gone").exists()
    assert runtime.container_records == {}
