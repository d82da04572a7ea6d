"""The REST client every component talks to the API server with (client-go's rest.RESTClient).

One `RESTClient` holds one keep-alive HTTPS connection pool to one server, built from a
kubeconfig (client certificate or bearer token, the cluster's CA). It speaks JSON, or protobuf
for the kinds the codec knows when `protobuf=True` (requests and responses, watch frames too).

Three things happen around every request, as in client-go:

- client-side throttling: a token bucket (`qps`, `burst`; client-go's defaults 5 and 10)
  that requests wait on before they are sent; `qps=None` turns it off;
- retries: an answer with `Retry-After` (a 429 or 5xx the server did not process, as
  client-go's checkWait), a 5xx to a GET, or a connection that could not be opened is retried
  with exponential backoff up to `max_retries` times; a 429 without `Retry-After` (a refused
  eviction, say) is the caller's answer, and a POST is never applied twice;
- errors: a non-2xx answer raises `kube.api.errors.APIError` built from the server's `Status`
  (code, reason, message, details), so callers branch on `err.code` / `err.reason` exactly as
  the server produced them.

Objects are plain dicts in JSON wire shape. Resources are rows of the resource registry
(`kube.api.resources.resolve("deployments")`), which know their URLs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import aiohttp

from kube.api import errors
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.auth.kubeconfig import load_kubeconfig
from kube.client.transport import ConnectError, Pool
from kube.codec import jsonc, protobuf

log = logging.getLogger("kube.client")

JSON = "application/json"
PROTOBUF = protobuf.CONTENT_TYPE
CONTENT_TYPES = (PROTOBUF, "application/json")  # what --kube-api-content-type accepts
# The components' default. Upstream's is protobuf; here JSON is the cheaper of the two for a
# Python client: orjson decodes a Node in ~12 us, the native protobuf codec in ~17 us (and
# encodes at half orjson's speed), and watch events dominate the controllers' CPU.
DEFAULT_CONTENT_TYPE = "application/json"


def wants_protobuf(content_type: str) -> bool:
    """Whether a component's `--kube-api-content-type` (upstream's flag) asks for protobuf;
    ValueError if it is neither protobuf nor JSON."""
    if content_type not in CONTENT_TYPES:
        raise ValueError(
            f"--kube-api-content-type {content_type!r} must be one of {', '.join(CONTENT_TYPES)}"
        )
    return content_type == PROTOBUF


PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}
DEFAULT_QPS = 5.0
DEFAULT_BURST = 10
DEFAULT_MAX_RETRIES = 10
RETRY_BASE_DELAY = 0.1
RETRY_MAX_DELAY = 5.0


class Throttle(Protocol):
    """Client-side rate limiting: `wait()` returns when the next request may be sent."""

    async def wait(self) -> None: ...


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: ADDED, MODIFIED, DELETED, BOOKMARK or ERROR, with its object."""

    type: str
    object: Object


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _Retry(Exception):
    """An answer or failure worth another attempt, after at least `after` seconds."""

    def __init__(self, cause: BaseException, after: float = 0.0) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.after = after


def decode_status(status: int, content_type: str, body: bytes) -> errors.APIError:
    """The `APIError` of a failed answer: its Status, or one made up from the HTTP code."""
    doc: Any = None
    try:
        if content_type.startswith(PROTOBUF):
            doc = protobuf.decode_object(body)
        else:
            doc = jsonc.loads(body)
    except (jsonc.DecodeError, ValueError):
        doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return errors.APIError(
            int(doc.get("code") or status),
            str(doc.get("reason") or ""),
            str(doc.get("message") or ""),
            dict(doc.get("details") or {}),
        )
    text = body.decode("utf-8", "replace").strip()[:512]
    return errors.APIError(status, _reason_of(status), text or f"HTTP {status}")


def _reason_of(status: int) -> str:
    return {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        404: "NotFound",
        405: "MethodNotAllowed",
        409: "Conflict",
        410: "Expired",
        413: "RequestEntityTooLarge",
        415: "UnsupportedMediaType",
        422: "Invalid",
        429: "TooManyRequests",
        500: "InternalError",
        503: "ServiceUnavailable",
        504: "Timeout",
    }.get(status, "Unknown")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@functools.lru_cache(maxsize=16384)
