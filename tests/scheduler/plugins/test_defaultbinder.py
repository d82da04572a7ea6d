"""DefaultBinder: one POST of a Binding to pods/NAME/binding per pod; a refusal fails the bind."""

from __future__ import annotations

import json
from typing import Any

from kube.api.errors import APIError, conflict
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.status import Code
from kube.scheduler.plugins.defaultbinder import DefaultBinder


class RecordingClient:
    """Stands in for RESTClient.request: records what would be sent, or raises `refuse`."""

    def __init__(self, refuse: APIError | None = None) -> None:
        self.sent: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self.refuse = refuse

    async def request(self, method: str, path: str, **options: Any) -> None:
        body = json.loads(options.pop("body"))
        self.sent.append((method, path, body, options))
        if self.refuse is not None:
            raise self.refuse


class Handle:
    def __init__(self, client: RecordingClient) -> None:
        self.client = client


POD = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "1234"}, "spec": {}}


def binder(client: RecordingClient) -> DefaultBinder:
    plugin = DefaultBinder()
    plugin.handle = Handle(client)  # type: ignore[assignment]
    return plugin


async def test_binds_with_upstreams_binding_object() -> None:
    client = RecordingClient()
    status = await binder(client).bind(CycleState(), POD, "node-7")
    assert status.is_success()
    [(method, path, body, options)] = client.sent
    assert (method, path) == ("POST", "/api/v1/namespaces/shop/pods/web-1/binding")
    assert body == {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "1234"},
        "target": {"kind": "Node", "name": "node-7"},
    }
    assert options["content_type"] == "application/json"
    assert options["seconds"] is None  # no client-side deadline, as client-go's default


async def test_a_refused_binding_is_an_error_status() -> None:
    refusal = conflict("", "pods", "web-1", "pod web-1 is already assigned to node node-2")
    status = await binder(RecordingClient(refusal)).bind(CycleState(), POD, "node-7")
    assert status.code == Code.ERROR
    assert status.message.startswith("binding rejected: ")
    assert "already assigned to node" in status.message
