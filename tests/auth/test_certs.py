"""The cluster PKI: certificates that verify (by RFC 5280 rules and in real TLS handshakes
over loopback), and `ensure_pki` keeping its files across restarts, crashes and new names."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ClientVerifier,
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from kube.auth import (
    ADMIN_GROUP,
    ADMIN_USER,
    PKI,
    _files,
    client_ssl_context,
    create_ca,
    default_hosts,
    ensure_client_cert,
    ensure_pki,
    issue_client_cert,
    issue_serving_cert,
    server_ssl_context,
    x509_user,
)
from kube.auth.certs import cert_hosts
from tests.auth.conftest import SERVICE_IP

FILES = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin.crt", "admin.key")
FILES += ("sa.key", "sa.pub")  # the service-account token signing key


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {n: ((directory / n).read_bytes(), (directory / n).stat().st_mtime_ns) for n in FILES}


# --- what the certificates say ----------------------------------------------------------


def test_ca_is_a_ten_year_signing_authority(pki: PKI) -> None:
    cert = pki.ca.cert
    assert cert.subject.rfc4514_string() == "CN=kube-ca"
    assert cert.issuer == cert.subject
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign
    assert usage.crl_sign
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=3650) <= lifetime <= dt.timedelta(days=3651)


def test_serving_cert_covers_default_hosts(pki: PKI) -> None:
    cert = pki.serving.cert
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("::1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address(SERVICE_IP) in sans.get_values_for_type(x509.IPAddress)
    dns = sans.get_values_for_type(x509.DNSName)
    for name in ("localhost", "kubernetes", "kubernetes.default.svc.cluster.local"):
        assert name in dns
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=365) <= lifetime <= dt.timedelta(days=366)


def test_admin_cert_names_user_and_group(pki: PKI) -> None:
    subject = pki.admin.cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == ADMIN_USER
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        ADMIN_GROUP
    ]
    eku = pki.admin.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_default_hosts() -> None:
    hosts = default_hosts(SERVICE_IP)
    expected = [
        "127.0.0.1",
        "::1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        SERVICE_IP,
    ]
    for host in expected:
        assert host in hosts
    assert socket.gethostname().lower() in hosts
    assert len(hosts) == len(set(hosts))
    assert SERVICE_IP not in default_hosts()


def test_serving_cert_needs_a_host() -> None:
    with pytest.raises(ValueError, match="at least one"):
        issue_serving_cert(create_ca(), ["", " "])


# --- chain verification by RFC 5280 rules (cryptography's verifier) --------------------


def verifier_policy(pki: PKI) -> PolicyBuilder:
    return PolicyBuilder().store(Store([pki.ca.cert]))


@pytest.mark.parametrize(
    "name",
    [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes.default.svc"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ],
)
def test_serving_cert_chain_verifies(pki: PKI, name: x509.DNSName | x509.IPAddress) -> None:
    chain = verifier_policy(pki).build_server_verifier(name).verify(pki.serving.cert, [])
    assert chain[-1] == pki.ca.cert


def test_serving_cert_rejects_other_names(pki: PKI) -> None:
    verifier = verifier_policy(pki).build_server_verifier(x509.DNSName("example.com"))
    with pytest.raises(VerificationError):
        verifier.verify(pki.serving.cert, [])


def client_verifier(pki: PKI) -> ClientVerifier:
    """Web-PKI rules, except that a client certificate need not carry a SAN (Kubernetes ones
    name their user in the subject, and upstream never asks for one)."""
    ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    return (
        verifier_policy(pki)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        .build_client_verifier()
    )


def test_client_cert_chain_verifies(pki: PKI) -> None:
    verified = client_verifier(pki).verify(pki.admin.cert, [])
    assert verified.chain[-1] == pki.ca.cert


def test_certificate_from_another_ca_does_not_verify(pki: PKI) -> None:
    stranger = issue_client_cert(create_ca(), ADMIN_USER, [ADMIN_GROUP])
    with pytest.raises(VerificationError):
        client_verifier(pki).verify(stranger.cert, [])


# --- real TLS handshakes over loopback ----------------------------------------------------


@dataclass
class Handshake:
    peer_cert_der: bytes | None = None
    server_error: OSError | None = None
    client_error: OSError | None = None


def handshake(
    server_ctx: ssl.SSLContext,
    client_ctx: ssl.SSLContext,
    server_hostname: str,
    address: str = "127.0.0.1",
) -> Handshake:
    """Connect a TLS client to a TLS server on `address`; report what each side saw."""
    result = Handshake()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((address, 0))
        listener.listen(1)
        listener.settimeout(10)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                with conn, server_ctx.wrap_socket(conn, server_side=True) as tls:
                    result.peer_cert_der = tls.getpeercert(binary_form=True)
                    tls.sendall(b"ok")
            except OSError as err:
                result.server_error = err

        server = threading.Thread(target=serve)
        server.start()
        try:
            port = listener.getsockname()[1]
            with (
                socket.create_connection((address, port), timeout=10) as raw,
                client_ctx.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                # With TLS 1.3 a rejected client certificate only shows on the first read.
                if tls.recv(2) != b"ok":
                    raise ConnectionResetError("server closed the connection")
        except OSError as err:
            result.client_error = err
        finally:
            server.join(10)
    return result


def server_ctx(pki: PKI) -> ssl.SSLContext:
    return server_ssl_context(
        pki.serving_cert_path, pki.serving_key_path, client_ca_file=pki.ca_cert_path
    )


def admin_ctx(pki: PKI) -> ssl.SSLContext:
    return client_ssl_context(
        ca_data=pki.ca.cert_pem(), cert_data=pki.admin.cert_pem(), key_data=pki.admin.key_pem()
    )


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "kubernetes.default.svc"])
def test_handshake_with_client_certificate(pki: PKI, hostname: str) -> None:
    result = handshake(server_ctx(pki), admin_ctx(pki), hostname)
    assert result.client_error is None
    assert result.server_error is None
    assert result.peer_cert_der is not None
    user = x509_user(result.peer_cert_der)
    assert user is not None
    assert user.name == ADMIN_USER
    assert user.groups == (ADMIN_GROUP, "system:authenticated")


def test_handshake_over_ipv6_loopback(pki: PKI) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("::1 is not configured")
    result = handshake(server_ctx(pki), admin_ctx(pki), "::1", address="::1")
    assert result.client_error is None
    assert result.server_error is None


def test_client_rejects_name_not_in_certificate(pki: PKI) -> None:
    result = handshake(server_ctx(pki), admin_ctx(pki), "example.com")
    assert isinstance(result.client_error, ssl.SSLCertVerificationError)


def test_client_rejects_server_of_another_ca(pki: PKI) -> None:
    other = create_ca()
    ctx = client_ssl_context(ca_data=other.cert_pem())
    result = handshake(server_ctx(pki), ctx, "localhost")
    assert isinstance(result.client_error, ssl.SSLCertVerificationError)


def test_client_certificate_is_optional(pki: PKI) -> None:
    """Token-authenticated clients present no certificate; the server still talks to them."""
    result = handshake(server_ctx(pki), client_ssl_context(ca_data=pki.ca.cert_pem()), "localhost")
    assert result.client_error is None
    assert result.server_error is None
    assert result.peer_cert_der is None


def test_server_rejects_client_certificate_of_another_ca(pki: PKI) -> None:
    stranger = issue_client_cert(create_ca(), ADMIN_USER, [ADMIN_GROUP])
    ctx = client_ssl_context(
        ca_data=pki.ca.cert_pem(), cert_data=stranger.cert_pem(), key_data=stranger.key_pem()
    )
    result = handshake(server_ctx(pki), ctx, "localhost")
    assert isinstance(result.server_error, ssl.SSLError)
    assert result.client_error is not None
    assert result.peer_cert_der is None


def test_server_rejects_serving_certificate_used_as_client_certificate(pki: PKI) -> None:
    """Like Go's `ExtKeyUsageClientAuth` check: a serverAuth-only cert is no identity."""
    ctx = client_ssl_context(
        ca_data=pki.ca.cert_pem(), cert_data=pki.serving.cert_pem(), key_data=pki.serving.key_pem()
    )
    result = handshake(server_ctx(pki), ctx, "localhost")
    assert isinstance(result.server_error, ssl.SSLError)


