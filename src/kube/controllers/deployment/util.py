"""Deployment arithmetic and bookkeeping, as pure functions (upstream's deployment/util).

Everything here works on wire-shape dicts and writes nothing:

- the rollout bounds: `max_surge` (percentages rounded up) and `max_unavailable` (rounded
  down), with upstream's fencepost rule (both 0 means maxUnavailable 1);
- the pod-template hash that names a Deployment's ReplicaSets (`compute_hash`);
- which ReplicaSet is the new one (its template equals the Deployment's, ignoring the
  `pod-template-hash` label) and which are old;
- the new ReplicaSet's size during a rolling update (`new_rs_new_replicas`) and the
  proportional share of a scale event (`get_proportion`);
- the revision annotations (`deployment.kubernetes.io/revision`, `revision-history`,
  `desired-replicas`, `max-replicas`) and the annotations a ReplicaSet copies from its
  Deployment.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from kube.api.meta import Object
from kube.controllers.pods import controller_of

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
# Upstream's maxRevHistoryLengthInChars.
MAX_REVISION_HISTORY_CHARS = 2000
ANNOTATIONS_TO_SKIP = frozenset(
    {
        LAST_APPLIED_ANNOTATION,
        REVISION_ANNOTATION,
        REVISION_HISTORY_ANNOTATION,
        DESIRED_REPLICAS_ANNOTATION,
        MAX_REPLICAS_ANNOTATION,
        ROLLBACK_TO_ANNOTATION,
    }
)

# rand.SafeEncodeString's alphabet: no vowels, no 0/1/3 (no words, nothing confusable).
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(obj: Object) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def replicas(obj: Object | None) -> int:
    """`spec.replicas` (defaulted to 1 by the API server, so absent means 1)."""
    if obj is None:
        return 0
    value = _spec(obj).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: Object | None, name: str) -> int:
    return 0 if obj is None else int(_status(obj).get(name) or 0)


# -- rollout bounds ----------------------------------------------------------------------------


def scaled_value(value: int | str | None, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        percent = int(text[:-1])
    except ValueError:
        raise ValueError(
            f"invalid value {text!r}: strconv.Atoi: parsing {text[:-1]!r}: invalid syntax"
        ) from None
    product = percent * total
    return -(-product // 100) if round_up else product // 100


def is_rolling_update(d: Object) -> bool:
    strategy = _spec(d).get("strategy") or {}
    return str(strategy.get("type", "RollingUpdate")) == "RollingUpdate"


def resolve_fenceposts(
    max_surge_value: int | str | None, max_unavailable_value: int | str | None, desired: int
) -> tuple[int, int]:
    """(surge, unavailable) for `desired` replicas; both 0 makes unavailable 1 (quota may
    forbid surging, so the rollout must be able to go down by one)."""
    surge = scaled_value(max_surge_value, desired, True)
    unavailable = scaled_value(max_unavailable_value, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _rolling_params(d: Object) -> tuple[int | str | None, int | str | None]:
    rolling = (_spec(d).get("strategy") or {}).get("rollingUpdate") or {}
    return rolling.get("maxSurge"), rolling.get("maxUnavailable")


def max_surge(d: Object) -> int:
    if not is_rolling_update(d):
        return 0
    surge, _ = resolve_fenceposts(*_rolling_params(d), replicas(d))
    return surge


def max_unavailable(d: Object) -> int:
    if not is_rolling_update(d) or replicas(d) == 0:
        return 0
    _, unavailable = resolve_fenceposts(*_rolling_params(d), replicas(d))
    return min(unavailable, replicas(d))


# -- the template hash -------------------------------------------------------------------------


def safe_encode(text: str) -> str:
    """rand.SafeEncodeString: each character mapped into the safe alphabet."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in text)


def fnv32a(data: bytes, start: int = _FNV32_OFFSET) -> int:
    value = start
    for byte in data:
        value ^= byte
        value = (value * _FNV32_PRIME) & 0xFFFFFFFF
    return value


def compute_hash(template: Object, collision_count: int | None) -> str:
    """The `pod-template-hash` of a pod template (controller.ComputeHash).

    Upstream feeds FNV-32a with a spew dump of the Go PodTemplateSpec struct
    (hashutil.DeepHashObject), which cannot be reproduced outside Go, so hashes differ from a
    real cluster's. What is kept is everything else: FNV-32a, here of the template's canonical
    JSON (`canonical`: no null/empty values; sorted keys, no spaces); then, with a collision
    count, its 4 little-endian bytes padded to 8; the decimal of the 32-bit sum rendered with
    SafeEncodeString. The result is stable for equal templates and changes with
    `status.collisionCount`.
    """
    data = json.dumps(canonical(template), sort_keys=True, separators=(",", ":")).encode()
    value = fnv32a(data)
    if collision_count is not None:
        value = fnv32a((collision_count & 0xFFFFFFFF).to_bytes(4, "little") + b"\0" * 4, value)
    return safe_encode(str(value))


