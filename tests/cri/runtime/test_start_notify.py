"""A container start waits on the shim's `notify` FIFO, not by looking at the bundle's files
again and again (kube.cri.runtime.containers `_wait_created`, kube.cri.runtime.shim
`_announce`): the runtime is woken once, when the shim has written `created` or `error`. With
the looks made rare here (SHIM_NOTIFY_CHECK 30 s), a start seen at once shows the FIFO woke it.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from kube.cri.runtime import containers as containers_module
from kube.cri.runtime.containers import ContainerError, ContainerManager, _open_notify
from kube.cri.runtime.images import ImageStore
from kube.cri.runtime.shim import _announce


@pytest.fixture
def rare_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers_module, "SHIM_NOTIFY_CHECK", 30.0)


def _manager(tmp_path: Path) -> ContainerManager:
    return ContainerManager(tmp_path / "containers", ImageStore(tmp_path / "images"))


async def _wait(manager: ContainerManager, bundle: Path, then: str, text: str) -> float:
    notify = _open_notify(bundle)
    assert notify is not None
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, _announce, bundle, then, text)
    started = time.monotonic()
    try:
        await manager._wait_created(bundle, notify)
    finally:
        os.close(notify)
        assert time.monotonic() - started < 5.0
    return time.monotonic() - started


async def test_the_shims_created_wakes_the_start(tmp_path: Path, rare_looks: None) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    took = await _wait(_manager(tmp_path), bundle, "created", "4242")
    assert 0.15 < took < 5.0
    assert (bundle / "created").read_text() == "4242"


async def test_the_shims_error_fails_the_start(tmp_path: Path, rare_looks: None) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    with pytest.raises(ContainerError, match="exec: no such file"):
        await _wait(_manager(tmp_path), bundle, "error", "exec: no such file\n")


async def test_a_writer_that_leaves_without_a_word_falls_back_to_looking(
    tmp_path: Path, rare_looks: None
) -> None:
    # A shim that opened the FIFO and died: the reader sees the end, stops listening (no busy
    # wake-ups on a hung-up FIFO) and looks at the files with the growing pause instead.
    bundle = tmp_path / "b"
    bundle.mkdir()
    notify = _open_notify(bundle)
    assert notify is not None
    os.close(os.open(bundle / "notify", os.O_WRONLY | os.O_NONBLOCK))
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, (bundle / "created").write_text, "1")
    started = time.monotonic()
    try:
        await _manager(tmp_path)._wait_created(bundle, notify)
    finally:
        os.close(notify)
    assert time.monotonic() - started < 5.0


def test_announcing_without_a_reader_or_fifo_only_writes_the_file(tmp_path: Path) -> None:
    _announce(tmp_path, "created", "7")  # no FIFO (a runtime from before): the file alone
    assert (tmp_path / "created").read_text() == "7"
    os.mkfifo(tmp_path / "notify")
    _announce(tmp_path, "error", "why")  # a FIFO nobody reads (the runtime restarted)
    assert (tmp_path / "error").read_text() == "why"
