"""JSON syntax errors worded as Go's encoding/json words them, which is what upstream says.

The API server decodes with orjson; only when that fails does this module scan the bytes
again, as Go's `scanner.go` state machine does, to name the first bad byte the way a
Kubernetes client reads it from a real API server: `invalid character 'x' looking for
beginning of value`, `unexpected end of JSON input`. It runs on the error path only.
"""

from __future__ import annotations

END_OF_INPUT = "unexpected end of JSON input"
WHITESPACE = b" \t\r\n"
DIGITS = b"0123456789"
HEX = b"0123456789abcdefABCDEF"


_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 92: "\\\\"}


def quote_char(c: int) -> str:
    """Go's `quoteChar`: the byte as a rune in single quotes, escaped as strconv.Quote does."""
    if c == ord("'"):
        return "'\\''"
    if c == ord('"'):
        return "'\"'"
    char = chr(c)
    if c in _ESCAPES:
        text = _ESCAPES[c]
    elif char.isprintable():
        text = char
    elif c < 0x80:
        text = f"\\x{c:02x}"
    else:
        text = f"\\u{c:04x}"
    return f"'{text}'"


class _Syntax(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _invalid(c: int, context: str) -> _Syntax:
    return _Syntax(f"invalid character {quote_char(c)} {context}")


class _Scanner:
    """A port of the checks (not the speed) of Go's JSON scanner over one document."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def peek(self) -> int:
        if self.pos >= len(self.data):
            raise _Syntax(END_OF_INPUT)
        return self.data[self.pos]

    def next(self) -> int:
        c = self.peek()
        self.pos += 1
        return c

    def skip_space(self) -> int:
        while self.peek() in WHITESPACE:
            self.pos += 1
        return self.peek()

    def document(self) -> None:
        self.value()
        while self.pos < len(self.data):
            c = self.data[self.pos]
            if c not in WHITESPACE:
                raise _invalid(c, "after top-level value")
            self.pos += 1

    def value(self) -> None:
        c = self.skip_space()
        if c == ord("{"):
            self.pos += 1
            self.object()
        elif c == ord("["):
            self.pos += 1
            self.array()
        elif c == ord('"'):
            self.pos += 1
            self.string()
        elif c == ord("-") or c in DIGITS:
            self.number()
        elif c in b"tfn":
            self.literal({ord("t"): "true", ord("f"): "false", ord("n"): "null"}[c])
        else:
            raise _invalid(c, "looking for beginning of value")

    def object(self) -> None:
        c = self.skip_space()
        if c == ord("}"):
            self.pos += 1
            return
        while True:
            c = self.skip_space()
            if c != ord('"'):
                raise _invalid(c, "looking for beginning of object key string")
            self.pos += 1
            self.string()
            c = self.skip_space()
            if c != ord(":"):
                raise _invalid(c, "after object key")
            self.pos += 1
            self.value()
            c = self.skip_space()
            self.pos += 1
            if c == ord("}"):
                return
            if c != ord(","):
                raise _invalid(c, "after object key:value pair")

    def array(self) -> None:
        c = self.skip_space()
        if c == ord("]"):
            self.pos += 1
            return
        while True:
            self.value()
            c = self.skip_space()
            self.pos += 1
            if c == ord("]"):
                return
            if c != ord(","):
                raise _invalid(c, "after array element")

    def string(self) -> None:
        while True:
            c = self.next()
            if c == ord('"'):
                return
            if c == ord("\\"):
                c = self.next()
                if c == ord("u"):
                    for _ in range(4):
                        c = self.next()
                        if c not in HEX:
                            raise _invalid(c, "in \\u hexadecimal character escape")
                elif c not in b'bfnrt\\/"':
                    raise _invalid(c, "in string escape code")
            elif c < 0x20:
                raise _invalid(c, "in string literal")

    def digits(self) -> None:
        while self.pos < len(self.data) and self.data[self.pos] in DIGITS:
            self.pos += 1

    def number(self) -> None:
        if self.peek() == ord("-"):
            self.pos += 1
            c = self.peek()
            if c not in DIGITS:
                raise _invalid(c, "in numeric literal")
        if self.next() != ord("0"):
            self.digits()
        if self.pos < len(self.data) and self.data[self.pos] == ord("."):
            self.pos += 1
            c = self.peek()
            if c not in DIGITS:
                raise _invalid(c, "after decimal point in numeric literal")
            self.digits()
        if self.pos < len(self.data) and self.data[self.pos] in b"eE":
            self.pos += 1
            if self.peek() in b"+-":
                self.pos += 1
            c = self.peek()
            if c not in DIGITS:
                raise _invalid(c, "in exponent of numeric literal")
            self.digits()

    def literal(self, word: str) -> None:
        self.pos += 1
        for expected in word[1:]:
            c = self.next()
            if c != ord(expected):
                raise _invalid(c, f"in literal {word} (expecting {quote_char(ord(expected))})")


def syntax_error(data: bytes | str) -> str | None:
    """The message of the first syntax error in `data` as Go reports it; None if valid."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    try:
        _Scanner(raw).document()
    except _Syntax as err:
        return err.message
    except RecursionError:
        return None  # nested deeper than this scanner follows: the caller's own words
    return None


def type_name(value: object) -> str:
    """How Go's UnmarshalTypeError names a decoded JSON value."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
