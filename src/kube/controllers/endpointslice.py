"""The EndpointSlice controller ("endpointslice"): discovery.k8s.io/v1 slices per Service.

Upstream pkg/controller/endpointslice. A Service with a selector gets slices named
`<service>-<random>` (generateName), labelled `kubernetes.io/service-name` and
`endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, owned by the
Service (so the garbage collector removes them with it), one address type (IPv4 or IPv6 by the
pod IP), at most `max-endpoints-per-slice` (default 100) endpoints each, grouped by the set of
ports the endpoints serve. Each endpoint carries `conditions` (ready, serving, terminating),
`nodeName`, `zone` (from the node's `topology.kubernetes.io/zone` when known) and a `targetRef`.

Reconciling reuses slices: a slice whose port set is still wanted is updated in place (only if
its content changed), a slice that would be deleted takes the place of one to create (same
address type), the rest are deleted, and new slices are created for what is left over, which
keeps churn low as upstream's reconciler aims to. A sync whose informer does not yet show the
controller's own last writes is retried instead (`endpointslicetracker`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kube.api import errors
from kube.api.meta import Object
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler, split_key
from kube.controllers.base import Controller
from kube.controllers.endpointslicetracker import SliceTracker, StaleInformerCache
from kube.controllers.manager import register
from kube.controllers.serviceendpoints import (
    Endpoint,
    EndpointPort,
    endpoints_for,
    pods_selected,
    watch_services_and_pods,
)

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


def _slice_port(port: EndpointPort) -> dict[str, Any]:
    """A slice's port as the server stores it: discovery/v1 defaults an unset name to "", so
    leaving it out would make every comparison with the stored slice differ (and rewrite it)."""
    return {"name": port.name, **port.to_dict()}


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
        ports_of.setdefault(key, [_slice_port(p) for p in sorted(ep.ports, key=lambda p: p.name)])
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
        self.tracker = SliceTracker()
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

    def _zones(self, endpoints: list[Endpoint]) -> dict[str, str]:
        """The zone of each node the endpoints run on (looked up per node, not over all)."""
        nodes = self.nodes.lister()
        zones: dict[str, str] = {}
        for ep in endpoints:
            name = ep.node_name
            if not name or name in zones:
                continue
            node = nodes.get(name)
            zone = (((node or {}).get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
            zones[name] = str(zone or "")
        return zones

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        service = self.services.lister().get(name, namespace)
        existing = [
            s
            for s in self.slices.indexer.by_index("service", key)
            if ((s.get("metadata") or {}).get("labels") or {}).get(MANAGED_BY_LABEL) == MANAGED_BY
        ]
        if self.tracker.stale(key, existing):
            raise StaleInformerCache(f"EndpointSlice informer cache is out of date for {key}")
        if service is None or not (service.get("spec") or {}).get("selector"):
            # The Service is gone (its slices go with it through ownerReferences, but do not
            # wait for the garbage collector) or is not selector-based: none of ours remain.
            for old in existing:
                await self._delete(key, old)
            if service is None:
                self.tracker.forget(key)
            return
        pods = pods_selected(self.pods, namespace, service["spec"]["selector"])
        endpoints = endpoints_for(service, pods)
        wanted = desired_slices(service, endpoints, self._zones(endpoints), self.max_per_slice)
        reusable = sorted(existing, key=lambda s: s["metadata"]["name"])
        creates: list[Object] = []
        for address_type, ports, endpoints_ in wanted:
            body = self._body(service, address_type, ports, endpoints_)
            match = next(
                (
                    s
                    for s in reusable
                    if s.get("addressType") == address_type and (s.get("ports") or []) == ports
                ),
                None,
            )
            if match is None:
                creates.append(body)
                continue
            reusable.remove(match)
            if (match.get("endpoints") or []) == endpoints_ and self._labels_ok(match, service):
                continue
            await self._rewrite(key, match, body)
        # Upstream's reconciler finalize: a slice about to be created takes the place of one
        # about to be deleted, when their address types agree (addressType is immutable), so
        # a Service going from no endpoints to some updates its placeholder instead of
        # creating one slice and deleting another.
        for body in creates:
            spare = next((s for s in reusable if s.get("addressType") == body["addressType"]), None)
            if spare is not None:
                reusable.remove(spare)
                await self._rewrite(key, spare, body)
            else:
                self.tracker.wrote(key, await self.client.create(SLICES, body, namespace))
        for old in reusable:
            await self._delete(key, old)

    async def _rewrite(self, key: str, slice_: Object, body: Object) -> None:
        """Give an existing slice `body`'s endpoints, ports and labels."""
        updated = {**slice_, "endpoints": body["endpoints"], "ports": body["ports"]}
        updated["metadata"] = {**slice_["metadata"], "labels": body["metadata"]["labels"]}
        self.tracker.wrote(key, await self.client.update(SLICES, updated))

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

    async def _delete(self, key: str, slice_: Object) -> None:
        meta = slice_["metadata"]
        try:
            await self.client.delete(SLICES, meta["name"], meta.get("namespace"))
        except errors.APIError as err:
            if err.code != 404:
                raise
        self.tracker.deleted(key, str(meta["name"]))


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
