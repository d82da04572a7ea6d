"""HTTP/1.1 keep-alive requests to the API server, without aiohttp's per-request machinery.

Every component talks to the API server in small requests: a Lease renewal, a status patch, a
binding, an Event. Through `aiohttp.ClientSession.request` one such request costs the client
about 140 microseconds of CPU (request and response objects, a timer, header multidicts, the
payload machinery); written as bytes on a kept connection and read back by the small parser
here it costs about 45, TLS included. That is the difference between a scheduler that keeps
up with 1,000 pods a second and one that does not, and a fifth of a hollow node's CPU.

`Pool` keeps up to `limit` connections (0: no limit) to one server, each carrying one request
at a time (no pipelining), reused most-recent-first and closed after 15 s idle (aiohttp's
keep-alive default, shorter than servers' so a server never closes one under a request).
Responses may be sized by Content-Length, chunked, or read until the server closes; 1xx
answers are skipped. Streaming requests (watch, exec, port-forward) stay on aiohttp.

Errors are aiohttp's kinds, so callers' handling is unchanged: `ConnectError` (a
`ClientConnectionError`) when no connection could be opened, so nothing was sent and any
method may be retried; `aiohttp.ServerDisconnectedError` when the connection ended before a
whole response; `TimeoutError` past the request's deadline (the connection is dropped, its
answer may still be on the way).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from typing import Final, cast
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

IDLE_TIMEOUT: Final = 15.0
CONNECT_TIMEOUT: Final = 10.0
MAX_HEAD: Final = 1 << 20  # a response head past this is refused

_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE = range(4)


class ConnectError(aiohttp.ClientConnectionError):
    """No connection could be opened: the request was not sent."""


class ProtocolError(aiohttp.ClientError):
    """The server's answer was not HTTP/1.1 as this client reads it."""


Answer = tuple[int, CIMultiDictProxy[str], bytes]


