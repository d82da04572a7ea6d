"""The resource registry: rows as upstream serves them, and the lookups on them.

The expected values below are upstream facts, as a real kube-apiserver reports them in
discovery (`kubectl api-resources`, `/api/v1`): short names, categories, verbs, subresources,
storage prefixes and the storage version hashes.
"""

from __future__ import annotations

import pytest

from kube.api import resources
from kube.api.registry import (
    ALL_VERBS,
    Registry,
    Resource,
    Subresource,
    storage_version_hash,
    version_priority,
)
from kube.api.resources import REGISTRY

KNOWN_VERBS = set(ALL_VERBS)

# (api_version, plural): short names, categories (upstream `kubectl api-resources`).
NAMES = {
    ("v1", "pods"): (("po",), ("all",)),
    ("v1", "services"): (("svc",), ("all",)),
    ("v1", "replicationcontrollers"): (("rc",), ("all",)),
    ("v1", "configmaps"): (("cm",), ()),
    ("v1", "namespaces"): (("ns",), ()),
    ("v1", "nodes"): (("no",), ()),
    ("v1", "endpoints"): (("ep",), ()),
    ("v1", "serviceaccounts"): (("sa",), ()),
    ("v1", "events"): (("ev",), ()),
    ("v1", "limitranges"): (("limits",), ()),
    ("v1", "resourcequotas"): (("quota",), ()),
    ("v1", "persistentvolumes"): (("pv",), ()),
    ("v1", "persistentvolumeclaims"): (("pvc",), ()),
    ("v1", "secrets"): ((), ()),
    ("apps/v1", "deployments"): (("deploy",), ("all",)),
    ("apps/v1", "replicasets"): (("rs",), ("all",)),
    ("apps/v1", "statefulsets"): (("sts",), ("all",)),
    ("apps/v1", "daemonsets"): (("ds",), ("all",)),
    ("apps/v1", "controllerrevisions"): ((), ()),
    ("batch/v1", "jobs"): ((), ("all",)),
    ("batch/v1", "cronjobs"): (("cj",), ("all",)),
    ("autoscaling/v2", "horizontalpodautoscalers"): (("hpa",), ("all",)),
    ("policy/v1", "poddisruptionbudgets"): (("pdb",), ()),
    ("networking.k8s.io/v1", "ingresses"): (("ing",), ()),
    ("networking.k8s.io/v1", "networkpolicies"): (("netpol",), ()),
    ("networking.k8s.io/v1", "ingressclasses"): ((), ()),
    ("storage.k8s.io/v1", "storageclasses"): (("sc",), ()),
    ("scheduling.k8s.io/v1", "priorityclasses"): (("pc",), ()),
    ("events.k8s.io/v1", "events"): (("ev",), ()),
    ("coordination.k8s.io/v1", "leases"): ((), ()),
    ("discovery.k8s.io/v1", "endpointslices"): ((), ()),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"): (
        ("crd", "crds"),
        ("api-extensions",),
    ),
}

# storageVersionHash values a kube-apiserver reports in discovery.
UPSTREAM_HASHES = {
    "configmaps": "qFsyl6wFWjQ=", "endpoints": "fWeeMqaN/OA=", "events": "r2yiGXH7wu8=",
    "limitranges": "EBKMFVe6cwo=", "namespaces": "Q3oi5N2YM8M=", "nodes": "XwShjMxG9Fs=",
    "persistentvolumeclaims": "QWTyNDq0dC4=", "persistentvolumes": "HN/zwEC+JgM=",
    "pods": "xPOwRZ+Yhw8=", "podtemplates": "LIXB2x4IFpk=",
    "replicationcontrollers": "Jond2If31h0=", "resourcequotas": "8uhSgffRX6w=",
    "secrets": "S6u1pOWzb84=", "serviceaccounts": "pbx9ZvyFpBE=", "services": "0/CO1lhkEBI=",
    "controllerrevisions": "85nkx63pcBU=", "daemonsets": "dd7pWHUlMKQ=",
    "deployments": "8aSe+NMegvE=", "replicasets": "P1RzHs8/mWQ=", "statefulsets": "H+vl74LkKdo=",
    "horizontalpodautoscalers": "qwQve8ut294=", "cronjobs": "sd5LIXh4Fjs=",
    "jobs": "mudhfqk/qZY=", "ingressclasses": "l/iqIbDgFyQ=", "ingresses": "39NQlfNR+bo=",
    "clusterrolebindings": "48tpQ8gZHFc=", "clusterroles": "bYE5ZWDrJ44=",
    "rolebindings": "eGsCzGH6b1g=", "roles": "7FuwZcIIItM=", "storageclasses": "K+m6uJwbjGY=",
    "priorityclasses": "1QwjyaZjj3Y=", "endpointslices": "qgS0xkrxYAI=",
    "poddisruptionbudgets": "EVWiDmWqyJw=",
}  # fmt: skip


