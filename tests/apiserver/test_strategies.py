"""Per-kind strategies: name validation, namespace and pod create rules, pod QoS class.

Expected values are upstream's: the name rules of each kind (ValidateNamespaceName is a DNS
label, ValidateServiceName a DNS-1035 label, the rest DNS subdomains) with their exact
messages, namespaceStrategy.PrepareForCreate, and qos.ComputePodQOS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.api.resources import REGISTRY
from kube.apiserver.store import ObjectStore
from kube.apiserver.strategies import parse_quantity, strategy_for
from kube.storage.sqlite import SQLiteBackend

SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def causes(kind: str, name: str) -> list[tuple[str, str, str]]:
    validate = strategy_for(kind, has_status=False).validate
    assert validate is not None
    found = validate({"metadata": {"name": name}}, None)
    # Only the name's causes: a spec-less Pod or Deployment also lacks its required fields.
    return [(c.reason, c.field, c.message) for c in found if c.field.startswith("metadata.")]


@pytest.mark.parametrize(
    "kind", ["ConfigMap", "Pod", "Node", "ReplicationController", "Deployment"]
)
@pytest.mark.parametrize("name", ["a", "web-1", "a.b.c", "1abc", "x" * 253, "kube-system.svc"])
def test_valid_subdomain_names(kind: str, name: str) -> None:
    assert causes(kind, name) == []


@pytest.mark.parametrize("kind", ["ConfigMap", "Pod", "Deployment"])
@pytest.mark.parametrize("name", ["A", "a_b", "-a", "a-", "a.", ".a", "a..b", "a b", "ä", "a\n"])
def test_invalid_subdomain_names(kind: str, name: str) -> None:
    quoted = name.replace("\n", "\\n")
    assert causes(kind, name) == [
        ("FieldValueInvalid", "metadata.name", f'Invalid value: "{quoted}": {SUBDOMAIN}')
    ]


def test_a_name_can_break_both_rules() -> None:
    name = "x" * 254
    assert causes("ConfigMap", name) == [
        (
            "FieldValueInvalid",
            "metadata.name",
            f'Invalid value: "{name}": must be no more than 253 characters',
        )
    ]
    assert [m for _, _, m in causes("ConfigMap", name + "_")] == [
        f'Invalid value: "{name}_": must be no more than 253 characters',
        f'Invalid value: "{name}_": {SUBDOMAIN}',
    ]


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("team-a", []),
        ("1team", []),
        ("a.b", [LABEL]),
        ("Team", [LABEL]),
        ("x" * 63, []),
        ("x" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_namespace_names_are_dns_labels(name: str, messages: list[str]) -> None:
    assert [m for _, _, m in causes("Namespace", name)] == [
        f'Invalid value: "{name}": {m}' for m in messages
    ]


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        ("web", []),
        ("web-1", []),
        ("1web", [DNS1035]),
        ("web.svc", [DNS1035]),
        ("w" * 64, ["must be no more than 63 characters"]),
    ],
)
def test_service_names_are_dns1035_labels(name: str, messages: list[str]) -> None:
    assert [m for _, _, m in causes("Service", name)] == [
        f'Invalid value: "{name}": {m}' for m in messages
    ]


def test_names_are_checked_on_create_only() -> None:
    validate = strategy_for("ConfigMap", has_status=False).validate
    assert validate is not None
    bad = {"metadata": {"name": "Bad"}}
    assert validate(bad, bad) == []
    assert validate({"metadata": {}}, None) == []  # a missing name is the store's business


def test_strategy_flags() -> None:
    assert strategy_for("Deployment", has_status=True).tracks_generation
    assert strategy_for("Pod", has_status=True).tracks_generation
    assert not strategy_for("ConfigMap", has_status=False).tracks_generation
    assert not strategy_for("Namespace", has_status=True).tracks_generation
    assert strategy_for("ConfigMap", has_status=False).prepare_create is None
    assert strategy_for("Namespace", has_status=True).prepare_update is not None


# -- namespaces ----------------------------------------------------------------------------


def prepare(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    hook = strategy_for(kind, has_status=True).prepare_create
    assert hook is not None
    hook(obj)
    return obj


def test_namespace_create() -> None:
    ns = prepare("Namespace", {"metadata": {"name": "team"}, "status": {"phase": "Terminating"}})
    assert ns == {
        "metadata": {"name": "team", "labels": {"kubernetes.io/metadata.name": "team"}},
        "status": {"phase": "Active"},
        "spec": {"finalizers": ["kubernetes"]},
    }


def test_namespace_create_keeps_labels_and_appends_the_kubernetes_finalizer() -> None:
    ns = prepare(
        "Namespace",
        {
            "metadata": {"name": "team", "labels": {"a": "1", "kubernetes.io/metadata.name": "x"}},
            "spec": {"finalizers": ["example.com/cleanup"]},
        },
    )
    assert ns["metadata"]["labels"] == {"a": "1", "kubernetes.io/metadata.name": "team"}
    assert ns["spec"]["finalizers"] == ["example.com/cleanup", "kubernetes"]
    again = prepare(
        "Namespace", {"metadata": {"name": "t"}, "spec": {"finalizers": ["kubernetes"]}}
    )
    assert again["spec"]["finalizers"] == ["kubernetes"]
    empty = prepare("Namespace", {"metadata": {"name": "t"}, "spec": None})
    assert empty["spec"] == {"finalizers": ["kubernetes"]}


def test_namespace_update_restores_the_name_label() -> None:
    hook = strategy_for("Namespace", has_status=True).prepare_update
    assert hook is not None
    new: dict[str, Any] = {"metadata": {"name": "team", "labels": {"a": "1"}}}
    hook(new, {"metadata": {"name": "team"}})
    assert new["metadata"]["labels"] == {"a": "1", "kubernetes.io/metadata.name": "team"}


# -- pods and QoS -------------------------------------------------------------------------


def resources(
    requests: dict[str, str] | None = None, limits: dict[str, str] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if requests is not None:
        out["requests"] = requests
    if limits is not None:
        out["limits"] = limits
    return out


def qos(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> str:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(containers)]
    }
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "resources": r} for i, r in enumerate(init)]
    pod = prepare("Pod", {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": "Running"}})
    assert pod["status"]["phase"] == "Pending"
    qos_class: str = pod["status"]["qosClass"]
    return qos_class


GUARANTEED = resources({"cpu": "500m", "memory": "128Mi"}, {"cpu": "500m", "memory": "128Mi"})


@pytest.mark.parametrize(
    ("containers", "expected"),
    [
        ((), "BestEffort"),
        ((resources(),), "BestEffort"),
        ((resources({"ephemeral-storage": "1Gi"}),), "BestEffort"),  # only cpu and memory count
        ((resources({"cpu": "0"}, {"memory": "0"}),), "BestEffort"),  # zero is not set
        ((resources({"cpu": "100m"}),), "Burstable"),
        ((resources(limits={"memory": "1Gi"}),), "Burstable"),
        ((GUARANTEED,), "Guaranteed"),
        ((GUARANTEED, GUARANTEED), "Guaranteed"),
        ((resources(limits={"cpu": "1", "memory": "1Gi"}),), "Guaranteed"),  # requests default
        (
            (resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1000m", "memory": "1024Mi"}),),
            "Guaranteed",
        ),
        (
            (resources({"cpu": "250m", "memory": "1Gi"}, {"cpu": "500m", "memory": "1Gi"}),),
            "Burstable",
        ),
        ((GUARANTEED, resources()), "Burstable"),
        (
            (
                resources(
                    {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
                    {"cpu": "1", "memory": "1Gi"},
                ),
            ),
            "Guaranteed",
        ),
    ],
)
def test_qos_class(containers: tuple[dict[str, Any], ...], expected: str) -> None:
    assert qos(*containers) == expected


def test_init_containers_count_for_qos() -> None:
    assert qos(GUARANTEED, init=(GUARANTEED,)) == "Guaranteed"
    assert qos(GUARANTEED, init=(resources(),)) == "Burstable"
    assert qos(resources(), init=(resources({"cpu": "1"}),)) == "Burstable"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("1.5", Decimal("1.5")),
        ("100k", Decimal(100_000)),
        ("2M", Decimal(2_000_000)),
        ("1Ki", Decimal(1024)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1E", Decimal(10**18)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("+2", Decimal(2)),
        ("10n", Decimal("1e-8")),
        ("5u", Decimal("5e-6")),
        (3, Decimal(3)),
        ("", None),
        ("1Zi", None),
        ("abc", None),
        ("1.2.3", None),
        ("1 Gi", None),
    ],
)
def test_parse_quantity(text: object, value: Decimal | None) -> None:
    assert parse_quantity(text) == value


# -- through the store ----------------------------------------------------------------------


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    store = SQLiteBackend(tmp_path / "state.db")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def store_for(backend: SQLiteBackend, plural: str) -> ObjectStore:
    row = REGISTRY.get("", "v1", plural)
    assert row is not None
    return ObjectStore(backend, row, strategy_for(row.kind, row.subresource("status") is not None))


async def test_namespace_created_through_the_store(backend: SQLiteBackend) -> None:
    namespaces = store_for(backend, "namespaces")
    created = await namespaces.create("", {"metadata": {"generateName": "team-"}})
    name = created["metadata"]["name"]
    assert created["metadata"]["labels"] == {"kubernetes.io/metadata.name": name}
    assert created["status"] == {"phase": "Active"}
    assert created["spec"] == {"finalizers": ["kubernetes"]}
    assert "generation" not in created["metadata"]
    assert await namespaces.get("", name) == created
    with pytest.raises(APIError) as caught:
        await namespaces.create("", {"metadata": {"name": "Team.A"}})
    assert caught.value.code == 422
    assert (
        caught.value.message
        == f'Namespace "Team.A" is invalid: metadata.name: Invalid value: "Team.A": {LABEL}'
    )


async def test_pod_created_through_the_store(backend: SQLiteBackend) -> None:
    pods = store_for(backend, "pods")
    pod = {
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": GUARANTEED}]},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    }
    created = await pods.create("default", pod)
    assert created["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert created["metadata"]["generation"] == 1


async def test_service_names_through_the_store(backend: SQLiteBackend) -> None:
    services = store_for(backend, "services")
    with pytest.raises(APIError) as caught:
        await services.create(
            "default", {"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}}
        )
    assert caught.value.details["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": f'Invalid value: "1web": {DNS1035}',
            "field": "metadata.name",
        }
    ]


def test_pods_get_default_toleration_seconds_for_not_ready_and_unreachable_nodes() -> None:
    pod = prepare("Pod", {"metadata": {"name": "p"}, "spec": {"containers": []}})
    assert pod["spec"]["tolerations"][-2:] == [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    # A pod that already tolerates them (or everything) keeps its own tolerations only.
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"}
    pod = prepare("Pod", {"metadata": {"name": "p"}, "spec": {"tolerations": [own]}})
    assert [t["key"] for t in pod["spec"]["tolerations"]] == [
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/not-ready",
    ]
    everything = {"operator": "Exists"}
    pod = prepare("Pod", {"metadata": {"name": "p"}, "spec": {"tolerations": [everything]}})
    assert pod["spec"]["tolerations"] == [everything]


async def test_a_node_registers_with_its_status_other_kinds_start_empty(tmp_path: Path) -> None:
    backend = SQLiteBackend(tmp_path / "db.sqlite")
    await backend.start()
    try:
        nodes = ObjectStore(backend, REGISTRY.get("", "v1", "nodes"), strategy_for("Node", True))
        status = {"capacity": {"cpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]}
        node = await nodes.create("", {"metadata": {"name": "n1"}, "status": status})
        assert node["status"]["capacity"] == {"cpu": "4"}
        pods = ObjectStore(backend, REGISTRY.get("", "v1", "pods"), strategy_for("Pod", True))
        pod = await pods.create(
            "default",
            {
                "metadata": {"name": "p"},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
                "status": {"phase": "Running"},
            },
        )
        assert pod["status"]["phase"] == "Pending"
    finally:
        await backend.close()
