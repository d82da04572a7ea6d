"""Defaulting of the built-in kinds: the fields kube-apiserver fills in when a client omits them.

Upstream defaults every object it decodes (`SetObjectDefaults_<Kind>`, generated from
pkg/apis/<group>/v1/defaults.go), so what a client reads back always carries them. Here the
API server calls, before validation:

    default(group, version, kind, obj)              # in place; what decoding adds
    prepare_create(group, version, kind, obj)       # default + what create adds
    prepare_update(group, version, kind, obj, old)  # default + what update carries over

`prepare_create` adds the strategy-level steps that depend on the new object's identity: a
Job's generated selector and labels (it needs `metadata.uid`, so the store must have set
it). `prepare_update` carries a Service's allocated cluster IPs and node ports over from the
stored object when the client left them out, as upstream's Service storage does.

Defaulting is idempotent and never raises: parts of the wrong type are left alone for
validation to report. One module per API group (`core`, `apps`, `batch`, `discovery`);
adding a kind is one entry in `DEFAULTERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kube.api.defaults import apps, batch, core, discovery

Object = dict[str, Any]
Defaulter = Callable[[Object], None]

DEFAULTERS: dict[tuple[str, str, str], Defaulter] = {
    ("", "v1", "Pod"): core.pod,
    ("", "v1", "PodTemplate"): core.pod_template_object,
    ("", "v1", "ReplicationController"): core.replication_controller,
    ("", "v1", "Service"): core.service,
    ("", "v1", "Secret"): core.secret,
    ("", "v1", "Namespace"): core.namespace,
    ("", "v1", "PersistentVolumeClaim"): core.persistent_volume_claim,
    ("", "v1", "PersistentVolume"): core.persistent_volume,
    ("", "v1", "Endpoints"): core.endpoints,
    ("", "v1", "LimitRange"): core.limit_range,
    ("", "v1", "Node"): core.node,
    ("", "v1", "ResourceQuota"): core.resource_quota,
    ("apps", "v1", "Deployment"): apps.deployment,
    ("apps", "v1", "ReplicaSet"): apps.replica_set,
    ("apps", "v1", "StatefulSet"): apps.stateful_set,
    ("apps", "v1", "DaemonSet"): apps.daemon_set,
    ("batch", "v1", "Job"): batch.job,
    ("batch", "v1", "CronJob"): batch.cron_job,
    ("discovery.k8s.io", "v1", "EndpointSlice"): discovery.endpoint_slice,
}


def default(group: str, version: str, kind: str, obj: Object) -> None:
    """Fill the kind's defaults into `obj` (in place); kinds without defaults are untouched."""
    defaulter = DEFAULTERS.get((group, version, kind))
    if defaulter is not None and isinstance(obj, dict):
        defaulter(obj)


def prepare_create(group: str, version: str, kind: str, obj: Object) -> None:
    """`default`, then what upstream's create strategy adds from the new object's identity."""
    default(group, version, kind, obj)
    if (group, version, kind) == ("batch", "v1", "Job"):
        meta = obj.get("metadata")
        # Upstream's Job labels are the template's very map: they see the generated labels.
        shared = isinstance(meta, dict) and meta.get("labels") == _template_labels(obj)
        batch.generate_selector(obj)
        labels = _template_labels(obj)
        if isinstance(meta, dict) and labels and (shared or not meta.get("labels")):
            meta["labels"] = dict(labels)


def prepare_update(group: str, version: str, kind: str, obj: Object, old: Object) -> None:
    """`default`, then what upstream's update path carries over from the stored object."""
    default(group, version, kind, obj)
    if (group, version, kind) == ("", "v1", "Service") and isinstance(old, dict):
        core.prepare_service_update(obj, old)


def _template_labels(obj: Object) -> Any:
    spec = obj.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    meta = template.get("metadata") if isinstance(template, dict) else None
    return meta.get("labels") if isinstance(meta, dict) else None


__all__ = ["DEFAULTERS", "Defaulter", "default", "prepare_create", "prepare_update"]
