"""Native builds: protobuf modules, Cython/pybind11 extensions from src/_native, the Rust crate.

All metadata lives in pyproject.toml; this file only adds one `build_ext` that, in order:

1. compiles proto/**/*.proto with grpc_tools.protoc into the package `kube._generated`
   (src/kube/_generated; `k8s.io/apimachinery/pkg/runtime/generated.proto` becomes
   `kube._generated.k8s.io.apimachinery.pkg.runtime.generated_pb2`), rewriting the generated
   cross-file imports to live under `kube._generated`;
2. cythonizes src/_native/*.pyx (the C files go to build/cython, never into src) and builds them,
   with any pybind11 sources src/_native/*.cpp, as `kube.native._<name>`;
3. builds the crate in rust/ with maturin and copies the `kube._rust` extension out of the wheel.

Both `python setup.py build_ext --inplace` (the Makefile) and `pip install --no-build-isolation
-e .` come through here; outputs go into src/ for in-place and editable builds, into build_lib
otherwise. A second run with nothing changed does no work: protoc and cargo are skipped when their
outputs are newer than their inputs, Cython and the C compiler likewise (pass --force to redo).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from setuptools import Distribution, Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import ExecError, SetupError

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
PROTO_DIR = ROOT / "proto"
RUST_DIR = ROOT / "rust"
NATIVE_DIR = "src/_native"  # relative: setuptools and Cython want relative source paths
CYTHON_BUILD_DIR = "build/cython"
NATIVE_PACKAGE = "kube.native"
GENERATED_PACKAGE = "kube._generated"
GENERATED_DIR = SRC / "kube" / "_generated"
STAMP = ".built"  # in GENERATED_DIR: when protoc last ran


def _newest_mtime(paths: Iterable[Path]) -> float:
    return max((p.stat().st_mtime for p in paths), default=0.0)


def native_extensions() -> list[Extension]:
    """One extension per src/_native/<name>.pyx or .cpp, named kube.native._<name>."""
    extensions: list[Extension] = []
    for pyx in sorted(Path(NATIVE_DIR).glob("*.pyx")):
        extensions.append(Extension(f"{NATIVE_PACKAGE}._{pyx.stem}", [pyx.as_posix()]))
    cpp_sources = sorted(Path(NATIVE_DIR).glob("*.cpp"))
    if cpp_sources:
        from pybind11.setup_helpers import Pybind11Extension

        for cpp in cpp_sources:
            extensions.append(
                Pybind11Extension(f"{NATIVE_PACKAGE}._{cpp.stem}", [cpp.as_posix()], cxx_std=17)
            )
    names = [ext.name for ext in extensions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SetupError(f"two sources in {NATIVE_DIR} build the same module: {duplicates}")
    return extensions


class BuildNative(build_ext):
    """build_ext plus protoc before and maturin after; see the module docstring."""

    def run(self) -> None:
        self.build_protos()
        self.cythonize()
        super().run()
        self.build_rust()

    def cythonize(self) -> None:
        """Turns .pyx sources into C files under build/cython (only those whose .pyx changed)."""
        pyx_extensions = [e for e in self.extensions if any(s.endswith(".pyx") for s in e.sources)]
        if not pyx_extensions:
            return
        from Cython.Build import cythonize

        for ext in pyx_extensions:
            (compiled,) = cythonize(
                [Extension(ext.name, list(ext.sources))],
                build_dir=CYTHON_BUILD_DIR,
                compiler_directives={"language_level": 3},
                force=bool(self.force),
                quiet=not self.verbose,
            )
            # Keep setuptools' own Extension object (build_ext set it up), swap its sources.
            ext.sources = compiled.sources

    def _package_dir(self, package: str) -> Path:
        """Where files of `package` go: the source tree in place, build_lib otherwise."""
        if self.inplace:
            return SRC.joinpath(*package.split("."))
        return Path(self.build_lib).joinpath(*package.split("."))

    # -- 1. protobuf --------------------------------------------------------------------------

    def build_protos(self) -> None:
        protos = sorted(PROTO_DIR.rglob("*.proto"))
        stamp = GENERATED_DIR / STAMP
        up_to_date = (
            not self.force
            and stamp.exists()
            and stamp.stat().st_mtime >= _newest_mtime([*protos, Path(__file__)])
        )
        if protos and not up_to_date:
            self.announce(
                f"protoc: {len(protos)} files from proto/ -> {GENERATED_DIR}", logging.INFO
            )
            _generate_protos(protos, GENERATED_DIR)
        if not self.inplace and GENERATED_DIR.is_dir():
            shutil.copytree(GENERATED_DIR, self._package_dir(GENERATED_PACKAGE), dirs_exist_ok=True)

    # -- 3. Rust -------------------------------------------------------------------------------

    def _rust_target(self) -> Path:
        return self._package_dir("kube") / f"_rust{sysconfig.get_config_var('EXT_SUFFIX')}"

    def build_rust(self) -> None:
        target = self._rust_target()
        inputs = [
            RUST_DIR / "Cargo.toml",
            RUST_DIR / "pyproject.toml",
            *RUST_DIR.glob("Cargo.lock"),
            *(RUST_DIR / "src").rglob("*.rs"),
        ]
        if not self.force and target.exists() and target.stat().st_mtime >= _newest_mtime(inputs):
            self.announce(f"kube._rust is up to date ({target})", logging.INFO)
            return
        command = [*_maturin(), "build", "--release", "-m", str(RUST_DIR / "Cargo.toml")]
        command += ["-i", sys.executable]
        if not self.verbose:
            command.append("--quiet")
        with tempfile.TemporaryDirectory(prefix="kube-maturin-") as wheel_dir:
            self.announce(f"maturin: building rust/ -> {target}", logging.INFO)
            # Quiet builds keep maturin's chatter to themselves unless the build fails.
            result = subprocess.run(
                [*command, "-o", wheel_dir],
                cwd=ROOT,
                check=False,
                capture_output=not self.verbose,
                text=True,
            )
            if result.returncode != 0:
                sys.stderr.write((result.stdout or "") + (result.stderr or ""))
                raise ExecError(
                    f"building kube._rust failed: maturin exited with {result.returncode} "
                    "(the cargo output above says why)"
                )
            wheels = list(Path(wheel_dir).glob("*.whl"))
            if len(wheels) != 1:
                raise ExecError(f"maturin left {len(wheels)} wheels in {wheel_dir}, expected 1")
            _extract_extension(wheels[0], "_rust", target)

    def get_outputs(self) -> list[str]:
        return [*super().get_outputs(), str(self._rust_target())]


def _maturin() -> list[str]:
    """The maturin command, or a one-line error saying what is missing."""
    if shutil.which("cargo") is None:
        raise ExecError(
            "building kube._rust needs cargo, the Rust toolchain: install it (https://rustup.rs) "
            "and put it on PATH"
        )
    if importlib.util.find_spec("maturin") is not None:
        return [sys.executable, "-m", "maturin"]
    maturin = shutil.which("maturin")
    if maturin is None:
        raise ExecError(
            f"building kube._rust needs maturin: {sys.executable} -m pip install 'maturin>=1.5'"
        )
    return [maturin]


def _extract_extension(wheel: Path, module: str, target: Path) -> None:
    """Copies the extension `<module>.<abi>.so` out of a wheel to `target`, atomically (a
    process that has the old one loaded keeps its mapping)."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    with zipfile.ZipFile(wheel) as archive:
        # Take the module by file name, wherever maturin's layout puts it in the wheel.
        members = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == f"{module}{suffix}"]
        if len(members) != 1:
            raise ExecError(f"{wheel.name} has no single {module}{suffix}: {archive.namelist()}")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with archive.open(members[0]) as source, open(partial, "wb") as sink:
            shutil.copyfileobj(source, sink)
    partial.chmod(0o755)
    os.replace(partial, target)


