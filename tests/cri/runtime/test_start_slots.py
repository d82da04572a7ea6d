"""Container starts take turns (kube.cri.runtime.containers `_spawn_in_turn`): at most
START_SLOTS shims start their container at once, in the order the starts came, so the oldest
pods of a burst are Running first instead of all sharing the cores and finishing together; a
start that keeps its slot past START_SLOT_HOLD lets the next one go.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kube.cri.runtime import containers as containers_module
from kube.cri.runtime.containers import ContainerError, ContainerManager
from kube.cri.runtime.images import ImageStore
from kube.cri.runtime.state import ContainerRecord


def _record(name: str) -> ContainerRecord:
    return ContainerRecord(
        id=name,
        sandbox_id="s",
        name=name,
        attempt=0,
        image="i",
        image_id="i",
        labels={},
        annotations={},
        log_path="",
        created_at=1,
    )


class Spawns:
    """A stand-in for the shim's start: records the order and how many ran at once."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self.order: list[str] = []

    async def __call__(self, record: ContainerRecord) -> None:
        self.order.append(record.id)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.seconds.get(record.id, 0.02))
            if record.id == "bad":
                raise ContainerError("runc run failed")
        finally:
            self.running -= 1


def _manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slots: int) -> ContainerManager:
    monkeypatch.setattr(containers_module, "START_SLOTS", slots)
    return ContainerManager(tmp_path / "containers", ImageStore(tmp_path / "images"))


async def test_starts_take_turns_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(tmp_path, monkeypatch, 2)
    spawns = Spawns({})
    monkeypatch.setattr(manager, "_spawn_shim", spawns)
    names = [f"c{i}" for i in range(8)]
    await asyncio.gather(*(manager._spawn_in_turn(_record(n)) for n in names))
    assert spawns.most == 2
    assert spawns.order == names


async def test_a_failed_start_gives_its_slot_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = _manager(tmp_path, monkeypatch, 1)
    spawns = Spawns({})
    monkeypatch.setattr(manager, "_spawn_shim", spawns)
    with pytest.raises(ContainerError):
        await manager._spawn_in_turn(_record("bad"))
    await asyncio.wait_for(manager._spawn_in_turn(_record("next")), 1.0)
    assert spawns.order == ["bad", "next"]


async def test_a_slow_start_lets_the_next_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(containers_module, "START_SLOT_HOLD", 0.1)
    manager = _manager(tmp_path, monkeypatch, 1)
    spawns = Spawns({"slow": 0.5})
    monkeypatch.setattr(manager, "_spawn_shim", spawns)
    slow = asyncio.create_task(manager._spawn_in_turn(_record("slow")))
    await asyncio.sleep(0)
    await asyncio.wait_for(manager._spawn_in_turn(_record("quick")), 0.45)
    assert not slow.done()  # it still runs, without its slot
    await slow
    assert spawns.most == 2
    # Its slot was given back once, not twice: one start at a time again.
    spawns.most = 0
    await asyncio.gather(*(manager._spawn_in_turn(_record(f"c{i}")) for i in range(3)))
    assert spawns.most == 1


async def test_without_slots_every_start_goes_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = _manager(tmp_path, monkeypatch, 0)
    spawns = Spawns({})
    monkeypatch.setattr(manager, "_spawn_shim", spawns)
    await asyncio.gather(*(manager._spawn_in_turn(_record(f"c{i}")) for i in range(5)))
    assert spawns.most == 5
