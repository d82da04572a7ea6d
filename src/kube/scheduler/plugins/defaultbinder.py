"""DefaultBinder: binds the pod by POSTing a Binding to the pod's `binding` subresource.

One binding per scheduled pod, so its client-side cost counts: the body is encoded once with
orjson and sent through `RESTClient.request` as it is (no copy of the object to stamp its
kind, no query string), with no client-side deadline (client-go's default, Timeout 0: the
API server's own request timeout bounds it, and aiohttp arms no timer per request), and the
answer, a Status, is not decoded: a 2xx is success, anything else raises APIError.
"""

from __future__ import annotations

from kube.api.errors import APIError
from kube.api.meta import Object
from kube.api.resources import resource
from kube.codec import jsonc
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.status import Status, error

NAME = "DefaultBinder"
PODS = resource("pods")
JSON = "application/json"


def binding_body(pod: Object, node: str) -> bytes:
    """The Binding of `pod` to `node`, as JSON (upstream's: the pod's name, namespace, uid)."""
    meta = pod.get("metadata") or {}
    return jsonc.dumps(
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
            },
            "target": {"kind": "Node", "name": node},
        }
    )


class DefaultBinder(Plugin):
    NAME = NAME

    async def bind(self, state: CycleState, pod: Object, node: str) -> Status:
        meta = pod.get("metadata") or {}
        path = PODS.path(meta.get("namespace"), str(meta.get("name")), "binding")
        try:
            await self.handle.client.request(
                "POST", path, body=binding_body(pod, node), content_type=JSON, seconds=None
            )
        except APIError as err:
            return error(f"binding rejected: {err}")
        return Status()
