"""Reflector and informer on fake time, fed by a scripted client (one module under test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kube.api import errors
from kube.api.resources import resolve
from kube.client.clock import FakeClock
from kube.client.informer import (
    DeletedFinalStateUnknown,
    EventHandler,
    Indexer,
    Informer,
    object_key,
    trim_managed_fields,
)
from kube.client.rest import WatchEvent

PODS = resolve("pods")
assert PODS is not None


def pod(name: str, rv: int, node: str = "n1", ns: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
        "spec": {"nodeName": node},
    }


def initial(*pods: dict[str, Any], rv: int) -> list[WatchEvent]:
    end = {
        "metadata": {
            "resourceVersion": str(rv),
            "annotations": {"k8s.io/initial-events-end": "true"},
        }
    }
    return [*(WatchEvent("ADDED", p) for p in pods), WatchEvent("BOOKMARK", end)]


class ScriptedClient:
    """Each watch call plays the next script: events, then an error or a pause forever."""

    def __init__(self, scripts: list[tuple[list[WatchEvent], BaseException | None]]) -> None:
        self.scripts = scripts
        self.calls: list[dict[str, Any]] = []

    async def watch(
        self, resource: Any, namespace: Any = None, **options: Any
    ) -> AsyncIterator[WatchEvent]:
        self.calls.append(options)
        if not self.scripts:
            await asyncio.Event().wait()
        events, error = self.scripts.pop(0)
        for event in events:
            yield event
        if error is not None:
            raise error
        await asyncio.Event().wait()


async def test_watch_list_then_events_then_relist_after_410() -> None:
    clock = FakeClock()
    gone = errors.APIError(410, "Expired", "too old resource version: 5 (20)")
    client = ScriptedClient(
        [
            (
                [
                    *initial(pod("a", 1), pod("b", 2), rv=2),
                    WatchEvent("MODIFIED", pod("a", 3)),
                    WatchEvent("ADDED", pod("c", 4)),
                ],
                gone,
            )
        ]
    )
    # After the 410 the relist no longer has "b": it was deleted while nobody watched.
    client.scripts.append((initial(pod("a", 3), pod("c", 4), pod("d", 9), rv=9), None))
    informer = Informer(client, PODS, clock=clock)  # type: ignore[arg-type]
    log: list[tuple[str, str]] = []
    informer.add_event_handler(
        EventHandler(
            on_add=lambda o: log.append(("add", object_key(o))),
            on_update=lambda old, new: log.append(("update", object_key(new))),
            on_delete=lambda o: log.append(
                ("gone", o.key) if isinstance(o, DeletedFinalStateUnknown) else ("del", "?")
            ),
        )
    )
    informer.start()
    try:
        await clock.advance(0)  # a 410 relists at once, without backing off
        assert log == [
            ("add", "default/a"),
            ("add", "default/b"),
            ("update", "default/a"),
            ("add", "default/c"),
            ("gone", "default/b"),
            ("add", "default/d"),
        ]
        assert informer.reflector.lists == 2
        assert client.calls[0]["send_initial_events"] is True
        assert client.calls[1]["send_initial_events"] is True
        assert sorted(informer.indexer.keys()) == ["default/a", "default/c", "default/d"]
        assert informer.reflector.last_sync_resource_version == "9"
    finally:
        await informer.stop()


async def test_a_broken_watch_resumes_from_the_last_resource_version_after_backoff() -> None:
    clock = FakeClock()
    client = ScriptedClient(
        [
            (
                [*initial(pod("a", 1), rv=1), WatchEvent("MODIFIED", pod("a", 5))],
                ConnectionResetError("peer went away"),
            ),
            ([WatchEvent("DELETED", pod("a", 6))], None),
        ]
    )
    informer = Informer(client, PODS, clock=clock)  # type: ignore[arg-type]
    deleted: list[Any] = []
    informer.add_event_handler(EventHandler(on_delete=deleted.append))
    informer.start()
    try:
        await clock.advance(0)
        assert len(client.calls) == 1  # backing off
        await clock.advance(1.0)
        assert len(client.calls) == 2
        assert client.calls[1]["resource_version"] == "5"
        assert client.calls[1]["send_initial_events"] is False
        assert [o["metadata"]["name"] for o in deleted] == ["a"]
        assert len(informer.indexer) == 0
    finally:
        await informer.stop()


async def test_resync_redelivers_every_object_to_handlers_that_ask() -> None:
    clock = FakeClock()
    client = ScriptedClient([(initial(pod("a", 1), pod("b", 2), rv=2), None)])
    informer = Informer(client, PODS, clock=clock)  # type: ignore[arg-type]
    resynced: list[str] = []
    informer.add_event_handler(
        EventHandler(on_update=lambda old, new: resynced.append(object_key(new)), resync=30)
    )
    informer.start()
    try:
        await clock.advance(29)
        assert resynced == []
        await clock.advance(1)
        assert sorted(resynced) == ["default/a", "default/b"]
    finally:
        await informer.stop()


async def test_a_transform_strips_managed_fields_before_handlers_and_the_cache() -> None:
    managed = [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1"}]
    a, b = pod("a", 1), pod("b", 3)
    for obj in (a, b):
        obj["metadata"]["managedFields"] = managed
    b_deleted = pod("b", 4)
    b_deleted["metadata"]["managedFields"] = managed
    client = ScriptedClient(
        [([*initial(a, rv=1), WatchEvent("ADDED", b), WatchEvent("DELETED", b_deleted)], None)]
    )
    informer = Informer(client, PODS, transform=trim_managed_fields)  # type: ignore[arg-type]
    seen: list[dict[str, Any]] = []
    informer.add_event_handler(EventHandler(on_add=seen.append, on_delete=seen.append))
    informer.start()
    try:
        for _ in range(100):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.01)
        assert [o["metadata"]["name"] for o in seen] == ["a", "b", "b"]
        assert all("managedFields" not in o["metadata"] for o in seen)
        cached = informer.lister().get("a", "default")
        assert cached is not None
        assert "managedFields" not in cached["metadata"]
        assert informer.lister().get("b", "default") is None
    finally:
        await informer.stop()


def test_indexer_keeps_custom_indices_in_step() -> None:
    indexer = Indexer({"node": lambda o: [o["spec"]["nodeName"]]})
    indexer.put(pod("a", 1, node="n1"))
    indexer.put(pod("b", 2, node="n1"))
    indexer.put(pod("c", 3, node="n2", ns="other"))
    assert [object_key(o) for o in indexer.by_index("node", "n1")] == ["default/a", "default/b"]
    indexer.put(pod("a", 4, node="n2"))  # moved
    assert indexer.index_keys("node", "n1") == ["default/b"]
    assert indexer.index_keys("node", "n2") == ["default/a", "other/c"]
    indexer.remove("other/c")
    assert indexer.index_keys("namespace", "other") == []
    assert indexer.index_keys("node", "n2") == ["default/a"]
