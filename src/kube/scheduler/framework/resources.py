"""Resource arithmetic as the scheduler counts it: integers per resource name.

CPU is counted in millicores, everything else (memory, ephemeral-storage, hugepages, extended
resources such as `example.com/gpu`) in its integer value; `pods` is the pod count. A pod's
request is upstream's `PodRequests`: the sum over its containers, raised to the largest init
container where that is bigger (an init container runs alone before the others; a restartable
init container, a sidecar, keeps running and adds to everything after it), plus the pod
overhead. Scoring counts CPU and memory with upstream's non-zero defaults (100m, 200Mi) so
that pods without requests still spread.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from kube.api.meta import Object
from kube.api.quantity import QuantityError, parse_value

CPU = "cpu"
MEMORY = "memory"
EPHEMERAL_STORAGE = "ephemeral-storage"
PODS = "pods"

DEFAULT_MILLI_CPU_REQUEST = 100  # upstream's DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024  # DefaultMemoryRequest

Resources = dict[str, int]


def quantity_int(name: str, value: object) -> int:
    """One resource quantity as the scheduler's integer (millicores for cpu)."""
    if isinstance(value, str):
        return _text_int(name, value)
    try:
        quantity = parse_value(value)
    except (QuantityError, TypeError, ValueError):
        return 0
    return quantity.milli_value() if name == CPU else quantity.int_value()


@lru_cache(maxsize=4096)
def _text_int(name: str, text: str) -> int:
    """`quantity_int` of a quantity's text, remembered: every pod of a workload asks for the
    same few ("100m", "500Mi"), and parsing them was a twentieth of a scheduling cycle."""
    try:
        quantity = parse_value(text)
    except (QuantityError, TypeError, ValueError):
        return 0
    return quantity.milli_value() if name == CPU else quantity.int_value()


def resource_list(values: Mapping[str, Any] | None) -> Resources:
    return {str(k): quantity_int(str(k), v) for k, v in (values or {}).items()}


def _add(into: Resources, other: Mapping[str, int]) -> None:
    for name, value in other.items():
        into[name] = into.get(name, 0) + value


def _max(into: Resources, other: Mapping[str, int]) -> None:
    for name, value in other.items():
        if value > into.get(name, 0):
            into[name] = value


def _requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    requests = resource_list(resources.get("requests"))
    # A limit without a request defaults the request (done by the API server's defaulting
    # too; repeated here so objects that skipped it count the same).
    for name, value in resource_list(resources.get("limits")).items():
        requests.setdefault(name, value)
    return requests


def pod_requests(pod: Object) -> Resources:
    """upstream's `resource.PodRequests` (without in-place resize)."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        _add(total, _requests(container))
    sidecars: Resources = {}
    init_max: Resources = {}
    for container in spec.get("initContainers") or []:
        requests = _requests(container)
        if container.get("restartPolicy") == "Always":
            _add(sidecars, requests)
            _max(init_max, sidecars)
        else:
            running = dict(sidecars)
            _add(running, requests)
            _max(init_max, running)
    _add(total, sidecars)
    _max(total, init_max)
    _add(total, resource_list(spec.get("overhead")))
    return {k: v for k, v in total.items() if v}


def non_zero_requests(requests: Mapping[str, int]) -> Resources:
    """CPU and memory with upstream's defaults where the pod asks for none."""
    out = dict(requests)
    if not out.get(CPU):
        out[CPU] = DEFAULT_MILLI_CPU_REQUEST
    if not out.get(MEMORY):
        out[MEMORY] = DEFAULT_MEMORY_REQUEST
    return out


def is_extended(name: str) -> bool:
    """Names outside the kubernetes.io domain with a slash (and not requests.*)."""
    if name in (CPU, MEMORY, EPHEMERAL_STORAGE, PODS) or name.startswith("hugepages-"):
        return False
    return "/" in name and not name.startswith("kubernetes.io/")


def node_allocatable(node: Object) -> Resources:
    status = node.get("status") or {}
    allocatable = status.get("allocatable")
    if allocatable is None:
        allocatable = status.get("capacity")
    return resource_list(allocatable)
