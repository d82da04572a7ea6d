"""`kubectl delete` of pods against `kube server`: graceful, forced, and what `get` shows.

The e2e cluster runs no kubelet, so a bound pod deleted gracefully stays Terminating (as
upstream's would on a node that never confirms), until a forced delete removes it.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import Cluster

POD = """
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: {ns}
spec:
  {node}
  terminationGracePeriodSeconds: {grace}
  containers: [{{name: c, image: busybox}}]
"""

FORCE_WARNING = (
    "Warning: Immediate deletion does not wait for confirmation that the running resource has "
    "been terminated. The resource may continue to run on the cluster indefinitely."
)


def make_namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl(
        "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    )
    return name


def make_pod(cluster: Cluster, ns: str, name: str, *, bound: bool = True, grace: int = 30) -> None:
    node = "nodeName: node-1" if bound else ""
    doc = POD.format(name=name, ns=ns, node=node, grace=grace)
    cluster.kubectl("apply", "-f", "-", input=doc)


def pod_json(cluster: Cluster, ns: str, name: str) -> dict[str, object]:
    out = cluster.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout
    doc = json.loads(out)
    assert isinstance(doc, dict)
    return doc


def test_a_bound_pod_stays_terminating_until_forced(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-delete-graceful")
    make_pod(cluster, ns, "web", grace=45)
    out = cluster.kubectl("delete", "pod", "web", "-n", ns, "--wait=false").stdout
    assert out.strip() == f'pod "web" deleted from {ns} namespace'
    meta = pod_json(cluster, ns, "web")["metadata"]
    assert isinstance(meta, dict)
    assert meta["deletionGracePeriodSeconds"] == 45
    assert meta["deletionTimestamp"]
    table = cluster.kubectl("get", "pods", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[1].split()[:3] == ["web", "0/1", "Terminating"]
    # A shorter --grace-period shortens it; the pod is still there.
    cluster.kubectl("delete", "pod", "web", "-n", ns, "--grace-period=5", "--wait=false")
    meta = pod_json(cluster, ns, "web")["metadata"]
    assert isinstance(meta, dict)
    assert meta["deletionGracePeriodSeconds"] == 5
    # --force --grace-period=0 removes it now, with kubectl's warning.
    forced = cluster.kubectl("delete", "pod", "web", "-n", ns, "--grace-period=0", "--force")
    assert FORCE_WARNING in forced.stderr
    assert forced.stdout.strip() == f'pod "web" force deleted from {ns} namespace'
    gone = cluster.kubectl("get", "pod", "web", "-n", ns, check=False)
    assert gone.returncode != 0
    assert 'pods "web" not found' in gone.stderr


def test_force_delete_of_a_running_pod_is_immediate(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-delete-force")
    make_pod(cluster, ns, "now")
    forced = cluster.kubectl("delete", "pod", "now", "-n", ns, "--grace-period=0", "--force")
    assert forced.stdout.strip() == f'pod "now" force deleted from {ns} namespace'
    assert cluster.kubectl("get", "pods", "-n", ns).stderr.strip() == (
        f"No resources found in {ns} namespace."
    )


def test_an_unbound_pod_is_deleted_at_once(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-delete-unbound")
    make_pod(cluster, ns, "pending", bound=False)
    # kubectl waits for the pod to be gone: it returns because the server deleted it at once.
    out = cluster.kubectl("delete", "pod", "pending", "-n", ns, "--timeout=20s").stdout
    assert out.strip() == f'pod "pending" deleted from {ns} namespace'
    assert cluster.kubectl("get", "pod", "pending", "-n", ns, check=False).returncode != 0


def test_dry_run_and_delete_all(cluster: Cluster) -> None:
    ns = make_namespace(cluster, "e2e-delete-all")
    for name in ("a", "b"):
        make_pod(cluster, ns, name)
    out = cluster.kubectl("delete", "pods", "--all", "-n", ns, "--dry-run=server").stdout
    assert f'pod "a" deleted from {ns} namespace (server dry run)' in out
    listed = cluster.kubectl("get", "pods", "-n", ns, "-o", "json").stdout
    items = json.loads(listed)["items"]
    assert [p["metadata"].get("deletionTimestamp") for p in items] == [None, None]
    cluster.kubectl("delete", "pods", "--all", "-n", ns, "--wait=false")
    table = cluster.kubectl("get", "pods", "-n", ns).stdout
    assert table.count("Terminating") == 2
    cluster.kubectl("delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force")
    assert "No resources found" in cluster.kubectl("get", "pods", "-n", ns).stderr
