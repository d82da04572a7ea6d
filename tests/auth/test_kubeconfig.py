"""Kubeconfig files: what we write reads back here and in the real kubectl, which can also
use it to reach a TLS server over loopback; reading follows client-go's rules."""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kube.auth import (
    PKI,
    KubeconfigError,
    load_kubeconfig,
    server_ssl_context,
    server_url,
    write_admin_kubeconfig,
    write_kubeconfig,
    x509_user,
)

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def kubectl(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    return subprocess.run(
        [KUBECTL, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


# --- writing ------------------------------------------------------------------------------


def test_admin_kubeconfig_round_trips(pki: PKI, tmp_path: Path) -> None:
    path = tmp_path / "kube" / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=6443)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    info = load_kubeconfig(path)
    assert info.server == "https://127.0.0.1:6443"
    assert (info.context, info.cluster, info.user) == ("default", "default", "default")
    assert info.ca_data == pki.ca.cert_pem()
    assert info.client_cert_data == pki.admin.cert_pem()
    assert info.client_key_data == pki.admin.key_pem()
    assert info.token is None
    assert info.namespace is None
    assert not info.insecure_skip_tls_verify


def test_written_shape_is_k3s_like(pki: PKI, tmp_path: Path) -> None:
    path = tmp_path / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=6443)
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "v1"
    assert doc["kind"] == "Config"
    assert doc["current-context"] == "default"
    assert doc["clusters"][0]["name"] == "default"
    assert doc["contexts"][0]["context"] == {"cluster": "default", "user": "default"}
    user = doc["users"][0]["user"]
    assert set(user) == {"client-certificate-data", "client-key-data"}


def test_token_kubeconfig_round_trips(pki: PKI, tmp_path: Path) -> None:
    path = tmp_path / "token.yaml"
    write_kubeconfig(
        path,
        server="https://10.0.0.1:6443",
        ca_data=pki.ca.cert_pem(),
        token="s3cret",
        name="lab",
        namespace="apps",
    )
    info = load_kubeconfig(path)
    assert (info.context, info.server, info.token, info.namespace) == (
        "lab",
        "https://10.0.0.1:6443",
        "s3cret",
        "apps",
    )
    assert info.client_cert_data is None
    assert info.client_key_data is None


def test_server_url() -> None:
    assert server_url("127.0.0.1", 6443) == "https://127.0.0.1:6443"
    assert server_url("::1", 6443) == "https://[::1]:6443"
    assert server_url("localhost", 443) == "https://localhost:443"


# --- the real kubectl ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jsonpath", "expected"),
    [
        ("{.clusters[0].cluster.server}", "https://127.0.0.1:6443"),
        ("{.current-context}", "default"),
        ("{.contexts[0].context.user}", "default"),
        ("{.users[0].name}", "default"),
    ],
)
def test_kubectl_reads_what_we_wrote(
    pki: PKI, tmp_path: Path, jsonpath: str, expected: str
) -> None:
    path = tmp_path / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=6443)
    out = kubectl(
        "config",
        "view",
        "--kubeconfig",
        str(path),
        "--raw",
        "-o",
        f"jsonpath={jsonpath}",
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == expected


def test_kubectl_sees_our_credentials(pki: PKI, tmp_path: Path) -> None:
    path = tmp_path / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=6443)
    out = kubectl("config", "view", "--kubeconfig", str(path), "--raw", "-o", "json", home=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    user = doc["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == pki.admin.cert_pem()
    assert base64.b64decode(user["client-key-data"]) == pki.admin.key_pem()
    ca = doc["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(ca) == pki.ca.cert_pem()


class _RecordingServer(ThreadingHTTPServer):
    """Remembers each request as `<path> <user name from the client certificate or ->`."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _VersionHandler)
        self.seen: list[str] = []


class _VersionHandler(BaseHTTPRequestHandler):
    """Answers like /version does."""

    def do_GET(self) -> None:
        assert isinstance(self.connection, ssl.SSLSocket)
        assert isinstance(self.server, _RecordingServer)
        der = self.connection.getpeercert(binary_form=True)
        user = x509_user(der) if der else None
        path = self.path.partition("?")[0]
        self.server.seen.append(f"{path} {user.name if user else '-'}")
        body = json.dumps({"major": "1", "minor": "37", "gitVersion": "v1.37.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(pki: PKI) -> Iterator[_RecordingServer]:
    httpd = _RecordingServer(("127.0.0.1", 0))
    ctx = server_ssl_context(
        pki.serving_cert_path, pki.serving_key_path, client_ca_file=pki.ca_cert_path
    )
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_kubectl_connects_with_our_pki(
    pki: PKI, tmp_path: Path, tls_server: _RecordingServer, host: str
) -> None:
    """Go's TLS stack (stricter than OpenSSL in places) accepts our CA, serving certificate
    and client certificate: kubectl verifies the server and presents the admin identity."""
    path = tmp_path / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=tls_server.server_address[1], host=host)
    out = kubectl(
        "get",
        "--raw",
        "/version",
        "--kubeconfig",
        str(path),
        "--request-timeout=20s",
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["gitVersion"] == "v1.37.0"
    assert tls_server.seen == ["/version kubernetes-admin"]


def test_loaded_kubeconfig_ssl_context_connects(
    pki: PKI, tmp_path: Path, tls_server: _RecordingServer
) -> None:
    """The Python side of the same check: what `load_kubeconfig` returns is enough to connect."""
    path = tmp_path / "admin.yaml"
    write_admin_kubeconfig(path, pki, port=tls_server.server_address[1], host="localhost")
    info = load_kubeconfig(path)
    url = urlsplit(info.server)
    assert url.hostname is not None
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=info.ssl_context())
    try:
        conn.request("GET", "/version")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["minor"] == "37"
    finally:
        conn.close()
    assert tls_server.seen == ["/version kubernetes-admin"]


# --- reading ------------------------------------------------------------------------------


def base_doc(cluster: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://h:1", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def test_file_paths_are_relative_to_the_kubeconfig(pki: PKI, tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(pki.ca.cert_pem())
    (tmp_path / "certs" / "admin.crt").write_bytes(pki.admin.cert_pem())
    key_file = tmp_path / "elsewhere.key"
    key_file.write_bytes(pki.admin.key_pem())
    doc = base_doc(
        {"certificate-authority": "certs/ca.crt"},
        {"client-certificate": "certs/admin.crt", "client-key": str(key_file)},
    )
    info = load_kubeconfig(write_yaml(tmp_path / "config", doc))
    assert info.ca_data == pki.ca.cert_pem()
    assert info.client_cert_data == pki.admin.cert_pem()
    assert info.client_key_data == pki.admin.key_pem()


def test_token_file_relative(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    doc = base_doc({"insecure-skip-tls-verify": True}, {"tokenFile": "token"})
    info = load_kubeconfig(write_yaml(tmp_path / "config", doc))
    assert info.token == "tok-from-file"
    assert info.insecure_skip_tls_verify
    # An inline token wins over the file, as in client-go.
    doc["users"][0]["user"]["token"] = "inline"
    assert load_kubeconfig(write_yaml(tmp_path / "config", doc)).token == "inline"


def test_named_context_overrides_current(tmp_path: Path) -> None:
    doc = base_doc({}, {"token": "t1"})
    doc["clusters"].append({"name": "c2", "cluster": {"server": "https://other:2"}})
    doc["contexts"].append(
        {"name": "second", "context": {"cluster": "c2", "user": "u", "namespace": "ns"}}
    )
    path = write_yaml(tmp_path / "config", doc)
    assert load_kubeconfig(path).server == "https://h:1"
    second = load_kubeconfig(path, context="second")
    assert (second.context, second.server, second.namespace) == ("second", "https://other:2", "ns")


def test_context_without_user_has_no_credentials(tmp_path: Path) -> None:
    doc = base_doc({}, {})
    doc["contexts"][0]["context"].pop("user")
    info = load_kubeconfig(write_yaml(tmp_path / "config", doc))
    assert (info.user, info.token, info.client_cert_data) == ("", None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("current-context"), "current-context is not set"),
        (lambda d: d.update({"current-context": "nope"}), "context 'nope' does not exist"),
        (lambda d: d["contexts"][0]["context"].update(cluster="x"), "cluster 'x' does not exist"),
        (lambda d: d["contexts"][0]["context"].update(user="x"), "user 'x' does not exist"),
        (lambda d: d["clusters"][0]["cluster"].pop("server"), "no server found for cluster 'c'"),
        (
            lambda d: d["clusters"][0]["cluster"].update(
                {"certificate-authority": "ca.crt", "certificate-authority-data": b64(b"x")}
            ),
            "certificate-authority-data and certificate-authority are both specified",
        ),
        (
            lambda d: d["users"][0]["user"].update({"client-key-data": "not base64!"}),
            "client-key-data is not valid base64",
        ),
        (
            lambda d: d["users"][0]["user"].update({"client-certificate": "missing.crt"}),
            "client-certificate .*missing.crt",
        ),
        (lambda d: d.update({"clusters": {"c": {}}}), "clusters must be a list"),
        (lambda d: d["users"][0]["user"].update({"token": 42}), "token must be a string"),
    ],
)
def test_unusable_kubeconfig(tmp_path: Path, change: Any, message: str) -> None:
    doc = base_doc({}, {"token": "t"})
    change(doc)
    path = write_yaml(tmp_path / "config", doc)
    with pytest.raises(KubeconfigError, match=message) as err:
        load_kubeconfig(path)
    assert str(err.value).startswith(f"{path}: ")


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(KubeconfigError, match="YAML"):
        load_kubeconfig(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_kubeconfig(tmp_path / "absent")
