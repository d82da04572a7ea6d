"""Endpoints and EndpointSlices follow a Service's selector, pods' readiness and named ports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kube.api import errors
from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.serviceendpoints import resolve_port
from tests.controllers.conftest import controllers, eventually, set_pod_phase

NAMESPACES = resource("namespaces")
SERVICES = resource("services")
PODS = resource("pods")
ENDPOINTS = resource("endpoints")
NODES = resource("nodes")
SLICES = resource("endpointslices")


def _pod(name: str, labels: dict[str, str], port_name: str = "http") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": "node-a",
            "containers": [
                {
                    "name": "web",
                    "image": "web:1",
                    "ports": [{"name": port_name, "containerPort": 8080}],
                }
            ],
        },
    }


async def _running(client: RESTClient, ns: str, name: str, ip: str, ready: bool = True) -> None:
    pod = await client.get(PODS, name, ns)
    await set_pod_phase(client, pod, "Running" if ready else "Pending")
    await client.patch(
        PODS, name, {"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}, ns, subresource="status"
    )


async def _setup(client: RESTClient, ns: str) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "web", "labels": {"tier": "front"}},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
        ns,
    )
    for name, ip in (("web-1", "10.1.0.1"), ("web-2", "10.1.0.2")):
        await client.create(PODS, _pod(name, {"app": "web"}), ns)
        await _running(client, ns, name, ip)
    # A pod that does not match, and one that matches without the named port.
    await client.create(PODS, _pod("other", {"app": "db"}), ns)
    await _running(client, ns, "other", "10.1.0.9")
    await client.create(PODS, _pod("web-noport", {"app": "web"}, port_name="metrics"), ns)
    await _running(client, ns, "web-noport", "10.1.0.3")


async def test_endpoints_list_ready_pods_on_the_resolved_port(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "ep-basic"
    await _setup(client, ns)
    async with controllers(bare_cluster, "endpoint"):

        async def subsets() -> Any:
            try:
                ep = await client.get(ENDPOINTS, "web", ns)
            except errors.APIError:
                return None
            return ep.get("subsets")

        got = await eventually(subsets)
        assert [a["ip"] for a in got[0]["addresses"]] == ["10.1.0.1", "10.1.0.2"]
        assert got[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert got[0]["addresses"][0]["targetRef"]["name"] == "web-1"
        assert got[0]["addresses"][0]["nodeName"] == "node-a"
        ep = await client.get(ENDPOINTS, "web", ns)
        assert ep["metadata"]["labels"] == {"tier": "front"}

        # web-2 turns unready: it moves to notReadyAddresses.
        await _running(client, ns, "web-2", "10.1.0.2", ready=False)

        async def moved() -> bool:
            s = await subsets()
            return bool(s and [a["ip"] for a in s[0].get("notReadyAddresses", [])] == ["10.1.0.2"])

        await eventually(moved)

        # The Service goes: so do its Endpoints.
        await client.delete(SERVICES, "web", ns)

        async def gone() -> bool:
            try:
                await client.get(ENDPOINTS, "web", ns)
            except errors.APIError as err:
                return err.code == 404
            return False

        await eventually(gone)


async def test_endpoint_slices_carry_conditions_and_follow_pods(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "eps-basic"
    await _setup(client, ns)
    zone = {"topology.kubernetes.io/zone": "zone-b"}
    await client.create(NODES, {"metadata": {"name": "node-a", "labels": zone}})
    async with controllers(bare_cluster, "endpointslice"):

        async def slices() -> list[dict[str, Any]]:
            page = await client.list(SLICES, ns, label_selector="kubernetes.io/service-name=web")
            return page["items"]

        async def http_slice() -> dict[str, Any] | None:
            items = [s for s in await slices() if s.get("ports")]
            return items[0] if len(items) == 1 else None

        async def endpoint_ips() -> list[str] | None:
            found = await http_slice()
            return (
                sorted(e["addresses"][0] for e in found.get("endpoints") or []) if found else None
            )

        assert await eventually(endpoint_ips) == ["10.1.0.1", "10.1.0.2"]
        # The pod without the named port serves no port of the Service: a slice of its own.
        others = [s for s in await slices() if not s.get("ports")]
        assert [e["addresses"] for s in others for e in s["endpoints"]] == [["10.1.0.3"]]
        only = await http_slice()
        assert only is not None
        assert only["metadata"]["name"].startswith("web-")
        assert only["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == (
            "endpointslice-controller.k8s.io"
        )
        assert only["metadata"]["ownerReferences"][0]["kind"] == "Service"
        assert only["addressType"] == "IPv4"
        assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        first = next(e for e in only["endpoints"] if e["addresses"] == ["10.1.0.1"])
        assert first["conditions"] == {"ready": True, "serving": True, "terminating": False}
        assert first["targetRef"]["name"] == "web-1"
        assert first["nodeName"] == "node-a"
        assert first["zone"] == "zone-b"

        # A new ready pod joins the same slice (updated in place, not replaced).
        await client.create(PODS, _pod("web-3", {"app": "web"}), ns)
        await _running(client, ns, "web-3", "10.1.0.4")

        async def three() -> bool:
            return await endpoint_ips() == ["10.1.0.1", "10.1.0.2", "10.1.0.4"]

        await eventually(three)
        after = await http_slice()
        assert after is not None
        assert after["metadata"]["name"] == only["metadata"]["name"]
        assert after["metadata"]["generation"] == only["metadata"]["generation"] + 1


async def test_a_service_placeholder_slice_becomes_its_first_slice(
    bare_cluster: Path, client: RESTClient
) -> None:
    ns = "eps-placeholder"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await client.create(
        SERVICES,
        {
            "metadata": {"name": "api"},
            "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        ns,
    )
    async with controllers(bare_cluster, "endpointslice"):

        async def one_slice() -> dict[str, Any] | None:
            page = await client.list(SLICES, ns, label_selector="kubernetes.io/service-name=api")
            return page["items"][0] if len(page["items"]) == 1 else None

        placeholder = await eventually(one_slice)
        assert placeholder["metadata"]["generation"] == 1
        assert not placeholder.get("endpoints")
        await client.create(PODS, _pod("api-1", {"app": "api"}), ns)
        await _running(client, ns, "api-1", "10.2.0.1")

        async def filled() -> dict[str, Any] | None:
            found = await one_slice()
            return found if found is not None and found.get("endpoints") else None

        slice_ = await eventually(filled)
        # The placeholder was updated in place: same name, next generation, no second slice.
        assert slice_["metadata"]["name"] == placeholder["metadata"]["name"]
        assert slice_["metadata"]["generation"] == 2
        assert [e["addresses"] for e in slice_["endpoints"]] == [["10.2.0.1"]]
        assert slice_["ports"] == [{"name": "", "port": 8080, "protocol": "TCP"}]


def test_named_and_numeric_target_ports_resolve_per_pod() -> None:
    pod = _pod("p", {})
    assert resolve_port(pod, {"port": 80, "targetPort": "http"}) == 8080
    assert resolve_port(pod, {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert resolve_port(pod, {"port": 80, "targetPort": 9090}) == 9090
    assert resolve_port(pod, {"port": 80}) == 80
