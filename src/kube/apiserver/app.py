"""The API server: an aiohttp application and the request chain in front of the handlers.

Each request passes, in order: logging and metrics -> authentication (x509 client certificate
or bearer token; anonymous gets 401) -> authorization (pluggable; everyone authenticated is
allowed until RBAC arrives) -> routing. Non-resource paths (version, health, discovery,
OpenAPI, metrics) answer directly; resource paths are parsed into a `RequestInfo` and
dispatched to the verb's handler. Any `APIError` becomes its `Status`; anything else is a
500 `InternalError` with the request still answered and the server still serving.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from kube.api import errors
from kube.api.registry import Registry
from kube.apiserver import handlers, metrics, negotiation, reviews
from kube.apiserver.discovery import Answer, DiscoveryDocuments
from kube.apiserver.requestinfo import RequestInfo, parse
from kube.apiserver.store import ObjectStore
from kube.apiserver.subresources import Subresources
from kube.auth.authn import StaticTokenFile, UserInfo, bearer_token, x509_user
from kube.auth.serviceaccount import ServiceAccountAuthenticator
from kube.codec import jsonc
from kube.version import KUBERNETES_GIT_VERSION, KUBERNETES_MAJOR, KUBERNETES_MINOR

log = logging.getLogger("kube.apiserver")
SLOW_REQUEST_S = 1.0  # requests slower than this are logged at INFO (watches aside)
CLIENT_MAX_SIZE = 8 * 1024 * 1024
LONG_RUNNING_SUBRESOURCES = frozenset(("exec", "attach", "portforward", "log", "proxy"))


def _long_running(info: RequestInfo) -> bool:
    """Watches and streams, whose duration is the client's: never "slow"."""
    return bool(info.verb == "watch" or info.subresource in LONG_RUNNING_SUBRESOURCES)


USER_KEY = web.RequestKey("user", UserInfo)
INFO_KEY = web.RequestKey("requestinfo", RequestInfo)  # parsed once by the chain


class Authorizer(Protocol):
    """Decides whether `user` may do `info.verb` on the request's target."""

    def allowed(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]: ...


class OpenAPIDocuments(Protocol):
    """Serves /openapi/v2 and /openapi/v3[/...]: None for a path it does not know."""

    def answer(
        self, path: str, query: Mapping[str, str], accept: str | None = None
    ) -> Answer | None: ...


class AllowAll:
    def allowed(self, user: UserInfo, info: RequestInfo) -> tuple[bool, str]:
        return True, ""


# The user of each TLS connection's client certificate (None: no certificate, or one that
# names nobody), kept while the connection lives: a connection presents one certificate, and
# reading it again (DER out of OpenSSL, then a hash of it for x509_user's cache) on every
# request of a keep-alive connection cost more than the rest of authentication.
_connection_users: weakref.WeakKeyDictionary[ssl.SSLObject, UserInfo | None] = (
    weakref.WeakKeyDictionary()
)
_UNKNOWN: Final = object()


@dataclass
class Authentication:
    """The authenticators of the chain; the first that recognises the request wins."""

    token_file: StaticTokenFile | None = None
    service_accounts: ServiceAccountAuthenticator | None = None
    allow_anonymous_paths: Sequence[str] = ("/healthz", "/livez", "/readyz", "/version")

    async def authenticate(self, request: web.Request) -> UserInfo | None:
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if isinstance(ssl_object, ssl.SSLObject):
            user = _connection_users.get(ssl_object, _UNKNOWN)
            if user is _UNKNOWN:
                der = ssl_object.getpeercert(binary_form=True)
                user = x509_user(der) if der else None
                _connection_users[ssl_object] = user
            if user is not None:
                assert isinstance(user, UserInfo)
                return user
        token = bearer_token(request.headers.get("Authorization"))
        return await self.authenticate_token(token) if token else None

    async def authenticate_token(self, token: str) -> UserInfo | None:
        """The user of a bearer token: the token file first, then service-account tokens."""
        if self.token_file is not None:
            user = self.token_file.authenticate_token(token)
            if user is not None:
                return user
        if self.service_accounts is not None:
            return await self.service_accounts.authenticate_token(token)
        return None


def status_response(err: errors.APIError) -> web.Response:
    return web.Response(
        body=jsonc.dumps(err.status()),
        status=err.code,
        headers={"Content-Type": "application/json"},
    )


