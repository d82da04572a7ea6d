"""The real kubectl 1.37 reading from `kube server`: `get` in its output formats, `describe`,
`explain` and the server-information commands, checked the way a user reads their output.

One namespace of objects (a node, two pods, a deployment, a service, config maps and an
event) is made once for the module; the pod's and node's status are set through the status
subresource, as a kubelet would, so the printed columns have something to show. The tests
hold whether or not controllers run beside the API server, as on a real cluster: the
deployment wants no pods, the unbound pod names a scheduler nobody runs, and lists that a
controller adds to (config maps get `kube-root-ca.crt`) are filtered or checked for members.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import Cluster

NS = "cmd-read"
NODE = "cmd-node-1"

OBJECTS = f"""
apiVersion: v1
kind: Node
metadata:
  name: {NODE}
  labels: {{node-role.kubernetes.io/control-plane: "", kubernetes.io/hostname: {NODE}}}
spec: {{podCIDR: 10.244.0.0/24}}
---
apiVersion: v1
kind: Pod
metadata: {{name: web-0, namespace: {NS}, labels: {{app: web, tier: front}}}}
spec:
  nodeName: {NODE}
  containers: [{{name: c, image: "nginx:1"}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: web-1, namespace: {NS}, labels: {{app: web, tier: back}}}}
spec:
  schedulerName: nobody
  containers: [{{name: c, image: "nginx:1"}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}, labels: {{app: web}}}}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: "nginx:1"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web-manual, namespace: {NS}}}
spec:
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-manual-1
  namespace: {NS}
  labels: {{kubernetes.io/service-name: web-manual}}
addressType: IPv4
endpoints: [{{addresses: [192.0.2.20]}}]
ports: [{{port: 8080}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: {NS}, labels: {{rank: "2"}}}}
data: {{color: blue, size: large}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: extra, namespace: {NS}, labels: {{rank: "1"}}}}
data: {{k: v}}
"""

POD_STATUS = {
    "status": {
        "phase": "Running",
        "hostIP": "192.0.2.10",
        "podIP": "10.244.0.5",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "c",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "image": "nginx:1",
                "imageID": "",
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ],
    }
}

NODE_STATUS = {
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}
        ],
        "addresses": [{"type": "InternalIP", "address": "192.0.2.10"}],
        "nodeInfo": {"kubeletVersion": "v1.37.0", "osImage": "Debian GNU/Linux 12 (bookworm)"},
    }
}


def event(uid: str) -> str:
    return f"""
apiVersion: v1
kind: Event
metadata: {{name: web-0.scheduled, namespace: {NS}}}
involvedObject: {{kind: Pod, name: web-0, namespace: {NS}, uid: {uid}, apiVersion: v1}}
reason: Scheduled
message: Successfully assigned {NS}/web-0 to {NODE}
type: Normal
source: {{component: default-scheduler}}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:05:00Z"
count: 3
"""


@pytest.fixture(scope="module")
def k(cluster: Cluster) -> Cluster:
    """The cluster with this module's objects in namespace `cmd-read`."""
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("apply", "-f", "-", input=OBJECTS)
    cluster.kubectl(
        "patch",
        "pod",
        "web-0",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(POD_STATUS),
    )
    cluster.kubectl(
        "patch", "node", NODE, "--subresource=status", "--type=merge", "-p", json.dumps(NODE_STATUS)
    )
    uid = cluster.kubectl("get", "pod", "web-0", "-n", NS, "-o", "jsonpath={.metadata.uid}").stdout
    cluster.kubectl("apply", "-f", "-", input=event(uid))
    return cluster


def table(out: str) -> list[list[str]]:
    """The printed table as rows of cells (kubectl separates columns by 3+ spaces)."""
    return [[c.strip() for c in line.split("   ") if c.strip()] for line in out.splitlines()]


# -- get: the server's Table columns ---------------------------------------------------------


