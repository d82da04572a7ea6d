"""The framework runtime: one profile's plugins, run at each extension point in order.

Upstream's `frameworkImpl`. Built from a profile (the names per extension point and the score
weights, see config.expand) and a registry; each plugin is instantiated once even when it
serves several points. Every plugin call goes through `_guard`, so a plugin that raises or
returns something that is not a Status fails that pod's cycle with an Error naming the plugin
(and a log line), never the scheduler. The vectorised answers are checked the same way before
use (`_check_mask`, `_check_scores`): a mask of the wrong length, shape or dtype, a reason code
whose `status_of` is not a Status, NaN or non-integral scores, or scores of the wrong length
fail the pod's cycle with a FailedScheduling event that names the plugin and what was wrong.

Nominated pods (`Nominator`): a node that has pods nominated to it with the same or a higher
priority than the pod is checked twice, with those pods added and without them (upstream's
RunFilterPluginsWithNominatedPods), so preemption's nominated pods keep the room they wait for.
Permit plugins that answer Wait put the pod among the handle's waiting pods (`WaitingPod`):
the binding cycle awaits `wait_on_permit` until they allow it, someone rejects it, or their
timeout passes.

Filtering (`find_feasible`) runs the vectorised Filter plugins over every matrix row at once,
then the per-node ones over the rows still feasible, visiting rows from a rotating start
index and stopping once `num_to_find` feasible nodes are found (upstream's
percentageOfNodesToScore). A node is reported with the first plugin that rejected it; with
the default plugin order every vectorised plugin comes before every per-node one, so this is
upstream's attribution. Scoring sums each Score plugin's normalised scores times its weight.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kube.api.meta import Object
from kube.client.clock import Clock, RealClock
from kube.scheduler import kernels
from kube.scheduler.config import Profile, expand
from kube.scheduler.framework import interfaces as ifs
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.events import ClusterEventWithHint
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo
from kube.scheduler.framework.nominator import Nominator
from kube.scheduler.framework.registry import Registry
from kube.scheduler.framework.snapshot import Snapshot
from kube.scheduler.framework.status import Code, Status, error
from kube.scheduler.framework.waiting_pods import MAX_TIMEOUT, WaitingPod, WaitingPods, pod_uid

log = logging.getLogger("kube.scheduler.framework")

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0


class PluginNotFound(ValueError):
    """A profile names a plugin the registry does not have."""


@dataclass
class Diagnosis:
    """Why a pod fits nowhere: per-plugin reason codes over the rows, built lazily."""

    num_all_nodes: int = 0
    pre_filter_msg: str = ""
    post_filter_msg: str = ""
    unschedulable_plugins: set[str] = field(default_factory=set)
    # (plugin, rows, codes, status_of) per rejecting plugin; or per-node statuses.
    _vector: list[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.int64], Any]] = field(
        default_factory=list
    )
    _nodes: dict[int, Status] = field(default_factory=dict)
    _names: list[str] = field(default_factory=list)

    def node_statuses(self) -> dict[str, Status]:
        """Each rejected node's Status (what upstream keeps in NodeToStatusMap)."""
        out: dict[str, Status] = {}
        for plugin, rows, codes, status_of in self._vector:
            memo: dict[int, Status] = {}
            for row, code in zip(rows.tolist(), codes.tolist(), strict=True):
                if code not in memo:
                    memo[code] = status_of(code).with_plugin(plugin)
                out[self._names[row]] = memo[code]
        for row, status in self._nodes.items():
            out[self._names[row]] = status
        return out

    def reason_histogram(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for _plugin, _rows, codes, status_of in self._vector:
            values, numbers = np.unique(codes, return_counts=True)
            for code, number in zip(values.tolist(), numbers.tolist(), strict=True):
                for reason in status_of(code).reasons:
                    counts[reason] += number
        for status in self._nodes.values():
            for reason in status.reasons:
                counts[reason] += 1
        return counts


def fit_error_message(diagnosis: Diagnosis) -> str:
    """upstream FitError.Error(): "0/5 nodes are available: 3 Insufficient cpu, ... ."."""
    message = f"0/{diagnosis.num_all_nodes} nodes are available:"
    if diagnosis.pre_filter_msg:
        message += f" {diagnosis.pre_filter_msg}."
    else:
        reasons = sorted(f"{n} {r}" for r, n in diagnosis.reason_histogram().items())
        if reasons:
            message += f" {', '.join(reasons)}."
    if diagnosis.post_filter_msg:
        message += f" {diagnosis.post_filter_msg}."
    return message


class Handle:
    """What plugins may use from the scheduler: the API client, events, listers, the framework.

    Also upstream's framework.Handle API for Permit's waiting pods (`get_waiting_pod`,
    `iterate_over_waiting_pods`, `reject_waiting_pod`) and the nominator. The scheduler passes
    one `Nominator` and one `WaitingPods` to every profile's handle, as upstream shares them.
    """

    def __init__(
        self,
        client: Any = None,
        recorder: Any = None,
        *,
        pdbs: Callable[[], list[Object]] | None = None,
        namespace_labels: Callable[[str], dict[str, str] | None] | None = None,
        nominator: Nominator | None = None,
        waiting_pods: WaitingPods | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.framework: Framework | None = None
        self.snapshot: Snapshot | None = None
        self.pdbs = pdbs or (lambda: [])
        self.namespace_labels = namespace_labels or (lambda ns: None)
        self.nominator = nominator if nominator is not None else Nominator()
        self.waiting_pods = waiting_pods if waiting_pods is not None else WaitingPods()
        self.clock: Clock = clock or RealClock()
        self.informers: Any = None
        self.pending_api_calls: set[Any] = set()

    def nominate(self, pod: Object, node: str) -> None:
        """Record that `pod` waits for `node` (preemption's result); "" clears it."""
        self.nominator.add(pod, node)

    def nominated_pods_for_node(self, node: str) -> list[PodInfo]:
        return self.nominator.pods_for_node(node)

    def get_waiting_pod(self, uid: str) -> WaitingPod | None:
        return self.waiting_pods.get(uid)

    def iterate_over_waiting_pods(self, callback: Callable[[WaitingPod], object]) -> None:
        self.waiting_pods.iterate(callback)

    def reject_waiting_pod(self, uid: str) -> bool:
        """Reject the waiting pod with this UID ("removed"); whether there was one."""
        waiting = self.waiting_pods.get(uid)
        if waiting is None:
            return False
        waiting.reject("", "removed")
        return True

    def set_informers(self, informers: Any) -> None:
        """The scheduler's informer factory, before it starts: plugins that need more listers
        (PodTopologySpread's owners for its default constraints) register them here."""
        self.informers = informers
        if self.framework is not None:
            for plugin in self.framework.instances.values():
                hook = getattr(plugin, "set_informers", None)
                if callable(hook):
                    hook(informers)


def _guard(plugin: object, point: str, call: Callable[..., Any], *args: Any) -> Any:
    name = getattr(plugin, "NAME", type(plugin).__name__)
    try:
        result = call(*args)
    except Exception as err:
        log.exception("plugin %s failed at %s", name, point)
        return error(f"running {point} plugin {name!r}: {err}").with_plugin(name)
    return result


def _status(plugin: object, point: str, value: Any) -> Status:
    name = getattr(plugin, "NAME", type(plugin).__name__)
    if not isinstance(value, Status):
        log.error("plugin %s returned %r from %s, not a Status", name, value, point)
        return error(f"{point} plugin {name!r} returned {type(value).__name__}, not a Status")
    return value.with_plugin(name)


def _invalid(plugin: object, point: str, what: str) -> Status:
    """A plugin's answer the runtime cannot use: logged, and the pod's cycle fails with it."""
    name = getattr(plugin, "NAME", type(plugin).__name__)
    log.error("plugin %s returned an invalid answer from %s: %s", name, point, what)
    return error(f"{point} plugin {name!r} returned {what}").with_plugin(name)


def _pair(
    plugin: object, point: str, result: Any, *, status_first: bool = False
) -> tuple[Any, Status]:
    """The (value, Status) a Score/PostFilter plugin returns ((Status, timeout) from Permit),
    or (None, an Error Status) when it is not such a pair."""
    if isinstance(result, Status):  # _guard's error
        return None, result
    if not isinstance(result, tuple) or len(result) != 2:
        shape = "(Status, timeout)" if status_first else "(value, Status)"
        return None, _invalid(plugin, point, f"{type(result).__name__}, not a {shape} pair")
    status, value = result if status_first else result[::-1]
    return value, _status(plugin, point, status)


def _check_mask(plugin: object, result: Any, n: int) -> ifs.NodeMask | Status:
    """A vectorised Filter's NodeMask, or why it cannot be used."""
    if not isinstance(result, ifs.NodeMask):
        return _invalid(plugin, "Filter", f"{type(result).__name__}, not a NodeMask")
    codes: Any = result.codes
    if not isinstance(codes, np.ndarray):
        return _invalid(plugin, "Filter", f"a mask of {type(codes).__name__}, not a numpy array")
    if codes.ndim != 1 or codes.shape[0] != n:
        return _invalid(plugin, "Filter", f"a mask of shape {codes.shape} for {n} nodes")
    if codes.dtype.kind not in "iu":
        return _invalid(plugin, "Filter", f"a mask of dtype {codes.dtype}, not integer codes")
    if not callable(result.status_of):
        return _invalid(plugin, "Filter", "a NodeMask whose status_of is not callable")
    return result


def _check_reasons(plugin: object, mask: ifs.NodeMask, codes: npt.NDArray[np.int64]) -> Status:
    """Every failing code must turn into a rejecting Status (checked once per distinct code)."""
    for code in np.unique(codes).tolist():
        status = _guard(plugin, "Filter", mask.status_of, code)
        if not isinstance(status, Status):
            return _invalid(plugin, "Filter", f"{type(status).__name__} for reason code {code}")
        if status.code == Code.ERROR:
            return status
        if not status.is_rejected():
            return _invalid(
                plugin, "Filter", f"reason code {code} with a {status.code.name} status"
            )
    return Status()


_score_bounds = kernels.get("score_bounds")


def _in_score_range(scores: npt.NDArray[np.int64]) -> bool:
    """Every score in [MIN_NODE_SCORE, MAX_NODE_SCORE] (one native pass for min and max)."""
    low, high = _score_bounds(scores)
    return bool(low >= MIN_NODE_SCORE and high <= MAX_NODE_SCORE)


def _check_scores(plugin: object, result: Any, n: int) -> npt.NDArray[np.int64] | Status:
    """A vectorised Score's int64 scores, or why they cannot be used."""
    if isinstance(result, Status):
        return result
    try:
        scores = np.asarray(result)
    except Exception as err:  # a ragged or exotic sequence
        return _invalid(plugin, "Score", f"scores numpy cannot read: {err}")
    if scores.ndim != 1 or scores.shape[0] != n:
        return _invalid(plugin, "Score", f"scores of shape {scores.shape} for {n} nodes")
    if scores.dtype.kind in "iu":
        return scores.astype(np.int64, copy=False)
    if scores.dtype.kind == "f":
        if not np.isfinite(scores).all():
            return _invalid(plugin, "Score", "NaN or infinite scores")
        if not (scores == np.floor(scores)).all():
            return _invalid(plugin, "Score", "non-integral scores")
        return scores.astype(np.int64)
    return _invalid(plugin, "Score", f"scores of dtype {scores.dtype}, not integers")


class Framework:
    def __init__(self, profile: Profile, registry: Registry, handle: Handle | None = None) -> None:
        self.profile = profile
        self.handle = handle or Handle()
        self.handle.framework = self
        self.instances: dict[str, Any] = {}

        def instance(name: str) -> Any:
            if name not in self.instances:
                factory = registry.get(name)
                if factory is None:
                    raise PluginNotFound(
                        f"profile {profile.scheduler_name!r}: plugin {name!r} is not registered"
                    )
                self.instances[name] = factory(profile.args(name), self.handle)
            return self.instances[name]

        def implements(name: str, point: str) -> bool:
            return name in registry and ifs.implements(instance(name), point)

        points, self.weights = expand(profile, implements)
        self.points: dict[str, list[Any]] = {
            point: [instance(name) for name in names] for point, names in points.items()
        }
        for point, plugins in self.points.items():
            for plugin in plugins:
                if not ifs.implements(plugin, point):
                    raise PluginNotFound(
                        f"profile {profile.scheduler_name!r}: plugin {plugin.NAME!r} does not "
                        f"implement the {point} extension point"
                    )
        if len(self.points["queueSort"]) != 1:
            raise PluginNotFound(
                f"profile {profile.scheduler_name!r}: exactly one queueSort plugin is required"
            )
        if not self.points["bind"]:
            raise PluginNotFound(
                f"profile {profile.scheduler_name!r}: at least one bind plugin is required"
            )
        self.rng = random.Random()
        self._kinds: dict[tuple[int, type], bool] = {}

    def _is(self, plugin: object, protocol: type) -> bool:
        """isinstance against a runtime-checkable Protocol, remembered per plugin instance:
        each check costs tens of microseconds and the cycle asks per plugin for every pod."""
        key = (id(plugin), protocol)
        found = self._kinds.get(key)
        if found is None:
            found = self._kinds[key] = isinstance(plugin, protocol)
        return found

    @property
    def name(self) -> str:
        return self.profile.scheduler_name

    # -- queueing --------------------------------------------------------------------------

    def less(self, a: Any, b: Any) -> bool:
        return bool(self.points["queueSort"][0].less(a, b))

    def pre_enqueue(self, pod: Object) -> Status:
        for plugin in self.points["preEnqueue"]:
            status = _status(
                plugin, "PreEnqueue", _guard(plugin, "PreEnqueue", plugin.pre_enqueue, pod)
            )
            if not status.is_success():
                return status
        return Status()

    def events_to_register(self) -> dict[str, list[ClusterEventWithHint]]:
        out: dict[str, list[ClusterEventWithHint]] = {}
        for name, plugin in self.instances.items():
            if isinstance(plugin, ifs.EnqueueExtensions):
                out[name] = list(plugin.events_to_register())
        return out

    # -- filtering -------------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status:
        for plugin in self.points["preFilter"]:
            status = _status(
                plugin,
                "PreFilter",
                _guard(plugin, "PreFilter", plugin.pre_filter, state, pod, snapshot),
            )
            if status.is_skip():
                state.skip_filter_plugins.add(plugin.NAME)
                continue
            if not status.is_success():
                return status
        return Status()

    def run_filter_plugins(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status:
        """The per-node Filter of every plugin, in order (preemption's dry runs use this)."""
        for plugin in self.points["filter"]:
            if plugin.NAME in state.skip_filter_plugins:
                continue
            status = _status(
                plugin,
                "Filter",
                _guard(plugin, "Filter", plugin.filter, state, pod, node_info),
            )
            if not status.is_success():
                if not status.is_rejected():
                    status.code = Code.ERROR
                return status
        return Status()

    def run_filter_plugins_with_nominated_pods(
        self, state: CycleState, pod: Object, node_info: NodeInfo
    ) -> Status:
        """upstream RunFilterPluginsWithNominatedPods: the node must fit the pod both with the
        pods nominated to it (same or higher priority) added and without them."""
        nominated = self.handle.nominator.ge_priority_pods_for_node(node_info.name, pod)
        if nominated:
            status = self._filter_with(state, pod, node_info, nominated)
            if not status.is_success():
                return status
        return self.run_filter_plugins(state, pod, node_info)

    def _filter_with(
        self, state: CycleState, pod: Object, node_info: NodeInfo, nominated: list[PodInfo]
    ) -> Status:
        """The per-node Filters on a copy of the node (and state) with `nominated` added."""
        info = node_info.clone()
        copy = state.clone()
        for other in nominated:
            info.add_pod(other)
            status = self.run_pre_filter_extension("add_pod", copy, pod, other.pod, info)
            if not status.is_success():
                status.code = Code.ERROR
                return status
        return self.run_filter_plugins(copy, pod, info)

    def run_pre_filter_extension(
        self, op: str, state: CycleState, pod: Object, other: Object, node_info: NodeInfo
    ) -> Status:
        for plugin in self.points["preFilter"]:
            if plugin.NAME in state.skip_filter_plugins or not isinstance(
                plugin, ifs.PreFilterExtensions
            ):
                continue
            method = getattr(plugin, op)
            status = _status(plugin, op, _guard(plugin, op, method, state, pod, other, node_info))
            if not status.is_success():
                return status
        return Status()

    def find_feasible(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        num_to_find: int,
        start: int,
        diagnosis: Diagnosis,
    ) -> tuple[list[int], int, Status]:
        """The feasible rows (at most `num_to_find`, from `start` on), rows visited, error."""
        n = len(snapshot)
        diagnosis._names = snapshot.matrix.names
        # Made on the first node some plugin rejects: for most pods no plugin rejects any node,
        # and the search order is then the rows themselves from `start` on.
        alive: npt.NDArray[np.bool_] | None = None
        plugins = [p for p in self.points["filter"] if p.NAME not in state.skip_filter_plugins]
        per_node: list[Any] = []
        for plugin in plugins:
            name: str = plugin.NAME
            if not self._is(plugin, ifs.VectorFilterPlugin) or per_node:
                per_node.append(plugin)
                continue
            result = _guard(plugin, "Filter", plugin.filter_nodes, state, pod, snapshot)
            if isinstance(result, Status):
                return [], n, result
            mask = _check_mask(plugin, result, n)
            if isinstance(mask, Status):
                return [], n, mask
            if not np.count_nonzero(mask.codes):
                continue  # fails no node (most plugins for most pods): no array work
            failing = mask.codes != 0
            if alive is not None:
                failing &= alive
            rows = np.flatnonzero(failing)
            if len(rows):
                codes = mask.codes[rows].astype(np.int64, copy=False)
                checked = _check_reasons(plugin, mask, codes)
                if not checked.is_success():
                    return [], n, checked
                diagnosis._vector.append((name, rows, codes, mask.status_of))
                diagnosis.unschedulable_plugins.add(name)
                if alive is None:
                    alive = np.ones(n, np.bool_)
                alive &= ~failing
        # The feasible rows in the order a search from `start` visits them (wrapping around).
        if alive is None:
            candidates = np.arange(start, start + n, dtype=np.int64)
            candidates[n - start :] -= n
        else:
            alive_rows = np.flatnonzero(alive)
            split = int(np.searchsorted(alive_rows, start))
            candidates = np.concatenate((alive_rows[split:], alive_rows[:split]))
        feasible: list[int] = []
        processed = n
        # Nodes with pods nominated to them (same or higher priority) are checked again with
        # those pods added; with no nominations the vectorised answer stands alone.
        nominated: dict[int, list[PodInfo]] = {}
        if self.handle.nominator:
            index = snapshot.matrix.index
            for node in self.handle.nominator.nodes():
                row = index.get(node)
                if row is None or row >= n:
                    continue
                pods = self.handle.nominator.ge_priority_pods_for_node(node, pod)
                if pods:
                    nominated[row] = pods
        if not per_node and not nominated:
            chosen = candidates[:num_to_find]
            state.feasible_rows = chosen  # the Score kernels' rows, without a list round trip
            feasible = chosen.tolist()
            if feasible and len(feasible) == num_to_find:
                processed = (feasible[-1] - start) % n + 1
            return feasible, processed, Status()
        infos = snapshot.node_infos
        for row in candidates.tolist():
            ok = True
            for plugin in per_node:
                status = _status(
                    plugin,
                    "Filter",
                    _guard(plugin, "Filter", plugin.filter, state, pod, infos[row]),
                )
                if status.is_success():
                    continue
                if not status.is_rejected():
                    return [], n, status
                diagnosis._nodes[row] = status
                diagnosis.unschedulable_plugins.add(plugin.NAME)
                ok = False
                break
            if ok and row in nominated:
                status = self._filter_with(state, pod, infos[row], nominated[row])
                if not status.is_success():
                    if not status.is_rejected():
                        return [], n, status
                    diagnosis._nodes[row] = status
                    if status.plugin:
                        diagnosis.unschedulable_plugins.add(status.plugin)
                    ok = False
            if ok:
                feasible.append(row)
                if len(feasible) == num_to_find:
                    processed = (row - start) % n + 1
                    break
        return feasible, processed, Status()

    def run_post_filter(
        self, state: CycleState, pod: Object, diagnosis: Diagnosis
    ) -> tuple[str | None, Status]:
        statuses: list[str] = []
        for plugin in self.points["postFilter"]:
            result = _guard(plugin, "PostFilter", plugin.post_filter, state, pod, diagnosis)
            nominated, status = _pair(plugin, "PostFilter", result)
            if nominated is not None and not isinstance(nominated, str):
                status = _invalid(plugin, "PostFilter", f"a nominated node of {nominated!r}")
            if status.is_success():
                return nominated, status
            if status.code == Code.ERROR:
                return None, status
            if status.message:
                statuses.append(status.message)
        return None, Status(Code.UNSCHEDULABLE, statuses)

    # -- scoring ---------------------------------------------------------------------------

    def run_pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status:
        for plugin in self.points["preScore"]:
            status = _status(
                plugin,
                "PreScore",
                _guard(plugin, "PreScore", plugin.pre_score, state, pod, nodes),
            )
            if status.is_skip():
                state.skip_score_plugins.add(plugin.NAME)
            elif not status.is_success():
                return status
        return Status()

    def run_score(
        self,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        rows: list[int] | npt.NDArray[np.int64],
    ) -> tuple[npt.NDArray[np.int64], Status]:
        """The weighted total score per row of `rows` (a list, or an int64 array as it is)."""
        index = np.asarray(rows, dtype=np.int64)
        total = np.zeros(len(rows), np.int64)
        for plugin in self.points["score"]:
            if plugin.NAME in state.skip_score_plugins:
                continue
            scores = self._plugin_scores(plugin, state, pod, snapshot, index)
            if isinstance(scores, Status):
                return total, scores
            total += scores * self.weights.get(plugin.NAME, 1)
        return total, Status()

    def plugin_scores(
        self, plugin: Any, state: CycleState, pod: Object, snapshot: Snapshot, rows: list[int]
    ) -> npt.NDArray[np.int64] | Status:
        """One plugin's normalised scores (for tests and the benchmark)."""
        return self._plugin_scores(plugin, state, pod, snapshot, np.asarray(rows, np.int64))

    def _plugin_scores(
        self,
        plugin: Any,
        state: CycleState,
        pod: Object,
        snapshot: Snapshot,
        index: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64] | Status:
        name: str = plugin.NAME
        if self._is(plugin, ifs.VectorScorePlugin):
            result = _guard(plugin, "Score", plugin.score_nodes, state, pod, snapshot, index)
            checked = _check_scores(plugin, result, len(index))
            if isinstance(checked, Status):
                return checked
            scores: npt.NDArray[np.int64] = checked
        else:
            values: list[int] = []
            for row in index.tolist():
                result = _guard(plugin, "Score", plugin.score, state, pod, snapshot.node_infos[row])
                value, status = _pair(plugin, "Score", result)
                if not status.is_success():
                    if status.code != Code.ERROR:
                        status.code = Code.ERROR
                    return status
                if not isinstance(value, int | np.integer) or isinstance(value, bool):
                    return _invalid(plugin, "Score", f"a score of {value!r}, not an integer")
                values.append(int(value))
            scores = np.asarray(values, dtype=np.int64)
        if self._is(plugin, ifs.VectorScoreExtensions):
            normalized = _guard(
                plugin, "NormalizeScore", plugin.normalize_score_nodes, state, pod, scores
            )
            checked = _check_scores(plugin, normalized, len(index))
            if isinstance(checked, Status):
                return checked
            scores = checked
        elif self._is(plugin, ifs.ScoreExtensions):
            as_list = scores.tolist()
            status = _status(
                plugin,
                "NormalizeScore",
                _guard(plugin, "NormalizeScore", plugin.normalize_scores, state, pod, as_list),
            )
            if not status.is_success():
                return status
            checked = _check_scores(plugin, as_list, len(index))
            if isinstance(checked, Status):
                return checked
            scores = checked
        if len(scores) and not _in_score_range(scores):
            bad = int(scores[(scores < MIN_NODE_SCORE) | (scores > MAX_NODE_SCORE)][0])
            log.error("plugin %s returned the out-of-range score %d", name, bad)
            return error(
                f"plugin {name!r} returns an invalid score {bad}, it should in the range "
                f"of [{MIN_NODE_SCORE}, {MAX_NODE_SCORE}] after normalizing"
            ).with_plugin(name)
        return scores

    def select_host(self, rows: list[int], totals: npt.NDArray[np.int64]) -> int:
        """The row with the highest total; ties broken uniformly at random (upstream)."""
        ties = np.flatnonzero(totals == totals.max())
        pick = self.rng.randrange(len(ties)) if len(ties) > 1 else 0
        return int(rows[int(ties[pick])])

    # -- reserve, permit, binding ------------------------------------------------------------

    def run_reserve(self, state: CycleState, pod: Object, node: str) -> Status:
        for plugin in self.points["reserve"]:
            status = _status(
                plugin, "Reserve", _guard(plugin, "Reserve", plugin.reserve, state, pod, node)
            )
            if not status.is_success():
                return status
        return Status()

    def run_unreserve(self, state: CycleState, pod: Object, node: str) -> None:
        for plugin in reversed(self.points["reserve"]):
            _guard(plugin, "Unreserve", plugin.unreserve, state, pod, node)

    def run_permit(self, state: CycleState, pod: Object, node: str) -> tuple[Status, float]:
        """upstream RunPermitPlugins: Success; a rejection or Error; or Wait, with the pod put
        among the waiting pods (one timer per waiting plugin, at most 15 minutes each) and the
        longest of those timeouts returned."""
        waits: dict[str, float] = {}
        for plugin in self.points["permit"]:
            result = _guard(plugin, "Permit", plugin.permit, state, pod, node)
            timeout_value, status = _pair(plugin, "Permit", result, status_first=True)
            if status.is_wait():
                try:
                    timeout = float(timeout_value)
                except (TypeError, ValueError):
                    status = _invalid(plugin, "Permit", f"a timeout of {timeout_value!r}")
                else:
                    if timeout != timeout:  # NaN
                        status = _invalid(plugin, "Permit", "a NaN timeout")
                    else:
                        waits[plugin.NAME] = min(max(timeout, 0.0), MAX_TIMEOUT)
                        continue
            if not status.is_success():
                if not status.is_rejected():
                    status.code = Code.ERROR
                return status, 0.0
        if not waits:
            return Status(), 0.0
        self.handle.waiting_pods.add(WaitingPod(pod, waits, self.handle.clock))
        name = (pod.get("metadata") or {}).get("name")
        message = f"one or more plugins asked to wait and no plugin rejected pod {name!r}"
        return Status(Code.WAIT, [message]), max(waits.values())

    async def wait_on_permit(self, pod: Object) -> Status:
        """upstream WaitOnPermit: until the waiting pod is allowed (Success), rejected or timed
        out (Unschedulable, with the rejecting plugin); Success at once if it is not waiting."""
        uid = pod_uid(pod)
        waiting = self.handle.waiting_pods.get(uid)
        if waiting is None:
            return Status()
        try:
            status = await waiting.wait()
        finally:
            self.handle.waiting_pods.remove(uid)
        if status.is_success() or status.is_rejected():
            return status
        return error(f"error received while waiting on permit for pod: {status.message}")

    async def run_pre_bind(self, state: CycleState, pod: Object, node: str) -> Status:
        for plugin in self.points["preBind"]:
            try:
                status = _status(plugin, "PreBind", await plugin.pre_bind(state, pod, node))
            except Exception as err:
                log.exception("PreBind plugin %s failed", plugin.NAME)
                return error(f"running PreBind plugin {plugin.NAME!r}: {err}")
            if not status.is_success():
                return status
        return Status()

    async def run_bind(self, state: CycleState, pod: Object, node: str) -> Status:
        for plugin in self.points["bind"]:
            try:
                status = _status(plugin, "Bind", await plugin.bind(state, pod, node))
            except Exception as err:
                log.exception("Bind plugin %s failed", plugin.NAME)
                return error(f"running Bind plugin {plugin.NAME!r}: {err}")
            if status.is_skip():
                continue
            return status
        return error("all bind plugins skipped the pod")

    async def run_post_bind(self, state: CycleState, pod: Object, node: str) -> None:
        for plugin in self.points["postBind"]:
            try:
                await plugin.post_bind(state, pod, node)
            except Exception:
                log.exception("PostBind plugin %s failed", plugin.NAME)
