"""The built-in runtime's image content store: import OCI archives, list, resolve, remove.

No registry is reachable, so images arrive as files: an OCI image layout tarball (`oci-layout`,
`index.json`, `blobs/sha256/...`) or a `docker save` tarball (`manifest.json` with `Config`,
`RepoTags`, `Layers`). Under the store's root:

    blobs/sha256/<hex>      every blob (layers as imported, configs, manifests)
    layers/<diff-id hex>/   each layer unpacked once, shared by every image and container
    images.json             the image records: id (the config digest), repoTags, repoDigests,
                            size, the config digest and the layers' diff ids, bottom first

Layers are unpacked with overlayfs' whiteout convention when we are root (a `.wh.x` marker
becomes a 0/0 character device, an opaque directory gets `trusted.overlay.opaque=y`), so a
container's rootfs is an overlay mount over the layer directories; without root the markers stay
as files and `assemble_copy` applies them while copying the layers into one directory.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
DEFAULT_DOMAIN = "docker.io"


class ImageError(Exception):
    """An archive that cannot be imported, or an image that is not in the store."""


@dataclass
class Image:
    """One image of the store (the CRI `Image` in JSON form)."""

    id: str  # sha256:<config digest>
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    size: int = 0
    layers: list[str] = field(default_factory=list)  # diff ids, bottom layer first
    config: dict[str, Any] = field(default_factory=dict)  # the image config's "config" part


def normalize(ref: str) -> str:
    """A reference in its full form: `busybox` -> `docker.io/library/busybox:latest`.

    As the container runtimes (containerd's reference.ParseNormalizedNamed): a first path part
    with a dot or a colon, or `localhost`, is a registry; otherwise docker.io, with `library/`
    for one-part names; no tag or digest means `:latest`.
    """
    ref = ref.strip()
    if ref.startswith("sha256:"):
        return ref
    name, at, digest = ref.partition("@")
    first, slash, _rest = name.partition("/")
    if not slash:
        name = f"{DEFAULT_DOMAIN}/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"{DEFAULT_DOMAIN}/{name}"
    if at:
        return f"{name}@{digest}"
    if ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ImageError(f"unsupported digest {digest!r} (only sha256 is)")
    return value


class ImageStore:
    """The content store under `root`; safe to use from several threads of one process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.layer_root = root / "layers"
        self.index = root / "images.json"
        self._lock = threading.RLock()

    # -- records ---------------------------------------------------------------------------

    def _load(self) -> dict[str, Image]:
        if not self.index.exists():
            return {}
        data = json.loads(self.index.read_text())
        return {key: Image(**value) for key, value in data.items()}

    def _save(self, images: dict[str, Image]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.index.with_suffix(".partial")
        partial.write_text(json.dumps({k: asdict(v) for k, v in images.items()}, indent=1))
        partial.replace(self.index)

    def all(self) -> list[Image]:
        with self._lock:
            return sorted(self._load().values(), key=lambda i: (i.repo_tags, i.id))

    def resolve(self, ref: str) -> Image | None:
        """The image a reference names: a tag, a repo digest, the id or an unambiguous id prefix."""
        if not ref:
            return None
        with self._lock:
            images = self._load()
        if ref in images:
            return images[ref]
        full = normalize(ref)
        for image in images.values():
            if full in image.repo_tags or full in image.repo_digests:
                return image
        prefix = ref.removeprefix("sha256:")
        if len(prefix) >= 4 and all(c in "0123456789abcdef" for c in prefix):
            found = [i for i in images.values() if i.id.removeprefix("sha256:").startswith(prefix)]
            if len(found) == 1:
                return found[0]
        return None

    def remove(self, ref: str) -> Image:
        """Untags `ref`; the image goes when its last tag goes (or when named by id)."""
        with self._lock:
            image = self.resolve(ref)
            if image is None:
                raise ImageError(f"image {ref!r} not found")
            images = self._load()
            full = normalize(ref)
            by_id = ref == image.id or full not in image.repo_tags
            image.repo_tags = [] if by_id else [t for t in image.repo_tags if t != full]
            if image.repo_tags:
                images[image.id] = image
            else:
                images.pop(image.id, None)
            self._save(images)
            return image

    def layer_dirs(self, image: Image) -> list[Path]:
        """The unpacked layer directories of `image`, bottom first."""
        return [self.layer_root / _hex(diff_id) for diff_id in image.layers]

    # -- import ----------------------------------------------------------------------------

    def import_archive(self, path: Path, name: str | None = None) -> list[Image]:
        """Loads every image of an OCI layout or `docker save` tarball; returns their records.

        `name` tags the archive's (single) image when the archive does not name it itself.
        """
        try:
            archive = tarfile.open(path, mode="r:*")  # noqa: SIM115 (closed by the with below)
        except (OSError, tarfile.TarError) as err:
            raise ImageError(f"{path}: not a tar archive ({err})") from err
        with archive:
            members = {m.name.removeprefix("./"): m for m in archive.getmembers()}

            def read(member_name: str) -> bytes:
                member = members.get(member_name.removeprefix("./"))
                extracted = archive.extractfile(member) if member is not None else None
                if extracted is None:
                    raise ImageError(f"{path}: {member_name} is missing from the archive")
                with extracted:
                    return extracted.read()

            if "index.json" in members:
                found = list(self._import_oci(read, name))
            elif "manifest.json" in members:
                found = list(self._import_docker(read, name))
            else:
                raise ImageError(
                    f"{path}: neither an OCI image layout (index.json) nor a docker save "
                    "archive (manifest.json)"
                )
        if not found:
            raise ImageError(f"{path}: the archive holds no image manifest")
        with self._lock:
            images = self._load()
            for image in found:
                old = images.get(image.id)
                # A tag names one image: move it from whichever image had it.
                for other in images.values():
                    other.repo_tags = [t for t in other.repo_tags if t not in image.repo_tags]
                if old is not None:
                    image.repo_tags = sorted({*old.repo_tags, *image.repo_tags})
                    image.repo_digests = sorted({*old.repo_digests, *image.repo_digests})
                images[image.id] = image
            self._save(
                {k: v for k, v in images.items() if v.repo_tags or k in {i.id for i in found}}
            )
        return found

    def _import_oci(self, read: Any, name: str | None) -> Iterator[Image]:
        index = json.loads(read("index.json"))
        stack: list[dict[str, Any]] = list(index.get("manifests") or [])
        while stack:
            descriptor = stack.pop(0)
            media = descriptor.get("mediaType", "")
            data = read(f"blobs/sha256/{_hex(descriptor['digest'])}")
            if "index" in media or "manifest.list" in media:
                nested = json.loads(data)
                stack.extend(m for m in nested.get("manifests") or [] if _is_amd64_linux(m))
                continue
            annotations = descriptor.get("annotations") or {}
            ref = annotations.get("io.containerd.image.name") or ""
            short = annotations.get("org.opencontainers.image.ref.name") or ""
            if not ref and short and ("/" in short or ":" in short):
                ref = short
            if not ref and name:
                ref = name
            manifest = json.loads(data)
            self._store_blob(data)
            layers = [
                (f"blobs/sha256/{_hex(layer['digest'])}", layer.get("mediaType", ""))
                for layer in manifest.get("layers") or []
            ]
            config_digest = manifest["config"]["digest"]
            config = read(f"blobs/sha256/{_hex(config_digest)}")
            tags = [normalize(ref)] if ref else []
            repo = tags[0].rsplit(":", 1)[0] if tags else ""
            digests = [f"{repo}@{descriptor['digest']}"] if repo else []
            yield self._store_image(read, config, layers, tags, digests)

    def _import_docker(self, read: Any, name: str | None) -> Iterator[Image]:
        for entry in json.loads(read("manifest.json")):
            tags = [normalize(t) for t in entry.get("RepoTags") or []]
            if not tags and name:
                tags = [normalize(name)]
            layers = [(layer, "") for layer in entry.get("Layers") or []]
            yield self._store_image(read, read(entry["Config"]), layers, tags, [])

    def _store_image(
        self,
        read: Any,
        config_data: bytes,
        layers: list[tuple[str, str]],
        tags: list[str],
        digests: list[str],
    ) -> Image:
        config = json.loads(config_data)
        config_digest = self._store_blob(config_data)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(layers):
            raise ImageError(
                f"image config {config_digest} lists {len(diff_ids)} layers, "
                f"the manifest {len(layers)}"
            )
        size = 0
        for (member, _media), diff_id in zip(layers, diff_ids, strict=True):
            blob = read(member)
            self._store_blob(blob)
            size += len(blob)
            self._unpack_layer(blob, diff_id)
        return Image(
            id=config_digest,
            repo_tags=tags,
            repo_digests=digests,
            size=size,
            layers=diff_ids,
            config=dict(config.get("config") or {}),
        )

    def _store_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.blobs / digest
        if not target.exists():
            self.blobs.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(data)
            partial.replace(target)
        return f"sha256:{digest}"

    def _unpack_layer(self, blob: bytes, diff_id: str) -> None:
        """Unpacks one layer (plain or gzip tar) into layers/<diff id>, checking the diff id."""
        target = self.layer_root / _hex(diff_id)
        if (self.layer_root / f"{target.name}.done").exists():
            return
        raw = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != diff_id:
            raise ImageError(f"layer content {actual} does not match its diff id {diff_id}")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as layer:
            extract_layer(layer, target, overlay=os.geteuid() == 0)
        (self.layer_root / f"{target.name}.done").write_text(diff_id)


def _is_amd64_linux(descriptor: dict[str, Any]) -> bool:
    platform = descriptor.get("platform") or {}
    return platform.get("os", "linux") == "linux" and platform.get("architecture", "amd64") in (
        "amd64",
        "",
    )


def _safe_member(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """tarfile's `tar` filter (no absolute names, nothing outside `dest`), keeping the mode bits
    (a rootfs needs its setuid binaries and sticky /tmp)."""
    checked = tarfile.tar_filter(member, dest)
    return checked.replace(mode=member.mode, deep=False)


def extract_layer(layer: tarfile.TarFile, target: Path, *, overlay: bool) -> None:
    """Unpacks a layer tar into `target`; whiteouts become overlayfs markers when `overlay`."""
    for member in layer:
        path = Path(member.name.removeprefix("./"))
        base = path.name
        if overlay and base == OPAQUE:
            directory = target / path.parent
            directory.mkdir(parents=True, exist_ok=True)
            os.setxattr(directory, "trusted.overlay.opaque", b"y")
            continue
        if overlay and base.startswith(WHITEOUT):
            hidden = target / path.parent / base[len(WHITEOUT) :]
            hidden.parent.mkdir(parents=True, exist_ok=True)
            os.mknod(hidden, 0o600 | 0o020000, os.makedev(0, 0))
            continue
        if member.isdev() and os.geteuid() != 0:
            continue
        layer.extract(member, target, filter=_safe_member)


def assemble_copy(layers: list[Path], target: Path) -> None:
    """A rootfs in `target` made by copying `layers` (bottom first), applying whiteouts: the way
    without overlayfs (not root, or a filesystem that cannot be an overlay's upper)."""
    target.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        for directory, dirnames, filenames in os.walk(layer):
            rel = Path(directory).relative_to(layer)
            dest_dir = target / rel
            if (
                (OPAQUE in filenames or _is_opaque(Path(directory)))
                and rel.parts
                and dest_dir.exists()
            ):
                for child in dest_dir.iterdir():
                    _remove(child)
            for name in [*dirnames, *filenames]:
                source = Path(directory) / name
                dest = dest_dir / name
                if name == OPAQUE:
                    continue
                if name.startswith(WHITEOUT):
                    _remove(dest_dir / name[len(WHITEOUT) :])
                    continue
                if _is_whiteout_device(source):
                    _remove(dest)
                    continue
                if source.is_symlink() or not source.is_dir():
                    if dest.is_symlink() or dest.exists():
                        _remove(dest)
                    if source.is_symlink():
                        dest.symlink_to(os.readlink(source))
                    else:
                        shutil.copy2(source, dest, follow_symlinks=False)
                elif not dest.is_dir() or dest.is_symlink():
                    if dest.is_symlink() or dest.exists():
                        _remove(dest)
                    dest.mkdir()
                    shutil.copystat(source, dest)


def _is_whiteout_device(path: Path) -> bool:
    """overlayfs' whiteout: a character device 0/0."""
    info = path.lstat()
    return stat.S_ISCHR(info.st_mode) and info.st_rdev == 0


def _is_opaque(directory: Path) -> bool:
    try:
        return os.getxattr(directory, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.is_symlink() or path.exists():
        path.unlink()
