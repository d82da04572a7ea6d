"""Scale, binding, eviction and token subresources over HTTP, against a SQLite store.

The cases the end-to-end tests leave out: the Scale of each scalable kind and its selector
string, patch types, preconditions and dry runs, upstream's binding and eviction corner
cases (terminal pods, unready pods, budgets not yet observed, two budgets), and the
TokenRequest's defaults, limits and bound objects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from kube.api.errors import APIError
from kube.api.resources import REGISTRY
from kube.apiserver.requestinfo import parse
from kube.apiserver.server import Stores
from kube.apiserver.subresources import Subresources, scale_of, selector_string
from kube.auth.serviceaccount import TokenIssuer
from kube.codec import protobuf
from kube.storage.sqlite import SQLiteBackend

Client = TestClient[web.Request, web.Application]
NS = "default"
CORE = f"/api/v1/namespaces/{NS}"
APPS = f"/apis/apps/v1/namespaces/{NS}"
POLICY = f"/apis/policy/v1/namespaces/{NS}"


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Stores]:
    backend = SQLiteBackend(tmp_path / "state.db")
    await backend.start()
    try:
        yield Stores(backend, REGISTRY)
    finally:
        await backend.close()


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture
async def client(stores: Stores, issuer: TokenIssuer) -> AsyncIterator[Client]:
    subresources = Subresources(stores, stores.for_resource, issuer=issuer)

    async def route(request: web.Request) -> web.StreamResponse:
        info = parse(request.method, request.path, request.query)
        try:
            handler = subresources.handler(info)
            if handler is None:
                raise APIError(404, "NotFound", "not a subresource this test serves")
            return await handler(request, info)
        except APIError as err:
            return web.json_response(err.status(), status=err.code)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def deployment(name: str, replicas: int = 2, **selector: Any) -> dict[str, Any]:
    selector = selector or {"matchLabels": {"app": name}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": selector,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def pod(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


async def answer(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status, await response.json()


# -- the Scale view -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"tier": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "NotIn", "values": ["prod", "dev", "prod"]},
                    {"key": "zone", "operator": "Exists"},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            },
            "!canary,env notin (dev,prod),tier=web,zone",
        ),
        ({}, ""),
        (None, ""),
    ],
)
def test_selector_string_is_upstreams(selector: Any, text: str) -> None:
    assert selector_string(selector) == text


def test_scale_of_a_replication_controller_uses_its_map_selector() -> None:
    rc = {
        "metadata": {"name": "rc", "namespace": "ns", "uid": "u", "resourceVersion": "9"},
        "spec": {"replicas": 0, "selector": {"z": "1", "a": "2"}},
        "status": {"replicas": 2},
    }
    assert scale_of(rc, "") == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": "rc", "namespace": "ns", "uid": "u", "resourceVersion": "9"},
        "spec": {},
        "status": {"replicas": 2, "selector": "a=2,z=1"},
    }


async def test_scale_of_every_scalable_kind(client: Client, stores: Stores) -> None:
    apps = deployment("d")
    await stores.for_resource("apps", "v1", "deployments").create(NS, apps)
    for plural in ("replicasets", "statefulsets"):
        obj = deployment("x")
        obj["kind"] = {"replicasets": "ReplicaSet", "statefulsets": "StatefulSet"}[plural]
        await stores.for_resource("apps", "v1", plural).create(NS, obj)
        status, scale = await answer(await client.get(f"{APPS}/{plural}/x/scale"))
        assert status == 200
        assert scale["spec"] == {"replicas": 2}
        assert scale["status"] == {"replicas": 0, "selector": "app=x"}
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "rc"},
        "spec": {"replicas": 1, "selector": {"app": "rc"}, "template": pod("t", {"app": "rc"})},
    }
    del rc["spec"]["template"]["apiVersion"], rc["spec"]["template"]["kind"]
    await stores.for_resource("", "v1", "replicationcontrollers").create(NS, rc)
    status, scale = await answer(await client.get(f"{CORE}/replicationcontrollers/rc/scale"))
    assert (status, scale["spec"], scale["status"]["selector"]) == (200, {"replicas": 1}, "app=rc")
    resized = {**scale, "spec": {"replicas": 3}}
    response = await client.put(f"{CORE}/replicationcontrollers/rc/scale", json=resized)
    status, body = await answer(response)
    assert (status, body["spec"]) == (200, {"replicas": 3})


async def test_scale_of_a_missing_object(client: Client) -> None:
    status, body = await answer(await client.get(f"{APPS}/deployments/nope/scale"))
    assert (status, body["message"]) == (404, 'deployments/scale.apps "nope" not found')
    status, body = await answer(await client.get(f"{CORE}/replicationcontrollers/nope/scale"))
    assert body["message"] == 'replicationcontrollers/scale.autoscaling "nope" not found'
    status, body = await answer(
        await client.patch(
            f"{APPS}/deployments/nope/scale",
            data=b'{"spec":{"replicas":1}}',
            headers={"Content-Type": "application/merge-patch+json"},
        )
    )
    assert (status, body["message"]) == (404, 'deployments.apps "nope" not found')


async def test_scale_writes_only_replicas(client: Client, stores: Stores) -> None:
    deployments = stores.for_resource("apps", "v1", "deployments")
    created = await deployments.create(NS, deployment("web"))
    url = f"{APPS}/deployments/web/scale"
    _, scale = await answer(await client.get(url))
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]

    # Only spec.replicas moves: a Scale's status or labels change nothing else.
    body = {**scale, "spec": {"replicas": 4}, "status": {"replicas": 9, "selector": "x=y"}}
    status, updated = await answer(await client.put(url, json=body))
    assert status == 200
    assert updated["spec"] == {"replicas": 4}
    assert updated["status"] == {"replicas": 0, "selector": "app=web"}
    stored = await deployments.get(NS, "web")
    assert stored["spec"]["replicas"] == 4
    assert stored["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert stored["metadata"]["generation"] == 2

    # The old resourceVersion is a conflict now; no resourceVersion is unconditional.
    status, body_ = await answer(await client.put(url, json={**scale, "spec": {"replicas": 1}}))
    assert status == 409
    assert body_["message"].startswith('Operation cannot be fulfilled on deployments.apps "web"')
    unconditional = {"apiVersion": "autoscaling/v1", "kind": "Scale", "spec": {"replicas": 1}}
    status, updated = await answer(await client.put(url, json=unconditional))
    assert (status, updated["spec"]) == (200, {"replicas": 1})

    # A uid precondition that does not hold is a conflict on the scale subresource.
    wrong_uid = {**unconditional, "metadata": {"uid": "other"}}
    status, body_ = await answer(await client.put(url, json=wrong_uid))
    assert status == 409
    assert body_["message"].startswith(
        'Operation cannot be fulfilled on deployments/scale.apps "web": Precondition failed: '
        "UID in precondition: other"
    )
    status, body_ = await answer(
        await client.put(url, json={**unconditional, "metadata": {"name": "other"}})
    )
    assert (status, body_["reason"]) == (400, "BadRequest")
    status, body_ = await answer(
        await client.put(url, json={"apiVersion": "apps/v1", "kind": "Deployment"})
    )
    assert status == 400


async def test_scale_patch_types_validation_and_dry_run(client: Client, stores: Stores) -> None:
    deployments = stores.for_resource("apps", "v1", "deployments")
    await deployments.create(NS, deployment("web"))
    url = f"{APPS}/deployments/web/scale"

    async def patch(body: Any, kind: str, query: str = "") -> tuple[int, dict[str, Any]]:
        return await answer(
            await client.patch(
                url + query,
                data=json.dumps(body).encode(),
                headers={"Content-Type": f"application/{kind}"},
            )
        )

    status, scale = await patch({"spec": {"replicas": 5}}, "strategic-merge-patch+json")
    assert (status, scale["spec"]) == (200, {"replicas": 5})
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 6}]
    status, scale = await patch(ops, "json-patch+json")
    assert (status, scale["spec"]) == (200, {"replicas": 6})
    status, scale = await patch({"spec": {"replicas": 0}}, "merge-patch+json", "?dryRun=All")
    assert (status, scale["spec"]) == (200, {})
    assert (await deployments.get(NS, "web"))["spec"]["replicas"] == 6

    status, body = await patch({"spec": {"replicas": -2}}, "merge-patch+json")
    assert status == 422
    assert body["message"] == (
        'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -2: must be greater '
        "than or equal to 0"
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: -2: must be greater than or equal to 0",
            "field": "spec.replicas",
        }
    ]
    status, body = await patch({"spec": {"replicas": 1}}, "apply-patch+yaml")
    assert status == 415
    status, body = await patch(
        [{"op": "test", "path": "/spec/replicas", "value": 1}], "json-patch+json"
    )
    assert status == 422
    assert (await deployments.get(NS, "web"))["spec"]["replicas"] == 6


async def test_scale_refuses_other_verbs(client: Client, stores: Stores) -> None:
    await stores.for_resource("apps", "v1", "deployments").create(NS, deployment("web"))
    status, body = await answer(await client.delete(f"{APPS}/deployments/web/scale"))
    assert (status, body["reason"]) == (405, "MethodNotAllowed")


# -- binding --------------------------------------------------------------------------------


def binding(name: str, node: str = "node-1", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, **meta},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }


async def test_binding_assigns_node_condition_and_annotations(
    client: Client, stores: Stores
) -> None:
    pods = stores.for_resource("", "v1", "pods")
    created = await pods.create(NS, pod("p"))
    body = binding("p", annotations={"scheduler": "mine"})
    status, result = await answer(await client.post(f"{CORE}/pods/p/binding", json=body))
    assert (status, result["status"], result["code"]) == (201, "Success", 201)
    bound = await pods.get(NS, "p")
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["metadata"]["annotations"] == {"scheduler": "mine"}
    assert bound["metadata"]["uid"] == created["metadata"]["uid"]
    [condition] = bound["status"]["conditions"]
    assert condition["type"] == "PodScheduled"
    assert condition["status"] == "True"
    assert condition["lastTransitionTime"]

    status, result = await answer(await client.post(f"{CORE}/pods/p/binding", json=body))
    assert (status, result["reason"]) == (409, "Conflict")
    assert result["details"] == {"name": "p", "kind": "pods/binding"}


async def test_binding_replaces_a_pending_scheduled_condition(
    client: Client, stores: Stores
) -> None:
    pods = stores.for_resource("", "v1", "pods")
    await pods.create(NS, pod("p"))

    def unschedulable(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        ]
        return obj

    await pods.mutate(NS, "p", unschedulable, subresource="status")
    status, _ = await answer(await client.post(f"{CORE}/bindings", json=binding("p")))
    assert status == 201
    [condition] = (await pods.get(NS, "p"))["status"]["conditions"]
    assert (condition["status"], "reason" in condition) == ("True", False)


@pytest.mark.parametrize(
    ("body", "url_name", "code", "message"),
    [
        (binding("p", uid="other"), "p", 409, "Precondition failed: UID in precondition: other"),
        (binding("q"), "p", 400, "name in URL does not match name in Binding object"),
        ({**binding("p"), "target": {}}, "p", 500, "target.name: Required value"),
        (
            {**binding("p"), "target": {"kind": "Pod", "name": "x"}},
            "p",
            500,
            'target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>"',
        ),
        (binding("gone"), "gone", 404, 'pods "gone" not found'),
    ],
)
async def test_binding_refusals(
    client: Client, stores: Stores, body: Any, url_name: str, code: int, message: str
) -> None:
    pods = stores.for_resource("", "v1", "pods")
    await pods.create(NS, pod("p"))
    status, result = await answer(await client.post(f"{CORE}/pods/{url_name}/binding", json=body))
    assert status == code
    assert message in result["message"]
    if url_name == "p":
        assert "nodeName" not in (await pods.get(NS, "p"))["spec"]


async def test_binding_a_gated_pod_is_refused(client: Client, stores: Stores) -> None:
    await stores.for_resource("", "v1", "pods").create(
        NS, pod("gated", schedulingGates=[{"name": "wait"}])
    )
    status, result = await answer(
        await client.post(f"{CORE}/pods/gated/binding", json=binding("gated"))
    )
    assert (status, result["message"]) == (
        409,
        'Operation cannot be fulfilled on pods/binding "gated": pod gated has non-empty '
        ".spec.schedulingGates",
    )


# -- eviction -------------------------------------------------------------------------------


def eviction(name: str, **options: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "policy/v1", "kind": "Eviction"}
    body["metadata"] = {"name": name}
    if options:
        body["deleteOptions"] = options
    return body


async def make_pod(
    stores: Stores, name: str, phase: str = "Running", ready: bool = True
) -> dict[str, Any]:
    pods = stores.for_resource("", "v1", "pods")
    await pods.create(NS, pod(name, {"app": "db"}))

    def status(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"]["phase"] = phase
        obj["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        return obj

    return await pods.mutate(NS, name, status, subresource="status")


async def make_budget(
    stores: Stores, name: str = "db", allowed: int = 0, observed: int = 1, **spec: Any
) -> None:
    budgets = stores.for_resource("policy", "v1", "poddisruptionbudgets")
    await budgets.create(
        NS,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": name},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}, **spec},
        },
    )

    def status(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"] = {
            "observedGeneration": observed,
            "disruptionsAllowed": allowed,
            "currentHealthy": 1,
            "desiredHealthy": 1,
            "expectedPods": 1,
        }
        return obj

    await budgets.mutate(NS, name, status, subresource="status")


async def exists(stores: Stores, name: str) -> bool:
    try:
        obj = await stores.for_resource("", "v1", "pods").get(NS, name)
    except APIError:
        return False
    return not obj["metadata"].get("deletionTimestamp")


@pytest.mark.parametrize("phase", ["Succeeded", "Failed", "Pending"])
async def test_done_or_unstarted_pods_are_evicted_despite_a_budget(
    client: Client, stores: Stores, phase: str
) -> None:
    await make_pod(stores, "p", phase=phase)
    await make_budget(stores)
    status, result = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert (status, result["status"]) == (201, "Success")
    assert not await exists(stores, "p")


async def test_a_budget_not_yet_observed_blocks(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p")
    await make_budget(stores, allowed=3, observed=0)
    status, result = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert status == 429
    assert result["details"] == {
        "causes": [
            {
                "reason": "DisruptionBudget",
                "message": "The disruption budget db is still being processed by the server.",
            }
        ],
        "retryAfterSeconds": 10,
    }
    assert await exists(stores, "p")


async def test_an_unready_pod_goes_without_spending_the_budget(
    client: Client, stores: Stores
) -> None:
    await make_pod(stores, "p", ready=False)
    await make_budget(stores, allowed=0)
    status, _ = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert status == 201
    assert not await exists(stores, "p")
    budget = await stores.for_resource("policy", "v1", "poddisruptionbudgets").get(NS, "db")
    assert "disruptedPods" not in budget["status"]


async def test_always_allow_lets_unhealthy_pods_go(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p", ready=False)
    await make_budget(stores, allowed=0, unhealthyPodEvictionPolicy="AlwaysAllow")
    budgets = stores.for_resource("policy", "v1", "poddisruptionbudgets")

    def unhealthy(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"]["currentHealthy"] = 0
        return obj

    await budgets.mutate(NS, "db", unhealthy, subresource="status")
    status, _ = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert status == 201


async def test_eviction_takes_one_disruption(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p")
    await make_budget(stores, allowed=1)
    status, _ = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert status == 201
    budget = await stores.for_resource("policy", "v1", "poddisruptionbudgets").get(NS, "db")
    assert budget["status"]["disruptionsAllowed"] == 0
    assert list(budget["status"]["disruptedPods"]) == ["p"]
    [condition] = budget["status"]["conditions"]
    assert (condition["type"], condition["status"], condition["reason"]) == (
        "DisruptionAllowed",
        "False",
        "InsufficientPods",
    )


async def test_dry_run_eviction_changes_nothing(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p")
    await make_budget(stores, allowed=1)
    url = f"{CORE}/pods/p/eviction"
    status, _ = await answer(await client.post(url, json=eviction("p", dryRun=["All"])))
    assert status == 201
    assert await exists(stores, "p")
    budget = await stores.for_resource("policy", "v1", "poddisruptionbudgets").get(NS, "db")
    assert budget["status"]["disruptionsAllowed"] == 1


async def test_eviction_preconditions_and_names(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p")
    url = f"{CORE}/pods/p/eviction"
    status, result = await answer(
        await client.post(url, json=eviction("p", preconditions={"uid": "other"}))
    )
    assert (status, result["reason"]) == (409, "Conflict")
    status, result = await answer(await client.post(url, json=eviction("q")))
    assert (status, result["message"]) == (
        400,
        "name in URL does not match name in Eviction object",
    )
    status, result = await answer(
        await client.post(f"{CORE}/pods/none/eviction", json=eviction("none"))
    )
    assert (status, result["message"]) == (404, 'pods "none" not found')
    assert await exists(stores, "p")


async def test_a_budget_without_a_selector_matches_nothing(client: Client, stores: Stores) -> None:
    await make_pod(stores, "p")
    await make_budget(stores, allowed=0, selector={})
    status, _ = await answer(await client.post(f"{CORE}/pods/p/eviction", json=eviction("p")))
    assert status == 201


# -- token ----------------------------------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def token_request(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


async def make_account(stores: Stores, name: str = "builder") -> dict[str, Any]:
    return await stores.for_resource("", "v1", "serviceaccounts").create(
        NS, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    )


async def test_token_request_defaults(client: Client, stores: Stores) -> None:
    account = await make_account(stores)
    url = f"{CORE}/serviceaccounts/builder/token"
    status, result = await answer(await client.post(url, json=token_request()))
    assert status == 201
    assert result["metadata"]["name"] == "builder"
    assert result["metadata"]["namespace"] == NS
    assert result["spec"] == {
        "audiences": ["https://kubernetes.default.svc.cluster.local"],
        "expirationSeconds": 3600,
    }
    claims = claims_of(result["status"]["token"])
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kubernetes.io"]["serviceaccount"] == {
        "name": "builder",
        "uid": account["metadata"]["uid"],
    }
    assert result["status"]["expirationTimestamp"].endswith("Z")


async def test_token_request_limits_and_names(client: Client, stores: Stores) -> None:
    await make_account(stores)
    url = f"{CORE}/serviceaccounts/builder/token"
    status, result = await answer(await client.post(url, json=token_request(expirationSeconds=599)))
    assert (status, result["message"]) == (
        422,
        'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: '
        "599: may not specify a duration less than 10 minutes",
    )
    body = {**token_request(), "metadata": {"name": "other"}}
    status, result = await answer(await client.post(url, json=body))
    assert status == 422
    assert (
        'metadata.name: Invalid value: "other": must match the service account name'
        in (result["message"])
    )
    status, result = await answer(
        await client.post(f"{CORE}/serviceaccounts/nobody/token", json=token_request())
    )
    assert (status, result["message"]) == (404, 'serviceaccounts "nobody" not found')


async def test_pod_bound_tokens(client: Client, stores: Stores) -> None:
    await make_account(stores)
    pods = stores.for_resource("", "v1", "pods")
    nodes = stores.for_resource("", "v1", "nodes")
    node = await nodes.create("", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    bound_pod = await pods.create(NS, pod("runner", serviceAccountName="builder", nodeName="n1"))
    await pods.create(NS, pod("stranger"))
    url = f"{CORE}/serviceaccounts/builder/token"

    ref = {"apiVersion": "v1", "kind": "Pod", "name": "runner"}
    status, result = await answer(await client.post(url, json=token_request(boundObjectRef=ref)))
    assert status == 201
    private = claims_of(result["status"]["token"])["kubernetes.io"]
    assert private["pod"] == {"name": "runner", "uid": bound_pod["metadata"]["uid"]}
    assert private["node"] == {"name": "n1", "uid": node["metadata"]["uid"]}

    status, result = await answer(
        await client.post(url, json=token_request(boundObjectRef={**ref, "uid": "old"}))
    )
    assert (status, result["reason"]) == (409, "Conflict")
    assert result["message"].startswith('Operation cannot be fulfilled on Pod "runner"')
    status, result = await answer(
        await client.post(url, json=token_request(boundObjectRef={**ref, "name": "stranger"}))
    )
    assert (status, result["message"]) == (
        400,
        'cannot bind token for serviceaccount "builder" to pod running with different '
        "serviceaccount name.",
    )
    status, result = await answer(
        await client.post(
            url, json=token_request(boundObjectRef={"apiVersion": "v1", "kind": "ConfigMap"})
        )
    )
    assert (status, result["message"]) == (
        400,
        "cannot bind token to object of type /v1, Kind=ConfigMap",
    )


# -- protobuf -------------------------------------------------------------------------------


async def test_scale_and_status_answers_in_protobuf(client: Client, stores: Stores) -> None:
    await stores.for_resource("apps", "v1", "deployments").create(NS, deployment("web"))
    await stores.for_resource("", "v1", "pods").create(NS, pod("p"))
    accept = {"Accept": protobuf.CONTENT_TYPE}
    response = await client.get(f"{APPS}/deployments/web/scale", headers=accept)
    assert response.headers["Content-Type"] == protobuf.CONTENT_TYPE
    scale = protobuf.decode_object(await response.read())
    assert (scale["kind"], scale["spec"], scale["status"]["selector"]) == (
        "Scale",
        {"replicas": 2},
        "app=web",
    )
    body = protobuf.encode_object(binding("p"))
    response = await client.post(
        f"{CORE}/pods/p/binding",
        data=body,
        headers={**accept, "Content-Type": protobuf.CONTENT_TYPE},
    )
    assert response.status == 201
    status = protobuf.decode_object(await response.read())
    assert (status["kind"], status["status"], status["code"]) == ("Status", "Success", 201)
