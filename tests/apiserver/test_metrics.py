"""The API server's request metrics: upstream's names, label sets and label values."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from prometheus_client.parser import text_string_to_metric_families

from kube.apiserver.metrics import RequestMetrics, dry_run, scope
from kube.apiserver.requestinfo import parse

UPSTREAM_LABELS = {
    "verb",
    "dry_run",
    "group",
    "version",
    "resource",
    "subresource",
    "scope",
    "component",
}


def observe(metrics: RequestMetrics, method: str, path: str, code: int, **headers: str) -> None:
    request = make_mocked_request(method, path, headers=headers)
    metrics.observe(parse(method, request.path, request.query), code, 0.01, request)


def test_the_counter_and_the_histogram_have_upstreams_labels() -> None:
    metrics = RequestMetrics()
    observe(metrics, "GET", "/api/v1/namespaces/default/pods", 200)
    text = metrics.render().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (total,) = [s for s in families["apiserver_request"].samples if s.name.endswith("_total")]
    assert set(total.labels) == UPSTREAM_LABELS | {"code"}
    assert total.labels == {
        "verb": "LIST",
        "dry_run": "",
        "group": "",
        "version": "v1",
        "resource": "pods",
        "subresource": "",
        "scope": "namespace",
        "component": "apiserver",
        "code": "200",
    }
    buckets = [
        s
        for s in families["apiserver_request_duration_seconds"].samples
        if s.name.endswith("_count")
    ]
    assert [set(s.labels) for s in buckets] == [UPSTREAM_LABELS]


def totals(metrics: RequestMetrics) -> list[dict[str, str]]:
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    return [
        dict(s.labels) for s in families["apiserver_request"].samples if s.name.endswith("_total")
    ]


def test_dry_run_apply_and_scope_values() -> None:
    metrics = RequestMetrics()
    observe(metrics, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", 201)
    observe(
        metrics,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web",
        200,
        **{"Content-Type": "application/apply-patch+yaml"},
    )
    observe(metrics, "PUT", "/api/v1/nodes/n1/status", 200)
    observe(metrics, "DELETE", "/api/v1/namespaces/default/pods/p?dryRun=Some", 422)
    seen = {
        (t["verb"], t["dry_run"], t["resource"], t["subresource"], t["scope"])
        for t in totals(metrics)
    }
    assert seen == {
        ("POST", "All", "configmaps", "", "resource"),
        ("APPLY", "", "deployments", "", "resource"),
        ("PUT", "", "nodes", "status", "resource"),
        ("DELETE", "invalid", "pods", "", "resource"),
    }


def test_watches_are_counted_but_not_timed() -> None:
    metrics = RequestMetrics()
    observe(metrics, "GET", "/api/v1/pods?watch=true", 200)
    assert [t["verb"] for t in totals(metrics)] == ["WATCH"]
    assert "apiserver_request_duration_seconds_count{" not in metrics.render().decode()


def test_clean_scope_and_dry_run() -> None:
    assert scope(parse("GET", "/api/v1/pods", {})) == "cluster"
    assert scope(parse("GET", "/api/v1/namespaces/a/pods/p", {})) == "resource"
    assert scope(parse("GET", "/healthz", {})) == ""
    assert dry_run(["All", "All"]) == "All"
    assert dry_run([]) == ""


def test_repeated_requests_add_up_per_label_set_and_code() -> None:
    metrics = RequestMetrics()
    lease = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
    for code in (200, 200, 200, 409):
        observe(metrics, "PUT", lease, code)
    observe(metrics, "PUT", "/api/v1/namespaces/default/configmaps/c", 200)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    counts = {
        (s.labels["resource"], s.labels["code"]): s.value
        for s in families["apiserver_request"].samples
        if s.name.endswith("_total")
    }
    assert counts == {("leases", "200"): 3, ("leases", "409"): 1, ("configmaps", "200"): 1}
    timed = {
        s.labels["resource"]: s.value
        for s in families["apiserver_request_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert timed == {"leases": 4, "configmaps": 1}
