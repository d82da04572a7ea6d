"""The generic store on the real SQLite backend, with the real registry rows and strategies.

Each rule is upstream's generic registry (apiserver/pkg/registry/generic/registry/store.go)
as clients observe it: what create fills in, compare-and-swap updates and their 409, when
`generation` moves, status subresource isolation, list snapshots and continue tokens,
two-phase delete with finalizers, and watch events with their previous objects and 410.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import orjson
import pytest

from kube.api.errors import APIError
from kube.api.resources import REGISTRY
from kube.apiserver.store import (
    Change,
    ObjectStore,
    decode_continue,
    deletion_finalizers,
    encode_continue,
)
from kube.apiserver.strategies import strategy_for
from kube.storage.sqlite import SQLiteBackend

MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    store = SQLiteBackend(tmp_path / "state.db")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


def store_for(backend: SQLiteBackend, group: str, version: str, plural: str) -> ObjectStore:
    row = REGISTRY.get(group, version, plural)
    assert row is not None
    return ObjectStore(backend, row, strategy_for(row.kind, row.subresource("status") is not None))


@pytest.fixture
def configmaps(backend: SQLiteBackend) -> ObjectStore:
    return store_for(backend, "", "v1", "configmaps")


@pytest.fixture
def deployments(backend: SQLiteBackend) -> ObjectStore:
    return store_for(backend, "apps", "v1", "deployments")


@pytest.fixture
def namespaces(backend: SQLiteBackend) -> ObjectStore:
    return store_for(backend, "", "v1", "namespaces")


async def fails(call: Awaitable[Any], code: int, reason: str) -> APIError:
    with pytest.raises(APIError) as caught:
        await call
    assert (caught.value.code, caught.value.reason) == (code, reason), caught.value.message
    return caught.value


def cm(name: str = "", data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    metadata = {"name": name, **meta} if name else dict(meta)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data or {}}


def deployment(name: str, replicas: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **extra.pop("metadata", {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
        **extra,
    }


# -- create --------------------------------------------------------------------------------


async def test_create_fills_the_system_fields(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    before = await backend.current_revision()
    created = await configmaps.create("default", cm("a", {"k": "v"}))
    meta = created["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert "generation" not in meta  # upstream's ConfigMaps have none
    assert meta["namespace"] == "default"
    assert meta["resourceVersion"] == str(before + 1) == str(await backend.current_revision())
    assert await configmaps.get("default", "a") == created


async def test_kinds_that_track_generation_start_at_1(deployments: ObjectStore) -> None:
    created = await deployments.create("default", deployment("d", metadata={"generation": 5}))
    assert created["metadata"]["generation"] == 1


async def test_resource_version_is_not_stored_in_the_value(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await configmaps.create("default", cm("a"))
    kv = await backend.get("/registry/configmaps/default/a")
    assert kv is not None
    assert "resourceVersion" not in orjson.loads(kv.value)["metadata"]


async def test_create_ignores_client_set_system_fields(configmaps: ObjectStore) -> None:
    sent = cm(
        "a",
        uid="mine",
        creationTimestamp="2000-01-01T00:00:00Z",
        deletionTimestamp="2000-01-01T00:00:00Z",
        deletionGracePeriodSeconds=30,
        resourceVersion="999",
        generation=7,
    )
    meta = (await configmaps.create("default", sent))["metadata"]
    assert meta["uid"] != "mine"
    assert meta["creationTimestamp"] != "2000-01-01T00:00:00Z"
    assert "deletionTimestamp" not in meta
    assert "deletionGracePeriodSeconds" not in meta
    assert "generation" not in meta
    assert meta["resourceVersion"] != "999"


async def test_generate_name(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm(generateName="web-"))
    name = created["metadata"]["name"]
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    assert created["metadata"]["generateName"] == "web-"
    assert (await configmaps.get("default", name))["metadata"]["uid"] == created["metadata"]["uid"]


async def test_a_generated_name_that_is_taken_is_drawn_again(
    configmaps: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Upstream's RetryGenerateName: up to 8 draws, then 409 AlreadyExists."""
    from kube.apiserver import store as store_module

    await configmaps.create("default", cm("web-taken"))
    draws = iter(["web-taken", "web-taken", "web-fresh"])
    monkeypatch.setattr(store_module, "generate_name", lambda base: next(draws))
    created = await configmaps.create("default", cm(generateName="web-"))
    assert created["metadata"]["name"] == "web-fresh"

    monkeypatch.setattr(store_module, "generate_name", lambda base: "web-taken")
    with pytest.raises(APIError) as clash:
        await configmaps.create("default", cm(generateName="web-"))
    assert (clash.value.code, clash.value.reason) == (409, "AlreadyExists")


