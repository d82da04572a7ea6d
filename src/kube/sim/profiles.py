"""The workloads `kube sim load` runs: clusterloader2's load, density and churn, as pure plans.

clusterloader2's load test (testing/load/config.yaml) gives each namespace a quarter of its pods
in big Deployments (250 replicas), a quarter in medium ones (30) and half in small ones (5),
each with a Service over it; it creates them at a target pods/s, scales each to a random
50-150 % of its size, then deletes them. Density (testing/density) saturates the cluster with
one large controller per namespace and measures pod startup. Churn here is the load mix
created and deleted in waves, so the controllers and the scheduler see steady turnover.

A plan is a list of `Group`s (one Deployment and its Service) spread over the namespaces
round-robin, sized so the total is the requested pod count; small totals (tests, a laptop)
shrink to what fits, never to a group of zero.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PROFILES = ("load", "density", "churn")
BIG, MEDIUM, SMALL = 250, 30, 5


@dataclass(frozen=True)
class Group:
    """One Deployment (and a Service selecting its pods) of `replicas` pods in `namespace`."""

    namespace: str
    name: str
    size: str  # "big" | "medium" | "small" | "density"
    replicas: int


def _split(pods: int) -> list[tuple[str, int, int]]:
    """(size class, group size, how many groups) for `pods` pods in clusterloader2's ratios."""
    big = pods // 4 // BIG
    medium = (pods - big * BIG) // 3 // MEDIUM
    rest = pods - big * BIG - medium * MEDIUM
    small = rest // SMALL
    out = [("big", BIG, big), ("medium", MEDIUM, medium), ("small", SMALL, small)]
    leftover = rest - small * SMALL
    if leftover:
        out.append(("small", leftover, 1))
    return [row for row in out if row[2] > 0]


def plan(profile: str, pods: int, namespaces: list[str]) -> list[Group]:
    """The groups of `profile` for `pods` pods over `namespaces`, big ones first."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (one of {', '.join(PROFILES)})")
    if pods < 1 or not namespaces:
        raise ValueError("a plan needs at least one pod and one namespace")
    groups: list[Group] = []
    if profile == "density":
        per_ns = max(1, pods // len(namespaces))
        left = pods
        i = 0
        while left > 0:
            size = min(per_ns, left)
            ns = namespaces[i % len(namespaces)]
            groups.append(Group(ns, f"density-{i}", "density", size))
            left -= size
            i += 1
        return groups
    i = 0
    for size_class, size, count in _split(pods):
        for _ in range(count):
            ns = namespaces[i % len(namespaces)]
            groups.append(Group(ns, f"{size_class}-{i}", size_class, size))
            i += 1
    return groups


def scaled(groups: list[Group], seed: int = 0) -> list[Group]:
    """Each group at a random 50-150 % of its size (clusterloader2's scale phase), at least 1."""
    rng = random.Random(seed)
    return [
        Group(g.namespace, g.name, g.size, max(1, round(g.replicas * rng.uniform(0.5, 1.5))))
        for g in groups
    ]
