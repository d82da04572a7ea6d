"""Base64 as Go's encoding/base64 decodes it: the same bytes, and the same error offsets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api import gobase64


@pytest.mark.parametrize(
    ("data", "url", "padded", "offset"),
    [
        (b"garbage!!", True, False, 7),  # upstream's continue-token error
        (b"YQ", True, False, None),
        (b"Y", True, False, 0),  # one character cannot be a quantum
        (b"YQ==", False, True, None),
        (b"YQ=", False, True, 3),  # not enough padding
        (b"YQ", False, True, 0),  # padding required
        (b"YQ==x", False, True, 4),  # garbage after the padding
        (b"a===", False, True, 1),  # padding too early
        (b"YW\nJj\r\n", False, True, None),  # newlines are skipped
        (b"YQ==", True, False, 2),  # no padding in RawURLEncoding
        (b"a+b/", True, False, 1),  # the standard alphabet is not the URL one
    ],
)
def test_error_offsets(data: bytes, url: bool, padded: bool, offset: int | None) -> None:
    assert gobase64.error_offset(data, url=url, padded=padded) == offset


def test_decode_raises_with_gos_words() -> None:
    with pytest.raises(gobase64.CorruptInputError, match="illegal base64 data at input byte 7"):
        gobase64.decode(b"garbage!!", url=True, padded=False)


@given(st.binary(max_size=64))
def test_what_python_encodes_decodes_back(raw: bytes) -> None:
    assert gobase64.decode(base64.b64encode(raw)) == raw
    unpadded = base64.urlsafe_b64encode(raw).rstrip(b"=")
    assert gobase64.decode(unpadded, url=True, padded=False) == raw
