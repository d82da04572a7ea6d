"""The drop-in plugins of examples/ (Python, Cython and Rust kernels), as a user enables them.

Each is installed into the venv by `make test` (.stamps/examples) and found through the entry
point group `kube.scheduler.plugins`, like any third-party plugin. For each: its vectorised
answer equals its per-node reference on a random cluster, and the same pods and nodes are
placed differently with and without the plugin enabled in a KubeSchedulerConfiguration file.
"""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kube.scheduler.config import load
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.plugins import registry_with
from kube.scheduler.scheduler import Scheduler
from tests.scheduler.builders import Events, node, pod

pytest.importorskip("kube_example_gpu", reason="make test installs examples/ (.stamps/examples)")
pytest.importorskip("kube_example_pack", reason="make test installs examples/ (.stamps/examples)")
pytest.importorskip("kube_example_rust", reason="make test installs examples/ (.stamps/examples)")

GPU = "example.kube.io/gpu-model"
PACK = "example.kube.io/pack"


def config_file(tmp_path: Path, plugins: str) -> Path:
    path = tmp_path / "sched.yaml"
    path.write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        "profiles:\n"
        "- schedulerName: default-scheduler\n"
        "  plugins:\n" + textwrap.indent(textwrap.dedent(plugins), "    ")
    )
    return path


