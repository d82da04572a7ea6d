"""The real kubectl 1.37 against `kube server`: what a user types, and what it prints."""

from __future__ import annotations

import json
import subprocess
import time

from tests.e2e.conftest import KUBECTL, Cluster

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: "{image}"}}]
"""


def make_namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    )
    return name


def test_version_and_cluster_basics(cluster: Cluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "37")
    namespaces = cluster.kubectl("get", "namespaces").stdout
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert name in namespaces
    assert "Active" in namespaces
    services = cluster.kubectl("get", "svc", "kubernetes", "-n", "default").stdout
    assert "10.43.0.1" in services
    assert "443/TCP" in services


def test_api_resources_lists_builtin_kinds(cluster: Cluster) -> None:
    out = cluster.kubectl("api-resources").stdout
    for line in ("deployments", "deploy", "apps/v1", "configmaps", "leases"):
        assert line in out


def test_apply_create_unchanged_configured_and_delete(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-apply")
    doc = DEPLOYMENT.format(ns=ns, image="nginx:1")
    assert "deployment.apps/web created" in cluster.kubectl("apply", "-f", "-", input=doc).stdout
    assert "deployment.apps/web unchanged" in cluster.kubectl("apply", "-f", "-", input=doc).stdout
    changed = DEPLOYMENT.format(ns=ns, image="nginx:2")
    assert (
        "deployment.apps/web configured"
        in cluster.kubectl("apply", "-f", "-", input=changed).stdout
    )
    obj = json.loads(cluster.kubectl("get", "deploy", "web", "-n", ns, "-o", "json").stdout)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    table = cluster.kubectl("get", "deploy", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:2] == ["web", "0/2"]

    out = cluster.kubectl("delete", "deploy", "web", "-n", ns).stdout
    assert 'deployment.apps "web" deleted' in out
    missing = cluster.kubectl("get", "deploy", "web", "-n", ns, check=False)
    assert missing.returncode == 1
    assert 'deployments.apps "web" not found' in missing.stderr


def test_label_annotate_and_selectors(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-labels")
    for name, tier in (("a", "front"), ("b", "back"), ("c", "front")):
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"  labels: {{tier: {tier}}}\ndata: {{k: v}}\n",
        )
    cluster.kubectl("label", "cm", "a", "-n", ns, "extra=yes")
    cluster.kubectl("annotate", "cm", "b", "-n", ns, "note=hello")
    names = cluster.kubectl(
        "get", "cm", "-n", ns, "-l", "tier=front", "-o", "jsonpath={.items[*].metadata.name}"
    ).stdout.split()
    assert names == ["a", "c"]
    names = cluster.kubectl(
        "get", "cm", "-n", ns, "-l", "tier in (back),!extra", "-o", "name"
    ).stdout.split()
    assert names == ["configmap/b"]
    note = cluster.kubectl(
        "get", "cm", "b", "-n", ns, "-o", "jsonpath={.metadata.annotations.note}"
    ).stdout
    assert note == "hello"
    by_field = cluster.kubectl(
        "get", "cm", "-n", ns, "--field-selector", "metadata.name=c", "-o", "name"
    ).stdout.split()
    assert by_field == ["configmap/c"]
    bad = cluster.kubectl("get", "cm", "-n", ns, "--field-selector", "data.k=v", check=False)
    assert bad.returncode == 1
    assert '"data.k" is not a known field selector' in bad.stderr


def test_patch_types(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-patch")
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: p\n  namespace: {ns}\n"
        "data: {a: '1', b: '2'}\n",
    )
    cluster.kubectl(
        "patch", "cm", "p", "-n", ns, "--type", "merge", "-p", '{"data":{"a":null,"c":"3"}}'
    )
    cluster.kubectl(
        "patch",
        "cm",
        "p",
        "-n",
        ns,
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/data/b","value":"20"}]',
    )
    data = json.loads(cluster.kubectl("get", "cm", "p", "-n", ns, "-o", "json").stdout)["data"]
    assert data == {"b": "20", "c": "3"}
    bad = cluster.kubectl(
        "patch",
        "cm",
        "p",
        "-n",
        ns,
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/data/zz"}]',
        check=False,
    )
    assert bad.returncode == 1
    assert json.loads(cluster.kubectl("get", "cm", "p", "-n", ns, "-o", "json").stdout)["data"] == {
        "b": "20",
        "c": "3",
    }


def test_create_in_a_missing_namespace_is_refused(cluster: Cluster) -> None:
    result = cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: nowhere\n",
        check=False,
    )
    assert result.returncode == 1
    assert 'namespaces "nowhere" not found' in result.stderr


def test_invalid_name_is_422_with_the_field(cluster: Cluster) -> None:
    result = cluster.kubectl(
        "apply",
        "-f",
        "-",
        input="apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
        check=False,
    )
    assert result.returncode == 1
    assert (
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in result.stderr
    )


def test_get_watch_streams_changes(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-watch")
    watch = subprocess.Popen(
        [
            KUBECTL,
            "--kubeconfig",
            str(cluster.kubeconfig),
            "get",
            "cm",
            "-n",
            ns,
            "-w",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # let the watch start
        cluster.kubectl(
            "create",
            "-f",
            "-",
            input=f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w1\n  namespace: {ns}\n",
        )
        assert watch.stdout is not None
        line = watch.stdout.readline().strip()
        if line == "configmap/kube-root-ca.crt":  # the root-ca-cert-publisher controller's
            line = watch.stdout.readline().strip()
        assert line == "configmap/w1"
    finally:
        watch.terminate()
        watch.communicate(timeout=10)


def test_apply_merges_lists_by_key_with_strategic_merge_patch(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-smp")
    two = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n  namespace: " + ns + "\n"
        "spec:\n  selector: {matchLabels: {app: a}}\n"
        "  template:\n    metadata: {labels: {app: a}}\n"
        "    spec:\n      containers:\n      - {name: main, image: 'main:1'}\n"
        "      - {name: side, image: 'side:1'}\n"
    )
    cluster.kubectl("apply", "-f", "-", input=two)
    # Someone else adds an env var to the live object; apply must keep it (merge by name).
    cluster.kubectl(
        "patch",
        "deploy",
        "app",
        "-n",
        ns,
        "--type",
        "strategic",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"main","env":[{"name":"X","value":"1"}]}]}}}}',
    )
    one = two.replace("'main:1'", "'main:2'").replace("      - {name: side, image: 'side:1'}\n", "")
    assert "configured" in cluster.kubectl("apply", "-f", "-", input=one).stdout
    obj = json.loads(cluster.kubectl("get", "deploy", "app", "-n", ns, "-o", "json").stdout)
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("main", "main:2")]
    assert containers[0]["env"] == [{"name": "X", "value": "1"}]
    assert "$setElementOrder" not in json.dumps(obj)


def test_typed_create_commands_send_protobuf(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-typed")
    assert (
        "configmap/tc created"
        in cluster.kubectl("create", "configmap", "tc", "-n", ns, "--from-literal=a=b").stdout
    )
    assert (
        "secret/ts created"
        in cluster.kubectl(
            "create", "secret", "generic", "ts", "-n", ns, "--from-literal=p=q"
        ).stdout
    )
    assert (
        "deployment.apps/td created"
        in cluster.kubectl(
            "create", "deployment", "td", "-n", ns, "--image=nginx", "--replicas=2"
        ).stdout
    )
    assert cluster.kubectl("get", "cm", "tc", "-n", ns, "-o", "jsonpath={.data.a}").stdout == "b"
    assert (
        cluster.kubectl("get", "secret", "ts", "-n", ns, "-o", "jsonpath={.data.p}").stdout
        == "cQ=="
    )
    replicas = cluster.kubectl("get", "deploy", "td", "-n", ns, "-o", "jsonpath={.spec.replicas}")
    assert replicas.stdout == "2"
    assert cluster.kubectl("auth", "can-i", "create", "pods").stdout.strip() == "yes"
    assert "kubernetes-admin" in cluster.kubectl("auth", "whoami").stdout


def test_services_get_unique_cluster_ips_and_node_ports(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-svc")
    for name, kind in (("one", "ClusterIP"), ("two", "NodePort")):
        cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"spec:\n  type: {kind}\n  selector: {{app: x}}\n  ports: [{{port: 80}}]\n",
        )
    one = json.loads(cluster.kubectl("get", "svc", "one", "-n", ns, "-o", "json").stdout)
    two = json.loads(cluster.kubectl("get", "svc", "two", "-n", ns, "-o", "json").stdout)
    ips = {one["spec"]["clusterIP"], two["spec"]["clusterIP"], "10.43.0.1"}
    assert len(ips) == 3
    assert all(ip.startswith("10.43.") for ip in ips)
    assert 30000 <= two["spec"]["ports"][0]["nodePort"] <= 32767
    taken = cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=f"apiVersion: v1\nkind: Service\nmetadata:\n  name: three\n  namespace: {ns}\n"
        f"spec:\n  clusterIP: {one['spec']['clusterIP']}\n  ports: [{{port: 80}}]\n",
        check=False,
    )
    assert taken.returncode == 1
    assert "provided IP is already allocated" in taken.stderr
