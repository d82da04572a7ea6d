"""`kube bench`: the project's performance harnesses as commands.

Each subcommand lives in a module of `kube.perf` with `add_arguments(parser)` and
`run(args) -> int`; SUBCOMMANDS maps the command name to that module and its one-line help.
The modules are imported only when `kube bench` is built, so the rest of the CLI does not pay
for numpy/matplotlib imports.
"""

from __future__ import annotations

import argparse
import importlib

# name -> (module in kube.perf, help). Add a row to add a subcommand.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "scheduler": ("scheduler_perf", "scheduler_perf workloads against a real API server"),
    "report": ("report", "PNG charts of `kube sim load` / `kube bench scheduler` JSON results"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    commands.required = True
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(f"kube.perf.{module_name}")
        sub = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)
