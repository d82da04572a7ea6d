"""The batch group's kinds, validated as pkg/apis/batch/validation does.

- Job: parallelism, completions, backoff limit, active deadline and TTL >= 0; completion
  mode and pod replacement policy values (Indexed jobs need completions); a set, valid
  selector matching the template's labels; the pod template with restart policy `OnFailure`
  or `Never`. Unless `manualSelector` is true the selector must be the generated one: the
  template carries `batch.kubernetes.io/controller-uid` / `controller-uid` (the job's uid)
  and `batch.kubernetes.io/job-name` / `job-name`, and the selector selects them. On update
  the selector, completions (but for Indexed jobs scaled with parallelism), completion mode,
  pod failure policy and success policy are immutable, and the template too, except the
  scheduling fields of a suspended job.
- CronJob: the name (at most 52 characters, as Job names get a suffix), the schedule
  (robfig/cron's standard syntax; `TZ=` only when the stored schedule already had it), the
  time zone, the concurrency policy, history limits and the job template (whose selector is
  generated, so it may not be set).
"""

from __future__ import annotations

import copy
import re
import zoneinfo
from typing import Any

from kube.api.errors import Cause
from kube.api.validation import field
from kube.api.validation.cron import CronError, parse_standard
from kube.api.validation.field import GoRepr, as_dict, as_int, as_str
from kube.api.validation.meta import (
    dns1123_label_errors,
    go_label_selector,
    selector_requirements,
    selects,
    validate_annotations,
    validate_label_selector,
    validate_labels,
)
from kube.api.validation.pods import validate_pod_template_spec

Object = dict[str, Any]
COMPLETION_MODES = ["NonIndexed", "Indexed"]
POD_REPLACEMENT_POLICIES = ["TerminatingOrFailed", "Failed"]
JOB_RESTART_POLICIES = ["OnFailure", "Never"]
CONCURRENCY_POLICIES = ["Allow", "Forbid", "Replace"]
CONTROLLER_UID, LEGACY_CONTROLLER_UID = "batch.kubernetes.io/controller-uid", "controller-uid"
JOB_NAME, LEGACY_JOB_NAME = "batch.kubernetes.io/job-name", "job-name"
GO_TEMPLATE = GoRepr("core.PodTemplateSpec{...}")

# -- Job -----------------------------------------------------------------------------------


def _job_spec_fields(spec: dict[str, Any], path: str) -> list[Cause]:
    """upstream's `validateJobSpec`: what Jobs and CronJob job templates share."""
    causes: list[Cause] = []
    for name in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
    ):
        causes.extend(field.nonnegative(field.child(path, name), spec.get(name)))
    mode = spec.get("completionMode")
    if mode is not None and mode not in COMPLETION_MODES:
        causes.append(
            field.not_supported(field.child(path, "completionMode"), mode, COMPLETION_MODES)
        )
    if mode == "Indexed" and spec.get("completions") is None:
        causes.append(
            field.required(field.child(path, "completions"), "when completion mode is Indexed")
        )
    policy = spec.get("podReplacementPolicy")
    if policy is not None and policy not in POD_REPLACEMENT_POLICIES:
        causes.append(
            field.not_supported(
                field.child(path, "podReplacementPolicy"), policy, POD_REPLACEMENT_POLICIES
            )
        )
    template = spec.get("template")
    template_path = field.child(path, "template")
    causes.extend(validate_pod_template_spec(template, template_path))
    restart = as_dict(as_dict(template).get("spec")).get("restartPolicy")
    if restart not in JOB_RESTART_POLICIES:
        causes.append(
            field.not_supported(
                field.child(template_path, "spec", "restartPolicy"),
                restart if restart is not None else "",
                JOB_RESTART_POLICIES,
            )
        )
    return causes


