"""Server-side Table printing against upstream's printers (pkg/printers/internalversion).

kubectl prints the server's cells verbatim, so each expected row is what `kubectl get -o wide`
shows against a real cluster for the same object. Ages are rendered with upstream's
HumanDuration (k8s.io/apimachinery/pkg/util/duration), checked on its own test table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kube.apiserver import tables
from kube.apiserver.tables import human_duration

SECOND, MINUTE, HOUR, DAY = 1, 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        # upstream's TestHumanDuration
        (1, "1s"),
        (70, "70s"),
        (190, "3m10s"),
        (70 * MINUTE, "70m"),
        (47 * HOUR, "47h"),
        (49 * HOUR, "2d1h"),
        (8 * DAY + 2 * HOUR, "8d"),
        (367 * DAY, "367d"),
        ((365 * 2 * 24 + 25) * HOUR, "2y1d"),
        ((365 * 8 * 24 + 2) * HOUR, "8y"),
        # the boundaries between formats
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (599, "9m59s"),
        (600, "10m"),
        (601, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + MINUTE, "3h1m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (48 * HOUR - 1, "47h"),
        (48 * HOUR, "2d"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (2 * 365 * DAY - 1, "729d"),
        (2 * 365 * DAY, "2y"),
        (8 * 365 * DAY - 1, "7y364d"),
        (100 * 365 * DAY, "100y"),
        # clock skew: up to a second in the future is "now", more is invalid
        (-0.5, "0s"),
        (-1, "0s"),
        (-1.9, "0s"),
        (-2, "<invalid>"),
        (1.99, "1s"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def ago(seconds: float) -> str:
    """An RFC 3339 timestamp `seconds` before now."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# Three hours prints as "3h" for a whole minute, so the rows below are not racy.
def created() -> str:
    """Three hours ago, computed per use: a module constant would age while the suite runs."""
    return ago(3 * HOUR + 5)


def obj(kind: str, name: str = "x", **fields: Any) -> dict[str, Any]:
    meta = {"name": name, "creationTimestamp": created(), **fields.pop("metadata", {})}
    return {"kind": kind, "metadata": meta, **fields}


def row(kind: str, o: dict[str, Any]) -> list[Any]:
    cells: list[Any] = tables.table(kind, [o])["rows"][0]["cells"]
    return cells


def test_age() -> None:
    now = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)
    assert tables.age({"metadata": {"creationTimestamp": "2024-01-01T08:00:00Z"}}, now) == "4h"
    assert tables.age({"metadata": {"creationTimestamp": "2024-01-01T12:00:05Z"}}, now) == (
        "<invalid>"
    )
    assert tables.age({"metadata": {}}) == "<unknown>"
    assert tables.age({}) == "<unknown>"


# -- pods -----------------------------------------------------------------------------------


def running(name: str, *, ready: bool = True, restarts: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {"startedAt": created()}},
        **extra,
    }


def pod(
    containers: list[str] = ["app"],  # noqa: B006 - never mutated
    status: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    spec = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    spec.update(fields.pop("spec", {}))
    return obj("Pod", "web", spec=spec, status=status or {}, **fields)


def test_pod_columns() -> None:
    columns = tables.table("Pod", [])["columnDefinitions"]
    assert [(c["name"], c["type"], c["priority"]) for c in columns] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert columns[0]["format"] == "name"
    assert all(c["format"] == "" for c in columns[1:])


def test_running_pod() -> None:
    status = {
        "phase": "Running",
        "podIP": "10.0.0.5",
        "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}],
        "containerStatuses": [running("app"), running("side")],
    }
    p = pod(["app", "side"], status, spec={"nodeName": "node-1"})
    assert row("Pod", p) == [
        "web",
        "2/2",
        "Running",
        "0",
        "3h",
        "10.0.0.5",
        "node-1",
        "<none>",
        "<none>",
    ]


def test_pending_pod_without_status() -> None:
    assert row("Pod", pod(status={"phase": "Pending"})) == [
        "web",
        "0/1",
        "Pending",
        "0",
        "3h",
        "<none>",
        "<none>",
        "<none>",
        "<none>",
    ]
    assert row("Pod", pod())[2] == ""  # no phase at all: upstream prints the empty phase


def test_restarts_say_when_the_last_one_was() -> None:
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3 * HOUR + 20)}},
            }
        ],
    }
    cells = row("Pod", pod(status=status))
    assert cells[1:4] == ["0/1", "CrashLoopBackOff", "5 (3h ago)"]


