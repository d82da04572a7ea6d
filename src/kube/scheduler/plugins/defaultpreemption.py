"""DefaultPreemption: when no node fits, evict lower-priority pods from the best node.

Upstream's PostFilter `DefaultPreemption` (the Evaluator):

1. Eligibility: a pod with `preemptionPolicy: Never` does not preempt ("not eligible due to
   preemptionPolicy=Never."), nor one whose nominated node still has a lower-priority pod
   terminating ("not eligible due to a terminating pod on the nominated node.").
2. Candidates: nodes rejected as Unschedulable (never UnschedulableAndUnresolvable: "Preemption
   is not helpful for scheduling"). On a copy of each, every pod of lower priority is removed;
   if the pod then passes all Filters, the victims are reprieved one by one, highest priority
   first and PodDisruptionBudget-violating ones before the others, keeping each that still
   lets the pod fit. A node without lower-priority pods says "No preemption victims found for
   incoming pod".
3. The node is chosen by upstream's pickOneNodeForPreemption: fewest PDB violations, lowest
   highest-victim priority, smallest sum of victim priorities, fewest victims, latest start of
   the highest-priority victims, then the first.
4. The victims get a `DisruptionTarget` condition and are deleted (asynchronously, so the
   cycle does not wait on the API), each with a "Preempted" event; lower-priority pods
   nominated to that node lose their nomination; the pod is nominated to the node and waits
   in the queue until the victims are gone.

With no candidate the message is a FitError over the candidates' statuses, prefixed
"preemption: ", which the scheduler appends to the FailedScheduling message.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

from kube.api.errors import APIError
from kube.api.meta import Object, now_rfc3339
from kube.api.resources import resource
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.interfaces import Plugin
from kube.scheduler.framework.nodeinfo import NodeInfo, PodInfo, pod_key, priority
from kube.scheduler.framework.status import Code, Status, unresolvable, unschedulable
from kube.scheduler.podmeta import (
    is_terminating,
    pod_labels,
    pod_namespace,
    selector_matches,
)

log = logging.getLogger("kube.scheduler.preemption")

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
PODS = resource("pods")
MAX_INT32 = 2**31 - 1


@dataclass
class Candidate:
    node: str
    victims: list[Object]
    pdb_violations: int


def _start_time(pod: Object) -> str:
    status = pod.get("status") or {}
    return str(
        status.get("startTime") or (pod.get("metadata") or {}).get("creationTimestamp") or ""
    )


class DefaultPreemption(Plugin):
    NAME = NAME

    def __init__(self, args: dict[str, Any] | None = None, handle: Any = None) -> None:
        super().__init__(args, handle)
        self.min_percentage = int(self.args.get("minCandidateNodesPercentage", 10))
        self.min_absolute = int(self.args.get("minCandidateNodesAbsolute", 100))

    # -- eligibility -----------------------------------------------------------------------

    def eligible(self, pod: Object) -> str | None:
        """None if the pod may preempt, else upstream's reason."""
        if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return "not eligible due to preemptionPolicy=Never."
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        snapshot = self.handle.snapshot
        if nominated and snapshot is not None:
            info = snapshot.get(nominated)
            if info is not None:
                mine = priority(pod)
                for other in info.pods.values():
                    if is_terminating(other.pod) and priority(other.pod) < mine:
                        return "not eligible due to a terminating pod on the nominated node."
        return None

    # -- the dry run -----------------------------------------------------------------------

    def _violating(self, victims: list[Object]) -> tuple[list[Object], list[Object]]:
        budgets = []
        for pdb in self.handle.pdbs():
            allowed = int((pdb.get("status") or {}).get("disruptionsAllowed") or 0)
            budgets.append([pdb, allowed])
        violating: list[Object] = []
        ok: list[Object] = []
        for victim in victims:
            hit = False
            for entry in budgets:
                pdb = entry[0]
                if pod_namespace(pdb) != pod_namespace(victim):
                    continue
                selector = (pdb.get("spec") or {}).get("selector")
                if not selector or not selector_matches(selector, pod_labels(victim)):
                    continue
                entry[1] -= 1
                if entry[1] < 0:
                    hit = True
            (violating if hit else ok).append(victim)
        return violating, ok

    def select_victims(
        self, state: CycleState, pod: Object, node_info: NodeInfo
    ) -> tuple[list[Object], int, Status]:
        """upstream SelectVictimsOnNode on a copy of the node."""
        fwk = self.handle.framework
        info = node_info.clone()
        state = state.clone()
        mine = priority(pod)
        potential = [p.pod for p in info.pods.values() if priority(p.pod) < mine]
        if not potential:
            return [], 0, unresolvable(NO_VICTIMS)
        for victim in potential:
            info.remove_pod(pod_key(victim))
            status = fwk.run_pre_filter_extension("remove_pod", state, pod, victim, info)
            if not status.is_success():
                return [], 0, status
        # Pods nominated to this node (same or higher priority) keep their room here too.
        status = fwk.run_filter_plugins_with_nominated_pods(state, pod, info)
        if not status.is_success():
            return [], 0, status
        potential.sort(key=lambda p: (-priority(p), _start_time(p)))
        violating, ok = self._violating(potential)
        victims: list[Object] = []
        violations = 0

        def reprieve(victim: Object) -> bool:
            info.add_pod(PodInfo.of(victim))
            fwk.run_pre_filter_extension("add_pod", state, pod, victim, info)
            if fwk.run_filter_plugins_with_nominated_pods(state, pod, info).is_success():
                return True
            info.remove_pod(pod_key(victim))
            fwk.run_pre_filter_extension("remove_pod", state, pod, victim, info)
            victims.append(victim)
            return False

        for victim in violating:
            if not reprieve(victim):
                violations += 1
        for victim in ok:
            reprieve(victim)
        if not victims:
            return (
                [],
                0,
                Status(Code.ERROR, [f"expected at least one victim pod on node {node_info.name}"]),
            )
        return victims, violations, Status()

    # -- choosing --------------------------------------------------------------------------

    @staticmethod
    def pick(candidates: list[Candidate]) -> Candidate:
        """upstream pickOneNodeForPreemption."""

        def key(c: Candidate) -> tuple[int, int, int, int, str]:
            prios = [priority(v) for v in c.victims]
            highest = max(prios, default=-MAX_INT32 - 1)
            total = sum(p + MAX_INT32 + 1 for p in prios)
            top_start = min(
                (_start_time(v) for v in c.victims if priority(v) == highest), default=""
            )
            # Later start of the highest-priority victims wins: invert the string order.
            inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in top_start)
            return (c.pdb_violations, highest, total, len(c.victims), inverted)

        return min(candidates, key=key)

    def post_filter(
        self, state: CycleState, pod: Object, diagnosis: Any
    ) -> tuple[str | None, Status]:
        reason = self.eligible(pod)
        if reason is not None:
            return None, unschedulable("preemption: " + reason)
        snapshot = self.handle.snapshot
        statuses = diagnosis.node_statuses()
        fwk = self.handle.framework
        potential: list[NodeInfo] = []
        failures: dict[str, Status] = {}
        for info in snapshot.node_infos:
            status = statuses.get(info.name)
            if status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                failures[info.name] = unresolvable(NOT_HELPFUL)
            else:
                potential.append(info)
        wanted = max(
            min(len(potential), self.min_absolute),
            math.ceil(len(potential) * self.min_percentage / 100),
        )
        candidates: list[Candidate] = []
        offset = fwk.rng.randrange(len(potential)) if potential else 0
        for i in range(len(potential)):
            info = potential[(offset + i) % len(potential)]
            victims, violations, status = self.select_victims(state, pod, info)
            if status.is_success():
                candidates.append(Candidate(info.name, victims, violations))
                if len(candidates) >= wanted:
                    break
            elif status.code == Code.ERROR:
                return None, status
            else:
                failures[info.name] = status
        if not candidates:
            counts: dict[str, int] = {}
            for status in failures.values():
                for r in status.reasons:
                    counts[r] = counts.get(r, 0) + 1
            reasons = ", ".join(sorted(f"{n} {r}" for r, n in counts.items()))
            message = f"0/{len(snapshot)} nodes are available: {reasons}."
            return None, unschedulable("preemption: " + message)
        best = self.pick(candidates)
        self._prepare(pod, best)
        return best.node, Status()

    # -- acting ----------------------------------------------------------------------------

    def _prepare(self, pod: Object, candidate: Candidate) -> None:
        """Start deleting the victims; the API calls run after the cycle."""
        uid = (pod.get("metadata") or {}).get("uid") or ""
        scheduler = self.handle.framework.name if self.handle.framework else "default-scheduler"
        for victim in candidate.victims:
            if self.handle.recorder is not None:
                self.handle.recorder.eventf(
                    {"apiVersion": "v1", "kind": "Pod", **victim},
                    {"apiVersion": "v1", "kind": "Pod", **pod},
                    "Normal",
                    "Preempted",
                    "Preempting",
                    f"Preempted by pod {uid} on node {candidate.node}",
                )
            if self.handle.client is None:
                continue
            task = asyncio.get_running_loop().create_task(
                self._evict(victim, f"{scheduler}: preempting to accommodate a higher priority pod")
            )
            self.handle.pending_api_calls.add(task)
            task.add_done_callback(self.handle.pending_api_calls.discard)

    async def _evict(self, victim: Object, message: str) -> None:
        meta = victim.get("metadata") or {}
        ns, name = meta.get("namespace"), str(meta.get("name"))
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": message,
            "lastTransitionTime": now_rfc3339(),
        }
        try:
            await self.handle.client.patch(
                PODS,
                name,
                {"status": {"conditions": [condition]}},
                namespace=ns,
                patch_type="strategic",
                subresource="status",
            )
        except APIError as err:
            log.info("preemption: cannot mark %s/%s: %s", ns, name, err)
        try:
            await self.handle.client.delete(PODS, name, namespace=ns)
        except APIError as err:
            if err.code != 404:
                log.warning("preemption: cannot delete %s/%s: %s", ns, name, err)
