"""Client-certificate authentication per TLS connection: read once, asked on every request."""

from __future__ import annotations

import ssl
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from kube.apiserver.app import Authentication
from kube.auth import create_ca, issue_client_cert


class _Connection(ssl.SSLObject):
    """An SSLObject whose handshake presented `der` (counts how often it is read)."""

    der: bytes | None = None
    reads = 0

    def getpeercert(self, binary_form: bool = False) -> Any:
        assert binary_form
        self.reads += 1
        return self.der


class _Transport:
    def __init__(self, ssl_object: ssl.SSLObject) -> None:
        self.ssl_object = ssl_object

    def get_extra_info(self, name: str) -> Any:
        return self.ssl_object if name == "ssl_object" else None


class _Request:
    def __init__(self, ssl_object: ssl.SSLObject, headers: dict[str, str] | None = None) -> None:
        self.transport = _Transport(ssl_object)
        self.headers = headers or {}


def _connection(der: bytes | None) -> _Connection:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.sslobject_class = _Connection
    conn = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_side=True)
    assert isinstance(conn, _Connection)
    conn.der = der
    return conn


async def test_each_request_of_a_connection_is_its_certificate_user() -> None:
    ca = create_ca()
    alice = issue_client_cert(ca, "alice", ["team-a"]).cert.public_bytes(Encoding.DER)
    bob = issue_client_cert(ca, "bob").cert.public_bytes(Encoding.DER)
    authn = Authentication()
    first, second = _connection(alice), _connection(bob)
    for _ in range(3):
        user = await authn.authenticate(_Request(first))  # type: ignore[arg-type]
        assert user is not None
        assert (user.name, user.groups) == ("alice", ("team-a", "system:authenticated"))
        other = await authn.authenticate(_Request(second))  # type: ignore[arg-type]
        assert other is not None
        assert other.name == "bob"
    assert (first.reads, second.reads) == (1, 1)


async def test_a_connection_without_a_certificate_falls_back_to_tokens() -> None:
    authn = Authentication()
    conn = _connection(None)
    for _ in range(2):
        request = _Request(conn, {"Authorization": "Bearer nobody-knows-it"})
        assert await authn.authenticate(request) is None  # type: ignore[arg-type]
    assert conn.reads == 1
