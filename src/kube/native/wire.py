"""The protobuf wire reader shared by the pure-Python references of the envelope and the codec.

Both references (`envelope.py` for the `k8s\\x00` Unknown envelope, `protobuf.py` for the
objects inside it) read the same wire format and must fail with the same words as their Rust
kernels; they differ only in the exception they raise and a message prefix, which a subclass
sets by overriding `fail`. Offsets in messages are into `data` (the caller decides what that is).
"""

from __future__ import annotations

from typing import Final, NoReturn

MAX_FIELD_NUMBER: Final = (1 << 29) - 1
UINT64_MASK: Final = (1 << 64) - 1

VARINT: Final = 0
FIXED64: Final = 1
LENGTH_DELIMITED: Final = 2
START_GROUP: Final = 3
END_GROUP: Final = 4
FIXED32: Final = 5


class WireReader:
    """A cursor over `data[pos:end]`: varints, tags, length-delimited fields and skipping."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def fail(self, problem: str) -> NoReturn:
        """Raises the caller's error for a malformed input; subclasses choose the class."""
        raise ValueError(problem)

    def at_end(self) -> bool:
        return self.pos >= self.end

    def varint(self) -> int:
        offset = self.pos
        value = 0
        for i in range(10):
            if self.pos >= self.end:
                self.fail(f"truncated varint at offset {offset}")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                return value & UINT64_MASK  # a tenth byte's high bits fall off, as in Go
        self.fail(f"varint longer than 10 bytes at offset {offset}")

    def tag(self) -> tuple[int, int, int]:
        """(field number, wire type, offset of the tag)."""
        offset = self.pos
        key = self.varint()
        field = key >> 3
        if field == 0 or field > MAX_FIELD_NUMBER:
            self.fail(f"invalid field number {field} at offset {offset}")
        return field, key & 7, offset

    def take(self, field: int, offset: int, need: int) -> int:
        """Advances over `need` bytes of a field and returns where they start."""
        left = self.end - self.pos
        if need > left:
            self.fail(f"field {field} at offset {offset} needs {need} bytes, only {left} left")
        start = self.pos
        self.pos += need
        return start

    def length_delimited(self, field: int, offset: int) -> tuple[int, int]:
        length = self.varint()
        start = self.take(field, offset, length)
        return start, self.pos

    def skip_scalar(self, field: int, wire_type: int, offset: int) -> None:
        if wire_type == VARINT:
            self.varint()
        elif wire_type == FIXED64:
            self.take(field, offset, 8)
        elif wire_type == LENGTH_DELIMITED:
            self.length_delimited(field, offset)
        elif wire_type == FIXED32:
            self.take(field, offset, 4)
        elif wire_type == END_GROUP:
            self.fail(f"end group {field} at offset {offset} without a start group")
        else:
            self.fail(f"invalid wire type {wire_type} at offset {offset}")

    def skip(self, field: int, wire_type: int, offset: int) -> None:
        """Skips a field of an unknown number, whatever its wire type (groups nested, no
        recursion)."""
        if wire_type != START_GROUP:
            self.skip_scalar(field, wire_type, offset)
            return
        open_groups = [(field, offset)]
        while open_groups:
            group, group_offset = open_groups[-1]
            if self.at_end():
                self.fail(f"group {group} at offset {group_offset} is not terminated")
            inner, inner_type, inner_offset = self.tag()
            if inner_type == START_GROUP:
                open_groups.append((inner, inner_offset))
            elif inner_type == END_GROUP and inner == group:
                open_groups.pop()
            elif inner_type == END_GROUP:
                self.fail(
                    f"end group {inner} at offset {inner_offset} does not close group {group}"
                )
            else:
                self.skip_scalar(inner, inner_type, inner_offset)

    def text(self, start: int, end: int, name: str, offset: int) -> str:
        """The UTF-8 text of `data[start:end]`, field `name` found at `offset`."""
        try:
            return self.data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"field {name} at offset {offset} is not valid UTF-8")
