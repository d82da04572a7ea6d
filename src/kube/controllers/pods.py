"""What workload controllers ask of pods: liveness, readiness, availability, and deletion order.

The pure functions of upstream's pkg/controller/controller_utils.go and pkg/api/v1/pod that
the ReplicaSet (and through it the Deployment) controller relies on:

- `is_pod_active`: not Succeeded/Failed and not being deleted (only these count as replicas);
- `is_pod_ready` / `is_pod_available`: the Ready condition, and Ready for `minReadySeconds`;
- `pod_from_template`: the pod a controller creates from its template (labels, annotations,
  finalizers and spec copied, `generateName: <owner>-`, the controller's ownerReference);
- `pods_to_delete`: which pods go first when scaling down, upstream's `ActivePodsWithRanks`
  order (unassigned < assigned; Pending < Unknown < Running; not ready < ready; lower
  `controller.kubernetes.io/pod-deletion-cost`; more co-located related pods; ready for less
  time, by logarithmic buckets; more restarts; newer, by logarithmic buckets; uid);
- `slow_start_batch`: create in batches of 1, 2, 4, ... and stop at the first failing batch, so
  a quota or admission error costs one request, not hundreds;
- `pod_controller_uid_index` / `pods_for_owner`: upstream's PodControllerUIDIndex, the pods a
  controller may own (its own, by the uid of their controller reference, and its namespace's
  orphans) without walking every pod of the namespace on each sync.

Objects are wire-shape dicts; timestamps are RFC 3339 strings.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import functools
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kube.api.meta import Object, parse_rfc3339
from kube.client.informer import Indexer

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
# Upstream's controller.SlowStartInitialBatchSize.
SLOW_START_INITIAL_BATCH_SIZE = 1

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}

# Upstream's controller.PodControllerUIDIndex and OrphanPodIndexKey.
POD_CONTROLLER_UID_INDEX = "podControllerUID"
ORPHAN_POD_INDEX_KEY = "_ORPHAN_POD"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _status(obj: Object) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def controller_of(obj: Object) -> dict[str, Any] | None:
    """The ownerReference with `controller: true`, if any (metav1.GetControllerOf)."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def orphan_pod_index_key(namespace: str) -> str:
    """The index value of the pods of `namespace` that have no controller."""
    return f"{ORPHAN_POD_INDEX_KEY}/{namespace}"


def pod_controller_uid_index(pod: Object) -> list[str]:
    """Index function: the uid of the pod's controller, or its namespace's orphan key."""
    ref = controller_of(pod)
    if ref is not None:
        return [str(ref.get("uid"))]
    return [orphan_pod_index_key(str(_meta(pod).get("namespace") or ""))]


def pods_for_owner(indexer: Indexer, owner: Object) -> list[Object]:
    """The pods `owner` controls or could adopt: those whose controller reference carries its
    uid, and the orphans of its namespace (upstream's FilterPodsByOwner over the index).
    Pods another controller owns can be neither claimed nor released, so they are left out."""
    meta = _meta(owner)
    namespace = str(meta.get("namespace") or "")
    return indexer.by_index(POD_CONTROLLER_UID_INDEX, str(meta.get("uid"))) + indexer.by_index(
        POD_CONTROLLER_UID_INDEX, orphan_pod_index_key(namespace)
    )


def controller_ref(owner: Object, api_version: str, kind: str) -> dict[str, Any]:
    """metav1.NewControllerRef: the reference a controller puts on what it creates."""
    meta = _meta(owner)
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_pod_active(pod: Object) -> bool:
    phase = _status(pod).get("phase")
    return phase not in ("Succeeded", "Failed") and not _meta(pod).get("deletionTimestamp")


def _ready_condition(pod: Object) -> dict[str, Any] | None:
    for cond in _status(pod).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: Object) -> bool:
    cond = _ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def _time(text: Any) -> dt.datetime | None:
    if not text:
        return None
    try:
        return parse_rfc3339(str(text))
    except ValueError:
        return None


