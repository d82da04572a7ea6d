"""The shape of the resource registry: what one served resource is, and how clients find it.

A `Resource` row says everything the rest of the server needs to know about a REST resource
that does not depend on the object's content: its group/version/kind, the URL segment
(`plural`), its scope, the verbs it answers, the names kubectl accepts for it, its
subresources and where its objects live in storage. Discovery, OpenAPI, request routing,
RBAC and the generic store all derive from these rows, so adding a kind is adding a row (see
`kube.api.resources`).

`Registry` indexes a set of rows and answers the lookups the server and clients make:

- by URL: `get(group, version, plural)`;
- by type: `for_kind(group, version, kind)` and `by_kind(kind, group)`;
- by what a user typed: `resolve("po")`, `resolve("deployments.apps")`,
  `resolve("deploy.v1.apps")`, following kubectl's order (fully qualified forms first, then
  short names, then plural / singular / kind, the first match in group priority order);
- `groups()`: every group with its versions, preferred version first, core first and then in
  upstream's discovery order (the aggregator's group priorities).

Storage keys follow upstream: `/registry/<prefix>/<namespace>/<name>` for namespaced objects,
`/registry/<prefix>/<name>` otherwise. The prefix is the plural unless upstream compiled in an
exception (nodes are `minions`, services `services/specs`, ...). Two rows with one prefix
share their objects: they are stored in `storage_version`'s form and converted on the way in
and out (core and events.k8s.io Events).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# The verbs of an ordinary stored resource, in the sorted order discovery reports them.
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CREATE_ONLY = ("create",)

# The aggregator's group priorities (kube-aggregator `apiVersionPriorities`): discovery lists
# groups in descending priority, ties broken by name. Unknown groups sort after these.
GROUP_PRIORITY: dict[str, int] = {
    "": 18000,
    "apiregistration.k8s.io": 17800,
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "autoscaling": 17500,
    "batch": 17400,
    "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200,
    "policy": 17100,
    "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700,
    "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600,
    "coordination.k8s.io": 16500,
    "node.k8s.io": 16300,
    "discovery.k8s.io": 16200,
    "flowcontrol.apiserver.k8s.io": 16100,
    "internal.apiserver.k8s.io": 16000,
    "resource.k8s.io": 15900,
    "storagemigration.k8s.io": 15800,
}

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """A sort key putting versions in kube-aware preference order (smallest key first).

    GA before beta before alpha, higher numbers first within each (v2, v1, v1beta2, v1beta1,
    v1alpha1), and anything that is not a Kubernetes version last, by name.
    """
    m = _KUBE_VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor, version)


def group_priority(group: str) -> tuple[int, str]:
    """Sort key for groups: core first, then upstream's discovery order, then by name."""
    return (-GROUP_PRIORITY.get(group, 0), group)


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's `discovery.StorageVersionHash`: base64 of sha256("group/version/kind")[:8]."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


