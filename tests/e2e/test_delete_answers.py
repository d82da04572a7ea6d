"""What a DELETE answers, as upstream's generic registry does (its finalizeDelete).

An object that is gone is answered with a `Status` of `Success` naming it (name, group, the
plural resource as `kind`, uid), except for the kinds upstream marks ReturnDeletedObject
(pods, services, service accounts, ...), which answer with the object. An object only marked
for deletion (finalizers, a pod's grace period) is answered with the object itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from tests.e2e.conftest import Cluster

NS = "e2e-delete-answers"


@pytest.fixture(scope="module")
def core(cluster: Cluster) -> Iterator[client.CoreV1Api]:
    with client.ApiClient(
        config.new_client_from_config(str(cluster.kubeconfig)).configuration
    ) as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        yield core


def raw(response: Any) -> tuple[int, Any]:
    """The status and JSON body of a call made with `_preload_content=False`."""
    return response.status, json.loads(response.data)


def configmap(core: client.CoreV1Api, name: str, finalizers: list[str] | None = None) -> Any:
    return core.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, finalizers=finalizers))
    )


def test_a_deleted_configmap_is_answered_with_a_success_status(core: client.CoreV1Api) -> None:
    created = configmap(core, "gone")
    status, body = raw(core.delete_namespaced_config_map("gone", NS, _preload_content=False))
    assert status == 200
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "gone", "kind": "configmaps", "uid": created.metadata.uid},
    }


def test_the_status_names_the_group_of_a_grouped_resource(core: client.CoreV1Api) -> None:
    apps = client.AppsV1Api(core.api_client)
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app": "d"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    created = apps.create_namespaced_deployment(
        NS,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="d"),
            spec=client.V1DeploymentSpec(
                selector=client.V1LabelSelector(match_labels={"app": "d"}), template=template
            ),
        ),
    )
    status, body = raw(
        apps.delete_namespaced_deployment(
            "d",
            NS,
            body=client.V1DeleteOptions(propagation_policy="Background"),
            _preload_content=False,
        )
    )
    assert (status, body["status"]) == (200, "Success")
    assert body["details"] == {
        "name": "d",
        "group": "apps",
        "kind": "deployments",
        "uid": created.metadata.uid,
    }


def test_the_typed_client_reads_the_status(core: client.CoreV1Api) -> None:
    configmap(core, "typed")
    answer = core.delete_namespaced_config_map("typed", NS)
    # This client version hands the Status back as the decoded JSON.
    assert isinstance(answer, dict)
    assert (answer["status"], answer["details"]["name"], answer["details"]["kind"]) == (
        "Success",
        "typed",
        "configmaps",
    )


def test_a_dry_run_delete_answers_the_same_and_keeps_the_object(core: client.CoreV1Api) -> None:
    configmap(core, "dry")
    status, body = raw(
        core.delete_namespaced_config_map("dry", NS, dry_run="All", _preload_content=False)
    )
    assert (status, body["kind"], body["status"]) == (200, "Status", "Success")
    assert core.read_namespaced_config_map("dry", NS).metadata.name == "dry"


def test_an_object_held_by_finalizers_is_answered_with_itself(core: client.CoreV1Api) -> None:
    configmap(core, "held", finalizers=["example.com/hold"])
    status, body = raw(core.delete_namespaced_config_map("held", NS, _preload_content=False))
    assert (status, body["kind"]) == (200, "ConfigMap")
    assert body["metadata"]["deletionTimestamp"]
    core.patch_namespaced_config_map("held", NS, {"metadata": {"finalizers": None}})


def test_kinds_with_return_deleted_object_answer_with_the_object(core: client.CoreV1Api) -> None:
    core.create_namespaced_service_account(
        NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa"))
    )
    status, body = raw(core.delete_namespaced_service_account("sa", NS, _preload_content=False))
    assert (status, body["kind"], body["metadata"]["name"]) == (200, "ServiceAccount", "sa")


def test_kubectl_delete_reports_each_kind(cluster: Cluster, core: client.CoreV1Api) -> None:
    configmap(core, "by-kubectl")
    core.create_namespaced_service_account(
        NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="sa-kubectl"))
    )
    out = cluster.kubectl("delete", "cm/by-kubectl", "sa/sa-kubectl", "-n", NS).stdout
    assert out.splitlines() == [
        f'configmap "by-kubectl" deleted from {NS} namespace',
        f'serviceaccount "sa-kubectl" deleted from {NS} namespace',
    ]
