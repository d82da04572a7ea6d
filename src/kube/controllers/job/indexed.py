"""Indexed Jobs: each pod owns a completion index in [0, completions).

Upstream's indexed_job_utils.go. Succeeded indexes are kept in `status.completedIndexes` as
ordered intervals written `"0-2,5"` (two adjacent indexes as `"3,4"`, not `"3-4"`); a pod's
index is its `batch.kubernetes.io/job-completion-index` annotation (also set as a label, as
upstream's PodIndexLabel does), its hostname is `<job>-<index>`, its generateName
`<job>-<index>-`, and each container gets `JOB_COMPLETION_INDEX` from the downward API (the
controller adds it when creating the pod, not the API server).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from kube.api.meta import Object

COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
UNKNOWN = -1
# Upstream's names.MaxGeneratedNameLength (63 minus the five random characters).
MAX_GENERATED_NAME_LENGTH = 58

Interval = tuple[int, int]


def completion_index(pod: Object) -> int:
    """The pod's completion index, or UNKNOWN when missing or not a non-negative integer."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(COMPLETION_INDEX)
    if raw is None:
        return UNKNOWN
    try:
        value = int(str(raw))
    except ValueError:
        return UNKNOWN
    return value if value >= 0 and str(raw).lstrip("+").isdigit() else UNKNOWN


def parse_intervals(text: str | None, completions: int) -> list[Interval]:
    """`"0-2,5"` as ordered intervals, cut at `completions` (corrupt parts are skipped)."""
    if not text:
        return []
    result: list[list[int]] = []
    for part in text.split(","):
        limits = part.split("-")
        try:
            first = int(limits[0])
        except ValueError:
            continue
        if first >= completions:
            break
        if len(limits) > 1:
            try:
                last = int(limits[1])
            except ValueError:
                continue
            last = min(last, completions - 1)
        else:
            last = first
        if result and result[-1][1] == first - 1:
            result[-1][1] = last
        else:
            result.append([first, last])
    return [(a, b) for a, b in result]


def with_indexes(intervals: list[Interval], new: Iterable[int]) -> list[Interval]:
    """The intervals with the (sorted) `new` indexes merged in."""
    result: list[list[int]] = []

    def push(first: int, last: int) -> None:
        if not result or first > result[-1][1] + 1:
            result.append([first, last])
        elif result[-1][1] < last:
            result[-1][1] = last

    merged = sorted([*intervals, *((i, i) for i in new)])
    for first, last in merged:
        push(first, last)
    return [(a, b) for a, b in result]


def total(intervals: list[Interval]) -> int:
    return sum(last - first + 1 for first, last in intervals)


def contains(intervals: list[Interval], index: int) -> bool:
    return any(first <= index <= last for first, last in intervals)


def format_intervals(intervals: list[Interval]) -> str:
    parts = []
    for first, last in intervals:
        if last == first:
            parts.append(str(first))
        elif last == first + 1:
            parts.append(f"{first},{last}")
        else:
            parts.append(f"{first}-{last}")
    return ",".join(parts)


def first_pending(
    active: list[Object], succeeded: list[Interval], count: int, completions: int
) -> list[int]:
    """The `count` lowest indexes below `completions` neither active nor succeeded."""
    if count <= 0:
        return []
    busy = with_indexes(
        succeeded, sorted({ix for ix in map(completion_index, active) if ix != UNKNOWN})
    )
    result: list[int] = []
    candidate = 0
    for first, last in busy:
        while candidate < completions and len(result) < count and candidate < first:
            result.append(candidate)
            candidate += 1
        candidate = max(candidate, last + 1)
    while candidate < completions and len(result) < count:
        result.append(candidate)
        candidate += 1
    return result


def duplicated_for_removal(
    pods: list[Object], completions: int, order: Callable[[Object, Object], int]
) -> tuple[list[Object], list[Object]]:
    """(to remove, to keep): pods without a valid index, beyond `completions`, or repeating one.

    Of the pods sharing an index the one kept is the last in deletion order (`order` is a
    comparator sorting the pods to delete first).
    """
    remove: list[Object] = []
    keep: list[Object] = []
    by_index: dict[int, list[Object]] = {}
    for pod in pods:
        ix = completion_index(pod)
        if ix == UNKNOWN or ix >= completions:
            remove.append(pod)
        else:
            by_index.setdefault(ix, []).append(pod)
    for ix in sorted(by_index):
        group = by_index[ix]
        if len(group) > 1:
            group = sorted(group, key=functools.cmp_to_key(order))
        remove.extend(group[:-1])
        keep.append(group[-1])
    return remove, keep


def generate_name(job_name: str, index: int) -> str:
    """podGenerateNameWithIndex: `<job>-<index>-`, the job name cut to fit."""
    suffix = f"-{index}-"
    prefix = job_name + suffix
    if len(prefix) > MAX_GENERATED_NAME_LENGTH:
        prefix = prefix[: MAX_GENERATED_NAME_LENGTH - len(suffix)] + suffix
    return prefix


def add_index_env(spec: dict[str, Any]) -> None:
    """Give every (init) container JOB_COMPLETION_INDEX from the index label."""
    field_path = f"metadata.labels['{COMPLETION_INDEX}']"
    for kind in ("initContainers", "containers"):
        for container in spec.get(kind) or []:
            env = container.setdefault("env", [])
            if any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                continue
            env.append(
                {
                    "name": COMPLETION_INDEX_ENV,
                    "valueFrom": {"fieldRef": {"fieldPath": field_path}},
                }
            )
