"""Prometheus metrics of the API server, with upstream's names and labels.

`apiserver_request_total` (counter) and `apiserver_request_duration_seconds` (histogram,
upstream's buckets) carry upstream's label sets (k8s.io/apiserver/pkg/endpoints/metrics): verb,
dry_run, group, version, resource, subresource, scope, component, and for the counter the
response code, with upstream's values (CleanVerb: POST/PUT for create/update, APPLY for a
server-side apply patch, WATCH; cleanDryRun: "", "All" or "invalid"; CleanScope), so
dashboards and `kube sim load` read them as they would from kube-apiserver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
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
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope", "component")
COMPONENT = "apiserver"


def scope(info: RequestInfo) -> str:
    """upstream's CleanScope: one object (or a create), a namespace, the cluster, or none."""
    if info.name or (info.is_resource and info.verb == "create"):
        return "resource"
    if info.namespace:
        return "namespace"
    if info.is_resource:
        return "cluster"
    return ""


def dry_run(values: Sequence[str]) -> str:
    """upstream's cleanDryRun: the distinct `dryRun` values sorted, or "invalid"."""
    if any(value != "All" for value in values):
        return "invalid"
    return ",".join(sorted(set(values)))


def verb(info: RequestInfo, method: str = "", content_type: str = "") -> str:
    """upstream's CleanVerb over the request's verb."""
    if not info.is_resource:
        return method.upper() or info.verb.upper()
    if info.verb == "patch" and content_type.split(";")[0].strip().lower() == APPLY_CONTENT_TYPE:
        return "APPLY"
    return REPORTED_VERBS.get(info.verb, info.verb.upper())


class RequestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.total = Counter(
            "apiserver_request_total",
            "Counter of apiserver requests broken out for each verb, dry run value, group, "
            "version, resource, scope, component, and HTTP response code.",
            [*LABELS, "code"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, "
            "version, resource, subresource, scope and component.",
            LABELS,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        # Each label set's series, found once: prometheus_client's labels() validates and
        # locks on every call, about half of what counting a request cost.
        self._totals: dict[tuple[tuple[str, ...], int], Any] = {}
        self._durations: dict[tuple[str, ...], Any] = {}

    def observe(
        self, info: RequestInfo, code: int, seconds: float, request: web.BaseRequest | None = None
    ) -> None:
        """Count one answered request (and time it, unless it is a watch)."""
        method = request.method if request is not None else ""
        content_type = request.headers.get("Content-Type", "") if request is not None else ""
        dry = dry_run(request.query.getall("dryRun", [])) if request is not None else ""
        values = (
            verb(info, method, content_type),
            dry,
            info.group,
            info.version,
            info.resource,
            info.subresource,
            scope(info),
            COMPONENT,
        )
        total = self._totals.get((values, code))
        if total is None:
            total = self._totals[(values, code)] = self.total.labels(*values, str(code))
        total.inc()
        if info.verb != "watch":
            duration = self._durations.get(values)
            if duration is None:
                duration = self._durations[values] = self.duration.labels(*values)
            duration.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