def row(api_version: str, plural: str) -> Resource:
    group, _, version = api_version.rpartition("/")
    found = REGISTRY.get(group, version, plural)
    assert found is not None, f"{api_version} {plural} is not served"
    return found


def test_every_row_is_well_formed() -> None:
    for r in REGISTRY:
        assert set(r.verbs) <= KNOWN_VERBS, r
        assert list(r.verbs) == sorted(r.verbs), f"{r.plural}: discovery lists verbs sorted"
        assert r.plural == r.plural.lower()
        assert r.singular == r.singular.lower()
        assert r.list_kind == f"{r.kind}List"
        for sub in r.subresources:
            assert set(sub.verbs) <= KNOWN_VERBS, (r.plural, sub)


@pytest.mark.parametrize(("key", "expected"), NAMES.items(), ids=lambda v: str(v))
def test_names_and_categories_are_upstreams(
    key: tuple[str, str], expected: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    r = row(*key)
    assert (r.short_names, r.categories) == expected


def test_storage_version_hashes_are_upstreams() -> None:
    for r in REGISTRY:
        if r.plural in UPSTREAM_HASHES:
            assert r.storage_version_hash == UPSTREAM_HASHES[r.plural], r.api_version + r.plural
    assert storage_version_hash("", "v1", "Pod") == "xPOwRZ+Yhw8="
    # Virtual (create-only) resources have none, as upstream.
    assert row("v1", "bindings").storage_version_hash == ""
    assert row("authorization.k8s.io/v1", "selfsubjectaccessreviews").storage_version_hash == ""


def test_verbs_follow_upstream() -> None:
    assert row("v1", "pods").verbs == ALL_VERBS
    assert "deletecollection" not in row("v1", "namespaces").verbs
    assert row("v1", "bindings").verbs == ("create",)
    for plural in ("selfsubjectaccessreviews", "subjectaccessreviews"):
        assert row("authorization.k8s.io/v1", plural).verbs == ("create",)
    for plural in ("tokenreviews", "selfsubjectreviews"):
        r = row("authentication.k8s.io/v1", plural)
        assert r.verbs == ("create",)
        assert not r.namespaced


def sub(api_version: str, plural: str, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    r = row(api_version, plural)
    s = r.subresource(name)
    assert s is not None, f"{plural}/{name}"
    return s.verbs, r.response_kind(s)


def test_subresources_verbs_and_kinds() -> None:
    rw = ("get", "patch", "update")
    assert sub("v1", "pods", "status") == (rw, ("", "v1", "Pod"))
    assert sub("v1", "pods", "binding") == (("create",), ("", "v1", "Binding"))
    assert sub("v1", "pods", "eviction") == (("create",), ("policy", "v1", "Eviction"))
    assert sub("v1", "pods", "log") == (("get",), ("", "v1", "Pod"))
    for name, kind in (("exec", "PodExecOptions"), ("attach", "PodAttachOptions"),
                       ("portforward", "PodPortForwardOptions")):  # fmt: skip
        assert sub("v1", "pods", name) == (("create", "get"), ("", "v1", kind))
    assert sub("v1", "serviceaccounts", "token") == (
        ("create",),
        ("authentication.k8s.io", "v1", "TokenRequest"),
    )
    assert sub("v1", "namespaces", "finalize") == (("update",), ("", "v1", "Namespace"))
    scalable = (
        ("v1", "replicationcontrollers"), ("apps/v1", "deployments"),
        ("apps/v1", "replicasets"), ("apps/v1", "statefulsets"),
    )  # fmt: skip
    for api_version, plural in scalable:
        assert sub(api_version, plural, "scale") == (rw, ("autoscaling", "v1", "Scale"))
        assert sub(api_version, plural, "status")[0] == rw
    for api_version, plural in (
        ("apps/v1", "daemonsets"), ("batch/v1", "jobs"), ("batch/v1", "cronjobs"),
        ("autoscaling/v2", "horizontalpodautoscalers"), ("policy/v1", "poddisruptionbudgets"),
        ("networking.k8s.io/v1", "ingresses"), ("v1", "nodes"), ("v1", "services"),
        ("v1", "persistentvolumes"), ("v1", "persistentvolumeclaims"), ("v1", "resourcequotas"),
    ):  # fmt: skip
        assert sub(api_version, plural, "status")[0] == rw
    assert row("v1", "configmaps").subresource("status") is None


@pytest.mark.parametrize(
    ("api_version", "plural", "namespace", "key"),
    [
        ("v1", "pods", "default", "/registry/pods/default/x"),
        ("v1", "nodes", "", "/registry/minions/x"),
        ("v1", "services", "default", "/registry/services/specs/default/x"),
        ("v1", "endpoints", "default", "/registry/services/endpoints/default/x"),
        ("v1", "replicationcontrollers", "ns", "/registry/controllers/ns/x"),
        ("v1", "namespaces", "", "/registry/namespaces/x"),
        ("v1", "serviceaccounts", "ns", "/registry/serviceaccounts/ns/x"),
        ("v1", "persistentvolumes", "", "/registry/persistentvolumes/x"),
        ("apps/v1", "deployments", "ns", "/registry/deployments/ns/x"),
        ("networking.k8s.io/v1", "ingresses", "ns", "/registry/ingress/ns/x"),
        ("events.k8s.io/v1", "events", "ns", "/registry/events/ns/x"),
        ("coordination.k8s.io/v1", "leases", "ns", "/registry/leases/ns/x"),
        ("autoscaling/v2", "horizontalpodautoscalers", "n",
         "/registry/horizontalpodautoscalers/n/x"),
        ("policy/v1", "poddisruptionbudgets", "ns", "/registry/poddisruptionbudgets/ns/x"),
        ("rbac.authorization.k8s.io/v1", "clusterroles", "", "/registry/clusterroles/x"),
        ("scheduling.k8s.io/v1", "priorityclasses", "", "/registry/priorityclasses/x"),
    ],
)  # fmt: skip
def test_storage_keys_follow_upstream(
    api_version: str, plural: str, namespace: str, key: str
) -> None:
    assert row(api_version, plural).key(namespace, "x") == key


def test_prefixes_end_with_a_slash_and_ignore_namespace_when_cluster_scoped() -> None:
    pods, nodes = row("v1", "pods"), row("v1", "nodes")
    assert pods.prefix() == "/registry/pods/"
    assert pods.prefix("default") == "/registry/pods/default/"
    assert nodes.prefix("ignored") == "/registry/minions/"
    assert nodes.key("ignored", "n1") == "/registry/minions/n1"


def test_both_event_groups_share_storage_in_the_core_form() -> None:
    core, group = row("v1", "events"), row("events.k8s.io/v1", "events")
    assert core.prefix() == group.prefix() == "/registry/events/"
    assert core.storage_version == group.storage_version == "v1"
    assert core.storage_version_hash == group.storage_version_hash


def test_url_paths() -> None:
    assert row("v1", "pods").path("ns", "p", "log") == "/api/v1/namespaces/ns/pods/p/log"
    assert row("apps/v1", "deployments").path() == "/apis/apps/v1/deployments"
    assert row("v1", "nodes").path("ignored", "n") == "/api/v1/nodes/n"


def test_lookups_by_url_and_kind() -> None:
    assert resources.get("", "v1", "pods") is row("v1", "pods")
    assert resources.get("apps", "v2", "deployments") is None
    assert resources.for_kind("apps", "v1", "Deployment") is row("apps/v1", "deployments")
    assert resources.by_kind("Event") is row("v1", "events")
    assert resources.by_kind("Event", "events.k8s.io") is row("events.k8s.io/v1", "events")
    assert resources.by_kind("Nope") is None


@pytest.mark.parametrize(
    ("text", "group", "expected"),
    [
        ("po", None, ("v1", "pods")),
        ("pods", None, ("v1", "pods")),
        ("pod", None, ("v1", "pods")),
        ("Pod", None, ("v1", "pods")),
        ("svc", None, ("v1", "services")),
        ("ev", None, ("v1", "events")),  # core wins over events.k8s.io
        ("events.events.k8s.io", None, ("events.k8s.io/v1", "events")),
        ("ev", "events.k8s.io", ("events.k8s.io/v1", "events")),
        ("deploy", None, ("apps/v1", "deployments")),
        ("Deployment", None, ("apps/v1", "deployments")),
        ("deployments.apps", None, ("apps/v1", "deployments")),
        ("deployments.v1.apps", None, ("apps/v1", "deployments")),
        ("deploy.apps", None, ("apps/v1", "deployments")),
        ("ingresses.networking.k8s.io", None, ("networking.k8s.io/v1", "ingresses")),
        ("hpa", None, ("autoscaling/v2", "horizontalpodautoscalers")),
        ("endpoints", None, ("v1", "endpoints")),
        ("netpol", None, ("networking.k8s.io/v1", "networkpolicies")),
        ("pc", None, ("scheduling.k8s.io/v1", "priorityclasses")),
        ("cj", None, ("batch/v1", "cronjobs")),
    ],
)
def test_resolve_like_kubectl(text: str, group: str | None, expected: tuple[str, str]) -> None:
    assert resources.resolve(text, group) is row(*expected)


@pytest.mark.parametrize("text", ["", "nope", "pods.nope", "deployments.v9.apps", "po.apps"])
def test_resolve_unknown(text: str) -> None:
    assert resources.resolve(text) is None


def test_groups_core_first_then_upstream_order() -> None:
    names = [g.name for g in resources.groups()]
    assert names[0] == ""
    assert names == [
        "", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
        "autoscaling", "batch", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
        "storage.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io", "coordination.k8s.io",
        "discovery.k8s.io",
    ]  # fmt: skip
    autoscaling = REGISTRY.group("autoscaling")
    assert autoscaling is not None
    assert autoscaling.preferred_version == "v2"


def test_version_priority_is_kube_aware() -> None:
    versions = ["v1alpha1", "v1", "v2beta1", "v1beta2", "v2", "v1beta1", "foo", "v10"]
    assert sorted(versions, key=version_priority) == [
        "v10", "v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1", "foo",
    ]  # fmt: skip


def test_registry_picks_the_preferred_version_and_rejects_conflicts() -> None:
    v1 = Resource("x.io", "v1", "Thing", "things", "thing", True, ALL_VERBS, ("th",))
    # Two versions of one resource share storage: the other version names the stored one.
    v1beta1 = Resource("x.io", "v1beta1", "Thing", "things", "thing", True, ALL_VERBS,
                       storage_version="x.io/v1")  # fmt: skip
    reg = Registry([v1beta1, v1])
    group = reg.group("x.io")
    assert group is not None
    assert group.versions == ("v1", "v1beta1")
    assert reg.by_kind("Thing") is v1
    assert reg.resolve("things") is v1
    with pytest.raises(ValueError, match="served twice"):
        Registry([v1, v1])
    other = Resource("y.io", "v1", "Thing", "things", "thing", True, ALL_VERBS)
    with pytest.raises(ValueError, match="shares /registry/things/"):
        Registry([v1, other])


def test_subresource_defaults_to_parent_kind() -> None:
    r = Resource("x.io", "v1", "Thing", "things", "thing", True, ALL_VERBS,
                 subresources=(Subresource("status", ("get",)),))  # fmt: skip
    status = r.subresource("status")
    assert status is not None
    assert r.response_kind(status) == ("x.io", "v1", "Thing")
