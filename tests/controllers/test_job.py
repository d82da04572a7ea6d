"""The Job controller against a real API server: completions, failures, Indexed, suspend."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.job import backoff, indexed
from kube.controllers.job import podfailurepolicy as pfp
from tests.controllers.conftest import eventually, set_pod_phase
from tests.controllers.recording import recording_controllers

PODS = resource("pods")
JOBS = resource("jobs")
NAMESPACES = resource("namespaces")
FINALIZER = "batch.kubernetes.io/job-tracking"
FAST = {"job-sync-batch-period": 0.02}

_ids = itertools.count()


async def namespace(client: RESTClient) -> str:
    name = f"job-{next(_ids)}-{id(client) % 100000}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


def job(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                },
            },
            **spec,
        },
    }


async def live_pods(client: RESTClient, ns: str) -> list[dict[str, Any]]:
    items = (await client.list(PODS, ns))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def running(client: RESTClient, ns: str, count: int) -> list[dict[str, Any]]:
    """Wait for `count` pods without a phase report, and report them Running."""

    async def fresh() -> list[dict[str, Any]] | None:
        pods = [
            p
            for p in await live_pods(client, ns)
            if not p.get("status", {}).get("phase") or p["status"]["phase"] == "Pending"
        ]
        return pods if len(pods) >= count else None

    pods = await eventually(fresh)
    return [await set_pod_phase(client, p, "Running") for p in pods[:count]]


def condition(job_obj: dict[str, Any], cond_type: str) -> dict[str, Any] | None:
    for cond in job_obj.get("status", {}).get("conditions") or []:
        if cond["type"] == cond_type:
            return dict(cond)
    return None


async def finished(client: RESTClient, ns: str, name: str, cond_type: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await client.get(JOBS, name, ns)
        cond = condition(obj, cond_type)
        return obj if cond and cond["status"] == "True" else None

    result: dict[str, Any] = await eventually(check)
    return result


async def test_completions_with_parallelism_complete(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST) as (_, events):
        created = await client.create(JOBS, job("pi", completions=3, parallelism=2), ns)
        uid = created["metadata"]["uid"]
        first = await running(client, ns, 2)
        assert len(await live_pods(client, ns)) == 2  # parallelism caps the active pods
        for pod in first:
            meta = pod["metadata"]
            assert meta["generateName"] == "pi-"
            assert meta["labels"]["batch.kubernetes.io/job-name"] == "pi"
            assert meta["labels"]["batch.kubernetes.io/controller-uid"] == uid
            assert meta["labels"]["job-name"] == "pi"
            assert meta["labels"]["controller-uid"] == uid
            assert meta["finalizers"] == [FINALIZER]
            assert meta["ownerReferences"] == [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": "pi",
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]

        async def active_ready() -> bool:
            status = (await client.get(JOBS, "pi", ns)).get("status", {})
            return status.get("active") == 2 and status.get("ready") == 2

        await eventually(active_ready)
        await set_pod_phase(client, first[0], "Succeeded")
        third = await running(client, ns, 1)
        for pod in [first[1], *third]:
            await set_pod_phase(client, pod, "Succeeded")
        done = await finished(client, ns, "pi", "Complete")
        status = done["status"]
        assert status["succeeded"] == 3
        assert "active" not in status
        assert "failed" not in status
        assert status["ready"] == 0
        assert status["terminating"] == 0
        assert status["uncountedTerminatedPods"] == {}
        assert status["startTime"]
        assert status["completionTime"]
        met = condition(done, "SuccessCriteriaMet")
        assert met
        assert met["status"] == "True"
        assert met["reason"] == "CompletionsReached"
        complete = condition(done, "Complete")
        assert complete
        assert complete["message"] == "Reached expected number of succeeded pods"

        async def unfinalized() -> bool:
            pods = (await client.list(PODS, ns))["items"]
            return all(not p["metadata"].get("finalizers") for p in pods)

        await eventually(unfinalized)
        assert len(events.messages("SuccessfulCreate", "pi")) == 3
        assert all(
            m.startswith("Created pod: pi-") for m in events.messages("SuccessfulCreate", "pi")
        )
        assert events.messages("Completed", "pi") == ["Job completed"]


async def test_failing_job_stops_at_backoff_limit(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST) as (ctx, events):
        await client.create(JOBS, job("boom", backoffLimit=0), ns)
        (pod,) = await running(client, ns, 1)
        await set_pod_phase(client, pod, "Failed")
        done = await finished(client, ns, "boom", "Failed")
        status = done["status"]
        assert status["failed"] == 1
        assert "succeeded" not in status
        assert "completionTime" not in status
        target = condition(done, "FailureTarget")
        failed = condition(done, "Failed")
        assert target
        assert failed
        assert failed["reason"] == target["reason"] == "BackoffLimitExceeded"
        assert failed["message"] == "Job has reached the specified backoff limit"
        assert events.messages("BackoffLimitExceeded", "boom") == [
            "Job has reached the specified backoff limit"
        ]
        assert len(await live_pods(client, ns)) == 1  # the failed pod stays, no replacement
        assert ctx is not None


async def test_failed_pod_is_replaced_and_deadline_fails_the_job(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    # The backoff before the replacement (10 s) would make a real-clock test slow: the failed
    # pod's finish time is put in the past instead, as if it had failed a minute ago.
    async with recording_controllers(bare_cluster, "job", **FAST):
        await client.create(JOBS, job("retry", backoffLimit=3, activeDeadlineSeconds=600), ns)
        (pod,) = await running(client, ns, 1)
        failed = await set_pod_phase(client, pod, "Failed")
        minute_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        for cond in failed["status"]["conditions"]:
            cond["lastTransitionTime"] = minute_ago
        await client.patch(
            PODS,
            pod["metadata"]["name"],
            {"status": {"conditions": failed["status"]["conditions"]}},
            ns,
            subresource="status",
        )
        await running(client, ns, 1)

        async def counted() -> bool:
            status = (await client.get(JOBS, "retry", ns)).get("status", {})
            return status.get("failed") == 1 and status.get("active") == 1

        await eventually(counted)
        # Shorten the deadline: the Job fails with DeadlineExceeded and its pod is deleted.
        await client.patch(JOBS, "retry", {"spec": {"activeDeadlineSeconds": 1}}, ns)
        done = await finished(client, ns, "retry", "Failed")
        assert condition(done, "Failed")["reason"] == "DeadlineExceeded"  # type: ignore[index]
        assert done["status"]["failed"] == 2
        assert await live_pods(client, ns) == [
            p for p in await live_pods(client, ns) if p["status"]["phase"] == "Failed"
        ]


async def test_indexed_job(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST):
        await client.create(
            JOBS, job("idx", completions=3, parallelism=3, completionMode="Indexed"), ns
        )
        pods = await running(client, ns, 3)
        by_index = {p["metadata"]["annotations"][indexed.COMPLETION_INDEX]: p for p in pods}
        assert sorted(by_index) == ["0", "1", "2"]
        for ix, pod in by_index.items():
            assert pod["metadata"]["labels"][indexed.COMPLETION_INDEX] == ix
            assert pod["metadata"]["generateName"] == f"idx-{ix}-"
            assert pod["spec"]["hostname"] == f"idx-{ix}"
            env = pod["spec"]["containers"][0]["env"]
            assert env == [
                {
                    "name": "JOB_COMPLETION_INDEX",
                    "valueFrom": {
                        "fieldRef": {
                            "apiVersion": "v1",
                            "fieldPath": f"metadata.labels['{indexed.COMPLETION_INDEX}']",
                        }
                    },
                }
            ]
        await set_pod_phase(client, by_index["0"], "Succeeded")
        await set_pod_phase(client, by_index["2"], "Succeeded")

        async def partial() -> bool:
            status = (await client.get(JOBS, "idx", ns)).get("status", {})
            return status.get("completedIndexes") == "0,2" and status.get("succeeded") == 2

        await eventually(partial)
        await set_pod_phase(client, by_index["1"], "Succeeded")
        done = await finished(client, ns, "idx", "Complete")
        assert done["status"]["completedIndexes"] == "0-2"
        assert done["status"]["succeeded"] == 3


async def test_pod_failure_policy(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    policy = {
        "rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]},
            },
        ]
    }
    async with recording_controllers(bare_cluster, "job", **FAST) as (_, events):
        await client.create(JOBS, job("pfp", backoffLimit=5, podFailurePolicy=policy), ns)
        (pod,) = await running(client, ns, 1)
        exit42 = {
            "name": "c",
            "image": "busybox",
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "state": {"terminated": {"exitCode": 42, "reason": "Error"}},
        }
        await set_pod_phase(client, pod, "Failed", containerStatuses=[exit42])
        done = await finished(client, ns, "pfp", "Failed")
        failed = condition(done, "Failed")
        assert failed is not None
        assert failed["reason"] == "PodFailurePolicy"
        name = pod["metadata"]["name"]
        message = (
            f"Container c for pod {ns}/{name} failed with exit code 42 matching FailJob rule "
            "at index 1"
        )
        assert failed["message"] == message
        assert events.messages("PodFailurePolicy", "pfp") == [message]


async def test_suspend_deletes_active_pods_and_resume_recreates(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST) as (_, events):
        await client.create(JOBS, job("nap", parallelism=2, completions=2), ns)
        await running(client, ns, 2)
        await client.patch(JOBS, "nap", {"spec": {"suspend": True}}, ns)

        async def suspended() -> dict[str, Any] | None:
            obj = await client.get(JOBS, "nap", ns)
            cond = condition(obj, "Suspended")
            gone = not await live_pods(client, ns)
            return obj if cond and cond["status"] == "True" and gone else None

        obj = await eventually(suspended)
        cond = condition(obj, "Suspended")
        assert cond
        assert cond["reason"] == "JobSuspended"
        assert cond["message"] == "Job suspended"
        assert "active" not in obj["status"]
        assert events.messages("Suspended", "nap") == ["Job suspended"]
        assert len(events.messages("SuccessfulDelete", "nap")) == 2

        await client.patch(JOBS, "nap", {"spec": {"suspend": False}}, ns)
        await running(client, ns, 2)

        async def resumed() -> bool:
            cond = condition(await client.get(JOBS, "nap", ns), "Suspended")
            return bool(cond and cond["status"] == "False" and cond["reason"] == "JobResumed")

        await eventually(resumed)
        assert events.messages("Resumed", "nap") == ["Job resumed"]


async def test_suspended_job_creates_nothing(client: RESTClient, bare_cluster: Path) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST):
        await client.create(JOBS, job("later", suspend=True), ns)
        obj = await finished(client, ns, "later", "Suspended")
        assert "startTime" not in obj["status"]
        assert await live_pods(client, ns) == []


# -- pure functions ----------------------------------------------------------------------------


def test_completed_indexes_intervals() -> None:
    intervals = indexed.with_indexes([], [0, 1, 2, 5, 7, 8])
    assert indexed.format_intervals(intervals) == "0-2,5,7,8"
    assert indexed.total(intervals) == 6
    assert indexed.parse_intervals("0-2,5,7,8", 10) == [(0, 2), (5, 5), (7, 8)]
    assert indexed.parse_intervals("0-9", 4) == [(0, 3)]
    assert indexed.first_pending([], [(0, 2), (5, 5)], 3, 10) == [3, 4, 6]
    assert indexed.generate_name("a" * 60, 12) == "a" * 54 + "-12-"


def test_backoff_doubles_from_ten_seconds_to_six_minutes() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert backoff.remaining_for(1, now, now) == 10
    assert backoff.remaining_for(3, now, now) == 40
    assert backoff.remaining_for(9, now, now) == 360
    assert backoff.remaining_for(2, now - dt.timedelta(seconds=15), now) == 5
    assert backoff.remaining_for(0, None, now) == 0


def test_pod_failure_policy_matching() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "status": {
            "phase": "Failed",
            "conditions": [{"type": "DisruptionTarget", "status": "True"}],
            "containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 3}}}],
        },
    }
    ignore = {
        "rules": [
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            }
        ]
    }
    assert pfp.match(ignore, pod) == pfp.Match(None, False, "Ignore")
    not_in = {
        "rules": [{"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0, 1]}}]
    }
    found = pfp.match(not_in, pod)
    assert found.action == "FailJob"
    assert (
        found.message
        == "Container c for pod ns/p failed with exit code 3 matching FailJob rule at index 0"
    )
    count = {"rules": [{"action": "Count", "onExitCodes": {"operator": "In", "values": [4]}}]}
    assert pfp.match(count, pod) == pfp.Match()
    fail_index = {
        "rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]
    }
    assert pfp.match(fail_index, pod).action == "FailIndex"


async def test_deleted_job_releases_its_pods_finalizers(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    async with recording_controllers(bare_cluster, "job", **FAST):
        await client.create(JOBS, job("gone", parallelism=2, completions=2), ns)
        pods = await running(client, ns, 2)
        assert all(p["metadata"]["finalizers"] == [FINALIZER] for p in pods)
        # No garbage collector runs here: the pods outlive their Job, as orphans whose
        # tracking finalizer must not keep them from being deleted later.
        await client.delete(JOBS, "gone", ns, propagation_policy="Background")

        async def released() -> bool:
            items = (await client.list(PODS, ns))["items"]
            return len(items) == 2 and all(not p["metadata"].get("finalizers") for p in items)

        await eventually(released)


async def test_fail_index_with_backoff_limit_per_index(
    client: RESTClient, bare_cluster: Path
) -> None:
    ns = await namespace(client)
    policy = {"rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [3]}}]}
    spec = {
        "completions": 2,
        "parallelism": 2,
        "completionMode": "Indexed",
        "backoffLimitPerIndex": 1,
        "podFailurePolicy": policy,
    }
    async with recording_controllers(bare_cluster, "job", **FAST) as (_, events):
        await client.create(JOBS, job("perix", **spec), ns)
        pods = await running(client, ns, 2)
        by_index = {p["metadata"]["annotations"][indexed.COMPLETION_INDEX]: p for p in pods}
        assert by_index["0"]["metadata"]["annotations"][indexed.INDEX_FAILURE_COUNT] == "0"
        exit3 = {"state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
        await set_pod_phase(
            client,
            by_index["0"],
            "Failed",
            containerStatuses=[{"name": "c", "image": "busybox", **exit3}],
        )

        async def index_failed() -> bool:
            got = (await client.get(JOBS, "perix", ns)).get("status", {})
            return got.get("failedIndexes") == "0"

        await eventually(index_failed)
        await set_pod_phase(client, by_index["1"], "Succeeded")
        done = await finished(client, ns, "perix", "Failed")
        assert done["status"]["failedIndexes"] == "0"
        assert done["status"]["completedIndexes"] == "1"
        failed = condition(done, "Failed")
        assert failed is not None
        assert failed["reason"] == "FailedIndexes"
        assert failed["message"] == "Job has failed indexes"
        # The failed index was not retried.
        assert len(events.messages("SuccessfulCreate", "perix")) == 2
