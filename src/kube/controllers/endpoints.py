"""The Endpoints controller ("endpoint"): one core/v1 Endpoints per Service with a selector.

Upstream pkg/controller/endpoint. The Endpoints object has the Service's name and labels (plus
`service.kubernetes.io/headless` for headless Services) and its `subsets` group the addresses
by the set of ports they serve, ready ones under `addresses` and the others under
`notReadyAddresses`, sorted as upstream's RepackSubsets sorts them. It is written only when
it changes; deleting the Service deletes it. Services without a selector are left to their
users (the `kubernetes` Service's Endpoints belong to the API server).
"""

from __future__ import annotations

from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import split_key
from kube.controllers.base import Controller
from kube.controllers.manager import register
from kube.controllers.serviceendpoints import (
    Endpoint,
    endpoints_for,
    pods_selected,
    watch_services_and_pods,
)

SERVICES = resource("services")
PODS = resource("pods")
ENDPOINTS = resource("endpoints")
HEADLESS_LABEL = "service.kubernetes.io/headless"


def subsets(endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    """Addresses grouped by port set, as upstream's RepackSubsets does."""
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    ports_of: dict[tuple[tuple[str, int, str], ...], list[dict[str, Any]]] = {}
    for ep in endpoints:
        if not ep.ports:
            continue
        key = tuple(sorted((p.name, p.port, p.protocol) for p in ep.ports))
        ports_of.setdefault(key, [p.to_dict() for p in sorted(ep.ports, key=lambda p: p.name)])
        address: dict[str, Any] = {"ip": ep.ip, "targetRef": ep.target_ref()}
        if ep.node_name:
            address["nodeName"] = ep.node_name
        group = groups.setdefault(key, {"addresses": [], "notReadyAddresses": []})
        group["addresses" if ep.ready else "notReadyAddresses"].append(address)
    out = []
    for key in sorted(groups):
        subset: dict[str, Any] = {}
        for field in ("addresses", "notReadyAddresses"):
            if groups[key][field]:
                subset[field] = sorted(groups[key][field], key=lambda a: a["ip"])
        subset["ports"] = ports_of[key]
        out.append(subset)
    return out


def desired_endpoints(service: Object, pods: list[Object]) -> Object:
    meta = service["metadata"]
    labels = dict(meta.get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    out: Object = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
    }
    if labels:
        out["metadata"]["labels"] = labels
    found = subsets(endpoints_for(service, pods))
    if found:
        out["subsets"] = found
    return out


class EndpointsController(Controller):
    NAME = "endpoint"
    WORKERS_FLAG = "concurrent-endpoint-syncs"

    def setup(self) -> None:
        self.services = self.ctx.informers.informer(SERVICES)
        self.pods = self.ctx.informers.informer(PODS)
        self.endpoints = self.ctx.informers.informer(ENDPOINTS)
        watch_services_and_pods(self.services, self.pods, self.queue.add)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.lister().get(name, namespace)
        current = self.endpoints.lister().get(name, namespace)
        if service is None:
            if current is not None:  # the Service is gone: so are its Endpoints (upstream)
                try:
                    await self.client.delete(ENDPOINTS, name, namespace)
                except errors.APIError as err:
                    if err.code != 404:
                        raise
            return
        if not (service.get("spec") or {}).get("selector"):
            return
        selector = (service.get("spec") or {}).get("selector") or {}
        want = desired_endpoints(service, pods_selected(self.pods, namespace, selector))
        if current is None:
            try:
                await self.client.create(ENDPOINTS, want, namespace)
            except errors.APIError as err:
                if err.code != 409:
                    raise
                self.queue.add(key)  # created meanwhile: compare and update on the next pass
            return
        if current.get("subsets") == want.get("subsets") and (
            (current["metadata"].get("labels") or {}) == (want["metadata"].get("labels") or {})
        ):
            return
        updated = dict(current)
        updated["metadata"] = {**current["metadata"], "labels": want["metadata"].get("labels")}
        if "subsets" in want:
            updated["subsets"] = want["subsets"]
        else:
            updated.pop("subsets", None)
        await self.client.update(ENDPOINTS, updated)


register(EndpointsController)
