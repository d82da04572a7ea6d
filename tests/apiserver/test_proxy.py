"""pods/log and pods/exec: which container and which kubelet, with upstream's 400s."""

from __future__ import annotations

from typing import Any

import pytest

from kube.api import errors
from kube.apiserver.proxy import container_for, kubelet_address


def _pod(*names: str, init: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "containers": [{"name": n} for n in names],
            "initContainers": [{"name": n} for n in init],
        },
    }


def test_a_single_container_is_implied() -> None:
    assert container_for(_pod("a"), "") == "a"
    assert container_for(_pod("a", "b"), "b") == "b"
    assert container_for(_pod("a", init=("setup",)), "setup") == "setup"


def test_several_containers_need_a_name() -> None:
    with pytest.raises(errors.APIError) as caught:
        container_for(_pod("a", "b"), "")
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    assert (
        str(caught.value) == "a container name must be specified for pod web, choose one of: [a b]"
    )
    with pytest.raises(errors.APIError) as caught:
        container_for(_pod("a", "b", init=("setup",)), "")
    assert str(caught.value).endswith("choose one of: [a b] or one of the init containers: [setup]")


def test_an_unknown_container_is_not_valid() -> None:
    with pytest.raises(errors.APIError) as caught:
        container_for(_pod("a"), "c")
    assert (caught.value.code, str(caught.value)) == (400, "container c is not valid for pod web")


def test_the_kubelet_is_at_the_internal_ip_and_kubelet_port() -> None:
    node = {
        "metadata": {"name": "n1"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n1"},
                {"type": "InternalIP", "address": "192.0.2.7"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }
    assert kubelet_address(node) == ("192.0.2.7", 10250)
    with pytest.raises(errors.APIError) as caught:
        kubelet_address({"metadata": {"name": "n2"}, "status": {}})
    assert caught.value.code == 500
