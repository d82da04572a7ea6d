"""Pod specs and pod templates, validated as pkg/apis/core/validation does.

`validate_pod_spec` is upstream's `ValidatePodSpec`, in its order (volumes, containers, init
containers, restart and DNS policies, node selector, security context, names of the node,
service account, host and subdomain, deadlines, tolerations); the controllers' templates go
through `validate_pod_template_spec` (template labels are reported at `<template>.labels`,
as upstream does). Pods themselves are validated in `kube.api.validation.core`.

Covered per container: name (DNS label, unique across containers and init containers),
image, termination message policy, ports (range, names, protocol, unique host ports), env
(names, one `valueFrom` source), volume mounts (refer to a volume, unique mount paths,
relative sub paths), pull policy, resources (names, quantities, requests <= limits, equal
for extended resources and huge pages), probes (one handler, non-negative timings,
`successThreshold` 1 for liveness and startup) and lifecycle hooks.

Not covered (accepted as sent): affinity, topology spread, DNS config, host aliases,
ephemeral containers, resize policy, seccomp/AppArmor, Windows options, resource claims.
"""

from __future__ import annotations

import posixpath
from typing import Any

from kube.api import quantity
from kube.api.errors import Cause
from kube.api.selectors import (
    dns1123_subdomain_errors,
    label_value_errors,
    qualified_name_errors,
    regex_error,
)
from kube.api.validation import field
from kube.api.validation.field import GoRepr, as_dict, as_int, as_list, as_str, dicts
from kube.api.validation.meta import (
    dns1123_label_errors,
    validate_annotations,
    validate_labels,
)

MAX_INT32 = 2**31 - 1
FILE_MODE_MESSAGE = "must be a number between 0 and 0777 (octal), both inclusive"
PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]

# -- small shared checks -------------------------------------------------------------------


def port_number_errors(port: int) -> list[str]:
    """`validation.IsValidPortNum`."""
    return [] if 1 <= port <= 65535 else [field.inclusive_range(1, 65535)]


