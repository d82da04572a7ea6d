"""The extension points, one interface each, with the contract a plugin must keep.

Upstream's `framework/interface.go`. A plugin is a class with a `NAME` that implements any of
these; the runtime finds out which by the methods it has (runtime-checkable protocols), so one
class may be a PreFilter, a Filter and a Score plugin at once. Every method is called from the
scheduler's single event loop and must not block: only Permit's waiting, PreBind, Bind and
PostBind run in the (asynchronous) binding cycle and may await.

Contracts, per point (the status codes a plugin may return, what the runtime does with them):

- PreEnqueue `pre_enqueue(pod)`: Success, or UnschedulableAndUnresolvable to keep the pod out
  of the active queue (scheduling gates). Called on every add/update; must be cheap and pure.
- QueueSort `less(a, b)`: a strict weak ordering of queued pods; exactly one per profile.
- PreFilter `pre_filter(state, pod, snapshot)`: computes per-cycle data into the cycle state
  (under a key derived from the plugin's name). Skip: the plugin's Filter is not called for
  this pod. Unschedulable(AndUnresolvable): the pod fits nowhere, the cycle fails with this
  message (no filtering). Error: the cycle fails and is retried. `add_pod`/`remove_pod`
  (PreFilterExtensions) update that data when preemption tries removing victims; they must
  be exact inverses.
- Filter `filter(state, pod, node_info)`: Success or Unschedulable(AndUnresolvable) with the
  reasons for that node; must not mutate anything but be idempotent (preemption calls it on
  copies of a node many times). A vectorised Filter also has `filter_nodes(state, pod,
  snapshot) -> NodeMask`: the same answer for every node row of the matrix in one call;
  the runtime uses it when present and the per-node `filter` for dry runs.
- PostFilter `post_filter(state, pod, diagnosis)`: runs only when no node fits (preemption);
  Success with a nominated node, or Unschedulable with a message that is appended to the
  FailedScheduling message. May start API calls but must not await them inside the cycle.
- PreScore `pre_score(state, pod, nodes)`: like PreFilter for scoring; Skip skips Score.
- Score `score(state, pod, node_info) -> (int, Status)`: 0..100 after normalisation;
  `normalize_scores(state, pod, scores)` (ScoreExtensions) rescales in place. A vectorised
  Score has `score_nodes(state, pod, snapshot, rows) -> int64 array`.
- Reserve `reserve(state, pod, node)` / `unreserve(...)`: claim and release resources the
  plugin tracks; unreserve must be idempotent and may be called without reserve.
- Permit `permit(state, pod, node) -> (Status, timeout)`: Success, Unschedulable (reject) or
  Wait (the binding cycle waits up to `timeout` seconds for allow/reject).
- PreBind / Bind / PostBind (async): Bind returns Skip to let the next binder try; the first
  Success binds. PostBind is informational and cannot fail the pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from kube.api.meta import Object
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.nodeinfo import NodeInfo
from kube.scheduler.framework.status import Status

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from kube.scheduler.framework.events import ClusterEventWithHint
    from kube.scheduler.framework.snapshot import Snapshot


class Plugin:
    """Base of every plugin: its registered name and the arguments it was given."""

    NAME: ClassVar[str] = ""

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        self.args = args or {}
        self.handle = handle

    @property
    def name(self) -> str:
        return self.NAME


@dataclass
class NodeMask:
    """A vectorised Filter's answer over the matrix rows.

    `codes[i] == 0` means row i passes; otherwise `status_of(codes[i])` turns the reason code
    into the Status a per-node Filter would have returned for that node.
    """

    codes: npt.NDArray[np.int64]
    status_of: Any  # Callable[[int], Status]


@runtime_checkable
class PreEnqueuePlugin(Protocol):
    def pre_enqueue(self, pod: Object) -> Status: ...


@runtime_checkable
class QueueSortPlugin(Protocol):
    def less(self, a: Any, b: Any) -> bool: ...


@runtime_checkable
class PreFilterPlugin(Protocol):
    def pre_filter(self, state: CycleState, pod: Object, snapshot: Snapshot) -> Status: ...


@runtime_checkable
class PreFilterExtensions(Protocol):
    def add_pod(
        self, state: CycleState, pod: Object, to_add: Object, node_info: NodeInfo
    ) -> Status: ...

    def remove_pod(
        self, state: CycleState, pod: Object, to_remove: Object, node_info: NodeInfo
    ) -> Status: ...


@runtime_checkable
class FilterPlugin(Protocol):
    def filter(self, state: CycleState, pod: Object, node_info: NodeInfo) -> Status: ...


@runtime_checkable
class VectorFilterPlugin(Protocol):
    def filter_nodes(self, state: CycleState, pod: Object, snapshot: Snapshot) -> NodeMask: ...


@runtime_checkable
class PostFilterPlugin(Protocol):
    def post_filter(
        self, state: CycleState, pod: Object, diagnosis: Any
    ) -> tuple[str | None, Status]: ...


@runtime_checkable
class PreScorePlugin(Protocol):
    def pre_score(self, state: CycleState, pod: Object, nodes: list[NodeInfo]) -> Status: ...


@runtime_checkable
class ScorePlugin(Protocol):
    def score(self, state: CycleState, pod: Object, node_info: NodeInfo) -> tuple[int, Status]: ...


@runtime_checkable
class VectorScorePlugin(Protocol):
    def score_nodes(
        self, state: CycleState, pod: Object, snapshot: Snapshot, rows: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]: ...


@runtime_checkable
class ScoreExtensions(Protocol):
    def normalize_scores(self, state: CycleState, pod: Object, scores: list[int]) -> Status: ...


@runtime_checkable
class VectorScoreExtensions(Protocol):
    """NormalizeScore over the scores as an array (preferred to `normalize_scores` when a
    plugin has both: the per-row list round trip cost more than the Score kernel)."""

    def normalize_score_nodes(
        self, state: CycleState, pod: Object, scores: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.int64]: ...


@runtime_checkable
class ReservePlugin(Protocol):
    def reserve(self, state: CycleState, pod: Object, node: str) -> Status: ...

    def unreserve(self, state: CycleState, pod: Object, node: str) -> None: ...


@runtime_checkable
class PermitPlugin(Protocol):
    def permit(self, state: CycleState, pod: Object, node: str) -> tuple[Status, float]: ...


@runtime_checkable
class PreBindPlugin(Protocol):
    async def pre_bind(self, state: CycleState, pod: Object, node: str) -> Status: ...


@runtime_checkable
class BindPlugin(Protocol):
    async def bind(self, state: CycleState, pod: Object, node: str) -> Status: ...


@runtime_checkable
class PostBindPlugin(Protocol):
    async def post_bind(self, state: CycleState, pod: Object, node: str) -> None: ...


@runtime_checkable
class EnqueueExtensions(Protocol):
    """Which cluster events may make a pod this plugin rejected schedulable (queueing hints)."""

    def events_to_register(self) -> list[ClusterEventWithHint]: ...


EXTENSION_POINTS: dict[str, type] = {
    "preEnqueue": PreEnqueuePlugin,
    "queueSort": QueueSortPlugin,
    "preFilter": PreFilterPlugin,
    "filter": FilterPlugin,
    "postFilter": PostFilterPlugin,
    "preScore": PreScorePlugin,
    "score": ScorePlugin,
    "reserve": ReservePlugin,
    "permit": PermitPlugin,
    "preBind": PreBindPlugin,
    "bind": BindPlugin,
    "postBind": PostBindPlugin,
}


def implements(plugin: object, point: str) -> bool:
    """Whether `plugin` implements the extension point named as in the configuration."""
    kind = EXTENSION_POINTS[point]
    if point == "score":
        return isinstance(plugin, ScorePlugin | VectorScorePlugin)
    if point == "filter":
        return isinstance(plugin, FilterPlugin | VectorFilterPlugin)
    return isinstance(plugin, kind)
