"""The kubelet's per-pod rules: restart backoff, $(VAR) expansion, resources as cgroups."""

from __future__ import annotations

from kube.kubelet.backoff import BACKOFF_MAX, Backoff
from kube.kubelet.envvars import expand, field_value
from kube.kubelet.starting import linux_resources


def test_crash_loop_backoff_doubles_to_five_minutes_and_resets() -> None:
    backoff = Backoff()
    now = 1000.0
    delays = [backoff.next("u/c", now, ran_for=1) for _ in range(8)]
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]
    assert backoff.remaining("u/c", now + 100) == 200
    assert backoff.next("u/c", now, ran_for=601) == 10  # ran 10 minutes: start afresh
    assert max(delays) == BACKOFF_MAX
    backoff.forget("u/")
    assert backoff.remaining("u/c", now) == 0


def test_expand_as_upstream() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("$(A", env) == "$(A"


def test_field_refs() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1"},
    }
    assert field_value(pod, "metadata.name", "10.0.0.2", "192.0.2.2") == "p"
    assert field_value(pod, "status.podIP", "10.0.0.2", "192.0.2.2") == "10.0.0.2"
    assert field_value(pod, "spec.nodeName", "", "") == "n1"
    assert field_value(pod, "metadata.labels['app']", "", "") == "web"


def test_resources_become_cgroup_settings() -> None:
    resources = linux_resources(
        {"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}}
    )
    assert resources.cpu_shares == 256
    assert resources.cpu_period == 100_000
    assert resources.cpu_quota == 50_000
    assert resources.memory_limit_in_bytes == 64 * 1024 * 1024
    assert linux_resources({}).cpu_shares == 2  # best effort
