"""Server-side printing: `meta.k8s.io/v1` Table responses with upstream's columns.

kubectl asks for `as=Table` on every `get` and prints the columns the server chose, so the
columns here are upstream's (pkg/printers/internalversion): a kind listed in `PRINTERS` gets
its own columns, every other kind gets NAME and AGE. Columns with priority 1 show only with
`-o wide`. AGE cells are rendered here, as upstream does, with its human duration format.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from kube.api.meta import Object, parse_rfc3339

Column = tuple[str, str, int, str]  # name, type, priority, description
Row = list[Any]

NAME: Column = ("Name", "string", 0, "Name must be unique within a namespace.")
AGE: Column = (
    "Age",
    "string",
    0,
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def age(obj: Object, now: dt.datetime | None = None) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    now = now or dt.datetime.now(dt.UTC)
    return human_duration((now - parse_rfc3339(str(created))).total_seconds())


def _name(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _pod_row(pod: Object) -> Row:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    reason = status.get("reason") or status.get("phase") or "Pending"
    for c in statuses:
        state = c.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated:
            reason = terminated.get("reason") or f"ExitCode:{terminated.get('exitCode', 0)}"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Terminating"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts,
        age(pod),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _ports(service: Object) -> str:
    ports = (service.get("spec") or {}).get("ports") or []
    out = []
    for p in ports:
        text = str(p.get("port"))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _selector(selector: dict[str, Any] | None) -> str:
    if not selector:
        return "<none>"
    labels = selector.get("matchLabels", selector) if "matchLabels" in selector else selector
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _service_row(svc: Object) -> Row:
    spec = svc.get("spec") or {}
    ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress)
    external = (
        external
        or ",".join(spec.get("externalIPs") or [])
        or ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>")
    )
    return [
        _name(svc),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        external,
        _ports(svc),
        age(svc),
        _selector(spec.get("selector")),
    ]


def _containers(template: dict[str, Any]) -> tuple[str, str]:
    containers = ((template.get("spec") or {}).get("containers")) or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _deployment_row(d: Object) -> Row:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [
        _name(d),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        age(d),
        names,
        images,
        _selector(spec.get("selector")),
    ]


def _node_row(node: Object) -> Row:
    status = node.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    state = {"True": "Ready", "False": "NotReady"}.get(conditions.get("Ready", ""), "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    labels = (node.get("metadata") or {}).get("labels") or {}
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    )
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [
        _name(node),
        state,
        ",".join(roles) or "<none>",
        age(node),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP", "<none>"),
        addresses.get("ExternalIP", "<none>"),
        info.get("osImage", "<unknown>"),
        info.get("kernelVersion", "<unknown>"),
        info.get("containerRuntimeVersion", "<unknown>"),
    ]


def _col(name: str, priority: int = 0, type_: str = "string", description: str = "") -> Column:
    return (name, type_, priority, description)


PRINTERS: dict[str, tuple[list[Column], Callable[[Object], Row]]] = {
    "Namespace": (
        [NAME, _col("Status"), AGE],
        lambda o: [_name(o), (o.get("status") or {}).get("phase", "Active"), age(o)],
    ),
    "ConfigMap": (
        [NAME, _col("Data", type_="integer"), AGE],
        lambda o: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), age(o)],
    ),
    "Secret": (
        [NAME, _col("Type"), _col("Data", type_="integer"), AGE],
        lambda o: [_name(o), o.get("type", "Opaque"), len(o.get("data") or {}), age(o)],
    ),
    "ServiceAccount": (
        [NAME, _col("Secrets", type_="integer"), AGE],
        lambda o: [_name(o), len(o.get("secrets") or []), age(o)],
    ),
    "Pod": (
        [
            NAME,
            _col("Ready"),
            _col("Status"),
            _col("Restarts", type_="integer"),
            AGE,
            _col("IP", 1),
            _col("Node", 1),
            _col("Nominated Node", 1),
            _col("Readiness Gates", 1),
        ],
        _pod_row,
    ),
    "Service": (
        [
            NAME,
            _col("Type"),
            _col("Cluster-IP"),
            _col("External-IP"),
            _col("Port(s)"),
            AGE,
            _col("Selector", 1),
        ],
        _service_row,
    ),
    "Deployment": (
        [
            NAME,
            _col("Ready"),
            _col("Up-to-date", type_="integer"),
            _col("Available", type_="integer"),
            AGE,
            _col("Containers", 1),
            _col("Images", 1),
            _col("Selector", 1),
        ],
        _deployment_row,
    ),
    "Node": (
        [
            NAME,
            _col("Status"),
            _col("Roles"),
            AGE,
            _col("Version"),
            _col("Internal-IP", 1),
            _col("External-IP", 1),
            _col("OS-Image", 1),
            _col("Kernel-Version", 1),
            _col("Container-Runtime", 1),
        ],
        _node_row,
    ),
    "Lease": (
        [NAME, _col("Holder"), AGE],
        lambda o: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), age(o)],
    ),
}

DEFAULT: tuple[list[Column], Callable[[Object], Row]] = ([NAME, AGE], lambda o: [_name(o), age(o)])


def partial_metadata(obj: Object) -> Object:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def table(
    kind: str,
    objects: list[Object],
    *,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
    include_object: str = "Metadata",
    with_columns: bool = True,
) -> Object:
    """A Table of `objects` (all of `kind`). `include_object`: None, Metadata or Object."""
    columns, row = PRINTERS.get(kind, DEFAULT)
    rows = []
    for obj in objects:
        entry: dict[str, Any] = {"cells": row(obj)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object == "Metadata":
            entry["object"] = partial_metadata(obj)
        rows.append(entry)
    meta: dict[str, Any] = {}
    if resource_version:
        meta["resourceVersion"] = resource_version
    if continue_token:
        meta["continue"] = continue_token
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    out: Object = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    if with_columns:
        out["columnDefinitions"] = [
            {
                "name": n,
                "type": t,
                "format": "name" if c is NAME else "",
                "description": d,
                "priority": p,
            }
            for c in columns
            for (n, t, p, d) in [c]
        ]
    else:
        out["columnDefinitions"] = []
    out["rows"] = rows
    return out
