"""The `kube` command line: server, controller-manager, scheduler, version, doctor.

Each subcommand is a module with `add_arguments(parser)` (when it takes flags) and
`run(args) -> int`. Errors in flags are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from kube.cli import (
    agent,
    bench,
    children,
    controller_manager,
    doctor,
    kubelet,
    runtime,
    scheduler,
    server,
    sim,
    version,
)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that names the fix."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="kube", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True

    p = commands.add_parser("server", help="run the all-in-one control plane")
    server.add_arguments(p)
    p.set_defaults(func=server.run)

    p = commands.add_parser(
        "controller-manager", help="run the controllers, behind leader election"
    )
    controller_manager.add_arguments(p)
    p.set_defaults(func=controller_manager.run)

    p = commands.add_parser("scheduler", help="bind pending pods to nodes, behind leader election")
    scheduler.add_arguments(p)
    p.set_defaults(func=scheduler.run)

    p = commands.add_parser("kubelet", help="run the node agent (pods through a CRI runtime)")
    kubelet.add_arguments(p)
    p.set_defaults(func=kubelet.run)

    p = commands.add_parser("agent", help="run this machine as a node: runtime and kubelet")
    agent.add_arguments(p)
    p.set_defaults(func=agent.run)

    p = commands.add_parser("runtime", help="run the built-in CRI container runtime")
    runtime.add_arguments(p)
    p.set_defaults(func=runtime.run)

    p = commands.add_parser("image", help="import, list and remove the runtime's images")
    runtime.add_image_arguments(p)
    p.set_defaults(func=runtime.run_image)

    p = commands.add_parser("sim", help="run hollow nodes: a synthetic cluster")
    sim.add_arguments(p)

    p = commands.add_parser("bench", help="run a benchmark against a real cluster")
    bench.add_arguments(p)

    p = commands.add_parser("version", help="print the version")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=version.run)

    p = commands.add_parser("doctor", help="show native kernels and what this machine offers")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    p.set_defaults(func=doctor.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    children.die_with_parent()  # a row of `kube server` ends with the server
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
