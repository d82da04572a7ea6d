"""CycleState: what plugins compute for one pod in one scheduling cycle.

Upstream's `framework.CycleState`. PreFilter stores its per-pod work here under a key
derived from the plugin's name (`"PreFilter" + NAME`) and Filter reads it back for every node;
preemption clones the state before dry runs so the additions and removals of victims
(PreFilterExtensions) never leak into the real cycle. Values that are cloned must implement
`clone()`; others are shared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


class CycleState:
    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()
        # The matrix rows of the nodes PreScore gets, in the same order (set by the scheduler
        # when they came from the node matrix), so vectorised PreScore need not look them up.
        self.feasible_rows: npt.NDArray[np.int64] | None = None

    def write(self, key: str, value: Any) -> None:
        self._data[key] = value

    def read(self, key: str) -> Any:
        """The value under `key`; KeyError if PreFilter did not write it."""
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clone(self) -> CycleState:
        copy = CycleState()
        copy._data = {k: (v.clone() if hasattr(v, "clone") else v) for k, v in self._data.items()}
        copy.skip_filter_plugins = set(self.skip_filter_plugins)
        copy.skip_score_plugins = set(self.skip_score_plugins)
        copy.feasible_rows = self.feasible_rows
        return copy