@dataclass
class HealthChecks:
    """Named readiness checks for /readyz (and /livez, /healthz)."""

    checks: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)

    async def run(self) -> list[tuple[str, bool]]:
        results = []
        for name, check in self.checks.items():
            try:
                ok = await check()
            except Exception:
                ok = False
            results.append((name, ok))
        return results


Lookup = Callable[[RequestInfo], ObjectStore]


class APIServer:
    """Builds the aiohttp application for a set of stores."""

    def __init__(
        self,
        lookup: Lookup,
        *,
        registry: Registry,
        discovery: DiscoveryDocuments,
        openapi: OpenAPIDocuments | None = None,
        authentication: Authentication,
        authorizer: Authorizer | None = None,
        health: HealthChecks | None = None,
        namespaces: Callable[[], ObjectStore] | None = None,
        subresources: Subresources | None = None,
    ) -> None:
        self.lookup = lookup
        self.subresources = subresources
        self.registry = registry
        self.discovery = discovery
        self.openapi = openapi
        self.authentication = authentication
        self.authorizer: Authorizer = authorizer or AllowAll()
        self.health = health or HealthChecks()
        self.handlers = handlers.Handlers(lookup, namespaces)
        self.metrics = metrics.RequestMetrics()

    def application(self) -> web.Application:
        """The API as an aiohttp Application (one catch-all route behind the chain)."""
        app = web.Application(
            middlewares=[self._chain], client_max_size=CLIENT_MAX_SIZE, handler_args={}
        )
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    def web_server(self) -> web.Server:
        """The API as aiohttp's low-level server, which `kube server` runs: each request goes
        straight to the chain. The Application above resolves every path against its one
        catch-all route (a regex match and a match-info object per request) and calls the
        chain as a middleware, about 6 % of the event loop's CPU while pods are created and
        bound, for nothing: the chain routes by the request's RequestInfo itself.
        Must be called on the loop that serves."""
        loop = asyncio.get_running_loop()

        def make_request(
            message: RawRequestMessage,
            payload: StreamReader,
            protocol: RequestHandler,
            writer: AbstractStreamWriter,
            task: asyncio.Task[None],
        ) -> web.Request:
            return web.Request(
                message, payload, protocol, writer, task, loop, client_max_size=CLIENT_MAX_SIZE
            )

        return web.Server(self.serve, request_factory=make_request, access_log=None)

    async def serve(self, request: web.BaseRequest) -> web.StreamResponse:
        """One request through the chain, as the Application would run it."""
        assert isinstance(request, web.Request)
        if request.headers.get(hdrs.EXPECT):
            await _expect_continue(request)
        return await self._chain(request, self._route)

    @web.middleware
    async def _chain(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        info = parse(request.method, request.path, request.query)
        request[INFO_KEY] = info
        response: web.StreamResponse | None = None
        user: UserInfo | None = None
        try:
            user = await self.authentication.authenticate(request)
            if user is None and request.path not in self.authentication.allow_anonymous_paths:
                raise errors.unauthorized()
            if user is not None:
                request[USER_KEY] = user
                ok, why = self.authorizer.allowed(user, info)
                if not ok:
                    raise errors.forbidden(info.group, info.resource, info.name, why)
            response = await handler(request)
        except errors.APIError as err:
            response = status_response(err)
        except web.HTTPException:
            raise
        except ConnectionResetError as exc:  # aiohttp's ClientConnectionResetError too
            # The client went away mid-response (a watch it stopped reading): not our error.
            log.debug("client left during %s %s: %s", request.method, request.path, exc)
            response = web.StreamResponse(status=499)
        except Exception as exc:  # a bug must not take the server down
            log.exception("internal error serving %s %s", request.method, request.path)
            response = status_response(errors.internal(str(exc) or type(exc).__name__))
        finally:
            elapsed = time.perf_counter() - started
            code = response.status if response is not None else 500
            self.metrics.observe(info, code, elapsed, request)
            # One line per request only with `kube -v` (upstream's httplog is -v=3); a
            # failing or slow one is always told. Its fields are only gathered if it is.
            level = (
                logging.INFO
                if code >= 500 or (elapsed >= SLOW_REQUEST_S and not _long_running(info))
                else logging.DEBUG
            )
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "request verb=%s path=%s user=%s code=%d latency_ms=%.1f agent=%r",
                    info.verb,
                    request.path_qs,
                    user.name if user else "-",
                    code,
                    elapsed * 1e3,
                    request.headers.get("User-Agent", ""),
                )
        return response

    async def _route(self, request: web.Request) -> web.StreamResponse:
        info = request.get(INFO_KEY) or parse(request.method, request.path, request.query)
        if info.is_resource:
            return await self._resource(request, info)
        return await self._non_resource(request)

    async def _resource(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        if self.subresources is not None:
            special = self.subresources.handler(info)
            if special is not None:
                return await special(request, info)
        row = self.registry.get(info.group, info.version, info.resource)
        if row is not None and not row.stored and not info.subresource:
            if info.verb != "create":
                raise errors.method_not_supported(row.group, row.plural, info.verb)
            body = negotiation.decode_body(
                request.headers.get("Content-Type", ""), await handlers.read_body(request)
            )
            spec = body.get("spec")
            token = str(spec.get("token") or "") if isinstance(spec, dict) else ""
            # Token reviews ask the chain's (async) token authenticators before answering.
            reviewed = await self.authentication.authenticate_token(token) if token else None
            answer = reviews.review(
                info, body, request[USER_KEY], self.authorizer, lambda _token: reviewed
            )
            answer["apiVersion"], answer["kind"] = row.api_version, row.kind
            return handlers.respond(request, answer, 201)
        handler: Callable[[web.Request, RequestInfo], Awaitable[web.StreamResponse]] | None = {
            "get": self.handlers.get,
            "list": self.handlers.list,
            "watch": self.handlers.watch,
            "create": self.handlers.create,
            "update": self.handlers.update,
            "patch": self.handlers.patch,
            "delete": self.handlers.delete,
            "deletecollection": self.handlers.deletecollection,
        }.get(info.verb)
        if handler is None or _no_route(info):
            raise errors.method_not_allowed()
        return await handler(request, info)

    async def _non_resource(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed()
        if path == "/version":
            return json_response(version_info())
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            return await self._health(request, path)
        if path == "/metrics":
            return web.Response(
                body=self.metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE}
            )
        answer: Answer | None = None
        if path in ("/api", "/apis") or path.startswith(("/api/", "/apis/")):
            answer = self.discovery.answer(path, request.headers.get("Accept"))
        elif path.startswith("/openapi/") and self.openapi is not None:
            answer = self.openapi.answer(path, request.query, request.headers.get("Accept"))
        if answer is None:
            raise not_found_path()
        headers = {"Content-Type": answer.content_type, **dict(answer.headers)}
        return web.Response(body=answer.body, status=answer.status, headers=headers)

    async def _health(self, request: web.Request, path: str) -> web.Response:
        results = await self.health.run()
        base, _, single = path.strip("/").partition("/")
        if single:
            wanted = [(n, ok) for n, ok in results if n == single]
            if not wanted:
                raise not_found_path()
            results = wanted
        healthy = all(ok for _, ok in results)
        if "verbose" in request.query or not healthy:
            lines = [
                f"[{'+' if ok else '-'}]{name} {'ok' if ok else 'failed'}" for name, ok in results
            ]
            text = "\n".join(lines) + f"\n{base} check {'passed' if healthy else 'failed'}\n"
        else:
            text = "ok"
        return web.Response(text=text, status=200 if healthy else 500)


async def _expect_continue(request: web.Request) -> None:
    """aiohttp's router's answer to `Expect:` (curl sends `100-continue` before a large
    body): an interim 100 Continue, or 417 for an expectation it does not know."""
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11:
        if expect.lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        else:
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")


def _no_route(info: RequestInfo) -> bool:
    """Upstream routes POST to collections only, PUT and PATCH to named objects only."""
    if info.subresource:
        return False
    return (info.verb == "create" and bool(info.name)) or (
        info.verb in ("update", "patch") and not info.name
    )


def not_found_path() -> errors.APIError:
    return errors.APIError(404, "NotFound", "the server could not find the requested resource")


def version_info() -> dict[str, Any]:
    import platform

    return {
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": KUBERNETES_GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"linux/{platform.machine().replace('x86_64', 'amd64')}",
    }


def json_response(doc: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=jsonc.dumps(doc), status=status, headers={"Content-Type": "application/json"}
    )
