"""A Job run to completion as a user sees it with kubectl (the test plays the kubelet)."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Cluster


def _wait_for_pod(cluster: Cluster, ns: str, job: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        names = cluster.kubectl("-n", ns, "get", "pods", "-l", f"job-name={job}", "-o", "name")
        found = names.stdout.split()
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no pod for job {job}")


def test_kubectl_job_runs_to_completion(cluster: Cluster) -> None:
    ns = "e2e-jobs"
    cluster.kubectl("create", "namespace", ns)
    created = cluster.kubectl("-n", ns, "create", "job", "hello", "--image=busybox")
    assert created.stdout.strip() == "job.batch/hello created"
    pod = _wait_for_pod(cluster, ns, "hello")
    got = json.loads(cluster.kubectl("-n", ns, "get", pod, "-o", "json").stdout)
    assert got["metadata"]["finalizers"] == ["batch.kubernetes.io/job-tracking"]
    assert got["metadata"]["ownerReferences"][0]["kind"] == "Job"
    running = cluster.kubectl("-n", ns, "get", "job", "hello")
    assert running.stdout.split("\n")[1].split()[:3] == ["hello", "Running", "0/1"]

    cluster.kubectl(
        "-n",
        ns,
        "patch",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Succeeded"}}',
    )
    waited = cluster.kubectl(
        "-n", ns, "wait", "--for=condition=complete", "job/hello", "--timeout=30s"
    )
    assert waited.stdout.strip() == "job.batch/hello condition met"
    table = cluster.kubectl("-n", ns, "get", "job", "hello").stdout.split("\n")
    assert table[0].split() == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    assert table[1].split()[:3] == ["hello", "Complete", "1/1"]

    deadline = time.monotonic() + 20
    described = ""
    while time.monotonic() < deadline:
        described = cluster.kubectl("-n", ns, "describe", "job", "hello").stdout
        if "Job completed" in described:
            break
        time.sleep(0.2)
    assert "SuccessfulCreate" in described
    assert "Created pod: hello-" in described
    assert "Completed" in described
    assert "Job completed" in described
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in described
