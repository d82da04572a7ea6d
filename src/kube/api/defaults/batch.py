"""Defaults of the batch group's kinds, as pkg/apis/batch/v1/defaults.go applies them.

- Job: with neither set, `completions` and `parallelism` are 1; else `parallelism: 1`;
  `backoffLimit: 6` (the int32 maximum with `backoffLimitPerIndex`); `completionMode:
  NonIndexed`; `suspend: false`; `podReplacementPolicy: TerminatingOrFailed` (`Failed`
  with a pod failure policy); pod failure policy conditions' `status: "True"`; the Job's
  labels are its template's labels when it has none. `manualSelector` stays unset.
- CronJob: `concurrencyPolicy: Allow`, `suspend: false`, `successfulJobsHistoryLimit: 3`,
  `failedJobsHistoryLimit: 1`; the job template's pod template gets the pod-spec defaults
  (the job template itself gets no Job defaults, as upstream).

`generate_selector` is what the Job strategy does on create when `manualSelector` is not
true: the template gets the `controller-uid` and `job-name` labels (both the
`batch.kubernetes.io/` ones and the legacy ones) and the selector selects the uid.
"""

from __future__ import annotations

from kube.api.defaults import core
from kube.api.defaults._walk import Object, items, set_if_empty, setdefault, sub

MAX_INT32 = 2**31 - 1
CONTROLLER_UID, LEGACY_CONTROLLER_UID = "batch.kubernetes.io/controller-uid", "controller-uid"
JOB_NAME, LEGACY_JOB_NAME = "batch.kubernetes.io/job-name", "job-name"


def job(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    setdefault(spec, "parallelism", 1)
    setdefault(
        spec, "backoffLimit", MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    )
    template = sub(spec, "template")
    labels = sub(sub(template, "metadata", create=False), "labels", create=False)
    meta = sub(obj, "metadata")
    if labels is not None and meta is not None and not meta.get("labels"):
        meta["labels"] = dict(labels)
    setdefault(spec, "completionMode", "NonIndexed")
    setdefault(spec, "suspend", False)
    failure_policy = sub(spec, "podFailurePolicy", create=False)
    setdefault(
        spec,
        "podReplacementPolicy",
        "Failed" if failure_policy is not None else "TerminatingOrFailed",
    )
    for rule in items(failure_policy, "rules"):
        for pattern in items(rule, "onPodConditions"):
            set_if_empty(pattern, "status", "True")
    core.pod_template(template)


def generate_selector(obj: Object) -> None:
    """The Job strategy's `generateSelector` (skipped with `manualSelector: true`)."""
    spec = sub(obj, "spec")
    meta = sub(obj, "metadata")
    if spec is None or meta is None or spec.get("manualSelector") is True:
        return
    name, uid = str(meta.get("name") or ""), str(meta.get("uid") or "")
    labels = sub(sub(sub(spec, "template"), "metadata"), "labels")
    if labels is not None:
        for key in (LEGACY_JOB_NAME, JOB_NAME):
            labels.setdefault(key, name)
        for key in (LEGACY_CONTROLLER_UID, CONTROLLER_UID):
            labels.setdefault(key, uid)
    match_labels = sub(sub(spec, "selector"), "matchLabels")
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID, uid)


def cron_job(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "concurrencyPolicy", "Allow")
    setdefault(spec, "suspend", False)
    setdefault(spec, "successfulJobsHistoryLimit", 3)
    setdefault(spec, "failedJobsHistoryLimit", 1)
    job_spec = sub(sub(spec, "jobTemplate"), "spec")
    core.pod_template(sub(job_spec, "template"))
