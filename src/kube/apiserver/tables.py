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
from kube.api.selectors import SelectorError, format_requirements, from_label_selector

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


def _since(timestamp: Any) -> str:
    """upstream's translateTimestampSince: the human age of an RFC 3339 timestamp."""
    if not timestamp:
        return "<unknown>"
    return human_duration((dt.datetime.now(dt.UTC) - parse_rfc3339(str(timestamp))).total_seconds())


def _condition_true(status: dict[str, Any], kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or []
    )


def _terminated_reason(terminated: dict[str, Any], prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + str(terminated["reason"])
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _pod_row(pod: Object) -> Row:
    """upstream's printPod (pkg/printers/internalversion), every column (wide included)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    meta = pod.get("metadata") or {}
    restarts = 0
    sidecar_restarts = 0
    last_restart = ""  # RFC 3339 in UTC compares as text
    last_sidecar_restart = ""
    total = len(spec.get("containers") or [])
    ready = 0
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecars = {n for n, c in init_specs.items() if c.get("restartPolicy") == "Always"}
    total += len(sidecars)

    def finished(container: dict[str, Any]) -> str:
        last = (container.get("lastState") or {}).get("terminated") or {}
        return str(last.get("finishedAt") or "")

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, container in enumerate(init_statuses):
        restarts += int(container.get("restartCount") or 0)
        last_restart = max(last_restart, finished(container))
        sidecar = container.get("name") in sidecars
        if sidecar:
            sidecar_restarts += int(container.get("restartCount") or 0)
            last_sidecar_restart = max(last_sidecar_restart, finished(container))
        state = container.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
            continue
        if sidecar and container.get("started"):
            if container.get("ready"):
                ready += 1
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = f"Init:{waiting['reason']}"
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += int(container.get("restartCount") or 0)
            last_restart = max(last_restart, finished(container))
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif container.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts and last_restart:
        restarts_cell = f"{restarts} ({_since(last_restart)} ago)"

    pod_ips = status.get("podIPs") or []
    pod_ip = (pod_ips[0].get("ip") if pod_ips else None) or status.get("podIP") or "<none>"
    gates = spec.get("readinessGates") or []
    readiness = "<none>"
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        readiness = f"{true}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restarts_cell,
        age(pod),
        pod_ip,
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness,
    ]


def _ports(service: Object) -> str:
    ports = (service.get("spec") or {}).get("ports") or []
    out = []
    for p in ports:
        protocol = p.get("protocol", "TCP")
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p['nodePort']}/{protocol}")
        else:
            out.append(f"{p.get('port')}/{protocol}")
    return ",".join(out) or "<none>"


def _label_set(labels: dict[str, Any] | None) -> str:
    """upstream's labels.FormatLabels: `k=v` sorted by key, `<none>` when empty."""
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _label_selector(selector: dict[str, Any] | None) -> str:
    """A `LabelSelector` as upstream prints it (`metav1.LabelSelectorAsSelector(...).String()`)."""
    try:
        return format_requirements(from_label_selector(selector))
    except SelectorError:
        return "<invalid>"


def _service_external_ip(svc: Object) -> str:
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external_ips = list(spec.get("externalIPs") or [])
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external_ips) or "<none>"
    if kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = sorted({i.get("ip") or i.get("hostname") for i in ingress} - {None, ""})
        return ",".join(found + external_ips) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName") or "")
    return "<unknown>"


def _service_row(svc: Object) -> Row:
    spec = svc.get("spec") or {}
    cluster_ips = spec.get("clusterIPs") or []
    return [
        _name(svc),
        spec.get("type", "ClusterIP"),
        (cluster_ips[0] if cluster_ips else None) or spec.get("clusterIP") or "<none>",
        _service_external_ip(svc),
        _ports(svc),
        age(svc),
        _label_set(spec.get("selector")),
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
        _label_selector(spec.get("selector")),
    ]


