"""`python -m bench.scheduler_perf`: the old entry point of `kube bench scheduler`.

    python -m bench.scheduler_perf --workload SchedulingBasic --nodes 100 --init-pods 100 \
        --pods 500 [--output json]

The harness lives in kube.perf.scheduler_perf (shipped with the `kube` command); this shim
keeps the flags and the small defaults it always had (SchedulingBasic, 100 nodes, 100 initial
pods, 500 measured pods) for scripts that call it this way.
"""

from __future__ import annotations

import argparse
import sys

from kube.perf import scheduler_perf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scheduler_perf", description=scheduler_perf.__doc__
    )
    scheduler_perf.add_arguments(parser, default_workload="SchedulingBasic")
    parser.set_defaults(nodes=100, init_pods=100, pods=500)
    return scheduler_perf.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
