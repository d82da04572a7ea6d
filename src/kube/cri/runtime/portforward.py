"""Port-forward streams: the `portforward.k8s.io` protocol over SPDY/3.1, as kubectl speaks it.

kubectl 1.37 opens a WebSocket with the subprotocol `SPDY/3.1+portforward.k8s.io` and tunnels
a SPDY/3.1 session in its binary messages (client-go's TunnelingConnection: the messages are
just the bytes of the session, no channel prefix). The API server and the kubelet relay those
messages unchanged; this module is the server end, in the runtime's streaming server, as
upstream's pkg/kubelet/cri/streaming/portforward (httpstream.go) over moby/spdystream.

For every local connection the client opens two streams (SYN_STREAM) with the same
`requestID` header and the `port` header: `streamType: error` and `streamType: data`. Each
stream gets a SYN_REPLY; once both are there the port is dialled inside the pod's network
namespace and bytes are copied both ways on the data stream (DATA frames, FIN when a side
ends); a failure is written on the error stream as text. PINGs are echoed, and WINDOW_UPDATEs
give back what the client sent so its send window never closes.

Header blocks are zlib streams with SPDY/3's dictionary, one compression context per
direction for the whole session (each block ends with a sync flush).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("kube.runtime.portforward")

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9,
)  # fmt: skip
FLAG_FIN = 0x01
RST_CANCEL = 5
READ = 32 * 1024
MAX_FRAME = 0xFFFFFF

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url",
    "public", "set-cookie", "keep-alive", "origin"
)  # fmt: skip
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
# SPDY/3's header compression dictionary (draft-mbelshe-httpbis-spdy-00 2.6.10.1): the words
# length-prefixed, then the tail as is; 1423 bytes.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()

# (port) -> a connection to that port inside the pod
Dial = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Send = Callable[[bytes], Awaitable[None]]


class ProtocolError(Exception):
    pass


def encode_headers(compressor: zlib._Compress, headers: dict[str, str]) -> bytes:
    block = struct.pack(">I", len(headers))
    for name, value in headers.items():
        for text in (name.lower(), value):
            data = text.encode()
            block += struct.pack(">I", len(data)) + data
    return compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)


def decode_headers(decompressor: zlib._Decompress, data: bytes) -> dict[str, str]:
    """A header block (names lowercased; several values joined by NUL kept as the first)."""
    try:
        block = decompressor.decompress(data)
    except zlib.error as err:
        raise ProtocolError(f"header block: {err}") from err
    headers: dict[str, str] = {}
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        offset = 4
        for _ in range(count):
            (size,) = struct.unpack_from(">I", block, offset)
            name = block[offset + 4 : offset + 4 + size].decode(errors="replace").lower()
            offset += 4 + size
            (size,) = struct.unpack_from(">I", block, offset)
            value = block[offset + 4 : offset + 4 + size].decode(errors="replace")
            offset += 4 + size
            headers[name] = value.split("\0")[0]
    except struct.error as err:
        raise ProtocolError("truncated header block") from err
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


@dataclass
class _Pair:
    """The two streams of one forwarded connection (one requestID)."""

    port: int
    error: int = 0
    data: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)
    client_done: bool = False


class PortForwardSession:
    """The server end of one SPDY session: feed it the client's bytes, it sends its own."""

    def __init__(self, send: Send, dial: Dial, describe: str = "pod") -> None:
        self.send = send
        self.dial = dial
        self.describe = describe
        self.buffer = b""
        self.compressor = zlib.compressobj(zdict=DICTIONARY)
        self.decompressor = zlib.decompressobj(zdict=DICTIONARY)
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self.lock = asyncio.Lock()
        self.closed = False

    async def _write(self, frame: bytes) -> None:
        if self.closed:
            return
        async with self.lock:
            with contextlib.suppress(ConnectionResetError):
                await self.send(frame)

    async def feed(self, data: bytes) -> None:
        """Handles every complete frame in what has arrived so far."""
        self.buffer += data
        while len(self.buffer) >= 8:
            (length,) = struct.unpack_from(">I", self.buffer, 4)
            length &= MAX_FRAME
            if len(self.buffer) < 8 + length:
                return
            head, payload = self.buffer[:8], self.buffer[8 : 8 + length]
            self.buffer = self.buffer[8 + length :]
            flags = head[4]
            if head[0] & 0x80:
                (kind,) = struct.unpack_from(">H", head, 2)
                await self._control(kind, flags, payload)
            else:
                (stream_id,) = struct.unpack_from(">I", head, 0)
                await self._data(stream_id & 0x7FFFFFFF, flags, payload)

    async def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if kind == SYN_STREAM:
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            stream_id &= 0x7FFFFFFF
            headers = decode_headers(self.decompressor, payload[10:])
            await self._open(stream_id, headers)
        elif kind in (SYN_REPLY, HEADERS):
            decode_headers(self.decompressor, payload[4:])  # keeps the zlib context in step
        elif kind == PING:
            await self._write(control_frame(PING, 0, payload[:4]))
        elif kind == RST_STREAM:
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            pair = self.by_stream.get(stream_id & 0x7FFFFFFF)
            if pair is not None:
                self._finish(pair)
        elif kind == GOAWAY:
            await self.close()

    async def _open(self, stream_id: int, headers: dict[str, str]) -> None:
        reply = struct.pack(">I", stream_id) + encode_headers(self.compressor, {})
        kind = headers.get("streamtype", "")
        request_id = headers.get("requestid", "")
        try:
            port = int(headers.get("port", ""))
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            port = 0
        if kind not in ("error", "data") or not port:
            # upstream rejects a stream it cannot use: a reply with FIN, then a reset.
            await self._write(control_frame(SYN_REPLY, FLAG_FIN, reply))
            return
        await self._write(control_frame(SYN_REPLY, 0, reply))
        pair = self.pairs.setdefault(request_id, _Pair(port))
        setattr(pair, kind, stream_id)
        self.by_stream[stream_id] = pair
        if pair.error and pair.data and pair.task is None:
            pair.task = asyncio.create_task(self._forward(request_id, pair))

    async def _data(self, stream_id: int, flags: int, payload: bytes) -> None:
        pair = self.by_stream.get(stream_id)
        if payload:
            # Give the window back at once: the bytes are ours now.
            update = struct.pack(">II", stream_id, len(payload))
            await self._write(control_frame(WINDOW_UPDATE, 0, update))
            update = struct.pack(">II", 0, len(payload))
            await self._write(control_frame(WINDOW_UPDATE, 0, update))
        if pair is None or stream_id != pair.data:
            return
        if payload:
            if pair.writer is None:
                pair.pending.append(payload)
            else:
                pair.writer.write(payload)
                with contextlib.suppress(ConnectionResetError):
                    await pair.writer.drain()
        if flags & FLAG_FIN:
            pair.client_done = True
            if pair.writer is not None and pair.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    pair.writer.write_eof()

    async def _forward(self, request_id: str, pair: _Pair) -> None:
        try:
            reader, writer = await self.dial(pair.port)
        except (OSError, ValueError) as err:
            message = f"error forwarding port {pair.port} to {self.describe}: {err}"
            log.info("%s", message)
            await self._write(data_frame(pair.error, 0, message.encode()))
            await self._write(data_frame(pair.error, FLAG_FIN, b""))
            await self._write(data_frame(pair.data, FLAG_FIN, b""))
            return
        pair.writer = writer
        for chunk in pair.pending:
            writer.write(chunk)
        pair.pending.clear()
        if pair.client_done and writer.can_write_eof():
            with contextlib.suppress(OSError):
                writer.write_eof()
        try:
            while data := await reader.read(READ):
                await self._write(data_frame(pair.data, 0, data))
        except OSError:
            pass
        finally:
            await self._write(data_frame(pair.data, FLAG_FIN, b""))
            await self._write(data_frame(pair.error, FLAG_FIN, b""))
            writer.close()
            self.pairs.pop(request_id, None)

    def _finish(self, pair: _Pair) -> None:
        if pair.task is not None:
            pair.task.cancel()
        if pair.writer is not None:
            pair.writer.close()

    async def close(self) -> None:
        self.closed = True
        for pair in list(self.pairs.values()):
            self._finish(pair)
        self.pairs.clear()


__all__ = ["DICTIONARY", "PROTOCOL", "PortForwardSession", "ProtocolError"]
