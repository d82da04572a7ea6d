"""The built-in resources this server serves: one row each, as upstream kube-apiserver serves them.

Every fact in a row is upstream's: names, verbs, short names, categories, subresources with
their verbs and response kinds (from the APIResourceLists a 1.3x kube-apiserver answers), the
storage prefix (`SpecialDefaultResourcePrefixes`), the storage version and whether DELETE
returns the object (`ReturnDeletedObject`). Discovery, OpenAPI, routing and the generic store
read them from here; nothing else lists resources.

Adding a kind is adding a row (and, for OpenAPI, nothing more: its schema is looked up by
group/version/kind). Module-level helpers (`get`, `resolve`, `groups`, ...) ask `REGISTRY`.
"""

from __future__ import annotations

from kube.api.registry import (
    ALL_VERBS,
    CREATE_ONLY,
    Group,
    Registry,
    Resource,
    Subresource,
    TableColumn,
)

__all__ = [
    "ALL_VERBS",
    "CREATE_ONLY",
    "REGISTRY",
    "Group",
    "Registry",
    "Resource",
    "Subresource",
    "TableColumn",
    "by_kind",
    "for_kind",
    "get",
    "groups",
    "resolve",
]

_RW = ("get", "patch", "update")
STATUS = Subresource("status", _RW)
# Scale is served by every scalable kind as autoscaling/v1 Scale.
SCALE = Subresource("scale", _RW, kind="Scale", group="autoscaling", version="v1")
_STATUS_SCALE = (SCALE, STATUS)
_CONNECT = ("create", "get")

_POD_SUBRESOURCES = (
    Subresource("attach", _CONNECT, kind="PodAttachOptions"),
    Subresource("binding", CREATE_ONLY, kind="Binding"),
    Subresource("ephemeralcontainers", _RW),
    Subresource("eviction", CREATE_ONLY, kind="Eviction", group="policy", version="v1"),
    Subresource("exec", _CONNECT, kind="PodExecOptions"),
    Subresource("log", ("get",)),
    Subresource("portforward", _CONNECT, kind="PodPortForwardOptions"),
    STATUS,
)
_TOKEN = Subresource(
    "token", CREATE_ONLY, kind="TokenRequest", group="authentication.k8s.io", version="v1"
)
# Any request under nodes/{name}/proxy/ goes to the node's kubelet (kube.apiserver.proxy).
_NODE_PROXY = Subresource(
    "proxy", ("create", "delete", "get", "patch", "update"), kind="NodeProxyOptions"
)
_NAMESPACE_SUBRESOURCES = (Subresource("finalize", ("update",)), STATUS)
_NS_VERBS = tuple(v for v in ALL_VERBS if v != "deletecollection")
_ALL = ("all",)

_N, _C = True, False  # namespaced, cluster-scoped