def _job_spec(spec: dict[str, Any]) -> list[Cause]:
    """upstream's `ValidateJobSpec`: the shared fields, the selector and template labels."""
    causes = _job_spec_fields(spec, "spec")
    selector = spec.get("selector")
    if selector is None:
        causes.append(field.required("spec.selector"))
    else:
        causes.extend(validate_label_selector(selector, "spec.selector"))
    requirements = selector_requirements(selector)
    if selector is not None and requirements is not None:
        raw = as_dict(as_dict(spec.get("template")).get("metadata")).get("labels")
        labels = as_dict(raw)
        if not selects(requirements, labels):
            causes.append(
                field.invalid(
                    "spec.template.metadata.labels",
                    GoRepr(field.go_string_map(labels if raw is not None else None)),
                    "`selector` does not match template `labels`",
                )
            )
    return causes


def _has_label(labels: dict[str, Any], key_: str, expected: str) -> list[Cause]:
    """`ValidateHasLabel` on the template's metadata."""
    path = field.key("spec.template.metadata.labels", key_)
    if key_ not in labels:
        return [field.required(path, expected)]
    if labels[key_] != expected:
        return [field.invalid(path, GoRepr(field.go_string_map(labels)), f"must be '{expected}'")]
    return []


def _generated_selector(obj: Object, batch_labels: bool) -> list[Cause]:
    """upstream's `validateGeneratedSelector`."""
    spec = as_dict(obj.get("spec"))
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    meta = as_dict(obj.get("metadata"))
    uid, name = as_str(meta.get("uid")), as_str(meta.get("name"))
    causes: list[Cause] = []
    if not uid:
        causes.append(field.required("metadata.uid"))
    labels = as_dict(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    causes.extend(_has_label(labels, LEGACY_CONTROLLER_UID, uid))
    causes.extend(_has_label(labels, LEGACY_JOB_NAME, name))
    expected = {LEGACY_CONTROLLER_UID: uid, LEGACY_JOB_NAME: name}
    if batch_labels:
        causes.extend(_has_label(labels, CONTROLLER_UID, uid))
        causes.extend(_has_label(labels, JOB_NAME, name))
        expected |= {CONTROLLER_UID: uid, JOB_NAME: name}
    requirements = selector_requirements(spec.get("selector"))
    if requirements is not None and not selects(requirements, expected):
        causes.append(
            field.invalid(
                "spec.selector",
                go_label_selector(spec.get("selector")),
                "`selector` not auto-generated",
            )
        )
    return causes


def _suspended_template_view(template: object) -> dict[str, Any]:
    """The template without what a suspended, never started job may change."""
    view = copy.deepcopy(as_dict(template))
    meta = as_dict(view.get("metadata"))
    meta.pop("labels", None)
    meta.pop("annotations", None)
    spec = as_dict(view.get("spec"))
    for name in ("nodeSelector", "tolerations", "affinity", "schedulingGates"):
        spec.pop(name, None)
    return view


def validate_job(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    if old is None:
        causes = _generated_selector(obj, batch_labels=True)
        causes.extend(_job_spec(spec))
        completions = as_int(spec.get("completions"))
        if spec.get("completionMode") == "Indexed" and completions is not None and completions > 0:
            name = as_str(as_dict(obj.get("metadata")).get("name"))
            hostname = f"{name}-{completions - 1}"
            if dns1123_label_errors(hostname):
                causes.append(
                    field.invalid(
                        "metadata.name",
                        name,
                        f"will not able to create pod with invalid DNS label: {hostname}",
                    )
                )
        return causes
    old_spec = as_dict(old.get("spec"))
    old_labels = as_dict(as_dict(as_dict(old_spec.get("template")).get("metadata")).get("labels"))
    causes = _generated_selector(obj, batch_labels=CONTROLLER_UID in old_labels)
    causes.extend(_job_spec(spec))
    indexed_scale = (
        spec.get("completionMode") == "Indexed"
        and old_spec.get("completionMode") == "Indexed"
        and spec.get("completions") == spec.get("parallelism")
        and old_spec.get("completions") == old_spec.get("parallelism")
    )
    if not indexed_scale:
        causes.extend(
            field.immutable(
                "spec.completions", spec.get("completions"), old_spec.get("completions")
            )
        )
    if spec.get("selector") != old_spec.get("selector"):
        causes.append(
            field.invalid(
                "spec.selector", go_label_selector(spec.get("selector")), field.FIELD_IMMUTABLE
            )
        )
    template, old_template = spec.get("template"), old_spec.get("template")
    if old_spec.get("suspend") is True and not as_dict(old.get("status")).get("startTime"):
        template, old_template = (
            _suspended_template_view(template),
            _suspended_template_view(old_template),
        )
    if template != old_template:
        causes.append(field.invalid("spec.template", GO_TEMPLATE, field.FIELD_IMMUTABLE))
    for name in (
        "completionMode",
        "podFailurePolicy",
        "backoffLimitPerIndex",
        "managedBy",
        "successPolicy",
    ):
        if spec.get(name) != old_spec.get(name):
            value = spec.get(name)
            shown = value if isinstance(value, str | int | type(None)) else GoRepr("{...}")
            causes.append(field.invalid(field.child("spec", name), shown, field.FIELD_IMMUTABLE))
    return causes


# -- CronJob -------------------------------------------------------------------------------

TIME_ZONE_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


def _time_zone(value: object) -> list[Cause]:
    if value is None:
        return []
    path = "spec.timeZone"
    zone = as_str(value)
    if not zone:
        return [field.invalid(path, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not TIME_ZONE_PART.fullmatch(part):
            return [field.invalid(path, zone, f"unknown time zone {zone}")]
    causes = []
    if zone.lower() == "local":
        causes.append(
            field.invalid(
                path,
                zone,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        )
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        causes.append(field.invalid(path, zone, f"unknown time zone {zone}"))
    return causes


def _schedule(schedule: str, allow_tz: bool, time_zone: object) -> list[Cause]:
    path = "spec.schedule"
    if not schedule:
        return [field.required(path)]
    causes = []
    try:
        parse_standard(schedule)
    except CronError as err:
        causes.append(field.invalid(path, schedule, str(err)))
    if "TZ" in schedule:
        if not allow_tz:
            causes.append(
                field.invalid(
                    path,
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                )
            )
        elif time_zone is not None:
            causes.append(
                field.invalid(
                    path, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"
                )
            )
    return causes


def validate_cron_job(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    name = as_str(as_dict(obj.get("metadata")).get("name"))
    if old is None and len(name) > 52:
        causes.append(field.invalid("metadata.name", name, "must be no more than 52 characters"))
    old_schedule = as_str(as_dict(old.get("spec")).get("schedule")) if old is not None else ""
    causes.extend(
        _schedule(as_str(spec.get("schedule")), "TZ" in old_schedule, spec.get("timeZone"))
    )
    causes.extend(_time_zone(spec.get("timeZone")))
    causes.extend(
        field.nonnegative("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"))
    )
    policy = spec.get("concurrencyPolicy")
    if not policy:
        causes.append(field.required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        causes.append(field.not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    template = as_dict(spec.get("jobTemplate"))
    meta = as_dict(template.get("metadata"))
    causes.extend(validate_labels(meta.get("labels"), "spec.jobTemplate.metadata.labels"))
    causes.extend(
        validate_annotations(meta.get("annotations"), "spec.jobTemplate.metadata.annotations")
    )
    job_spec = as_dict(template.get("spec"))
    causes.extend(_job_spec_fields(job_spec, "spec.jobTemplate.spec"))
    if job_spec.get("selector") is not None:
        causes.append(
            field.invalid(
                "spec.jobTemplate.spec.selector",
                go_label_selector(job_spec.get("selector")),
                "`selector` will be auto-generated",
            )
        )
    if job_spec.get("manualSelector") is True:
        causes.append(
            field.not_supported("spec.jobTemplate.spec.manualSelector", True, ["nil", "false"])
        )
    for limit in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        causes.extend(field.nonnegative(f"spec.{limit}", spec.get(limit)))
    return causes
