"""The EndpointSlice tracker tells an informer that has not seen the controller's writes."""

from __future__ import annotations

from typing import Any

from kube.controllers.endpointslicetracker import SliceTracker


def _slice(name: str, generation: int) -> dict[str, Any]:
    return {"metadata": {"name": name, "generation": generation}}


def test_a_created_slice_not_yet_seen_makes_the_view_stale() -> None:
    tracker = SliceTracker()
    assert not tracker.stale("ns/web", [])
    tracker.wrote("ns/web", _slice("web-abc", 1))
    assert tracker.stale("ns/web", [])
    assert not tracker.stale("ns/other", [])
    assert not tracker.stale("ns/web", [_slice("web-abc", 1)])
    # Caught up: the record is dropped, so a later view without the slice is not stale.
    assert not tracker.stale("ns/web", [])


def test_an_older_generation_or_a_deleted_slice_still_present_is_stale() -> None:
    tracker = SliceTracker()
    tracker.wrote("ns/web", _slice("web-abc", 3))
    tracker.deleted("ns/web", "web-old")
    assert tracker.stale("ns/web", [_slice("web-abc", 2)])
    assert tracker.stale("ns/web", [_slice("web-abc", 3), _slice("web-old", 1)])
    assert not tracker.stale("ns/web", [_slice("web-abc", 4)])


def test_forget_drops_a_service() -> None:
    tracker = SliceTracker()
    tracker.wrote("ns/web", _slice("web-abc", 1))
    tracker.forget("ns/web")
    assert not tracker.stale("ns/web", [])
