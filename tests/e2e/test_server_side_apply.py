"""Server-side apply, managedFields and fieldValidation, as kubectl and the client see them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client, config, dynamic
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import Cluster

NS = "ssa"


@pytest.fixture(scope="module")
def ns(cluster: Cluster) -> str:
    cluster.kubectl("create", "namespace", NS)
    return NS


def _configmap(name: str, data: dict[str, str], **extra: Any) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS},
        "data": data,
        **extra,
    }
    return yaml.safe_dump(doc)


def _managers(cluster: Cluster, *target: str) -> dict[str, dict[str, Any]]:
    out = cluster.kubectl("get", *target, "-n", NS, "-o", "yaml", "--show-managed-fields").stdout
    entries = yaml.safe_load(out)["metadata"]["managedFields"]
    return {f"{e['manager']}/{e['operation']}": e for e in entries}


def test_apply_server_side_creates_then_updates_and_records_the_manager(
    cluster: Cluster, ns: str
) -> None:
    first = cluster.kubectl(
        "apply", "--server-side", "-f", "-", input=_configmap("web", {"a": "1", "b": "2"})
    )
    assert first.stdout.strip() == "configmap/web serverside-applied"
    managers = _managers(cluster, "configmap", "web")
    assert set(managers) == {"kubectl/Apply"}
    assert managers["kubectl/Apply"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}

    # Applying without `b` removes it: the applier owned it and nobody else does.
    cluster.kubectl("apply", "--server-side", "-f", "-", input=_configmap("web", {"a": "3"}))
    data = yaml.safe_load(cluster.kubectl("get", "cm", "web", "-n", ns, "-o", "yaml").stdout)
    assert data["data"] == {"a": "3"}


def test_apply_conflict_names_the_owner_and_force_takes_the_field(
    cluster: Cluster, ns: str
) -> None:
    cluster.kubectl("apply", "--server-side", "-f", "-", input=_configmap("shared", {"k": "v1"}))
    clash = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=deployer",
        "-f",
        "-",
        input=_configmap("shared", {"k": "v2"}),
        check=False,
    )
    assert clash.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.k' in clash.stderr
    got = cluster.kubectl("get", "cm", "shared", "-n", ns, "-o", "jsonpath={.data.k}").stdout
    assert got == "v1"  # a conflict writes nothing

    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=deployer",
        "--force-conflicts",
        "-f",
        "-",
        input=_configmap("shared", {"k": "v2"}),
    )
    got = cluster.kubectl("get", "cm", "shared", "-n", ns, "-o", "jsonpath={.data.k}").stdout
    assert got == "v2"
    managers = _managers(cluster, "configmap", "shared")
    assert managers["deployer/Apply"]["fieldsV1"] == {"f:data": {"f:k": {}}}
    # kubectl lost its only field to the forced apply, so its entry is gone.
    assert set(managers) == {"deployer/Apply"}


def test_updates_are_recorded_per_manager(cluster: Cluster, ns: str) -> None:
    cluster.kubectl("create", "configmap", "edited", "-n", ns, "--from-literal=x=1")
    cluster.kubectl("label", "configmap", "edited", "-n", ns, "team=blue")
    managers = _managers(cluster, "configmap", "edited")
    assert managers["kubectl-create/Update"]["fieldsV1"] == {"f:data": {".": {}, "f:x": {}}}
    assert managers["kubectl-label/Update"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:team": {}}}
    }


def test_server_side_apply_of_a_deployment_keeps_other_managers_fields(
    cluster: Cluster, ns: str
) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": ns},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1"}]},
            },
        },
    }
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(deployment))
    # Another manager adds a container; re-applying the first configuration keeps it.
    cluster.kubectl(
        "patch",
        "deployment",
        "api",
        "-n",
        ns,
        "--type=strategic",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"s:1"}]}}}}',
    )
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "api:2"
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(deployment))
    images = cluster.kubectl(
        "get",
        "deployment",
        "api",
        "-n",
        ns,
        "-o",
        "jsonpath={range .spec.template.spec.containers[*]}{.name}={.image} {end}",
    ).stdout.split()
    assert sorted(images) == ["api=api:2", "sidecar=s:1"]


def test_unknown_fields_strict_refused_warn_warned_ignore_dropped(
    cluster: Cluster, ns: str
) -> None:
    body = _configmap("typo", {"a": "1"}, bogus="x")
    strict = cluster.kubectl("apply", "-f", "-", input=body, check=False)  # --validate=strict
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "bogus"' in strict.stderr
    assert cluster.kubectl("get", "cm", "typo", "-n", ns, check=False).returncode == 1

    warned = cluster.kubectl("apply", "--validate=warn", "-f", "-", input=body)
    assert 'Warning: unknown field "bogus"' in warned.stderr
    assert warned.stdout.strip() == "configmap/typo created"
    stored = yaml.safe_load(cluster.kubectl("get", "cm", "typo", "-n", ns, "-o", "yaml").stdout)
    assert "bogus" not in stored

    ignored = cluster.kubectl(
        "apply", "--validate=false", "-f", "-", input=_configmap("typo", {"a": "2"}, bogus="y")
    )
    assert "Warning" not in ignored.stderr
    assert ignored.stdout.strip() == "configmap/typo configured"


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(
        config.new_client_from_config(str(cluster.kubeconfig)).configuration
    ) as c:
        yield c


def test_python_client_server_side_apply_and_field_manager(api: client.ApiClient, ns: str) -> None:
    dyn = dynamic.DynamicClient(api)
    cms = dyn.resources.get(api_version="v1", kind="ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "py-applied", "namespace": ns},
        "data": {"x": "1"},
    }
    applied = cms.server_side_apply(body=body, field_manager="py")
    assert applied.data.x == "1"
    assert [(m.manager, m.operation) for m in applied.metadata.managedFields] == [("py", "Apply")]

    # The apply without a field manager is refused as upstream refuses it.
    with pytest.raises(ApiException) as err:
        cms.patch(
            body=body,
            name="py-applied",
            namespace=ns,
            content_type="application/apply-patch+yaml",
        )
    assert err.value.status == 422
    assert "fieldManager: Required value: is required for apply patch" in err.value.body

    core = client.CoreV1Api(api)
    core.patch_namespaced_config_map(
        "py-applied", ns, {"data": {"y": "2"}}, field_manager="py-patcher"
    )
    got = core.read_namespaced_config_map("py-applied", ns)
    owners = {m.manager: m.operation for m in got.metadata.managed_fields}
    assert owners == {"py": "Apply", "py-patcher": "Update"}
    assert got.data == {"x": "1", "y": "2"}
