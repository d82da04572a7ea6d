"""The keep-alive transport against a scripted HTTP/1.1 server: every way an answer can be
framed, connections reused and limited, and failures as the callers expect them.

The real API server is behind every other client test; this one scripts the server's bytes
so framings our server does not use (chunked, read-until-close, 1xx, trailers) are covered.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
import uvloop

from kube.client import transport
from kube.client.transport import ConnectError, Pool

Script = Callable[[bytes], bytes | None]


@asynccontextmanager
async def scripted(answer: Script) -> AsyncIterator[tuple[str, list[int]]]:
    """A loopback server answering each request head with `answer(head)` (None: hang up).

    Yields its URL and the list of client ports it accepted (one per connection)."""
    accepted: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer.get_extra_info("peername")[1])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                reply = answer(head)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()


def fixed(reply: bytes) -> Script:
    return lambda head: reply


async def test_a_sized_answer_and_the_request_as_sent() -> None:
    seen: list[bytes] = []

    def answer(head: bytes) -> bytes:
        seen.append(head)
        return (
            b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )

    async with scripted(answer) as (url, _):
        pool = Pool(url, None, headers={"User-Agent": "kube-test", "Authorization": "Bearer t"})
        status, headers, body = await pool.request(
            "POST", "/api/v1/namespaces/a/pods?dryRun=All", {"Accept": "x/y"}, b"{}", None
        )
        await pool.close()
    assert (status, body) == (201, b"{}")
    assert headers["content-type"] == "application/json"  # any case, as aiohttp's
    request = seen[0].decode()
    assert request.startswith("POST /api/v1/namespaces/a/pods?dryRun=All HTTP/1.1\r\n")
    for line in ("Accept: x/y", "Content-Length: 2", "User-Agent: kube-test", "Host: 127.0.0.1:"):
        assert f"\r\n{line}" in request


async def test_chunked_answers_with_and_without_trailers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n"
    )
    trailed = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
    )
    replies = iter([chunked, trailed])
    async with scripted(lambda head: next(replies)) as (url, accepted):
        pool = Pool(url, None)
        assert (await pool.request("GET", "/a", {}, None, None))[2] == b"hello, world"
        assert (await pool.request("GET", "/b", {}, None, None))[2] == b"abc"
        await pool.close()
    assert len(accepted) == 1  # both over one kept connection


@asynccontextmanager
async def one_shot(reply: bytes) -> AsyncIterator[str]:
    """A loopback server that answers one request with `reply` and closes the connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_an_answer_without_length_is_read_until_the_server_closes() -> None:
    async with one_shot(b"HTTP/1.1 200 OK\r\n\r\nall of it, then the end") as url:
        pool = Pool(url, None)
        answer = await pool.request("GET", "/a", {}, None, None)
        await pool.close()
    assert answer[2] == b"all of it, then the end"


async def test_informational_answers_are_skipped_and_no_content_has_no_body() -> None:
    replies = iter(
        [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # HEAD: the length, no body
        ]
    )
    async with scripted(lambda head: next(replies)) as (url, _):
        pool = Pool(url, None)
        assert (await pool.request("GET", "/a", {}, None, None))[:1] == (200,)
        assert (await pool.request("DELETE", "/b", {}, None, None))[::2] == (204, b"")
        assert (await pool.request("HEAD", "/c", {}, None, None))[::2] == (200, b"")
        await pool.close()


async def test_connection_close_is_honoured() -> None:
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"
    async with scripted(fixed(reply)) as (url, accepted):
        pool = Pool(url, None)
        for _ in range(3):
            assert (await pool.request("GET", "/", {}, None, None))[2] == b"x"
        await pool.close()
    assert len(accepted) == 3


async def test_a_hang_up_before_the_answer_is_a_server_disconnect() -> None:
    async with scripted(lambda head: None) as (url, _):
        pool = Pool(url, None)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pool.request("POST", "/", {}, b"x", None)
        await pool.close()


async def test_a_half_answer_then_a_hang_up_is_a_server_disconnect() -> None:
    async with one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") as url:
        pool = Pool(url, None)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await pool.request("GET", "/", {}, None, None)
        await pool.close()


async def test_nobody_listening_is_a_connect_error_that_callers_may_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    pool = Pool(f"http://127.0.0.1:{port}", None)
    with pytest.raises(ConnectError) as caught:
        await pool.request("GET", "/", {}, None, None)
    assert isinstance(caught.value, aiohttp.ClientConnectionError)
    await pool.close()


async def test_a_deadline_drops_the_connection_and_raises_timeout() -> None:
    slow = asyncio.Event()

    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await slow.wait()
        writer.close()

    server = await asyncio.start_server(never, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}", None)
    with pytest.raises(TimeoutError):
        await pool.request("GET", "/", {}, None, 0.2)
    assert pool._open == 0  # the connection whose answer was abandoned is gone
    slow.set()
    await pool.close()
    server.close()


async def test_the_limit_queues_requests_on_the_kept_connections() -> None:
    async with scripted(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) as (
        url,
        accepted,
    ):
        pool = Pool(url, None, limit=2)
        answers = await asyncio.gather(
            *(pool.request("GET", f"/{i}", {}, None, None) for i in range(20))
        )
        await pool.close()
    assert [a[2] for a in answers] == [b"x"] * 20
    assert len(accepted) <= 2


async def test_idle_connections_are_not_reused_after_the_idle_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with scripted(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")) as (
        url,
        accepted,
    ):
        pool = Pool(url, None)
        await pool.request("GET", "/", {}, None, None)
        monkeypatch.setattr(transport, "IDLE_TIMEOUT", 0.0)
        await pool.request("GET", "/", {}, None, None)
        await pool.close()
    assert len(accepted) == 2


def test_it_runs_on_uvloop_as_the_components_do() -> None:
    """uvloop's transports are not asyncio.Transport subclasses; the pool must not care."""

    async def main() -> bytes:
        async with scripted(fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nuv")) as (
            url,
            _,
        ):
            pool = Pool(url, None)
            body = (await pool.request("GET", "/", {}, None, None))[2]
            await pool.close()
            return body

    assert uvloop.run(main()) == b"uv"
