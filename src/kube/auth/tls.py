"""`ssl.SSLContext`s for both ends of the API connection, built the way upstream configures TLS.

The server asks for a client certificate but does not require one (Go's
`VerifyClientCertIfGiven`): a client may authenticate with a certificate signed by the client
CA or with a bearer token, and a certificate that does not verify fails the handshake.
OpenSSL checks the client certificate's extended key usage (clientAuth) as Go does.

The client verifies the server against the cluster CA and presents its own certificate. A
kubeconfig carries both inline (`*-data` fields) while `ssl` only loads a certificate chain
from files, so `client_ssl_context` stages them in a private temporary directory.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

__all__ = ["client_ssl_context", "server_ssl_context"]


def server_ssl_context(
    cert_file: Path, key_file: Path, *, client_ca_file: Path | None = None
) -> ssl.SSLContext:
    """The API server's context: serve `cert_file`, verify client certificates if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        ctx.load_verify_locations(cafile=client_ca_file)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def client_ssl_context(
    *,
    ca_data: bytes | None = None,
    cert_data: bytes | None = None,
    key_data: bytes | None = None,
    insecure_skip_verify: bool = False,
) -> ssl.SSLContext:
    """A client's context from PEM bytes (as a kubeconfig holds them).

    Without `ca_data` the system trust store is used; `insecure_skip_verify` turns off server
    verification entirely (kubeconfig's `insecure-skip-tls-verify`).
    """
    if (cert_data is None) != (key_data is None):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_data is not None:
        ctx.load_verify_locations(cadata=ca_data.decode("ascii"))
    if cert_data is not None and key_data is not None:
        with tempfile.TemporaryDirectory(prefix="kube-tls-") as tmp:  # created 0700
            cert_file, key_file = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_file.write_bytes(cert_data)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key_data)
            ctx.load_cert_chain(cert_file, key_file)
    return ctx