def test_get_pods_prints_ready_status_restarts_age(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pods", "-n", NS).stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["web-0", "1/1", "Running", "0"]
    assert rows[2][:4] == ["web-1", "0/1", "Pending", "0"]


def test_get_pods_wide_adds_ip_and_node(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pod", "web-0", "-n", NS, "-o", "wide").stdout)
    assert rows[0] == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    assert rows[1][5:] == ["10.244.0.5", NODE, "<none>", "<none>"]


@pytest.mark.parametrize(
    ("resource", "header", "row"),
    [
        (
            "deployments",
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            ["web", "0/0", "0", "0"],
        ),
        (
            "services",
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
            ["web", "ClusterIP"],
        ),
        ("configmaps", ["NAME", "DATA", "AGE"], ["extra", "1"]),
        ("events", ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], None),
    ],
)
def test_get_prints_the_kinds_columns(
    k: Cluster, resource: str, header: list[str], row: list[str] | None
) -> None:
    rows = table(k.kubectl("get", resource, "-n", NS).stdout)
    assert rows[0] == header
    if row is not None:
        assert rows[1][: len(row)] == row


def test_get_events_names_the_object_and_reason(k: Cluster) -> None:
    mine = "--field-selector=involvedObject.name=web-0"
    rows = table(k.kubectl("get", "events", "-n", NS, mine).stdout)
    assert rows[1][1:] == [
        "Normal",
        "Scheduled",
        "pod/web-0",
        f"Successfully assigned {NS}/web-0 to {NODE}",
    ]
    wide = table(k.kubectl("get", "events", "-n", NS, mine, "-o", "wide").stdout)
    assert wide[0] == [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST SEEN",
        "COUNT",
        "NAME",
    ]
    assert wide[1][-2:] == ["3", "web-0.scheduled"]
    assert "default-scheduler" in wide[1]


def test_get_events_of_the_events_api_group(k: Cluster) -> None:
    rows = table(k.kubectl("get", "events.events.k8s.io", "-n", NS, "-o", "wide").stdout)
    assert rows[1][1:4] == ["Normal", "Scheduled", "pod/web-0"]
    assert rows[1][4:] == [
        "default-scheduler", f"Successfully assigned {NS}/web-0 to {NODE}", rows[1][-3], "3",
        "web-0.scheduled",
    ]  # fmt: skip


def test_get_service_wide_adds_selector(k: Cluster) -> None:
    rows = table(k.kubectl("get", "svc", "web", "-n", NS, "-o", "wide").stdout)
    assert rows[0][-1] == "SELECTOR"
    assert rows[1][-1] == "app=web"
    assert rows[1][4] == "80/TCP"


def test_get_node_prints_status_roles_version(k: Cluster) -> None:
    rows = table(k.kubectl("get", "node", NODE).stdout)
    assert rows[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows[1][:3] == [NODE, "Ready", "control-plane"]
    assert rows[1][4] == "v1.37.0"
    wide = table(k.kubectl("get", "node", NODE, "-o", "wide").stdout)
    assert wide[0][5:7] == ["INTERNAL-IP", "EXTERNAL-IP"]
    assert wide[1][5:8] == ["192.0.2.10", "<none>", "Debian GNU/Linux 12 (bookworm)"]


def test_get_namespaces_shows_active(k: Cluster) -> None:
    rows = table(k.kubectl("get", "namespace", NS).stdout)
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert rows[1][:2] == [NS, "Active"]


# -- get: output formats and options ---------------------------------------------------------


def test_get_yaml_is_the_object(k: Cluster) -> None:
    obj = yaml.safe_load(k.kubectl("get", "pod", "web-0", "-n", NS, "-o", "yaml").stdout)
    assert (obj["apiVersion"], obj["kind"], obj["metadata"]["name"]) == ("v1", "Pod", "web-0")
    assert obj["status"]["podIP"] == "10.244.0.5"
    assert obj["spec"]["containers"][0]["terminationMessagePath"] == "/dev/termination-log"


def test_get_yaml_of_a_service_shows_its_empty_load_balancer_status(k: Cluster) -> None:
    svc = yaml.safe_load(k.kubectl("get", "svc", "web", "-n", NS, "-o", "yaml").stdout)
    assert svc["status"] == {"loadBalancer": {}}
    assert svc["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 8080}]


def test_get_json_of_a_list_is_a_list(k: Cluster) -> None:
    doc = json.loads(k.kubectl("get", "pods", "-n", NS, "-o", "json").stdout)
    assert (doc["apiVersion"], doc["kind"]) == ("v1", "List")
    assert [(i["kind"], i["metadata"]["name"]) for i in doc["items"]] == [
        ("Pod", "web-0"),
        ("Pod", "web-1"),
    ]


def test_get_jsonpath_over_items(k: Cluster) -> None:
    out = k.kubectl("get", "pods", "-n", NS, "-o", "jsonpath={.items[*].metadata.name}").stdout
    assert out == "web-0 web-1"
    out = k.kubectl(
        "get",
        "pods",
        "-n",
        NS,
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}',
    ).stdout
    assert out.splitlines() == ["web-0=Running", "web-1=Pending"]


def test_get_name_of_several_kinds(k: Cluster) -> None:
    out = k.kubectl("get", "deploy,svc,cm", "-n", NS, "-o", "name").stdout.split()
    assert out[:2] == ["deployment.apps/web", "service/web"]
    assert {"configmap/extra", "configmap/settings"} <= set(out[2:])


def test_get_show_labels_adds_labels_column(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pods", "-n", NS, "--show-labels").stdout)
    assert rows[0][-1] == "LABELS"
    assert rows[1][-1] == "app=web,tier=front"


def test_get_label_columns(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pods", "-n", NS, "-L", "tier", "-L", "missing").stdout)
    assert rows[0][-2:] == ["TIER", "MISSING"]
    assert [r[-1] for r in rows[1:]] == ["front", "back"]  # an absent label prints nothing


def test_get_sort_by(k: Cluster) -> None:
    by_label = k.kubectl(
        "get", "cm", "-n", NS, "-l", "rank", "--sort-by=.metadata.labels.rank", "-o", "name"
    ).stdout.split()
    assert by_label == ["configmap/extra", "configmap/settings"]
    rows = table(k.kubectl("get", "pods", "-n", NS, "--sort-by=.metadata.labels.tier").stdout)
    assert [r[0] for r in rows[1:]] == ["web-1", "web-0"]


def test_get_all_namespaces_adds_namespace_column(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pods", "-A").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [NS, "web-0", "1/1", "Running", "0"] in [r[:5] for r in rows]
    ns_rows = table(k.kubectl("get", "services", "--all-namespaces").stdout)
    assert ["default", "kubernetes", "ClusterIP", "10.43.0.1"] in [r[:4] for r in ns_rows]


def test_get_services_by_type_and_cluster_ip(k: Cluster) -> None:
    by_type = k.kubectl(
        "get", "svc", "-A", "--field-selector=spec.type=ClusterIP", "-o", "name"
    ).stdout.split()
    assert {"service/kubernetes", "service/web"} <= set(by_type)
    by_ip = k.kubectl(
        "get", "svc", "-A", "--field-selector=spec.clusterIP=10.43.0.1", "--no-headers"
    ).stdout
    (row,) = table(by_ip)
    assert row[:6] == ["default", "kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]


def test_get_no_headers(k: Cluster) -> None:
    rows = table(k.kubectl("get", "pods", "-n", NS, "--no-headers").stdout)
    assert [r[0] for r in rows] == ["web-0", "web-1"]


# -- describe --------------------------------------------------------------------------------


def fields(out: str) -> dict[str, str]:
    """The top-level `Key:  value` lines of a describe output."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            found.setdefault(key, value.strip())
    return found


def test_describe_pod_shows_its_events(k: Cluster) -> None:
    out = k.kubectl("describe", "pod", "web-0", "-n", NS).stdout
    top = fields(out)
    assert top["Name"] == "web-0"
    assert top["Namespace"] == NS
    assert top["Node"] == f"{NODE}/192.0.2.10"
    assert top["Labels"] == "app=web"
    assert top["Status"] == "Running"
    assert top["IP"] == "10.244.0.5"
    assert "IPs:\n  IP:  10.244.0.5\n" in out  # the kubelet sent podIP; podIPs follows it
    events = out[out.index("Events:") :].splitlines()
    assert events[1].split() == ["Type", "Reason", "Age", "From", "Message"]
    assert events[3].split()[:2] == ["Normal", "Scheduled"]
    assert "(x3 over" in events[3]
    assert "default-scheduler" in events[3]


def test_describe_pod_without_events_says_none(k: Cluster) -> None:
    out = k.kubectl("describe", "pod", "web-1", "-n", NS).stdout
    top = fields(out)
    assert (top["Name"], top["Status"], top["Node"]) == ("web-1", "Pending", "<none>")
    assert top["Events"] == "<none>"


def test_describe_deployment(k: Cluster) -> None:
    top = fields(k.kubectl("describe", "deployment", "web", "-n", NS).stdout)
    assert (top["Name"], top["Namespace"], top["Selector"]) == ("web", NS, "app=web")
    assert top["Replicas"].startswith("0 desired")
    assert top["StrategyType"] == "RollingUpdate"
    assert "Events" in top


def test_describe_service(k: Cluster) -> None:
    top = fields(k.kubectl("describe", "service", "web", "-n", NS).stdout)
    assert (top["Name"], top["Namespace"], top["Type"]) == ("web", NS, "ClusterIP")
    assert top["Selector"] == "app=web"
    assert top["TargetPort"] == "8080/TCP"
    assert top["Events"] == "<none>"


def test_describe_service_lists_its_endpoint_slices(k: Cluster) -> None:
    """A hand-written slice port has no name; the server defaults it, or kubectl crashes."""
    top = fields(k.kubectl("describe", "service", "web-manual", "-n", NS).stdout)
    assert top["Endpoints"] == "192.0.2.20:8080"


def test_describe_namespace(k: Cluster) -> None:
    out = k.kubectl("describe", "namespace", NS).stdout
    top = fields(out)
    assert (top["Name"], top["Status"]) == (NS, "Active")
    assert top["Labels"] == f"kubernetes.io/metadata.name={NS}"
    assert "No resource quota." in out
    assert "No LimitRange resource." in out


def test_describe_configmap(k: Cluster) -> None:
    out = k.kubectl("describe", "configmap", "settings", "-n", NS).stdout
    top = fields(out)
    assert (top["Name"], top["Namespace"], top["Labels"]) == ("settings", NS, "rank=2")
    assert "color:\n----\nblue" in out
    assert top["Events"] == "<none>"


def test_describe_node(k: Cluster) -> None:
    out = k.kubectl("describe", "node", NODE).stdout
    top = fields(out)
    assert (top["Name"], top["Roles"]) == (NODE, "control-plane")
    assert top["Labels"] == f"kubernetes.io/hostname={NODE}"
    assert "InternalIP:  192.0.2.10" in out
    assert (top["PodCIDR"], top["PodCIDRs"]) == ("10.244.0.0/24", "10.244.0.0/24")
    assert "Kubelet Version:            v1.37.0" in out
    # The node's pods are found with a field selector on spec.nodeName.
    assert f"{NS}" in out[out.index("Non-terminated Pods:") :]
    assert "web-0" in out
    assert top["Events"] == "<none>"


# -- explain (OpenAPI v3) --------------------------------------------------------------------


def test_explain_a_field(k: Cluster) -> None:
    out = k.kubectl("explain", "pod.spec.containers").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n")
    assert "FIELD: containers <[]Container>" in out
    assert "  image\t<string>" in out
    assert "  name\t<string> -required-" in out


def test_explain_recursive(k: Cluster) -> None:
    out = k.kubectl("explain", "deployment", "--recursive").stdout
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n")
    assert "    replicas\t<integer>" in out
    assert "      maxSurge\t<IntOrString>" in out


# -- what the server says about itself -------------------------------------------------------


def test_cluster_info(k: Cluster) -> None:
    out = k.kubectl("cluster-info").stdout
    assert out.startswith("Kubernetes control plane is running at https://127.0.0.1:")


def test_api_versions(k: Cluster) -> None:
    out = k.kubectl("api-versions").stdout.split()
    for gv in ("v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "policy/v1"):
        assert gv in out
    assert out == sorted(out)


def test_version_json_has_no_skew_warning(k: Cluster) -> None:
    result = k.kubectl("version", "-o", "json")
    doc = json.loads(result.stdout)
    assert doc["clientVersion"]["minor"] == "37"
    assert doc["serverVersion"]["gitVersion"].startswith("v1.37.")
    assert result.stderr == ""


def test_auth_can_i(k: Cluster) -> None:
    assert k.kubectl("auth", "can-i", "create", "pods").stdout == "yes\n"
    assert k.kubectl("auth", "can-i", "delete", "nodes", "--all-namespaces").stdout == "yes\n"


def test_auth_can_i_list(k: Cluster) -> None:
    out = k.kubectl("auth", "can-i", "--list", "-n", NS).stdout
    assert table(out) == [
        ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"],
        ["*.*", "[]", "[]", "[*]"],
        ["[*]", "[]", "[*]"],
    ]


def test_readyz_verbose(k: Cluster) -> None:
    out = k.kubectl("get", "--raw", "/readyz?verbose").stdout
    lines = out.splitlines()
    assert lines[-1] == "readyz check passed"
    assert all(line.startswith("[+]") and line.endswith(" ok") for line in lines[:-1])


def test_metrics_count_requests(k: Cluster) -> None:
    k.kubectl("get", "pods", "-A")  # at least one pod LIST, whatever ran before
    out = k.kubectl("get", "--raw", "/metrics").stdout
    assert "# TYPE apiserver_request_total counter" in out
    pods_lists = [
        line
        for line in out.splitlines()
        if line.startswith("apiserver_request_total{")
        and 'resource="pods"' in line
        and 'verb="LIST"' in line
        and 'code="200"' in line
    ]
    assert pods_lists


def test_config_view_minify(k: Cluster) -> None:
    doc = yaml.safe_load(k.kubectl("config", "view", "--minify").stdout)
    assert doc["kind"] == "Config"
    (cluster,) = doc["clusters"]
    assert cluster["cluster"]["server"].startswith("https://127.0.0.1:")
    assert cluster["cluster"]["certificate-authority-data"] == "DATA+OMITTED"
    assert doc["current-context"] == doc["contexts"][0]["name"]
