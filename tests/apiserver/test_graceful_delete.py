"""Graceful deletion of pods, as upstream's pod strategy and generic store do it.

A bound, running pod is not removed by a delete: it gets `deletionTimestamp` = now + grace
and `deletionGracePeriodSeconds`, and stays (Terminating) until a delete with grace 0 (the
kubelet's, or `kubectl delete --force --grace-period=0`). Unbound and finished pods go at
once. A later delete may shorten the grace period, never lengthen it. Other kinds ignore
`gracePeriodSeconds`. Also the DeleteOptions a request carries, and the HTTP answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import MultiDict

from kube.api.errors import APIError
from kube.api.meta import parse_rfc3339
from kube.api.resources import REGISTRY
from kube.apiserver import deleteoptions
from kube.apiserver.handlers import Handlers
from kube.apiserver.requestinfo import RequestInfo, parse
from kube.apiserver.store import ObjectStore
from kube.apiserver.strategies import strategy_for
from kube.codec import jsonc
from kube.storage.sqlite import SQLiteBackend


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


@pytest.fixture
def pods(backend: SQLiteBackend) -> ObjectStore:
    return store_for(backend, "pods")


@pytest.fixture
def configmaps(backend: SQLiteBackend) -> ObjectStore:
    return store_for(backend, "configmaps")


def pod(name: str, node: str = "node-1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


async def fails(call: Awaitable[Any], code: int, reason: str) -> APIError:
    with pytest.raises(APIError) as caught:
        await call
    assert (caught.value.code, caught.value.reason) == (code, reason), caught.value.message
    return caught.value


def seconds_from_now(stamp: str) -> float:
    return (parse_rfc3339(stamp) - dt.datetime.now(dt.UTC)).total_seconds()


# -- the pod strategy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "phase", "requested", "expected"),
    [
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Running", None, 30),
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Running", 5, 5),
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Running", 0, 0),
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Running", -3, 1),
        ({"nodeName": "n"}, "Running", None, 0),  # upstream: no default there means 0
        ({"terminationGracePeriodSeconds": 30}, "Pending", 10, 0),  # never bound
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Succeeded", 10, 0),
        ({"nodeName": "n", "terminationGracePeriodSeconds": 30}, "Failed", None, 0),
    ],
)
def test_pod_grace_period(
    spec: dict[str, Any], phase: str, requested: int | None, expected: int
) -> None:
    strategy = strategy_for("Pod", True)
    assert strategy.grace_period is not None
    assert strategy.grace_period({"spec": spec, "status": {"phase": phase}}, requested) == expected


def test_only_pods_delete_gracefully() -> None:
    assert strategy_for("ConfigMap", False).grace_period is None
    assert strategy_for("Deployment", True).grace_period is None


# -- the store -------------------------------------------------------------------------------


async def test_a_bound_pod_is_marked_for_its_termination_grace_period(pods: ObjectStore) -> None:
    created = await pods.create("default", pod("web"))
    assert created["spec"]["terminationGracePeriodSeconds"] == 30  # defaulted
    marked, gone = await pods.delete("default", "web")
    assert not gone
    meta = marked["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30
    assert 28 <= seconds_from_now(meta["deletionTimestamp"]) <= 31
    assert meta["generation"] == created["metadata"]["generation"] + 1
    assert await pods.get("default", "web") == marked


async def test_a_requested_grace_period_replaces_the_pods_own(pods: ObjectStore) -> None:
    await pods.create("default", pod("web"))
    marked, gone = await pods.delete("default", "web", grace_period_seconds=7)
    assert not gone
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 7
    assert 5 <= seconds_from_now(marked["metadata"]["deletionTimestamp"]) <= 8


async def test_a_negative_grace_period_is_one_second(pods: ObjectStore) -> None:
    await pods.create("default", pod("web"))
    marked, _ = await pods.delete("default", "web", grace_period_seconds=-5)
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 1


@pytest.mark.parametrize("setup", ["unbound", "Succeeded", "Failed", "force"])
async def test_deleted_at_once(pods: ObjectStore, backend: SQLiteBackend, setup: str) -> None:
    await pods.create("default", pod("p", node="" if setup == "unbound" else "node-1"))
    if setup in ("Succeeded", "Failed"):
        current = await pods.get("default", "p")
        await pods.update(
            "default", "p", {**current, "status": {"phase": setup}}, subresource="status"
        )
    grace = 0 if setup == "force" else None
    changes = pods.watch("default", await backend.current_revision())
    deleted, gone = await pods.delete("default", "p", grace_period_seconds=grace)
    assert gone
    assert deleted["metadata"]["deletionGracePeriodSeconds"] == 0
    await fails(pods.get("default", "p"), 404, "NotFound")
    # As upstream, watchers see the deletion start (grace 0), then the object go.
    seen = [(await anext(changes)).type, (await anext(changes)).type]
    await changes.aclose()
    assert seen == ["MODIFIED", "DELETED"]


async def test_a_second_delete_may_shorten_never_lengthen(
    pods: ObjectStore, backend: SQLiteBackend
) -> None:
    await pods.create("default", pod("web"))
    marked, _ = await pods.delete("default", "web", grace_period_seconds=30)
    revision = await backend.current_revision()
    # No grace period, the same one, or a longer one: nothing changes, nothing is written.
    for grace in (None, 30, 60):
        again, gone = await pods.delete("default", "web", grace_period_seconds=grace)
        assert (again, gone) == (marked, False)
    assert await backend.current_revision() == revision
    shorter, gone = await pods.delete("default", "web", grace_period_seconds=10)
    assert not gone
    meta = shorter["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 10
    before = parse_rfc3339(marked["metadata"]["deletionTimestamp"])
    assert parse_rfc3339(meta["deletionTimestamp"]) == before - dt.timedelta(seconds=20)
    assert meta["generation"] == marked["metadata"]["generation"]  # bumped once only
    # The kubelet's final delete (grace 0) removes it.
    deleted, gone = await pods.delete("default", "web", grace_period_seconds=0)
    assert gone
    assert deleted["metadata"]["deletionGracePeriodSeconds"] == 0
    await fails(pods.get("default", "web"), 404, "NotFound")


async def test_finalizers_hold_a_force_deleted_pod(pods: ObjectStore) -> None:
    body = pod("web")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await pods.create("default", body)
    marked, gone = await pods.delete("default", "web")
    assert not gone
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    forced, gone = await pods.delete("default", "web", grace_period_seconds=0)
    assert not gone
    assert forced["metadata"]["deletionGracePeriodSeconds"] == 0
    assert forced["metadata"]["finalizers"] == ["example.com/hold"]
    assert await pods.get("default", "web") == forced
    # Deleting again changes nothing: the finalizer still holds it.
    assert await pods.delete("default", "web", grace_period_seconds=0) == (forced, False)


async def test_dry_run_writes_nothing(pods: ObjectStore, backend: SQLiteBackend) -> None:
    created = await pods.create("default", pod("web"))
    revision = await backend.current_revision()
    marked, gone = await pods.delete("default", "web", dry_run=True)
    assert not gone
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    forced, gone = await pods.delete("default", "web", dry_run=True, grace_period_seconds=0)
    assert gone
    assert forced["metadata"]["deletionGracePeriodSeconds"] == 0
    assert await backend.current_revision() == revision
    assert await pods.get("default", "web") == created


async def test_preconditions_on_the_graceful_path(pods: ObjectStore) -> None:
    created = await pods.create("default", pod("web"))
    uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    err = await fails(pods.delete("default", "web", precondition_uid="other"), 409, "Conflict")
    assert err.message.startswith('Operation cannot be fulfilled on Pod "web": the UID in the')
    err = await fails(pods.delete("default", "web", precondition_rv="999"), 409, "Conflict")
    assert "the ResourceVersion in the precondition (999)" in err.message
    assert await pods.get("default", "web") == created
    # Matching preconditions: a forced delete writes the mark, then deletes that version.
    _, gone = await pods.delete(
        "default", "web", precondition_uid=uid, precondition_rv=rv, grace_period_seconds=0
    )
    assert gone
    await fails(pods.get("default", "web"), 404, "NotFound")


async def test_other_kinds_ignore_the_grace_period(configmaps: ObjectStore) -> None:
    await configmaps.create("default", {"metadata": {"name": "a"}, "data": {}})
    deleted, gone = await configmaps.delete("default", "a", grace_period_seconds=30)
    assert gone
    assert "deletionTimestamp" not in deleted["metadata"]


# -- DeleteOptions ---------------------------------------------------------------------------


def options(query: dict[str, str] | None = None, body: Any = None) -> deleteoptions.DeleteOptions:
    raw = jsonc.dumps(body) if body is not None else b""
    return deleteoptions.parse(MultiDict(query or {}), "application/json", raw)


def test_options_from_the_body_or_the_query() -> None:
    assert options({"gracePeriodSeconds": "0"}).grace_period_seconds == 0
    assert options(body={"gracePeriodSeconds": 5}).grace_period_seconds == 5
    assert options({"gracePeriodSeconds": "1"}, {"gracePeriodSeconds": 5}).grace_period_seconds == 5
    assert options().grace_period_seconds is None
    kubectl = options(
        body={
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": 0,
            "propagationPolicy": "Background",
        }
    )
    assert (kubectl.grace_period_seconds, kubectl.policy) == (0, "Background")
    assert options({"dryRun": "All"}).dry_run
    assert options(body={"dryRun": ["All"]}).dry_run
    assert options(body={"orphanDependents": True}).policy == "Orphan"
    assert options({"orphanDependents": "false"}).policy == "Background"
    pre = options(body={"preconditions": {"uid": "u", "resourceVersion": "7"}})
    assert (pre.precondition_uid, pre.precondition_rv) == ("u", "7")


@pytest.mark.parametrize(
    ("query", "body", "code", "message"),
    [
        (
            {"gracePeriodSeconds": "soon"},
            None,
            400,
            'strconv.ParseInt: parsing "soon": invalid syntax',
        ),
        (
            {"gracePeriodSeconds": "99999999999999999999"},
            None,
            400,
            'strconv.ParseInt: parsing "99999999999999999999": value out of range',
        ),
        (
            {"orphanDependents": "maybe"},
            None,
            400,
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            None,
            {"gracePeriodSeconds": "30"},
            400,
            "json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds "
            "of type int64",
        ),
        (
            None,
            {"kind": "Pod", "apiVersion": "v1"},
            400,
            "decoded object cannot be converted to DeleteOptions",
        ),
        (
            None,
            {"dryRun": ["Some"]},
            422,
            'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
            '[]string{"Some"}: supported values: "All"',
        ),
        (
            {"dryRun": "Some"},
            None,
            422,
            'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: '
            '[]string{"Some"}: supported values: "All"',
        ),
        (
            None,
            {"orphanDependents": True, "propagationPolicy": "Background"},
            422,
            'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: '
            '"Background": orphanDependents and deletionPropagation cannot be both set',
        ),
    ],
)
def test_bad_options(query: dict[str, str] | None, body: Any, code: int, message: str) -> None:
    with pytest.raises(APIError) as caught:
        options(query, body)
    assert (caught.value.code, caught.value.message) == (code, message)


# -- the HTTP handlers -----------------------------------------------------------------------


@pytest.fixture
async def client(pods: ObjectStore) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    handlers = Handlers(lambda info: pods)

    async def route(request: web.Request) -> web.StreamResponse:
        info: RequestInfo = parse(request.method, request.path, request.query)
        try:
            handler = handlers.delete if info.verb == "delete" else handlers.deletecollection
            return await handler(request, info)
        except APIError as err:
            return web.json_response(err.status(), status=err.code)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", route)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


POD_URL = "/api/v1/namespaces/default/pods"


async def test_http_delete_marks_then_force_deletes(
    client: TestClient[web.Request, web.Application], pods: ObjectStore
) -> None:
    await pods.create("default", pod("web"))
    response = await client.delete(f"{POD_URL}/web")
    assert response.status == 200
    body = await response.json()
    assert (body["kind"], body["metadata"]["deletionGracePeriodSeconds"]) == ("Pod", 30)
    response = await client.delete(
        f"{POD_URL}/web",
        json={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0},
    )
    assert response.status == 200
    await fails(pods.get("default", "web"), 404, "NotFound")


async def test_http_delete_with_bad_options_writes_nothing(
    client: TestClient[web.Request, web.Application], pods: ObjectStore
) -> None:
    created = await pods.create("default", pod("web"))
    response = await client.delete(f"{POD_URL}/web?gracePeriodSeconds=x")
    assert response.status == 400
    assert (await response.json())["reason"] == "BadRequest"
    response = await client.delete(
        f"{POD_URL}/web", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    assert await pods.get("default", "web") == created


async def test_http_deletecollection_applies_the_options_to_each(
    client: TestClient[web.Request, web.Application], pods: ObjectStore
) -> None:
    await pods.create("default", pod("a"))
    await pods.create("default", pod("b", node=""))
    await pods.create("default", pod("c"))
    response = await client.delete(f"{POD_URL}?gracePeriodSeconds=12")
    assert response.status == 200
    listed = await response.json()
    assert listed["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in listed["items"]] == ["a", "b", "c"]
    await fails(pods.get("default", "b"), 404, "NotFound")  # unbound: gone at once
    for name in ("a", "c"):
        meta = (await pods.get("default", name))["metadata"]
        assert meta["deletionGracePeriodSeconds"] == 12
    response = await client.delete(f"{POD_URL}", json={"gracePeriodSeconds": 0, "dryRun": ["All"]})
    assert response.status == 200
    assert len((await pods.list("default")).items) == 2  # dry run: both still there
    response = await client.delete(f"{POD_URL}", json={"gracePeriodSeconds": 0})
    assert response.status == 200
    assert (await pods.list("default")).items == []


async def test_the_kubelets_status_updates_keep_a_terminating_pod(pods: ObjectStore) -> None:
    await pods.create("default", pod("web"))
    marked, _ = await pods.delete("default", "web")
    await pods.update(
        "default", "web", {**marked, "status": {"phase": "Running"}}, subresource="status"
    )
    kept = await pods.get("default", "web")
    assert kept["metadata"]["deletionGracePeriodSeconds"] == 30
    assert kept["status"]["phase"] == "Running"
