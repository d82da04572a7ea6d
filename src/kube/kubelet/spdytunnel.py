"""kubectl's port-forward tunnel onto a runtime that speaks SPDY itself (containerd).

kubectl 1.37 opens a WebSocket with the subprotocol `SPDY/3.1+portforward.k8s.io` and tunnels
a SPDY/3.1 session in its binary messages (the messages are just the session's bytes). The
built-in runtime's streaming server takes that WebSocket as it is (kube.cri.runtime.portforward).
containerd's (Debian's 1.6, upstream's pkg/kubelet/cri/streaming of its day) does not: a
WebSocket port-forward there is the older `portforward.k8s.io` channel protocol with the ports
in the query, and kubectl's SPDY session goes to it as an HTTP/1.1 upgrade to `SPDY/3.1`
(`X-Stream-Protocol-Version: portforward.k8s.io`). As upstream's kubelet does for a runtime's
stream (proxy.NewTunnelingHandler), the kubelet upgrades its own connection to the runtime
and copies the session's bytes both ways, unchanged: the SPDY session is kubectl's and the
runtime's, end to end, and each side's stream closes (FIN) and resets reach the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

UPGRADE = "SPDY/3.1"
READ = 64 * 1024
DIAL_TIMEOUT = 10.0  # seconds to connect and to hear the runtime's answer to the upgrade


class TunnelError(Exception):
    """The runtime did not switch protocols; the message says what it answered."""


async def upgrade(
    url: str, stream_protocol: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the runtime's streaming `url` switched to SPDY/3.1 with
    `X-Stream-Protocol-Version: stream_protocol` (upstream's httpstream/spdy round tripper).
    Raises TunnelError when the runtime answers anything but 101, OSError when it cannot be
    reached."""
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    context: ssl.SSLContext | None = None
    if secure:  # the runtime's own certificate: not verified, as upstream's kubelet
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), DIAL_TIMEOUT
    )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    request = (
        f"POST {target} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n"
        "Connection: Upgrade\r\n"
        f"Upgrade: {UPGRADE}\r\n"
        f"X-Stream-Protocol-Version: {stream_protocol}\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    )
    try:
        writer.write(request.encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DIAL_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as err:
        writer.close()
        raise TunnelError(f"no answer to the upgrade: {err}") from err
    except BaseException:
        writer.close()
        raise
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = status_line.split(" ", 2)
    if len(status) < 2 or status[1] != "101":
        writer.close()
        raise TunnelError(f"the runtime answered {status_line.strip()!r}")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines if line)
    }
    chosen = headers.get("x-stream-protocol-version", stream_protocol)
    if chosen != stream_protocol:
        writer.close()
        raise TunnelError(f"the runtime chose {chosen!r}, not {stream_protocol!r}")
    return reader, writer


async def tunnel(
    client: web.WebSocketResponse, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Copies the client's binary messages to the runtime's connection and what the runtime
    sends back as binary messages, until either side ends; then ends the other."""

    async def up() -> None:
        async for message in client:
            if message.type != WSMsgType.BINARY:
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                    break
                continue
            writer.write(message.data)
            await writer.drain()

    async def down() -> None:
        while True:
            data = await reader.read(READ)
            if not data:
                return
            await client.send_bytes(data)

    tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        with contextlib.suppress(OSError):
            await client.close()
