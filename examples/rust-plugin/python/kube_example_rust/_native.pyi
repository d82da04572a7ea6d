"""Type stub of the Rust kernel (src/lib.rs) for mypy."""

from typing import Any

def score_most_pods(pod_count: Any, rows: Any) -> list[int]: ...
