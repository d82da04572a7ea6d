"""Generates the schema tables of the Kubernetes protobuf codec from the upstream field table.

Input: `k8s-api-protobuf-fields.json` (field numbers, names, types and labels of every message of
k8s.io/api and k8s.io/apimachinery, extracted from upstream's generated.proto files), by default
from ../shared/testdata/wire-schemas/ beside the repository. Outputs, both committed:

- `src/kube/native/proto_schema.py`, the table the pure-Python codec reads;
- `rust/src/proto_schema.rs`, the same table as Rust statics for `kube._rust`.

Run it again when the field table changes:

    .venv/bin/python tools/gen_proto_schema.py [path/to/k8s-api-protobuf-fields.json]

Each field gets one *kind*. Most are protobuf's own (string, bytes, bool, int32, int64, message,
map); the apimachinery types whose JSON shape is not their protobuf shape get a kind of their own
(Time, MicroTime, Quantity, IntOrString, RawExtension and FieldsV1, the named string slices).

The field table has no Go facts, but decoding needs one: whether a zero scalar (``""``, 0, false)
belongs in the JSON object. Go writes every non-pointer scalar to protobuf, zero or not, and its
JSON encoder then drops zeros of `omitempty` fields; a zero of a pointer field (`replicas: 0`) or
of a field without `omitempty` (`containerPort`) stays. `KEEP_ZERO` below lists those fields for
the kinds this server serves, transcribed from k8s.io/api's types.go; every other zero scalar is
dropped on decode. Encoding needs no such facts: it writes what the object holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = (
    ROOT.parent / "shared" / "testdata" / "wire-schemas" / "k8s-api-protobuf-fields.json"
)
PY_OUT = ROOT / "src" / "kube" / "native" / "proto_schema.py"
RS_OUT = ROOT / "rust" / "src" / "proto_schema.rs"

# Kind codes, shared by both outputs (and by the codecs).
KINDS = [
    "STRING",
    "BYTES",
    "BOOL",
    "INT32",
    "INT64",
    "MESSAGE",
    "MAP",
    "TIME",
    "MICRO_TIME",
    "QUANTITY",
    "INT_OR_STRING",
    "RAW",
    "STRING_LIST",
]
SCALARS = {"string": "STRING", "bytes": "BYTES", "bool": "BOOL", "int32": "INT32", "int64": "INT64"}

META = "k8s.io.apimachinery.pkg.apis.meta.v1"
SPECIAL = {
    f"{META}.Time": "TIME",
    f"{META}.MicroTime": "MICRO_TIME",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "QUANTITY",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "QUANTITY",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "INT_OR_STRING",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RAW",
    f"{META}.FieldsV1": "RAW",
}
# Named string slices (`type ExtraValue []string`): a message {repeated string items = 1} in
# protobuf, a JSON array.
STRING_LIST_NAMES = ("ExtraValue", "AttestationValue", "Verbs")

# Package -> API group, where the group is not `<package>.k8s.io`.
GROUPS = {
    "core": "",
    "apps": "apps",
    "batch": "batch",
    "autoscaling": "autoscaling",
    "policy": "policy",
    "extensions": "extensions",
    "rbac": "rbac.authorization.k8s.io",
    "flowcontrol": "flowcontrol.apiserver.k8s.io",
    "apiserverinternal": "internal.apiserver.k8s.io",
}
# Kinds of meta.k8s.io/v1 that every group version also serves (Status, options, ...).
META_KINDS = (
    "APIGroup",
    "APIGroupList",
    "APIResourceList",
    "APIVersions",
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "List",
    "ListOptions",
    "PartialObjectMetadata",
    "PartialObjectMetadataList",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
)

# Fields whose protobuf name is not their JSON name (go-to-protobuf derives the name from the
# Go field when the json tag is not a valid protobuf name... or differs in case).
JSON_NAMES = {
    "Webhooks": "webhooks",
    "Expression": "expression",
    "Name": "name",
    "uID": "uid",
    "aPIGroup": "apiGroup",
}

# Embedded Go structs with `json:",inline"`: a message field in protobuf, flattened into the
# enclosing object in JSON (found by decoding the golden fixtures, where every field is set).
INLINE = {
    "admissionregistration.v1.NamedRuleWithOperations": "ruleWithOperations",
    "admissionregistration.v1alpha1.NamedRuleWithOperations": "ruleWithOperations",
    "admissionregistration.v1beta1.NamedRuleWithOperations": "ruleWithOperations",
    "admissionregistration.v1.RuleWithOperations": "rule",
    "core.v1.ConfigMapEnvSource": "localObjectReference",
    "core.v1.ConfigMapKeySelector": "localObjectReference",
    "core.v1.ConfigMapProjection": "localObjectReference",
    "core.v1.ConfigMapVolumeSource": "localObjectReference",
    "core.v1.SecretEnvSource": "localObjectReference",
    "core.v1.SecretKeySelector": "localObjectReference",
    "core.v1.SecretProjection": "localObjectReference",
    "core.v1.EphemeralContainer": "ephemeralContainerCommon",
    "core.v1.PersistentVolumeSpec": "persistentVolumeSource",
    "core.v1.Probe": "handler",
    "core.v1.Volume": "volumeSource",
    "extensions.v1beta1.IngressRule": "ingressRuleValue",
    "networking.v1.IngressRule": "ingressRuleValue",
    "networking.v1beta1.IngressRule": "ingressRuleValue",
    "resource.v1.DeviceAllocationConfiguration": "deviceConfiguration",
    "resource.v1.DeviceClaimConfiguration": "deviceConfiguration",
    "resource.v1.DeviceClassConfiguration": "deviceConfiguration",
    "resource.v1beta1.DeviceAllocationConfiguration": "deviceConfiguration",
    "resource.v1beta1.DeviceClaimConfiguration": "deviceConfiguration",
    "resource.v1beta1.DeviceClassConfiguration": "deviceConfiguration",
    "resource.v1beta2.DeviceAllocationConfiguration": "deviceConfiguration",
    "resource.v1beta2.DeviceClaimConfiguration": "deviceConfiguration",
    "resource.v1beta2.DeviceClassConfiguration": "deviceConfiguration",
}

# Scalar fields whose zero value stays in JSON: Go pointers (`*int32`, `*bool`, `*string`) and
# fields without `omitempty`, keyed by message (package-relative: `core.v1.PodSpec`).
KEEP_ZERO: dict[str, str] = {
    # meta/v1
    "meta.v1.ObjectMeta": "deletionGracePeriodSeconds",
    "meta.v1.OwnerReference": "apiVersion kind name uid controller blockOwnerDeletion",
    "meta.v1.ListMeta": "remainingItemCount",
    "meta.v1.DeleteOptions": "gracePeriodSeconds orphanDependents propagationPolicy "
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "meta.v1.ListOptions": "timeoutSeconds sendInitialEvents",
    "meta.v1.PatchOptions": "force",
    "meta.v1.ApplyOptions": "force",
    "meta.v1.LabelSelectorRequirement": "key operator",
    "meta.v1.FieldSelectorRequirement": "key operator",
    "meta.v1.Condition": "type status reason message",
    "meta.v1.WatchEvent": "type",
    "meta.v1.GroupVersionKind": "group version kind",
    "meta.v1.GroupVersionResource": "group version resource",
    "meta.v1.GroupKind": "group kind",
    "meta.v1.GroupResource": "group resource",
    "meta.v1.GroupVersion": "group version",
    "meta.v1.APIResource": "name singularName namespaced kind",
    "meta.v1.APIResourceList": "groupVersion",
    "meta.v1.APIGroup": "name",
    "meta.v1.GroupVersionForDiscovery": "groupVersion version",
    "meta.v1.ServerAddressByClientCIDR": "clientCIDR serverAddress",
    "meta.v1.Preconditions": "uid resourceVersion",
    # core/v1: pods and containers
    "core.v1.PodSpec": "terminationGracePeriodSeconds activeDeadlineSeconds "
    "automountServiceAccountToken shareProcessNamespace priority runtimeClassName "
    "enableServiceLinks preemptionPolicy setHostnameAsFQDN hostUsers",
    "core.v1.Container": "name",
    "core.v1.EphemeralContainerCommon": "name",
    "core.v1.ContainerPort": "containerPort",
    "core.v1.EnvVar": "name",
    "core.v1.ConfigMapKeySelector": "key optional",
    "core.v1.SecretKeySelector": "key optional",
    "core.v1.FileKeySelector": "volumeName path key optional",
    "core.v1.ObjectFieldSelector": "fieldPath",
    "core.v1.ResourceFieldSelector": "resource",
    "core.v1.ConfigMapEnvSource": "optional",
    "core.v1.SecretEnvSource": "optional",
    "core.v1.VolumeMount": "name mountPath recursiveReadOnly mountPropagation",
    "core.v1.VolumeDevice": "name devicePath",
    "core.v1.Probe": "terminationGracePeriodSeconds",
    "core.v1.HTTPHeader": "name value",
    "core.v1.GRPCAction": "port service",
    "core.v1.SleepAction": "seconds",
    "core.v1.SecurityContext": "privileged runAsUser runAsGroup runAsNonRoot "
    "readOnlyRootFilesystem allowPrivilegeEscalation procMount",
    "core.v1.PodSecurityContext": "runAsUser runAsGroup runAsNonRoot fsGroup "
    "fsGroupChangePolicy supplementalGroupsPolicy seLinuxChangePolicy",
    "core.v1.WindowsSecurityContextOptions": "gmsaCredentialSpecName gmsaCredentialSpec "
    "runAsUserName hostProcess",
    "core.v1.SeccompProfile": "type localhostProfile",
    "core.v1.AppArmorProfile": "type localhostProfile",
    "core.v1.Sysctl": "name value",
    "core.v1.Toleration": "tolerationSeconds",
    "core.v1.PodDNSConfigOption": "value",
    "core.v1.TopologySpreadConstraint": "maxSkew topologyKey whenUnsatisfiable minDomains "
    "nodeAffinityPolicy nodeTaintsPolicy",
    "core.v1.HostAlias": "ip",
    "core.v1.PodReadinessGate": "conditionType",
    "core.v1.PodResourceClaim": "name resourceClaimName resourceClaimTemplateName",
    "core.v1.PodSchedulingGate": "name",
    "core.v1.NodeSelectorRequirement": "key operator",
    "core.v1.PreferredSchedulingTerm": "weight",
    "core.v1.WeightedPodAffinityTerm": "weight",
    "core.v1.PodAffinityTerm": "topologyKey",
    "core.v1.ContainerResizePolicy": "resourceName restartPolicy",
    "core.v1.ResourceClaim": "name",
    "core.v1.KeyToPath": "key path mode",
    "core.v1.SecretVolumeSource": "defaultMode optional",
    "core.v1.ConfigMapVolumeSource": "defaultMode optional",
    "core.v1.SecretProjection": "optional",
    "core.v1.ConfigMapProjection": "optional",
    "core.v1.HostPathVolumeSource": "path type",
    "core.v1.GCEPersistentDiskVolumeSource": "pdName",
    "core.v1.AWSElasticBlockStoreVolumeSource": "volumeID",
    "core.v1.NFSVolumeSource": "server path",
    "core.v1.ISCSIVolumeSource": "targetPortal iqn lun initiatorName",
    "core.v1.PersistentVolumeClaimVolumeSource": "claimName",
    "core.v1.DownwardAPIVolumeSource": "defaultMode",
    "core.v1.DownwardAPIVolumeFile": "path mode",
    "core.v1.ProjectedVolumeSource": "defaultMode",
    "core.v1.ServiceAccountTokenProjection": "expirationSeconds path",
    "core.v1.CSIVolumeSource": "driver readOnly fsType",
    "core.v1.ClusterTrustBundleProjection": "name signerName optional path",
    "core.v1.GitRepoVolumeSource": "repository",
    "core.v1.FCVolumeSource": "lun",
    "core.v1.AzureDiskVolumeSource": "diskName diskURI cachingMode fsType readOnly kind",
    "core.v1.AzureFileVolumeSource": "secretName shareName",
    "core.v1.FlexVolumeSource": "driver",
    "core.v1.GlusterfsVolumeSource": "endpoints path",
    "core.v1.RBDVolumeSource": "image",
    "core.v1.CinderVolumeSource": "volumeID",
    "core.v1.VsphereVirtualDiskVolumeSource": "volumePath",
    "core.v1.QuobyteVolumeSource": "registry volume",
    "core.v1.PhotonPersistentDiskVolumeSource": "pdID",
    "core.v1.PortworxVolumeSource": "volumeID",
    "core.v1.ScaleIOVolumeSource": "gateway system",
    # core/v1: status
    "core.v1.PodCondition": "type status",
    "core.v1.ContainerStatus": "name ready restartCount image imageID started stopSignal",
    "core.v1.ContainerStateTerminated": "exitCode",
    "core.v1.PodIP": "ip",
    "core.v1.HostIP": "ip",
    "core.v1.NodeCondition": "type status",
    "core.v1.NodeAddress": "type address",
    "core.v1.DaemonEndpoint": "Port",
    "core.v1.NodeSystemInfo": "machineID systemUUID bootID kernelVersion osImage "
    "containerRuntimeVersion kubeletVersion kubeProxyVersion operatingSystem architecture",
    "core.v1.AttachedVolume": "name devicePath",
    "core.v1.NodeRuntimeHandlerFeatures": "recursiveReadOnlyMounts userNamespaces",
    "core.v1.NodeFeatures": "supplementalGroupsPolicy",
    "core.v1.NodeSwapStatus": "capacity",
    "core.v1.Taint": "key effect",
    "core.v1.NamespaceCondition": "type status",
    "core.v1.PersistentVolumeClaimCondition": "type status",
    "core.v1.ReplicationControllerCondition": "type status",
    "core.v1.ComponentCondition": "type status",
    "core.v1.ModifyVolumeStatus": "status",
    # core/v1: other kinds
    "core.v1.ServiceSpec": "allocateLoadBalancerNodePorts ipFamilyPolicy internalTrafficPolicy "
    "loadBalancerClass trafficDistribution",
    "core.v1.ServicePort": "port appProtocol",
    "core.v1.ClientIPConfig": "timeoutSeconds",
    "core.v1.LoadBalancerIngress": "ipMode",
    "core.v1.PortStatus": "port protocol error",
    "core.v1.EndpointAddress": "ip nodeName",
    "core.v1.EndpointPort": "port appProtocol",
    "core.v1.Secret": "immutable",
    "core.v1.ConfigMap": "immutable",
    "core.v1.ServiceAccount": "automountServiceAccountToken",
    "core.v1.PersistentVolumeClaimSpec": "storageClassName volumeMode volumeAttributesClassName",
    "core.v1.PersistentVolumeClaimStatus": "currentVolumeAttributesClassName",
    "core.v1.PersistentVolumeSpec": "volumeMode volumeAttributesClassName",
    "core.v1.TypedLocalObjectReference": "apiGroup kind name",
    "core.v1.TypedObjectReference": "apiGroup kind name namespace",
    "core.v1.LimitRangeItem": "type",
    "core.v1.ScopedResourceSelectorRequirement": "scopeName operator",
    "core.v1.ReplicationControllerSpec": "replicas",
    "core.v1.ReplicationControllerStatus": "replicas",
    "core.v1.EventSeries": "count",
    # apps/v1
    "apps.v1.DeploymentSpec": "replicas revisionHistoryLimit progressDeadlineSeconds",
    "apps.v1.DeploymentStatus": "terminatingReplicas collisionCount",
    "apps.v1.DeploymentCondition": "type status",
    "apps.v1.ReplicaSetSpec": "replicas",
    "apps.v1.ReplicaSetStatus": "replicas terminatingReplicas",
    "apps.v1.ReplicaSetCondition": "type status",
    "apps.v1.StatefulSetSpec": "replicas revisionHistoryLimit",
    "apps.v1.StatefulSetStatus": "replicas availableReplicas collisionCount",
    "apps.v1.StatefulSetCondition": "type status",
    "apps.v1.RollingUpdateStatefulSetStrategy": "partition",
    "apps.v1.DaemonSetSpec": "revisionHistoryLimit",
    "apps.v1.DaemonSetStatus": "currentNumberScheduled numberMisscheduled "
    "desiredNumberScheduled numberReady collisionCount",
    "apps.v1.DaemonSetCondition": "type status",
    "apps.v1.ControllerRevision": "revision",
    # batch/v1
    "batch.v1.JobSpec": "parallelism completions activeDeadlineSeconds backoffLimit "
    "backoffLimitPerIndex maxFailedIndexes ttlSecondsAfterFinished completionMode suspend "
    "podReplacementPolicy manualSelector managedBy",
    "batch.v1.JobStatus": "ready terminating failedIndexes",
    "batch.v1.JobCondition": "type status",
    "batch.v1.PodFailurePolicyRule": "action",
    "batch.v1.PodFailurePolicyOnExitCodesRequirement": "containerName operator",
    "batch.v1.PodFailurePolicyOnPodConditionsPattern": "type status",
    "batch.v1.SuccessPolicyRule": "succeededIndexes succeededCount",
    "batch.v1.CronJobSpec": "schedule timeZone startingDeadlineSeconds suspend "
    "successfulJobsHistoryLimit failedJobsHistoryLimit",
    # networking/v1
    "networking.v1.IngressSpec": "ingressClassName",
    "networking.v1.IngressServiceBackend": "name",
    "networking.v1.HTTPIngressPath": "pathType",
    "networking.v1.IngressPortStatus": "port protocol error",
    "networking.v1.IngressClassParametersReference": "apiGroup kind name scope namespace",
    "networking.v1.NetworkPolicyPort": "protocol endPort",
    "networking.v1.IPBlock": "cidr",
    # policy/v1
    "policy.v1.PodDisruptionBudgetSpec": "unhealthyPodEvictionPolicy",
    "policy.v1.PodDisruptionBudgetStatus": "disruptionsAllowed currentHealthy desiredHealthy "
    "expectedPods",
    # rbac/v1
    "rbac.v1.Subject": "kind name",
    "rbac.v1.RoleRef": "apiGroup kind name",
    # storage/v1
    "storage.v1.StorageClass": "provisioner reclaimPolicy allowVolumeExpansion volumeBindingMode",
    # scheduling/v1
    "scheduling.v1.PriorityClass": "value preemptionPolicy",
    # coordination/v1
    "coordination.v1.LeaseSpec": "holderIdentity leaseDurationSeconds leaseTransitions "
    "strategy preferredHolder",
    # discovery/v1
    "discovery.v1.EndpointSlice": "addressType",
    "discovery.v1.Endpoint": "hostname nodeName zone",
    "discovery.v1.EndpointConditions": "ready serving terminating",
    "discovery.v1.EndpointPort": "name protocol port appProtocol",
    "discovery.v1.ForZone": "name",
    "discovery.v1.ForNode": "name",
    # events/v1
    "events.v1.EventSeries": "count",
    # authentication/v1
    "authentication.v1.TokenRequestSpec": "expirationSeconds",
    "authentication.v1.TokenRequestStatus": "token",
    # authorization/v1
    "authorization.v1.SubjectAccessReviewStatus": "allowed",
    "authorization.v1.SubjectRulesReviewStatus": "incomplete",
    # autoscaling/v1 and v2
    "autoscaling.v1.ScaleStatus": "replicas",
    "autoscaling.v1.CrossVersionObjectReference": "kind name",
    "autoscaling.v1.HorizontalPodAutoscalerSpec": "minReplicas maxReplicas "
    "targetCPUUtilizationPercentage",
    "autoscaling.v1.HorizontalPodAutoscalerStatus": "observedGeneration currentReplicas "
    "desiredReplicas currentCPUUtilizationPercentage",
    "autoscaling.v2.HorizontalPodAutoscalerSpec": "minReplicas maxReplicas",
    "autoscaling.v2.HorizontalPodAutoscalerStatus": "observedGeneration desiredReplicas",
    "autoscaling.v2.CrossVersionObjectReference": "kind name",
    "autoscaling.v2.MetricSpec": "type",
    "autoscaling.v2.MetricStatus": "type",
    "autoscaling.v2.MetricTarget": "type averageUtilization",
    "autoscaling.v2.MetricValueStatus": "averageUtilization",
    "autoscaling.v2.MetricIdentifier": "name",
    "autoscaling.v2.ResourceMetricSource": "name",
    "autoscaling.v2.ResourceMetricStatus": "name",
    "autoscaling.v2.ContainerResourceMetricSource": "name container",
    "autoscaling.v2.ContainerResourceMetricStatus": "name container",
    "autoscaling.v2.HPAScalingRules": "stabilizationWindowSeconds selectPolicy",
    "autoscaling.v2.HPAScalingPolicy": "type value periodSeconds",
    "autoscaling.v2.HorizontalPodAutoscalerCondition": "type status",
}


def short_name(full: str) -> str:
    """`k8s.io.api.core.v1.PodSpec` -> `core.v1.PodSpec`; meta types -> `meta.v1.X`."""
    for prefix in ("k8s.io.api.", "k8s.io.apimachinery.pkg.apis."):
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full


def package_api_version(package: str) -> str | None:
    """The apiVersion a message package serves (`k8s.io.api.apps.v1` -> `apps/v1`)."""
    if package == META:
        return "meta.k8s.io/v1"
    parts = package.split(".")
    if package.startswith("k8s.io.api.") and len(parts) == 5:
        name, version = parts[3], parts[4]
        group = GROUPS.get(name, f"{name}.k8s.io")
        return f"{group}/{version}" if group else version
    return None


# Field flags.
REPEATED = 1
KEEP = 2  # a zero scalar stays in JSON (KEEP_ZERO)
INLINE_FLAG = 4  # an embedded struct whose fields JSON flattens into the enclosing object

Field = tuple[int, str, str, str | None, int]  # number, JSON name, kind, message ref, flags


def build(table: dict[str, Any]) -> tuple[dict[str, list[Field]], dict[str, str]]:
    """(message -> fields sorted by number, apiVersion -> package)."""
    messages = table["messages"]
    keep = {name: set(fields.split()) for name, fields in KEEP_ZERO.items()}
    seen_keep: set[tuple[str, str]] = set()
    seen_inline: set[str] = set()
    out: dict[str, list[Field]] = {}
    for name, message in sorted(messages.items()):
        fields: list[Field] = []
        keep_here = keep.get(short_name(name), set())
        for number, proto_name, type_, ref, label in message["fields"]:
            field_name = JSON_NAMES.get(proto_name, proto_name)
            repeated = label == "repeated"
            if type_ in SCALARS:
                kind, ref = SCALARS[type_], None
            elif type_ != "message":
                raise SystemExit(f"{name}.{field_name}: unsupported type {type_}")
            elif ref in SPECIAL:
                kind, ref = SPECIAL[ref], None
            elif ref.rsplit(".", 1)[-1] in STRING_LIST_NAMES:
                kind, ref = "STRING_LIST", None
            elif messages[ref].get("map_entry"):
                kind, repeated = "MAP", False
            else:
                kind = "MESSAGE"
            flags = REPEATED if repeated else 0
            if field_name in keep_here:
                if kind not in ("STRING", "BOOL", "INT32", "INT64") or repeated:
                    raise SystemExit(f"KEEP_ZERO: {name}.{field_name} is not a scalar")
                seen_keep.add((short_name(name), field_name))
                flags |= KEEP
            if INLINE.get(short_name(name)) == field_name:
                if kind != "MESSAGE" or repeated:
                    raise SystemExit(f"INLINE: {name}.{field_name} is not a message")
                seen_inline.add(short_name(name))
                flags |= INLINE_FLAG
            fields.append((number, field_name, kind, ref, flags))
        fields.sort()
        out[name] = fields
    missing = {(m, f) for m, names in keep.items() for f in names} - seen_keep
    if missing:
        raise SystemExit(f"KEEP_ZERO names fields that do not exist: {sorted(missing)}")
    if set(INLINE) - seen_inline:
        raise SystemExit(f"INLINE names fields that do not exist: {set(INLINE) - seen_inline}")
    packages = {name.rsplit(".", 1)[0] for name in messages if not messages[name].get("map_entry")}
    versions: dict[str, str] = {}
    for package in sorted(packages):
        api_version = package_api_version(package)
        if api_version is not None:
            versions[api_version] = package
    return out, versions


def python_module(messages: dict[str, list[Field]], versions: dict[str, str], source: str) -> str:
    lines = [
        "# ruff: noqa: E501",
        '"""Schema tables of the Kubernetes protobuf codec. GENERATED: do not edit.',
        "",
        f"Generated by tools/gen_proto_schema.py from {source};",
        "regenerate with `.venv/bin/python tools/gen_proto_schema.py`.",
        "",
        "`MESSAGES` maps each message's full protobuf name to its fields, sorted by number:",
        "(number, JSON name, kind, message name of MESSAGE and MAP fields, flags).",
        "`API_VERSIONS` maps an apiVersion to the package of its kinds; `META_KINDS` are the",
        "meta.k8s.io/v1 kinds every group version serves. The generator says what kinds and flags",
        "mean; rust/src/proto_schema.rs holds the same table.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
    ]
    lines += [f"{kind}: Final = {code}" for code, kind in enumerate(KINDS)]
    lines += [
        "",
        f"REPEATED: Final = {REPEATED}",
        f"KEEP: Final = {KEEP}",
        f"INLINE: Final = {INLINE_FLAG}",
        "",
        "Field = tuple[int, str, int, str | None, int]",
        "",
        f'META_PACKAGE: Final = "{META}"',
        "META_KINDS: Final = frozenset(",
        "    (",
        *(f'        "{kind}",' for kind in sorted(META_KINDS)),
        "    )",
        ")",
        "",
        "API_VERSIONS: Final[dict[str, str]] = {",
        *(f'    "{api_version}": "{package}",' for api_version, package in versions.items()),
        "}",
        "",
        "# fmt: off",
        "MESSAGES: Final[dict[str, tuple[Field, ...]]] = {",
    ]
    for name, fields in messages.items():
        lines.append(f'    "{name}": (')
        for number, field_name, kind, ref, flags in fields:
            ref_text = f'"{ref}"' if ref is not None else "None"
            lines.append(f'        ({number}, "{field_name}", {kind}, {ref_text}, {flags}),')
        lines.append("    ),")
    lines += ["}", "# fmt: on", ""]
    return "\n".join(lines)


