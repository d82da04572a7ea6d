"""`/metrics` of the real `kube server`, read as Prometheus reads it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Cluster

NS = "e2e-metrics"


def test_metrics_parse_and_carry_upstreams_labels(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("create", "configmap", "m", "-n", NS, "--dry-run=server")
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    families = {f.name: f for f in text_string_to_metric_families(text)}  # raises if invalid
    totals = [s.labels for s in families["apiserver_request"].samples if s.name.endswith("_total")]
    assert {
        "verb": "POST",
        "dry_run": "All",
        "group": "",
        "version": "v1",
        "resource": "configmaps",
        "subresource": "",
        "scope": "resource",
        "component": "apiserver",
        "code": "201",
    } in totals
    durations = families["apiserver_request_duration_seconds"].samples
    assert durations
    assert all("dry_run" in s.labels and "code" not in s.labels for s in durations)
