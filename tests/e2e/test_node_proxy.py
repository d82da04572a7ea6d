"""`nodes/{name}/proxy/{path}`: requests relayed by the API server to the node's kubelet.

`kubectl get --raw /api/v1/nodes/<node>/proxy/stats/summary` is how `kubectl top`-like tools
and people reach a kubelet through the API server. The first tests put an HTTPS stand-in where
a Node says its kubelet is (InternalIP, daemonEndpoints.kubeletEndpoint.Port) and look at what
arrives there; the last asks a real kubelet (the `node` fixture of test_kubelet: slow).
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import Cluster
from tests.e2e.test_kubelet import Node, node  # noqa: F401  (the fixture)


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        answer = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "body": body,
                "authorization": self.headers.get("Authorization"),
                "client_certificate": bool(peer),
            }
        ).encode()
        self.send_response(200 if not self.path.startswith("/missing") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stand_in(cluster: Cluster) -> Iterator[str]:
    """A Node whose "kubelet" is an HTTPS echo server on 127.0.0.1; yields the node's name."""
    tls = cluster.data_dir / "tls"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls / "apiserver.crt", tls / "apiserver.key")
    context.load_verify_locations(tls / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL  # to see whether the API server presents one
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"proxy-{secrets.token_hex(3)}"
    manifest = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": server.server_address[1]}},
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    try:
        yield name
    finally:
        cluster.kubectl("delete", "node", name, "--wait=false", check=False)
        server.shutdown()
        server.server_close()


def raw(cluster: Cluster, verb: str, path: str, body: str | None = None) -> dict[str, Any]:
    args = [verb, "--raw", path] + (["-f", "-"] if body is not None else [])
    answer: dict[str, Any] = json.loads(cluster.kubectl(*args, input=body).stdout)
    return answer


def test_get_reaches_the_kubelet_path_with_its_query(cluster: Cluster, stand_in: str) -> None:
    seen = raw(cluster, "get", f"/api/v1/nodes/{stand_in}/proxy/stats/summary?only_cpu=true")
    assert seen["method"] == "GET"
    assert seen["path"] == "/stats/summary?only_cpu=true"
    # The API server's kubelet client certificate, never the caller's credentials.
    assert seen["client_certificate"] is True
    assert seen["authorization"] is None
    assert raw(cluster, "get", f"/api/v1/nodes/{stand_in}/proxy/")["path"] == "/"


def test_other_methods_and_bodies_are_relayed(cluster: Cluster, stand_in: str) -> None:
    seen = raw(cluster, "create", f"/api/v1/nodes/{stand_in}/proxy/run", '{"a": 1}')
    assert (seen["method"], seen["path"]) == ("POST", "/run")
    assert json.loads(seen["body"]) == {"a": 1}
    seen = raw(cluster, "delete", f"/api/v1/nodes/{stand_in}/proxy/thing")
    assert (seen["method"], seen["path"]) == ("DELETE", "/thing")


def test_the_kubelets_status_is_passed_back(cluster: Cluster, stand_in: str) -> None:
    missing = cluster.kubectl(
        "get", "--raw", f"/api/v1/nodes/{stand_in}/proxy/missing", check=False
    )
    assert missing.returncode == 1
    assert "NotFound" in missing.stderr


def test_a_missing_node_is_not_found(cluster: Cluster) -> None:
    missing = cluster.kubectl("get", "--raw", "/api/v1/nodes/nope/proxy/healthz", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): nodes "nope" not found' in missing.stderr


def test_an_unreachable_kubelet_is_an_error_from_the_server(cluster: Cluster) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    name = f"gone-{secrets.token_hex(3)}"
    manifest = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        },
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))
    try:
        refused = cluster.kubectl(
            "get", "--raw", f"/api/v1/nodes/{name}/proxy/healthz", check=False
        )
        assert refused.returncode == 1
        assert (
            "Error from server: error trying to reach service: "
            f"dial tcp 127.0.0.1:{port}: connect: connection refused"
        ) in refused.stderr
    finally:
        cluster.kubectl("delete", "node", name, "--wait=false", check=False)


def test_discovery_lists_nodes_proxy(cluster: Cluster) -> None:
    resources = json.loads(cluster.kubectl("get", "--raw", "/api/v1").stdout)["resources"]
    proxy = next(r for r in resources if r["name"] == "nodes/proxy")
    assert proxy["kind"] == "NodeProxyOptions"
    assert proxy["verbs"] == ["create", "delete", "get", "patch", "update"]


@pytest.mark.slow
def test_a_real_kubelet_answers_healthz_and_stats_summary(node: Node) -> None:  # noqa: F811
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the kubelet has registered its address
        found = json.loads(node.kubectl("get", "nodes", "-o", "json"))["items"]
        if any(
            n["metadata"]["name"] == node.name
            and n.get("status", {})
            .get("daemonEndpoints", {})
            .get("kubeletEndpoint", {})
            .get("Port")
            for n in found
        ):
            break
        time.sleep(0.5)
    assert node.kubectl("get", "--raw", f"/api/v1/nodes/{node.name}/proxy/healthz") == "ok"
    summary = json.loads(
        node.kubectl("get", "--raw", f"/api/v1/nodes/{node.name}/proxy/stats/summary")
    )
    assert summary["node"]["nodeName"] == node.name
