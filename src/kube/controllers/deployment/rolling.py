"""The RollingUpdate strategy: grow the new ReplicaSet within maxSurge, shrink the old ones
within maxUnavailable (upstream's deployment/rolling.go).

One step per sync, then the status is written and the informers bring the next sync:

1. scale the new ReplicaSet up as far as `replicas + maxSurge` total pods allows;
2. otherwise scale old ReplicaSets down, first their unavailable pods (they hold nothing up),
   then, oldest set first, as many available ones as keep `replicas - maxUnavailable`
   available, counting the new set's unavailable pods against the budget;
3. once complete, delete old ReplicaSets beyond `revisionHistoryLimit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kube.api.meta import Object
from kube.controllers.deployment import conditions as cond
from kube.controllers.deployment import progress, sync, util

if TYPE_CHECKING:
    from kube.controllers.deployment.controller import DeploymentController


async def rollout_rolling(dc: DeploymentController, d: Object, rs_list: list[Object]) -> None:
    new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, True)
    assert new_rs is not None  # created when missing
    all_rss: list[Object | None] = [*old_rss, new_rs]
    if await reconcile_new_replica_set(dc, all_rss, new_rs, d):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if await reconcile_old_replica_sets(dc, all_rss, util.filter_active(old_rss), new_rs, d):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if cond.deployment_complete(d, d.get("status") or {}):
        await sync.cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, all_rss, new_rs, d)


async def reconcile_new_replica_set(
    dc: DeploymentController, all_rss: list[Object | None], new_rs: Object, d: Object
) -> bool:
    want = util.replicas(d)
    if util.replicas(new_rs) == want:
        return False
    if util.replicas(new_rs) > want:
        scaled, _ = await sync.scale_replica_set(dc, new_rs, want, d)
        return scaled
    count = util.new_rs_new_replicas(d, all_rss, new_rs)
    scaled, _ = await sync.scale_replica_set(dc, new_rs, count, d)
    return scaled


async def reconcile_old_replica_sets(
    dc: DeploymentController,
    all_rss: list[Object | None],
    old_rss: list[Object],
    new_rs: Object,
    d: Object,
) -> bool:
    old_pods = util.total_replicas(old_rss)
    if old_pods == 0:
        return False
    all_pods = util.total_replicas(all_rss)
    min_available = util.replicas(d) - util.max_unavailable(d)
    new_unavailable = util.replicas(new_rs) - util.status_int(new_rs, "availableReplicas")
    max_scaled_down = all_pods - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    old_rss, cleaned = await cleanup_unhealthy_replicas(dc, old_rss, d, max_scaled_down)
    scaled = await scale_down_old_replica_sets(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(
    dc: DeploymentController, old_rss: list[Object], d: Object, max_cleanup: int
) -> tuple[list[Object], int]:
    """Scale old ReplicaSets down by their unavailable pods, oldest first, up to `max_cleanup`."""
    ordered = util.by_creation(old_rss)
    total = 0
    for i, rs in enumerate(ordered):
        if total >= max_cleanup:
            break
        size = util.replicas(rs)
        available = util.status_int(rs, "availableReplicas")
        if size == 0 or size == available:
            continue
        down = min(max_cleanup - total, size - available)
        _, ordered[i] = await sync.scale_replica_set(dc, rs, size - down, d)
        total += down
    return ordered, total


async def scale_down_old_replica_sets(
    dc: DeploymentController, all_rss: list[Object | None], old_rss: list[Object], d: Object
) -> int:
    """Scale old ReplicaSets down, oldest first, while enough pods stay available."""
    min_available = util.replicas(d) - util.max_unavailable(d)
    available = util.total_status(all_rss, "availableReplicas")
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in util.by_creation(old_rss):
        if total >= budget:
            break
        size = util.replicas(rs)
        if size == 0:
            continue
        down = min(size, budget - total)
        await sync.scale_replica_set(dc, rs, size - down, d)
        total += down
    return total
