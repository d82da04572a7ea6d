"""`kube version`: this project's version and the Kubernetes API version it serves."""

from __future__ import annotations

import argparse
import platform
import sys

import orjson

from kube.version import KUBERNETES_GIT_VERSION, KUBERNETES_MAJOR, KUBERNETES_MINOR, __version__


def info() -> dict[str, str]:
    return {
        "kube": __version__,
        "major": KUBERNETES_MAJOR,
        "minor": KUBERNETES_MINOR,
        "gitVersion": KUBERNETES_GIT_VERSION,
        "pythonVersion": platform.python_version(),
        "platform": f"{sys.platform}/{platform.machine()}",
    }


def run(args: argparse.Namespace) -> int:
    data = info()
    if args.output == "json":
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(
            f"kube {data['kube']} (Kubernetes {data['gitVersion']}, Python {data['pythonVersion']})"
        )
    return 0