def test_restarts_without_a_last_termination_are_a_plain_count() -> None:
    status = {"phase": "Running", "containerStatuses": [running("app", restarts=2)]}
    assert row("Pod", pod(status=status))[3] == "2"


@pytest.mark.parametrize(
    ("terminated", "reason"),
    [
        ({"exitCode": 0, "reason": "Completed"}, "Completed"),
        ({"exitCode": 1, "reason": "Error"}, "Error"),
        ({"exitCode": 137, "reason": "OOMKilled"}, "OOMKilled"),
        ({"exitCode": 2}, "ExitCode:2"),
        ({"exitCode": 0}, "ExitCode:0"),
        ({"exitCode": 143, "signal": 15}, "Signal:15"),
    ],
)
def test_terminated_container_reason(terminated: dict[str, Any], reason: str) -> None:
    status = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 0, "state": {"terminated": terminated}}
        ],
    }
    assert row("Pod", pod(status=status))[1:3] == ["0/1", reason]


def test_the_first_container_with_a_reason_wins() -> None:
    status = {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "a", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}},
            {"name": "b", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}},
            running("c"),
        ],
    }
    assert row("Pod", pod(["a", "b", "c"], status))[1:3] == ["1/3", "ImagePullBackOff"]


def test_a_running_but_unready_container_is_not_counted_ready() -> None:
    status = {"phase": "Running", "containerStatuses": [running("app", ready=False)]}
    assert row("Pod", pod(status=status))[1:3] == ["0/1", "Running"]


@pytest.mark.parametrize(("ready", "shown"), [("True", "Running"), ("False", "NotReady")])
def test_completed_with_another_container_running(ready: str, shown: str) -> None:
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": ready}],
        "containerStatuses": [
            {"name": "job", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            running("server"),
        ],
    }
    assert row("Pod", pod(["job", "server"], status))[1:3] == ["1/2", shown]


def test_pod_status_reason_replaces_the_phase() -> None:
    status = {"phase": "Failed", "reason": "Evicted"}
    assert row("Pod", pod(status=status))[2] == "Evicted"


def test_scheduling_gated() -> None:
    status = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
    }
    assert row("Pod", pod(status=status))[2] == "SchedulingGated"


@pytest.mark.parametrize(
    ("phase", "reason", "shown"),
    [
        ("Running", "", "Terminating"),
        ("Pending", "", "Terminating"),
        ("Succeeded", "", "Succeeded"),
        ("Failed", "", "Failed"),
        ("Running", "NodeLost", "Unknown"),
    ],
)
def test_deleting_pods(phase: str, reason: str, shown: str) -> None:
    status = {"phase": phase, **({"reason": reason} if reason else {})}
    p = pod(status=status, metadata={"deletionTimestamp": ago(10)})
    assert row("Pod", p)[2] == shown


