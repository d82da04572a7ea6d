"""Defaults of the core group's kinds, as pkg/apis/core/v1/defaults.go and its generated
`SetObjectDefaults_*` apply them when kube-apiserver decodes a request.

Pod specs (in Pods and in every pod template):
- `restartPolicy: Always`, `dnsPolicy: ClusterFirst`, `securityContext: {}`,
  `terminationGracePeriodSeconds: 30`, `schedulerName: default-scheduler`;
- containers (init and ephemeral too): `imagePullPolicy` Always for `:latest` or no tag
  (IfNotPresent otherwise, or when the image does not parse), `terminationMessagePath:
  /dev/termination-log`, `terminationMessagePolicy: File`, ports' `protocol: TCP`, env
  `fieldRef.apiVersion: v1`, probes' `timeoutSeconds 1`, `periodSeconds 10`,
  `successThreshold 1`, `failureThreshold 3` and their `httpGet` `path: /`, `scheme: HTTP`;
- volumes: no source means `emptyDir: {}`; `defaultMode: 420` for secret, configMap,
  downwardAPI and projected volumes; `hostPath.type: ""`; service account token
  projections expire in 3600 s;
- every resource quantity is rounded up to milli-units and rewritten in canonical form
  (`0.5` -> `500m`, `1024Mi` -> `1Gi`), as upstream re-serializes `Quantity` values.

Pods only (not templates): `enableServiceLinks: true`, container requests default to their
limits, and host-network pods get `hostPort = containerPort`.

Other kinds: Service (type ClusterIP, session affinity None, ports TCP with targetPort =
port, traffic policies Cluster, single-stack IPv4 families, `clusterIPs` from `clusterIP`,
`allocateLoadBalancerNodePorts` for load balancers), Secret (type Opaque, `stringData`
merged into `data`), Namespace (the `kubernetes.io/metadata.name` label, phase Active),
PersistentVolumeClaim / PersistentVolume (volume mode Filesystem, phase Pending, reclaim
policy Retain), ReplicationController (replicas 1, selector and labels from the template),
Endpoints (ports TCP), LimitRange (container defaults from max/min), Node (allocatable from
capacity), ResourceQuota (quantities).

`prepare_service_update` is the update-time half of upstream's Service REST storage:
allocated values the client left out (cluster IPs, node ports) are carried over, and fields
that no longer apply to a changed type are dropped.
"""

from __future__ import annotations

import base64
import ipaddress
import re

from kube.api import quantity
from kube.api.defaults._walk import Object, items, set_if_empty, setdefault, sub
from kube.api.validation.pods import VOLUME_SOURCES

# -- quantities ----------------------------------------------------------------------------


def canonical_quantity(value: object) -> object:
    """upstream's decode, `RoundUp(Milli)` and encode of one quantity; bad ones stay as sent."""
    parsed = quantity.try_parse(value)
    if parsed is None:
        return value
    return str(parsed.round_up(-3))


def resource_list(parent: object, key: str) -> None:
    """`SetDefaults_ResourceList` on `parent[key]`: every quantity canonical at milli scale."""
    values = sub(parent, key, create=False)
    if values is not None:
        for name, value in list(values.items()):
            values[name] = canonical_quantity(value)


def resource_requirements(parent: object, key: str = "resources") -> None:
    resources = sub(parent, key, create=False)
    resource_list(resources, "limits")
    resource_list(resources, "requests")


# -- images --------------------------------------------------------------------------------

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?"
)


def image_tag(image: str) -> str:
    """The tag kubelet's `ParseImageName` finds: `latest` when neither tag nor digest is
    given, `""` for a digest alone or an image name that does not parse."""
    match = _REFERENCE.fullmatch(image)
    if match is None:
        return ""
    domain, path = match.group("domain"), match.group("path")
    is_domain = domain is not None and ("." in domain or ":" in domain or domain == "localhost")
    if domain is not None and not is_domain and domain != domain.lower():
        return ""  # a first component that is not a domain must be lowercase
    if len(f"{domain}/{path}" if domain else path) > 255:
        return ""
    if domain is None and re.fullmatch(r"[a-f0-9]{64}", path):
        return ""
    tag, digest = match.group("tag"), match.group("digest")
    if not tag and not digest:
        return "latest"
    return tag or ""


# -- pod specs -----------------------------------------------------------------------------


def _http_get(handler: object) -> None:
    get = sub(handler, "httpGet", create=False)
    set_if_empty(get, "path", "/")
    set_if_empty(get, "scheme", "HTTP")