@dataclass(frozen=True)
class Subresource:
    """A subresource of a resource (`pods/status`, `deployments/scale`, `pods/exec`).

    `kind`, `group` and `version` name the type it reads and writes; empty means the parent's
    (status is the parent kind itself; scale is autoscaling/v1 Scale; eviction policy/v1).
    """

    name: str
    verbs: tuple[str, ...]
    kind: str = ""
    group: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class TableColumn:
    """A server-side printing column (`kubectl get`), as in a CRD's additionalPrinterColumns."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class Resource:
    """One served REST resource at one group/version: a row of the registry.

    Positional fields follow upstream's discovery `APIResource`. The keyword-only tail has
    defaults derived from the rest: `list_kind` is `<Kind>List`, `storage_prefix` the plural,
    `storage_version` the row's own group/version.
    """

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    list_kind: str = ""
    table_columns: tuple[TableColumn, ...] = ()
    # Key segment after /registry/ (upstream's SpecialDefaultResourcePrefixes when not plural).
    storage_prefix: str = ""
    # "group/version" (core: "v1") the objects are stored in, when shared with another row.
    storage_version: str = ""
    # DELETE answers with the deleted object rather than a Status (upstream ReturnDeletedObject).
    delete_returns_object: bool = False
    _subresources: dict[str, Subresource] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        derived = {
            "list_kind": self.list_kind or f"{self.kind}List",
            "storage_prefix": self.storage_prefix or self.plural,
            "storage_version": self.storage_version or self.api_version,
            "_subresources": {s.name: s for s in self.subresources},
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    @property
    def api_version(self) -> str:
        """The `apiVersion` of the objects: `v1` for core, `group/version` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    @property
    def scope(self) -> str:
        """`Namespaced` or `Cluster`, as aggregated discovery spells it."""
        return "Namespaced" if self.namespaced else "Cluster"

    @property
    def stored(self) -> bool:
        """Whether objects persist. Create-only resources (reviews, bindings) are virtual."""
        return "get" in self.verbs or "list" in self.verbs

    @property
    def storage_version_hash(self) -> str:
        """Discovery's `storageVersionHash`; empty for virtual resources (as upstream)."""
        if not self.stored:
            return ""
        group, _, version = self.storage_version.rpartition("/")
        return storage_version_hash(group, version, self.kind)

    def subresource(self, name: str) -> Subresource | None:
        return self._subresources.get(name)

    def response_kind(self, sub: Subresource) -> tuple[str, str, str]:
        """The (group, version, kind) a subresource reads and writes."""
        return (
            self.group if sub.group is None else sub.group,
            self.version if sub.version is None else sub.version,
            sub.kind or self.kind,
        )

    def key(self, namespace: str, name: str) -> str:
        """The storage key of one object (`namespace` is ignored for cluster-scoped rows)."""
        if self.namespaced:
            return f"/registry/{self.storage_prefix}/{namespace}/{name}"
        return f"/registry/{self.storage_prefix}/{name}"

    def prefix(self, namespace: str | None = None) -> str:
        """The key prefix of a collection, ending in `/` so that `ns` never matches `ns2`."""
        if self.namespaced and namespace:
            return f"/registry/{self.storage_prefix}/{namespace}/"
        return f"/registry/{self.storage_prefix}/"

    def path(self, namespace: str | None = None, name: str = "", subresource: str = "") -> str:
        """The URL of the collection, an object or one of its subresources."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        url = f"{root}/{self.plural}"
        if name:
            url += f"/{name}"
            if subresource:
                url += f"/{subresource}"
        return url


@dataclass(frozen=True)
class Group:
    """A served API group: its versions in preference order (the first is preferred)."""

    name: str
    versions: tuple[str, ...]

    @property
    def preferred_version(self) -> str:
        return self.versions[0]

    def group_version(self, version: str) -> str:
        return f"{self.name}/{version}" if self.name else version


class Registry:
    """An index over resource rows; rows are immutable, so the index never goes stale.

    Rows are checked on construction: a (group, version, plural) or (group, version, kind)
    served twice is an error, as is a shared storage prefix without a common storage version.
    """

    def __init__(self, rows: Iterable[Resource]) -> None:
        self._rows: tuple[Resource, ...] = tuple(rows)
        self._by_gvr: dict[tuple[str, str, str], Resource] = {}
        self._by_gvk: dict[tuple[str, str, str], Resource] = {}
        storage: dict[str, str] = {}
        for row in self._rows:
            gvr, gvk = (row.group, row.version, row.plural), (row.group, row.version, row.kind)
            if gvr in self._by_gvr or gvk in self._by_gvk:
                raise ValueError(f"resource served twice: {row.api_version} {row.plural}")
            self._by_gvr[gvr], self._by_gvk[gvk] = row, row
            shared = storage.setdefault(row.storage_prefix, row.storage_version)
            if shared != row.storage_version:
                raise ValueError(
                    f"{row.plural} ({row.api_version}) shares /registry/{row.storage_prefix}/ "
                    f"but stores {row.storage_version}, not {shared}"
                )
        versions: dict[str, set[str]] = {}
        self._by_gv: dict[tuple[str, str], list[Resource]] = {}
        for row in sorted(self._rows, key=lambda r: r.plural):
            versions.setdefault(row.group, set()).add(row.version)
            self._by_gv.setdefault(row.group_version, []).append(row)
        self._groups = tuple(
            Group(name, tuple(sorted(versions[name], key=version_priority)))
            for name in sorted(versions, key=group_priority)
        )
        self._group_index = {g.name: g for g in self._groups}
        # Resolution order: core first, groups by priority, preferred version first.
        self._ordered = tuple(
            r for g in self._groups for v in g.versions for r in self._by_gv[(g.name, v)]
        )

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def groups(self) -> tuple[Group, ...]:
        """Served groups, core ("") first, then in upstream's discovery order."""
        return self._groups

    def group(self, name: str) -> Group | None:
        return self._group_index.get(name)

    def resources(self, group: str, version: str) -> list[Resource]:
        """The rows served at one group/version, sorted by plural (discovery's order)."""
        return list(self._by_gv.get((group, version), ()))

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        """The row behind a URL segment, or None when it is not served."""
        return self._by_gvr.get((group, version, plural))

    def for_kind(self, group: str, version: str, kind: str) -> Resource | None:
        return self._by_gvk.get((group, version, kind))

    def by_kind(self, kind: str, group: str | None = None) -> Resource | None:
        """The preferred row for a kind, optionally within one group.

        `Event` alone is the core Event (core is first); `by_kind("Event", "events.k8s.io")`
        the other one.
        """
        for row in self._ordered:
            if row.kind == kind and (group is None or row.group == group):
                return row
        return None

    def resolve(self, name: str, group: str | None = None) -> Resource | None:
        """What kubectl means by a resource argument (`po`, `Pods`, `deploy.apps`, ...).

        1. `resource.version.group` and then `resource.group` forms (for a dotted name);
        2. short names, in group priority order (so `ev` is the core Event);
        3. plural, singular or kind, case-insensitively, in the same order.
        """
        text = name.strip().lower()
        if not text:
            return None
        if group is None and "." in text:
            resource, _, rest = text.partition(".")
            version, _, qualified_group = rest.partition(".")
            if qualified_group:
                row = self._match(resource, qualified_group, version)
                if row is not None:
                    return row
            return self._match(resource, rest, None)
        return self._match(text, group, None)

    def _match(self, text: str, group: str | None, version: str | None) -> Resource | None:
        candidates = [
            r
            for r in self._ordered
            if (group is None or r.group == group) and (version is None or r.version == version)
        ]
        for row in candidates:
            if text in row.short_names:
                return row
        for row in candidates:
            if text in (row.plural, row.singular, row.kind.lower()):
                return row
        return None