def init_pod(init_statuses: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    spec = {"initContainers": [{"name": "i1"}, {"name": "i2"}]}
    status = {"phase": "Pending", "initContainerStatuses": init_statuses, **extra}
    return pod(status=status, spec=spec)


@pytest.mark.parametrize(
    ("statuses", "reason"),
    [
        ([{"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}}], "Init:0/2"),
        ([{"name": "i1", "state": {"running": {}}}], "Init:0/2"),
        (
            [
                {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                {"name": "i2", "state": {"running": {}}},
            ],
            "Init:1/2",
        ),
        (
            [{"name": "i1", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}],
            "Init:CrashLoopBackOff",
        ),
        ([{"name": "i1", "state": {"terminated": {"exitCode": 3}}}], "Init:ExitCode:3"),
        ([{"name": "i1", "state": {"terminated": {"exitCode": 3, "signal": 9}}}], "Init:Signal:9"),
        (
            [{"name": "i1", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
            "Init:Error",
        ),
    ],
)
def test_init_containers(statuses: list[dict[str, Any]], reason: str) -> None:
    assert row("Pod", init_pod(statuses))[1:3] == ["0/1", reason]


def test_init_container_restarts_count_while_initializing() -> None:
    statuses = [
        {
            "name": "i1",
            "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3 * HOUR + 30)}},
        }
    ]
    assert row("Pod", init_pod(statuses))[2:4] == ["Init:CrashLoopBackOff", "3 (3h ago)"]


def test_sidecar_init_containers_count_as_containers() -> None:
    spec = {"initContainers": [{"name": "proxy", "restartPolicy": "Always"}]}
    status = {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}],
        "initContainerStatuses": [
            {
                "name": "proxy",
                "started": True,
                "ready": True,
                "restartCount": 1,
                "state": {"running": {}},
            }
        ],
        "containerStatuses": [running("app", restarts=2)],
    }
    assert row("Pod", pod(status=status, spec=spec))[1:4] == ["2/2", "Running", "3"]


def test_readiness_gates() -> None:
    spec = {"readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]}
    status = {
        "phase": "Running",
        "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}],
    }
    assert row("Pod", pod(status=status, spec=spec))[8] == "1/2"


def test_nominated_node() -> None:
    status = {"phase": "Pending", "nominatedNodeName": "n2"}
    assert row("Pod", pod(status=status))[7] == "n2"


# -- services -------------------------------------------------------------------------------


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return obj("Service", "svc", spec=spec, status=status or {})


def test_service_columns() -> None:
    columns = tables.table("Service", [])["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0),
        ("Type", 0),
        ("Cluster-IP", 0),
        ("External-IP", 0),
        ("Port(s)", 0),
        ("Age", 0),
        ("Selector", 1),
    ]


@pytest.mark.parametrize(
    ("spec", "status", "cells"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                "selector": {"k8s-app": "kube-dns", "app": "dns"},
            },
            {},
            [
                "ClusterIP",
                "10.96.0.10",
                "<none>",
                "53/UDP,53/TCP",
                "3h",
                "app=dns,k8s-app=kube-dns",
            ],
        ),
        (
            {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80, "protocol": "TCP"}]},
            {},
            ["ClusterIP", "None", "<none>", "80/TCP", "3h", "<none>"],
        ),
        (
            {
                "type": "ClusterIP",
                "clusterIP": "10.0.0.1",
                "externalIPs": ["1.1.1.1", "2.2.2.2"],
                "ports": [{"port": 80, "protocol": "TCP"}],
            },
            {"loadBalancer": {"ingress": [{"ip": "9.9.9.9"}]}},  # ignored for ClusterIP
            ["ClusterIP", "10.0.0.1", "1.1.1.1,2.2.2.2", "80/TCP", "3h", "<none>"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIP": "10.0.0.2",
                "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
            {},
            ["NodePort", "10.0.0.2", "<none>", "80:30080/TCP", "3h", "app=web"],
        ),
        (
            {
                "type": "LoadBalancer",
                "clusterIP": "10.0.0.3",
                "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}],
            },
            {},
            ["LoadBalancer", "10.0.0.3", "<pending>", "443:31443/TCP", "3h", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3", "ports": []},
            {
                "loadBalancer": {
                    "ingress": [
                        {"hostname": "lb.example.com"},
                        {"ip": "5.5.5.5"},
                        {"ip": "5.5.5.5"},
                    ]
                }
            },
            ["LoadBalancer", "10.0.0.3", "5.5.5.5,lb.example.com", "<none>", "3h", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "10.0.0.3", "externalIPs": ["7.7.7.7"]},
            {"loadBalancer": {"ingress": [{"ip": "5.5.5.5"}]}},
            ["LoadBalancer", "10.0.0.3", "5.5.5.5,7.7.7.7", "<none>", "3h", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "3h", "<none>"],
        ),
    ],
)
def test_service_rows(spec: dict[str, Any], status: dict[str, Any], cells: list[Any]) -> None:
    assert row("Service", service(spec, status)) == ["svc", *cells]


def test_service_cluster_ip_comes_from_cluster_ips_first() -> None:
    spec = {"clusterIP": "10.0.0.9", "clusterIPs": ["fd00::9", "10.0.0.9"]}
    assert row("Service", service(spec))[2] == "fd00::9"


# -- deployments and nodes -------------------------------------------------------------------


def test_deployment_row() -> None:
    d = obj(
        "Deployment",
        "web",
        spec={
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "template": {
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": "nginx:1.25"},
                        {"name": "log", "image": "busybox"},
                    ]
                }
            },
        },
        status={"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    )
    assert row("Deployment", d) == [
        "web",
        "2/3",
        3,
        2,
        "3h",
        "nginx,log",
        "nginx:1.25,busybox",
        "app=web,tier in (a,b)",
    ]


def test_new_deployment_row() -> None:
    d = obj("Deployment", "d", spec={"replicas": 1, "selector": {}, "template": {}})
    assert row("Deployment", d) == ["d", "0/1", 0, 0, "3h", "", "", ""]


def test_deployment_with_an_invalid_selector() -> None:
    selector = {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}
    d = obj("Deployment", "d", spec={"replicas": 1, "selector": selector})
    assert row("Deployment", d)[7] == "<invalid>"


def node(conditions: list[dict[str, str]], **fields: Any) -> dict[str, Any]:
    status = {
        "conditions": conditions,
        "addresses": fields.pop("addresses", []),
        "nodeInfo": fields.pop("nodeInfo", {}),
    }
    return obj("Node", "n1", status=status, **fields)


@pytest.mark.parametrize(
    ("conditions", "unschedulable", "shown"),
    [
        ([{"type": "Ready", "status": "True"}], False, "Ready"),
        ([{"type": "Ready", "status": "False"}], False, "NotReady"),
        ([{"type": "Ready", "status": "Unknown"}], False, "NotReady"),
        ([{"type": "MemoryPressure", "status": "False"}], False, "Unknown"),
        ([], False, "Unknown"),
        ([{"type": "Ready", "status": "True"}], True, "Ready,SchedulingDisabled"),
        ([], True, "Unknown,SchedulingDisabled"),
    ],
)
def test_node_status(conditions: list[dict[str, str]], unschedulable: bool, shown: str) -> None:
    n = node(conditions, spec={"unschedulable": unschedulable})
    assert row("Node", n)[1] == shown


def test_node_row() -> None:
    n = node(
        [{"type": "Ready", "status": "True"}],
        metadata={
            "labels": {
                "node-role.kubernetes.io/control-plane": "",
                "node-role.kubernetes.io/": "",
                "kubernetes.io/role": "worker",
                "kubernetes.io/hostname": "n1",
            }
        },
        addresses=[
            {"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "192.168.0.10"},
            {"type": "InternalIP", "address": "192.168.0.11"},
        ],
        nodeInfo={
            "kubeletVersion": "v1.37.1",
            "osImage": "Debian GNU/Linux 12",
            "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "containerd://1.7",
        },
    )
    assert row("Node", n) == [
        "n1",
        "Ready",
        "control-plane,worker",
        "3h",
        "v1.37.1",
        "192.168.0.10",
        "<none>",
        "Debian GNU/Linux 12",
        "6.1.0",
        "containerd://1.7",
    ]


def test_node_row_without_info() -> None:
    assert row("Node", node([]))[2:] == [
        "<none>",
        "3h",
        "",
        "<none>",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]


# -- the other printers and the Table itself ------------------------------------------------


def test_simple_printers() -> None:
    assert row("ConfigMap", obj("ConfigMap", data={"a": "1", "b": "2"}, binaryData={"c": ""})) == [
        "x",
        3,
        "3h",
    ]
    assert row("Secret", obj("Secret", type="kubernetes.io/tls", data={"a": ""})) == [
        "x",
        "kubernetes.io/tls",
        1,
        "3h",
    ]
    assert row("Namespace", obj("Namespace", status={"phase": "Terminating"})) == [
        "x",
        "Terminating",
        "3h",
    ]
    assert row("Lease", obj("Lease", spec={"holderIdentity": "me"})) == ["x", "me", "3h"]


def test_unknown_kinds_get_name_and_age() -> None:
    table = tables.table("Widget", [obj("Widget", "w")])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["w", "3h"]


def test_table_shape_and_included_objects() -> None:
    cm = obj("ConfigMap", "c", metadata={"resourceVersion": "5"}, data={})
    table = tables.table("ConfigMap", [cm], resource_version="9", continue_token="t", remaining=4)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "9", "continue": "t", "remainingItemCount": 4}
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": cm["metadata"],
    }
    assert tables.table("ConfigMap", [cm], include_object="Object")["rows"][0]["object"] is cm
    assert "object" not in tables.table("ConfigMap", [cm], include_object="None")["rows"][0]
    assert tables.table("ConfigMap", [cm], with_columns=False)["columnDefinitions"] == []
    assert tables.table("ConfigMap", [])["metadata"] == {}


def test_column_definitions_carry_descriptions() -> None:
    columns = tables.table("ConfigMap", [])["columnDefinitions"]
    assert columns[0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace.",
        "priority": 0,
    }
    assert columns[1]["type"] == "integer"
    assert columns[2]["description"].startswith("CreationTimestamp")


# -- events, workloads and the rest (upstream's printEvent, printJob, ...) -------------------


def test_event_row_is_every_column_and_name_is_the_wide_name_column() -> None:
    ev = obj(
        "Event",
        "web.1",
        involvedObject={"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
        reason="Pulled",
        message=" pulled \n",
        type="Normal",
        source={"component": "kubelet", "host": "n1"},
        firstTimestamp=ago(10 * HOUR + 5),
        lastTimestamp=ago(5 * HOUR + 5),
        count=4,
    )
    assert row("Event", ev) == [
        "5h", "Normal", "Pulled", "pod/web", "spec.containers{c}", "kubelet, n1", "pulled",
        "10h", 4, "web.1",
    ]  # fmt: skip
    columns = tables.table("Event", [])["columnDefinitions"]
    assert [(c["name"], c["priority"], c["format"]) for c in columns][-1] == ("Name", 1, "name")


def test_new_style_event_without_count_or_last_timestamp() -> None:
    ev = obj("Event", "e", eventTime=ago(3 * HOUR + 5), reportingController="ctl", reason="R")
    assert row("Event", ev) == ["3h", "", "R", "", "", "ctl", "", "3h", 1, "e"]


@pytest.mark.parametrize(
    ("spec", "status", "cells"),
    [
        ({}, {}, ["Running", "0/1", ""]),
        ({"completions": 3}, {"succeeded": 1}, ["Running", "1/3", ""]),
        ({"parallelism": 2}, {}, ["Running", "0/1 of 2", ""]),
        (
            {"completions": 1},
            {
                "succeeded": 1,
                "startTime": "2024-01-01T00:00:00Z",
                "completionTime": "2024-01-01T00:00:09Z",
                "conditions": [{"type": "Complete", "status": "True"}],
            },
            ["Complete", "1/1", "9s"],
        ),
    ],
)
def test_job_row(spec: dict[str, Any], status: dict[str, Any], cells: list[str]) -> None:
    assert row("Job", obj("Job", spec=spec, status=status))[1:4] == cells


def test_cron_job_row() -> None:
    cj = obj("CronJob", spec={"schedule": "*/5 * * * *", "suspend": False}, status={})
    assert row("CronJob", cj)[:7] == ["x", "*/5 * * * *", "<none>", "False", 0, "<none>", "3h"]


def test_binding_quota_pdb_priority_class_and_ingress_rows() -> None:
    binding = obj(
        "RoleBinding",
        roleRef={"kind": "Role", "name": "r"},
        subjects=[
            {"kind": "User", "name": "a"},
            {"kind": "Group", "name": "g"},
            {"kind": "ServiceAccount", "name": "s", "namespace": "n"},
        ],
    )
    assert row("RoleBinding", binding) == ["x", "Role/r", "3h", "a", "g", "n:s"]
    quota = obj(
        "ResourceQuota",
        status={"hard": {"pods": "10", "limits.cpu": "2"}, "used": {"pods": "1"}},
    )
    assert row("ResourceQuota", quota) == ["x", "pods: 1/10", "limits.cpu: 0/2", "3h"]
    pdb = obj("PodDisruptionBudget", spec={"maxUnavailable": "50%"}, status={})
    assert row("PodDisruptionBudget", pdb) == ["x", "N/A", "50%", 0, "3h"]
    assert row("PriorityClass", obj("PriorityClass", value=5)) == ["x", 5, False, "3h", ""]
    ingress = obj("Ingress", spec={"rules": [{"host": "a"}, {}], "tls": [{}]})
    assert row("Ingress", ingress) == ["x", "<none>", "a", "", "80, 443", "3h"]


def test_roles_print_created_at_as_upstream_default_convertor() -> None:
    role = obj("Role")
    table = tables.table("Role", [role])
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Created At", "date"),
    ]
    assert table["rows"][0]["cells"] == ["x", role["metadata"]["creationTimestamp"]]


def test_events_api_group_event_row() -> None:
    ev = obj(
        "Event",
        "e",
        regarding={"kind": "Node", "name": "n1"},
        note="rebooted",
        type="Warning",
        reason="Rebooted",
        deprecatedSource={"component": "kubelet"},
        deprecatedFirstTimestamp=created(),
        deprecatedCount=2,
    )
    assert row("Event", ev) == [
        "3h", "Warning", "Rebooted", "node/n1", "", "kubelet", "rebooted", "3h", 2, "e",
    ]  # fmt: skip
