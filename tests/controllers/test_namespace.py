"""Namespace deletion: the API server's two-phase delete and finalize, and the namespace
controller that empties a terminating namespace (`kubectl delete namespace` returns once it
is gone)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kube.api.errors import APIError
from kube.api.resources import resolve
from kube.client.rest import RESTClient
from kube.codec import jsonc
from kube.controllers.namespace import (
    CONDITION_TYPES,
    ConditionUpdater,
    deletable_resources,
    gvr_string,
    update_conditions,
)
from tests.controllers.conftest import controllers, eventually
from tests.controllers.test_garbagecollector import KUBECTL, kubectl


def _row(name: str) -> Any:
    row = resolve(name)
    assert row is not None
    return row


NAMESPACES, CONFIGMAPS, SECRETS, PODS = (
    _row("namespaces"),
    _row("configmaps"),
    _row("secrets"),
    _row("pods"),
)
DEPLOYMENTS = _row("deployments.apps")
POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}


async def get(client: RESTClient, resource: Any, name: str, ns: str | None = None) -> Any:
    try:
        return await client.get(resource, name, ns)
    except APIError as err:
        if err.code != 404:
            raise
        return None


async def finalize(client: RESTClient, ns: dict[str, Any], finalizers: list[str]) -> Any:
    body = {**ns, "spec": {**ns.get("spec", {}), "finalizers": finalizers}}
    return await client.update(NAMESPACES, body, subresource="finalize")


# -- the API server -----------------------------------------------------------------------


async def test_delete_marks_the_namespace_terminating(client: RESTClient) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "ns-mark"}})
    marked = await client.delete(NAMESPACES, "ns-mark")
    assert marked["kind"] == "Namespace"
    assert marked["status"]["phase"] == "Terminating"
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["spec"]["finalizers"] == ["kubernetes"]
    # A second delete changes nothing while spec.finalizers holds `kubernetes`.
    again = await client.delete(NAMESPACES, "ns-mark")
    assert again["metadata"]["resourceVersion"] == marked["metadata"]["resourceVersion"]
    with pytest.raises(APIError) as refused:
        await client.create(CONFIGMAPS, {"metadata": {"name": "late"}}, "ns-mark")
    assert (refused.value.code, refused.value.reason) == (403, "Forbidden")
    assert "because it is being terminated" in refused.value.message
    # Status updates (the controller's conditions) do not complete the delete.
    live = await client.get(NAMESPACES, "ns-mark")
    live["status"]["conditions"] = [{"type": "NamespaceContentRemaining", "status": "False"}]
    await client.update(NAMESPACES, live, subresource="status")
    live = await client.get(NAMESPACES, "ns-mark")
    # Finalizing with no finalizers left deletes it.
    done = await finalize(client, live, [])
    assert done["spec"].get("finalizers") in (None, [])
    assert await get(client, NAMESPACES, "ns-mark") is None


async def test_finalize_changes_only_spec_finalizers(client: RESTClient) -> None:
    ns = await client.create(NAMESPACES, {"metadata": {"name": "ns-finalize"}})
    body = {
        **ns,
        "metadata": {**ns["metadata"], "labels": {"sneaky": "yes"}},
        "spec": {"finalizers": ["kubernetes", "example.com/mine"]},
        "status": {"phase": "Terminating"},
    }
    updated = await client.update(NAMESPACES, body, subresource="finalize")
    assert updated["spec"]["finalizers"] == ["kubernetes", "example.com/mine"]
    assert "sneaky" not in updated["metadata"]["labels"]
    assert updated["status"]["phase"] == "Active"
    # A stale resourceVersion is a conflict; a bad finalizer name is invalid.
    with pytest.raises(APIError) as stale:
        await finalize(client, ns, [])
    assert (stale.value.code, stale.value.reason) == (409, "Conflict")
    with pytest.raises(APIError) as bad:
        await finalize(client, updated, ["not-qualified"])
    assert (bad.value.code, bad.value.reason) == (422, "Invalid")
    # Updates and patches of the namespace itself leave spec.finalizers alone (upstream).
    patched = await client.patch(NAMESPACES, "ns-finalize", {"spec": {"finalizers": []}})
    assert patched["spec"]["finalizers"] == ["kubernetes", "example.com/mine"]
    updated = await client.get(NAMESPACES, "ns-finalize")
    # An active namespace is not deleted by losing its finalizers.
    cleared = await finalize(client, updated, [])
    assert not cleared["spec"].get("finalizers")
    assert await get(client, NAMESPACES, "ns-finalize") is not None
    with pytest.raises(APIError) as wrong_verb:
        await client.request("GET", NAMESPACES.path(None, "ns-finalize", "finalize"))
    assert wrong_verb.value.code == 405


async def test_orphan_policy_on_a_namespace_adds_the_orphan_finalizer(client: RESTClient) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "ns-orphan"}})
    marked = await client.delete(NAMESPACES, "ns-orphan", propagation_policy="Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    # Without the GC finalizer and spec.finalizers the namespace goes on its next write.
    await client.patch(NAMESPACES, "ns-orphan", {"metadata": {"finalizers": None}})
    live = await client.get(NAMESPACES, "ns-orphan")
    await finalize(client, live, [])
    assert await get(client, NAMESPACES, "ns-orphan") is None


# -- the controller -----------------------------------------------------------------------


@pytest.fixture
async def ns_controller(bare_cluster: Path) -> AsyncIterator[None]:
    async with controllers(bare_cluster, "namespace", **{"namespace-deletion-grace-period": 0}):
        yield


async def test_kubectl_delete_namespace_waits_until_everything_is_gone(
    bare_cluster: Path, client: RESTClient, ns_controller: None
) -> None:
    ns = "ns-full"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    for i in range(3):
        await client.create(CONFIGMAPS, {"metadata": {"name": f"cm-{i}"}}, ns)
    await client.create(SECRETS, {"metadata": {"name": "s"}, "stringData": {"k": "v"}}, ns)
    await client.create(PODS, {"metadata": {"name": "p"}, "spec": POD_SPEC}, ns)
    await client.create(
        DEPLOYMENTS,
        {
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": POD_SPEC},
            },
        },
        ns,
    )
    code, out, err = await kubectl(bare_cluster, "delete", "namespace", ns, "--timeout=30s")
    assert (code, out, err) == (0, f'namespace "{ns}" deleted\n', "")
    assert await get(client, NAMESPACES, ns) is None
    for resource in (CONFIGMAPS, SECRETS, PODS, DEPLOYMENTS):
        assert (await client.list(resource, ns))["items"] == []


async def test_content_held_by_a_finalizer_keeps_the_namespace_terminating(
    client: RESTClient, ns_controller: None
) -> None:
    ns = "ns-held"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await client.create(CONFIGMAPS, held, ns)
    await client.create(CONFIGMAPS, {"metadata": {"name": "free"}}, ns)
    await client.delete(NAMESPACES, ns)

    async def conditions() -> dict[str, Any]:
        live = await client.get(NAMESPACES, ns)
        found = {c["type"]: c for c in live["status"].get("conditions") or []}
        return found if _content_remaining(found) else {}

    found = await eventually(conditions)
    assert list(found) == list(CONDITION_TYPES)
    assert {t: (c["status"], c["reason"], c["message"]) for t, c in found.items()} == {
        "NamespaceDeletionDiscoveryFailure": (
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered",
        ),
        "NamespaceDeletionGroupVersionParsingFailure": (
            "False",
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed",
        ),
        "NamespaceDeletionContentFailure": (
            "False",
            "ContentDeleted",
            "All content successfully deleted, may be waiting on finalization",
        ),
        "NamespaceContentRemaining": (
            "True",
            "SomeResourcesRemain",
            "Some resources are remaining: configmaps. has 1 resource instances",
        ),
        "NamespaceFinalizersRemaining": (
            "True",
            "SomeFinalizersRemain",
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 "
            "resource instances",
        ),
    }
    assert await get(client, CONFIGMAPS, "free", ns) is None
    live = await client.get(NAMESPACES, ns)
    assert (live["status"]["phase"], live["spec"]["finalizers"]) == ("Terminating", ["kubernetes"])
    # Release the finalizer; any change to the namespace makes the controller look again.
    await client.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, ns)
    await client.patch(NAMESPACES, ns, {"metadata": {"annotations": {"poke": "1"}}})
    await eventually(lambda: _gone(client, ns))


def _content_remaining(found: dict[str, Any]) -> bool:
    return found.get("NamespaceContentRemaining", {}).get("status") == "True"


async def _gone(client: RESTClient, ns: str) -> bool:
    return await get(client, NAMESPACES, ns) is None


async def test_namespace_without_deletion_is_left_alone(
    client: RESTClient, ns_controller: None
) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "ns-alive"}})
    await client.create(CONFIGMAPS, {"metadata": {"name": "cm"}}, "ns-alive")
    await asyncio.sleep(0.3)
    assert await get(client, CONFIGMAPS, "cm", "ns-alive") is not None
    assert (await client.get(NAMESPACES, "ns-alive"))["status"]["phase"] == "Active"


# -- pure pieces --------------------------------------------------------------------------


def test_conditions_flip_back_to_ok_when_content_is_gone() -> None:
    failing = ConditionUpdater()
    failing.content_totals({"pods.": 2}, {"example.com/x": 2})
    failing.content_errors.append("boom")
    namespace: dict[str, Any] = {"status": {}}
    assert failing.update(namespace)
    by_type = {c["type"]: c for c in namespace["status"]["conditions"]}
    assert by_type["NamespaceDeletionContentFailure"]["message"] == (
        "Failed to delete all resource types, 1 remaining: boom"
    )
    assert by_type["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: pods. has 2 resource instances"
    )
    ok: list[dict[str, Any]] = namespace["status"]["conditions"]
    assert update_conditions(ok, [])
    assert {c["status"] for c in ok} == {"False"}
    assert not update_conditions(ok, [])


def test_every_namespaced_deletable_resource_is_emptied() -> None:
    plurals = {(r.group, r.plural) for r in deletable_resources()}
    assert {("", "pods"), ("", "configmaps"), ("apps", "deployments"), ("", "events")} <= plurals
    assert ("", "namespaces") not in plurals
    assert ("", "bindings") not in plurals
    assert gvr_string(_row("deployments.apps")) == "apps/v1, Resource=deployments"


async def test_stuck_namespace_is_released_with_kubectl_replace_raw_finalize(
    bare_cluster: Path, client: RESTClient
) -> None:
    """The documented way out of a namespace stuck in Terminating (no controller runs here)."""
    await client.create(NAMESPACES, {"metadata": {"name": "ns-stuck"}})
    marked = await client.delete(NAMESPACES, "ns-stuck")
    body = jsonc.dumps({**marked, "spec": {"finalizers": []}})
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        "--kubeconfig",
        str(bare_cluster),
        "replace",
        "--raw",
        "/api/v1/namespaces/ns-stuck/finalize",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(body), 30)
    assert (proc.returncode, err) == (0, b"")
    assert jsonc.loads(out)["metadata"]["name"] == "ns-stuck"
    assert await get(client, NAMESPACES, "ns-stuck") is None
