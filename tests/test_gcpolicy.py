"""The long-running commands' garbage-collector thresholds (kube.gcpolicy)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kube import eventloop, gcpolicy


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_the_default_raises_the_first_generation_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(gcpolicy.ENV, raising=False)
    assert gcpolicy.configure() == gcpolicy.THRESHOLDS
    assert gc.get_threshold() == (20_000, 20, 100)


def test_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gcpolicy.ENV, "700,10,10")
    assert gcpolicy.configure() == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.parametrize("raw", ["700,10", "a,b,c", "700,-1,10"])
def test_a_bad_value_is_a_one_line_error_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    before = gc.get_threshold()
    monkeypatch.setenv(gcpolicy.ENV, raw)
    with pytest.raises(SystemExit, match=f"KUBE_GC_THRESHOLD must be three integers.*{raw!r}"):
        gcpolicy.configure()
    assert gc.get_threshold() == before


def test_commands_run_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gcpolicy.ENV, raising=False)
    gc.set_threshold(700, 10, 10)

    async def threshold() -> tuple[int, int, int]:
        return gc.get_threshold()

    assert eventloop.run(threshold()) == gcpolicy.THRESHOLDS


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_survivors_of_a_full_collection_are_frozen_and_handed_back_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(gcpolicy.FREEZE_ENV, raising=False)
    kept = [{"n": i} for i in range(10_000)]
    with gcpolicy.freezing_survivors() as on:
        assert on
        gc.collect()
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)  # the next full collection does not walk them
        # Garbage made since is still collected: a fresh cycle goes.
        _Cycle()
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0
    assert _freeze_after_callbacks() == 0


def _freeze_after_callbacks() -> int:
    return sum(1 for cb in gc.callbacks if cb is gcpolicy._freeze_after_full)


def test_freezing_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(gcpolicy.FREEZE_ENV, "0")
    with gcpolicy.freezing_survivors() as on:
        assert not on
        gc.collect()
        assert gc.get_freeze_count() == 0


def test_commands_freeze_while_they_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(gcpolicy.FREEZE_ENV, raising=False)

    async def frozen_after_a_full_collection() -> int:
        gc.collect()
        return gc.get_freeze_count()

    assert eventloop.run(frozen_after_a_full_collection()) > 0
    assert gc.get_freeze_count() == 0
