"""The cluster's PKI: one CA, the API server's serving certificate, client certificates.

Like k3s, the server creates its own certificate authority on first start and keeps it in the
data directory, so that `kube server` needs no setup and kubectl can verify the server:

- `ca.crt` / `ca.key`: the cluster CA (ECDSA P-256, 10 years, CN `kube-ca`). It signs both the
  serving certificate and every client certificate; the API server trusts client certificates
  it signed (`x509_user` in `authn.py` turns them into users).
- `apiserver.crt` / `apiserver.key`: the serving certificate (1 year, serverAuth), valid for
  the names and addresses clients dial: loopback, the host name, and the in-cluster names of
  the `kubernetes` service (see `default_hosts`).
- `admin.crt` / `admin.key`: the client certificate of `kubernetes-admin` in `system:masters`,
  which RBAC lets do anything; the admin kubeconfig embeds it.
- `sa.key` / `sa.pub`: the RSA key pair that signs service-account tokens (RS256, as upstream's
  `--service-account-signing-key-file`); see `kube.auth.serviceaccount`. Made once, kept.

`ensure_pki` is called on every start. It reuses what is on disk and replaces only what is
missing, broken (cert and key do not match, not signed by the current CA), close to expiry,
or -- for the serving certificate -- lacking a requested name. A new serving certificate
keeps the names the old one had, so two callers asking for different names never make it
flip-flop. Keys are written 0600, every file atomically (`_files.write_atomic`).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kube.auth._files import write_atomic

__all__ = [
    "ADMIN_GROUP",
    "ADMIN_USER",
    "PKI",
    "CertKey",
    "cert_hosts",
    "create_ca",
    "default_hosts",
    "ensure_client_cert",
    "ensure_pki",
    "ensure_service_account_key",
    "issue_client_cert",
    "issue_serving_cert",
    "new_private_key",
]

CA_COMMON_NAME = "kube-ca"
SERVING_COMMON_NAME = "kube-apiserver"
ADMIN_USER = "kubernetes-admin"
ADMIN_GROUP = "system:masters"

CA_DAYS = 3650
LEAF_DAYS = 365
# Leaf certificates closer than this to expiry are renewed on start (k3s uses 90 days too).
RENEW_BEFORE = dt.timedelta(days=90)
# Certificates are valid from a little before "now" so a client whose clock is slightly
# behind the server's does not reject a freshly made certificate.
BACKDATE = dt.timedelta(minutes=5)

# The key types we sign with and accept on disk (a CA someone brings may be RSA or EdDSA).
PrivateKey = (
    ec.EllipticCurvePrivateKey
    | rsa.RSAPrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class PKI:
    """The files `ensure_pki` keeps in one directory, loaded."""

    dir: Path
    ca: CertKey
    serving: CertKey
    admin: CertKey
    # Signs service-account tokens; None only for a PKI built by hand (tests).
    service_account_key: rsa.RSAPrivateKey | None = None

    @property
    def service_account_key_path(self) -> Path:
        return self.dir / "sa.key"

    @property
    def ca_cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.dir / "ca.key"

    @property
    def serving_cert_path(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def serving_key_path(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert_path(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key_path(self) -> Path:
        return self.dir / "admin.key"


# --- making certificates ----------------------------------------------------------------


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key: small, fast, accepted by Go's TLS (kubectl) and OpenSSL."""
    return ec.generate_private_key(ec.SECP256R1())


def create_ca(
    common_name: str = CA_COMMON_NAME,
    *,
    days: int = CA_DAYS,
    key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> CertKey:
    """A self-signed certificate authority that may sign certificates (and CRLs)."""
    key = key or new_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        _base_builder(name, key, days=days, now=now)
        .issuer_name(name)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
    )
    return CertKey(_sign(builder, key), key)


