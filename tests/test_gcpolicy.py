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