def _probe(container: Object, key: str) -> None:
    probe = sub(container, key, create=False)
    if probe is None:
        return
    set_if_empty(probe, "timeoutSeconds", 1)
    set_if_empty(probe, "periodSeconds", 10)
    set_if_empty(probe, "successThreshold", 1)
    set_if_empty(probe, "failureThreshold", 3)
    _http_get(probe)


def _field_ref(parent: object) -> None:
    set_if_empty(sub(parent, "fieldRef", create=False), "apiVersion", "v1")


def container(c: Object) -> None:
    """`SetDefaults_Container` and the generated defaults of a container's parts."""
    if not c.get("imagePullPolicy"):
        image = c.get("image")
        tag = image_tag(image) if isinstance(image, str) else ""
        c["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    set_if_empty(c, "terminationMessagePath", "/dev/termination-log")
    set_if_empty(c, "terminationMessagePolicy", "File")
    for port in items(c, "ports"):
        set_if_empty(port, "protocol", "TCP")
    for env in items(c, "env"):
        _field_ref(sub(env, "valueFrom", create=False))
    resource_requirements(c)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c, probe)
    lifecycle = sub(c, "lifecycle", create=False)
    for hook in ("postStart", "preStop"):
        _http_get(sub(lifecycle, hook, create=False))


def volume(v: Object) -> None:
    """`SetDefaults_Volume` and the volume sources' defaults."""
    if all(v.get(source) is None for source in VOLUME_SOURCES):
        v["emptyDir"] = {}
    empty_dir = sub(v, "emptyDir", create=False)
    if empty_dir is not None and empty_dir.get("sizeLimit") is not None:
        empty_dir["sizeLimit"] = canonical_quantity(empty_dir["sizeLimit"])
    setdefault(sub(v, "hostPath", create=False), "type", "")
    for name in ("secret", "configMap", "downwardAPI", "projected"):
        setdefault(sub(v, name, create=False), "defaultMode", 420)
    for item in items(sub(v, "downwardAPI", create=False), "items"):
        _field_ref(item)
    for source in items(sub(v, "projected", create=False), "sources"):
        for item in items(sub(source, "downwardAPI", create=False), "items"):
            _field_ref(item)
        setdefault(sub(source, "serviceAccountToken", create=False), "expirationSeconds", 3600)
    iscsi = sub(v, "iscsi", create=False)
    set_if_empty(iscsi, "iscsiInterface", "default")
    rbd = sub(v, "rbd", create=False)
    set_if_empty(rbd, "pool", "rbd")
    set_if_empty(rbd, "user", "admin")
    set_if_empty(rbd, "keyring", "/etc/ceph/keyring")
    azure = sub(v, "azureDisk", create=False)
    setdefault(azure, "cachingMode", "ReadWrite")
    setdefault(azure, "fsType", "ext4")
    setdefault(azure, "readOnly", False)
    setdefault(azure, "kind", "Shared")
    scale_io = sub(v, "scaleIO", create=False)
    set_if_empty(scale_io, "storageMode", "ThinProvisioned")
    set_if_empty(scale_io, "fsType", "xfs")
    template = sub(sub(v, "ephemeral", create=False), "volumeClaimTemplate", create=False)
    claim_spec(sub(template, "spec", create=False))


def pod_spec(spec: Object | None) -> None:
    """`SetDefaults_PodSpec` and the generated defaults of everything a pod spec holds."""
    if spec is None:
        return
    set_if_empty(spec, "dnsPolicy", "ClusterFirst")
    set_if_empty(spec, "restartPolicy", "Always")
    setdefault(spec, "securityContext", {})
    setdefault(spec, "terminationGracePeriodSeconds", 30)
    set_if_empty(spec, "schedulerName", "default-scheduler")
    for v in items(spec, "volumes"):
        volume(v)
    for name in ("initContainers", "containers", "ephemeralContainers"):
        for c in items(spec, name):
            container(c)
    resource_list(spec, "overhead")


def pod_template(template: Object | None) -> None:
    """A `PodTemplateSpec`: its spec gets pod-spec defaults (not the Pod-only ones)."""
    pod_spec(sub(template, "spec"))