def _node_row(node: Object) -> Row:
    status = node.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [
        ("Ready" if ready[-1].get("status") == "True" else "NotReady") if ready else "Unknown"
    ]
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            if role := key.removeprefix("node-role.kubernetes.io/"):
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        for a in status.get("addresses") or []:
            if a.get("type") == kind:
                return str(a.get("address", ""))
        return "<none>"

    return [
        _name(node),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        age(node),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def _col(name: str, priority: int = 0, type_: str = "string", description: str = "") -> Column:
    return (name, type_, priority, description)


def _event_row(ev: Object) -> Row:
    """upstream's printEvent (every column; the server prints wide)."""
    regarding = ev.get("involvedObject") or ev.get("regarding") or {}
    source = ev.get("source") or ev.get("deprecatedSource") or {}
    first_ts = ev.get("firstTimestamp") or ev.get("deprecatedFirstTimestamp")
    last_ts = ev.get("lastTimestamp") or ev.get("deprecatedLastTimestamp")
    first = _since(first_ts) if first_ts else _since(ev.get("eventTime"))
    last = _since(last_ts) if last_ts else first
    count = ev.get("count") or ev.get("deprecatedCount") or 0
    series = ev.get("series")
    if isinstance(series, dict):
        last = _since(series.get("lastObservedTime"))
        count = series.get("count") or 0
    elif not count:
        count = 1  # singleton events of the new API carry no count
    kind = str(regarding.get("kind") or "").lower()
    target = f"{kind}/{regarding['name']}" if regarding.get("name") else kind
    component = source.get("component") or ev.get("reportingController") or ""
    instance = source.get("host") or ev.get("reportingInstance") or ""
    return [
        last,
        ev.get("type", ""),
        ev.get("reason", ""),
        target,
        regarding.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(ev.get("message") or ev.get("note") or "").strip(),
        first,
        int(count),
        _name(ev),
    ]


def _replica_set_row(rs: Object) -> Row:
    spec, status = rs.get("spec") or {}, rs.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    return [
        _name(rs),
        spec.get("replicas", 1),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        age(rs),
        names,
        images,
        _label_selector(spec.get("selector")),
    ]


def _stateful_set_row(sts: Object) -> Row:
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    names, images = _containers(spec.get("template") or {})
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [_name(sts), ready, age(sts), names, images]


def _daemon_set_row(ds: Object) -> Row:
    spec, status = ds.get("spec") or {}, ds.get("status") or {}
    template = spec.get("template") or {}
    names, images = _containers(template)
    return [
        _name(ds),
        status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0),
        status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0),
        status.get("numberAvailable", 0),
        _label_set((template.get("spec") or {}).get("nodeSelector")),
        age(ds),
        names,
        images,
        _label_selector(spec.get("selector")),
    ]


def _job_status(job: Object) -> str:
    """upstream's printJob STATUS: the first of these conditions that holds."""
    status = job.get("status") or {}
    if _condition_true(status, "Complete"):
        return "Complete"
    if _condition_true(status, "Failed"):
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if _condition_true(status, "Suspended"):
        return "Suspended"
    if _condition_true(status, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_row(job: Object) -> Row:
    spec, status = job.get("spec") or {}, job.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    duration = ""
    if status.get("startTime"):
        start = parse_rfc3339(str(status["startTime"]))
        end = (
            parse_rfc3339(str(status["completionTime"]))
            if status.get("completionTime")
            else dt.datetime.now(dt.UTC)
        )
        duration = human_duration((end - start).total_seconds())
    names, images = _containers(spec.get("template") or {})
    return [
        _name(job),
        _job_status(job),
        completions,
        duration,
        age(job),
        names,
        images,
        _label_selector(spec.get("selector")),
    ]


def _cron_job_row(cj: Object) -> Row:
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = _containers(job_spec.get("template") or {})
    suspend = spec.get("suspend")
    last = status.get("lastScheduleTime")
    return [
        _name(cj),
        spec.get("schedule", ""),
        spec.get("timeZone") or "<none>",
        "<unset>" if suspend is None else ("True" if suspend else "False"),
        len(status.get("active") or []),
        _since(last) if last else "<none>",
        age(cj),
        names,
        images,
        _label_selector(job_spec.get("selector")),
    ]


def _ingress_row(ing: Object) -> Row:
    spec = ing.get("spec") or {}
    rules = spec.get("rules") or []
    hosts = [str(r["host"]) for r in rules[:3] if r.get("host")]
    shown = ",".join(hosts) or "*"
    if len(rules) > 3 and hosts:
        shown = f"{shown} + {len(rules) - 3} more..."
    balancer = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(sorted({i.get("ip") or i.get("hostname") for i in balancer} - {None, ""}))
    return [
        _name(ing),
        spec.get("ingressClassName") or "<none>",
        shown,
        address,
        "80, 443" if spec.get("tls") else "80",
        age(ing),
    ]


def _pdb_row(pdb: Object) -> Row:
    spec = pdb.get("spec") or {}
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [
        _name(pdb),
        "N/A" if min_available is None else str(min_available),
        "N/A" if max_unavailable is None else str(max_unavailable),
        (pdb.get("status") or {}).get("disruptionsAllowed", 0),
        age(pdb),
    ]


def _binding_row(binding: Object) -> Row:
    """upstream's printRoleBinding / printClusterRoleBinding (with SubjectsStrings)."""
    ref = binding.get("roleRef") or {}
    users: list[str] = []
    groups: list[str] = []
    accounts: list[str] = []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), str(subject.get("name", ""))
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}:{name}")
    return [
        _name(binding),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        age(binding),
        ", ".join(users),
        ", ".join(groups),
        ", ".join(accounts),
    ]


