"""Native kernels behind one dispatch point: compiled where built, pure Python otherwise.

Each kernel is one row of `KERNELS`: a name, the language it is written in, the pure-Python
reference (which stays, with the same signature) and where the compiled version lives. At import
every kernel is resolved once: the compiled callable if its module imports, the reference if not
or if the environment says so:

- `KUBE_NO_NATIVE=1` forces the reference for every kernel;
- `KUBE_NO_NATIVE=match_labels,decode_envelope` forces it for the kernels named (an unknown
  name raises KeyError listing the known ones, so a typo cannot silently do nothing).

`kernel_status()` tells which implementation each kernel got and why (`kube doctor` prints it);
the test suite fails when a kernel fell back to Python although native code was expected.
This package is the lowest layer: it imports nothing else from `kube` except the compiled
modules `kube._rust` and `kube.native._labels`.

Adding a kernel: write the reference here, the compiled version (src/_native or rust/), one row
in `KERNELS`, one typed accessor below, tests over both implementations and a benchmark.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar, cast

from kube.native import envelope, labels, protobuf
from kube.native.labels import FieldRequirement, Operator, Requirement

__all__ = [
    "KERNELS",
    "FieldRequirement",
    "Kernel",
    "KernelStatus",
    "Operator",
    "Requirement",
    "decode_envelope",
    "decode_object",
    "disabled_kernels",
    "encode_envelope",
    "encode_object",
    "kernel",
    "kernel_status",
    "match_fields",
    "match_labels",
]

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

Language = Literal["rust", "cython", "pybind11"]


@dataclass(frozen=True)
class Kernel(Generic[F]):
    """One native kernel: its pure-Python reference and where the compiled version lives."""

    name: str
    language: Language
    reference: F
    module: str
    attribute: str

    def load_native(self) -> F:
        """The compiled callable; raises ImportError (or AttributeError) if it is not built."""
        return cast(F, getattr(importlib.import_module(self.module), self.attribute))


@dataclass(frozen=True)
class KernelStatus:
    """Which implementation a kernel runs, and why it is the reference when it is."""

    name: str
    language: Language
    module: str  # where the compiled version lives (imported or not)
    implementation: Literal["native", "reference"]
    reason: str | None = None


_MATCH_LABELS: Final = Kernel(
    "match_labels", "cython", labels.match_labels, "kube.native._labels", "match_labels"
)
_MATCH_FIELDS: Final = Kernel(
    "match_fields", "cython", labels.match_fields, "kube.native._labels", "match_fields"
)
_DECODE_ENVELOPE: Final = Kernel(
    "decode_envelope", "rust", envelope.decode_envelope, "kube._rust", "decode_envelope"
)
_ENCODE_ENVELOPE: Final = Kernel(
    "encode_envelope", "rust", envelope.encode_envelope, "kube._rust", "encode_envelope"
)

_DECODE_OBJECT: Final = Kernel(
    "decode_object", "rust", protobuf.decode_object, "kube._rust", "decode_object"
)
_ENCODE_OBJECT: Final = Kernel(
    "encode_object", "rust", protobuf.encode_object, "kube._rust", "encode_object"
)

KERNELS: Final[tuple[Kernel[Any], ...]] = (
    _MATCH_LABELS,
    _MATCH_FIELDS,
    _DECODE_ENVELOPE,
    _ENCODE_ENVELOPE,
    _DECODE_OBJECT,
    _ENCODE_OBJECT,
)
_BY_NAME: Final = {k.name: k for k in KERNELS}


def kernel(name: str) -> Kernel[Any]:
    """The kernel called `name`; KeyError naming the known kernels if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise KeyError(f"unknown native kernel {name!r}; known kernels: {known}") from None


def disabled_kernels(no_native: str | None) -> frozenset[str]:
    """The kernels a value of KUBE_NO_NATIVE sends to their reference implementation."""
    value = (no_native or "").strip()
    if value in ("", "0"):
        return frozenset()
    if value == "1":
        return frozenset(_BY_NAME)
    return frozenset(kernel(name.strip()).name for name in value.split(",") if name.strip())


_NO_NATIVE: Final = os.environ.get("KUBE_NO_NATIVE")
_DISABLED: Final = disabled_kernels(_NO_NATIVE)
_STATUS: Final[dict[str, KernelStatus]] = {}


def _select(k: Kernel[F]) -> F:
    """Resolves one kernel and records why it got the implementation it got."""

    def record(implementation: Literal["native", "reference"], reason: str | None) -> None:
        _STATUS[k.name] = KernelStatus(k.name, k.language, k.module, implementation, reason)

    if k.name in _DISABLED:
        record("reference", f"KUBE_NO_NATIVE={(_NO_NATIVE or '').strip()} set")
        return k.reference
    try:
        native = k.load_native()
    except (ImportError, AttributeError) as error:
        reason = f"import failed: {error}"
        logger.warning("native kernel %s runs the pure-Python reference: %s", k.name, reason)
        record("reference", reason)
        return k.reference
    record("native", None)
    return native


def kernel_status() -> list[KernelStatus]:
    """Every kernel's implementation, in table order."""
    return [_STATUS[k.name] for k in KERNELS]


match_labels: Final = _select(_MATCH_LABELS)
match_fields: Final = _select(_MATCH_FIELDS)
decode_envelope: Final = _select(_DECODE_ENVELOPE)
encode_envelope: Final = _select(_ENCODE_ENVELOPE)
decode_object: Final = _select(_DECODE_OBJECT)
encode_object: Final = _select(_ENCODE_OBJECT)
