"""Type stub for the compiled Rust crate in rust/ (built by setup.py with maturin).

Keep it in step with rust/src/lib.rs; tests/native/test_dispatch.py checks that each native
kernel's signature matches its pure-Python reference. Call these through `kube.native`.
"""

from typing import Any

def decode_envelope(data: bytes) -> tuple[str, str, bytes, str, str]: ...
def encode_envelope(
    api_version: str,
    kind: str,
    raw: bytes,
    content_encoding: str = "",
    content_type: str = "",
) -> bytes: ...
def decode_object(data: bytes) -> dict[str, Any]: ...
def encode_object(obj: dict[str, Any]) -> bytes: ...