def _quota_row(quota: Object) -> Row:
    """upstream's printResourceQuota: `used/hard` of each resource in status.hard."""
    status = quota.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for resource in sorted(hard):
        cell = f"{resource}: {used.get(resource, '0')}/{hard[resource]}"
        (limits if resource.startswith("limits.") else requests).append(cell)
    return [_name(quota), ", ".join(requests), ", ".join(limits), age(quota)]


def _priority_class_row(pc: Object) -> Row:
    return [
        _name(pc),
        pc.get("value", 0),
        bool(pc.get("globalDefault", False)),
        age(pc),
        pc.get("preemptionPolicy", ""),
    ]


def _created_at(obj: Object) -> Row:
    """upstream's default table convertor: the creation time itself, not an age."""
    return [_name(obj), str((obj.get("metadata") or {}).get("creationTimestamp") or "")]


_TEMPLATE_WIDE = [_col("Containers", 1), _col("Images", 1), _col("Selector", 1)]
_BINDING = (
    [
        NAME,
        _col("Role"),
        AGE,
        _col("Users", 1),
        _col("Groups", 1),
        _col("ServiceAccounts", 1),
    ],
    _binding_row,
)
# Kinds upstream serves with the generic convertor (no printer): Name and Created At.
_CREATED_AT = ([NAME, _col("Created At", type_="date")], _created_at)


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
            _col("Restarts"),
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
    "Event": (
        [
            _col("Last Seen"),
            _col("Type"),
            _col("Reason"),
            _col("Object"),
            _col("Subobject", 1),
            _col("Source", 1),
            _col("Message"),
            _col("First Seen", 1),
            _col("Count", 1),
            _col("Name", 1),
        ],
        _event_row,
    ),
    "ReplicaSet": (
        [
            NAME,
            _col("Desired", type_="integer"),
            _col("Current", type_="integer"),
            _col("Ready", type_="integer"),
            AGE,
            *_TEMPLATE_WIDE,
        ],
        _replica_set_row,
    ),
    "StatefulSet": (
        [NAME, _col("Ready"), AGE, _col("Containers", 1), _col("Images", 1)],
        _stateful_set_row,
    ),
    "DaemonSet": (
        [
            NAME,
            _col("Desired", type_="integer"),
            _col("Current", type_="integer"),
            _col("Ready", type_="integer"),
            _col("Up-to-date", type_="integer"),
            _col("Available", type_="integer"),
            _col("Node Selector"),
            AGE,
            *_TEMPLATE_WIDE,
        ],
        _daemon_set_row,
    ),
    "Job": (
        [NAME, _col("Status"), _col("Completions"), _col("Duration"), AGE, *_TEMPLATE_WIDE],
        _job_row,
    ),
    "CronJob": (
        [
            NAME,
            _col("Schedule"),
            _col("Timezone"),
            _col("Suspend", type_="boolean"),
            _col("Active", type_="integer"),
            _col("Last Schedule"),
            AGE,
            *_TEMPLATE_WIDE,
        ],
        _cron_job_row,
    ),
    "Ingress": (
        [NAME, _col("Class"), _col("Hosts"), _col("Address"), _col("Ports"), AGE],
        _ingress_row,
    ),
    "PodDisruptionBudget": (
        [
            NAME,
            _col("Min Available"),
            _col("Max Unavailable"),
            _col("Allowed Disruptions", type_="integer"),
            AGE,
        ],
        _pdb_row,
    ),
    "RoleBinding": _BINDING,
    "ClusterRoleBinding": _BINDING,
    "Role": _CREATED_AT,
    "ClusterRole": _CREATED_AT,
    "LimitRange": _CREATED_AT,
    "ResourceQuota": ([NAME, _col("Request"), _col("Limit"), AGE], _quota_row),
    "PriorityClass": (
        [
            NAME,
            _col("Value", type_="integer"),
            _col("Global-Default", type_="boolean"),
            AGE,
            _col("PreemptionPolicy"),
        ],
        _priority_class_row,
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
                "format": "name" if n == "Name" else "",
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
