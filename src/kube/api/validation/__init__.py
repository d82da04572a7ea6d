"""Validation of the built-in kinds: the causes of a 422, as kube-apiserver reports them.

One entry point:

    validate(group, version, kind, obj, old) -> list[Cause]

`old` is None on create and the stored object on update. The object is expected to have
been defaulted (`kube.api.defaults.default`), as upstream validates after defaulting.

Every kind gets upstream's object-metadata checks (`meta.validate_object_meta`, or
`validate_object_meta_update` on update: names by the kind's rule, labels, annotations,
finalizers, owner references). Kinds with an entry in `VALIDATORS` then get their own
checks, one module per API group (`core`, `apps`, `batch`; pod specs live in `pods`, cron
schedules in `cron`, Events of both groups in `events`). Each check returns causes built by
`field`, with upstream's paths and messages, in upstream's order; nothing here raises on
malformed input.

Adding a kind is one entry in `VALIDATORS`: `(group, version, kind) -> fn(obj, old)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kube.api.errors import Cause
from kube.api.validation import apps, batch, core, events
from kube.api.validation.field import as_dict
from kube.api.validation.meta import validate_object_meta, validate_object_meta_update

Object = dict[str, Any]
Validator = Callable[[Object, Object | None], list[Cause]]

VALIDATORS: dict[tuple[str, str, str], Validator] = {
    ("", "v1", "Pod"): core.validate_pod,
    ("", "v1", "PodTemplate"): core.validate_pod_template,
    ("", "v1", "ReplicationController"): core.validate_replication_controller,
    ("", "v1", "Service"): core.validate_service,
    ("", "v1", "ConfigMap"): core.validate_config_map,
    ("", "v1", "Secret"): core.validate_secret,
    ("", "v1", "Namespace"): core.validate_namespace,
    ("", "v1", "PersistentVolumeClaim"): core.validate_persistent_volume_claim,
    ("", "v1", "Event"): events.validate_event,
    ("events.k8s.io", "v1", "Event"): events.validate_events_v1_event,
    ("apps", "v1", "Deployment"): apps.validate_deployment,
    ("apps", "v1", "ReplicaSet"): apps.validate_replica_set,
    ("apps", "v1", "DaemonSet"): apps.validate_daemon_set,
    ("apps", "v1", "StatefulSet"): apps.validate_stateful_set,
    ("apps", "v1", "ControllerRevision"): apps.validate_controller_revision,
    ("batch", "v1", "Job"): batch.validate_job,
    ("batch", "v1", "CronJob"): batch.validate_cron_job,
}


def validate(
    group: str, version: str, kind: str, obj: Object, old: Object | None = None
) -> list[Cause]:
    """The problems of `obj` (empty when valid); `old` is the stored object on update."""
    if old is None:
        causes = validate_object_meta(kind, obj.get("metadata"))
    else:
        causes = validate_object_meta_update(obj.get("metadata"), as_dict(old).get("metadata"))
    validator = VALIDATORS.get((group, version, kind))
    if validator is not None:
        causes.extend(validator(obj, old))
    return causes


__all__ = ["VALIDATORS", "Validator", "validate"]
