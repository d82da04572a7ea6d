"""Nodes, pods and snapshots for scheduler unit tests (upstream's st.MakeNode/MakePod)."""

from __future__ import annotations

from typing import Any

from kube.scheduler.cache import Cache
from kube.scheduler.framework.snapshot import Snapshot


def node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: str = "110",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
    extra: dict[str, str] | None = None,
    images: list[tuple[list[str], int]] | None = None,
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods, **(extra or {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
        },
        "spec": {"taints": taints or [], "unschedulable": unschedulable},
        "status": {
            "allocatable": allocatable,
            "capacity": allocatable,
            "images": [{"names": n, "sizeBytes": s} for n, s in images or []],
        },
    }


def pod(
    name: str,
    *,
    namespace: str = "default",
    cpu: str | None = None,
    memory: str | None = None,
    extra: dict[str, str] | None = None,
    node_name: str = "",
    labels: dict[str, str] | None = None,
    priority: int | None = None,
    spec: dict[str, Any] | None = None,
    image: str = "busybox",
    host_ports: list[int] | None = None,
) -> dict[str, Any]:
    requests: dict[str, str] = {**(extra or {})}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    container: dict[str, Any] = {"name": "c", "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    if host_ports:
        container["ports"] = [{"containerPort": p, "hostPort": p} for p in host_ports]
    body: dict[str, Any] = {"containers": [container], **(spec or {})}
    if node_name:
        body["nodeName"] = node_name
    if priority is not None:
        body["priority"] = priority
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "labels": labels or {},
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": body,
        "status": {"phase": "Pending"},
    }


def cache_of(
    nodes: list[dict[str, Any]], pods: tuple[dict[str, Any], ...] | list[dict[str, Any]] = ()
) -> Cache:
    cache = Cache()
    for n in nodes:
        cache.add_node(n)
    for p in pods:
        cache.add_pod(p)
    return cache


def snapshot_of(
    nodes: list[dict[str, Any]], pods: tuple[dict[str, Any], ...] | list[dict[str, Any]] = ()
) -> Snapshot:
    return cache_of(nodes, pods).snapshot()


class Events:
    """A recorder keeping (regarding's name, type, reason, note) of each event, in order;
    `actions` keeps each event's action (upstream's events.k8s.io recorder API)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str]] = []
        self.actions: list[str] = []
        self.related: list[str | None] = []

    def eventf(
        self,
        regarding: dict[str, Any],
        related: dict[str, Any] | None,
        event_type: str,
        reason: str,
        action: str,
        note: str,
        *args: Any,
    ) -> None:
        message = note % args if args else note
        self.seen.append((regarding["metadata"]["name"], event_type, reason, message))
        self.actions.append(action)
        self.related.append(related["metadata"]["name"] if related is not None else None)

    def with_component(self, component: str, host: str | None = None) -> Events:
        return self
