"""Authenticators: client certificates to users, and kube-apiserver's static token file."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from kube.auth import (
    PKI,
    StaticTokenFile,
    UserInfo,
    bearer_token,
    create_ca,
    issue_client_cert,
    parse_token_file,
    x509_user,
)
from kube.auth.authn import CREDENTIAL_ID_KEY


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.csv"
    path.write_text(text)
    return path


# --- x509 ---------------------------------------------------------------------------------


def test_x509_user_from_admin_cert(pki: PKI) -> None:
    der = pki.admin.cert.public_bytes(Encoding.DER)
    user = x509_user(der)
    assert user == UserInfo(
        name="kubernetes-admin",
        uid="",
        groups=("system:masters", "system:authenticated"),
        extra={CREDENTIAL_ID_KEY: ("X509SHA256=" + hashlib.sha256(der).hexdigest(),)},
    )


def test_x509_user_keeps_every_organization_in_order() -> None:
    cert = issue_client_cert(create_ca(), "system:node:n1", ["system:nodes", "team-a"]).cert
    user = x509_user(cert.public_bytes(Encoding.DER))
    assert user is not None
    assert user.name == "system:node:n1"
    assert user.groups == ("system:nodes", "team-a", "system:authenticated")


def test_x509_user_without_groups_is_still_authenticated() -> None:
    cert = issue_client_cert(create_ca(), "alice").cert
    user = x509_user(cert.public_bytes(Encoding.DER))
    assert user is not None
    assert user.groups == ("system:authenticated",)


def test_x509_certificate_without_common_name_names_nobody() -> None:
    """Upstream: no CN, no user (the request may still authenticate another way)."""
    ca = create_ca()
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "devs")]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca.key, hashes.SHA256())
    )
    assert x509_user(cert.public_bytes(Encoding.DER)) is None


def test_x509_user_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="asn1"):
        x509_user(b"not a certificate")


# --- bearer header -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("  Bearer abc  ", "abc"),
        ("Bearer abc def", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Bearer  abc", None),  # two spaces: the token is empty, as upstream reads it
        ("Basic YWxpY2U6cGFzcw==", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


# --- static token file -------------------------------------------------------------------


def test_token_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "secret-1,alice,1000\n"
        "\n"
        'secret-2,bob,1001,"system:masters,devs"\n'
        "secret-3,carol,1002,viewers\n",
    )
    tokens = StaticTokenFile(path)
    assert len(tokens) == 3
    assert tokens.authenticate_token("secret-1") == UserInfo(
        name="alice", uid="1000", groups=("system:authenticated",)
    )
    bob = tokens.authenticate_bearer("Bearer secret-2")
    assert bob == UserInfo(
        name="bob", uid="1001", groups=("system:masters", "devs", "system:authenticated")
    )
    carol = tokens.authenticate_bearer("Bearer secret-3")
    assert carol is not None
    assert carol.groups == ("viewers", "system:authenticated")


def test_token_file_unknown_tokens(tmp_path: Path) -> None:
    tokens = StaticTokenFile(write(tmp_path, "secret-1,alice,1000\n"))
    assert tokens.authenticate_token("secret-2") is None
    assert tokens.authenticate_token("") is None
    assert tokens.authenticate_bearer("Bearer nope") is None
    assert tokens.authenticate_bearer("Basic secret-1") is None
    assert tokens.authenticate_bearer(None) is None


def test_token_file_extra_columns_and_quoted_fields(tmp_path: Path) -> None:
    path = write(tmp_path, '"tok,with,commas","Doe, Jane",u-1,"a,,b",ignored\r\n')
    user = StaticTokenFile(path).authenticate_token("tok,with,commas")
    assert user == UserInfo(name="Doe, Jane", uid="u-1", groups=("a", "b", "system:authenticated"))


def test_token_file_group_already_authenticated(tmp_path: Path) -> None:
    path = write(tmp_path, 't,alice,1,"system:authenticated,devs"\n')
    user = StaticTokenFile(path).authenticate_token("t")
    assert user is not None
    assert user.groups == ("system:authenticated", "devs")


def test_token_file_too_few_columns_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "secret-1,alice,1000\n\nsecret-2,bob\n")
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))}:3: must have at least 3 columns .*found 2$"
    ):
        StaticTokenFile(path)


def test_token_file_bad_quoting_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'secret-1,alice,1000\nsecret-2,"bob\n')
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:\d+: "):
        StaticTokenFile(path)


def test_token_file_empty_token_ignored_and_duplicate_keeps_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="kube.auth.authn"):
        users = parse_token_file(",nobody,0\ndup,first,1\ndup,second,2\n", "tokens.csv")
    assert set(users) == {"dup"}
    assert users["dup"].name == "second"
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "tokens.csv:1: empty token, line ignored",
        "tokens.csv:3: duplicate token, this line replaces the earlier one",
    ]


def test_token_file_empty_is_valid(tmp_path: Path) -> None:
    assert len(StaticTokenFile(write(tmp_path, ""))) == 0


def test_token_file_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        StaticTokenFile(tmp_path / "absent.csv")
