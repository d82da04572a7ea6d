"""batch/v1 defaults against upstream's pkg/apis/batch/v1/defaults_test.go cases, and the
selector a Job gets on create."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.defaults import default, prepare_create

TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}


def job_spec(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "pi"}, "spec": spec}
    default("batch", "v1", "Job", obj)
    result: dict[str, Any] = obj["spec"]
    return result


def test_job() -> None:
    assert job_spec() == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "template": {"spec": TEMPLATE_SPEC_DEFAULTS},
        "completionMode": "NonIndexed",
        "suspend": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }


@pytest.mark.parametrize(
    ("given", "completions", "parallelism"),
    [
        ({}, 1, 1),
        ({"completions": 5}, 5, 1),
        ({"parallelism": 3}, None, 3),
        ({"completions": 0, "parallelism": 0}, 0, 0),
    ],
)
def test_completions_and_parallelism(
    given: dict[str, Any], completions: int | None, parallelism: int
) -> None:
    spec = job_spec(**given)
    assert spec.get("completions") == completions
    assert spec["parallelism"] == parallelism


def test_job_policies() -> None:
    spec = job_spec(
        podFailurePolicy={
            "rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
        }
    )
    assert spec["podReplacementPolicy"] == "Failed"
    assert spec["podFailurePolicy"]["rules"][0]["onPodConditions"] == [
        {"type": "DisruptionTarget", "status": "True"}
    ]
    assert (
        job_spec(backoffLimitPerIndex=1, completionMode="Indexed", completions=3)["backoffLimit"]
        == 2**31 - 1
    )
    assert "manualSelector" not in job_spec()


def test_job_labels_come_from_the_template() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "pi"},
        "spec": {"template": {"metadata": {"labels": {"app": "pi"}}}},
    }
    default("batch", "v1", "Job", obj)
    assert obj["metadata"]["labels"] == {"app": "pi"}
    mine: dict[str, Any] = {
        "metadata": {"name": "pi", "labels": {"team": "a"}},
        "spec": {"template": {"metadata": {"labels": {"app": "pi"}}}},
    }
    default("batch", "v1", "Job", mine)
    assert mine["metadata"]["labels"] == {"team": "a"}


GENERATED = {
    "job-name": "pi",
    "batch.kubernetes.io/job-name": "pi",
    "controller-uid": "u-1",
    "batch.kubernetes.io/controller-uid": "u-1",
}


def test_create_generates_the_selector() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "pi", "uid": "u-1"},
        "spec": {"template": {"metadata": {"labels": {"app": "pi"}}}},
    }
    prepare_create("batch", "v1", "Job", obj)
    assert obj["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "pi", **GENERATED}
    # upstream's Job labels are the template's map, so they see the generated labels too
    assert obj["metadata"]["labels"] == {"app": "pi", **GENERATED}


def test_create_with_a_manual_selector_generates_nothing() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "pi", "uid": "u-1", "labels": {"team": "a"}},
        "spec": {
            "manualSelector": True,
            "selector": {"matchLabels": {"app": "pi"}},
            "template": {"metadata": {"labels": {"app": "pi"}}},
        },
    }
    prepare_create("batch", "v1", "Job", obj)
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "pi"}}
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "pi"}
    assert obj["metadata"]["labels"] == {"team": "a"}


def test_cron_job() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "c"},
        "spec": {"schedule": "@hourly", "jobTemplate": {"spec": {}}},
    }
    default("batch", "v1", "CronJob", obj)
    assert obj["spec"] == {
        "schedule": "@hourly",
        "concurrencyPolicy": "Allow",
        "suspend": False,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {"spec": {"template": {"spec": TEMPLATE_SPEC_DEFAULTS}}},  # no Job defaults
    }
