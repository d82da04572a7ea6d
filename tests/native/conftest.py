"""Both implementations of every native kernel, for tests parametrised over them.

`implementation(name, which)` returns the pure-Python reference or the compiled kernel straight
from its module, whatever KUBE_NO_NATIVE says (the dispatch is tested in test_dispatch.py). A
compiled kernel that does not import fails the test, unless native code is not expected (then
it is skipped): see `native_expected`.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from kube.native import kernel

IMPLEMENTATIONS = ("reference", "native")


def native_expected() -> bool:
    """Native kernels must be there when KUBE_REQUIRE_NATIVE=1 (`make test` sets it), and by
    default; only KUBE_NO_NATIVE (any value but "" or "0") lets them be missing."""
    if os.environ.get("KUBE_REQUIRE_NATIVE", "").strip() == "1":
        return True
    return os.environ.get("KUBE_NO_NATIVE", "").strip() in ("", "0")


def implementation(name: str, which: str) -> Any:
    """The reference or native callable of the kernel `name`."""
    k = kernel(name)
    if which == "reference":
        return k.reference
    try:
        return k.load_native()
    except (ImportError, AttributeError) as error:
        if native_expected():
            pytest.fail(f"native kernel {name} ({k.module}.{k.attribute}) is not built: {error}")
        pytest.skip(f"native kernel {name} not built and KUBE_NO_NATIVE is set: {error}")
