"""Builds `localhost/pause:3.9`, a pause-like sandbox image, as an OCI image layout tarball.

A CRI runtime such as containerd starts a pod's sandbox as a container of its `sandbox_image`
that must stay up for the pod's life. No registry is reachable here (so no registry.k8s.io/pause)
and no static pause binary ships in Debian, so this is the busybox test image's one layer
(Debian's busybox-static) with the entrypoint `sleep inf`: it does nothing and never exits.
The runtime stops a sandbox with SIGKILL, so it needs no signal handling of its own. The layer
is the busybox image's own, so a store holding both keeps it once.

    python tools/build_pause_image.py -o build/pause-oci.tar [--busybox /bin/busybox]
    ctr -a SOCK -n k8s.io images import build/pause-oci.tar   # then sandbox_image = NAME
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_busybox_image import oci_layout

NAME = "localhost/pause:3.9"
ENTRYPOINT = ("/bin/sleep", "inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the tarball to write")
    parser.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    parser.add_argument("--name", default=NAME, help="image name (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.busybox.is_file():
        print(
            f"build_pause_image: {args.busybox} not found (install Debian's busybox-static)",
            file=sys.stderr,
        )
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_name(args.output.name + ".partial")
    partial.write_bytes(oci_layout(args.busybox.read_bytes(), args.name, ENTRYPOINT))
    partial.replace(args.output)
    print(f"wrote {args.output} ({args.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
