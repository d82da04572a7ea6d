"""Service cluster IPs and node ports: unique, in range, released on delete."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api.errors import APIError
from kube.apiserver.allocators import ServiceAllocator


def service(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}], **spec}}


def test_cluster_ips_are_unique_and_in_range() -> None:
    alloc = ServiceAllocator("10.43.0.0/29")  # six usable addresses
    ips = set()
    for i in range(6):
        svc = service(f"s{i}")
        alloc.allocate(svc)
        ips.add(svc["spec"]["clusterIP"])
        assert svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    assert ips == {f"10.43.0.{n}" for n in range(1, 7)}
    with pytest.raises(APIError) as full:
        alloc.allocate(service("more"))
    assert full.value.code == 422
    assert "range is full" in full.value.message


def test_a_requested_ip_is_claimed_once_and_must_be_in_range() -> None:
    alloc = ServiceAllocator("10.43.0.0/16")
    alloc.allocate(service("a", clusterIP="10.43.0.10"))
    with pytest.raises(APIError) as taken:
        alloc.allocate(service("b", clusterIP="10.43.0.10"))
    assert "provided IP is already allocated" in taken.value.message
    with pytest.raises(APIError) as outside:
        alloc.allocate(service("c", clusterIP="192.0.2.1"))
    assert "is not in the valid range" in outside.value.message
    assert alloc.used_ips == {"10.43.0.10"}


def test_release_frees_ip_and_node_ports() -> None:
    alloc = ServiceAllocator("10.43.0.0/16", (30000, 30001))
    svc = service("np", type="NodePort", ports=[{"port": 80}, {"port": 81}])
    alloc.allocate(svc)
    assert sorted(p["nodePort"] for p in svc["spec"]["ports"]) == [30000, 30001]
    with pytest.raises(APIError) as full:
        alloc.allocate(service("np2", type="NodePort"))
    assert "spec.ports[0].nodePort" in full.value.message
    alloc.release(svc)
    assert alloc.used_ports == set()
    assert alloc.used_ips == set()


def test_headless_and_external_name_services_get_no_ip() -> None:
    alloc = ServiceAllocator("10.43.0.0/16")
    headless = service("h", clusterIP="None")
    alloc.allocate(headless)
    assert headless["spec"]["clusterIP"] == "None"
    external = service("e", type="ExternalName", externalName="example.com")
    alloc.allocate(external)
    assert "clusterIP" not in external["spec"]
    assert alloc.used_ips == set()


def test_an_update_keeps_what_the_old_object_held() -> None:
    alloc = ServiceAllocator("10.43.0.0/16")
    old = service("u", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    alloc.allocate(old)
    new = service(
        "u",
        type="NodePort",
        clusterIP=old["spec"]["clusterIP"],
        ports=[{"port": 80, "nodePort": 30080}],
    )
    alloc.allocate(new, old)
    alloc.release(old, keep=new)
    assert alloc.used_ports == {30080}
    assert alloc.used_ips == {old["spec"]["clusterIP"]}
