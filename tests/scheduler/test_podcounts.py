"""Kept per-selector pod counts are brought up to date on read, for the rows that changed only."""

from __future__ import annotations

import pytest

from kube.api.selectors import from_label_selector
from kube.scheduler import podcounts
from kube.scheduler.cache import Cache
from tests.scheduler.builders import cache_of, node, pod

WEB = from_label_selector({"matchLabels": {"app": "web"}})
DB = from_label_selector({"matchLabels": {"app": "db"}})


def _read(cache: Cache, key: str, reqs: list[object]) -> list[int]:
    snap, m = cache.snapshot(), cache.matrix
    column = m.pod_counts.column(("default", key, False), reqs, snap.node_infos, len(m.pod_count))
    return column[: m.n].tolist()


def test_a_read_recounts_only_the_rows_changed_since_the_last_read() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    cache = cache_of(nodes, [pod("w0", node_name="n0", labels={"app": "web"})])
    counts = cache.matrix.pod_counts
    assert _read(cache, "web", WEB) == [1, 0, 0, 0]
    assert (counts.fills, counts.recounts) == (1, 0)
    cache.add_pod(pod("w1", node_name="n2", labels={"app": "web"}))
    cache.add_pod(pod("d1", node_name="n2", labels={"app": "db"}))
    assert _read(cache, "web", WEB) == [1, 0, 1, 0]
    assert counts.recounts == 1  # n2 only
    assert _read(cache, "db", DB) == [0, 0, 1, 0]
    assert counts.fills == 2
    # Unread columns cost nothing per pod event; the next read catches up on every change.
    for i in range(3):
        cache.add_pod(pod(f"w{i + 2}", node_name=f"n{i}", labels={"app": "web"}))
    before = counts.recounts
    assert _read(cache, "db", DB) == [0, 0, 1, 0]
    assert counts.recounts - before == 3
    assert _read(cache, "web", WEB) == [2, 1, 2, 0]
    # A removed node's row is taken by the last row, whose counts move with it.
    cache.remove_node(nodes[1])
    assert cache.matrix.names == ["n0", "n3", "n2"]
    assert _read(cache, "web", WEB) == [2, 0, 2]
    assert _read(cache, "db", DB) == [0, 0, 1]


def test_the_least_recently_read_selector_is_dropped_past_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(podcounts, "LIMIT", 2)
    cache = cache_of([node("n0")], [pod("w0", node_name="n0", labels={"app": "web"})])
    counts = cache.matrix.pod_counts
    _read(cache, "web", WEB)
    _read(cache, "db", DB)
    _read(cache, "web", WEB)
    _read(cache, "other", from_label_selector({"matchLabels": {"app": "x"}}))
    assert len(counts) == 2
    fills = counts.fills
    assert _read(cache, "web", WEB) == [1]  # kept
    assert counts.fills == fills
    assert _read(cache, "db", DB) == [0]  # dropped, filled again
    assert counts.fills == fills + 1