# -- protoc helpers ---------------------------------------------------------------------------


def _generate_protos(protos: list[Path], out_dir: Path) -> None:
    """Runs protoc over `protos` into a fresh `out_dir` (a package tree with __init__.py files).

    protoc names each module after its file (k8s.io/x/generated.proto ->
    k8s.io.x.generated_pb2, written as k8s/io/x/generated_pb2.py) and imports other generated
    modules by that absolute name; the imports are rewritten to `kube._generated.<name>`.
    """
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    with_services = {p for p in protos if re.search(r"^\s*service\s+\w+", p.read_text(), re.M)}
    with tempfile.TemporaryDirectory(prefix="kube-protoc-") as tmp:
        staging = Path(tmp) / "_generated"
        staging.mkdir()
        args = ["grpc_tools.protoc", f"-I{PROTO_DIR}", f"-I{well_known}"]
        args += [f"--python_out={staging}", f"--pyi_out={staging}"]
        if with_services:
            args.append(f"--grpc_python_out={staging}")
        if protoc.main([*args, *map(str, protos)]) != 0:
            raise ExecError("protoc failed on proto/ (its message is above)")
        # grpc_python_out writes a module for every file; keep those that define services.
        for proto in set(protos) - with_services:
            stem = _module_name(proto).replace(".", "/")
            (staging / f"{stem}_grpc.py").unlink(missing_ok=True)
        ours = {_module_name(p) for p in protos} | {f"{_module_name(p)}_grpc" for p in protos}
        for path in [*staging.rglob("*.py"), *staging.rglob("*.pyi")]:
            path.write_text(_rewrite_imports(path.read_text(), ours))
        for directory in [staging, *(d for d in staging.rglob("*") if d.is_dir())]:
            init = directory / "__init__.py"
            if not init.exists():
                init.write_text('"""Generated by setup.py from proto/: do not edit."""\n')
        (staging / STAMP).write_text("protoc ran here; setup.py compares this file's mtime\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.move(staging, out_dir)


def _module_name(proto: Path) -> str:
    """The Python module protoc generates for a .proto (as protoc's python generator names it)."""
    stem = proto.relative_to(PROTO_DIR).with_suffix("").as_posix()
    return stem.replace("-", "_").replace("/", ".") + "_pb2"


def _rewrite_imports(text: str, ours: set[str]) -> str:
    """Points imports of generated modules (and their registered names) into kube._generated."""

    def from_import(match: re.Match[str]) -> str:
        package, name = match.group(1), match.group(2)
        if f"{package}.{name}" not in ours:
            return match.group(0)
        return f"from {GENERATED_PACKAGE}.{package} import {name}"

    def plain_import(match: re.Match[str]) -> str:
        module, alias = match.group(1), match.group(2)
        if module not in ours:
            return match.group(0)
        package, _, name = module.rpartition(".")
        where = f"{GENERATED_PACKAGE}.{package}" if package else GENERATED_PACKAGE
        return f"from {where} import {name} as {alias}"

    def module_string(match: re.Match[str]) -> str:
        quote, module = match.group(1), match.group(2)
        if module not in ours:
            return match.group(0)
        return f"{quote}{GENERATED_PACKAGE}.{module}{quote}"

    text = re.sub(r"^from ([\w.]+) import (\w+)", from_import, text, flags=re.M)
    text = re.sub(r"^import ([\w.]+) as (\w+)", plain_import, text, flags=re.M)
    return re.sub(r"(['\"])([\w.]+_pb2)\1", module_string, text)


class NativeDistribution(Distribution):
    """Always platform-specific: the Rust crate and protobufs are built even with no
    Cython/pybind11 sources, so build_ext must always run."""

    def has_ext_modules(self) -> bool:
        return True


setup(
    distclass=NativeDistribution,
    ext_modules=native_extensions(),
    cmdclass={"build_ext": BuildNative},
)