# fmt: off
ROWS: tuple[Resource, ...] = (
    # core/v1
    Resource("", "v1", "Binding", "bindings", "binding", _N, CREATE_ONLY),
    Resource("", "v1", "ConfigMap", "configmaps", "configmap", _N, ALL_VERBS, ("cm",)),
    Resource("", "v1", "Endpoints", "endpoints", "endpoints", _N, ALL_VERBS, ("ep",),
             storage_prefix="services/endpoints"),
    Resource("", "v1", "Event", "events", "event", _N, ALL_VERBS, ("ev",)),
    Resource("", "v1", "LimitRange", "limitranges", "limitrange", _N, ALL_VERBS, ("limits",)),
    Resource("", "v1", "Namespace", "namespaces", "namespace", _C, _NS_VERBS, ("ns",),
             subresources=_NAMESPACE_SUBRESOURCES),
    Resource("", "v1", "Node", "nodes", "node", _C, ALL_VERBS, ("no",),
             subresources=(_NODE_PROXY, STATUS), storage_prefix="minions"),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim",
             _N, ALL_VERBS, ("pvc",), subresources=(STATUS,), delete_returns_object=True),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", _C,
             ALL_VERBS, ("pv",), subresources=(STATUS,), delete_returns_object=True),
    Resource("", "v1", "Pod", "pods", "pod", _N, ALL_VERBS, ("po",), _ALL, _POD_SUBRESOURCES,
             delete_returns_object=True),
    Resource("", "v1", "PodTemplate", "podtemplates", "podtemplate", _N, ALL_VERBS,
             delete_returns_object=True),
    Resource("", "v1", "ReplicationController", "replicationcontrollers",
             "replicationcontroller", _N, ALL_VERBS, ("rc",), _ALL, _STATUS_SCALE,
             storage_prefix="controllers"),
    Resource("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", _N, ALL_VERBS,
             ("quota",), subresources=(STATUS,), delete_returns_object=True),
    Resource("", "v1", "Secret", "secrets", "secret", _N, ALL_VERBS),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", _N, ALL_VERBS,
             ("sa",), subresources=(_TOKEN,), delete_returns_object=True),
    Resource("", "v1", "Service", "services", "service", _N, ALL_VERBS, ("svc",), _ALL,
             (STATUS,), storage_prefix="services/specs", delete_returns_object=True),
    # apps/v1
    Resource("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision",
             _N, ALL_VERBS),
    Resource("apps", "v1", "DaemonSet", "daemonsets", "daemonset", _N, ALL_VERBS, ("ds",),
             _ALL, (STATUS,)),
    Resource("apps", "v1", "Deployment", "deployments", "deployment", _N, ALL_VERBS,
             ("deploy",), _ALL, _STATUS_SCALE),
    Resource("apps", "v1", "ReplicaSet", "replicasets", "replicaset", _N, ALL_VERBS, ("rs",),
             _ALL, _STATUS_SCALE),
    Resource("apps", "v1", "StatefulSet", "statefulsets", "statefulset", _N, ALL_VERBS,
             ("sts",), _ALL, _STATUS_SCALE),
    # events.k8s.io/v1: the same objects as core Events, stored in the core v1 form.
    Resource("events.k8s.io", "v1", "Event", "events", "event", _N, ALL_VERBS, ("ev",),
             storage_version="v1"),
    # authentication.k8s.io/v1
    Resource("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews",
             "selfsubjectreview", _C, CREATE_ONLY),
    Resource("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", "tokenreview", _C,
             CREATE_ONLY),
    # authorization.k8s.io/v1
    Resource("authorization.k8s.io", "v1", "LocalSubjectAccessReview",
             "localsubjectaccessreviews", "localsubjectaccessreview", _N, CREATE_ONLY),
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview",
             "selfsubjectaccessreviews", "selfsubjectaccessreview", _C, CREATE_ONLY),
    Resource("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
             "selfsubjectrulesreview", _C, CREATE_ONLY),
    Resource("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews",
             "subjectaccessreview", _C, CREATE_ONLY),
    # autoscaling/v2 (not v1: both would share storage and need conversion)
    Resource("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
             "horizontalpodautoscaler", _N, ALL_VERBS, ("hpa",), _ALL, (STATUS,)),
    # batch/v1
    Resource("batch", "v1", "CronJob", "cronjobs", "cronjob", _N, ALL_VERBS, ("cj",), _ALL,
             (STATUS,)),
    Resource("batch", "v1", "Job", "jobs", "job", _N, ALL_VERBS, (), _ALL, (STATUS,)),
    # networking.k8s.io/v1
    Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", _C,
             ALL_VERBS),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", _N, ALL_VERBS,
             ("ing",), subresources=(STATUS,), storage_prefix="ingress"),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy",
             _N, ALL_VERBS, ("netpol",)),
    # policy/v1
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
             "poddisruptionbudget", _N, ALL_VERBS, ("pdb",), subresources=(STATUS,)),
    # rbac.authorization.k8s.io/v1
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
             "clusterrolebinding", _C, ALL_VERBS),
    Resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole",
             _C, ALL_VERBS),
    Resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding",
             _N, ALL_VERBS),
    Resource("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", _N, ALL_VERBS),
    # storage.k8s.io/v1
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", _C,
             ALL_VERBS, ("sc",), delete_returns_object=True),
    # scheduling.k8s.io/v1
    Resource("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass",
             _C, ALL_VERBS, ("pc",)),
    # coordination.k8s.io/v1
    Resource("coordination.k8s.io", "v1", "Lease", "leases", "lease", _N, ALL_VERBS),
    # discovery.k8s.io/v1
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", _N,
             ALL_VERBS),
    # apiextensions.k8s.io/v1: definitions are stored and listed (kubectl lists them to decide
    # how to validate a kind its OpenAPI lacks); custom resources are not served yet.
    Resource("apiextensions.k8s.io", "v1", "CustomResourceDefinition",
             "customresourcedefinitions", "customresourcedefinition", _C, ALL_VERBS,
             ("crd", "crds"), ("api-extensions",), (STATUS,)),
)
# fmt: on

REGISTRY = Registry(ROWS)


def get(group: str, version: str, plural: str) -> Resource | None:
    """The served row behind `/api[s]/<group>/<version>/.../<plural>`, or None."""
    return REGISTRY.get(group, version, plural)


def for_kind(group: str, version: str, kind: str) -> Resource | None:
    return REGISTRY.for_kind(group, version, kind)


def by_kind(kind: str, group: str | None = None) -> Resource | None:
    return REGISTRY.by_kind(kind, group)


def resolve(name: str, group: str | None = None) -> Resource | None:
    """The row kubectl would pick for `name` (`po`, `pods`, `Pod`, `deployments.apps`...)."""
    return REGISTRY.resolve(name, group)


def resource(name: str, group: str | None = None) -> Resource:
    """Like `resolve`, for names the code knows are served: a KeyError if not."""
    row = REGISTRY.resolve(name, group)
    if row is None:
        raise KeyError(f"no served resource {name!r}")
    return row


def groups() -> tuple[Group, ...]:
    return REGISTRY.groups()
