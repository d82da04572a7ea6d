"""Exec and attach onto a runtime's SPDY streaming server (containerd), for kubectl's WebSocket.

kubectl 1.37 speaks `v5.channel.k8s.io` over a WebSocket: one binary message per chunk,
prefixed by its channel (0 stdin, 1 stdout, 2 stderr, 3 the result as a metav1.Status, 4 a
terminal resize), and `[255, 0]` when stdin has ended. containerd 1.6's streaming server
(upstream's pkg/kubelet/cri/streaming of its day) speaks WebSocket only up to
`v4.channel.k8s.io`, which has no way to say stdin ended: a command reading to the end of its
input (`kubectl exec -i pod -- cat < file`, `kubectl cp` into the pod) would wait forever. Over
SPDY it has: each of stdin, stdout, stderr, the error stream and the resize stream is a SPDY
stream of its own, and stdin ends with the stdin stream's FIN. So, as upstream's kubelet does
(its runtime streams are always SPDY; the API server turns kubectl's WebSocket into SPDY),
the kubelet upgrades a connection to the runtime's URL to SPDY/3.1
(`X-Stream-Protocol-Version: v4.channel.k8s.io`), opens the streams client-go's
remotecommand v4 opens (`streamType` error, stdin when asked, stdout, stderr without a tty,
resize with one), and translates: channel 0 to the stdin stream, `[255, 0]` to its FIN,
channel 4 to the resize stream; the stdout and stderr streams' data to channels 1 and 2, and
what the error stream carried (v4: the Status) to channel 3 when the runtime ends the session.

The SPDY framing and header compression are the runtime's port-forward server's
(kube.cri.runtime.portforward). No WINDOW_UPDATE is sent: the runtimes' SPDY (moby/spdystream)
has no flow control, and a write racing the runtime's close of the connection would end the
reading of its last frames (the output's end, the Status) with a broken pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import zlib

from aiohttp import WSMsgType, web

from kube.cri.runtime.portforward import (
    DICTIONARY,
    FLAG_FIN,
    GOAWAY,
    HEADERS,
    PING,
    RST_STREAM,
    SYN_REPLY,
    SYN_STREAM,
    ProtocolError,
    control_frame,
    data_frame,
    decode_headers,
    encode_headers,
)

log = logging.getLogger("kube.kubelet.spdyexec")

STREAM_PROTOCOL = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
RST_CANCEL = 5
READ = 64 * 1024


class ExecSession:
    """The client end of one SPDY session to the runtime, relayed to kubectl's WebSocket."""

    def __init__(
        self,
        client: web.WebSocketResponse,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.client = client
        self.reader = reader
        self.writer = writer
        self.compressor = zlib.compressobj(zdict=DICTIONARY)
        self.decompressor = zlib.decompressobj(zdict=DICTIONARY)
        self.next_id = 1
        self.streams: dict[str, int] = {}  # streamType -> id
        self.channels: dict[int, int] = {}  # stream id -> kubectl's channel
        self.stdin_closed = False
        self.status = b""  # what the error stream carried

    def open(self, stream_type: str) -> int:
        """A SYN_STREAM with `streamType: stream_type` (client streams are odd-numbered)."""
        stream_id = self.next_id
        self.next_id += 2
        block = encode_headers(self.compressor, {"streamType": stream_type})
        payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + block
        self.writer.write(control_frame(SYN_STREAM, 0, payload))
        self.streams[stream_type] = stream_id
        return stream_id

    def open_streams(self, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> None:
        """The streams client-go's remotecommand v4 opens, in its order."""
        self.channels[self.open("error")] = ERROR
        if stdin:
            self.open("stdin")
        if stdout:
            self.channels[self.open("stdout")] = STDOUT
        if stderr and not tty:
            self.channels[self.open("stderr")] = STDERR
        if tty:
            self.open("resize")

    async def run(self) -> None:
        """Relays until the runtime ends the session (the command is done) or kubectl leaves;
        then sends the result and closes kubectl's WebSocket."""
        await self.writer.drain()
        down = asyncio.create_task(self._from_runtime())
        up = asyncio.create_task(self._from_client())
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
            if up.done() and not up.cancelled() and up.exception() is None and not up.result():
                await down  # the runtime's side of the connection went first: read what is left
        finally:
            for task in (up, down):
                task.cancel()
            for task in (up, down):
                with contextlib.suppress(asyncio.CancelledError, OSError, ProtocolError):
                    await task
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        with contextlib.suppress(OSError):
            if self.status and not self.client.closed:
                await self.client.send_bytes(bytes([ERROR]) + self.status)
            await self.client.close()

    async def _from_client(self) -> bool:
        """kubectl's frames to the runtime; True when kubectl left, False when the runtime's
        connection would take no more (the session ends when the runtime's frames do)."""
        async for message in self.client:
            if message.type != WSMsgType.BINARY:
                if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                    return True
                continue
            data: bytes = message.data
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and "stdin" in self.streams and not self.stdin_closed:
                self.writer.write(data_frame(self.streams["stdin"], 0, payload))
            elif channel == RESIZE and "resize" in self.streams:
                self.writer.write(data_frame(self.streams["resize"], 0, payload))
            elif channel == CLOSE and payload[:1] == bytes([STDIN]) and "stdin" in self.streams:
                if not self.stdin_closed:  # stdin's end: the stream's FIN
                    self.stdin_closed = True
                    self.writer.write(data_frame(self.streams["stdin"], FLAG_FIN, b""))
            else:
                continue
            try:
                await self.writer.drain()
            except ConnectionError:
                return False
        return True

    async def _from_runtime(self) -> None:
        while True:
            try:
                head = await self.reader.readexactly(8)
            except (asyncio.IncompleteReadError, ConnectionError):
                return  # the runtime ended the session: the command is done
            first, second = struct.unpack(">II", head)
            flags, length = second >> 24, second & 0xFFFFFF
            payload = await self.reader.readexactly(length) if length else b""
            if first & 0x80000000:
                if not self._control(first & 0xFFFF, payload):
                    return
                continue
            stream_id = first & 0x7FFFFFFF
            channel = self.channels.get(stream_id)
            if channel == ERROR:
                self.status += payload
            elif channel is not None and payload:
                await self.client.send_bytes(bytes([channel]) + payload)
            if flags & FLAG_FIN:
                self.channels.pop(stream_id, None)

    def _control(self, kind: int, payload: bytes) -> bool:
        """One control frame; False when the session is over (GOAWAY)."""
        if kind in (SYN_REPLY, HEADERS) and len(payload) >= 4:
            decode_headers(self.decompressor, payload[4:])  # keeps the zlib context in step
        elif kind == SYN_STREAM and len(payload) >= 10:
            decode_headers(self.decompressor, payload[10:])
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            refuse = struct.pack(">II", stream_id & 0x7FFFFFFF, RST_CANCEL)
            self.writer.write(control_frame(RST_STREAM, 0, refuse))
        elif kind == PING:  # a write only the runtime asks for (it may have gone since)
            self.writer.write(control_frame(PING, 0, payload))
        elif kind == RST_STREAM and len(payload) >= 4:
            (stream_id,) = struct.unpack_from(">I", payload, 0)
            self.channels.pop(stream_id & 0x7FFFFFFF, None)
        elif kind == GOAWAY:
            return False
        return True
