"""Kubeconfig files: write the admin one the server hands out, read any one back.

Writing: `write_kubeconfig` produces the file k3s writes, one cluster, user and context all
named `default`, with the CA, client certificate and key embedded base64 (`*-data` fields) so
the file is self-contained and can be copied elsewhere. It holds a private key, so it is
written 0600, atomically.

Reading: `load_kubeconfig` resolves one context (the current one unless named) to what a
client needs to connect: the server URL, the CA to trust, and a client certificate and key or
a bearer token. It follows client-go: credentials may be inline (`*-data`, base64) or file
paths, relative paths are relative to the kubeconfig's own directory, and giving both the
inline and the file form of one credential is an error. Merging several files (`KUBECONFIG`
with colons) is the client's business, not this module's.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kube.auth._files import write_atomic
from kube.auth.certs import PKI
from kube.auth.tls import client_ssl_context
from kube.codec import yamlc
from kube.codec.jsonc import DecodeError

__all__ = [
    "DEFAULT_NAME",
    "KubeconfigError",
    "KubeconfigInfo",
    "build_kubeconfig",
    "load_kubeconfig",
    "server_url",
    "write_admin_kubeconfig",
    "write_kubeconfig",
]

# k3s names its cluster, user and context "default"; so do we.
DEFAULT_NAME = "default"


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class KubeconfigInfo:
    """What one context of a kubeconfig says about reaching and authenticating to a server."""

    path: Path
    context: str
    cluster: str
    user: str
    server: str
    namespace: str | None = None
    ca_data: bytes | None = None
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting this cluster's CA and presenting this user's cert."""
        return client_ssl_context(
            ca_data=self.ca_data,
            cert_data=self.client_cert_data,
            key_data=self.client_key_data,
            insecure_skip_verify=self.insecure_skip_tls_verify,
        )


def server_url(host: str, port: int) -> str:
    """`https://host:port`, with an IPv6 address in brackets."""
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass
    return f"https://{host}:{port}"


def build_kubeconfig(
    *,
    server: str,
    ca_data: bytes,
    client_cert_data: bytes | None = None,
    client_key_data: bytes | None = None,
    token: str | None = None,
    name: str = DEFAULT_NAME,
    namespace: str | None = None,
) -> dict[str, Any]:
    """A kubeconfig document with one cluster, user and context, all called `name`."""
    user: dict[str, str] = {}
    if client_cert_data is not None:
        user["client-certificate-data"] = _b64(client_cert_data)
    if client_key_data is not None:
        user["client-key-data"] = _b64(client_key_data)
    if token is not None:
        user["token"] = token
    context = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {"certificate-authority-data": _b64(ca_data), "server": server},
            }
        ],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
        "users": [{"name": name, "user": user}],
    }


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca_data: bytes,
    client_cert_data: bytes | None = None,
    client_key_data: bytes | None = None,
    token: str | None = None,
    name: str = DEFAULT_NAME,
    namespace: str | None = None,
) -> None:
    """Write `build_kubeconfig(...)` to `path` (mode 0600, atomically)."""
    doc = build_kubeconfig(
        server=server,
        ca_data=ca_data,
        client_cert_data=client_cert_data,
        client_key_data=client_key_data,
        token=token,
        name=name,
        namespace=namespace,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, yamlc.dumps(doc), mode=0o600)


def write_admin_kubeconfig(path: Path, pki: PKI, *, port: int, host: str = "127.0.0.1") -> None:
    """The kubeconfig `kube server` writes: the admin's certificate, the server on `host`."""
    write_kubeconfig(
        path,
        server=server_url(host, port),
        ca_data=pki.ca.cert_pem(),
        client_cert_data=pki.admin.cert_pem(),
        client_key_data=pki.admin.key_pem(),
    )


def load_kubeconfig(path: Path | str, *, context: str | None = None) -> KubeconfigInfo:
    """Resolve `context` (default: the file's `current-context`) of the kubeconfig at `path`.

    Raises OSError if the file cannot be read and KubeconfigError if it cannot be used.
    """
    path = Path(path)
    try:
        doc = yamlc.loads_object(path.read_bytes())
    except DecodeError as err:
        raise KubeconfigError(f"{path}: {err}") from err
    reader = _Reader(path)

    context_name = context or doc.get("current-context") or ""
    if not context_name:
        raise KubeconfigError(f"{path}: current-context is not set")
    ctx = reader.named(doc, "contexts", "context", context_name)
    cluster_name = reader.string(ctx, "cluster")
    user_name = reader.string(ctx, "user")
    cluster = reader.named(doc, "clusters", "cluster", cluster_name)
    user = reader.named(doc, "users", "user", user_name) if user_name else {}

    server = reader.string(cluster, "server")
    if not server:
        raise KubeconfigError(f"{path}: no server found for cluster {cluster_name!r}")
    token = reader.string(user, "token") or None
    if token is None and reader.string(user, "tokenFile"):
        token = reader.file(user, "tokenFile").decode().strip() or None
    return KubeconfigInfo(
        path=path,
        context=context_name,
        cluster=cluster_name,
        user=user_name,
        server=server,
        namespace=reader.string(ctx, "namespace") or None,
        ca_data=reader.credential(cluster, "certificate-authority"),
        client_cert_data=reader.credential(user, "client-certificate"),
        client_key_data=reader.credential(user, "client-key"),
        token=token,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=reader.string(cluster, "tls-server-name") or None,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Reader:
    """Field access on one kubeconfig that reports problems with the file's name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str) -> KubeconfigError:
        return KubeconfigError(f"{self.path}: {message}")

    def named(self, doc: dict[str, Any], section: str, kind: str, name: str) -> dict[str, Any]:
        """The body of the `kind` named `name` in the list `section`."""
        entries = doc.get(section) or []
        if not isinstance(entries, list):
            raise self.error(f"{section} must be a list")
        for entry in entries:
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(kind) or {}
                if not isinstance(body, dict):
                    raise self.error(f"{kind} {name!r} must be a mapping")
                return body
        raise self.error(f"{kind} {name!r} does not exist")

    def string(self, body: dict[str, Any], key: str) -> str:
        value = body.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.error(f"{key} must be a string")
        return value

    def file(self, body: dict[str, Any], key: str) -> bytes:
        """The contents of the file `body[key]` names, relative to the kubeconfig's folder."""
        target = self.path.parent / self.string(body, key)
        try:
            return target.read_bytes()
        except OSError as err:
            raise self.error(f"{key} {target}: {err.strerror or err}") from err

    def credential(self, body: dict[str, Any], key: str) -> bytes | None:
        """`<key>-data` (base64) or the file `<key>` names; giving both is an error."""
        inline, file = self.string(body, f"{key}-data"), self.string(body, key)
        if inline and file:
            raise self.error(f"{key}-data and {key} are both specified")
        if file:
            return self.file(body, key)
        if not inline:
            return None
        try:
            return base64.b64decode(inline, validate=True)
        except binascii.Error as err:
            raise self.error(f"{key}-data is not valid base64: {err}") from err
