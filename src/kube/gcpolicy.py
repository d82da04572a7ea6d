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
"""

from __future__ import annotations

import gc
import os

ENV = "KUBE_GC_THRESHOLD"
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