async def test_an_explicit_name_wins_over_generate_name(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm("fixed", generateName="web-"))
    assert created["metadata"]["name"] == "fixed"


async def test_create_existing_is_409_already_exists_and_writes_nothing(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    first = await configmaps.create("default", cm("a", {"v": "1"}))
    revision = await backend.current_revision()
    err = await fails(configmaps.create("default", cm("a", {"v": "2"})), 409, "AlreadyExists")
    assert err.message == 'configmaps "a" already exists'
    assert err.details == {"name": "a", "kind": "configmaps"}
    assert await backend.current_revision() == revision
    assert await configmaps.get("default", "a") == first


async def test_the_same_name_in_another_namespace_is_another_object(
    configmaps: ObjectStore,
) -> None:
    a = await configmaps.create("one", cm("a"))
    b = await configmaps.create("two", cm("a"))
    assert a["metadata"]["uid"] != b["metadata"]["uid"]


async def test_create_with_another_namespace_in_the_body_is_400(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    err = await fails(configmaps.create("default", cm("a", namespace="other")), 400, "BadRequest")
    assert err.message == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )
    assert await backend.current_revision() == 0


async def test_cluster_scoped_objects_have_no_namespace(namespaces: ObjectStore) -> None:
    created = await namespaces.create("", {"metadata": {"name": "team", "namespace": "x"}})
    assert "namespace" not in created["metadata"]
    assert (await namespaces.get("", "team"))["metadata"]["name"] == "team"


async def test_create_without_a_name_is_422(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    err = await fails(configmaps.create("default", cm()), 422, "Invalid")
    assert err.message == (
        'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )
    assert err.details["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: name or generateName is required",
            "field": "metadata.name",
        }
    ]
    assert await backend.current_revision() == 0


async def test_create_with_an_invalid_name_is_422(configmaps: ObjectStore) -> None:
    err = await fails(configmaps.create("default", cm("Bad_Name")), 422, "Invalid")
    assert err.message.startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value')


async def test_create_resets_status_of_kinds_with_a_status_subresource(
    deployments: ObjectStore,
) -> None:
    created = await deployments.create("default", deployment("d", status={"replicas": 5}))
    assert created["status"] == {}


async def test_dry_run_create_writes_nothing(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    created = await configmaps.create("default", cm("a"), dry_run=True)
    assert created["metadata"]["uid"]
    assert "resourceVersion" not in created["metadata"]
    assert await backend.current_revision() == 0
    await fails(configmaps.get("default", "a"), 404, "NotFound")


# -- get -------------------------------------------------------------------------------------


async def test_get_missing_is_404(configmaps: ObjectStore, deployments: ObjectStore) -> None:
    err = await fails(configmaps.get("default", "nope"), 404, "NotFound")
    assert err.message == 'configmaps "nope" not found'
    err = await fails(deployments.get("default", "nope"), 404, "NotFound")
    assert err.message == 'deployments.apps "nope" not found'
    assert err.details == {"name": "nope", "group": "apps", "kind": "deployments"}


# -- update ----------------------------------------------------------------------------------


async def test_update_with_a_stale_resource_version_is_409(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    v1 = await configmaps.create("default", cm("a", {"v": "1"}))
    v2 = await configmaps.update("default", "a", {**v1, "data": {"v": "2"}})
    assert int(v2["metadata"]["resourceVersion"]) > int(v1["metadata"]["resourceVersion"])
    revision = await backend.current_revision()
    err = await fails(
        configmaps.update("default", "a", {**v1, "data": {"v": "3"}}), 409, "Conflict"
    )
    assert err.message == f'Operation cannot be fulfilled on configmaps "a": {MODIFIED}'
    assert await backend.current_revision() == revision
    assert (await configmaps.get("default", "a"))["data"] == {"v": "2"}


async def test_update_without_resource_version_is_unconditional(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("a", {"v": "1"}))
    await configmaps.update("default", "a", cm("a", {"v": "2"}))
    updated = await configmaps.update("default", "a", cm("a", {"v": "3"}, resourceVersion="0"))
    assert updated["data"] == {"v": "3"}
    assert (await configmaps.get("default", "a"))["data"] == {"v": "3"}


async def test_update_keeps_the_system_fields(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm("a"))
    sent = cm("a", {"x": "y"}, uid="other", creationTimestamp="2000-01-01T00:00:00Z", generation=9)
    updated = await configmaps.update("default", "a", sent)
    for field in ("uid", "creationTimestamp", "namespace", "name"):
        assert updated["metadata"][field] == created["metadata"][field]
    assert "generation" not in updated["metadata"]


async def test_update_missing_is_404(configmaps: ObjectStore) -> None:
    await fails(configmaps.update("default", "nope", cm("nope")), 404, "NotFound")


async def test_update_with_another_name_or_namespace_is_400(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("a"))
    err = await fails(configmaps.update("default", "a", cm("b")), 400, "BadRequest")
    assert err.message == "the name of the object (b) does not match the name on the URL (a)"
    err = await fails(configmaps.update("default", "a", cm("a", namespace="x")), 400, "BadRequest")
    assert err.message == (
        "the namespace of the provided object does not match the namespace sent on the request"
    )


async def test_update_with_a_malformed_resource_version_is_400(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("a"))
    await fails(
        configmaps.update("default", "a", cm("a", resourceVersion="abc")), 400, "BadRequest"
    )


async def test_generation_moves_only_when_the_spec_changes(deployments: ObjectStore) -> None:
    d = await deployments.create("default", deployment("d"))
    labelled = await deployments.update(
        "default", "d", {**d, "metadata": {**d["metadata"], "labels": {"x": "1"}}}
    )
    assert labelled["metadata"]["generation"] == 1
    scaled = await deployments.update("default", "d", deployment("d", replicas=3))
    assert scaled["metadata"]["generation"] == 2
    status_only = await deployments.update("default", "d", {**scaled, "status": {"replicas": 3}})
    assert status_only["metadata"]["generation"] == 2
    assert status_only["metadata"]["resourceVersion"] == scaled["metadata"]["resourceVersion"]


async def test_an_update_that_changes_nothing_writes_nothing(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    created = await configmaps.create("default", cm("a", {"k": "v"}, labels={"l": "1"}))
    revision = await backend.current_revision()
    same = await configmaps.update("default", "a", created)
    assert same == created
    unconditional = {k: v for k, v in created.items()}
    unconditional["metadata"] = {"name": "a", "labels": {"l": "1"}}
    assert await configmaps.update("default", "a", unconditional) == created
    assert await backend.current_revision() == revision


async def test_dry_run_update_writes_nothing(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    created = await configmaps.create("default", cm("a", {"v": "1"}))
    revision = await backend.current_revision()
    preview = await configmaps.update("default", "a", cm("a", {"v": "2"}), dry_run=True)
    assert preview["data"] == {"v": "2"}
    assert await backend.current_revision() == revision
    assert await configmaps.get("default", "a") == created


async def test_the_main_resource_ignores_status(deployments: ObjectStore) -> None:
    await deployments.create("default", deployment("d"))
    await deployments.update("default", "d", {"status": {"replicas": 1}}, subresource="status")
    sent = deployment("d", replicas=2, status={"replicas": 99})
    updated = await deployments.update("default", "d", sent)
    assert updated["spec"]["replicas"] == 2
    assert updated["status"] == {"replicas": 1}
    assert (await deployments.get("default", "d"))["status"] == {"replicas": 1}


async def test_the_status_subresource_changes_only_status(deployments: ObjectStore) -> None:
    created = await deployments.create("default", deployment("d", metadata={"labels": {"a": "1"}}))
    sent = deployment("d", replicas=5, metadata={"labels": {"a": "2"}}, status={"replicas": 1})
    updated = await deployments.update("default", "d", sent, subresource="status")
    assert updated["status"] == {"replicas": 1}
    assert updated["spec"] == created["spec"]
    assert updated["metadata"]["labels"] == {"a": "1"}
    assert updated["metadata"]["generation"] == 1
    stored = await deployments.get("default", "d")
    assert stored == updated


async def test_a_status_update_keeps_the_stored_key_order_and_can_clear_status(
    deployments: ObjectStore,
) -> None:
    await deployments.create("default", deployment("d"))
    await deployments.update("default", "d", {"status": {"replicas": 1}}, subresource="status")
    first = await deployments.update(
        "default", "d", {"status": {"replicas": 2}}, subresource="status"
    )
    assert list(first) == ["apiVersion", "kind", "metadata", "spec", "status"]
    assert first["status"] == {"replicas": 2}
    cleared = await deployments.update("default", "d", {"metadata": {}}, subresource="status")
    assert "status" not in cleared
    assert cleared["spec"] == first["spec"]
    assert await deployments.get("default", "d") == cleared


async def test_status_update_with_a_stale_resource_version_is_409(deployments: ObjectStore) -> None:
    created = await deployments.create("default", deployment("d"))
    await deployments.update("default", "d", deployment("d", replicas=2))
    stale = {**created, "status": {"replicas": 1}}
    await fails(deployments.update("default", "d", stale, subresource="status"), 409, "Conflict")


async def test_mutate_applies_a_change_to_the_stored_object(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("a", {"n": "1"}))

    def bump(obj: dict[str, Any]) -> dict[str, Any]:
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    await asyncio.gather(*(configmaps.mutate("default", "a", bump) for _ in range(3)))
    assert (await configmaps.get("default", "a"))["data"] == {"n": "4"}


async def test_mutate_with_a_resource_version_in_the_change_is_compare_and_swap(
    configmaps: ObjectStore,
) -> None:
    created = await configmaps.create("default", cm("a"))

    def stale(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["resourceVersion"] = str(int(created["metadata"]["resourceVersion"]) - 1)
        return obj

    err = await fails(configmaps.mutate("default", "a", stale), 409, "Conflict")
    assert err.message == f'Operation cannot be fulfilled on configmaps "a": {MODIFIED}'


# -- list ------------------------------------------------------------------------------------


async def fill(configmaps: ObjectStore, *names: str, namespace: str = "default") -> None:
    for name in names:
        await configmaps.create(namespace, cm(name, labels={"even": str(ord(name[0]) % 2 == 0)}))


def names(items: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in items]


async def test_list_everything_and_by_namespace(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await fill(configmaps, "b", "a", namespace="one")
    await fill(configmaps, "c", namespace="two")
    everything = await configmaps.list(None)
    assert names(everything.items) == ["a", "b", "c"]
    assert everything.resource_version == await backend.current_revision()
    assert (everything.continue_token, everything.remaining) == ("", None)
    assert names((await configmaps.list("one")).items) == ["a", "b"]
    assert names((await configmaps.list("on")).items) == []  # a prefix of a namespace is not it
    for item in everything.items:
        assert item["metadata"]["resourceVersion"]


async def test_pagination_reads_one_snapshot(configmaps: ObjectStore) -> None:
    await fill(configmaps, "a", "b", "c", "d", "e")
    first = await configmaps.list("default", limit=2)
    assert names(first.items) == ["a", "b"]
    assert first.remaining == 3
    assert first.continue_token
    # Changes after the first page are not seen by the following ones.
    await configmaps.create("default", cm("bb"))
    await configmaps.delete("default", "d")
    second = await configmaps.list("default", limit=2, continue_token=first.continue_token)
    assert names(second.items) == ["c", "d"]
    assert second.resource_version == first.resource_version
    assert second.remaining == 1
    third = await configmaps.list("default", limit=2, continue_token=second.continue_token)
    assert names(third.items) == ["e"]
    assert (third.continue_token, third.remaining) == ("", None)
    assert third.resource_version == first.resource_version


async def test_a_limit_that_fits_exactly_has_no_continue(configmaps: ObjectStore) -> None:
    await fill(configmaps, "a", "b")
    page = await configmaps.list("default", limit=2)
    assert (names(page.items), page.continue_token, page.remaining) == (["a", "b"], "", None)


async def test_a_filtered_page_is_filled_and_never_longer_than_the_limit(
    configmaps: ObjectStore,
) -> None:
    await fill(configmaps, "a", "b", "c", "d")

    def not_a(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [o for o in batch if o["metadata"]["name"] != "a"]

    first = await configmaps.list("default", limit=2, select=not_a)
    assert names(first.items) == ["b", "c"]
    assert first.continue_token
    assert first.remaining is None  # unknown with a selector, as upstream
    rest = await configmaps.list(
        "default", limit=2, continue_token=first.continue_token, select=not_a
    )
    assert (names(rest.items), rest.continue_token) == (["d"], "")


async def test_invalid_continue_tokens_are_400(configmaps: ObjectStore) -> None:
    def token(doc: Any) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")

    cases = {
        "!!!": "invalid continue token: continue key is not valid: ",
        token({"v": "meta.k8s.io/v2", "rv": 1, "start": "a\x00"}): (
            "invalid continue token: continue key is not valid: server does not recognize this "
            'encoded version "meta.k8s.io/v2"'
        ),
        token({"v": "meta.k8s.io/v1", "rv": 0, "start": "a\x00"}): (
            "invalid continue token: continue key is not valid: incorrect encoded start "
            "resourceVersion (version meta.k8s.io/v1)"
        ),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": ""}): (
            "invalid continue token: continue key is not valid: encoded start key empty "
            "(version meta.k8s.io/v1)"
        ),
        token({"v": "meta.k8s.io/v1", "rv": 1, "start": "../secrets/x\x00"}): (
            "invalid continue token: continue key is not valid: ../secrets/x\x00"
        ),
        token([1, 2]): "invalid continue token: continue key is not valid: ",
    }
    for value, message in cases.items():
        err = await fails(
            configmaps.list("default", limit=1, continue_token=value), 400, "BadRequest"
        )
        assert err.message.startswith(message), (value, err.message)


async def test_continue_with_a_resource_version_is_400(configmaps: ObjectStore) -> None:
    await fill(configmaps, "a", "b")
    first = await configmaps.list("default", limit=1)
    err = await fails(
        configmaps.list("default", continue_token=first.continue_token, resource_version="5"),
        400,
        "BadRequest",
    )
    assert err.message == "specifying resource version is not allowed when using continue"


def test_continue_token_round_trip() -> None:
    assert decode_continue(encode_continue(7, "default/b")) == (7, "default/b", 0)
    assert decode_continue(encode_continue(7, "default/b", 12)) == (7, "default/b", 12)
    # The format is upstream's: base64url JSON of v, rv and start (a key suffix and NUL).
    token = encode_continue(7, "default/b")
    padded = token + "=" * (-len(token) % 4)
    assert orjson.loads(base64.urlsafe_b64decode(padded)) == {
        "v": "meta.k8s.io/v1",
        "rv": 7,
        "start": "default/b\x00",
    }


async def test_list_at_an_exact_resource_version(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm("a", {"v": "1"}))
    await configmaps.update("default", "a", cm("a", {"v": "2"}))
    await configmaps.create("default", cm("b"))
    rv = created["metadata"]["resourceVersion"]
    old = await configmaps.list("default", resource_version=rv, resource_version_match="Exact")
    assert old.resource_version == int(rv)
    assert [o["data"] for o in old.items] == [{"v": "1"}]
    assert old.items[0]["metadata"]["resourceVersion"] == rv


async def test_list_not_older_than_a_resource_version(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await fill(configmaps, "a")
    page = await configmaps.list("default", resource_version="1")
    assert page.resource_version == await backend.current_revision()
    assert names((await configmaps.list("default", resource_version="0")).items) == ["a"]


@pytest.mark.parametrize("match", ["", "NotOlderThan", "Exact"])
async def test_list_at_a_future_resource_version_is_504(
    configmaps: ObjectStore, match: str
) -> None:
    await fill(configmaps, "a")
    err = await fails(
        configmaps.list("default", resource_version="50", resource_version_match=match),
        504,
        "Timeout",
    )
    assert err.message == "Timeout: Too large resource version: 50, current: 1"
    assert err.details["causes"][0]["reason"] == "ResourceVersionTooLarge"


async def test_list_at_a_malformed_resource_version_is_400(configmaps: ObjectStore) -> None:
    await fails(configmaps.list("default", resource_version="x"), 400, "BadRequest")


async def test_list_at_a_compacted_resource_version_is_410(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await fill(configmaps, "a", "b", "c")
    first = await configmaps.list("default", limit=1)
    await configmaps.update("default", "a", cm("a", {"new": "1"}))
    await backend.compact(await backend.current_revision())
    err = await fails(
        configmaps.list("default", resource_version="1", resource_version_match="Exact"),
        410,
        "Expired",
    )
    assert err.message == "The resourceVersion for the provided list is too old."
    err = await fails(
        configmaps.list("default", continue_token=first.continue_token), 410, "Expired"
    )
    assert err.message == (
        "The provided continue parameter is too old to display a consistent list result. You can "
        "start a new list without the continue parameter."
    )


# -- delete ----------------------------------------------------------------------------------


async def test_delete_removes_the_object_and_returns_it(configmaps: ObjectStore) -> None:
    created = await configmaps.create("default", cm("a"))
    deleted, gone = await configmaps.delete("default", "a")
    assert gone
    assert deleted == created
    await fails(configmaps.get("default", "a"), 404, "NotFound")
    err = await fails(configmaps.delete("default", "a"), 404, "NotFound")
    assert err.message == 'configmaps "a" not found'


async def test_delete_with_finalizers_is_two_phase(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await configmaps.create("default", cm("a", finalizers=["example.com/hold"]))
    marked, gone = await configmaps.delete("default", "a")
    assert not gone
    meta = marked["metadata"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["deletionTimestamp"])
    assert meta["deletionGracePeriodSeconds"] == 0
    assert await configmaps.get("default", "a") == marked
    # Deleting again changes nothing.
    revision = await backend.current_revision()
    again, gone = await configmaps.delete("default", "a")
    assert (again, gone) == (marked, False)
    assert await backend.current_revision() == revision
    # The deletion timestamp cannot be taken back by an update.
    kept = await configmaps.update(
        "default",
        "a",
        {**marked, "data": {"x": "1"}, "metadata": {**meta, "deletionTimestamp": None}},
    )
    assert kept["metadata"]["deletionTimestamp"] == meta["deletionTimestamp"]
    # Removing the last finalizer completes the delete.
    await configmaps.update(
        "default", "a", {**kept, "metadata": {**kept["metadata"], "finalizers": []}}
    )
    await fails(configmaps.get("default", "a"), 404, "NotFound")


@pytest.mark.parametrize(
    ("policy", "finalizer"), [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")]
)
async def test_propagation_policy_adds_its_finalizer(
    deployments: ObjectStore, policy: str, finalizer: str
) -> None:
    await deployments.create("default", deployment("d"))
    marked, gone = await deployments.delete("default", "d", propagation_policy=policy)
    assert not gone
    assert marked["metadata"]["finalizers"] == [finalizer]
    assert marked["metadata"]["deletionTimestamp"]
    assert (await deployments.get("default", "d"))["metadata"]["finalizers"] == [finalizer]


async def test_background_drops_the_orphan_finalizer_and_deletes(deployments: ObjectStore) -> None:
    await deployments.create("default", deployment("d", metadata={"finalizers": ["orphan"]}))
    _, gone = await deployments.delete("default", "d", propagation_policy="Background")
    assert gone
    await fails(deployments.get("default", "d"), 404, "NotFound")


@pytest.mark.parametrize(
    ("finalizers", "policy", "after"),
    [
        ([], "", []),
        (["x"], "", ["x"]),
        (["orphan"], "", ["orphan"]),
        (["x"], "Orphan", ["x", "orphan"]),
        (["foregroundDeletion", "x"], "Orphan", ["x", "orphan"]),
        (["orphan"], "Foreground", ["foregroundDeletion"]),
        (["orphan", "x"], "Background", ["x"]),
        (["orphan"], "Orphan", ["orphan"]),
    ],
)
def test_deletion_finalizers(finalizers: list[str], policy: str, after: list[str]) -> None:
    assert deletion_finalizers({"finalizers": finalizers}, policy) == after


async def test_an_unknown_propagation_policy_is_422(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("a"))
    err = await fails(
        configmaps.delete("default", "a", propagation_policy="Sideways"), 422, "Invalid"
    )
    assert err.message == (
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
        '"Sideways": supported values: "Foreground", "Background", "Orphan", "nil"'
    )
    await configmaps.get("default", "a")


async def test_delete_preconditions(configmaps: ObjectStore, deployments: ObjectStore) -> None:
    created = await configmaps.create("default", cm("a"))
    uid, rv = created["metadata"]["uid"], created["metadata"]["resourceVersion"]
    err = await fails(configmaps.delete("default", "a", precondition_uid="other"), 409, "Conflict")
    assert err.message == (
        f'Operation cannot be fulfilled on ConfigMap "a": the UID in the precondition (other) '
        f"does not match the UID in record ({uid}). The object might have been deleted and then "
        "recreated"
    )
    err = await fails(configmaps.delete("default", "a", precondition_rv="1000"), 409, "Conflict")
    assert err.message == (
        f'Operation cannot be fulfilled on ConfigMap "a": the ResourceVersion in the precondition '
        f"(1000) does not match the ResourceVersion in record ({rv}). The object might have been "
        "modified"
    )
    await configmaps.get("default", "a")
    _, gone = await configmaps.delete("default", "a", precondition_uid=uid, precondition_rv=rv)
    assert gone
    await deployments.create("default", deployment("d"))
    err = await fails(deployments.delete("default", "d", precondition_uid="x"), 409, "Conflict")
    assert err.message.startswith('Operation cannot be fulfilled on Deployment.apps "d": ')


async def test_dry_run_delete_keeps_the_object(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    created = await configmaps.create("default", cm("a"))
    await configmaps.create("default", cm("b", finalizers=["x"]))
    revision = await backend.current_revision()
    deleted, gone = await configmaps.delete("default", "a", dry_run=True)
    assert (deleted, gone) == (created, True)
    marked, gone = await configmaps.delete("default", "b", dry_run=True)
    assert not gone
    assert marked["metadata"]["deletionTimestamp"]
    assert await backend.current_revision() == revision
    assert "deletionTimestamp" not in (await configmaps.get("default", "b"))["metadata"]


# -- watch -----------------------------------------------------------------------------------


async def next_change(changes: AsyncIterator[Change]) -> Change:
    return await asyncio.wait_for(anext(changes), timeout=10)


async def test_watch_yields_added_modified_deleted_with_previous_objects(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await configmaps.create("other", cm("before"))
    since = await backend.current_revision()  # 0 would mean "from now"
    changes = configmaps.watch("default", since)
    try:
        created = await configmaps.create("default", cm("a", {"v": "1"}))
        await configmaps.create("other", cm("elsewhere"))
        updated = await configmaps.update("default", "a", cm("a", {"v": "2"}))
        await configmaps.delete("default", "a")
        added = await next_change(changes)
        assert (added.type, added.object, added.previous) == ("ADDED", created, None)
        assert added.revision == int(created["metadata"]["resourceVersion"])
        modified = await next_change(changes)
        assert (modified.type, modified.object, modified.previous) == ("MODIFIED", updated, created)
        deleted = await next_change(changes)
        assert deleted.type == "DELETED"
        assert deleted.object["data"] == {"v": "2"}
        assert deleted.previous == updated
        # The deleted object carries the revision of the delete.
        assert deleted.object["metadata"]["resourceVersion"] == str(deleted.revision)
        assert deleted.revision == await backend.current_revision()
    finally:
        await changes.aclose()


async def test_watch_all_namespaces_and_resume_from_a_revision(configmaps: ObjectStore) -> None:
    first = await configmaps.create("one", cm("a"))
    await configmaps.create("two", cm("b"))
    changes = configmaps.watch(None, int(first["metadata"]["resourceVersion"]))
    try:
        resumed = await next_change(changes)
        assert (resumed.type, resumed.object["metadata"]["name"]) == ("ADDED", "b")
    finally:
        await changes.aclose()


async def test_watch_from_now_sees_only_later_changes(configmaps: ObjectStore) -> None:
    await configmaps.create("default", cm("before"))
    changes = configmaps.watch("default", 0)
    pending = asyncio.ensure_future(anext(changes))
    try:
        await asyncio.sleep(0.05)  # let the watch take its starting revision
        await configmaps.create("default", cm("after"))
        change = await asyncio.wait_for(pending, timeout=10)
        assert change.object["metadata"]["name"] == "after"
    finally:
        pending.cancel()
        await changes.aclose()


async def test_a_finalized_delete_is_seen_as_deleted(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    created = await configmaps.create("default", cm("a", finalizers=["x"]))
    changes = configmaps.watch("default", int(created["metadata"]["resourceVersion"]))
    try:
        marked, _ = await configmaps.delete("default", "a")
        await configmaps.update(
            "default", "a", {**marked, "metadata": {**marked["metadata"], "finalizers": []}}
        )
        assert (await next_change(changes)).type == "MODIFIED"
        gone = await next_change(changes)
        assert gone.type == "DELETED"
        assert gone.object["metadata"]["name"] == "a"
    finally:
        await changes.aclose()


async def test_watch_from_a_compacted_revision_is_410(
    backend: SQLiteBackend, configmaps: ObjectStore
) -> None:
    await fill(configmaps, "a", "b", "c")
    await configmaps.update("default", "a", cm("a", {"v": "2"}))
    compacted = await backend.current_revision() - 1
    await backend.compact(compacted)
    changes = configmaps.watch("default", 1)
    try:
        err = await fails(next_change(changes), 410, "Expired")
        assert err.message == f"too old resource version: 1 ({compacted})"
    finally:
        await changes.aclose()
    # From the compaction point on, watching works.
    changes = configmaps.watch("default", compacted)
    try:
        assert (await next_change(changes)).type == "MODIFIED"
    finally:
        await changes.aclose()


async def test_empty_metadata_maps_are_dropped_as_omitempty_does(configmaps: ObjectStore) -> None:
    empty = {"labels": {}, "annotations": {}, "finalizers": [], "ownerReferences": []}
    dry = await configmaps.create("default", cm("a", **empty), dry_run=True)
    assert not set(empty) & set(dry["metadata"])
    created = await configmaps.create("default", cm("a", **empty))
    assert not set(empty) & set(created["metadata"])
    assert not set(empty) & set((await configmaps.get("default", "a"))["metadata"])
    updated = await configmaps.update("default", "a", cm("a", {"k": "v"}, **empty))
    assert not set(empty) & set(updated["metadata"])

    def clear(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"]["annotations"] = {}
        obj["metadata"]["labels"] = {"kept": "yes"}
        return obj

    patched = await configmaps.mutate("default", "a", clear, dry_run=True)
    assert (patched["metadata"]["labels"], "annotations" in patched["metadata"]) == (
        {"kept": "yes"},
        False,
    )


async def test_a_pure_change_gets_the_object_read_and_a_refusal_leaves_it_alone(
    configmaps: ObjectStore,
) -> None:
    await configmaps.create("default", cm("a", {"n": "1"}))
    seen: list[dict[str, Any]] = []

    def bump(obj: dict[str, Any]) -> dict[str, Any]:
        seen.append(obj)
        new = orjson.loads(orjson.dumps(obj))
        new["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return new

    updated = await configmaps.mutate("default", "a", bump, pure=True)
    assert updated["data"] == {"n": "2"}
    assert seen[-1]["data"] == {"n": "1"}  # the argument was left as read
    assert (await configmaps.get("default", "a"))["data"] == {"n": "2"}
    same = await configmaps.mutate(
        "default", "a", lambda obj: orjson.loads(orjson.dumps(obj)), pure=True
    )
    assert same["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
