"""The core group's kinds, validated as pkg/apis/core/validation does.

Each validator takes the (defaulted) object and, on update, the stored one, and returns
upstream's causes for the kind's own fields; `kube.api.validation.validate` adds the
metadata checks every kind shares. What each kind gets:

- Pod: the pod spec (`kube.api.validation.pods`); on update, upstream's rule that only
  container images, `activeDeadlineSeconds` (lowered), tolerations (added) and scheduling
  gates (removed) may change, reported as upstream's `spec: Forbidden: pod updates may not
  change fields other than ...` (without the diff upstream appends).
- PodTemplate and ReplicationController: the template (selector must match its labels,
  restart policy Always), replicas >= 0.
- Service: ports (names, numbers, protocols, target ports, duplicates), type, session
  affinity, selector labels, IP families and policy, traffic policies, cluster IPs
  (valid addresses; on update `may not change once set`), ExternalName rules.
- ConfigMap and Secret: keys, 1 MiB of data, the `immutable` flag (nothing changes once
  set), Secret types' required keys, `type` immutable.
- Namespace: `spec.finalizers` names.
- PersistentVolumeClaim: access modes, a positive storage request, volume mode; the spec
  immutable after creation except for the storage request of a bound claim.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
from typing import Any

from kube.api.errors import Cause
from kube.api.selectors import qualified_name_errors
from kube.api.validation import field
from kube.api.validation.field import GoRepr, as_dict, as_int, as_list, as_str, dicts
from kube.api.validation.meta import validate_labels
from kube.api.validation.pods import (
    config_map_key_errors,
    dns_label,
    dns_subdomain,
    parse_quantity,
    port_number_errors,
    template_restart_always,
    validate_pod_spec,
    validate_pod_template_spec,
    validate_port_num_or_name,
)

Object = dict[str, Any]
MAX_SECRET_SIZE = 1024 * 1024
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"

# -- Pod -----------------------------------------------------------------------------------

POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)"
)


def validate_pod(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    if old is None:
        causes = validate_pod_spec(spec, "spec")
        if as_list(spec.get("ephemeralContainers")):
            causes.append(field.forbidden("spec.ephemeralContainers", "cannot be set on create"))
        return causes
    return _pod_update(spec, as_dict(old.get("spec")))


def _pod_update(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[Cause]:
    """`ValidatePodUpdate`: images required, the deadline rules, then the mutable fields."""
    causes: list[Cause] = []
    for list_name in ("containers", "initContainers"):
        for i, container in dicts(spec.get(list_name)):
            if not as_str(container.get("image")):
                causes.append(
                    field.required(field.child(field.index(f"spec.{list_name}", i), "image"))
                )
    deadline, old_deadline = (
        spec.get("activeDeadlineSeconds"),
        old_spec.get("activeDeadlineSeconds"),
    )
    if deadline is not None:
        value = as_int(deadline)
        if value is None or not 0 <= value <= 2**31 - 1:
            causes.append(
                field.invalid(
                    "spec.activeDeadlineSeconds", deadline, field.inclusive_range(0, 2**31 - 1)
                )
            )
            return causes
        old_value = as_int(old_deadline)
        if old_value is not None and old_value < value:
            causes.append(
                field.invalid(
                    "spec.activeDeadlineSeconds",
                    value,
                    "must be less than or equal to previous value",
                )
            )
            return causes
    elif old_deadline is not None:
        causes.append(
            field.invalid(
                "spec.activeDeadlineSeconds",
                None,
                "must not update from a positive integer to nil value",
            )
        )
    if _mutable_view(spec, old_spec) != old_spec:
        causes.append(field.forbidden("spec", POD_UPDATE_MESSAGE))
    return causes


def _mutable_view(spec: dict[str, Any], old_spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` with what a pod update may change taken from `old_spec`."""
    view = copy.deepcopy(spec)
    for list_name in ("containers", "initContainers"):
        new_list, old_list = as_list(view.get(list_name)), as_list(old_spec.get(list_name))
        if len(new_list) == len(old_list):
            for new_c, old_c in zip(new_list, old_list, strict=True):
                if isinstance(new_c, dict) and isinstance(old_c, dict) and "image" in old_c:
                    new_c["image"] = old_c["image"]
    for name in ("activeDeadlineSeconds",):
        if name in old_spec:
            view[name] = old_spec[name]
        else:
            view.pop(name, None)
    old_tolerations = as_list(old_spec.get("tolerations"))
    if all(t in as_list(view.get("tolerations")) for t in old_tolerations):
        _restore(view, old_spec, "tolerations")
    old_grace = as_int(old_spec.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and view.get("terminationGracePeriodSeconds") == 1:
        _restore(view, old_spec, "terminationGracePeriodSeconds")
    if all(
        g in as_list(old_spec.get("schedulingGates")) for g in as_list(view.get("schedulingGates"))
    ):
        _restore(view, old_spec, "schedulingGates")
    return view


def _restore(view: dict[str, Any], old: dict[str, Any], name: str) -> None:
    if name in old:
        view[name] = old[name]
    else:
        view.pop(name, None)


# -- PodTemplate and ReplicationController -------------------------------------------------


def validate_pod_template(obj: Object, old: Object | None) -> list[Cause]:
    return validate_pod_template_spec(obj.get("template"), "template")


def validate_replication_controller(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes = field.nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = as_dict(spec.get("selector"))
    if not selector:
        causes.append(field.required("spec.selector"))
    causes.extend(field.nonnegative("spec.replicas", spec.get("replicas")))
    template = spec.get("template")
    if not isinstance(template, dict):
        causes.append(field.required("spec.template"))
        return causes
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        causes.append(
            field.invalid(
                "spec.template.metadata.labels",
                GoRepr(field.go_string_map(labels)),
                "`selector` does not match template `labels`",
            )
        )
    causes.extend(validate_pod_template_spec(template, "spec.template"))
    causes.extend(template_restart_always(template, "spec.template", "ReplicationController"))
    return causes


# -- Service -------------------------------------------------------------------------------

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
IP_FAMILY_POLICIES = ["SingleStack", "PreferDualStack", "RequireDualStack"]
IP_FAMILIES = ["IPv4", "IPv6"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]
IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _is_headless(spec: dict[str, Any]) -> bool:
    return spec.get("clusterIP") == "None"


def _externally_accessible(spec: dict[str, Any]) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(as_list(spec.get("externalIPs")))
    )


def _go_service_port(port: dict[str, Any]) -> GoRepr:
    """The `core.ServicePort{Protocol, Port}` key upstream reports duplicates with."""
    return GoRepr(
        'core.ServicePort{Name:"", Protocol:'
        f"{field.go_value(as_str(port.get('protocol')))}, AppProtocol:(*string)(nil), "
        f"Port:{as_int(port.get('port')) or 0}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, "
        'StrVal:""}, NodePort:0}'
    )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_service(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    if old is not None:
        causes.extend(_cluster_ips_update(spec, as_dict(old.get("spec"))))
    kind = spec.get("type")
    ports = dicts(spec.get("ports"))
    headless = _is_headless(spec)
    cluster_ips = [str(ip) for ip in as_list(spec.get("clusterIPs"))]
    if not ports and not headless and kind != "ExternalName":
        causes.append(field.required("spec.ports"))
    if kind in ("LoadBalancer", "NodePort") and headless and cluster_ips:
        causes.append(
            field.invalid(
                "spec.clusterIPs[0]",
                cluster_ips[0],
                f"may not be set to 'None' for {kind} services",
            )
        )
    elif kind == "ExternalName":
        if cluster_ips:
            causes.append(
                field.forbidden("spec.clusterIPs", "may not be set for ExternalName services")
            )
        if as_list(spec.get("ipFamilies")):
            causes.append(
                field.forbidden("spec.ipFamilies", "may not be set for ExternalName services")
            )
        if spec.get("ipFamilyPolicy") is not None:
            causes.append(
                field.forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services")
            )
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if cname:
            causes.extend(dns_subdomain(cname, "spec.externalName"))
        else:
            causes.append(field.required("spec.externalName"))
    names: set[str] = set()
    for i, port in ports:
        causes.extend(_service_port(port, len(ports) > 1, names, field.index("spec.ports", i)))
    if spec.get("selector") is not None:
        causes.extend(validate_labels(spec.get("selector"), "spec.selector"))
    affinity = spec.get("sessionAffinity")
    if not affinity:
        causes.append(field.required("spec.sessionAffinity"))
    elif affinity not in SESSION_AFFINITIES:
        causes.append(field.not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    elif affinity == "ClientIP":
        timeout = as_int(
            as_dict(as_dict(spec.get("sessionAffinityConfig")).get("clientIP")).get(
                "timeoutSeconds"
            )
        )
        if timeout is None:
            causes.append(field.required("spec.sessionAffinityConfig.clientIP.timeoutSeconds"))
        elif not 0 < timeout <= 86400:
            causes.append(
                field.invalid(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    timeout,
                    "must be greater than 0 and less than 86400",
                )
            )
    elif spec.get("sessionAffinityConfig") is not None:
        causes.append(
            field.forbidden(
                "spec.sessionAffinityConfig", "must not be set when session affinity is None"
            )
        )
    causes.extend(_cluster_ips(spec, cluster_ips))
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        if not _is_ip(str(ip)):
            causes.append(field.invalid(field.index("spec.externalIPs", i), str(ip), IP_MESSAGE))
    if not kind:
        causes.append(field.required("spec.type"))
    elif kind not in SERVICE_TYPES:
        causes.append(field.not_supported("spec.type", kind, SERVICE_TYPES))
    if kind == "ClusterIP":
        for i, port in ports:
            if as_int(port.get("nodePort")):
                causes.append(
                    field.forbidden(
                        field.child(field.index("spec.ports", i), "nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    node_ports: set[tuple[str, int]] = set()
    for i, port in ports:
        node_port = as_int(port.get("nodePort")) or 0
        if not node_port:
            continue
        pair = (as_str(port.get("protocol")), node_port)
        if pair in node_ports:
            causes.append(
                field.duplicate(field.child(field.index("spec.ports", i), "nodePort"), node_port)
            )
        node_ports.add(pair)
    seen: set[tuple[str, int]] = set()
    for i, port in ports:
        pair = (as_str(port.get("protocol")), as_int(port.get("port")) or 0)
        if pair in seen:
            causes.append(field.duplicate(field.index("spec.ports", i), _go_service_port(port)))
        seen.add(pair)
    causes.extend(_traffic_policies(spec))
    return causes


def _service_port(
    port: dict[str, Any], require_name: bool, names: set[str], path: str
) -> list[Cause]:
    causes: list[Cause] = []
    name = as_str(port.get("name"))
    if require_name and not name:
        causes.append(field.required(field.child(path, "name")))
    elif name:
        causes.extend(dns_label(name, field.child(path, "name")))
        if name in names:
            causes.append(field.duplicate(field.child(path, "name"), name))
        else:
            names.add(name)
    number = as_int(port.get("port")) or 0
    causes.extend(
        field.invalid(field.child(path, "port"), number, m) for m in port_number_errors(number)
    )
    protocol = as_str(port.get("protocol"))
    if not protocol:
        causes.append(field.required(field.child(path, "protocol")))
    elif protocol not in PORT_PROTOCOLS:
        causes.append(field.not_supported(field.child(path, "protocol"), protocol, PORT_PROTOCOLS))
    causes.extend(
        validate_port_num_or_name(port.get("targetPort"), field.child(path, "targetPort"))
    )
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        text = as_str(app_protocol)
        causes.extend(
            field.invalid(field.child(path, "appProtocol"), text, m)
            for m in qualified_name_errors(text)
        )
    node_port = as_int(port.get("nodePort"))
    if node_port:
        causes.extend(
            field.invalid(field.child(path, "nodePort"), node_port, m)
            for m in port_number_errors(node_port)
        )
    return causes


def _cluster_ips(spec: dict[str, Any], cluster_ips: list[str]) -> list[Cause]:
    """The IP-related fields: families, policy, and the cluster IPs themselves."""
    causes: list[Cause] = []
    if spec.get("type") == "ExternalName":
        return causes
    cluster_ip = as_str(spec.get("clusterIP"))
    if cluster_ip and cluster_ips and cluster_ip != cluster_ips[0]:
        causes.append(
            field.invalid(
                "spec.clusterIPs",
                GoRepr(field.go_string_list(cluster_ips)),
                "first value must match `clusterIP`",
            )
        )
    for i, ip in enumerate(cluster_ips):
        if ip == "None" and i == 0:
            continue
        if ip == "None" or not _is_ip(ip):
            causes.append(field.invalid(field.index("spec.clusterIPs", i), ip, IP_MESSAGE))
    if len(cluster_ips) > 2:
        causes.append(
            field.invalid(
                "spec.clusterIPs",
                GoRepr(field.go_string_list(cluster_ips)),
                "may only hold up to 2 values",
            )
        )
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        causes.append(field.not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    families = as_list(spec.get("ipFamilies"))
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            causes.append(
                field.not_supported(field.index("spec.ipFamilies", i), family, IP_FAMILIES)
            )
        elif family in seen:
            causes.append(field.duplicate(field.index("spec.ipFamilies", i), family))
        seen.add(str(family))
    if len(families) > 2:
        causes.append(
            field.invalid(
                "spec.ipFamilies",
                GoRepr(field.go_string_list(families)),
                "may only hold up to 2 values",
            )
        )
    if policy == "SingleStack" and len(cluster_ips) > 1:
        causes.append(
            field.invalid(
                "spec.clusterIPs",
                GoRepr(field.go_string_list(cluster_ips)),
                "must be at most 1 value when `ipFamilyPolicy` is 'SingleStack'",
            )
        )
    if policy == "SingleStack" and len(families) > 1:
        causes.append(
            field.invalid(
                "spec.ipFamilies",
                GoRepr(field.go_string_list(families)),
                "must be at most 1 value when `ipFamilyPolicy` is 'SingleStack'",
            )
        )
    return causes


def _traffic_policies(spec: dict[str, Any]) -> list[Cause]:
    causes: list[Cause] = []
    external = spec.get("externalTrafficPolicy")
    if not _externally_accessible(spec):
        if external:
            causes.append(
                field.invalid(
                    "spec.externalTrafficPolicy",
                    external,
                    "may only be set for externally-accessible services",
                )
            )
    elif not external:
        causes.append(field.required("spec.externalTrafficPolicy"))
    elif external not in TRAFFIC_POLICIES:
        causes.append(field.not_supported("spec.externalTrafficPolicy", external, TRAFFIC_POLICIES))
    internal = spec.get("internalTrafficPolicy")
    if internal is not None and internal not in TRAFFIC_POLICIES:
        causes.append(field.not_supported("spec.internalTrafficPolicy", internal, TRAFFIC_POLICIES))
    return causes


def _cluster_ips_update(spec: dict[str, Any], old_spec: dict[str, Any]) -> list[Cause]:
    """`validateUpgradeDowngradeClusterIPs`: the primary cluster IP never changes."""
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    if _is_headless(spec) and _is_headless(old_spec):
        return []
    new_ips = [str(ip) for ip in as_list(spec.get("clusterIPs"))]
    old_ips = [str(ip) for ip in as_list(old_spec.get("clusterIPs"))]
    shown = GoRepr(field.go_string_list(new_ips) if new_ips else "[]string(nil)")
    causes: list[Cause] = []
    if len(old_ips) == len(new_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                causes.append(
                    field.invalid(
                        field.index("spec.clusterIPs", i), shown, "may not change once set"
                    )
                )
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            causes.append(
                field.invalid("spec.clusterIPs[0]", shown, "primary clusterIP can not be unset")
            )
        elif new_ips[0] != old_ips[0]:
            causes.append(field.invalid("spec.clusterIPs[0]", shown, "may not change once set"))
        if len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            causes.append(
                field.invalid(
                    "spec.clusterIPs[0]",
                    shown,
                    "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary "
                    "clusterIP",
                )
            )
    elif old_ips and new_ips[0] != old_ips[0]:
        causes.append(field.invalid("spec.clusterIPs[0]", shown, "may not change once set"))
    return causes


# -- ConfigMap and Secret ------------------------------------------------------------------


def _decoded(value: object) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def validate_config_map(obj: Object, old: Object | None) -> list[Cause]:
    causes: list[Cause] = []
    if old is not None:
        causes.extend(_immutable_data(obj, old, ("data", "binaryData")))
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    total = 0
    for k, v in data.items():
        causes.extend(field.invalid(field.key("data", k), k, m) for m in config_map_key_errors(k))
        if k in binary:
            causes.append(
                field.invalid(field.key("data", k), k, "duplicate of key present in binaryData")
            )
        total += len(str(v).encode())
    for k, v in binary.items():
        causes.extend(
            field.invalid(field.key("binaryData", k), k, m) for m in config_map_key_errors(k)
        )
        decoded = _decoded(v)
        if decoded is None:
            causes.append(
                field.invalid(field.key("binaryData", k), "<binary data>", "illegal base64 data")
            )
        else:
            total += len(decoded)
    if total > MAX_SECRET_SIZE:
        causes.append(field.too_long("", MAX_SECRET_SIZE))
    return causes


def _immutable_data(obj: Object, old: Object, fields: tuple[str, ...]) -> list[Cause]:
    if old.get("immutable") is not True:
        return []
    causes = []
    if obj.get("immutable") is not True:
        causes.append(field.forbidden("immutable", IMMUTABLE_WHEN_SET))
    for name in fields:
        if (obj.get(name) or {}) != (old.get(name) or {}):
            causes.append(field.forbidden(name, IMMUTABLE_WHEN_SET))
    return causes


SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
DOCKER_CONFIG_KEY = ".dockercfg"
DOCKER_CONFIG_JSON_KEY = ".dockerconfigjson"
REDACTED = "<secret contents redacted>"


def validate_secret(obj: Object, old: Object | None) -> list[Cause]:
    causes: list[Cause] = []
    if old is not None:
        causes.extend(field.immutable("type", obj.get("type"), old.get("type")))
        causes.extend(_immutable_data(obj, old, ("data",)))
    data = as_dict(obj.get("data"))
    decoded: dict[str, bytes] = {}
    total = 0
    for k, v in data.items():
        causes.extend(field.invalid(field.key("data", k), k, m) for m in config_map_key_errors(k))
        raw = _decoded(v)
        if raw is None:
            causes.append(field.invalid(field.key("data", k), REDACTED, "illegal base64 data"))
            continue
        decoded[k] = raw
        total += len(raw)
    if total > MAX_SECRET_SIZE:
        causes.append(field.too_long("data", MAX_SECRET_SIZE))
    kind = obj.get("type")
    annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
    if kind == "kubernetes.io/service-account-token":
        if not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
            causes.append(
                field.required(field.key("metadata.annotations", SERVICE_ACCOUNT_NAME_KEY))
            )
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key_ = DOCKER_CONFIG_KEY if kind == "kubernetes.io/dockercfg" else DOCKER_CONFIG_JSON_KEY
        if key_ not in data:
            causes.append(field.required(field.key("data", key_)))
        elif key_ in decoded:
            try:
                parsed = json.loads(decoded[key_])
            except ValueError as err:
                causes.append(field.invalid(field.key("data", key_), REDACTED, str(err)))
            else:
                if not isinstance(parsed, dict):
                    causes.append(
                        field.invalid(
                            field.key("data", key_),
                            REDACTED,
                            "json: cannot unmarshal into Go value of type map[string]interface {}",
                        )
                    )
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            causes.append(field.required(field.key("data", "username")))
            causes.append(field.required(field.key("data", "password")))
    elif kind == "kubernetes.io/ssh-auth":
        if not decoded.get("ssh-privatekey"):
            causes.append(field.required(field.key("data", "ssh-privatekey")))
    elif kind == "kubernetes.io/tls":
        for key_ in ("tls.crt", "tls.key"):
            if key_ not in data:
                causes.append(field.required(field.key("data", key_)))
    return causes


# -- Namespace -----------------------------------------------------------------------------

STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def validate_namespace(obj: Object, old: Object | None) -> list[Cause]:
    causes: list[Cause] = []
    for name in as_list(as_dict(obj.get("spec")).get("finalizers")):
        text = str(name)
        errs = qualified_name_errors(text)
        causes.extend(field.invalid("spec.finalizers", text, m) for m in errs)
        if not errs and "/" not in text and text not in STANDARD_FINALIZERS:
            causes.append(
                field.invalid(
                    "spec.finalizers",
                    text,
                    "name is neither a standard finalizer name nor is it fully qualified",
                )
            )
    return causes


# -- PersistentVolumeClaim -----------------------------------------------------------------

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
VOLUME_MODES = ["Block", "Filesystem"]
PVC_UPDATE_MESSAGE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName "
    "for bound claims"
)


def validate_persistent_volume_claim(obj: Object, old: Object | None) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    modes = as_list(spec.get("accessModes"))
    if not modes:
        causes.append(field.required("spec.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            causes.append(field.not_supported("spec.accessModes", mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(
            field.forbidden(
                "spec.accessModes", "may not use ReadWriteOncePod with other access modes"
            )
        )
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        causes.append(field.required(field.key("spec.resources", "storage")))
    else:
        q = parse_quantity(requests["storage"], field.key("spec.resources", "storage"), causes)
        if q is not None and q.sign() <= 0:
            causes.append(
                field.invalid(
                    field.key("spec.resources", "storage"), str(q), "must be greater than zero"
                )
            )
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        causes.append(field.not_supported("spec.volumeMode", mode, VOLUME_MODES))
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        view, old_view = copy.deepcopy(spec), copy.deepcopy(old_spec)
        if as_dict(old.get("status")).get("phase") == "Bound":
            for s in (view, old_view):
                as_dict(s.get("resources")).pop("requests", None)
                s.pop("volumeAttributesClassName", None)
        if not old_spec.get("volumeName"):  # binding sets it once
            view.pop("volumeName", None)
            old_view.pop("volumeName", None)
        if view != old_view:
            causes.append(field.forbidden("spec", PVC_UPDATE_MESSAGE))
    return causes
