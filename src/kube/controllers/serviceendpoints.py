"""Which pods back a Service, on which ports: shared by the Endpoints and EndpointSlice controllers.

Both controllers are keyed by Service (`namespace/name`) and recompute the whole set of
endpoints of one Service from the informers on each sync (level-triggered). The rules are
upstream's (pkg/controller/endpoint, pkg/controller/endpointslice, and their shared
`endpointutil`):

- only Services with a selector are managed; a pod backs a Service when it is in the same
  namespace, matches the selector, has a pod IP, and is not terminal (Succeeded/Failed);
- a pod is *ready* when its `Ready` condition is True, or the Service says
  `publishNotReadyAddresses`; a pod being deleted is *terminating* (EndpointSlice keeps it as
  serving/terminating; Endpoints drops it unless publishNotReadyAddresses);
- each Service port's `targetPort` resolves per pod: a number is used as is, a name is looked up
  among the pod's container ports with the same protocol (a pod without it does not back that
  port); no targetPort means the Service's `port`.

The candidate pods of a Service come from an index of the pods' label pairs
(`LABEL_PAIR_INDEX`, `pods_selected`): the smallest of the sets its selector's pairs name, then
the whole selector checked on each; upstream lists the namespace's pods through the selector,
which in Go is cheap enough at any size, and here is not at a thousand pods a namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kube.api.meta import Object
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, Informer, object_key
from kube.controllers.pods import is_pod_ready


@dataclass(frozen=True)
class EndpointPort:
    name: str
    port: int
    protocol: str
    app_protocol: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"port": self.port, "protocol": self.protocol}
        if self.name:
            out["name"] = self.name
        if self.app_protocol:
            out["appProtocol"] = self.app_protocol
        return out


@dataclass(frozen=True)
class Endpoint:
    """One pod backing a Service, with the ports it serves."""

    ip: str
    pod: Object
    ready: bool
    serving: bool
    terminating: bool
    ports: tuple[EndpointPort, ...]

    @property
    def node_name(self) -> str:
        return str((self.pod.get("spec") or {}).get("nodeName") or "")

    def target_ref(self) -> dict[str, str]:
        meta = self.pod["metadata"]
        return {
            "kind": "Pod",
            "namespace": str(meta.get("namespace") or ""),
            "name": str(meta.get("name") or ""),
            "uid": str(meta.get("uid") or ""),
        }


def selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


LABEL_PAIR_INDEX = "namespaceLabelPair"
SELECTOR_PAIR_INDEX = "namespaceSelectorPair"


def _pair_key(namespace: str, key: str, value: str) -> str:
    return f"{namespace}/{key}={value}"


def label_pair_index(obj: Object) -> list[str]:
    """Index function: `<namespace>/<key>=<value>` for each of the object's labels."""
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    return [_pair_key(namespace, k, str(v)) for k, v in (meta.get("labels") or {}).items()]


def selector_pair_index(service: Object) -> list[str]:
    """Index function: `<namespace>/<key>=<value>` for each pair of the Service's selector."""
    meta = service.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    selector = (service.get("spec") or {}).get("selector") or {}
    return [_pair_key(namespace, k, str(v)) for k, v in selector.items()]


def pods_selected(pods: Informer, namespace: str, selector: dict[str, str]) -> list[Object]:
    """The pods of `namespace` whose labels match every pair of `selector` (none if it is
    empty: an empty selector selects nothing here, as a Service without one is not managed)."""
    if not selector:
        return []
    indexer = pods.indexer
    keys = [_pair_key(namespace, k, str(v)) for k, v in selector.items()]
    smallest = min(keys, key=lambda key: indexer.index_size(LABEL_PAIR_INDEX, key))
    candidates = indexer.by_index(LABEL_PAIR_INDEX, smallest)
    if len(keys) == 1:
        return candidates
    return [
        p
        for p in candidates
        if selector_matches(selector, (p.get("metadata") or {}).get("labels") or {})
    ]


def resolve_port(pod: Object, service_port: dict[str, Any]) -> int | None:
    """The pod's port for a Service port (upstream's podutil.FindPort)."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol") or "TCP"
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                value = port.get("containerPort")
                return int(value) if isinstance(value, int) else None
    return None


def endpoints_for(service: Object, pods: Iterable[Object]) -> list[Endpoint]:
    """The pods backing `service` (with a selector), sorted by pod name."""
    spec = service.get("spec") or {}
    selector = spec.get("selector") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    out: list[Endpoint] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        ip = status.get("podIP")
        if not ip or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if not selector_matches(selector, meta.get("labels") or {}):
            continue
        ports = []
        for sp in spec.get("ports") or []:
            number = resolve_port(pod, sp)
            if number is not None:
                ports.append(
                    EndpointPort(
                        str(sp.get("name") or ""),
                        number,
                        str(sp.get("protocol") or "TCP"),
                        sp.get("appProtocol"),
                    )
                )
        terminating = bool(meta.get("deletionTimestamp"))
        ready = is_pod_ready(pod)
        out.append(
            Endpoint(
                ip=str(ip),
                pod=pod,
                ready=(ready and not terminating) or publish_not_ready,
                serving=ready or publish_not_ready,
                terminating=terminating,
                ports=tuple(ports),
            )
        )
    out.sort(key=lambda e: str(e.pod["metadata"].get("name")))
    return out


def watch_services_and_pods(
    services: Informer, pods: Informer, enqueue: Callable[[str], None]
) -> None:
    """Enqueue a Service when it changes, and every Service whose selector a pod enters or
    leaves (old and new labels both count). Indexes the pods by label pair for
    `pods_selected`, and the Services by selector pair to find those a pod may concern."""
    pods.add_indexer(LABEL_PAIR_INDEX, label_pair_index)

    def service_key(obj: Object | DeletedFinalStateUnknown) -> None:
        enqueue(obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj))

    services.add_event_handler(
        EventHandler(
            on_add=service_key,
            on_update=lambda _old, new: service_key(new),
            on_delete=service_key,
        )
    )

    services.add_indexer(SELECTOR_PAIR_INDEX, selector_pair_index)

    def for_pod(*versions: Object) -> None:
        # The Services to look at are those whose selector shares a pair with the pod's labels
        # (from the index), not every Service of the namespace.
        seen: set[str] = set()
        for version in versions:
            labels = (version.get("metadata") or {}).get("labels") or {}
            for pair in label_pair_index(version):
                for svc in services.indexer.by_index(SELECTOR_PAIR_INDEX, pair):
                    key = object_key(svc)
                    if key in seen:
                        continue
                    if selector_matches((svc.get("spec") or {}).get("selector") or {}, labels):
                        seen.add(key)
                        enqueue(key)

    def on_delete(obj: Object | DeletedFinalStateUnknown) -> None:
        for_pod(obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj)

    pods.add_event_handler(
        EventHandler(
            on_add=lambda pod: for_pod(pod),
            on_update=lambda old, new: for_pod(old, new),
            on_delete=on_delete,
        )
    )
