"""The official `kubernetes` Python client against `kube server`: typed, dynamic, watch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import Cluster


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(
        config.new_client_from_config(str(cluster.kubeconfig)).configuration
    ) as c:
        yield c


def test_typed_api_crud(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-typed")))
    cm = core.create_namespaced_config_map(
        "py-typed",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg"), data={"k": "v"}),
    )
    assert cm.metadata.uid
    assert cm.metadata.resource_version
    got = core.read_namespaced_config_map("cfg", "py-typed")
    assert got.data == {"k": "v"}

    got.data["k"] = "w"
    updated = core.replace_namespaced_config_map("cfg", "py-typed", got)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)

    # A stale resourceVersion is a 409 Conflict.
    got.data["k"] = "stale"
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cfg", "py-typed", got)
    assert conflict.value.status == 409

    names = [c.metadata.name for c in core.list_namespaced_config_map("py-typed").items]
    assert [n for n in names if n != "kube-root-ca.crt"] == ["cfg"]
    core.delete_namespaced_config_map("cfg", "py-typed")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("cfg", "py-typed")
    assert missing.value.status == 404


def test_list_pages_with_continue(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-pages")))
    for i in range(7):
        core.create_namespaced_config_map(
            "py-pages", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}"))
        )
    # The root-ca-cert-publisher controller adds kube-root-ca.crt to the namespace, as upstream.
    for _ in range(100):
        listed = core.list_namespaced_config_map("py-pages").items
        if "kube-root-ca.crt" in [c.metadata.name for c in listed]:
            break
        time.sleep(0.05)
    first = core.list_namespaced_config_map("py-pages", limit=3)
    assert len(first.items) == 3
    assert first.metadata._continue
    assert first.metadata.remaining_item_count == 5
    names = [c.metadata.name for c in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map("py-pages", limit=3, _continue=token)
        names += [c.metadata.name for c in page.items]
        token = page.metadata._continue
    assert names == [*(f"cm-{i}" for i in range(7)), "kube-root-ca.crt"]


def test_dynamic_client_and_watch(api: client.ApiClient) -> None:
    dyn = dynamic.DynamicClient(api)
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-watch")))
    start = core.list_namespaced_config_map("py-watch").metadata.resource_version

    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume() -> None:
        for event in w.stream(
            core.list_namespaced_config_map,
            "py-watch",
            resource_version=start,
            timeout_seconds=20,
        ):
            if event["object"].metadata.name == "kube-root-ca.crt":
                continue  # written by the root-ca-cert-publisher controller
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 3:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="watched"), data={"a": "1"})
    core.create_namespaced_config_map("py-watch", body)
    core.patch_namespaced_config_map("watched", "py-watch", {"data": {"a": "2"}})
    core.delete_namespaced_config_map("watched", "py-watch")
    thread.join(30)
    assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]

    lease = leases.create(
        body={
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "holder"},
            "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15},
        },
        namespace="py-watch",
    )
    assert lease.spec.holderIdentity == "me"
    assert [item.metadata.name for item in leases.get(namespace="py-watch").items] == ["holder"]


def test_self_subject_access_review_answers(api: client.ApiClient) -> None:
    authz = client.AuthorizationV1Api(api)
    review = authz.create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    verb="create", resource="pods", namespace="default"
                )
            )
        )
    )
    assert review.status.allowed is True
    who = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
    assert who.status.user_info.username == "kubernetes-admin"
    assert "system:masters" in who.status.user_info.groups


def test_events_read_the_same_in_both_groups(api: client.ApiClient) -> None:
    """events.k8s.io/v1 and core/v1 Events are one object in storage, converted per group."""
    core = client.CoreV1Api(api)
    events = client.EventsV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py-events")))
    created = events.create_namespaced_event(
        "py-events",
        client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="pulled"),
            event_time="2026-11-23T10:00:00.000000Z",
            reason="Pulled",
            note="Successfully pulled image",
            type="Normal",
            action="Pull",
            reporting_controller="kubelet",
            reporting_instance="node-1",
            regarding=client.V1ObjectReference(kind="Pod", name="web", namespace="py-events"),
        ),
    )
    assert created.note == "Successfully pulled image"

    as_core = core.read_namespaced_event("pulled", "py-events")
    assert as_core.message == "Successfully pulled image"
    assert as_core.involved_object.name == "web"
    assert as_core.reporting_component == "kubelet"

    as_core.message = "Pulled again"
    as_core.count = 2
    core.replace_namespaced_event("pulled", "py-events", as_core)
    again = events.read_namespaced_event("pulled", "py-events")
    assert again.note == "Pulled again"
    assert again.deprecated_count == 2
    assert again.regarding.kind == "Pod"