def test_client_context_needs_cert_and_key_together(pki: PKI) -> None:
    with pytest.raises(ValueError, match="needs its key"):
        client_ssl_context(cert_data=pki.admin.cert_pem())


# --- ensure_pki on disk -------------------------------------------------------------------


def test_ensure_pki_creates_files_with_safe_modes(pki_dir: Path) -> None:
    pki = ensure_pki(pki_dir, hosts=["localhost"])
    assert sorted(p.name for p in pki_dir.iterdir()) == sorted(FILES)
    for name in FILES:
        mode = stat.S_IMODE((pki_dir / name).stat().st_mode)
        assert mode == (0o600 if name.endswith(".key") else 0o644), name
    assert stat.S_IMODE(pki_dir.stat().st_mode) == 0o700
    assert pki.serving_cert_path.read_bytes() == pki.serving.cert_pem()
    assert pki.admin_key_path.read_bytes() == pki.admin.key_pem()


def test_ensure_pki_is_idempotent(pki_dir: Path) -> None:
    hosts = default_hosts(SERVICE_IP)
    first = ensure_pki(pki_dir, hosts=hosts)
    before = snapshot(pki_dir)
    second = ensure_pki(pki_dir, hosts=hosts)
    assert snapshot(pki_dir) == before
    assert second.ca.cert == first.ca.cert
    assert second.serving.cert == first.serving.cert
    assert second.admin.cert == first.admin.cert
    # Asking for a subset of the names it has is no reason to change either.
    ensure_pki(pki_dir, hosts=["LOCALHOST", "[::1]"])
    assert snapshot(pki_dir) == before


