"""Service-account tokens: issuing them (TokenRequest) and authenticating requests that carry them.

Upstream's bound service-account tokens (pkg/serviceaccount): an RS256 JWT signed with the
cluster's service-account key (`sa.key`, kept by `kube.auth.certs.ensure_pki`), whose claims
name the service account and, for a token bound to an object, that object:

    {"iss": "https://kubernetes.default.svc.cluster.local", "aud": [...], "sub":
     "system:serviceaccount:<ns>:<name>", "exp", "iat", "nbf", "jti",
     "kubernetes.io": {"namespace": ns, "serviceaccount": {"name", "uid"},
                       "pod": {"name", "uid"}?, "node": {"name", "uid"}?, "secret": {...}?}}

`TokenIssuer.issue` signs one. `ServiceAccountAuthenticator.authenticate_token` is the link of
the API server's authentication chain: a token that is not a JWT of our issuer is not ours
(None, so the request stays unauthenticated); one of ours must verify (signature, expiry with
upstream's one-minute leeway, an audience the server accepts) and the service account it names
must still exist with the same uid -- as must a pod, secret or node it is bound to -- or the
request gets no user either (the API server answers 401).

The objects are looked up through `ObjectGetter`, so this module stays free of the API server
and its storage (the API server passes a function over its stores).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kube.auth.authn import CREDENTIAL_ID_KEY, UserInfo

__all__ = [
    "DEFAULT_EXPIRATION_SECONDS",
    "ISSUER",
    "MIN_EXPIRATION_SECONDS",
    "SERVICE_ACCOUNTS_GROUP",
    "BoundObject",
    "ObjectGetter",
    "ServiceAccountAuthenticator",
    "TokenError",
    "TokenIssuer",
    "VerifiedToken",
    "key_id",
    "make_username",
    "namespace_group",
]

log = logging.getLogger(__name__)

# kube-apiserver's --service-account-issuer default in kubeadm/k3s; also the default audience
# (--api-audiences defaults to the issuer).
ISSUER = "https://kubernetes.default.svc.cluster.local"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600  # "may not specify a duration less than 10 minutes"
MAX_EXPIRATION_SECONDS = 1 << 32
LEEWAY_SECONDS = 60  # go-jose's DefaultLeeway, which upstream's validator uses
# A bound object (or the service account) deleted longer ago than this invalidates the token.
DELETION_GRACE_SECONDS = 60

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"

# (kind, namespace, name) -> the object's metadata, or None when it does not exist.
# kind is one of ServiceAccount, Pod, Secret, Node (namespace "" for nodes).
ObjectGetter = Callable[[str, str, str], Awaitable[Mapping[str, Any] | None]]


class TokenError(ValueError):
    """A token of ours that does not authenticate; the message says why (logged, not sent)."""


def make_username(namespace: str, name: str) -> str:
    """`system:serviceaccount:<namespace>:<name>` (upstream's `MakeUsername`)."""
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


def namespace_group(namespace: str) -> str:
    return f"{SERVICE_ACCOUNTS_GROUP}:{namespace}"


def key_id(public_key: rsa.RSAPublicKey) -> str:
    """The `kid` header: base64url(sha256(DER SubjectPublicKeyInfo)), as upstream computes it."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")


@dataclass(frozen=True)
class BoundObject:
    """An object a token is bound to: the token dies with it."""

    kind: str  # Pod, Secret or Node
    name: str
    uid: str


@dataclass(frozen=True)
class VerifiedToken:
    """What a signature-checked, unexpired token of ours claims."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    jti: str = ""
    pod: BoundObject | None = None
    secret: BoundObject | None = None
    node: BoundObject | None = None


_CLAIM_KEYS = {"Pod": "pod", "Secret": "secret", "Node": "node"}


class TokenIssuer:
    """Signs service-account tokens with one RSA key (the `sa.key` of the cluster's PKI)."""

    def __init__(self, key: rsa.RSAPrivateKey, issuer: str = ISSUER) -> None:
        self.key = key
        self.issuer = issuer
        self.kid = key_id(key.public_key())

    def issue(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        audiences: Sequence[str],
        expiration_seconds: int,
        bound: Sequence[BoundObject] = (),
        now: float | None = None,
    ) -> tuple[str, int]:
        """The signed token and its expiry (seconds since the epoch)."""
        issued = int(time.time() if now is None else now)
        expires = issued + int(expiration_seconds)
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid},
        }
        for obj in bound:
            private[_CLAIM_KEYS[obj.kind]] = {"name": obj.name, "uid": obj.uid}
        claims: dict[str, Any] = {
            "aud": list(audiences),  # a list even for one, as upstream's tokens have it
            "exp": expires,
            "iat": issued,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": issued,
            "sub": make_username(namespace, name),
        }
        # Upstream's header is {"alg", "kid"}: no "typ" (PyJWT drops it when set to None).
        headers = {"kid": self.kid, "typ": None}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers=headers)
        return token, expires


def _ref(value: object) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return None
    return str(value.get("name") or ""), str(value.get("uid") or "")


