"""The Recreate strategy: every old pod gone before any new one (upstream's recreate.go).

1. scale every active old ReplicaSet to 0;
2. wait until no pod of an old ReplicaSet is left that is not Succeeded or Failed (the
   controller is woken by pod deletions for Recreate Deployments);
3. only then create the new ReplicaSet (at full size) or scale it up;
4. once complete, clean up old ReplicaSets beyond `revisionHistoryLimit`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kube.api.meta import Object
from kube.controllers.deployment import conditions as cond
from kube.controllers.deployment import progress, sync, util

if TYPE_CHECKING:
    from kube.controllers.deployment.controller import DeploymentController


async def rollout_recreate(
    dc: DeploymentController,
    d: Object,
    rs_list: list[Object],
    pod_map: dict[str, list[Object]],
) -> None:
    new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    all_rss: list[Object | None] = [*old_rss, new_rs]
    scaled_down = False
    for rs in util.filter_active(old_rss):
        scaled, _ = await sync.scale_replica_set(dc, rs, 0, d)
        scaled_down = scaled_down or scaled
    if scaled_down:
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if old_pods_running(new_rs, old_rss, pod_map):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if new_rs is None:
        new_rs, old_rss = await sync.get_all_replica_sets_and_sync_revision(dc, d, rs_list, True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    await sync.scale_replica_set(dc, new_rs, util.replicas(d), d)
    if cond.deployment_complete(d, d.get("status") or {}):
        await sync.cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, all_rss, new_rs, d)


def old_pods_running(
    new_rs: Object | None, old_rss: list[Object], pod_map: dict[str, list[Object]]
) -> bool:
    """Any old ReplicaSet still reports pods, or any pod of one is not finished."""
    if util.total_status(old_rss, "replicas") > 0:
        return True
    new_uid = ((new_rs or {}).get("metadata") or {}).get("uid")
    for uid, pods in pod_map.items():
        if new_rs is not None and uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
                return True
    return False
