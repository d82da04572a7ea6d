"""Scale, binding, eviction and token subresources, driven by the real kubectl and Python client.

What a user sees: `kubectl scale` changes a Deployment's replicas through its Scale,
`kubectl create token` prints a token that then authenticates `kubectl --token` as the
service account, a scheduler-style Binding assigns a pod to a node once, and an Eviction
deletes a pod unless its PodDisruptionBudget has no disruption left (429).
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import KUBECTL, Cluster

NS = "subres"


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(
        config.new_client_from_config(str(cluster.kubeconfig)).configuration
    ) as c:
        core = client.CoreV1Api(c)
        try:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))
        except ApiException as err:
            if err.status != 409:
                raise
        yield c


def _deployment(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(
                match_labels=labels,
                match_expressions=[
                    client.V1LabelSelectorRequirement(
                        key="tier", operator="In", values=["web", "front"]
                    )
                ],
            ),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={**labels, "tier": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")]),
            ),
        ),
    )


def _pod(name: str, labels: dict[str, str] | None = None) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )


# -- scale ----------------------------------------------------------------------------------


def test_kubectl_scale_changes_replicas(cluster: Cluster, api: client.ApiClient) -> None:
    client.AppsV1Api(api).create_namespaced_deployment(NS, _deployment("web"))
    out = cluster.kubectl("-n", NS, "scale", "deployment", "web", "--replicas=3").stdout
    assert out.strip() == "deployment.apps/web scaled"
    got = cluster.kubectl("-n", NS, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
    assert got.stdout == "3"

    scale = json.loads(
        cluster.kubectl(
            "-n", NS, "get", "deploy", "web", "--subresource=scale", "-o", "json"
        ).stdout
    )
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 3}
    # status.replicas is what the deployment controller has reported so far.
    assert scale["status"]["selector"] == "app=web,tier in (front,web)"
    assert isinstance(scale["status"]["replicas"], int)

    # --current-replicas is a precondition: a mismatch changes nothing.
    wrong = cluster.kubectl(
        "-n", NS, "scale", "deploy", "web", "--current-replicas=2", "--replicas=5", check=False
    )
    assert wrong.returncode != 0
    assert "Expected replicas to be 2, was 3" in wrong.stderr
    cluster.kubectl("-n", NS, "scale", "deploy", "web", "--current-replicas=3", "--replicas=5")
    got = cluster.kubectl("-n", NS, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}")
    assert got.stdout == "5"


def test_python_client_scale_patch_and_replace(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment(NS, _deployment("py-scale", replicas=2))
    scale = apps.read_namespaced_deployment_scale("py-scale", NS)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=py-scale,tier in (front,web)")

    patched = apps.patch_namespaced_deployment_scale("py-scale", NS, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    assert apps.read_namespaced_deployment("py-scale", NS).spec.replicas == 4

    # The deployment controller writes the Deployment too: read, replace, retry on conflict.
    for _ in range(10):
        current = apps.read_namespaced_deployment_scale("py-scale", NS)
        current.spec.replicas = 1
        try:
            replaced = apps.replace_namespaced_deployment_scale("py-scale", NS, current)
            break
        except ApiException as err:
            if err.status != 409:
                raise
    assert replaced.spec.replicas == 1
    assert int(replaced.metadata.resource_version) > int(patched.metadata.resource_version)

    # The old resourceVersion is stale now: 409, and the replicas stay.
    patched.spec.replicas = 7
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment_scale("py-scale", NS, patched)
    assert conflict.value.status == 409
    with pytest.raises(ApiException) as invalid:
        apps.patch_namespaced_deployment_scale("py-scale", NS, {"spec": {"replicas": -1}})
    assert invalid.value.status == 422
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in str(
        json.loads(invalid.value.body)["message"]
    )
    assert apps.read_namespaced_deployment("py-scale", NS).spec.replicas == 1


# -- token ----------------------------------------------------------------------------------


def _claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    result: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return result


def test_kubectl_create_token_authenticates_the_service_account(
    cluster: Cluster, tmp_path: Path
) -> None:
    # No service-account controller yet: the namespace's `default` account is made here.
    cluster.kubectl("-n", NS, "create", "serviceaccount", "default", check=False)
    token = cluster.kubectl("-n", NS, "create", "token", "default").stdout.strip()
    claims = _claims(token)
    assert claims["sub"] == f"system:serviceaccount:{NS}:default"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]

    server = cluster.kubectl(
        "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"
    ).stdout
    # A kubeconfig with no client certificate, so only the token speaks for the caller.
    empty = tmp_path / "empty.kubeconfig"
    empty.write_text("apiVersion: v1\nkind: Config\n")

    def as_token(value: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(empty), "--server", server,
             "--certificate-authority", str(cluster.data_dir / "tls" / "ca.crt"),
             f"--token={value}", *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    whoami = as_token(token, "auth", "whoami", "-o", "json")
    assert whoami.returncode == 0, whoami.stderr
    user = json.loads(whoami.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{NS}:default"
    assert user["groups"] == [
        "system:serviceaccounts",
        f"system:serviceaccounts:{NS}",
        "system:authenticated",
    ]

    # Another audience, or a tampered signature, is not accepted here.
    foreign = cluster.kubectl("-n", NS, "create", "token", "default", "--audience=vault").stdout
    for bad in (foreign.strip(), token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")):
        denied = as_token(bad, "auth", "whoami")
        assert denied.returncode != 0
        assert "Unauthorized" in denied.stderr

    short = cluster.kubectl("-n", NS, "create", "token", "default", "--duration=5m", check=False)
    assert short.returncode != 0
    assert "may not specify a duration less than 10 minutes" in short.stderr

    # Deleting the account invalidates its tokens.
    cluster.kubectl("-n", NS, "create", "serviceaccount", "gone")
    gone = cluster.kubectl("-n", NS, "create", "token", "gone").stdout.strip()
    assert as_token(gone, "auth", "whoami").returncode == 0
    cluster.kubectl("-n", NS, "delete", "serviceaccount", "gone")
    assert "Unauthorized" in as_token(gone, "auth", "whoami").stderr


def test_python_client_token_request_and_review(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        NS, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reviewed"))
    )
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=1200)
    )
    issued = core.create_namespaced_service_account_token("reviewed", NS, request)
    assert issued.spec.expiration_seconds == 1200
    assert issued.status.expiration_timestamp is not None

    review = client.AuthenticationV1Api(api).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=issued.status.token))
    )
    assert review.status.authenticated is True
    assert review.status.user.username == f"system:serviceaccount:{NS}:reviewed"
    bogus = client.AuthenticationV1Api(api).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=issued.status.token + "x"))
    )
    assert bogus.status.authenticated is False


# -- binding --------------------------------------------------------------------------------


def test_binding_assigns_a_pod_once(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, _pod("bind-me"))
    binding = client.V1Binding(
        metadata=client.V1ObjectMeta(name="bind-me"),
        target=client.V1ObjectReference(kind="Node", name="node-a"),
    )
    # The client cannot deserialise the Status it gets back into a V1Binding: read it raw.
    response = core.create_namespaced_binding(NS, binding, _preload_content=False)
    assert response.status == 201
    assert json.loads(response.data) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
    pod = core.read_namespaced_pod("bind-me", NS)
    assert pod.spec.node_name == "node-a"
    scheduled = [c for c in pod.status.conditions if c.type == "PodScheduled"]
    assert [(c.status, c.last_transition_time is not None) for c in scheduled] == [("True", True)]

    binding.target.name = "node-b"
    with pytest.raises(ApiException) as conflict:
        core.create_namespaced_pod_binding("bind-me", NS, binding, _preload_content=False)
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body)["message"] == (
        'Operation cannot be fulfilled on pods/binding "bind-me": pod bind-me is already '
        'assigned to node "node-a"'
    )
    assert core.read_namespaced_pod("bind-me", NS).spec.node_name == "node-a"


# -- eviction -------------------------------------------------------------------------------


def _evict(core: client.CoreV1Api, name: str) -> None:
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name=name, namespace=NS))
    core.create_namespaced_pod_eviction(name, NS, eviction, _preload_content=False)


def _running(core: client.CoreV1Api, name: str) -> None:
    core.patch_namespaced_pod_status(
        name,
        NS,
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
    )


def _gone_or_terminating(core: client.CoreV1Api, name: str) -> bool:
    try:
        pod = core.read_namespaced_pod(name, NS)
    except ApiException as err:
        return err.status == 404
    return pod.metadata.deletion_timestamp is not None


def test_eviction_without_a_budget_deletes_the_pod(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NS, _pod("free", {"app": "free"}))
    _running(core, "free")
    _evict(core, "free")
    assert _gone_or_terminating(core, "free")


def _budget_allows(policy: client.PolicyV1Api, name: str, allowed: int) -> Any:
    """The budget once the disruption controller has counted it to `allowed`."""
    deadline = time.monotonic() + 20
    while True:
        budget = policy.read_namespaced_pod_disruption_budget(name, NS)
        status = budget.status
        if status is not None and (status.observed_generation, status.disruptions_allowed) == (
            1,
            allowed,
        ):
            return budget
        assert time.monotonic() < deadline, status
        time.sleep(0.1)


def test_eviction_respects_the_disruption_budget(api: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    core.create_namespaced_pod(NS, _pod("guarded", {"app": "guarded"}))
    _running(core, "guarded")
    policy.create_namespaced_pod_disruption_budget(
        NS,
        client.V1PodDisruptionBudget(
            metadata=client.V1ObjectMeta(name="guard"),
            spec=client.V1PodDisruptionBudgetSpec(
                min_available=1, selector=client.V1LabelSelector(match_labels={"app": "guarded"})
            ),
        ),
    )
    _budget_allows(policy, "guard", 0)  # the controller: 1 healthy of 1 desired

    with pytest.raises(ApiException) as blocked:
        _evict(core, "guarded")
    assert blocked.value.status == 429
    body = json.loads(blocked.value.body)
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"] == [
        {
            "reason": "DisruptionBudget",
            "message": "The disruption budget guard needs 1 healthy pods and has 1 currently",
        }
    ]
    assert core.read_namespaced_pod("guarded", NS).metadata.deletion_timestamp is None

    core.create_namespaced_pod(NS, _pod("guarded-2", {"app": "guarded"}))
    _running(core, "guarded-2")
    opened = _budget_allows(policy, "guard", 1)  # 2 healthy: one may go
    _evict(core, "guarded")
    assert _gone_or_terminating(core, "guarded")
    # The eviction's write of the budget, seen on a watch: the disruption controller may
    # already have dropped the record again (the pod is terminating), as upstream's does.
    recorded = None
    for event in watch.Watch().stream(
        policy.list_namespaced_pod_disruption_budget,
        NS,
        resource_version=opened.metadata.resource_version,
        field_selector="metadata.name=guard",
        timeout_seconds=10,
    ):
        status = event["object"].status
        if status.disrupted_pods:
            recorded = status
            break
    assert recorded is not None
    assert recorded.disruptions_allowed == 0
    assert list(recorded.disrupted_pods) == ["guarded"]
    assert abs(recorded.disrupted_pods["guarded"].timestamp() - time.time()) < 120


def test_eviction_with_two_budgets_is_refused(api: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    core.create_namespaced_pod(NS, _pod("twice", {"app": "twice"}))
    _running(core, "twice")
    for name in ("twice-a", "twice-b"):
        policy.create_namespaced_pod_disruption_budget(
            NS,
            client.V1PodDisruptionBudget(
                metadata=client.V1ObjectMeta(name=name),
                spec=client.V1PodDisruptionBudgetSpec(
                    max_unavailable=1,
                    selector=client.V1LabelSelector(match_labels={"app": "twice"}),
                ),
            ),
        )
    with pytest.raises(ApiException) as refused:
        _evict(core, "twice")
    assert refused.value.status == 500
    assert json.loads(refused.value.body)["message"] == (
        "This pod has more than one PodDisruptionBudget, which the eviction subresource does "
        "not support."
    )