class TokenVerifier:
    """Checks our tokens: issuer, RS256 signature, expiry, audience, and the claims' shape."""

    def __init__(
        self,
        public_keys: Sequence[rsa.RSAPublicKey],
        *,
        issuer: str = ISSUER,
        audiences: Sequence[str] = (ISSUER,),
    ) -> None:
        self.public_keys = list(public_keys)
        self.issuer = issuer
        self.audiences = tuple(audiences)

    def is_ours(self, token: str) -> bool:
        """Whether `token` is a JWT naming our issuer (others go to other authenticators)."""
        if token.count(".") != 2:
            return False
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        return isinstance(claims, dict) and claims.get("iss") == self.issuer

    def verify(self, token: str, now: float | None = None) -> VerifiedToken:
        """The claims of a valid token; `TokenError` saying why otherwise."""
        claims: dict[str, Any] | None = None
        last: Exception | None = None
        for public_key in self.public_keys:
            try:
                claims = jwt.decode(
                    token,
                    public_key,
                    algorithms=["RS256"],
                    audience=list(self.audiences),
                    issuer=self.issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "iss", "sub"], "verify_iat": False},
                )
                break
            except jwt.InvalidSignatureError as err:
                last = err  # maybe the next key
            except jwt.PyJWTError as err:
                raise TokenError(str(err)) from err
        if claims is None:
            raise TokenError(str(last or "no key to verify with"))
        current = time.time() if now is None else now
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf > current + LEEWAY_SECONDS:
            raise TokenError("token is not valid yet (nbf)")
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp < current - LEEWAY_SECONDS:
            raise TokenError("token is expired (exp)")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise TokenError("token has no kubernetes.io claims")
        namespace = str(private.get("namespace") or "")
        account = _ref(private.get("serviceaccount"))
        if not namespace or account is None or not account[0]:
            raise TokenError("token does not name a service account")
        subject = make_username(namespace, account[0])
        if claims.get("sub") != subject:
            raise TokenError(f"sub {claims.get('sub')!r} does not match {subject!r}")
        bound: dict[str, BoundObject | None] = {}
        for kind, key in _CLAIM_KEYS.items():
            ref = _ref(private.get(key))
            bound[key] = BoundObject(kind, *ref) if ref and ref[0] else None
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        return VerifiedToken(
            namespace=namespace,
            name=account[0],
            uid=account[1],
            audiences=audiences,
            jti=str(claims.get("jti") or ""),
            pod=bound["pod"],
            secret=bound["secret"],
            node=bound["node"],
        )


def _deleted_too_long_ago(meta: Mapping[str, Any], now: float) -> bool:
    stamp = meta.get("deletionTimestamp")
    if not stamp:
        return False
    try:
        deleted = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return False
    return deleted < now - DELETION_GRACE_SECONDS


class ServiceAccountAuthenticator:
    """The authentication-chain link for service-account tokens (upstream's JWT authenticator
    with the "validating" claims checker: the objects the token names must still exist)."""

    def __init__(self, verifier: TokenVerifier, get_object: ObjectGetter) -> None:
        self.verifier = verifier
        self.get_object = get_object

    async def authenticate_token(self, token: str, now: float | None = None) -> UserInfo | None:
        """The service account's user, or None (not our token, or invalid: logged why)."""
        if not self.verifier.is_ours(token):
            return None
        current = time.time() if now is None else now
        try:
            verified = self.verifier.verify(token, now=current)
            return await self._user(verified, current)
        except TokenError as err:
            log.info("service account token rejected: %s", err)
            return None

    async def _user(self, token: VerifiedToken, now: float) -> UserInfo:
        await self._check_exists("ServiceAccount", token.namespace, token.name, token.uid, now)
        extra: dict[str, tuple[str, ...]] = {}
        if token.pod is not None:
            await self._check_exists("Pod", token.namespace, token.pod.name, token.pod.uid, now)
            extra[POD_NAME_KEY] = (token.pod.name,)
            extra[POD_UID_KEY] = (token.pod.uid,)
        if token.secret is not None:
            secret = token.secret
            await self._check_exists("Secret", token.namespace, secret.name, secret.uid, now)
        if token.node is not None:
            # As upstream: the node is only checked when the token is bound to it alone.
            if token.pod is None:
                await self._check_exists("Node", "", token.node.name, token.node.uid, now)
            extra[NODE_NAME_KEY] = (token.node.name,)
            extra[NODE_UID_KEY] = (token.node.uid,)
        if token.jti:
            extra[CREDENTIAL_ID_KEY] = (f"JTI={token.jti}",)
        user = UserInfo(
            name=make_username(token.namespace, token.name),
            uid=token.uid,
            groups=(SERVICE_ACCOUNTS_GROUP, namespace_group(token.namespace)),
            extra=extra,
        )
        return user.with_authenticated_group()

    async def _check_exists(
        self, kind: str, namespace: str, name: str, uid: str, now: float
    ) -> None:
        meta = await self.get_object(kind, namespace, name)
        where = f"{namespace}/{name}" if namespace else name
        if meta is None:
            raise TokenError(f"{kind} {where} has been deleted")
        if str(meta.get("uid") or "") != uid:
            raise TokenError(f"{kind} UID ({meta.get('uid')}) does not match claim ({uid})")
        if _deleted_too_long_ago(meta, now):
            raise TokenError(f"{kind} {where} is marked for deletion")
