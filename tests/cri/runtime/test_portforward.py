"""The port-forward SPDY session as kubectl drives it: error + data streams per connection,
bytes both ways, FIN at the end, a failed dial reported on the error stream, PINGs echoed."""

from __future__ import annotations

import asyncio
import struct
import zlib

from kube.cri.runtime import portforward as pf


class Client:
    """kubectl's side: frames it sends, and what the session answered, parsed."""

    def __init__(self) -> None:
        self.compress = zlib.compressobj(zdict=pf.DICTIONARY)
        self.decompress = zlib.decompressobj(zdict=pf.DICTIONARY)
        self.received = b""
        self.offset = 0
        self.parsed: list[tuple[str, int, int, bytes]] = []

    async def send(self, data: bytes) -> None:
        self.received += data

    def syn(self, stream_id: int, headers: dict[str, str]) -> bytes:
        block = pf.encode_headers(self.compress, headers)
        payload = struct.pack(">IIH", stream_id, 0, 0) + block
        return pf.control_frame(pf.SYN_STREAM, 0, payload)

    def frames(self) -> list[tuple[str, int, int, bytes]]:
        """(kind, stream or control type, flags, payload) of everything received so far; each
        frame parsed once (the header blocks share one zlib stream)."""
        while len(self.received) - self.offset >= 8:
            data = self.received[self.offset :]
            (length,) = struct.unpack_from(">I", data, 4)
            flags, length = length >> 24, length & 0xFFFFFF
            if len(data) < 8 + length:
                break
            head, payload = data[:8], data[8 : 8 + length]
            self.offset += 8 + length
            if head[0] & 0x80:
                (kind,) = struct.unpack_from(">H", head, 2)
                if kind == pf.SYN_REPLY:
                    pf.decode_headers(self.decompress, payload[4:])
                self.parsed.append(("control", kind, flags, payload))
            else:
                (stream,) = struct.unpack_from(">I", head, 0)
                self.parsed.append(("data", stream, flags, payload))
        return list(self.parsed)

    def data_on(self, stream: int) -> tuple[bytes, bool]:
        chunks = [(p, f) for k, s, f, p in self.frames() if k == "data" and s == stream]
        return b"".join(p for p, _ in chunks), any(f & pf.FLAG_FIN for _, f in chunks)


async def _echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read()  # until the client's FIN
    writer.write(data.upper())
    await writer.drain()
    writer.close()


async def _until(check: object, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_dictionary_is_spdy3s() -> None:
    assert len(pf.DICTIONARY) == 1423
    assert pf.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert pf.DICTIONARY.endswith(b"utf-,*,enq=0.")


async def test_a_connection_is_forwarded_both_ways() -> None:
    server = await asyncio.start_server(_echo_upper, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    dialled: list[int] = []

    async def dial(wanted: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        dialled.append(wanted)
        return await asyncio.open_connection("127.0.0.1", port)

    client = Client()
    session = pf.PortForwardSession(client.send, dial, "pod default/x")
    try:
        await session.feed(client.syn(1, {"streamType": "error", "port": "80", "requestID": "0"}))
        await session.feed(pf.data_frame(1, pf.FLAG_FIN, b""))
        # A frame split across two WebSocket messages is put back together.
        frame = client.syn(3, {"streamType": "data", "port": "80", "requestID": "0"})
        await session.feed(frame[:5])
        await session.feed(frame[5:] + pf.data_frame(3, 0, b"hello "))
        await session.feed(pf.data_frame(3, pf.FLAG_FIN, b"world"))
        await _until(lambda: client.data_on(3)[1])
        assert dialled == [80]
        assert client.data_on(3) == (b"HELLO WORLD", True)
        replies = [s for k, t, _, s in client.frames() if k == "control" and t == pf.SYN_REPLY]
        assert [struct.unpack_from(">I", r)[0] for r in replies] == [1, 3]
        assert client.data_on(1) == (b"", True)  # no error
        # PING is echoed with its id.
        await session.feed(pf.control_frame(pf.PING, 0, struct.pack(">I", 7)))
        pings = [p for k, t, _, p in client.frames() if k == "control" and t == pf.PING]
        assert pings == [struct.pack(">I", 7)]
    finally:
        await session.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_port_is_reported_on_the_error_stream() -> None:
    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise ConnectionRefusedError(111, "Connection refused")

    client = Client()
    session = pf.PortForwardSession(client.send, dial, "pod default/x")
    await session.feed(client.syn(1, {"streamType": "error", "port": "81", "requestID": "5"}))
    await session.feed(client.syn(3, {"streamType": "data", "port": "81", "requestID": "5"}))
    await _until(lambda: client.data_on(1)[1])
    message, _ = client.data_on(1)
    assert message.decode().startswith("error forwarding port 81 to pod default/x:")
    assert "Connection refused" in message.decode()
    assert client.data_on(3)[1]
    await session.close()


async def test_a_stream_without_a_port_is_refused() -> None:
    client = Client()

    async def dial(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise AssertionError("no dial")

    session = pf.PortForwardSession(client.send, dial)
    await session.feed(client.syn(1, {"streamType": "data", "requestID": "0"}))
    ((kind, control, flags, _),) = client.frames()
    assert (kind, control, flags) == ("control", pf.SYN_REPLY, pf.FLAG_FIN)
    await session.close()
