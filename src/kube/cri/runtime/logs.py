"""Container logs in the CRI file format, which the kubelet (and `kubectl logs`) read back.

Each line of the file is `<timestamp> <stream> <tag> <content>`: the timestamp in Go's
RFC3339Nano in UTC (`2016-10-06T00:17:09.669794202Z`, trailing zeros of the fraction dropped as
Go does), the stream `stdout` or `stderr`, the tag `F` for a full line or `P` for a partial one
(a line longer than the runtime's buffer, or the last bytes before the stream closed without a
newline, as containerd writes them), then the content without its newline.
"""

from __future__ import annotations

import threading
import time
from typing import BinaryIO

MAX_LINE = 16 * 1024  # containerd's default max_container_log_line_size


def rfc3339nano(ns: int) -> str:
    """A Unix time in nanoseconds as Go's time.RFC3339Nano in UTC."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def format_line(ns: int, stream: str, content: bytes, *, partial: bool = False) -> bytes:
    """One line of a CRI log file."""
    tag = "P" if partial else "F"
    return f"{rfc3339nano(ns)} {stream} {tag} ".encode() + content + b"\n"


class LogWriter:
    """Turns the bytes of one container's stdout and stderr into CRI log lines in one file.

    Thread-safe: the shim feeds stdout and stderr from two threads.
    """

    def __init__(self, sink: BinaryIO, max_line: int = MAX_LINE) -> None:
        self.sink = sink
        self.max_line = max_line
        self._buffers: dict[str, bytes] = {"stdout": b"", "stderr": b""}
        self._lock = threading.Lock()

    def write(self, stream: str, data: bytes, now_ns: int | None = None) -> None:
        ns = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            buffer = self._buffers[stream] + data
            lines = []
            while True:
                newline = buffer.find(b"\n")
                if newline < 0:
                    break
                line, buffer = buffer[:newline], buffer[newline + 1 :]
                while len(line) > self.max_line:
                    lines.append(format_line(ns, stream, line[: self.max_line], partial=True))
                    line = line[self.max_line :]
                lines.append(format_line(ns, stream, line))
            while len(buffer) >= self.max_line:
                lines.append(format_line(ns, stream, buffer[: self.max_line], partial=True))
                buffer = buffer[self.max_line :]
            self._buffers[stream] = buffer
            if lines:
                self.sink.write(b"".join(lines))
                self.sink.flush()

    def close(self, now_ns: int | None = None) -> None:
        """Writes what is left of an unterminated last line as a partial line."""
        ns = time.time_ns() if now_ns is None else now_ns
        with self._lock:
            for stream, rest in self._buffers.items():
                if rest:
                    self.sink.write(format_line(ns, stream, rest, partial=True))
                self._buffers[stream] = b""
            self.sink.flush()


def parse_line(line: bytes) -> tuple[str, str, bool, bytes]:
    """(timestamp, stream, partial, content) of one CRI log line (the kubelet's reader)."""
    timestamp, stream, tag, content = line.rstrip(b"\n").split(b" ", 3)
    return timestamp.decode(), stream.decode(), tag == b"P", content
