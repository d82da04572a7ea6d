"""Service-account tokens: what a token says, and which tokens authenticate whom.

A token authenticates only while it is signed by the cluster's key, unexpired (one minute of
leeway), meant for the API server's audience, and the service account (and the pod, secret
or node it is bound to) still exists with the uid the token names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kube.auth import PKI
from kube.auth.authn import CREDENTIAL_ID_KEY, UserInfo
from kube.auth.certs import ensure_service_account_key
from kube.auth.serviceaccount import (
    ISSUER,
    BoundObject,
    ServiceAccountAuthenticator,
    TokenError,
    TokenIssuer,
    TokenVerifier,
    key_id,
)

SA_UID = "11111111-2222-3333-4444-555555555555"
POD_UID = "pod-uid-1"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def issuer(key: rsa.RSAPrivateKey) -> TokenIssuer:
    return TokenIssuer(key)


class Objects:
    """A fake object getter: (kind, namespace, name) -> metadata."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {
            ("ServiceAccount", "default", "builder"): {"name": "builder", "uid": SA_UID},
            ("Pod", "default", "web-0"): {"name": "web-0", "uid": POD_UID},
        }

    async def __call__(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.objects.get((kind, namespace, name))


@pytest.fixture
def objects() -> Objects:
    return Objects()


@pytest.fixture
def authenticator(key: rsa.RSAPrivateKey, objects: Objects) -> ServiceAccountAuthenticator:
    return ServiceAccountAuthenticator(TokenVerifier([key.public_key()]), objects)


def issue(issuer: TokenIssuer, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "namespace": "default",
        "name": "builder",
        "uid": SA_UID,
        "audiences": [ISSUER],
        "expiration_seconds": 3600,
    }
    args.update(overrides)
    token, _ = issuer.issue(**args)
    return token


def _segment(token: str, i: int) -> dict[str, Any]:
    part = token.split(".")[i]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return result


def test_token_claims_are_upstreams(issuer: TokenIssuer, key: rsa.RSAPrivateKey) -> None:
    token, expires = issuer.issue(
        namespace="default",
        name="builder",
        uid=SA_UID,
        audiences=["api", "vault"],
        expiration_seconds=600,
        bound=[BoundObject("Pod", "web-0", POD_UID), BoundObject("Node", "n1", "node-uid")],
        now=1_700_000_000,
    )
    header, claims = _segment(token, 0), _segment(token, 1)
    assert header == {"alg": "RS256", "kid": key_id(key.public_key())}
    jti = claims.pop("jti")
    assert len(jti) == 36
    assert claims == {
        "aud": ["api", "vault"],
        "exp": 1_700_000_600,
        "iat": 1_700_000_000,
        "nbf": 1_700_000_000,
        "iss": ISSUER,
        "sub": "system:serviceaccount:default:builder",
        "kubernetes.io": {
            "namespace": "default",
            "serviceaccount": {"name": "builder", "uid": SA_UID},
            "pod": {"name": "web-0", "uid": POD_UID},
            "node": {"name": "n1", "uid": "node-uid"},
        },
    }
    assert expires == 1_700_000_600


def test_key_id_is_the_hash_of_the_public_key(key: rsa.RSAPrivateKey) -> None:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert key_id(key.public_key()) == expected


async def test_a_valid_token_is_the_service_account(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator
) -> None:
    token = issue(issuer)
    user = await authenticator.authenticate_token(token)
    assert user is not None
    jti = _segment(token, 1)["jti"]
    assert user == UserInfo(
        name="system:serviceaccount:default:builder",
        uid=SA_UID,
        groups=(
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated",
        ),
        extra={CREDENTIAL_ID_KEY: (f"JTI={jti}",)},
    )


async def test_a_pod_bound_token_names_the_pod(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator, objects: Objects
) -> None:
    token = issue(issuer, bound=[BoundObject("Pod", "web-0", POD_UID)])
    user = await authenticator.authenticate_token(token)
    assert user is not None
    assert user.extra["authentication.kubernetes.io/pod-name"] == ("web-0",)
    assert user.extra["authentication.kubernetes.io/pod-uid"] == (POD_UID,)

    del objects.objects[("Pod", "default", "web-0")]
    assert await authenticator.authenticate_token(token) is None


@pytest.mark.parametrize(
    ("why", "overrides"),
    [
        ("expired past the leeway", {"now": time.time() - 3600 - 120}),
        ("for another audience", {"audiences": ["vault"]}),
        ("of an account that is gone", {"name": "someone-else"}),
        ("of a recreated account", {"uid": "another-uid"}),
        ("bound to a recreated pod", {"bound": [BoundObject("Pod", "web-0", "old-uid")]}),
    ],
)
async def test_tokens_that_do_not_authenticate(
    issuer: TokenIssuer,
    authenticator: ServiceAccountAuthenticator,
    why: str,
    overrides: dict[str, Any],
) -> None:
    assert await authenticator.authenticate_token(issue(issuer, **overrides)) is None, why


async def test_expiry_has_a_minute_of_leeway(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator
) -> None:
    token = issue(issuer, now=time.time() - 3600 - 30)
    assert await authenticator.authenticate_token(token) is not None


async def test_a_token_signed_by_another_key_is_refused(
    authenticator: ServiceAccountAuthenticator,
) -> None:
    other = TokenIssuer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert await authenticator.authenticate_token(issue(other)) is None


async def test_a_tampered_token_is_refused(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator
) -> None:
    header, payload, signature = issue(issuer).split(".")
    claims = _segment(f"{header}.{payload}", 1)
    claims["kubernetes.io"]["serviceaccount"]["name"] = "admin"
    claims["sub"] = "system:serviceaccount:default:admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert await authenticator.authenticate_token(f"{header}.{forged}.{signature}") is None


async def test_a_deleted_account_invalidates_after_a_minute(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator, objects: Objects
) -> None:
    meta = objects.objects[("ServiceAccount", "default", "builder")]
    meta["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert await authenticator.authenticate_token(issue(issuer)) is not None
    meta["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    assert await authenticator.authenticate_token(issue(issuer)) is None


@pytest.mark.parametrize(
    "token",
    ["", "not-a-jwt", "a.b.c", jwt.encode({"iss": "someone-else", "sub": "x"}, "s" * 32)],
)
async def test_other_tokens_are_not_ours(
    authenticator: ServiceAccountAuthenticator, token: str
) -> None:
    assert not authenticator.verifier.is_ours(token)
    assert await authenticator.authenticate_token(token) is None


async def test_an_unsigned_token_is_refused(
    issuer: TokenIssuer, authenticator: ServiceAccountAuthenticator
) -> None:
    claims = _segment(issue(issuer), 1)
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert authenticator.verifier.is_ours(unsigned)
    assert await authenticator.authenticate_token(unsigned) is None


def test_verify_says_why(issuer: TokenIssuer, key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier([key.public_key()])
    with pytest.raises(TokenError, match=r"(?i)audience"):
        verifier.verify(issue(issuer, audiences=["vault"]))
    with pytest.raises(TokenError, match="expired"):
        verifier.verify(issue(issuer, now=time.time() - 7200))
    verified = verifier.verify(issue(issuer, bound=[BoundObject("Secret", "s", "u")]))
    assert (verified.namespace, verified.name, verified.uid) == ("default", "builder", SA_UID)
    assert verified.secret == BoundObject("Secret", "s", "u")
    assert verified.pod is None


# -- the signing key on disk -------------------------------------------------------------


def test_the_pki_keeps_a_signing_key(pki: PKI) -> None:
    assert pki.service_account_key is not None
    assert pki.service_account_key.key_size == 2048
    assert pki.service_account_key_path.exists()


def test_signing_key_is_made_once_with_safe_modes(tmp_path: Path) -> None:
    first = ensure_service_account_key(tmp_path)
    key_bytes = (tmp_path / "sa.key").read_bytes()
    assert stat.S_IMODE((tmp_path / "sa.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "sa.pub").stat().st_mode) == 0o644
    second = ensure_service_account_key(tmp_path)
    assert (tmp_path / "sa.key").read_bytes() == key_bytes
    assert key_id(second.public_key()) == key_id(first.public_key())
    public = serialization.load_pem_public_key((tmp_path / "sa.pub").read_bytes())
    assert isinstance(public, rsa.RSAPublicKey)
    assert key_id(public) == key_id(first.public_key())


def test_a_broken_signing_key_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "sa.key").write_bytes(b"garbage")
    key = ensure_service_account_key(tmp_path)
    assert (tmp_path / "sa.key").read_bytes() != b"garbage"
    public = serialization.load_pem_public_key((tmp_path / "sa.pub").read_bytes())
    assert isinstance(public, rsa.RSAPublicKey)
    assert key_id(public) == key_id(key.public_key())
