"""Importing images from OCI layout and `docker save` archives; ls, resolve, rm."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kube.cri.runtime.images import ImageError, ImageStore, assemble_copy, normalize


def test_normalize_references() -> None:
    assert normalize("busybox") == "docker.io/library/busybox:latest"
    assert normalize("me/app:1") == "docker.io/me/app:1"
    assert normalize("localhost/busybox") == "localhost/busybox:latest"
    assert normalize("registry:5000/a/b") == "registry:5000/a/b:latest"
    assert normalize("quay.io/a/b@sha256:" + "0" * 64) == "quay.io/a/b@sha256:" + "0" * 64


def test_import_oci_layout(tmp_path: Path, busybox_archive: Path) -> None:
    store = ImageStore(tmp_path)
    (image,) = store.import_archive(busybox_archive)
    assert image.repo_tags == ["localhost/busybox:latest"]
    assert image.id.startswith("sha256:")
    assert image.config["Cmd"] == ["sh"]
    assert store.resolve("localhost/busybox") == image
    assert store.resolve(image.id[7:19]) == image
    (layer,) = store.layer_dirs(image)
    assert (layer / "bin" / "busybox").is_file()
    assert (layer / "bin" / "sh").readlink() == Path("busybox")
    assert [i.id for i in store.all()] == [image.id]
    # Importing again is idempotent.
    store.import_archive(busybox_archive)
    assert len(store.all()) == 1


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def docker_save(tmp_path: Path, layers: list[dict[str, bytes]], tag: str) -> Path:
    """A `docker save`-style archive: manifest.json, a config, one layer.tar per layer."""
    members: dict[str, bytes] = {}
    diff_ids, paths = [], []
    for number, files in enumerate(layers):
        blob = _tar(files)
        diff_ids.append("sha256:" + hashlib.sha256(blob).hexdigest())
        paths.append(f"l{number}/layer.tar")
        members[paths[-1]] = blob
    config = json.dumps(
        {"config": {"Cmd": ["/hello"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    members["cfg.json"] = config
    members["manifest.json"] = json.dumps(
        [{"Config": "cfg.json", "RepoTags": [tag], "Layers": paths}]
    ).encode()
    path = tmp_path / "saved.tar"
    path.write_bytes(_tar(members))
    return path


def test_import_docker_save_with_whiteouts(tmp_path: Path) -> None:
    archive = docker_save(
        tmp_path,
        [{"a/keep": b"1", "a/gone": b"2", "hello": b"v1"}, {"a/.wh.gone": b"", "hello": b"v2"}],
        "app:1",
    )
    store = ImageStore(tmp_path / "store")
    (image,) = store.import_archive(archive)
    assert image.repo_tags == ["docker.io/library/app:1"]
    assert image.config == {"Cmd": ["/hello"]}
    rootfs = tmp_path / "rootfs"
    # The copy assembly (the way without overlayfs) applies whiteouts of either form.
    assemble_copy(store.layer_dirs(image), rootfs)
    assert (rootfs / "hello").read_bytes() == b"v2"
    assert (rootfs / "a" / "keep").read_bytes() == b"1"
    assert not (rootfs / "a" / "gone").exists()


def test_remove_by_tag_and_bad_archives(tmp_path: Path, busybox_archive: Path) -> None:
    store = ImageStore(tmp_path / "store")
    (image,) = store.import_archive(busybox_archive)
    assert store.remove("localhost/busybox:latest").id == image.id
    assert store.all() == []
    with pytest.raises(ImageError, match="not found"):
        store.remove("localhost/busybox:latest")
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ImageError, match="not a tar archive"):
        store.import_archive(junk)
    empty = tmp_path / "empty.tar"
    empty.write_bytes(_tar({"README": b"x"}))
    with pytest.raises(ImageError, match="neither an OCI image layout"):
        store.import_archive(empty)
