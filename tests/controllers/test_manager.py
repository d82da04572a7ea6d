"""The controller table and `--controllers` parsing, and running controllers in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kube.controllers import manager
from kube.controllers.base import Controller
from tests.controllers.conftest import controllers


class _Probe(Controller):
    NAME = "probe-for-tests"
    synced: list[str] = []

    def setup(self) -> None:
        self.queue.add("hello")

    async def sync(self, key: str) -> None:
        type(self).synced.append(key)


def test_controllers_flag_follows_upstream_syntax() -> None:
    manager.register(_Probe, default=False)
    assert "probe-for-tests" not in manager.enabled("*")
    assert manager.enabled("probe-for-tests") == ["probe-for-tests"]
    assert "probe-for-tests" not in manager.enabled("*,probe-for-tests,-probe-for-tests")
    assert manager.enabled("") == []
    with pytest.raises(ValueError, match='"nope" is not in the list of known controllers'):
        manager.enabled("*,-nope")


async def test_controllers_run_in_process_against_a_bare_server(bare_cluster: Path) -> None:
    manager.register(_Probe, default=False)
    async with controllers(bare_cluster, "probe-for-tests"):
        for _ in range(100):
            if _Probe.synced:
                break
            await asyncio.sleep(0.01)
    assert _Probe.synced == ["hello"]
