"""discovery.k8s.io defaults against pkg/apis/discovery/v1/defaults.go."""

from __future__ import annotations

from kube.api.defaults import default


def test_endpoint_slice_ports_get_an_empty_name_and_tcp() -> None:
    slice_ = {
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.244.0.5"]}],
        "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}],
    }
    default("discovery.k8s.io", "v1", "EndpointSlice", slice_)
    assert slice_["ports"] == [
        {"port": 80, "name": "", "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
    ]


def test_endpoint_slice_without_ports_is_left_alone() -> None:
    slice_ = {"addressType": "IPv4", "endpoints": []}
    default("discovery.k8s.io", "v1", "EndpointSlice", slice_)
    assert slice_ == {"addressType": "IPv4", "endpoints": []}