def test_ensure_pki_adds_missing_san_and_keeps_the_rest(pki_dir: Path) -> None:
    first = ensure_pki(pki_dir, hosts=["localhost", "127.0.0.1"])
    before = snapshot(pki_dir)
    second = ensure_pki(pki_dir, hosts=["api.example.test", "192.0.2.10"])
    after = snapshot(pki_dir)
    assert after["apiserver.crt"] != before["apiserver.crt"]
    assert cert_hosts(second.serving.cert) == {
        "localhost",
        "127.0.0.1",
        "api.example.test",
        "192.0.2.10",
    }
    # Only the serving certificate changed; its key is reused.
    for name in ("ca.crt", "ca.key", "admin.crt", "admin.key", "apiserver.key"):
        assert after[name] == before[name], name
    assert second.serving.key_pem() == first.serving.key_pem()
    second.serving.cert.verify_directly_issued_by(first.ca.cert)


def test_ensure_pki_reissues_a_deleted_certificate(pki_dir: Path) -> None:
    first = ensure_pki(pki_dir, hosts=["localhost"])
    (pki_dir / "admin.crt").unlink()
    second = ensure_pki(pki_dir, hosts=["localhost"])
    assert second.admin.cert != first.admin.cert
    assert second.admin.key_pem() == first.admin.key_pem()
    assert second.serving.cert == first.serving.cert


def test_ensure_pki_repairs_mismatched_key(pki_dir: Path) -> None:
    """A crash between writing a new key and its certificate leaves them mismatched."""
    first = ensure_pki(pki_dir, hosts=["localhost"])
    (pki_dir / "apiserver.key").write_bytes(create_ca().key_pem())
    second = ensure_pki(pki_dir, hosts=["localhost"])
    assert second.serving.cert != first.serving.cert
    assert second.serving.key_pem() == (pki_dir / "apiserver.key").read_bytes()
    assert second.ca.cert == first.ca.cert


def test_new_ca_reissues_every_leaf(pki_dir: Path) -> None:
    first = ensure_pki(pki_dir, hosts=["localhost"])
    (pki_dir / "ca.key").unlink()
    second = ensure_pki(pki_dir, hosts=["localhost"])
    assert second.ca.cert != first.ca.cert
    second.serving.cert.verify_directly_issued_by(second.ca.cert)
    second.admin.cert.verify_directly_issued_by(second.ca.cert)


def test_ensure_pki_renews_leaves_near_expiry(pki_dir: Path) -> None:
    first = ensure_pki(pki_dir, hosts=["localhost"])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    second = ensure_pki(pki_dir, hosts=["localhost"], now=later)
    assert second.ca.cert == first.ca.cert
    assert second.serving.cert.not_valid_after_utc > later + dt.timedelta(days=360)
    assert second.admin.cert.not_valid_after_utc > later + dt.timedelta(days=360)


def test_ensure_client_cert_follows_requested_identity(pki_dir: Path) -> None:
    pki = ensure_pki(pki_dir, hosts=["localhost"])
    node = ensure_client_cert(pki_dir, "node", pki.ca, "system:node:n1", ["system:nodes"])
    again = ensure_client_cert(pki_dir, "node", pki.ca, "system:node:n1", ["system:nodes"])
    assert again.cert == node.cert
    renamed = ensure_client_cert(pki_dir, "node", pki.ca, "system:node:n2", ["system:nodes"])
    user = x509_user(renamed.cert.public_bytes(Encoding.DER))
    assert user is not None
    assert user.name == "system:node:n2"


def test_atomic_write_keeps_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ca.key"
    _files.write_atomic(target, b"old", mode=0o600)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        _files.write_atomic(target, b"new", mode=0o600)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ca.key"]
