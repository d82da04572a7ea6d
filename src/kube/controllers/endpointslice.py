"""The EndpointSlice controller ("endpointslice"): discovery.k8s.io/v1 slices per Service.

Upstream pkg/controller/endpointslice. A Service with a selector gets slices named
`<service>-<random>` (generateName), labelled `kubernetes.io/service-name` and
`endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
Service (so the garbage collector removes them with it), one address type (IPv4 or IPv6 by the
pod IP), at most `max-endpoints-per-slice` (default 100) endpoints each, grouped by the set of
ports the endpoints serve. Each endpoint carries `conditions` (ready, serving, terminating),
`nodeName`, `zone` (from the node's `topology.kubernetes.io/zone` when known) and a `targetRef`.

Reconciling reuses slices: a slice whose port set is still wanted is updated in place (only if
its content changed), the rest are deleted, and new slices are created for what is left over,
which keeps churn low as upstream's reconciler aims to.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, split_key
from kube.controllers.base import Controller
from kube.controllers.manager import register
from kube.controllers.serviceendpoints import Endpoint, endpoints_for, watch_services_and_pods

SERVICES = resource("services")
PODS = resource("pods")
NODES = resource("nodes")
SLICES = resource("endpointslices")

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
DEFAULT_MAX_ENDPOINTS = 100


def _address_type(ip: str) -> str:
    return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"


def slice_endpoint(ep: Endpoint, zones: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "addresses": [ep.ip],
        "conditions": {"ready": ep.ready, "serving": ep.serving, "terminating": ep.terminating},
        "targetRef": ep.target_ref(),
    }
    if ep.node_name:
        out["nodeName"] = ep.node_name
        if zones.get(ep.node_name):
            out["zone"] = zones[ep.node_name]
    return out


def desired_slices(
    service: Object, endpoints: list[Endpoint], zones: dict[str, str], max_per_slice: int
) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """(address type, ports, endpoints) of each wanted slice, in a stable order."""
    groups: dict[tuple[str, tuple[tuple[str, int, str], ...]], list[Endpoint]] = {}
    ports_of: dict[tuple[str, tuple[tuple[str, int, str], ...]], list[dict[str, Any]]] = {}
    for ep in endpoints:
        key = (_address_type(ep.ip), tuple(sorted((p.name, p.port, p.protocol) for p in ep.ports)))
        groups.setdefault(key, []).append(ep)
        ports_of.setdefault(key, [p.to_dict() for p in sorted(ep.ports, key=lambda p: p.name)])
    if not endpoints:
        # A Service with no endpoints still gets one empty slice (upstream's placeholder).
        return [("IPv4", [], [])]
    out = []
    for key in sorted(groups):
        members = groups[key]
        for start in range(0, len(members), max_per_slice):
            chunk = members[start : start + max_per_slice]
            out.append((key[0], ports_of[key], [slice_endpoint(e, zones) for e in chunk]))
    return out


class EndpointSliceController(Controller):
    NAME = "endpointslice"
    COMPONENT = "endpoint-slice-controller"
    WORKERS_FLAG = "concurrent-service-endpoint-syncs"

    def setup(self) -> None:
        self.max_per_slice = int(
            self.ctx.options.get("max-endpoints-per-slice", DEFAULT_MAX_ENDPOINTS)
        )
        self.services = self.ctx.informers.informer(SERVICES)
        self.pods = self.ctx.informers.informer(PODS)
        self.nodes = self.ctx.informers.informer(NODES)
        self.slices = self.ctx.informers.informer(SLICES)
        self.slices.add_indexer("service", _service_index)
        watch_services_and_pods(self.services, self.pods, self.queue.add)
        # A slice edited or deleted by someone else is put back.
        self.slices.add_event_handler(
            EventHandler(
                on_update=lambda _old, new: self._enqueue_owner(new),
                on_delete=lambda obj: self._enqueue_owner(
                    obj.object if isinstance(obj, DeletedFinalStateUnknown) else obj
                ),
            )
        )

    def _enqueue_owner(self, slice_: Object) -> None:
        for key in _service_index(slice_):
            self.queue.add(key)

    def _zones(self) -> dict[str, str]:
        zones = {}
        for node in self.nodes.lister().list():
            zone = ((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
            if zone:
                zones[node["metadata"]["name"]] = zone
        return zones

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.lister().get(name, namespace)
        existing = [
            s
            for s in self.slices.indexer.by_index("service", key)
            if ((s.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]
        if service is None or not (service.get("spec") or {}).get("selector"):
            # The Service is gone (its slices go with it through ownerReferences, but do not
            # wait for the garbage collector) or is not selector-based: none of ours remain.
            for old in existing:
                await self._delete(old)
            return
        pods = self.pods.lister().list(namespace)
        wanted = desired_slices(
            service, endpoints_for(service, pods), self._zones(), self.max_per_slice
        )
        reusable = sorted(existing, key=lambda s: s["metadata"]["name"])
        for address_type, ports, endpoints in wanted:
            body = self._body(service, address_type, ports, endpoints)
            match = next(
                (
                    s
                    for s in reusable
                    if s.get("addressType") == address_type and (s.get("ports") or []) == ports
                ),
                None,
            )
            if match is None:
                await self.client.create(SLICES, body, namespace)
                continue
            reusable.remove(match)
            if (match.get("endpoints") or []) == endpoints and self._labels_ok(match, service):
                continue
            updated = {**match, "endpoints": endpoints, "ports": ports}
            updated["metadata"] = {**match["metadata"], "labels": body["metadata"]["labels"]}
            await self.client.update(SLICES, updated)
        for old in reusable:
            await self._delete(old)

    @staticmethod
    def _labels_ok(slice_: Object, service: Object) -> bool:
        return (slice_["metadata"].get("labels") or {}) == _labels(service)

    def _body(
        self,
        service: Object,
        address_type: str,
        ports: list[dict[str, Any]],
        endpoints: list[dict[str, Any]],
    ) -> Object:
        meta = service["metadata"]
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": _labels(service),
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": meta["name"],
                        "uid": meta.get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "addressType": address_type,
            "endpoints": endpoints,
            "ports": ports,
        }

    async def _delete(self, slice_: Object) -> None:
        meta = slice_["metadata"]
        try:
            await self.client.delete(SLICES, meta["name"], meta.get("namespace"))
        except errors.APIError as err:
            if err.code != 404:
                raise


def _labels(service: Object) -> dict[str, str]:
    labels = {
        k: v
        for k, v in ((service.get("metadata") or {}).get("labels") or {}).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)
    }
    labels[SERVICE_NAME_LABEL] = service["metadata"]["name"]
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    return labels


def _service_index(slice_: Object) -> list[str]:
    meta = slice_.get("metadata") or {}
    name = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
    return [f"{meta.get('namespace')}/{name}"] if name else []


register(EndpointSliceController)