def is_pod_available(pod: Object, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready, and (with `minReadySeconds`) Ready since at least that long ago."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    cond = _ready_condition(pod) or {}
    since = _time(cond.get("lastTransitionTime"))
    return since is not None and since + dt.timedelta(seconds=min_ready_seconds) < now


def _valid_generate_name_prefix(name: str) -> str:
    # Upstream's getPodsPrefix: `<name>-`, cut to a valid generateName if the name is long.
    prefix = f"{name}-"
    return prefix[:58] if len(prefix) > 58 else prefix


def pod_from_template(template: Object, owner_name: str, ref: dict[str, Any] | None) -> Object:
    """controller.GetPodFromTemplate: the pod to create for `owner_name`."""
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {"generateName": _valid_generate_name_prefix(owner_name)}
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    if ref is not None:
        meta["ownerReferences"] = [dict(ref)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


async def slow_start_batch(count: int, initial: int, create: Callable[[], Awaitable[None]]) -> int:
    """Call `create` `count` times in doubling batches; the successes, raising the first error.

    upstream's slowStartBatch: a batch runs concurrently; if any call in it fails, no further
    batch starts and the number of successful calls so far is reported with the error (as
    `SlowStartError`), so the caller can lower its expectations by the skipped ones.
    """
    remaining = count
    successes = 0
    batch = min(remaining, initial)
    while batch > 0:
        results = await asyncio.gather(*(create() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errors)
        if errors:
            raise SlowStartError(successes, errors[0])
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes


class SlowStartError(Exception):
    """A batch failed: `successes` calls had succeeded, `error` is the first failure."""

    def __init__(self, successes: int, error: BaseException) -> None:
        super().__init__(str(error))
        self.successes = successes
        self.error = error


# -- deletion order ----------------------------------------------------------------------------


def _deletion_cost(pod: Object) -> int:
    raw = (_meta(pod).get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def _max_restarts(pod: Object) -> tuple[int, int]:
    """(max restarts of regular containers, max restarts of restartable init containers)."""
    status = _status(pod)
    regular = max(
        (int(c.get("restartCount") or 0) for c in status.get("containerStatuses") or []),
        default=0,
    )
    sidecar = max(
        (int(c.get("restartCount") or 0) for c in status.get("initContainerStatuses") or []),
        default=0,
    )
    return regular, sidecar


def _log_rank(t: dt.datetime, now: dt.datetime) -> int:
    nanos = (now - t) / dt.timedelta(microseconds=1) * 1000
    return int(math.log2(nanos)) if nanos > 0 else -1


def _ready_time(pod: Object) -> dt.datetime | None:
    if not is_pod_ready(pod):
        return None
    return _time((_ready_condition(pod) or {}).get("lastTransitionTime"))


def _newer_first(
    t1: dt.datetime | None, t2: dt.datetime | None, now: dt.datetime, uid1: str, uid2: str
) -> int | None:
    """Compare two times, newer (or unknown) first, by logarithmic buckets of age; None if tie."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:
        # afterOrZero: a zero time sorts before any time.
        return -1 if t1 is None else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return -1 if uid1 < uid2 else (1 if uid1 > uid2 else 0)
    return -1 if diff < 0 else 1


def compare_for_deletion(a: tuple[Object, int], b: tuple[Object, int], now: dt.datetime) -> int:
    """Upstream's ActivePodsWithRanks.Less as a comparator: negative if `a` goes first."""
    (pa, rank_a), (pb, rank_b) = a, b
    node_a = str((pa.get("spec") or {}).get("nodeName") or "")
    node_b = str((pb.get("spec") or {}).get("nodeName") or "")
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    phase_a = _PHASE_ORDINAL.get(str(_status(pa).get("phase") or ""), 0)
    phase_b = _PHASE_ORDINAL.get(str(_status(pb).get("phase") or ""), 0)
    if phase_a != phase_b:
        return -1 if phase_a < phase_b else 1
    ready_a, ready_b = is_pod_ready(pa), is_pod_ready(pb)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    cost_a, cost_b = _deletion_cost(pa), _deletion_cost(pb)
    if cost_a != cost_b:
        return -1 if cost_a < cost_b else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a = str(_meta(pa).get("uid") or "")
    uid_b = str(_meta(pb).get("uid") or "")
    if ready_a and ready_b:
        order = _newer_first(_ready_time(pa), _ready_time(pb), now, uid_a, uid_b)
        if order:
            return order
    restarts_a, restarts_b = _max_restarts(pa), _max_restarts(pb)
    if restarts_a[0] != restarts_b[0]:
        return -1 if restarts_a[0] > restarts_b[0] else 1
    if restarts_a[1] != restarts_b[1]:
        return -1 if restarts_a[1] > restarts_b[1] else 1
    created_a = _time(_meta(pa).get("creationTimestamp"))
    created_b = _time(_meta(pb).get("creationTimestamp"))
    return _newer_first(created_a, created_b, now, uid_a, uid_b) or 0


def pods_to_delete(
    pods: list[Object], related: Iterable[Object], count: int, now: dt.datetime
) -> list[Object]:
    """getPodsToDelete: the `count` pods to delete first among `pods`.

    `related` are the active pods of every controller sharing the owner's owner (for a
    ReplicaSet of a Deployment: all its ReplicaSets' pods); a pod on a node crowded with
    related pods goes before a lonely one.
    """
    if count >= len(pods):
        return list(pods[:count])
    on_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [
        (pod, on_node.get(str((pod.get("spec") or {}).get("nodeName") or ""), 0)) for pod in pods
    ]

    def order(a: tuple[Object, int], b: tuple[Object, int]) -> int:
        return compare_for_deletion(a, b, now)

    ranked.sort(key=functools.cmp_to_key(order))
    return [pod for pod, _ in ranked[:count]]
