"""Matching a failed pod against a Job's `spec.podFailurePolicy` (pod_failure_policy.go).

Rules are tried in order; the first that matches decides:

- `FailJob`: the whole Job fails (reason PodFailurePolicy) with upstream's message naming the
  container and exit code, or the pod condition, and the rule's index;
- `Ignore`: the failure does not count towards `backoffLimit`;
- `Count`: it counts (as with no rule);
- `FailIndex`: the pod's index fails at once (Indexed Jobs with `backoffLimitPerIndex`).

`onExitCodes` looks at terminated containers with a non-zero exit code (regular containers
first, then init containers), optionally of one `containerName`, with `In` / `NotIn`;
`onPodConditions` at the pod's conditions by type and status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kube.api.meta import Object

FAIL_JOB, IGNORE, COUNT, FAIL_INDEX = "FailJob", "Ignore", "Count", "FailIndex"


@dataclass(frozen=True)
class Match:
    """What the policy says about one failed pod."""

    message: str | None = None  # set for FailJob
    count_failed: bool = True
    action: str | None = None


def _exit_code_matches(code: int, requirement: dict[str, Any]) -> bool:
    values = [int(v) for v in requirement.get("values") or []]
    operator = requirement.get("operator")
    if operator == "In":
        return code in values
    if operator == "NotIn":
        return code not in values
    return False


def _matching_container(
    statuses: list[dict[str, Any]], requirement: dict[str, Any]
) -> tuple[str, int] | None:
    wanted = requirement.get("containerName")
    for status in statuses:
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            continue
        if wanted is not None and wanted != status.get("name"):
            continue
        code = int(terminated.get("exitCode") or 0)
        if code != 0 and _exit_code_matches(code, requirement):
            return str(status.get("name")), code
    return None


def _matching_condition(status: dict[str, Any], patterns: list[dict[str, Any]]) -> str | None:
    for cond in status.get("conditions") or []:
        for pattern in patterns:
            if cond.get("type") == pattern.get("type") and cond.get("status") == pattern.get(
                "status", "True"
            ):
                return str(cond.get("type"))
    return None


def match(policy: dict[str, Any] | None, pod: Object) -> Match:
    """matchPodFailurePolicy for a failed `pod`."""
    if not policy:
        return Match()
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    for index, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        found: str | None = None
        if rule.get("onExitCodes") is not None:
            requirement = rule["onExitCodes"]
            container = _matching_container(
                status.get("containerStatuses") or [], requirement
            ) or _matching_container(status.get("initContainerStatuses") or [], requirement)
            if container is None:
                continue
            name, code = container
            found = (
                f"Container {name} for pod {where} failed with exit code {code} matching "
                f"{action} rule at index {index}"
            )
        elif rule.get("onPodConditions") is not None:
            cond_type = _matching_condition(status, rule["onPodConditions"])
            if cond_type is None:
                continue
            found = f"Pod {where} has condition {cond_type} matching {action} rule at index {index}"
        else:
            continue
        if action == IGNORE:
            return Match(None, False, IGNORE)
        if action == COUNT:
            return Match(None, True, COUNT)
        if action == FAIL_JOB:
            return Match(found, True, FAIL_JOB)
        if action == FAIL_INDEX:
            return Match(None, True, FAIL_INDEX)
    return Match()
