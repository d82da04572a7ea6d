"""Authenticators: who is making a request, from its client certificate or bearer token.

These are the links of the API server's authentication chain, kept free of any HTTP
framework so they are plain functions of bytes and strings:

- `x509_user`: a client certificate the TLS layer has already verified against the client
  CA becomes a user: CN is the name, each O a group (upstream `CommonNameUserConversion`).
- `StaticTokenFile`: kube-apiserver's `--token-auth-file`, a CSV of
  `token,user,uid[,"group1,group2"]`; `authenticate_bearer` takes an `Authorization` header.

Every authenticated user is also in `system:authenticated` (upstream adds it after the
chain). Nothing here answers 401: an authenticator returns None when it does not recognise
the credential and the API server decides what an unauthenticated request gets.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "AUTHENTICATED_GROUP",
    "CREDENTIAL_ID_KEY",
    "StaticTokenFile",
    "UserInfo",
    "bearer_token",
    "parse_token_file",
    "x509_user",
]

log = logging.getLogger(__name__)

AUTHENTICATED_GROUP = "system:authenticated"
# The `extra` key under which upstream records which credential authenticated the request
# (for audit): `X509SHA256=<hex>` for client certificates.
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated user, as authorizers and audit see it (upstream `user.Info`)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_authenticated_group(self) -> UserInfo:
        """This user, also in `system:authenticated` (once)."""
        if AUTHENTICATED_GROUP in self.groups:
            return self
        return UserInfo(self.name, self.uid, (*self.groups, AUTHENTICATED_GROUP), self.extra)


@functools.lru_cache(maxsize=4096)
def x509_user(peer_cert_der: bytes) -> UserInfo | None:
    """The user a verified client certificate names, or None if it names nobody (no CN).

    The caller must have verified the certificate (the TLS handshake does, against the
    client CA); this only reads the subject. `peer_cert_der` is what
    `SSLSocket.getpeercert(binary_form=True)` returns. Answers are kept per certificate: a
    client presents the same one on every request, and parsing it was a tenth of a GET.
    """
    cert = x509.load_der_x509_certificate(peer_cert_der)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(common_names[0].value) if common_names else ""
    if not name:
        return None
    groups = tuple(
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    )
    credential_id = "X509SHA256=" + hashlib.sha256(peer_cert_der).hexdigest()
    user = UserInfo(name=name, groups=groups, extra={CREDENTIAL_ID_KEY: (credential_id,)})
    return user.with_authenticated_group()


def bearer_token(header_value: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None for any other header.

    Like upstream: the scheme is case-insensitive, one space separates it from the token, and
    an empty token is no token.
    """
    if header_value is None:
        return None
    parts = header_value.strip().split(" ", 2)
    if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
        return None
    return parts[1]


class StaticTokenFile:
    """Users from a `--token-auth-file` CSV, read once (upstream reads it only at start).

    Format, one user per line: `token,user,uid` with an optional fourth column of groups,
    quoted when it holds several: `31ada4fd-adec,alice,1000,"group1,group2"`. Blank lines are
    skipped; a line with fewer than three columns makes the whole file invalid. As upstream,
    a line with an empty token is ignored and a repeated token keeps its last line (both
    logged).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._users = parse_token_file(self.path.read_text(encoding="utf-8"), str(self.path))

    def __len__(self) -> int:
        return len(self._users)

    def authenticate_token(self, token: str) -> UserInfo | None:
        user = self._users.get(token)
        return user.with_authenticated_group() if user else None

    def authenticate_bearer(self, header_value: str | None) -> UserInfo | None:
        """The user an `Authorization` header's bearer token belongs to, if any."""
        token = bearer_token(header_value)
        return self.authenticate_token(token) if token is not None else None


def parse_token_file(text: str, source: str = "<token file>") -> dict[str, UserInfo]:
    """Token -> user from a token file's text; errors are ValueError(`source:line: reason`)."""
    users: dict[str, UserInfo] = {}
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise ValueError(f"{source}:{reader.line_num}: {err}") from err
        line = reader.line_num
        if not record:
            continue
        if len(record) < 3:
            raise ValueError(
                f"{source}:{line}: must have at least 3 columns "
                f"(token, user name, user uid), found {len(record)}"
            )
        token, name, uid = record[0], record[1], record[2]
        if not token:
            log.warning("%s:%d: empty token, line ignored", source, line)
            continue
        if token in users:
            log.warning("%s:%d: duplicate token, this line replaces the earlier one", source, line)
        groups = tuple(g for g in record[3].split(",") if g) if len(record) > 3 else ()
        users[token] = UserInfo(name=name, uid=uid, groups=groups)
    return users