def rust_module(messages: dict[str, list[Field]], versions: dict[str, str], source: str) -> str:
    index = {name: i for i, name in enumerate(messages)}
    lines = [
        "//! Schema tables of the Kubernetes protobuf codec. GENERATED: do not edit.",
        "//!",
        f"//! Generated by tools/gen_proto_schema.py from {source};",
        "//! regenerate with `.venv/bin/python tools/gen_proto_schema.py`. The same table as",
        "//! src/kube/native/proto_schema.py: `MESSAGES[i].fields` is a range of `FIELDS` (sorted",
        "//! by number), and a field's `message` indexes `MESSAGES`.",
        "",
        "use crate::protobuf::{Field, Kind, Message};",
        "",
        f'pub const META_PACKAGE: &str = "{META}";',
        "",
        f"pub static META_KINDS: [&str; {len(META_KINDS)}] = [",
        *(f'    "{kind}",' for kind in sorted(META_KINDS)),
        "];",
        "",
        "#[rustfmt::skip]",
        f"pub static API_VERSIONS: [(&str, &str); {len(versions)}] = [",
        *(f'    ("{v}", "{p}"),' for v, p in versions.items()),
        "];",
        "",
    ]
    field_lines: list[str] = []
    message_lines: list[str] = []
    for name, fields in messages.items():
        start = len(field_lines)
        for number, field_name, kind, ref, flags in fields:
            camel = "".join(part.capitalize() for part in kind.split("_"))
            message = index[ref] if ref is not None else 0
            field_lines.append(
                f'    Field {{ number: {number}, name: "{field_name}", kind: Kind::{camel}, '
                f"message: {message}, flags: {flags} }},"
            )
        message_lines.append(
            f'    Message {{ name: "{name}", fields: {start}..{len(field_lines)} }},'
        )
    lines += ["#[rustfmt::skip]"]
    lines += [f"pub static FIELDS: [Field; {len(field_lines)}] = [", *field_lines, "];", ""]
    lines += ["#[rustfmt::skip]"]
    lines += [f"pub static MESSAGES: [Message; {len(message_lines)}] = [", *message_lines, "];"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_INPUT
    table = json.loads(source.read_text())
    messages, versions = build(table)
    label = f"shared/testdata/wire-schemas/{source.name}"
    PY_OUT.write_text(python_module(messages, versions, label))
    RS_OUT.write_text(rust_module(messages, versions, label))
    print(f"{len(messages)} messages, {len(versions)} group versions -> {PY_OUT}, {RS_OUT}")


if __name__ == "__main__":
    main(sys.argv)
