"""Base64 checked as Go's encoding/base64 decodes it, with its error positions.

Python's decoders skip characters outside the alphabet (or fail without saying where); Go's
fail at the first bad byte with `illegal base64 data at input byte N`, which is what upstream
answers: for a `[]byte` field such as `Secret.data` (standard alphabet, padded) and for a list's
`continue` token (URL alphabet, no padding). Go skips `\\r` and `\\n` anywhere.
"""

from __future__ import annotations

import base64
import string

_STANDARD = frozenset((string.ascii_letters + string.digits + "+/").encode())
_URL = frozenset((string.ascii_letters + string.digits + "-_").encode())
_NEWLINES = (0x0A, 0x0D)
_PAD = ord("=")


class CorruptInputError(ValueError):
    """Go's base64.CorruptInputError: the offset of the first byte that cannot be decoded."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def error_offset(data: bytes, *, url: bool = False, padded: bool = True) -> int | None:
    """Where Go's decoder fails on `data` (its decodeQuantum, quantum by quantum); None if valid."""
    alphabet = _URL if url else _STANDARD
    n, si = len(data), 0
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                if j == 1 or padded:
                    return si - j
                return None  # an unpadded final quantum of 2 or 3 characters
            c = data[si]
            si += 1
            if c in alphabet:
                j += 1
                continue
            if c in _NEWLINES:
                continue
            if not padded or c != _PAD or j < 2:
                return si - 1
            if j == 2:  # "==" expected; the first "=" is read
                while si < n and data[si] in _NEWLINES:
                    si += 1
                if si == n:
                    return n
                if data[si] != _PAD:
                    return si - 1
                si += 1
            while si < n and data[si] in _NEWLINES:
                si += 1
            return si if si < n else None  # anything after the padding is garbage


def decode(data: bytes, *, url: bool = False, padded: bool = True) -> bytes:
    """The decoded bytes; `CorruptInputError` where Go's decoder would fail."""
    offset = error_offset(data, url=url, padded=padded)
    if offset is not None:
        raise CorruptInputError(offset)
    clean = bytes(c for c in data if c not in _NEWLINES)
    if not padded:
        clean += b"=" * (-len(clean) % 4)
    return base64.urlsafe_b64decode(clean) if url else base64.b64decode(clean)
