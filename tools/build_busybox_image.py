"""Builds the small test image `localhost/busybox:latest` as an OCI image layout tarball.

No registry is reachable from these machines, so the tests and the README's example run an image
made here from Debian's `busybox-static` (/bin/busybox, one static binary): one layer holding
/bin/busybox with a symlink per applet the tests use (sh, httpd, wget, nc, sleep, ...), a few
empty directories, and an image config with CMD ["sh"]. The tarball is reproducible (fixed
mtimes and owners), so its digests are the same on every machine with the same busybox.

    python tools/build_busybox_image.py -o build/busybox-oci.tar [--busybox /bin/busybox]

`kube image import build/busybox-oci.tar` then loads it (the Makefile's setup does both).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

NAME = "localhost/busybox:latest"
APPLETS = (
    "sh", "httpd", "wget", "nc", "sleep", "cat", "echo", "ls", "env", "hostname", "id",
    "kill", "mkdir", "ps", "rm", "true", "false", "test", "grep", "head", "tail", "touch",
    "tar",
)  # fmt: skip
DIRECTORIES = ("bin", "dev", "etc", "proc", "root", "sys", "tmp", "var", "var/www")
MTIME = 0
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
    return info


def layer_tar(busybox: bytes) -> bytes:
    """The one layer: directories, /bin/busybox, applet symlinks, /etc/passwd and /etc/group."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in DIRECTORIES:
            mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(_info(directory + "/", tarfile.DIRTYPE, mode))
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, len(busybox)), io.BytesIO(busybox))
        for applet in APPLETS:
            tar.addfile(_info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        files = {
            "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/:/bin/false\n",
            "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
        }
        for name, data in files.items():
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return out.getvalue()


def _blob(data: bytes) -> tuple[str, int]:
    return "sha256:" + hashlib.sha256(data).hexdigest(), len(data)


def oci_layout(busybox: bytes, name: str = NAME, entrypoint: Sequence[str] = ()) -> bytes:
    """The OCI image layout (oci-layout, index.json, blobs/sha256/...) as one tar; an
    `entrypoint` (tools/build_pause_image.py's) goes into the image config beside CMD."""
    layer = layer_tar(busybox)
    layer_digest, layer_size = _blob(layer)
    image_config: dict[str, object] = {"Env": [PATH_ENV], "Cmd": ["sh"], "WorkingDir": "/"}
    if entrypoint:
        image_config.update(Entrypoint=list(entrypoint), Cmd=[])
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": image_config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [
                {"created_by": "tools/build_busybox_image.py", "created": "1970-01-01T00:00:00Z"}
            ],
        },
        sort_keys=True,
    ).encode()
    config_digest, config_size = _blob(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest,
                    "size": layer_size,
                }
            ],
        },
        sort_keys=True,
    ).encode()
    manifest_digest, manifest_size = _blob(manifest)
    tag = name.rpartition(":")[2] if ":" in name.rpartition("/")[2] else "latest"
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": manifest_size,
                    "annotations": {
                        "io.containerd.image.name": name,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        },
        sort_keys=True,
    ).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info("blobs/", tarfile.DIRTYPE, 0o755))
        tar.addfile(_info("blobs/sha256/", tarfile.DIRTYPE, 0o755))
        entries = [
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", index),
        ]
        for data in (layer, config, manifest):
            entries.append((f"blobs/sha256/{_blob(data)[0].split(':')[1]}", data))
        for entry_name, data in entries:
            tar.addfile(_info(entry_name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the tarball to write")
    parser.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    parser.add_argument("--name", default=NAME, help="image name (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.busybox.is_file():
        print(
            f"build_busybox_image: {args.busybox} not found (install Debian's busybox-static)",
            file=sys.stderr,
        )
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_bytes(oci_layout(args.busybox.read_bytes(), args.name))
    partial.replace(args.output)
    print(f"wrote {args.output} ({args.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