def port_name_errors(name: str) -> list[str]:
    """`validation.IsValidPortName` (an IANA service name)."""
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not name or any(c not in "-abcdefghijklmnopqrstuvwxyz0123456789" for c in name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not any("a" <= c <= "z" for c in name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name and (name[0] == "-" or name[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def validate_port_num_or_name(port: object, path: str) -> list[Cause]:
    """`ValidatePortNumOrName` for an int-or-string port."""
    number = as_int(port)
    if number is not None:
        return [field.invalid(path, number, m) for m in port_number_errors(number)]
    if isinstance(port, str):
        return [field.invalid(path, port, m) for m in port_name_errors(port)]
    return [field.invalid(path, port, "must be an integer or a port name")]


def dns_label(value: str, path: str) -> list[Cause]:
    return [field.invalid(path, value, m) for m in dns1123_label_errors(value)]


def dns_subdomain(value: str, path: str) -> list[Cause]:
    return [field.invalid(path, value, m) for m in dns1123_subdomain_errors(value)]


def user_id_errors(value: int) -> list[str]:
    return [] if 0 <= value <= MAX_INT32 else [field.inclusive_range(0, MAX_INT32)]


def local_descending_path(target: str, path: str) -> list[Cause]:
    """`validateLocalDescendingPath`: relative, no `..` element."""
    causes = []
    if posixpath.isabs(target):
        causes.append(field.invalid(path, target, "must be a relative path"))
    if ".." in target.split("/"):
        causes.append(field.invalid(path, target, "must not contain '..'"))
    return causes


def local_non_reserved_path(target: str, path: str) -> list[Cause]:
    causes = local_descending_path(target, path)
    if target.startswith(".."):
        causes.append(field.invalid(path, target, "must not start with '..'"))
    return causes


def config_map_key_errors(value: str) -> list[str]:
    """`validation.IsConfigMapKey`."""
    errs = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not value or any(not (c.isascii() and (c.isalnum() or c in "-._")) for c in value):
        errs.append(
            regex_error(
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
                "[-._a-zA-Z0-9]+",
                "key.name",
                "KEY_NAME",
                "key-name",
            )
        )
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


# -- resources -----------------------------------------------------------------------------

STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
STANDARD_RESOURCES = {
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
}
INTEGER_RESOURCES = {
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
}


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not qualified_name_errors("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepages(name)


def _standard_resource(name: str) -> bool:
    if name in STANDARD_RESOURCES:
        return True
    return any(name.startswith(p) for p in ("hugepages-", "requests.hugepages-"))


def container_resource_name(name: str, path: str) -> list[Cause]:
    """`validateContainerResourceName`."""
    causes = [field.invalid(path, name, m) for m in qualified_name_errors(name)]
    if causes:
        return causes
    if "/" not in name:
        if not _standard_resource(name):
            causes.append(
                field.invalid(path, name, "must be a standard resource type or fully qualified")
            )
        if name not in STANDARD_CONTAINER_RESOURCES and not is_hugepages(name):
            causes.append(field.invalid(path, name, "must be a standard resource for containers"))
    elif not is_native_resource(name) and not is_extended_resource(name):
        causes.append(field.invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def parse_quantity(value: object, path: str, causes: list[Cause]) -> quantity.Quantity | None:
    """A quantity, or None with the parse error appended to `causes`."""
    try:
        return quantity.parse_value(value)
    except quantity.QuantityError as err:
        causes.append(
            field.invalid(path, value if isinstance(value, str) else str(value), str(err))
        )
        return None


def quantity_value(name: str, q: quantity.Quantity, path: str) -> list[Cause]:
    """`ValidateResourceQuantityValue`: not negative; whole for integer resources."""
    causes = []
    if q.sign() < 0:
        causes.append(field.invalid(path, str(q), field.IS_NEGATIVE))
    integer = name in INTEGER_RESOURCES or is_extended_resource(name)
    if integer and q.milli_value() % 1000 != 0:
        causes.append(field.invalid(path, GoRepr(str(q)), "must be an integer"))
    return causes


def validate_resources(resources: object, path: str) -> list[Cause]:
    """`ValidateContainerResourceRequirements`: limits, then requests against them."""
    resources = as_dict(resources)
    causes: list[Cause] = []
    limits_path, requests_path = field.child(path, "limits"), field.child(path, "requests")
    limits: dict[str, quantity.Quantity] = {}
    for name, raw in as_dict(resources.get("limits")).items():
        item_path = field.key(limits_path, name)
        causes.extend(container_resource_name(name, item_path))
        q = parse_quantity(raw, item_path, causes)
        if q is not None:
            limits[name] = q
            causes.extend(quantity_value(name, q, item_path))
    for name, raw in as_dict(resources.get("requests")).items():
        item_path = field.key(requests_path, name)
        causes.extend(container_resource_name(name, item_path))
        q = parse_quantity(raw, item_path, causes)
        if q is None:
            continue
        causes.extend(quantity_value(name, q, item_path))
        limit = limits.get(name)
        if limit is not None:
            if q.cmp(limit) != 0 and not overcommit_allowed(name):
                causes.append(
                    field.invalid(
                        requests_path, str(q), f"must be equal to {name} limit of {limit}"
                    )
                )
            elif q.cmp(limit) > 0:
                causes.append(
                    field.invalid(
                        requests_path,
                        str(q),
                        f"must be less than or equal to {name} limit of {limit}",
                    )
                )
        elif name not in as_dict(resources.get("limits")) and not overcommit_allowed(name):
            causes.append(
                field.required(limits_path, "Limit must be set for non overcommitable resources")
            )
    return causes


# -- volumes -------------------------------------------------------------------------------

VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)
HOST_PATH_TYPES = [
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
]


def _file_mode(mode: object, path: str) -> list[Cause]:
    value = as_int(mode)
    if value is not None and not 0 <= value <= 0o777:
        return [field.invalid(path, value, FILE_MODE_MESSAGE)]
    return []


def _key_to_paths(items: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, item in dicts(items):
        item_path = field.index(path, i)
        if not as_str(item.get("key")):
            causes.append(field.required(field.child(item_path, "key")))
        target = as_str(item.get("path"))
        if not target:
            causes.append(field.required(field.child(item_path, "path")))
        causes.extend(local_non_reserved_path(target, field.child(item_path, "path")))
        causes.extend(_file_mode(item.get("mode"), field.child(item_path, "mode")))
    return causes


def _volume_source(name: str, source: dict[str, Any], path: str) -> list[Cause]:
    """The checks of one volume source (the common ones of upstream's per-source checks)."""
    causes: list[Cause] = []
    if name == "emptyDir":
        limit = source.get("sizeLimit")
        if limit is not None:
            q = parse_quantity(limit, field.child(path, "sizeLimit"), causes)
            if q is not None and q.sign() < 0:
                causes.append(
                    field.forbidden(
                        field.child(path, "sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    )
                )
    elif name == "hostPath":
        host = as_str(source.get("path"))
        if not host:
            causes.append(field.required(field.child(path, "path")))
        elif ".." in host.split("/"):
            causes.append(field.invalid(field.child(path, "path"), host, "must not contain '..'"))
        kind = source.get("type")
        if kind is not None and kind not in HOST_PATH_TYPES:
            causes.append(field.not_supported(field.child(path, "type"), kind, HOST_PATH_TYPES))
    elif name == "secret":
        if not as_str(source.get("secretName")):
            causes.append(field.required(field.child(path, "secretName")))
        causes.extend(_file_mode(source.get("defaultMode"), field.child(path, "defaultMode")))
        causes.extend(_key_to_paths(source.get("items"), field.child(path, "items")))
    elif name == "configMap":
        if not as_str(source.get("name")):
            causes.append(field.required(field.child(path, "name")))
        causes.extend(_file_mode(source.get("defaultMode"), field.child(path, "defaultMode")))
        causes.extend(_key_to_paths(source.get("items"), field.child(path, "items")))
    elif name == "persistentVolumeClaim":
        if not as_str(source.get("claimName")):
            causes.append(field.required(field.child(path, "claimName")))
    elif name == "nfs":
        if not as_str(source.get("server")):
            causes.append(field.required(field.child(path, "server")))
        nfs_path = as_str(source.get("path"))
        if not nfs_path:
            causes.append(field.required(field.child(path, "path")))
        elif not nfs_path.startswith("/"):
            causes.append(
                field.invalid(field.child(path, "path"), nfs_path, "must be an absolute path")
            )
    elif name == "downwardAPI":
        causes.extend(_file_mode(source.get("defaultMode"), field.child(path, "defaultMode")))
        for i, item in dicts(source.get("items")):
            item_path = field.index(field.child(path, "items"), i)
            target = as_str(item.get("path"))
            if not target:
                causes.append(field.required(field.child(item_path, "path")))
            causes.extend(local_non_reserved_path(target, field.child(item_path, "path")))
            causes.extend(_file_mode(item.get("mode"), field.child(item_path, "mode")))
    elif name == "projected":
        causes.extend(_file_mode(source.get("defaultMode"), field.child(path, "defaultMode")))
    return causes


def validate_volumes(volumes: object, path: str) -> tuple[set[str], list[Cause]]:
    """`ValidateVolumes`: names (DNS labels, unique) and exactly one source each.

    Returns the names of the valid volumes (what volume mounts may refer to) and the causes.
    """
    names: set[str] = set()
    causes: list[Cause] = []
    for i, volume in dicts(volumes):
        vol_path = field.index(path, i)
        errs: list[Cause] = []
        count = 0
        for source_name in VOLUME_SOURCES:
            source = volume.get(source_name)
            if source is None:
                continue
            if count:
                errs.append(
                    field.forbidden(
                        field.child(vol_path, source_name),
                        "may not specify more than 1 volume type",
                    )
                )
                continue
            count += 1
            errs.extend(
                _volume_source(source_name, as_dict(source), field.child(vol_path, source_name))
            )
        if not count:
            errs.append(field.required(vol_path, "must specify a volume type"))
        name = as_str(volume.get("name"))
        name_path = field.child(vol_path, "name")
        if not name:
            errs.append(field.required(name_path))
        else:
            errs.extend(dns_label(name, name_path))
        if name in names:
            errs.append(field.duplicate(name_path, name))
        if errs:
            causes.extend(errs)
        else:
            names.add(name)
    return names, causes


# -- containers ----------------------------------------------------------------------------

ENV_FIELD_PATHS = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
]
ENV_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")


def _field_ref(ref: dict[str, Any], path: str) -> list[Cause]:
    """`validateObjectFieldSelector` for an env var's `fieldRef`."""
    if not as_str(ref.get("apiVersion")):
        return [field.required(field.child(path, "apiVersion"))]
    field_path = as_str(ref.get("fieldPath"))
    if not field_path:
        return [field.required(field.child(path, "fieldPath"))]
    if field_path.endswith("']") and "['" in field_path:
        base, _, rest = field_path.partition("['")
        subscript = rest[:-2]
        if base == "metadata.annotations":
            return [
                field.invalid(path, subscript.lower(), m)
                for m in qualified_name_errors(subscript.lower())
            ]
        if base == "metadata.labels":
            return [field.invalid(path, subscript, m) for m in qualified_name_errors(subscript)]
        return [field.invalid(path, base, "does not support subscript")]
    if field_path not in ENV_FIELD_PATHS:
        return [
            field.not_supported(field.child(path, "fieldPath"), field_path, sorted(ENV_FIELD_PATHS))
        ]
    return []


def _key_selector(ref: dict[str, Any], path: str) -> list[Cause]:
    """`validateConfigMapKeySelector` / `validateSecretKeySelector`."""
    name = as_str(ref.get("name"))
    causes = [
        field.invalid(field.child(path, "name"), name, m) for m in dns1123_subdomain_errors(name)
    ]
    key_ = as_str(ref.get("key"))
    if not key_:
        causes.append(field.required(field.child(path, "key")))
    else:
        causes.extend(
            field.invalid(field.child(path, "key"), key_, m) for m in config_map_key_errors(key_)
        )
    return causes


def validate_env(env: object, path: str) -> list[Cause]:
    """`ValidateEnv` with relaxed names (printable ASCII but `=`, upstream's default now)."""
    causes: list[Cause] = []
    for i, var in dicts(env):
        var_path = field.index(path, i)
        name = as_str(var.get("name"))
        name_path = field.child(var_path, "name")
        if not name:
            causes.append(field.required(name_path))
            causes.append(
                field.invalid(name_path, name, "environment variable name must be non-empty")
            )
        elif any(not (c.isascii() and c.isprintable()) or c == "=" for c in name):
            causes.append(
                field.invalid(
                    name_path,
                    name,
                    "a valid environment variable name must consist only of printable ASCII "
                    "characters other than '='",
                )
            )
        value_from = var.get("valueFrom")
        if value_from is None:
            continue
        value_from = as_dict(value_from)
        from_path = field.child(var_path, "valueFrom")
        sources = [s for s in ENV_SOURCES if value_from.get(s) is not None]
        if "fieldRef" in sources:
            causes.extend(
                _field_ref(as_dict(value_from["fieldRef"]), field.child(from_path, "fieldRef"))
            )
        for s in ("configMapKeyRef", "secretKeyRef"):
            if s in sources:
                causes.extend(_key_selector(as_dict(value_from[s]), field.child(from_path, s)))
        if not sources:
            causes.append(
                field.invalid(
                    from_path,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
                    "`secretKeyRef`",
                )
            )
        elif as_str(var.get("value")):
            causes.append(
                field.invalid(from_path, "", "may not be specified when `value` is not empty")
            )
        elif len(sources) > 1:
            causes.append(
                field.invalid(from_path, "", "may not have more than one field specified at a time")
            )
    return causes


def validate_container_ports(ports: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    names: set[str] = set()
    for i, port in dicts(ports):
        port_path = field.index(path, i)
        name = as_str(port.get("name"))
        if name:
            errs = port_name_errors(name)
            if errs:
                causes.extend(field.invalid(field.child(port_path, "name"), name, m) for m in errs)
            elif name in names:
                causes.append(field.duplicate(field.child(port_path, "name"), name))
            else:
                names.add(name)
        container_port = as_int(port.get("containerPort")) or 0
        if container_port == 0:
            causes.append(field.required(field.child(port_path, "containerPort")))
        else:
            causes.extend(
                field.invalid(field.child(port_path, "containerPort"), container_port, m)
                for m in port_number_errors(container_port)
            )
        host_port = as_int(port.get("hostPort")) or 0
        if host_port:
            causes.extend(
                field.invalid(field.child(port_path, "hostPort"), host_port, m)
                for m in port_number_errors(host_port)
            )
        protocol = as_str(port.get("protocol"))
        if not protocol:
            causes.append(field.required(field.child(port_path, "protocol")))
        elif protocol not in PORT_PROTOCOLS:
            causes.append(
                field.not_supported(field.child(port_path, "protocol"), protocol, PORT_PROTOCOLS)
            )
    return causes


def validate_volume_mounts(mounts: object, volumes: set[str], path: str) -> list[Cause]:
    causes: list[Cause] = []
    mount_points: set[str] = set()
    for i, mount in dicts(mounts):
        mount_path = field.index(path, i)
        name = as_str(mount.get("name"))
        if not name:
            causes.append(field.required(field.child(mount_path, "name")))
        if name not in volumes:
            causes.append(field.not_found(field.child(mount_path, "name"), name))
        target = as_str(mount.get("mountPath"))
        if not target:
            causes.append(field.required(field.child(mount_path, "mountPath")))
        if target in mount_points:
            causes.append(
                field.invalid(field.child(mount_path, "mountPath"), target, "must be unique")
            )
        mount_points.add(target)
        sub_path = as_str(mount.get("subPath"))
        if sub_path:
            causes.extend(local_descending_path(sub_path, field.child(path, "subPath")))
        sub_path_expr = as_str(mount.get("subPathExpr"))
        if sub_path_expr:
            if sub_path:
                causes.append(
                    field.invalid(
                        field.child(mount_path, "subPathExpr"),
                        sub_path_expr,
                        "subPathExpr and subPath are mutually exclusive",
                    )
                )
            causes.extend(local_descending_path(sub_path_expr, field.child(path, "subPathExpr")))
        propagation = mount.get("mountPropagation")
        modes = ["Bidirectional", "HostToContainer", "None"]
        if propagation is not None and propagation not in modes:
            causes.append(
                field.not_supported(field.child(path, "mountPropagation"), propagation, modes)
            )
    return causes


HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc", "sleep")
HTTP_SCHEMES = ["HTTP", "HTTPS"]


def validate_handler(handler: dict[str, Any], path: str, kinds: tuple[str, ...]) -> list[Cause]:
    """`validateHandler`: exactly one of the handler kinds, each checked."""
    causes: list[Cause] = []
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        kind_path = field.child(path, kind)
        if count:
            causes.append(field.forbidden(kind_path, "may not specify more than 1 handler type"))
            continue
        count += 1
        action = as_dict(action)
        if kind == "exec" and not as_list(action.get("command")):
            causes.append(field.required(field.child(kind_path, "command")))
        elif kind == "httpGet":
            if not as_str(action.get("path")):
                causes.append(field.required(field.child(kind_path, "path")))
            causes.extend(
                validate_port_num_or_name(action.get("port"), field.child(kind_path, "port"))
            )
            scheme = action.get("scheme")
            if scheme not in HTTP_SCHEMES:
                causes.append(
                    field.not_supported(field.child(kind_path, "scheme"), scheme, HTTP_SCHEMES)
                )
        elif kind == "tcpSocket":
            causes.extend(
                validate_port_num_or_name(action.get("port"), field.child(kind_path, "port"))
            )
        elif kind == "grpc":
            port = as_int(action.get("port")) or 0
            causes.extend(
                field.invalid(field.child(kind_path, "port"), port, m)
                for m in port_number_errors(port)
            )
        elif kind == "sleep":
            seconds = as_int(action.get("seconds")) or 0
            if seconds <= 0:
                causes.append(
                    field.invalid(
                        field.child(kind_path, "seconds"), seconds, "must be greater than 0"
                    )
                )
    if not count:
        causes.append(field.required(path, "must specify a handler type"))
    return causes


def validate_probe(probe: object, path: str, kind: str) -> list[Cause]:
    """`validateProbe` plus the liveness/startup/readiness specifics."""
    if probe is None:
        return []
    probe = as_dict(probe)
    causes = validate_handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        causes.extend(field.nonnegative(field.child(path, name), probe.get(name)))
    grace = as_int(probe.get("terminationGracePeriodSeconds"))
    if grace is not None and grace <= 0:
        causes.append(
            field.invalid(
                field.child(path, "terminationGracePeriodSeconds"), grace, "must be greater than 0"
            )
        )
    success = as_int(probe.get("successThreshold"))
    if kind in ("livenessProbe", "startupProbe") and success is not None and success != 1:
        causes.append(field.invalid(field.child(path, "successThreshold"), success, "must be 1"))
    if kind == "readinessProbe" and probe.get("terminationGracePeriodSeconds") is not None:
        causes.append(
            field.invalid(
                field.child(path, "terminationGracePeriodSeconds"),
                grace,
                "must not be set for readinessProbes",
            )
        )
    return causes


def validate_lifecycle(lifecycle: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for hook in ("postStart", "preStop"):
        handler = as_dict(lifecycle).get(hook)
        if handler is not None:
            causes.extend(
                validate_handler(
                    as_dict(handler),
                    field.child(path, hook),
                    ("exec", "httpGet", "tcpSocket", "sleep"),
                )
            )
    return causes


PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]


def _enum(value: object, path: str, valid: list[str]) -> list[Cause]:
    """A required enumerated string: Required when empty, Unsupported when unknown."""
    if value is None or value == "":
        return [field.required(path)]
    if value not in valid:
        return [field.not_supported(path, value, valid)]
    return []


def validate_security_context(context: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    context = as_dict(context)
    for name in ("runAsUser", "runAsGroup", "fsGroup"):
        value = as_int(context.get(name))
        if value is not None:
            causes.extend(
                field.invalid(field.child(path, name), value, m) for m in user_id_errors(value)
            )
    return causes


def validate_container_common(
    container: dict[str, Any], volumes: set[str], path: str
) -> list[Cause]:
    """`validateContainerCommon`: what every kind of container must satisfy."""
    causes: list[Cause] = []
    name = as_str(container.get("name"))
    if not name:
        causes.append(field.required(field.child(path, "name")))
    else:
        causes.extend(dns_label(name, field.child(path, "name")))
    if not as_str(container.get("image")):
        causes.append(field.required(field.child(path, "image")))
    causes.extend(
        _enum(
            container.get("terminationMessagePolicy"),
            field.child(path, "terminationMessagePolicy"),
            TERMINATION_MESSAGE_POLICIES,
        )
    )
    causes.extend(validate_container_ports(container.get("ports"), field.child(path, "ports")))
    causes.extend(validate_env(container.get("env"), field.child(path, "env")))
    causes.extend(
        validate_volume_mounts(
            container.get("volumeMounts"), volumes, field.child(path, "volumeMounts")
        )
    )
    causes.extend(
        _enum(container.get("imagePullPolicy"), field.child(path, "imagePullPolicy"), PULL_POLICIES)
    )
    causes.extend(validate_resources(container.get("resources"), field.child(path, "resources")))
    causes.extend(
        validate_security_context(
            container.get("securityContext"), field.child(path, "securityContext")
        )
    )
    return causes


def _unique_host_ports(
    containers: list[tuple[int, dict[str, Any]]], path: str, seen: set[str]
) -> list[Cause]:
    """`AccumulateUniqueHostPorts`: host IP, protocol and host port used once in the pod."""
    causes: list[Cause] = []
    for i, container in containers:
        for j, port in dicts(container.get("ports")):
            host_port = as_int(port.get("hostPort")) or 0
            if not host_port:
                continue
            text = f"{as_str(port.get('hostIP'))}/{as_str(port.get('protocol'))}/{host_port}"
            if text in seen:
                port_path = field.index(field.child(field.index(path, i), "ports"), j)
                causes.append(field.duplicate(field.child(port_path, "hostPort"), text))
            seen.add(text)
    return causes


def validate_containers(containers: object, volumes: set[str], path: str) -> list[Cause]:
    entries = dicts(containers)
    if not entries:
        return [field.required(path)]
    causes: list[Cause] = []
    names: set[str] = set()
    for i, container in entries:
        container_path = field.index(path, i)
        causes.extend(validate_container_common(container, volumes, container_path))
        name = as_str(container.get("name"))
        if name in names:
            causes.append(field.duplicate(field.child(container_path, "name"), name))
        else:
            names.add(name)
        if container.get("lifecycle") is not None:
            causes.extend(
                validate_lifecycle(container["lifecycle"], field.child(container_path, "lifecycle"))
            )
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            causes.extend(
                validate_probe(container.get(probe), field.child(container_path, probe), probe)
            )
    causes.extend(_unique_host_ports(entries, path, set()))
    return causes


def validate_init_containers(
    init_containers: object, containers: object, volumes: set[str], path: str
) -> list[Cause]:
    causes: list[Cause] = []
    names = {as_str(c.get("name")) for _, c in dicts(containers)}
    entries = dicts(init_containers)
    for i, container in entries:
        container_path = field.index(path, i)
        causes.extend(validate_container_common(container, volumes, container_path))
        name = as_str(container.get("name"))
        if name in names:
            causes.append(field.duplicate(field.child(container_path, "name"), name))
        elif name:
            names.add(name)
        restart = container.get("restartPolicy")
        if restart is not None and restart != "Always":
            causes.append(
                field.not_supported(
                    field.child(container_path, "restartPolicy"), restart, ["Always"]
                )
            )
        if restart == "Always":
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                causes.extend(
                    validate_probe(container.get(probe), field.child(container_path, probe), probe)
                )
            continue
        for forbidden in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
            if container.get(forbidden) is not None:
                causes.append(
                    field.forbidden(
                        field.child(container_path, forbidden),
                        "may not be set for init containers without restartPolicy=Always",
                    )
                )
    causes.extend(_unique_host_ports(entries, path, set()))
    return causes


# -- pod spec ------------------------------------------------------------------------------

RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
TOLERATION_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def validate_tolerations(tolerations: object, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, toleration in dicts(tolerations):
        tol_path = field.index(path, i)
        key_ = as_str(toleration.get("key"))
        operator = as_str(toleration.get("operator"))
        effect = as_str(toleration.get("effect"))
        if key_:
            causes.extend(
                field.invalid(field.child(tol_path, "key"), key_, m)
                for m in qualified_name_errors(key_)
            )
        if not key_ and operator != "Exists":
            causes.append(
                field.invalid(
                    field.child(tol_path, "operator"),
                    operator,
                    'operator must be Exists when `key` is empty, which means "match all values '
                    'and all keys"',
                )
            )
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            causes.append(
                field.invalid(
                    field.child(tol_path, "effect"),
                    effect,
                    "effect must be 'NoExecute' when `tolerationSeconds` is set",
                )
            )
        value = as_str(toleration.get("value"))
        if operator in ("Equal", ""):
            causes.extend(
                field.invalid(field.child(tol_path, "operator"), value, m)
                for m in label_value_errors(value)
            )
        elif operator == "Exists":
            if value:
                causes.append(
                    field.invalid(
                        field.child(tol_path, "operator"),
                        GoRepr(
                            f"core.Toleration{{Key:{field.go_value(key_)}, "
                            f'Operator:"Exists", Value:{field.go_value(value)}}}'
                        ),
                        "value must be empty when `operator` is 'Exists'",
                    )
                )
        else:
            causes.append(
                field.not_supported(
                    field.child(tol_path, "operator"), operator, ["Equal", "Exists"]
                )
            )
        if effect and effect not in TOLERATION_EFFECTS:
            causes.append(
                field.not_supported(field.child(tol_path, "effect"), effect, TOLERATION_EFFECTS)
            )
    return causes


def validate_pod_spec(spec: object, path: str) -> list[Cause]:
    """`ValidatePodSpec` (see the module's docstring for what it covers)."""
    spec = as_dict(spec)
    volumes, causes = validate_volumes(spec.get("volumes"), field.child(path, "volumes"))
    causes.extend(
        validate_containers(spec.get("containers"), volumes, field.child(path, "containers"))
    )
    causes.extend(
        validate_init_containers(
            spec.get("initContainers"),
            spec.get("containers"),
            volumes,
            field.child(path, "initContainers"),
        )
    )
    causes.extend(
        _enum(spec.get("restartPolicy"), field.child(path, "restartPolicy"), RESTART_POLICIES)
    )
    causes.extend(_enum(spec.get("dnsPolicy"), field.child(path, "dnsPolicy"), DNS_POLICIES))
    causes.extend(validate_labels(spec.get("nodeSelector"), field.child(path, "nodeSelector")))
    causes.extend(
        validate_security_context(spec.get("securityContext"), field.child(path, "securityContext"))
    )
    for name in ("serviceAccountName", "nodeName", "priorityClassName"):
        value = as_str(spec.get(name))
        if value:
            causes.extend(dns_subdomain(value, field.child(path, name)))
    deadline = as_int(spec.get("activeDeadlineSeconds"))
    if deadline is not None and not 1 <= deadline <= MAX_INT32:
        causes.append(
            field.invalid(
                field.child(path, "activeDeadlineSeconds"),
                deadline,
                field.inclusive_range(1, MAX_INT32),
            )
        )
    for name in ("hostname", "subdomain"):
        value = as_str(spec.get(name))
        if value:
            causes.extend(dns_label(value, field.child(path, name)))
    causes.extend(validate_tolerations(spec.get("tolerations"), field.child(path, "tolerations")))
    policy = spec.get("preemptionPolicy")
    if policy is not None and policy not in ("PreemptLowerPriority", "Never"):
        causes.append(
            field.not_supported(
                field.child(path, "preemptionPolicy"), policy, ["Never", "PreemptLowerPriority"]
            )
        )
    return causes


def validate_pod_template_spec(template: object, path: str) -> list[Cause]:
    """`ValidatePodTemplateSpec`: template labels and annotations, then the pod spec."""
    template = as_dict(template)
    meta = as_dict(template.get("metadata"))
    causes = validate_labels(meta.get("labels"), field.child(path, "labels"))
    causes.extend(validate_annotations(meta.get("annotations"), field.child(path, "annotations")))
    spec_path = field.child(path, "spec")
    causes.extend(validate_pod_spec(template.get("spec"), spec_path))
    if as_list(as_dict(template.get("spec")).get("ephemeralContainers")):
        causes.append(
            field.forbidden(
                field.child(spec_path, "ephemeralContainers"),
                "ephemeral containers not allowed in pod template",
            )
        )
    return causes


def template_restart_always(template: object, path: str, owner: str) -> list[Cause]:
    """What ReplicaSets, Deployments, DaemonSets and StatefulSets ask of their pod template."""
    spec = as_dict(as_dict(template).get("spec"))
    causes: list[Cause] = []
    restart = spec.get("restartPolicy")
    if restart != "Always":
        causes.append(
            field.not_supported(
                field.child(path, "spec", "restartPolicy"),
                restart if restart is not None else "",
                ["Always"],
            )
        )
    if spec.get("activeDeadlineSeconds") is not None:
        causes.append(
            field.forbidden(
                field.child(path, "spec", "activeDeadlineSeconds"),
                f"activeDeadlineSeconds in {owner} is not Supported",
            )
        )
    return causes
