"""The dispatch point: KUBE_NO_NATIVE, unknown names, kernel_status, and no silent fallback."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

import kube.native
from kube.native import envelope, labels
from tests.native.conftest import implementation, native_expected

KERNEL_NAMES = [k.name for k in kube.native.KERNELS]


@contextmanager
def fresh_native(
    monkeypatch: pytest.MonkeyPatch, no_native: str | None, unimportable: tuple[str, ...] = ()
) -> Iterator[ModuleType]:
    """kube.native re-imported under KUBE_NO_NATIVE=no_native (unset for None) and with the
    modules `unimportable` failing to import; re-imported as it was afterwards."""
    with monkeypatch.context() as patch:
        for name in unimportable:
            patch.setitem(sys.modules, name, None)  # `import name` now raises ImportError
        if no_native is None:
            patch.delenv("KUBE_NO_NATIVE", raising=False)
        else:
            patch.setenv("KUBE_NO_NATIVE", no_native)
        try:
            yield importlib.reload(kube.native)
        finally:
            patch.undo()
            importlib.reload(kube.native)


def statuses(module: ModuleType) -> dict[str, kube.native.KernelStatus]:
    return {status.name: status for status in module.kernel_status()}


def test_native_build_did_not_fall_back() -> None:
    """Fails when a compiled kernel silently fell back to Python (KUBE_REQUIRE_NATIVE=1, or by
    default unless KUBE_NO_NATIVE is set)."""
    if not native_expected():
        pytest.skip("KUBE_NO_NATIVE is set and KUBE_REQUIRE_NATIVE is not")
    fallen_back = {
        status.name: status.reason
        for status in kube.native.kernel_status()
        if status.implementation != "native"
    }
    assert not fallen_back, f"native kernels fell back to Python (run `make setup`): {fallen_back}"


def test_no_native_1_forces_every_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_native(monkeypatch, "1") as native:
        for status in native.kernel_status():
            assert status.implementation == "reference"
            assert status.reason == "KUBE_NO_NATIVE=1 set"
        assert native.match_labels is labels.match_labels
        assert native.match_fields is labels.match_fields
        assert native.decode_envelope is envelope.decode_envelope
        assert native.encode_envelope is envelope.encode_envelope


def test_no_native_names_some_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_native(monkeypatch, " match_labels, decode_envelope ") as native:
        found = statuses(native)
        for name in ("match_labels", "decode_envelope"):
            assert found[name].implementation == "reference"
            assert found[name].reason == "KUBE_NO_NATIVE=match_labels, decode_envelope set"
        assert native.match_labels is labels.match_labels
        assert native.decode_envelope is envelope.decode_envelope
        for name in ("match_fields", "encode_envelope"):
            assert (found[name].reason or "import failed").startswith("import failed")
        if native_expected():
            assert found["match_fields"].implementation == "native"
            assert native.encode_envelope is not envelope.encode_envelope


@pytest.mark.parametrize("value", [None, "", "0", " "])
def test_no_native_unset_or_zero_disables_nothing(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    with fresh_native(monkeypatch, value) as native:
        for status in native.kernel_status():
            assert (status.reason or "import failed: ").startswith("import failed: ")


def test_unknown_kernel_names_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyError) as caught:
        kube.native.kernel("match_lables")
    message = str(caught.value)
    assert "'match_lables'" in message
    for name in KERNEL_NAMES:
        assert name in message

    with pytest.raises(KeyError, match="known kernels: decode_envelope"):
        kube.native.disabled_kernels("match_labels,nope")
    with (
        pytest.raises(KeyError, match="unknown native kernel 'true'"),
        fresh_native(monkeypatch, "true"),
    ):
        pass  # pragma: no cover - the import raises


def test_disabled_kernels() -> None:
    assert kube.native.disabled_kernels(None) == frozenset()
    assert kube.native.disabled_kernels("0") == frozenset()
    assert kube.native.disabled_kernels("1") == frozenset(KERNEL_NAMES)
    assert kube.native.disabled_kernels("match_fields,") == {"match_fields"}


def test_import_failure_falls_back_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    with fresh_native(monkeypatch, None, unimportable=("kube._rust",)) as native:
        found = statuses(native)
        for name in ("decode_envelope", "encode_envelope"):
            assert found[name].implementation == "reference"
            reason = found[name].reason or ""
            assert reason.startswith("import failed: ")
            assert "kube._rust" in reason
        assert native.decode_envelope is envelope.decode_envelope


def test_kernel_status_lists_every_kernel_in_table_order() -> None:
    found = kube.native.kernel_status()
    assert [status.name for status in found] == KERNEL_NAMES
    assert len(set(KERNEL_NAMES)) == len(KERNEL_NAMES)
    for status in found:
        assert status.language in ("rust", "cython", "pybind11")
        assert status.implementation in ("native", "reference")
        assert (status.reason is None) == (status.implementation == "native")


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_native_signature_matches_the_reference(name: str) -> None:
    """Keeps the compiled kernels (and so the .pyi stubs, which copy the reference) honest."""
    reference = inspect.signature(implementation(name, "reference"))
    native = inspect.signature(implementation(name, "native"))
    assert list(native.parameters) == list(reference.parameters)
    for param in reference.parameters.values():
        assert (native.parameters[param.name].default is param.empty) == (
            param.default is param.empty
        ), param.name


def test_native_layer_imports_nothing_above_it() -> None:
    """kube.native is the lowest layer: only itself and the compiled modules from kube."""
    allowed = ("kube.native", "kube._rust", "kube._generated")
    package = Path(kube.native.__file__).parent
    for path in [*package.glob("*.py"), *package.glob("*.pyi")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for module in names:
                if module == "kube" or module.startswith("kube."):
                    assert module.startswith(allowed), f"{path.name} imports {module}"
