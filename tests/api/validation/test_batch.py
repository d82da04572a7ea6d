"""Validation of Jobs and CronJobs (upstream's messages), after defaulting and, for Jobs,
the selector generation of create."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kube.api.defaults import default, prepare_create
from kube.api.validation import validate

POD_TEMPLATE = {"spec": {"containers": [{"name": "c", "image": "perl"}], "restartPolicy": "Never"}}


def job(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": "1234"},
        "spec": {"template": copy.deepcopy(POD_TEMPLATE), **spec},
    }
    prepare_create("batch", "v1", "Job", obj)
    return obj


def errors(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [f"{c.field}: {c.message}" for c in validate("batch", "v1", obj["kind"], obj, old)]


def test_valid_job() -> None:
    assert errors(job()) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"parallelism": -1},
            ["spec.parallelism: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            {"completions": -1},
            ["spec.completions: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            {"backoffLimit": -1},
            ["spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            {"completionMode": "Sometimes"},
            [
                'spec.completionMode: Unsupported value: "Sometimes": supported values: '
                '"NonIndexed", "Indexed"'
            ],
        ),
        (
            {"podReplacementPolicy": "Never"},
            [
                'spec.podReplacementPolicy: Unsupported value: "Never": supported values: '
                '"TerminatingOrFailed", "Failed"'
            ],
        ),
    ],
)
def test_broken_jobs(spec: dict[str, Any], expected: list[str]) -> None:
    assert errors(job(**spec)) == expected


def test_job_restart_policy() -> None:
    obj = job()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert errors(obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"'
    ]


def test_a_job_template_without_restart_policy_is_rejected() -> None:
    obj = {
        "kind": "Job",
        "metadata": {"name": "pi", "uid": "u"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "perl"}]}}},
    }
    prepare_create("batch", "v1", "Job", obj)
    assert errors(obj) == [  # defaulted to Always, which a Job may not use
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"'
    ]


def test_generated_selector_must_not_be_tampered_with() -> None:
    obj = job()
    obj["spec"]["template"]["metadata"]["labels"]["controller-uid"] = "other"
    assert errors(obj) == [
        "spec.template.metadata.labels[controller-uid]: Invalid value: "
        'map[string]string{"batch.kubernetes.io/controller-uid":"1234", '
        '"batch.kubernetes.io/job-name":"pi", "controller-uid":"other", "job-name":"pi"}: '
        "must be '1234'"
    ]
    obj = job()
    obj["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] = "5678"
    got = errors(obj)
    assert got[0].startswith("spec.selector: Invalid value: v1.LabelSelector{")
    assert got[0].endswith("`selector` not auto-generated")


def test_manual_selectors() -> None:
    obj = job(manualSelector=True, selector={"matchLabels": {"app": "pi"}})
    assert "controller-uid" not in obj["spec"]["template"].get("metadata", {}).get("labels", {})
    assert errors(obj) == [
        "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does "
        "not match template `labels`"
    ]
    obj["spec"]["template"]["metadata"] = {"labels": {"app": "pi"}}
    assert errors(obj) == []


def test_job_updates() -> None:
    old = job()
    assert errors(copy.deepcopy(old), old) == []
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 5
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "perl:2"
    assert errors(new, old) == [
        "spec.completions: Invalid value: 5: field is immutable",
        "spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable",
    ]
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 3
    new["spec"]["suspend"] = True
    assert errors(new, old) == []


def test_suspended_jobs_may_change_scheduling() -> None:
    old = job(suspend=True)
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    assert errors(new, old) == []


def test_indexed_job_names_must_make_pod_hostnames() -> None:
    name = "x" * 62
    obj = {
        "kind": "Job",
        "metadata": {"name": name, "uid": "u"},
        "spec": {
            "template": copy.deepcopy(POD_TEMPLATE),
            "completionMode": "Indexed",
            "completions": 10,
        },
    }
    prepare_create("batch", "v1", "Job", obj)
    assert (
        f'metadata.name: Invalid value: "{name}": will not able to create pod with invalid DNS '
        f"label: {name}-9" in errors(obj)
    )


# -- CronJob -------------------------------------------------------------------------------


def cron_job(**spec: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": copy.deepcopy(POD_TEMPLATE)}},
            **spec,
        },
    }
    default("batch", "v1", "CronJob", obj)
    return obj


def test_valid_cron_job() -> None:
    assert errors(cron_job()) == []
    assert errors(cron_job(schedule="@hourly", timeZone="Europe/Berlin")) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"schedule": ""}, ["spec.schedule: Required value"]),
        (
            {"schedule": "* * * *"},
            [
                'spec.schedule: Invalid value: "* * * *": expected exactly 5 fields, found 4: [* '
                "* * *]"
            ],
        ),
        (
            {"schedule": "TZ=UTC * * * * *"},
            [
                'spec.schedule: Invalid value: "TZ=UTC * * * * *": cannot use TZ or CRON_TZ in '
                "schedule, use timeZone field instead"
            ],
        ),
        (
            {"concurrencyPolicy": "Sometimes"},
            [
                'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: '
                '"Allow", '
                '"Forbid", "Replace"'
            ],
        ),
        (
            {"timeZone": "Mars/Olympus"},
            ['spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'],
        ),
        (
            {"timeZone": ""},
            ['spec.timeZone: Invalid value: "": timeZone must be nil or non-empty string'],
        ),
        (
            {"successfulJobsHistoryLimit": -1},
            [
                "spec.successfulJobsHistoryLimit: Invalid value: -1: must be greater than or "
                "equal to 0"
            ],
        ),
        (
            {
                "jobTemplate": {
                    "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": POD_TEMPLATE}
                }
            },
            [
                "spec.jobTemplate.spec.selector: Invalid value: "
                'v1.LabelSelector{MatchLabels:map[string]string{"a":"b"}, '
                "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: `selector` will be "
                "auto-generated"
            ],
        ),
    ],
)
def test_broken_cron_jobs(spec: dict[str, Any], expected: list[str]) -> None:
    assert errors(cron_job(**spec)) == expected


def test_cron_job_names_leave_room_for_the_job_suffix() -> None:
    obj = cron_job()
    obj["metadata"]["name"] = "c" * 53
    assert errors(obj) == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters'
    ]
    assert errors(obj, obj) == []


def test_a_stored_tz_schedule_may_stay() -> None:
    old = cron_job()
    old["spec"]["schedule"] = "TZ=UTC 0 * * * *"
    assert errors(copy.deepcopy(old), old) == []