def _quoted(path: str) -> str:
    """A request path as it goes on the wire (percent-encoded where it must be, escapes kept);
    kept per path, as `_url`."""
    return quote(path, safe="/:@!$&'()*+,;=-._~?%")


def _target(path: str, query: Mapping[str, str] | None) -> str:
    target = _quoted(path)
    if query:
        target += ("&" if "?" in target else "?") + urlencode(query)
    return target


class RESTClient:
    """A connection to one API server. Use as `async with RESTClient.from_kubeconfig(p) as c`."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext | None,
        *,
        token: str | None = None,
        throttle: Throttle | None = None,
        protobuf: bool = False,
        user_agent: str = "kube-client",
        max_retries: int = DEFAULT_MAX_RETRIES,
        connections: int = 100,
    ) -> None:
        self.server = server.rstrip("/")
        self.ssl_context = ssl_context
        self.token = token
        self.throttle = throttle
        self.protobuf = protobuf
        self.user_agent = user_agent
        self.max_retries = max_retries
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._pool: Pool | None = None
        self._streams: set[aiohttp.ClientResponse] = set()

    def sibling(self, *, throttle: Throttle | None, connections: int | None = None) -> RESTClient:
        """A client of its own (session, connection pool) to the same server with the same
        credentials, content type and user agent, but `throttle` and, if given, its own limit
        of `connections` (0: none)."""
        return RESTClient(
            self.server,
            self.ssl_context,
            token=self.token,
            throttle=throttle,
            protobuf=self.protobuf,
            user_agent=self.user_agent,
            max_retries=self.max_retries,
            connections=self._connections if connections is None else connections,
        )

    @classmethod
    def from_kubeconfig(
        cls,
        path: Path | str,
        *,
        context: str | None = None,
        qps: float | None = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        **options: Any,
    ) -> RESTClient:
        """A client for a kubeconfig's context; `qps=None` means no client-side throttling."""
        info = load_kubeconfig(path, context=context)
        throttle = None
        if qps is not None and qps > 0:
            from kube.client.ratelimit import TokenBucket

            throttle = TokenBucket(qps, burst)
        return cls(info.server, info.ssl_context(), token=info.token, throttle=throttle, **options)

    async def __aenter__(self) -> RESTClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _transport(self) -> Pool:
        """Kept connections for plain requests (see kube.client.transport); streams use aiohttp."""
        if self._pool is None:
            headers = {"User-Agent": self.user_agent}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._pool = Pool(
                self.server, self.ssl_context, limit=self._connections, headers=headers
            )
        return self._pool

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": self.user_agent}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._session = aiohttp.ClientSession(
                headers=headers,
                connector=aiohttp.TCPConnector(
                    ssl=self.ssl_context or True, limit=self._connections
                ),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def close(self) -> None:
        """Close the connections; watches in progress end (their readers see the stream end)."""
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        if pool is not None or session is not None:
            # Let the TLS transports finish closing before the loop moves on (aiohttp's advice).
            await asyncio.sleep(0.05)

    # -- the request loop ---------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        seconds: float | None = 60.0,
    ) -> Response:
        """Send one request (with throttling and retries); raise APIError on a non-2xx answer."""
        idempotent = method in ("GET", "HEAD")
        attempt = 0
        while True:
            try:
                return await self._once(method, path, query, body, content_type, accept, seconds)
            except _Retry as retry:
                attempt += 1
                if attempt > self.max_retries:
                    raise retry.cause from None
                delay = min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (attempt - 1))
                delay = max(retry.after, delay * (0.5 + random.random() / 2))
                log.debug("retrying %s %s in %.2fs: %s", method, path, delay, retry.cause)
                await asyncio.sleep(delay)
            except (aiohttp.ClientConnectorError, ConnectError):
                # The connection was never opened: nothing was sent, any method may retry.
                attempt += 1
                if attempt > self.max_retries:
                    raise
                await asyncio.sleep(min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (attempt - 1)))
            except (TimeoutError, aiohttp.ClientError):
                attempt += 1
                if not idempotent or attempt > self.max_retries:
                    raise
                await asyncio.sleep(min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (attempt - 1)))

    async def _once(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None,
        body: bytes | None,
        content_type: str | None,
        accept: str | None,
        seconds: float | None,
    ) -> Response:
        if self.throttle is not None:
            await self.throttle.wait()
        headers = {"Accept": accept or self._accept()}
        if content_type:
            headers["Content-Type"] = content_type
        status, answer_headers, data = await self._transport().request(
            method, _target(path, query), headers, body, seconds
        )
        result = Response(status, answer_headers, data)
        if result.status < 300:
            return result
        err = decode_status(result.status, result.headers.get("Content-Type", ""), data)
        after = _retry_after(result.headers)
        if after is not None and (result.status == 429 or result.status >= 500):
            # The server asked to be tried again later (client-go's checkWait): not processed.
            raise _Retry(err, after)
        if result.status >= 500 and method in ("GET", "HEAD"):
            raise _Retry(err)
        raise err

    def _accept(self) -> str:
        return f"{PROTOBUF}, {JSON}" if self.protobuf else JSON

    # -- encoding ---------------------------------------------------------------------------

    def _encode(self, obj: Object) -> tuple[bytes, str]:
        if self.protobuf:
            try:
                return protobuf.encode_object(obj), PROTOBUF
            except protobuf.ProtobufError:
                pass  # a kind the codec does not know: JSON
        return jsonc.dumps(obj), JSON

    @staticmethod
    def _decode(response: Response) -> Object:
        if response.headers.get("Content-Type", "").startswith(PROTOBUF):
            return protobuf.decode_object(response.body)
        return jsonc.loads_object(response.body)

    # -- verbs ------------------------------------------------------------------------------

    async def get(
        self, resource: Resource, name: str, namespace: str | None = None, *, subresource: str = ""
    ) -> Object:
        path = resource.path(namespace, name, subresource)
        return self._decode(await self.request("GET", path))

    async def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        resource_version: str | None = None,
        resource_version_match: str = "",
    ) -> Object:
        """One page of a collection (the List object, with `metadata.continue`)."""
        query = _options(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=str(limit) if limit else "",
            resourceVersion=resource_version,
            resourceVersionMatch=resource_version_match,
        )
        if continue_token:
            query["continue"] = continue_token
        return self._decode(await self.request("GET", resource.path(namespace), query=query))

    async def create(
        self,
        resource: Resource,
        obj: Object,
        namespace: str | None = None,
        *,
        subresource: str = "",
        name: str = "",
        field_manager: str = "",
        dry_run: bool = False,
    ) -> Object:
        obj = _with_type(resource, obj)
        ns = namespace if namespace is not None else _namespace_of(obj)
        body, content_type = self._encode(obj)
        query = _options(fieldManager=field_manager, dryRun="All" if dry_run else "")
        answer = await self.request(
            "POST",
            resource.path(ns if resource.namespaced else None, name, subresource),
            query=query,
            body=body,
            content_type=content_type,
        )
        return self._decode(answer)

    async def update(
        self,
        resource: Resource,
        obj: Object,
        *,
        subresource: str = "",
        field_manager: str = "",
        dry_run: bool = False,
    ) -> Object:
        obj = _with_type(resource, obj)
        meta = obj.get("metadata") or {}
        body, content_type = self._encode(obj)
        query = _options(fieldManager=field_manager, dryRun="All" if dry_run else "")
        path = resource.path(_namespace_of(obj), str(meta.get("name", "")), subresource)
        answer = await self.request("PUT", path, query=query, body=body, content_type=content_type)
        return self._decode(answer)

    async def patch(
        self,
        resource: Resource,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str = "",
        field_manager: str = "",
        force: bool | None = None,
        dry_run: bool = False,
    ) -> Object:
        """A patch of `patch_type` (json, merge, strategic, apply); `patch` is its document."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}")
        query = _options(fieldManager=field_manager, dryRun="All" if dry_run else "")
        if force is not None:
            query["force"] = "true" if force else "false"
        answer = await self.request(
            "PATCH",
            resource.path(namespace, name, subresource),
            query=query,
            body=patch if isinstance(patch, bytes) else jsonc.dumps(patch),
            content_type=PATCH_TYPES[patch_type],
        )
        return self._decode(answer)

    async def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: str = "",
        grace_period_seconds: int | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> Object:
        """Delete (or start deleting); the answer is the object or a Status, as the server says."""
        options: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            options["preconditions"] = dict(preconditions)
        if dry_run:
            options["dryRun"] = ["All"]
        answer = await self.request(
            "DELETE",
            resource.path(namespace, name),
            body=jsonc.dumps(options),
            content_type=JSON,
        )
        return self._decode(answer)

    async def deletecollection(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: str = "",
    ) -> Object:
        """Delete every object of a collection the selectors pick (the answer is their list)."""
        options: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        query = _options(labelSelector=label_selector, fieldSelector=field_selector)
        answer = await self.request(
            "DELETE",
            resource.path(namespace),
            query=query,
            body=jsonc.dumps(options),
            content_type=JSON,
        )
        return self._decode(answer)

    async def watch(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        resource_version: str = "",
        label_selector: str = "",
        field_selector: str = "",
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
        send_initial_events: bool = False,
    ) -> AsyncGenerator[WatchEvent, None]:
        """The events of one watch request until the server ends it (or the caller stops).

        An `ERROR` event (a 410 Gone for an expired resourceVersion, say) is raised as the
        `APIError` of its Status, so callers handle one kind of failure.
        """
        query = _options(
            watch="true",
            resourceVersion=resource_version,
            labelSelector=label_selector,
            fieldSelector=field_selector,
            timeoutSeconds=str(timeout_seconds) if timeout_seconds is not None else "",
            allowWatchBookmarks="true" if allow_bookmarks else "",
        )
        if send_initial_events:
            query["sendInitialEvents"] = "true"
            query["resourceVersionMatch"] = "NotOlderThan"
        if self.throttle is not None:
            await self.throttle.wait()
        accept = f"{protobuf.WATCH_CONTENT_TYPE}, {JSON}" if self.protobuf else JSON
        async with self._client().get(
            self.server + resource.path(namespace),
            params=query,
            headers={"Accept": accept},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
        ) as answer:
            if answer.status >= 300:
                data = await answer.read()
                raise decode_status(answer.status, answer.headers.get("Content-Type", ""), data)
            framed = answer.headers.get("Content-Type", "").startswith(PROTOBUF)
            frames = _protobuf_frames(answer) if framed else _json_lines(answer)
            self._streams.add(answer)
            try:
                async for kind, obj in frames:
                    if kind == "ERROR":
                        raise decode_status(int(obj.get("code") or 500), JSON, jsonc.dumps(obj))
                    yield WatchEvent(kind, obj)
            except aiohttp.ClientConnectionError:
                return  # the connection went away: the watch is over, the caller resumes
            finally:
                self._streams.discard(answer)


async def _json_lines(answer: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Object]]:
    while True:
        line = await answer.content.readline()
        if not line:
            return
        if not line.strip():
            continue
        event = jsonc.loads_object(line)
        yield str(event.get("type", "")), dict(event.get("object") or {})


async def _protobuf_frames(answer: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Object]]:
    while True:
        try:
            size = int.from_bytes(await answer.content.readexactly(4), "big")
            frame = await answer.content.readexactly(size)
        except asyncio.IncompleteReadError:
            return
        yield protobuf.decode_watch_event(frame)


def _options(**values: str | None) -> dict[str, str]:
    return {k: v for k, v in values.items() if v}


def _with_type(resource: Resource, obj: Object) -> Object:
    if obj.get("apiVersion") and obj.get("kind"):
        return obj
    return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}


def _namespace_of(obj: Object) -> str | None:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return str(namespace) if namespace else None
