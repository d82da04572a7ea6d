"""A container's environment, as upstream's kubelet builds it (kubelet_pods.go).

`envFrom` first (each ConfigMap or Secret's keys, with the optional prefix), then `env` in
order: plain values with `$(VAR)` expanded against what is defined so far, and `valueFrom`
(configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef). A later entry overrides an
earlier one of the same name, keeping its first position, as Go's map-then-list does.

A ConfigMap or Secret that is missing (or a missing key) fails the container's creation with
upstream's message, which the kubelet reports as `CreateContainerConfigError`, unless the
reference is `optional: true`. Lookups go through `ObjectSource`, so tests use a dict and the
kubelet uses the API.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from kube.api.errors import APIError
from kube.api.quantity import QuantityError, parse
from kube.api.resources import resource
from kube.client.rest import RESTClient

# (kind, namespace, name) -> the object, or None when it does not exist.
ObjectSource = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]


class EnvError(Exception):
    """The environment cannot be built; the message is upstream's."""


def api_source(client: RESTClient) -> ObjectSource:
    """ConfigMaps and Secrets from the API server (None when NotFound)."""

    async def get(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        plural = resource("configmaps" if kind == "configmap" else "secrets")
        try:
            return await client.get(plural, name, namespace)
        except APIError as err:
            if err.code == 404:
                return None
            raise EnvError(str(err)) from err

    return get


def expand(text: str, env: dict[str, str]) -> str:
    """Upstream's $(VAR) expansion: $(VAR) from env, $$ escapes, unknown references stay.

    As third_party/forked/golang/expansion: `$$` is one `$`; `$(NAME)` with a closing
    parenthesis is NAME's value or, when NAME is not defined, stays as written; any other `$`
    (including an unclosed `$(`) is copied as it is.
    """
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i + 2)) > 0:
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def field_value(pod: dict[str, Any], path: str, pod_ip: str, host_ip: str) -> str:
    """A downward-API fieldRef value (the fields env vars may name)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    status = pod.get("status") or {}
    pod_ips = [str(i.get("ip")) for i in status.get("podIPs") or [] if isinstance(i, dict)]
    host_ips = [str(i.get("ip")) for i in status.get("hostIPs") or [] if isinstance(i, dict)]
    values = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": pod_ip,
        "status.podIPs": ",".join(pod_ips if pod_ips and pod_ip in pod_ips else [pod_ip])
        if pod_ip
        else "",
        "status.hostIP": host_ip,
        "status.hostIPs": ",".join(host_ips if host_ips and host_ip in host_ips else [host_ip])
        if host_ip
        else "",
    }
    if path.startswith("metadata.labels['") or path.startswith("metadata.annotations['"):
        kind, _, rest = path.partition("['")
        return str((meta.get(kind.split(".")[1]) or {}).get(rest.rstrip("']"), ""))
    if path == "metadata.labels" or path == "metadata.annotations":
        items = meta.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    return str(values.get(path, ""))


def _node_allocatable(resource: str) -> Decimal:
    """What an unset limit means: the node's allocatable cpu (cores) or memory (bytes)."""
    if resource == "cpu":
        return Decimal(os.cpu_count() or 1)
    if resource == "memory":
        return Decimal(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return Decimal(0)


def resource_value(container: dict[str, Any], ref: dict[str, Any]) -> str:
    """A resourceFieldRef value (upstream's resource.ExtractContainerResourceValue).

    The quantity divided by the divisor (default 1) and rounded up; an unset limit is the
    node's allocatable, an unset request is 0 (cpu) or the limit (memory).
    """
    path = str(ref.get("resource", ""))
    kind, _, name = path.partition(".")
    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    try:
        divisor = parse(str(ref.get("divisor") or "1")).value
        if kind == "limits":
            raw = limits.get(name)
            value = parse(str(raw)).value if raw is not None else _node_allocatable(name)
        elif kind == "requests":
            raw = requests.get(name, limits.get(name))
            value = parse(str(raw)).value if raw is not None else Decimal(0)
        else:
            raise EnvError(f"unsupported container resource : {path}")
    except QuantityError as err:
        raise EnvError(str(err)) from err
    if divisor == 0:
        raise EnvError(f"invalid divisor for {path}")
    return str(math.ceil(value / divisor))


def _decoded(obj: dict[str, Any], kind: str) -> dict[str, str]:
    """A ConfigMap's data (and binaryData) or a Secret's decoded data, as strings."""
    out: dict[str, str] = {}
    if kind == "configmap":
        out.update({k: str(v) for k, v in (obj.get("data") or {}).items()})
        for key, value in (obj.get("binaryData") or {}).items():
            out[key] = base64.b64decode(str(value)).decode(errors="replace")
    else:
        for key, value in (obj.get("data") or {}).items():
            out[key] = base64.b64decode(str(value)).decode(errors="replace")
        out.update({k: str(v) for k, v in (obj.get("stringData") or {}).items()})
    return out


async def build_env(
    pod: dict[str, Any],
    container: dict[str, Any],
    source: ObjectSource,
    *,
    pod_ip: str,
    host_ip: str,
) -> dict[str, str]:
    """The container's environment (insertion order kept), or EnvError with upstream's text."""
    namespace = (pod.get("metadata") or {}).get("namespace") or "default"
    cache: dict[tuple[str, str], dict[str, str] | None] = {}

    async def lookup(kind: str, name: str, optional: bool) -> dict[str, str] | None:
        if (kind, name) not in cache:
            obj = await source(kind, namespace, name)
            cache[(kind, name)] = None if obj is None else _decoded(obj, kind)
        found = cache[(kind, name)]
        if found is None and not optional:
            raise EnvError(f'{kind} "{name}" not found')
        return found

    env: dict[str, str] = {}
    for item in container.get("envFrom") or []:
        prefix = str(item.get("prefix") or "")
        for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
            ref = item.get(key)
            if not isinstance(ref, dict):
                continue
            data = await lookup(kind, str(ref.get("name", "")), bool(ref.get("optional")))
            for name, value in (data or {}).items():
                env[prefix + name] = value
    for item in container.get("env") or []:
        name = str(item.get("name", ""))
        source_ref = item.get("valueFrom")
        if not isinstance(source_ref, dict):
            env[name] = expand(str(item.get("value") or ""), env)
            continue
        if ref := source_ref.get("configMapKeyRef"):
            found = await _key(lookup, "configmap", "ConfigMap", namespace, ref)
            if found is None:
                continue
            value = found
        elif ref := source_ref.get("secretKeyRef"):
            found = await _key(lookup, "secret", "Secret", namespace, ref)
            if found is None:
                continue
            value = found
        elif ref := source_ref.get("fieldRef"):
            value = field_value(pod, str(ref.get("fieldPath", "")), pod_ip, host_ip)
        elif ref := source_ref.get("resourceFieldRef"):
            target = container
            wanted = ref.get("containerName")
            if wanted and wanted != container.get("name"):
                spec = pod.get("spec") or {}
                for other in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
                    if other.get("name") == wanted:
                        target = other
            value = resource_value(target, ref)
        else:
            value = ""
        env[name] = value
    return env


async def _key(
    lookup: Callable[[str, str, bool], Awaitable[dict[str, str] | None]],
    kind: str,
    title: str,
    namespace: str,
    ref: dict[str, Any],
) -> str | None:
    """One key of a ConfigMap or Secret; None when it may be skipped (optional)."""
    name, key = str(ref.get("name", "")), str(ref.get("key", ""))
    optional = bool(ref.get("optional"))
    data = await lookup(kind, name, optional)
    if data is None:
        return None
    if key not in data:
        if optional:
            return None
        raise EnvError(f"couldn't find key {key} in {title} {namespace}/{name}")
    return data[key]
