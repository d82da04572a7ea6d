"""Prometheus metrics of the API server, with upstream's names and labels.

`apiserver_request_total` (counter) and `apiserver_request_duration_seconds` (histogram,
upstream's buckets) by verb, group, version, resource, subresource, scope and code, so
dashboards and `kube sim load` read them as they would from kube-apiserver.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kube.apiserver.requestinfo import RequestInfo

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Upstream's request duration buckets (staging/src/k8s.io/apiserver/pkg/endpoints/metrics).
DURATION_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3,
    4, 5, 6, 8, 10, 15, 20, 30, 45, 60,
)  # fmt: skip


# Upstream reports create and update by their HTTP methods.
REPORTED_VERBS = {"create": "POST", "update": "PUT"}


def _scope(info: RequestInfo) -> str:
    if info.namespace:
        return "namespace"
    if info.name:
        return "resource"
    return "cluster"


class RequestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["verb", "group", "version", "resource", "subresource", "scope", "component"]
        self.total = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, dry run value, group, "
            "version, resource, scope, component, and HTTP response code.",
            [*labels, "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, "
            "version, resource, subresource, scope and component.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def observe(self, info: RequestInfo, code: int, seconds: float) -> None:
        verb = REPORTED_VERBS.get(info.verb, info.verb.upper())
        values = (
            verb,
            info.group,
            info.version,
            info.resource,
            info.subresource,
            _scope(info) if info.is_resource else "",
            "apiserver",
        )
        self.total.labels(*values, str(code)).inc()
        if info.verb != "watch":
            self.duration.labels(*values).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