def canonical(value: Any) -> Any:
    """A value as Go decodes it: null, {} and [] are all the zero value, so they are dropped.

    Upstream compares templates with apiequality.Semantic.DeepEqual, which treats empty and
    nil maps and slices alike, and a `creationTimestamp: null` (how Go clients send a zero
    time) decodes to the same struct as no field at all.
    """
    if isinstance(value, dict):
        out = {k: canonical(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _without_hash(template: Object) -> Object:
    """The template's canonical form without the hash label (`canonical` builds new
    containers, so the input is never changed and need not be copied first)."""
    if not template:
        return {}
    meta = template.get("metadata")
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if isinstance(meta, dict) and isinstance(labels, dict) and POD_TEMPLATE_HASH_LABEL in labels:
        kept = {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH_LABEL}
        template = {**template, "metadata": {**meta, "labels": kept}}
    result: Object = canonical(template)
    return result


def equal_ignore_hash(t1: Object | None, t2: Object | None) -> bool:
    """Two pod templates are equal apart from the `pod-template-hash` label."""
    return _without_hash(t1 or {}) == _without_hash(t2 or {})


# -- replica sets of a deployment --------------------------------------------------------------


def creation_key(rs: Object) -> tuple[str, str]:
    """ReplicaSetsByCreationTimestamp: older first, then by name."""
    meta = _meta(rs)
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def by_creation(rss: Iterable[Object]) -> list[Object]:
    return sorted(rss, key=creation_key)


def by_size_newer(rss: Iterable[Object]) -> list[Object]:
    """ReplicaSetsBySizeNewer: larger first; among equals, newer first."""
    newest_first = sorted(rss, key=creation_key, reverse=True)
    return sorted(newest_first, key=lambda rs: -replicas(rs))


def by_size_older(rss: Iterable[Object]) -> list[Object]:
    """ReplicaSetsBySizeOlder: larger first; among equals, older first."""
    return sorted(by_creation(rss), key=lambda rs: -replicas(rs))


def find_new_replica_set(d: Object, rss: list[Object]) -> Object | None:
    """The oldest ReplicaSet whose template equals the Deployment's (ignoring the hash)."""
    template = _spec(d).get("template") or {}
    for rs in by_creation(rss):
        if equal_ignore_hash(_spec(rs).get("template") or {}, template):
            return rs
    return None


def find_old_replica_sets(d: Object, rss: list[Object]) -> list[Object]:
    new = find_new_replica_set(d, rss)
    new_uid = _meta(new).get("uid") if new is not None else None
    return [rs for rs in rss if new is None or _meta(rs).get("uid") != new_uid]


def filter_active(rss: Iterable[Object | None]) -> list[Object]:
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def total_replicas(rss: Iterable[Object | None]) -> int:
    return sum(replicas(rs) for rs in rss if rs is not None)


def total_status(rss: Iterable[Object | None], field: str) -> int:
    return sum(status_int(rs, field) for rs in rss if rs is not None)


def find_active_or_latest(new_rs: Object | None, old_rss: list[Object]) -> Object | None:
    """The one active ReplicaSet, or the newest if none is active; None if several are."""
    if new_rs is None and not old_rss:
        return None
    old_newest_first = sorted(old_rss, key=creation_key, reverse=True)
    active = filter_active([*old_newest_first, new_rs])
    if not active:
        return new_rs if new_rs is not None else old_newest_first[0]
    if len(active) == 1:
        return active[0]
    return None


def is_saturated(d: Object, rs: Object | None) -> bool:
    """The new ReplicaSet runs the full, available, Deployment size it was annotated for."""
    if rs is None:
        return False
    try:
        desired = int((_meta(rs).get("annotations") or {}).get(DESIRED_REPLICAS_ANNOTATION, ""))
    except ValueError:
        return False
    want = replicas(d)
    return replicas(rs) == want and desired == want and status_int(rs, "availableReplicas") == want


def new_rs_new_replicas(d: Object, all_rss: list[Object | None], new_rs: Object) -> int:
    """The size the new ReplicaSet may grow to now (NewRSNewReplicas)."""
    strategy = (_spec(d).get("strategy") or {}).get("type", "RollingUpdate")
    if strategy == "Recreate":
        return replicas(d)
    if strategy != "RollingUpdate":
        raise ValueError(f"deployment type {strategy} isn't supported")
    surge = scaled_value(_rolling_params(d)[0], replicas(d), True)
    current = total_replicas(all_rss)
    max_total = replicas(d) + surge
    if current >= max_total:
        return replicas(new_rs)
    scale_up = min(max_total - current, replicas(d) - replicas(new_rs))
    return replicas(new_rs) + scale_up


def _annotation_int(rs: Object, name: str) -> int | None:
    raw = (_meta(rs).get("annotations") or {}).get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def replica_set_fraction(rs: Object, d: Object) -> int:
    """What `rs` gains (negative: loses) when `d` is scaled (getReplicaSetFraction)."""
    if replicas(d) == 0:
        return -replicas(rs)
    deployment_max = replicas(d) + max_surge(d)
    annotated = _annotation_int(rs, MAX_REPLICAS_ANNOTATION)
    if annotated is None:
        annotated = status_int(d, "replicas")
    if annotated == 0:
        return 0
    size = replicas(rs) * deployment_max / annotated
    # integer.RoundToInt32 is math.Round: halves away from zero.
    rounded = math.floor(size + 0.5) if size >= 0 else -math.floor(-size + 0.5)
    return rounded - replicas(rs)


def get_proportion(rs: Object | None, d: Object, to_add: int, added: int) -> int:
    """The share of `to_add` for `rs`, never beyond what is left to add (GetProportion)."""
    if rs is None or replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    if to_add > 0:
        return min(fraction, allowed)
    return max(fraction, allowed)


def proportional_sizes(d: Object, active: list[Object]) -> tuple[list[Object], dict[str, int], str]:
    """The new size of each active ReplicaSet when `d` is scaled mid-rollout.

    Upstream's DeploymentController.scale arithmetic: the room left (`replicas + maxSurge`
    minus what the sets hold) is shared in proportion to each set's size, largest first (newer
    first when growing, older first when shrinking); whatever rounding leaves over goes to the
    first. Returns the sets in that order, the sizes by name and "up", "down" or "".
    """
    held = total_replicas(active)
    allowed = replicas(d) + max_surge(d) if replicas(d) > 0 else 0
    to_add = allowed - held
    operation = ""
    ordered = list(active)
    if to_add > 0:
        ordered, operation = by_size_newer(active), "up"
    elif to_add < 0:
        ordered, operation = by_size_older(active), "down"
    added = 0
    sizes: dict[str, int] = {}
    for rs in ordered:
        name = str(_meta(rs).get("name"))
        if to_add != 0:
            share = get_proportion(rs, d, to_add, added)
            sizes[name] = replicas(rs) + share
            added += share
        else:
            sizes[name] = replicas(rs)
    if ordered and to_add != 0:
        first = str(_meta(ordered[0]).get("name"))
        sizes[first] = max(0, sizes[first] + to_add - added)
    return ordered, sizes, operation


# -- annotations -------------------------------------------------------------------------------


def revision(obj: Object) -> int:
    """The revision annotation as a number (0 when missing or not a number)."""
    raw = (_meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def max_revision(rss: Iterable[Object]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def _annotations(obj: Object) -> dict[str, str]:
    meta = obj.setdefault("metadata", {})
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
        meta["annotations"] = annotations
    return annotations


def copy_deployment_annotations(d: Object, rs: Object) -> bool:
    """Copy the Deployment's annotations (but the skipped ones) onto the ReplicaSet."""
    changed = False
    annotations = _annotations(rs)
    for key, value in (_meta(d).get("annotations") or {}).items():
        if key in ANNOTATIONS_TO_SKIP or annotations.get(key) == value:
            continue
        annotations[key] = value
        changed = True
    return changed


def replicas_annotations_need_update(rs: Object, desired: int, max_replicas: int) -> bool:
    annotations = _meta(rs).get("annotations") or {}
    return annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired) or annotations.get(
        MAX_REPLICAS_ANNOTATION
    ) != str(max_replicas)


def set_replicas_annotations(rs: Object, desired: int, max_replicas: int) -> bool:
    if not replicas_annotations_need_update(rs, desired, max_replicas):
        return False
    annotations = _annotations(rs)
    annotations[DESIRED_REPLICAS_ANNOTATION] = str(desired)
    annotations[MAX_REPLICAS_ANNOTATION] = str(max_replicas)
    return True


def set_new_rs_annotations(d: Object, rs: Object, new_revision: int, exists: bool) -> bool:
    """SetNewReplicaSetAnnotations: copied annotations, the revision, and on a revision bump of
    an existing set (a rollback to it) the old revision appended to `revision-history`."""
    changed = copy_deployment_annotations(d, rs)
    annotations = _annotations(rs)
    old_raw = annotations.get(REVISION_ANNOTATION)
    try:
        old = int(old_raw) if old_raw not in (None, "") else 0
    except ValueError:
        return False
    if old < new_revision:
        annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
        if old_raw not in (None, ""):
            history = annotations.get(REVISION_HISTORY_ANNOTATION, "")
            if not history:
                annotations[REVISION_HISTORY_ANNOTATION] = str(old_raw)
            else:
                parts = history.split(",")
                total = len(history) + len(str(old_raw)) + 1
                start = 0
                while total > MAX_REVISION_HISTORY_CHARS and start < len(parts):
                    total -= len(parts[start]) + 1
                    start += 1
                if total <= MAX_REVISION_HISTORY_CHARS:
                    annotations[REVISION_HISTORY_ANNOTATION] = ",".join(
                        [*parts[start:], str(old_raw)]
                    )
    if not exists and set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)):
        changed = True
    return changed


def is_controlled_by(obj: Object, owner: Object) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == _meta(owner).get("uid")
