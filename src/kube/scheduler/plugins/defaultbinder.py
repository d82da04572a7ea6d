"""DefaultBinder: binds the pod by POSTing a Binding to the pod's `binding` subresource."""

from __future__ import annotations

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.status import Status, error

NAME = "DefaultBinder"
PODS = resource("pods")


class DefaultBinder(Plugin):
    NAME = NAME

    async def bind(self, state: CycleState, pod: Object, node: str) -> Status:
        meta = pod.get("metadata") or {}
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "target": {"kind": "Node", "name": node},
        }
        try:
            await self.handle.client.create(
                PODS,
                binding,
                namespace=meta.get("namespace"),
                name=str(meta.get("name")),
                subresource="binding",
            )
        except APIError as err:
            return error(f"binding rejected: {err}")
        return Status()
