"""The garbage collector's thresholds for the long-running commands.

CPython's cyclic collector runs a full collection each time the objects that survived younger
collections grow by a quarter of the heap. A control-plane process holds hundreds of thousands
of long-lived objects (every cached Pod and Node is a tree of dicts), and while its caches
grow each full collection walks all of them: in `kube bench scheduler` the scheduler spent
8.8 s of a 68 s run in 20 full collections of about 330 ms each, every one a stall of the
scheduling loop. With a first-generation threshold of 20,000 allocations instead of 700,
short-lived request and event objects die before a collection sees them, far fewer survive
into the old generation, and the same run did no full collection (0.8 s of GC in all).
Cyclic garbage waits longer to be freed; nothing else changes.

`KUBE_GC_THRESHOLD=700,10,10` (CPython's default) or any other triple overrides it.

The full collections that remain still walk the whole heap, and the heap keeps growing with
the cluster: at 130,000 pods the API server's (4.2 GB) took 15.6 s, every request waited, and
the controller-manager and the scheduler lost their leases (10 s renew deadline) and exited.
`freezing_survivors()` moves what survives each full collection to the permanent generation
(`gc.freeze()`), so the next one walks only the objects made since: the cached objects are
walked once, not every time. The price is that a reference cycle which was alive at a full
collection and becomes garbage later is not freed until the command ends (the caches hold
JSON trees, which have no cycles). `KUBE_GC_FREEZE=0` turns it off.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV = "KUBE_GC_THRESHOLD"
FREEZE_ENV = "KUBE_GC_FREEZE"
THRESHOLDS = (20_000, 20, 100)


def configure() -> tuple[int, ...]:
    """Set the collector's thresholds (from KUBE_GC_THRESHOLD if set); returns them."""
    raw = os.environ.get(ENV, "").strip()
    thresholds: tuple[int, ...] = THRESHOLDS
    if raw:
        parts = raw.split(",")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise SystemExit(f"error: {ENV} must be three integers like 700,10,10, not {raw!r}")
        thresholds = tuple(int(p) for p in parts)
    gc.set_threshold(*thresholds)
    return thresholds


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    # At "stop" the collection is over (its lists merged); freezing only moves them.
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


@contextmanager
def freezing_survivors() -> Iterator[bool]:
    """While inside, what survives a full collection is frozen (see the module docstring);
    on the way out everything frozen is handed back to the collector. Yields whether it is on
    (KUBE_GC_FREEZE=0 turns it off)."""
    if os.environ.get(FREEZE_ENV, "").strip() == "0" or _freeze_after_full in gc.callbacks:
        yield False
        return
    gc.callbacks.append(_freeze_after_full)
    try:
        yield True
    finally:
        gc.callbacks.remove(_freeze_after_full)
        gc.unfreeze()