def pod(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    for name in ("containers", "initContainers"):
        for c in items(spec, name):
            resources = sub(c, "resources", create=False)
            limits = sub(resources, "limits", create=False)
            if resources is not None and limits is not None:
                requests = sub(resources, "requests")
                if requests is not None:
                    for key, value in limits.items():
                        requests.setdefault(key, value)
    setdefault(spec, "enableServiceLinks", True)
    status = sub(obj, "status", create=False)
    _mirror_ips(status, "podIP", "podIPs")
    _mirror_ips(status, "hostIP", "hostIPs")
    if spec.get("hostNetwork") is True:
        for name in ("containers", "initContainers"):
            for c in items(spec, name):
                for port in items(c, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    pod_spec(spec)


def _mirror_ips(status: Object | None, single: str, plural: str) -> None:
    """upstream's PodStatus conversion: the list is the truth, the single field its head.

    A lone `podIP` (an older kubelet's) becomes the list; a `podIP` that differs from the
    list's head wins over the list; then the single field is set from the list.
    """
    if status is None:
        return
    ip, ips = status.get(single), status.get(plural) or []
    if not isinstance(ips, list) or (ips and not isinstance(ips[0], dict)):
        return  # the wrong type: left for validation
    if ip and (not ips or ips[0].get("ip") != ip):
        status[plural] = [{"ip": ip}]
    elif ips and ips[0].get("ip"):
        status[single] = ips[0]["ip"]


def pod_template_object(obj: Object) -> None:
    pod_template(sub(obj, "template"))


def replication_controller(obj: Object) -> None:
    spec = sub(obj, "spec")
    if spec is None:
        return
    template = sub(spec, "template", create=False)
    labels = sub(sub(template, "metadata", create=False), "labels", create=False)
    if labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = sub(obj, "metadata")
        if meta is not None and not meta.get("labels"):
            meta["labels"] = dict(labels)
    setdefault(spec, "replicas", 1)
    pod_template(template)


# -- Service -------------------------------------------------------------------------------


def _externally_accessible(spec: Object) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs"))
    )


def _family(ip: object) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(str(ip)).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def service(obj: Object) -> None:
    # Go serialises the status's `loadBalancer` struct even when empty (omitempty does not
    # drop structs), so every Service upstream reads back has `status: {loadBalancer: {}}`.
    setdefault(sub(obj, "status"), "loadBalancer", {})
    spec = sub(obj, "spec")
    if spec is None:
        return
    set_if_empty(spec, "sessionAffinity", "None")
    if spec.get("sessionAffinity") == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec.get("sessionAffinity") == "ClientIP":
        config = sub(sub(spec, "sessionAffinityConfig"), "clientIP")
        setdefault(config, "timeoutSeconds", 10800)
    set_if_empty(spec, "type", "ClusterIP")
    for port in items(spec, "ports"):
        set_if_empty(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if _externally_accessible(spec):
        set_if_empty(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("type") in ("NodePort", "LoadBalancer", "ClusterIP"):
        setdefault(spec, "internalTrafficPolicy", "Cluster")
    if spec.get("type") == "LoadBalancer":
        setdefault(spec, "allocateLoadBalancerNodePorts", True)
    if spec.get("type") == "ExternalName":
        return
    # What the REST storage fills before allocation (a single-stack IPv4 cluster).
    cluster_ip, cluster_ips = spec.get("clusterIP"), spec.get("clusterIPs")
    if cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif cluster_ips and isinstance(cluster_ips, list) and not cluster_ip:
        spec["clusterIP"] = cluster_ips[0]
    setdefault(spec, "ipFamilyPolicy", "SingleStack")
    if not spec.get("ipFamilies"):
        ips = [ip for ip in spec.get("clusterIPs") or [] if ip != "None"]
        spec["ipFamilies"] = [_family(ip) for ip in ips] if ips else ["IPv4"]


def _needs_cluster_ip(spec: Object) -> bool:
    return spec.get("type") != "ExternalName"


def _needs_node_ports(spec: Object) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer") and not (
        spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is False
    )


def prepare_service_update(new: Object, old: Object) -> None:
    """Carry over what was allocated and drop what the new type no longer takes.

    upstream's `patchAllocatedValues`, `normalizeClusterIPs` and `dropTypeDependentFields`
    (pkg/registry/core/service/storage): an update that leaves `clusterIP` or a `nodePort`
    out keeps the stored value, so `kubectl replace` with a hand-written manifest works.
    """
    spec, old_spec = sub(new, "spec"), sub(old, "spec", create=False)
    if spec is None or old_spec is None:
        return
    if _needs_cluster_ip(spec) and _needs_cluster_ip(old_spec):
        old_ip, old_ips = old_spec.get("clusterIP"), old_spec.get("clusterIPs")
        if not spec.get("clusterIP") and old_ip:
            spec["clusterIP"] = old_ip
        if not spec.get("clusterIPs") and old_ips:
            spec["clusterIPs"] = list(old_ips)
        elif (
            spec.get("clusterIP")
            and spec.get("clusterIPs") == old_ips
            and old_ip != spec.get("clusterIP")
        ):
            spec["clusterIPs"] = [spec["clusterIP"]]  # the user changed clusterIP only
    if _needs_node_ports(spec) and _needs_node_ports(old_spec):
        old_ports = items(old_spec, "ports")
        for port in items(spec, "ports"):
            if port.get("nodePort"):
                continue
            for old_port in old_ports:
                same = (port.get("port"), port.get("protocol")) == (
                    old_port.get("port"),
                    old_port.get("protocol"),
                )
                if same and old_port.get("nodePort"):
                    port["nodePort"] = old_port["nodePort"]
                    break
        keep_health = spec.get("externalTrafficPolicy") == "Local"
        if (
            keep_health
            and not spec.get("healthCheckNodePort")
            and old_spec.get("healthCheckNodePort")
        ):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]
    if not _needs_cluster_ip(spec) and _needs_cluster_ip(old_spec):
        for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(name) == old_spec.get(name):
                spec.pop(name, None)
    if not _needs_node_ports(spec) and _needs_node_ports(old_spec):
        old_node_ports = [p.get("nodePort") for p in items(old_spec, "ports")]
        if [p.get("nodePort") for p in items(spec, "ports")] == old_node_ports:
            for port in items(spec, "ports"):
                port.pop("nodePort", None)
    same_policy = spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    if not _externally_accessible(spec) and same_policy:
        spec.pop("externalTrafficPolicy", None)
    if spec.get("type") != "LoadBalancer":
        spec.pop("allocateLoadBalancerNodePorts", None)
    if spec.get("externalTrafficPolicy") != "Local" and spec.get(
        "healthCheckNodePort"
    ) == old_spec.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)