def issue_serving_cert(
    ca: CertKey,
    hosts: Iterable[str],
    *,
    common_name: str = SERVING_COMMON_NAME,
    days: int = LEAF_DAYS,
    key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> CertKey:
    """A TLS server certificate valid for `hosts` (DNS names and IP addresses, mixed)."""
    sans = [_general_name(h) for h in _unique_hosts(hosts)]
    if not sans:
        raise ValueError("a serving certificate needs at least one host name or address")
    key = key or new_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = _leaf_builder(ca, name, key, days=days, now=now)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
    ).add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return CertKey(_sign(builder, ca.key), key)


def issue_client_cert(
    ca: CertKey,
    user: str,
    groups: Sequence[str] = (),
    *,
    days: int = LEAF_DAYS,
    key: PrivateKey | None = None,
    now: dt.datetime | None = None,
) -> CertKey:
    """A TLS client certificate naming a Kubernetes user: CN is the user, each O a group."""
    if not user:
        raise ValueError("a client certificate needs a user name (its common name)")
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    key = key or new_private_key()
    builder = _leaf_builder(ca, x509.Name(attrs), key, days=days, now=now)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
    )
    return CertKey(_sign(builder, ca.key), key)


def cert_hosts(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses a certificate is valid for, normalised like `hosts`."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    names.update(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return names


def default_hosts(service_ip: str | None = None) -> list[str]:
    """The names an API server is reached by: loopback, this host, the `kubernetes` service.

    `service_ip` is the cluster IP of the `default/kubernetes` service (the first address of
    the service range, e.g. 10.43.0.1); pods reach the API server there.
    """
    hosts = ["127.0.0.1", "::1", "localhost", socket.gethostname()]
    hosts += [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    if service_ip:
        hosts.append(service_ip)
    return _unique_hosts(hosts)


def _base_builder(
    subject: x509.Name, key: PrivateKey, *, days: int, now: dt.datetime | None
) -> x509.CertificateBuilder:
    start = (now or dt.datetime.now(dt.UTC)) - BACKDATE
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + BACKDATE + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _leaf_builder(
    ca: CertKey, subject: x509.Name, key: PrivateKey, *, days: int, now: dt.datetime | None
) -> x509.CertificateBuilder:
    return (
        _base_builder(subject, key, days=days, now=now)
        .issuer_name(ca.cert.subject)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )


def _key_usage(
    *, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    # Ed25519/Ed448 keys (a CA someone brought) sign without a separate digest.
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return builder.sign(key, None)
    return builder.sign(key, hashes.SHA256())


def _normalise_host(host: str) -> str:
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):  # "[::1]" as written in URLs
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def _unique_hosts(hosts: Iterable[str]) -> list[str]:
    """Normalised, without blanks or duplicates, first occurrence first."""
    return list(dict.fromkeys(h for h in map(_normalise_host, hosts) if h))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


# --- keeping them on disk ---------------------------------------------------------------


def ensure_pki(
    dir: Path,
    *,
    hosts: Sequence[str],
    now: dt.datetime | None = None,
) -> PKI:
    """Load the PKI from `dir`, creating or repairing whatever is missing or unusable.

    Idempotent: when everything on disk is valid and the serving certificate already covers
    `hosts`, no file is touched.
    """
    now = now or dt.datetime.now(dt.UTC)
    dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    ca = _load_pair(dir / "ca.crt", dir / "ca.key")
    if ca is None or not _is_usable_ca(ca, now):
        ca = create_ca(now=now)
        _store(dir, "ca", ca)

    wanted = set(_unique_hosts(hosts))
    serving = _load_pair(dir / "apiserver.crt", dir / "apiserver.key")
    if (
        serving is None
        or not _is_current_leaf(serving, ca, now)
        or wanted - cert_hosts(serving.cert)
    ):
        # Keep the names the old certificate had, so that callers asking for different
        # names do not make it flip-flop on every start.
        keep = sorted(cert_hosts(serving.cert)) if serving and _issued_by(serving, ca) else []
        key = serving.key if serving else _load_key(dir / "apiserver.key")
        serving = issue_serving_cert(ca, [*hosts, *keep], key=key, now=now)
        _store(dir, "apiserver", serving, key_unchanged=key is not None)

    admin = ensure_client_cert(dir, "admin", ca, ADMIN_USER, [ADMIN_GROUP], now=now)
    sa_key = ensure_service_account_key(dir)
    return PKI(dir=dir, ca=ca, serving=serving, admin=admin, service_account_key=sa_key)


SERVICE_ACCOUNT_KEY_BITS = 2048


def ensure_service_account_key(dir: Path) -> rsa.RSAPrivateKey:
    """Keep `sa.key` (and `sa.pub`) in `dir`: the RSA key that signs service-account tokens.

    RSA because upstream signs these tokens RS256 and every JWT library verifies that. The
    key is made once and never rotated here: rotating it would invalidate every token issued.
    A missing or unreadable key (or one that is not RSA) is replaced.
    """
    key = _load_key(dir / "sa.key")
    if not isinstance(key, rsa.RSAPrivateKey):
        key = rsa.generate_private_key(public_exponent=65537, key_size=SERVICE_ACCOUNT_KEY_BITS)
        write_atomic(
            dir / "sa.key",
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            mode=0o600,
        )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pub_path = dir / "sa.pub"
    try:
        current = pub_path.read_bytes()
    except OSError:
        current = b""
    if current != public:
        write_atomic(pub_path, public, mode=0o644)
    return key


def ensure_client_cert(
    dir: Path,
    stem: str,
    ca: CertKey,
    user: str,
    groups: Sequence[str],
    *,
    now: dt.datetime | None = None,
) -> CertKey:
    """Keep `<stem>.crt`/`<stem>.key` in `dir`: a client certificate for `user` in `groups`.

    Reissued when missing, not signed by `ca`, near expiry, or naming another user or groups.
    """
    now = now or dt.datetime.now(dt.UTC)
    pair = _load_pair(dir / f"{stem}.crt", dir / f"{stem}.key")
    identity = (user, list(groups))
    if pair is not None and _is_current_leaf(pair, ca, now) and _names(pair.cert) == identity:
        return pair
    key = pair.key if pair else _load_key(dir / f"{stem}.key")
    pair = issue_client_cert(ca, user, groups, key=key, now=now)
    _store(dir, stem, pair, key_unchanged=key is not None)
    return pair


def _store(dir: Path, stem: str, pair: CertKey, *, key_unchanged: bool = False) -> None:
    # The key goes first: if we crash before the certificate is written, the next start
    # finds a certificate that does not match the key and issues a new one for this key.
    if not key_unchanged:
        write_atomic(dir / f"{stem}.key", pair.key_pem(), mode=0o600)
    write_atomic(dir / f"{stem}.crt", pair.cert_pem(), mode=0o644)


def _load_key(path: Path) -> PrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, PrivateKey) else None


def _load_pair(cert_path: Path, key_path: Path) -> CertKey | None:
    """The certificate and key, or None if either is missing, unreadable or they differ."""
    key = _load_key(key_path)
    if key is None:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        return None
    return CertKey(cert, key)


def _public_der(public_key: object) -> bytes:
    # Every public key type cryptography loads from a certificate has public_bytes.
    return public_key.public_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _is_usable_ca(ca: CertKey, now: dt.datetime) -> bool:
    try:
        constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and ca.cert.not_valid_before_utc <= now < ca.cert.not_valid_after_utc


def _issued_by(leaf: CertKey, ca: CertKey) -> bool:
    try:
        leaf.cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_current_leaf(leaf: CertKey, ca: CertKey, now: dt.datetime) -> bool:
    fresh = leaf.cert.not_valid_before_utc <= now + BACKDATE
    return fresh and now + RENEW_BEFORE < leaf.cert.not_valid_after_utc and _issued_by(leaf, ca)


def _names(cert: x509.Certificate) -> tuple[str, list[str]]:
    def values(oid: x509.ObjectIdentifier) -> list[str]:
        return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]

    cn = values(NameOID.COMMON_NAME)
    return (cn[0] if cn else "", values(NameOID.ORGANIZATION_NAME))
