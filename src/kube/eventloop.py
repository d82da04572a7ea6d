"""The event loop the control-plane commands run on: uvloop when it is installed.

The API server, controller-manager, scheduler, kubelet and `kube sim` spend a third of their
CPU in the event loop's own Python (selectors, transports, TLS record handling) at thousands of
requests a second; uvloop (libuv, in C) does that work natively (the kubelet: 7 % less CPU a
pod it starts). Commands that drive processes and file descriptors of containers (the runtime,
and `kube server` when it runs the node agent) stay on asyncio's loop, whose child watchers
they were written against.

`KUBE_EVENT_LOOP=asyncio` turns uvloop off (to compare, or to rule it out). `run` also sets
the garbage collector's thresholds for a long-running process and freezes what survives its
full collections (kube.gcpolicy).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from kube import gcpolicy

T = TypeVar("T")
ENV = "KUBE_EVENT_LOOP"


def uvloop_enabled() -> bool:
    """Whether `run` uses uvloop: installed and not turned off by KUBE_EVENT_LOOP=asyncio."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
        return False
    return importlib.util.find_spec("uvloop") is not None


def run(main: Coroutine[Any, Any, T], *, native: bool = True) -> T:
    """`asyncio.run(main)`, on uvloop when `native` and `uvloop_enabled()`."""
    gcpolicy.configure()
    with gcpolicy.freezing_survivors():
        if native and uvloop_enabled():
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(main)
        return asyncio.run(main)
