"""Type stub of the Cython kernel (_kernel.pyx) for mypy."""

from typing import Any

def score_rows(
    labels: Any, col: int, value: int, rows: Any, out: Any, hit: int, miss: int
) -> None: ...
