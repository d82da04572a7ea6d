"""The taint eviction controller ("taint-eviction-controller"): NoExecute taints evict pods.

Upstream pkg/controller/tainteviction. For each pod bound to a node with NoExecute taints:
a taint the pod does not tolerate deletes it at once; tolerated taints with
`tolerationSeconds` delete it that long after the taint's `timeAdded` (the smallest one counts);
a toleration without `tolerationSeconds` lets it stay. Removing the taint in time saves the pod.
Before deleting, the pod gets the `DisruptionTarget` condition (reason
`DeletionByTaintManager`) and an event `TaintManagerEviction` "Marking for deletion Pod
<namespace>/<name>", as upstream.

Keyed by pod; a node's taints changing enqueues the pods on it. A pod not yet due is
re-enqueued for when it will be (the queue's delayed add), so no timers are kept besides it.
"""

from __future__ import annotations

import time

from kube.api import errors
from kube.api.meta import Object, now_rfc3339, parse_rfc3339
from kube.api.resources import resource
from kube.client.informer import NODE_NAME_INDEX, EventHandler, node_name_index, split_key
from kube.controllers import taints
from kube.controllers.base import Controller
from kube.controllers.manager import register

NODES = resource("nodes")
PODS = resource("pods")


class TaintEvictionController(Controller):
    NAME = "taint-eviction-controller"
    COMPONENT = "taint-eviction-controller"
    WORKERS = 8

    def setup(self) -> None:
        self.nodes = self.ctx.informers.informer(NODES)
        self.pods = self.ctx.informers.informer(PODS)
        self.pods.add_indexer(NODE_NAME_INDEX, node_name_index)
        self.pods.add_event_handler(
            EventHandler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        )
        self.nodes.add_event_handler(
            EventHandler(
                on_add=self._node_changed,
                on_update=lambda old, new: (
                    self._node_changed(new)
                    if taints.node_taints(old) != taints.node_taints(new)
                    else None
                ),
            )
        )

    def _node_changed(self, node: Object) -> None:
        if not any(t.get("effect") == taints.NO_EXECUTE for t in taints.node_taints(node)):
            return
        for key in self.pods.indexer.index_keys(NODE_NAME_INDEX, node["metadata"]["name"]):
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        pod = self.pods.lister().get(name, namespace)
        if pod is None or (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self.nodes.lister().get(str(node_name)) if node_name else None
        if node is None:
            return
        no_execute = [t for t in taints.node_taints(node) if t.get("effect") == taints.NO_EXECUTE]
        if not no_execute:
            return
        delay = taints.eviction_delay(pod, no_execute)
        if delay is None:
            return
        if delay > 0:
            added = max((_timestamp(t.get("timeAdded")) for t in no_execute), default=time.time())
            remaining = added + delay - time.time()
            if remaining > 0:
                self.enqueue_after(key, remaining)
                return
        await self._evict(pod)

    async def _evict(self, pod: Object) -> None:
        meta = pod["metadata"]
        namespace, name = str(meta.get("namespace") or ""), str(meta["name"])
        conditions = [
            c
            for c in (pod.get("status") or {}).get("conditions") or []
            if c.get("type") != "DisruptionTarget"
        ]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": now_rfc3339(),
            }
        )
        self.recorder.event(
            pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {namespace}/{name}"
        )
        try:
            await self.client.patch(
                PODS,
                name,
                {"status": {"conditions": conditions}},
                namespace,
                subresource="status",
                patch_type="strategic",
            )
            await self.client.delete(PODS, name, namespace)
        except errors.APIError as err:
            if err.code != 404:
                raise


def _timestamp(text: object) -> float:
    if not isinstance(text, str) or not text:
        return time.time()
    try:
        return parse_rfc3339(text).timestamp()
    except ValueError:
        return time.time()


register(TaintEvictionController)
