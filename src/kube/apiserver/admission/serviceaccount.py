"""The ServiceAccount admission plugin (upstream's plugin/pkg/admission/serviceaccount).

On pod create, before validation:

- `spec.serviceAccountName` defaults to `default` (the deprecated `spec.serviceAccount`
  follows it, as upstream's v1 conversion writes both);
- the service account must exist: a pod naming a missing one is refused with 403 Forbidden,
  `error looking up service account <ns>/<name>: serviceaccount "<name>" not found`. The
  `default` account is looked up a few more times (10 reads, 100-200 ms apart), since the
  serviceaccount controller creates it just after the namespace appears; any other name is
  read once. Upstream no longer waits for a token Secret: only the account must exist;
- unless `automountServiceAccountToken` is false (the pod's setting wins over the
  account's), the projected volume `kube-api-access-<5 random>` (a bound token, the
  `kube-root-ca.crt` ConfigMap's `ca.crt`, the namespace from the downward API) is added and
  mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every init container
  and container that does not already mount something there. Ephemeral containers are left
  alone as upstream does: they cannot be set on create;
- the account's `imagePullSecrets` are copied when the pod has none.

Mirror pods (annotation `kubernetes.io/config.mirror`) are not changed (the kubelet would
see a spec that is not its static pod's) but may not reference a service account, secrets
or token projections.

The lookup (async, possibly retried) happens in `admit`; the change itself is returned as a
function the store applies after recording managedFields, as upstream runs mutating
admission after the field manager: the added volume is nobody's applied field.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from kube.api import errors
from kube.api.meta import Object, generate_name

DEFAULT_SERVICE_ACCOUNT = "default"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
VOLUME_PREFIX = "kube-api-access-"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# serviceaccount.WarnOnlyBoundTokenExpirationSeconds: 1 h and 7 s, the marker that lets the
# API server extend such tokens while warning about their use after the hour.
TOKEN_EXPIRATION_SECONDS = 3607
PROJECTED_DEFAULT_MODE = 0o644
DEFAULT_ACCOUNT_ATTEMPTS = 10

# The account named, or None when it does not exist; raises APIError on other failures.
AccountLookup = Callable[[str, str], Awaitable[Object | None]]
Mutation = Callable[[Object], Object]


def token_volume_source() -> dict[str, Any]:
    """upstream's TokenVolumeSource: what every auto-mounted API access volume projects."""
    return {
        "defaultMode": PROJECTED_DEFAULT_MODE,
        "sources": [
            {
                "serviceAccountToken": {
                    "expirationSeconds": TOKEN_EXPIRATION_SECONDS,
                    "path": "token",
                }
            },
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _pod_name(pod: Object) -> str:
    """The name admission.NewForbidden reports: generateName before a name is drawn."""
    meta = _dict(pod.get("metadata"))
    return str(meta.get("name") or meta.get("generateName") or "Unknown")


def _forbidden(pod: Object, why: str) -> errors.APIError:
    return errors.forbidden("", "pods", _pod_name(pod), why)


def account_name(pod: Object) -> str:
    """The pod's service account: `serviceAccountName`, else the deprecated `serviceAccount`."""
    spec = _dict(pod.get("spec"))
    name = spec.get("serviceAccountName") or spec.get("serviceAccount")
    return name if isinstance(name, str) and name else DEFAULT_SERVICE_ACCOUNT


def is_mirror_pod(pod: Object) -> bool:
    annotations = _dict(_dict(pod.get("metadata")).get("annotations"))
    return MIRROR_POD_ANNOTATION in annotations


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        yield from _dicts(spec.get(kind))


def _references_secrets(spec: dict[str, Any]) -> bool:
    """upstream's VisitPodSecretNames finds any: pull secrets, volumes, env of any container."""
    if _dicts(spec.get("imagePullSecrets")):
        return True
    for volume in _dicts(spec.get("volumes")):
        for source in volume.values():
            if isinstance(source, dict) and (
                "secretRef" in source or "nodePublishSecretRef" in source
            ):
                return True
        if "secret" in volume:
            return True
        projected = _dict(volume.get("projected"))
        if any("secret" in s for s in _dicts(projected.get("sources"))):
            return True
    for container in _containers(spec):
        if any("secretRef" in e for e in _dicts(container.get("envFrom"))):
            return True
        for env in _dicts(container.get("env")):
            if "secretKeyRef" in _dict(env.get("valueFrom")):
                return True
    return False


def _check_mirror_pod(pod: Object) -> None:
    """upstream's Validate for mirror pods: what a kubelet's static pod may not reference."""
    spec = _dict(pod.get("spec"))
    if spec.get("serviceAccountName") or spec.get("serviceAccount"):
        raise _forbidden(pod, "a mirror pod may not reference service accounts")
    if _references_secrets(spec):
        raise _forbidden(pod, "a mirror pod may not reference secrets")
    for volume in _dicts(spec.get("volumes")):
        sources = _dicts(_dict(volume.get("projected")).get("sources"))
        if any("serviceAccountToken" in s for s in sources):
            raise _forbidden(pod, "a mirror pod may not use ServiceAccountToken volume projections")


async def find_account(
    lookup: AccountLookup, namespace: str, name: str, *, interval: float | None = None
) -> Object | None:
    """upstream's getServiceAccount: `default` is read up to 10 times, others once."""
    attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
    pause = interval if interval is not None else random.uniform(0.1, 0.2)
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(pause)
        account = await lookup(namespace, name)
        if account is not None:
            return account
    return None


def should_automount(account: Object, spec: dict[str, Any]) -> bool:
    """The pod's `automountServiceAccountToken` wins, then the account's; true by default."""
    for setting in (
        spec.get("automountServiceAccountToken"),
        account.get("automountServiceAccountToken"),
    ):
        if isinstance(setting, bool):
            return setting
    return True


def mount_token(spec: dict[str, Any], volume_name: str | None = None) -> None:
    """upstream's mountServiceAccountToken: the API access volume and its mounts.

    An existing `kube-api-access-*` volume is reused (its name taken for the mounts); a
    container already mounting something at the token path keeps it.
    """
    volumes = _dicts(spec.get("volumes"))
    existing = next(
        (str(v["name"]) for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)),
        None,
    )
    name = existing or volume_name or generate_name(VOLUME_PREFIX)
    needed = False
    for kind in ("initContainers", "containers"):
        for container in _dicts(spec.get(kind)):
            mounts = container.get("volumeMounts")
            if mounts is not None and not isinstance(mounts, list):
                continue  # validation reports it
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in _dicts(mounts)):
                continue
            container["volumeMounts"] = [
                *(mounts or []),
                {"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH},
            ]
            needed = True
    if needed and existing is None:
        current = spec.get("volumes")
        spec["volumes"] = [
            *(current if isinstance(current, list) else []),
            {"name": name, "projected": token_volume_source()},
        ]


def mutate(pod: Object, account: Object) -> Object:
    """The plugin's changes to `pod` once its service account `account` was found."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return pod  # validation reports it
    name = account_name(pod)
    spec["serviceAccountName"] = name
    spec["serviceAccount"] = name
    if should_automount(account, spec):
        mount_token(spec)
    if not spec.get("imagePullSecrets"):
        pulls = [
            {"name": s["name"]} for s in _dicts(account.get("imagePullSecrets")) if "name" in s
        ]
        if pulls:
            spec["imagePullSecrets"] = pulls
    return pod


async def admit(lookup: AccountLookup, namespace: str, pod: Object) -> Mutation:
    """Check a pod being created; the change to make to it (after managedFields are recorded).

    Raises the 403 a missing service account or a mirror pod's forbidden reference gets.
    """
    if is_mirror_pod(pod):
        _check_mirror_pod(pod)
        return lambda obj: obj
    name = account_name(pod)
    account = await find_account(lookup, namespace, name)
    if account is None:
        raise _forbidden(
            pod,
            f"error looking up service account {namespace}/{name}: serviceaccount "
            f"{errors.go_quote(name)} not found",
        )
    return lambda obj: mutate(obj, account)
