"""`kube runtime` (the built-in CRI server) and `kube image import|ls|rm` (its content store).

    kube runtime --root DIR [--state DIR] --listen unix:///run/kube/kube-runtime.sock
                 [--pod-cidr CIDR] [--bridge kube0]

serves runtime.v1 RuntimeService and ImageService; the kubelet points
`--container-runtime-endpoint` at the socket. Pods get a network namespace on the bridge,
containers run under runc (process mode without runc or root: `kube doctor` says which).
`kube image` works on the same `--root` (default: $KUBE_RUNTIME_ROOT, else
/var/lib/kube/runtime as root), so images imported before the runtime starts are there.
`--state` (default /run/kube/runtime, or `<root>-state` beside another root) holds what
describes the running pods, in memory (kube.cri.runtime.runtime).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from kube.cri.runtime.images import ImageError, ImageStore
from kube.cri.runtime.runtime import Runtime, default_root

log = logging.getLogger("kube.runtime")

DEFAULT_ENDPOINT = "unix:///run/kube/kube-runtime.sock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"images and containers' writable layers (default {default_root()})",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=None,
        help="sandboxes, bundles and runc's state, kept in memory (a tmpfs is mounted there "
        "unless it is one; default /run/kube/runtime for the default root, else <root>-state)",
    )
    parser.add_argument(
        "--listen", default=DEFAULT_ENDPOINT, help="CRI endpoint (default %(default)s)"
    )
    parser.add_argument(
        "--pod-cidr",
        default=None,
        help="this node's pod addresses (else the kubelet's UpdateRuntimeConfig sets it)",
    )
    parser.add_argument(
        "--bridge", default="kube0", help="the node bridge pods attach to (default %(default)s)"
    )
    parser.add_argument(
        "--mode",
        choices=["auto", "runc", "process"],
        default="auto",
        help="runc when root and runc are available (auto), or plain processes",
    )


def run(args: argparse.Namespace) -> int:
    from kube.cri.runtime.server import serve

    root = args.root or default_root()
    try:
        runtime = Runtime(
            root,
            state=args.state,
            bridge=args.bridge,
            pod_cidr=args.pod_cidr,
            mode=None if args.mode == "auto" else args.mode,
        )
    except (OSError, ValueError) as err:
        print(f"kube runtime: {err}", file=sys.stderr)
        return 2

    async def main() -> None:
        _watch_children_with_pidfds()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        await serve(runtime, args.listen)

    try:
        asyncio.run(main())
    except asyncio.CancelledError:
        log.info("stopped")
    except ValueError as err:
        print(f"kube runtime: {err}", file=sys.stderr)
        return 2
    return 0


def _watch_children_with_pidfds() -> None:
    """Waits for `ip`/`runc` children through pidfds on the event loop (Python 3.12's default).

    Python 3.11's default child watcher starts a thread per child and blocks the loop until
    that thread runs: with 100 pods starting on a busy machine that was a large share of the
    runtime's loop time. Falls back silently where the kernel has no pidfd_open (< 5.3).
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help=f"the runtime's root directory (default {default_root()})",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("import", help="load an OCI layout or docker save tarball")
    p.add_argument("file", type=Path)
    p.add_argument("--name", default=None, help="tag for an archive that names no image")
    actions.add_parser("ls", help="list images")
    p = actions.add_parser("rm", help="remove images (by tag or id)")
    p.add_argument("images", nargs="+")


def run_image(args: argparse.Namespace) -> int:
    store = ImageStore((args.root or default_root()) / "images")
    try:
        if args.action == "import":
            for image in store.import_archive(args.file, args.name):
                tags = ", ".join(image.repo_tags) or "<untagged>"
                print(f"imported {tags} ({image.id})")
        elif args.action == "ls":
            print(f"{'IMAGE':<50} {'IMAGE ID':<15} SIZE")
            for image in store.all():
                for tag in image.repo_tags or ["<none>"]:
                    short = image.id.removeprefix("sha256:")[:13]
                    print(f"{tag:<50} {short:<15} {_size(image.size)}")
        else:
            for ref in args.images:
                image = store.remove(ref)
                print(f"Deleted: {image.id}")
    except ImageError as err:
        print(f"kube image: {err}", file=sys.stderr)
        return 1
    return 0


def _size(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g}{unit}" if unit != "B" else f"{size:.0f}B"
        size /= 1000
    return f"{size:.3g}GB"
