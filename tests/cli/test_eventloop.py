"""The control-plane commands run on uvloop (a dependency), unless turned off."""

from __future__ import annotations

import asyncio

import pytest

from kube import eventloop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_uvloop_is_installed_and_used() -> None:
    assert eventloop.uvloop_enabled()
    assert eventloop.run(_loop_module()).startswith("uvloop")


def test_kube_event_loop_asyncio_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "asyncio")
    assert not eventloop.uvloop_enabled()
    assert eventloop.run(_loop_module()).startswith("asyncio")


def test_a_command_that_runs_containers_keeps_asyncio() -> None:
    assert eventloop.run(_loop_module(), native=False).startswith("asyncio")