class _Connection(asyncio.Protocol):
    """One kept connection; `exchange` sends a request and waits for its whole response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._head_only = False
        self._state = _HEAD
        self._status = 0
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._length = 0
        self._body = bytearray()
        self._keep_alive = True

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self._buf += data
        try:
            self._parse()
        except ProtocolError as err:
            self._fail(err)

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    # -- use -------------------------------------------------------------------------------

    def exchange(self, request: bytes, head_only: bool) -> asyncio.Future[Answer]:
        assert self.transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._head_only = head_only
        self._state, self._keep_alive = _HEAD, True
        self.transport.write(request)
        return self._waiter

    @property
    def reusable(self) -> bool:
        return (
            not self.closed
            and self._keep_alive
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- parsing -----------------------------------------------------------------------------

    def _parse(self) -> None:
        buf = self._buf
        while self._waiter is not None:
            if self._state == _HEAD:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise ProtocolError(f"response head over {MAX_HEAD} bytes")
                    return
                head = bytes(buf[:end]).decode("latin-1")
                del buf[: end + 4]
                self._start(head)
            elif self._state == _LENGTH:
                if len(buf) < self._length:
                    return
                self._body += buf[: self._length]
                del buf[: self._length]
                self._done()
            elif self._state == _CHUNKED:
                if not self._chunk():
                    return
            else:  # _UNTIL_CLOSE: the body is whatever arrives before the end
                self._body += buf
                del buf[:]
                return

    def _start(self, head: str) -> None:
        lines = head.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
        status = int(code)
        pairs = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line {line[:80]!r}")
            pairs.append((name.strip(), value.strip()))
        headers: CIMultiDict[str] = CIMultiDict(pairs)
        if 100 <= status < 200:
            return  # 100 Continue and the like: the real answer follows
        self._status, self._headers, self._body = status, headers, bytearray()
        connection = headers.get("Connection", "").lower()
        self._keep_alive = "close" not in connection and (
            version != "HTTP/1.0" or "keep-alive" in connection
        )
        if self._head_only or status in (204, 304):
            self._done()
        elif "chunked" in headers.get("Transfer-Encoding", "").lower():
            self._state = _CHUNKED
        elif "Content-Length" in headers:
            try:
                self._length = int(headers["Content-Length"])
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
            self._state = _LENGTH
        else:
            self._state, self._keep_alive = _UNTIL_CLOSE, False

    def _chunk(self) -> bool:
        """Take one chunk (or the last one and the trailers); False until it is all here."""
        buf = self._buf
        end = buf.find(b"\r\n")
        if end < 0:
            return False
        try:
            size = int(bytes(buf[:end]).split(b";", 1)[0], 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        if size == 0:
            rest = end + 2
            if buf[rest : rest + 2] == b"\r\n":
                del buf[: rest + 2]
            else:
                trailers = buf.find(b"\r\n\r\n", rest)
                if trailers < 0:
                    return False
                del buf[: trailers + 4]
            self._done()
            return True
        if len(buf) < end + 2 + size + 2:
            return False
        self._body += buf[end + 2 : end + 2 + size]
        del buf[: end + 2 + size + 2]
        return True

    def _done(self) -> None:
        waiter, self._waiter = self._waiter, None
        self._state = _HEAD
        if self._buf and self._keep_alive:
            # More bytes than the answer: nothing else was asked, so the stream is confused.
            self._keep_alive = False
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, CIMultiDictProxy(self._headers), bytes(self._body)))

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None:
            return
        if self._state == _UNTIL_CLOSE and exc is None:
            self._body += self._buf
            self._buf.clear()
            self._done()
            return
        message = "Server disconnected" if exc is None else f"Server disconnected: {exc}"
        self._fail(aiohttp.ServerDisconnectedError(message))

    def _fail(self, err: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)


class Pool:
    """Kept connections to one server; `request` is one HTTP/1.1 exchange."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext | None,
        *,
        limit: int = 100,
        headers: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(server)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl_context if parts.scheme == "https" else None
        if parts.scheme == "https" and self.ssl is None:
            self.ssl = ssl.create_default_context()
        self.limit = limit
        host_header = parts.netloc.rpartition("@")[2]
        lines = [f"Host: {host_header}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self._common = ("\r\n".join(lines) + "\r\n").encode("latin-1")
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes | None,
        seconds: float | None,
    ) -> Answer:
        """Send `method target` (path and query, already encoded) and read the answer within
        `seconds` (None: no deadline, client-go's default)."""
        lines = [f"{method} {target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body or b'')}")
        request = "\r\n".join(lines).encode("latin-1") + b"\r\n" + self._common + b"\r\n"
        if body:
            request += body
        if seconds is None:
            return await self._exchange(request, method == "HEAD")
        async with asyncio.timeout(seconds):
            return await self._exchange(request, method == "HEAD")

    async def _exchange(self, request: bytes, head_only: bool) -> Answer:
        conn = await self._acquire()
        try:
            answer = await conn.exchange(request, head_only)
        except BaseException:
            conn.close()  # cancelled or timed out mid-exchange: its answer is lost
            self._release(conn)
            raise
        self._release(conn)
        return answer

    async def close(self) -> None:
        """Close every connection, idle or carrying a request (whose caller sees it end)."""
        self._closed = True
        self._idle = []
        conns, self._all = self._all, set()
        for conn in conns:
            conn.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(aiohttp.ClientConnectionError("client closed"))

    # -- connections -------------------------------------------------------------------------

    async def _acquire(self) -> _Connection:
        while True:
            if self._closed:
                raise aiohttp.ClientConnectionError("client closed")
            now = time.monotonic()
            while self._idle:
                conn = self._idle.pop()
                if conn.reusable and now - conn.idle_since < IDLE_TIMEOUT:
                    return conn
                conn.close()
                self._all.discard(conn)
                self._open -= 1
            if self.limit <= 0 or self._open < self.limit:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass the wake-up on
                raise

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, conn = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                )
        except (OSError, TimeoutError) as err:
            raise ConnectError(f"cannot connect to {self.host}:{self.port}: {err}") from err
        self._all.add(conn)
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.reusable and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
            self._all.discard(conn)
            self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