def scheduler(config: Path | None, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> Any:
    s = Scheduler(
        None, load(config) if config is not None else None, registry=registry_with([]), seed=1
    )
    for n in nodes:
        s.on_node_add(n)
    for p in pods:
        s.on_pod_add(p)
    return s


def place(s: Scheduler, p: dict[str, Any]) -> tuple[str | None, str]:
    from kube.scheduler.framework.runtime import fit_error_message

    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    host, diagnosis, status = s.schedule_pod(fwk, CycleState(), p, snapshot)
    return host, (fit_error_message(diagnosis) if diagnosis is not None else status.message)


def random_cluster(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    nodes = []
    for i in range(40):
        labels = {}
        if rng.random() < 0.6:
            labels[GPU] = rng.choice(["a100", "t4", "h100"])
        if rng.random() < 0.6:
            labels[PACK] = rng.choice(["blue", "red"])
        nodes.append(node(f"n{i}", cpu="16", labels=labels))
    pods = [
        pod(f"p{i}", cpu="100m", node_name=f"n{rng.randrange(40)}")
        for i in range(rng.randrange(80))
    ]
    return nodes, pods


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_kernels_agree_with_their_per_node_reference(seed: int) -> None:
    from kube_example_gpu import GpuModel
    from kube_example_pack import PackByLabel
    from kube_example_rust import MostPods

    nodes, pods = random_cluster(seed)
    s = scheduler(None, nodes, pods)
    snapshot: Snapshot = s.cache.snapshot()
    rows = np.arange(len(snapshot), dtype=np.int64)[::-1].copy()  # any order, any subset
    infos = [snapshot.node_infos[r] for r in rows.tolist()]
    gpu = GpuModel({}, None)
    for want in (None, "a100", "h100", "nonexistent"):
        p = pod("x", spec={})
        if want is not None:
            p["metadata"]["annotations"] = {GPU: want}
        mask = gpu.filter_nodes(CycleState(), p, snapshot)
        for row, info in enumerate(snapshot.node_infos):
            assert (
                mask.status_of(int(mask.codes[row])).is_success()
                == gpu.filter(CycleState(), p, info).is_success()
            ), info.name
    pack = PackByLabel({}, None)
    for group in (None, "blue", "green"):
        p = pod("x", labels={PACK: group} if group else {})
        vector = pack.score_nodes(CycleState(), p, snapshot, rows).tolist()
        assert vector == [pack.score(CycleState(), p, info)[0] for info in infos]
    most = MostPods({}, None)
    state = CycleState()
    most.pre_score(state, pod("x"), infos)
    vector = most.score_nodes(state, pod("x"), snapshot, rows).tolist()
    assert vector == [most.score(state, pod("x"), info)[0] for info in infos]


def test_the_examples_are_found_through_the_entry_point_group() -> None:
    registry = registry_with([])
    assert {"GpuModel", "PackByLabel", "MostPods"} <= set(registry)


def test_python_gpu_model_filter_changes_placement(tmp_path: Path) -> None:
    nodes = [
        node("big", cpu="8"),
        node("a100", cpu="2", labels={GPU: "a100"}),
        node("t4", cpu="2", labels={GPU: "t4"}),
    ]
    p = pod("train", cpu="1")
    p["metadata"]["annotations"] = {GPU: "a100"}
    assert place(scheduler(None, nodes, []), p)[0] == "big"
    cfg = config_file(tmp_path, "filter:\n  enabled: [{name: GpuModel}]\n")
    assert place(scheduler(cfg, nodes, []), p)[0] == "a100"
    greedy = pod("greedy", cpu="3")
    greedy["metadata"]["annotations"] = {GPU: "a100"}
    host, message = place(scheduler(cfg, nodes, []), greedy)
    assert host is None
    assert message == (
        "0/3 nodes are available: 1 Insufficient cpu, "
        "2 node(s) didn't have the requested GPU model."
    )


def test_cython_pack_by_label_scorer_changes_placement(tmp_path: Path) -> None:
    nodes = [node("big", cpu="8"), node("blue", cpu="2", labels={PACK: "blue"})]
    p = pod("web", cpu="500m", labels={PACK: "blue"})
    assert place(scheduler(None, nodes, []), p)[0] == "big"
    cfg = config_file(tmp_path, "score:\n  enabled: [{name: PackByLabel, weight: 10}]\n")
    assert place(scheduler(cfg, nodes, []), p)[0] == "blue"


def test_rust_most_pods_scorer_changes_placement(tmp_path: Path) -> None:
    nodes = [node("empty", cpu="4"), node("busy", cpu="4")]
    running = [pod(f"r{i}", cpu="100m", node_name="busy") for i in range(3)]
    p = pod("next", cpu="100m")
    assert place(scheduler(None, nodes, running), p)[0] == "empty"
    cfg = config_file(tmp_path, "score:\n  enabled: [{name: MostPods, weight: 10}]\n")
    assert place(scheduler(cfg, nodes, running), p)[0] == "busy"


# -- a plugin that raises or returns garbage fails that pod's cycle, never the scheduler ----


def _bad_filter(answer: Any) -> type:
    class BadFilter:
        NAME = "BadFilter"

        def __init__(self, args: dict[str, Any], handle: Any) -> None:
            pass

        def filter_nodes(self, state: CycleState, p: dict[str, Any], snapshot: Snapshot) -> Any:
            return answer(len(snapshot))

    return BadFilter


def _bad_score(answer: Any) -> type:
    class BadScore:
        NAME = "BadScore"

        def __init__(self, args: dict[str, Any], handle: Any) -> None:
            pass

        def score_nodes(
            self, state: CycleState, p: dict[str, Any], snapshot: Snapshot, rows: Any
        ) -> Any:
            return answer(len(rows))

    return BadScore


def _raise(n: int) -> Any:
    raise ZeroDivisionError("division by zero")


def _mask(codes: Any, status_of: Any = None) -> Any:
    from kube.scheduler.framework.interfaces import NodeMask
    from kube.scheduler.framework.status import unresolvable

    return NodeMask(codes, status_of or (lambda code: unresolvable("nope")))


GARBAGE = [
    (
        "filter",
        _bad_filter(lambda n: _mask(np.ones(n, np.bool_))),
        "Filter plugin 'BadFilter' returned a mask of dtype bool, not integer codes",
    ),
    (
        "filter",
        _bad_filter(lambda n: _mask(np.zeros(n - 1, np.int64))),
        "Filter plugin 'BadFilter' returned a mask of shape (2,) for 3 nodes",
    ),
    (
        "filter",
        _bad_filter(lambda n: _mask(np.zeros((n, 2), np.int64))),
        "Filter plugin 'BadFilter' returned a mask of shape (3, 2) for 3 nodes",
    ),
    (
        "filter",
        _bad_filter(lambda n: _mask([0] * n)),
        "Filter plugin 'BadFilter' returned a mask of list, not a numpy array",
    ),
    (
        "filter",
        _bad_filter(lambda n: _mask(np.ones(n, np.int64), lambda code: None)),
        "Filter plugin 'BadFilter' returned NoneType for reason code 1",
    ),
    (
        "filter",
        _bad_filter(lambda n: np.zeros(n, np.int64)),
        "Filter plugin 'BadFilter' returned ndarray, not a NodeMask",
    ),
    (
        "filter",
        _bad_filter(_raise),
        "running Filter plugin 'BadFilter': division by zero",
    ),
    (
        "score",
        _bad_score(lambda n: np.full(n, np.nan)),
        "Score plugin 'BadScore' returned NaN or infinite scores",
    ),
    (
        "score",
        _bad_score(lambda n: np.zeros(n + 1, np.int64)),
        "Score plugin 'BadScore' returned scores of shape (4,) for 3 nodes",
    ),
    (
        "score",
        _bad_score(lambda n: ["high"] * n),
        "Score plugin 'BadScore' returned scores of dtype <U4, not integers",
    ),
    (
        "score",
        _bad_score(lambda n: np.full(n, 500, np.int64)),
        "plugin 'BadScore' returns an invalid score 500, it should in the range of [0, 100] "
        "after normalizing",
    ),
    ("score", _bad_score(_raise), "running Score plugin 'BadScore': division by zero"),
]


@pytest.mark.parametrize(("point", "cls", "message"), GARBAGE)
async def test_a_plugin_returning_garbage_fails_the_pod_not_the_scheduler(
    point: str, cls: type, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    from kube.scheduler.config import Configuration, PluginRef, PluginSet, Profile
    from kube.scheduler.plugins import in_tree_registry

    registry = in_tree_registry()
    registry.register(cls.NAME, cls)  # type: ignore[attr-defined]
    profile = Profile(plugins={point: PluginSet(enabled=[PluginRef(cls.NAME)])})  # type: ignore[attr-defined]
    bystander = Profile(scheduler_name="plain")
    events = Events()
    s = Scheduler(
        None, Configuration(profiles=[profile, bystander]), registry=registry, recorder=events
    )
    for i in range(3):
        s.on_node_add(node(f"n{i}"))
    s.on_pod_add(pod("victim"))
    info = await s.queue.pop()
    s.schedule_pod_cycle(s.frameworks["default-scheduler"], info)
    assert events.seen == [("victim", "Warning", "FailedScheduling", message)]
    assert any(r.levelname == "ERROR" and cls.NAME in r.getMessage() for r in caplog.records)  # type: ignore[attr-defined]
    assert s.queue.backoff_keys() == ["default/victim"]  # an error: retried with backoff
    # The scheduler goes on: the next pod (another profile) is scheduled as usual.
    s.on_pod_add(pod("next", spec={"schedulerName": "plain"}))
    info = await s.queue.pop()
    fwk = s.frameworks["plain"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    host, _, status = s.schedule_pod(fwk, CycleState(), info.pod, snapshot)
    assert status.is_success()
    assert host in {"n0", "n1", "n2"}