# -- other core kinds ----------------------------------------------------------------------


def secret(obj: Object) -> None:
    set_if_empty(obj, "type", "Opaque")
    string_data = obj.get("stringData")
    if isinstance(string_data, dict):
        # upstream's conversion writes stringData over data and never stores it.
        data = sub(obj, "data")
        if data is not None:
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj.pop("stringData", None)


def namespace(obj: Object) -> None:
    meta = sub(obj, "metadata")
    name = meta.get("name") if meta is not None else None
    if meta is not None and isinstance(name, str) and name:
        labels = sub(meta, "labels")
        if labels is not None:
            labels["kubernetes.io/metadata.name"] = name
    set_if_empty(sub(obj, "status"), "phase", "Active")


def claim_spec(spec: Object | None) -> None:
    if spec is None:
        return
    setdefault(spec, "volumeMode", "Filesystem")
    resource_requirements(spec)


def persistent_volume_claim(obj: Object) -> None:
    claim_spec(sub(obj, "spec"))
    status = sub(obj, "status")
    set_if_empty(status, "phase", "Pending")
    resource_list(status, "capacity")
    resource_list(status, "allocatedResources")


def persistent_volume(obj: Object) -> None:
    spec = sub(obj, "spec")
    set_if_empty(sub(obj, "status"), "phase", "Pending")
    set_if_empty(spec, "persistentVolumeReclaimPolicy", "Retain")
    setdefault(spec, "volumeMode", "Filesystem")
    resource_list(spec, "capacity")
    setdefault(sub(spec, "hostPath", create=False), "type", "")


def endpoints(obj: Object) -> None:
    for subset in items(obj, "subsets"):
        for port in items(subset, "ports"):
            set_if_empty(port, "protocol", "TCP")


def limit_range(obj: Object) -> None:
    for item in items(sub(obj, "spec", create=False), "limits"):
        if item.get("type") == "Container":
            default = sub(item, "default")
            request = sub(item, "defaultRequest")
            if default is not None and request is not None:
                for key, value in (sub(item, "max", create=False) or {}).items():
                    default.setdefault(key, value)
                for key, value in default.items():
                    request.setdefault(key, value)
                for key, value in (sub(item, "min", create=False) or {}).items():
                    request.setdefault(key, value)
        for name in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            resource_list(item, name)


def node(obj: Object) -> None:
    # upstream's NodeSpec conversion: `podCIDRs` is the truth, `podCIDR` its first entry.
    spec = sub(obj, "spec", create=False)
    if spec is not None:
        cidr, cidrs = spec.get("podCIDR"), spec.get("podCIDRs")
        if cidr and not cidrs:
            spec["podCIDRs"] = [cidr]
        elif isinstance(cidrs, list) and cidrs:
            spec["podCIDR"] = cidrs[0]
    status = sub(obj, "status", create=False)
    if (
        status is not None
        and status.get("allocatable") is None
        and isinstance(status.get("capacity"), dict)
    ):
        status["allocatable"] = dict(status["capacity"])
    resource_list(status, "capacity")
    resource_list(status, "allocatable")


def resource_quota(obj: Object) -> None:
    resource_list(sub(obj, "spec", create=False), "hard")
    status = sub(obj, "status", create=False)
    resource_list(status, "hard")
    resource_list(status, "used")
