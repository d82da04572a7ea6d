"""The Deployment's ReplicaSets: finding or creating the new one, scaling, status, cleanup.

Upstream's deployment/sync.go. The functions take the controller (`dc`) for its client,
listers, recorder and wall clock, and the Deployment `d` as a private deep copy that they may
change (status conditions, the revision annotation) on the way to writing it.

- `get_all_replica_sets_and_sync_revision`: the new ReplicaSet (created when asked, named
  `<deployment>-<pod-template-hash>`, revision = max old revision + 1) and the old ones;
  an existing new ReplicaSet gets its annotations synced (a rollback to an old template bumps
  its revision and records the previous one in `revision-history`);
- `scale`: a scale event (or any change while paused): the one active ReplicaSet takes the new
  size, or the sizes are shared proportionally (`util.proportional_sizes`);
- `scale_replica_set`: one write of size and `desired-replicas`/`max-replicas` annotations,
  with the ScalingReplicaSet event "Scaled up replica set web-abc from 0 to 3";
- `cleanup_deployment`: delete the oldest fully scaled-down ReplicaSets beyond
  `revisionHistoryLimit`;
- `calculate_status` / `sync_deployment_status`: the status fields and Available condition.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kube.api.errors import APIError, go_quote
from kube.api.meta import Object, copy_object
from kube.controllers.deployment import conditions as cond
from kube.controllers.deployment import util
from kube.controllers.pods import controller_ref

if TYPE_CHECKING:
    from kube.controllers.deployment.controller import DeploymentController

NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def name_of(obj: Object) -> str:
    return str(_meta(obj).get("name") or "")


def status_of(d: Object) -> dict[str, Any]:
    status = d.get("status")
    if not isinstance(status, dict):
        status = {}
        d["status"] = status
    return status


def normalized(status: dict[str, Any]) -> dict[str, Any]:
    """A status as Go's omitempty JSON has it: zero counts and empty lists left out."""
    return {k: v for k, v in status.items() if v not in (0, None, [], {}, "")}


async def update_status(dc: DeploymentController, d: Object) -> Object:
    """PUT the Deployment's status; `d` takes the new resourceVersion."""
    written = await dc.client.update(dc.deployments, d, subresource="status")
    _meta(d)["resourceVersion"] = _meta(written).get("resourceVersion")
    return written


async def set_deployment_revision(dc: DeploymentController, d: Object, revision: str) -> None:
    """SetDeploymentRevision, written as a metadata patch (a status write keeps metadata)."""
    annotations = _meta(d).setdefault("annotations", {})
    if annotations.get(util.REVISION_ANNOTATION) == revision:
        return
    annotations[util.REVISION_ANNOTATION] = revision
    written = await dc.client.patch(
        dc.deployments,
        name_of(d),
        {"metadata": {"annotations": {util.REVISION_ANNOTATION: revision}}},
        str(_meta(d).get("namespace")),
    )
    _meta(d)["resourceVersion"] = _meta(written).get("resourceVersion")


async def get_all_replica_sets_and_sync_revision(
    dc: DeploymentController, d: Object, rs_list: list[Object], create: bool
) -> tuple[Object | None, list[Object]]:
    old_rss = util.find_old_replica_sets(d, rs_list)
    new_rs = await get_new_replica_set(dc, d, rs_list, old_rss, create)
    return new_rs, old_rss


def _replace(rs_list: list[Object], updated: Object) -> None:
    uid = _meta(updated).get("uid")
    for i, rs in enumerate(rs_list):
        if _meta(rs).get("uid") == uid:
            rs_list[i] = updated


async def get_new_replica_set(
    dc: DeploymentController,
    d: Object,
    rs_list: list[Object],
    old_rss: list[Object],
    create: bool,
) -> Object | None:
    existing = util.find_new_replica_set(d, rs_list)
    new_revision = util.max_revision(old_rss) + 1
    spec = d.get("spec") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    now = dc.wall_now()
    if existing is not None:
        rs = copy_object(existing)
        changed = util.set_new_rs_annotations(d, rs, new_revision, True)
        if changed or int((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            rs["spec"]["minReadySeconds"] = min_ready
            updated = await dc.client.update(dc.replicasets, rs)
            _replace(rs_list, updated)
            return updated
        # The revision already on the new ReplicaSet is the Deployment's.
        rs_revision = (_meta(rs).get("annotations") or {}).get(util.REVISION_ANNOTATION)
        if rs_revision:
            await set_deployment_revision(dc, d, str(rs_revision))
        status = status_of(d)
        if cond.has_progress_deadline(d) and cond.get_condition(status, cond.PROGRESSING) is None:
            message = f"Found new replica set {go_quote(name_of(rs))}"
            cond.set_condition(
                status,
                cond.new_condition(
                    cond.PROGRESSING, "True", cond.FOUND_NEW_RS_REASON, message, now
                ),
            )
            await update_status(dc, d)
        return rs
    if not create:
        return None

    namespace = str(_meta(d).get("namespace"))
    template = copy_object(spec.get("template") or {})
    collision_count = (d.get("status") or {}).get("collisionCount")
    pod_hash = util.compute_hash(template, collision_count)
    tmeta = template.setdefault("metadata", {})
    tmeta["labels"] = {**(tmeta.get("labels") or {}), util.POD_TEMPLATE_HASH_LABEL: pod_hash}
    selector = copy_object(spec.get("selector") or {})
    selector["matchLabels"] = {
        **(selector.get("matchLabels") or {}),
        util.POD_TEMPLATE_HASH_LABEL: pod_hash,
    }
    name = f"{name_of(d)}-{pod_hash}"
    new_rs: Object = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": [controller_ref(d, "apps/v1", "Deployment")],
            "labels": dict(tmeta["labels"]),
        },
        "spec": {
            "replicas": 0,
            "minReadySeconds": min_ready,
            "selector": selector,
            "template": template,
        },
    }
    count = util.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
    new_rs["spec"]["replicas"] = count
    util.set_new_rs_annotations(d, new_rs, new_revision, False)
    already_exists = False
    try:
        created = await dc.client.create(dc.replicasets, new_rs, namespace)
    except APIError as err:
        if err.code == 409 and err.reason == "AlreadyExists":
            found = dc.rs_lister.get(name, namespace)
            if found is None:
                raise
            if util.is_controlled_by(found, d) and util.equal_ignore_hash(
                spec.get("template") or {}, (found.get("spec") or {}).get("template") or {}
            ):
                created, already_exists = copy_object(found), True
            else:
                # A hash collision: count it and let the next sync try the next name.
                status = status_of(d)
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                await update_status(dc, d)
                raise
        elif any(
            c.get("type") == NAMESPACE_TERMINATING_CAUSE
            for c in (err.details or {}).get("causes") or []
        ):
            raise
        else:
            message = f"Failed to create new replica set {go_quote(name)}: {err}"
            if cond.has_progress_deadline(d):
                cond.set_condition(
                    status_of(d),
                    cond.new_condition(
                        cond.PROGRESSING, "False", cond.FAILED_RS_CREATE_REASON, message, now
                    ),
                )
                with contextlib.suppress(APIError):  # the bigger problem is reported below
                    await update_status(dc, d)
            dc.recorder.event(d, "Warning", cond.FAILED_RS_CREATE_REASON, message)
            raise
    if not already_exists and count > 0:
        dc.recorder.event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled up replica set {name_of(created)} from 0 to {count}",
        )
    rs_list.append(created)
    await set_deployment_revision(dc, d, str(new_revision))
    if not already_exists and cond.has_progress_deadline(d):
        message = f"Created new replica set {go_quote(name_of(created))}"
        cond.set_condition(
            status_of(d),
            cond.new_condition(cond.PROGRESSING, "True", cond.NEW_RS_REASON, message, now),
        )
        await update_status(dc, d)
    return created


async def scale_replica_set(
    dc: DeploymentController, rs: Object, new_scale: int, d: Object, operation: str = ""
) -> tuple[bool, Object]:
    """Write a ReplicaSet's size (and replicas annotations); (scaled, the ReplicaSet)."""
    old_scale = util.replicas(rs)
    desired = util.replicas(d)
    max_replicas = desired + util.max_surge(d)
    size_changes = old_scale != new_scale
    if not size_changes and not util.replicas_annotations_need_update(rs, desired, max_replicas):
        return False, rs
    updated = copy_object(rs)
    updated["spec"]["replicas"] = new_scale
    util.set_replicas_annotations(updated, desired, max_replicas)
    written = await dc.client.update(dc.replicasets, updated)
    if size_changes:
        direction = "up" if old_scale < new_scale else "down"
        dc.recorder.event(
            d,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {direction} replica set {name_of(written)} from {old_scale} to {new_scale}",
        )
    return size_changes, written


async def scale(
    dc: DeploymentController, d: Object, new_rs: Object | None, old_rss: list[Object]
) -> None:
    """Scale proportionally across the active ReplicaSets (a scale event, or while paused)."""
    only = util.find_active_or_latest(new_rs, old_rss)
    if only is not None:
        if util.replicas(only) != util.replicas(d):
            await scale_replica_set(dc, only, util.replicas(d), d)
        return
    if util.is_saturated(d, new_rs):
        for old in util.filter_active(old_rss):
            await scale_replica_set(dc, old, 0, d)
        return
    if not util.is_rolling_update(d):
        return
    ordered, sizes, operation = util.proportional_sizes(d, util.filter_active([*old_rss, new_rs]))
    for rs in ordered:
        await scale_replica_set(dc, rs, sizes[name_of(rs)], d, operation)


async def cleanup_deployment(dc: DeploymentController, old_rss: list[Object], d: Object) -> None:
    """Delete the oldest scaled-down ReplicaSets beyond `revisionHistoryLimit`."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None or int(limit) == 2**31 - 1:
        return
    alive = [rs for rs in old_rss if not _meta(rs).get("deletionTimestamp")]
    diff = len(alive) - int(limit)
    if diff <= 0:
        return
    oldest_first = sorted(alive, key=lambda rs: (util.revision(rs), util.creation_key(rs)))
    for rs in oldest_first[:diff]:
        status = rs.get("status") or {}
        if (
            int(status.get("replicas") or 0) != 0
            or util.replicas(rs) != 0
            or int(_meta(rs).get("generation") or 0) > int(status.get("observedGeneration") or 0)
        ):
            continue
        try:
            await dc.client.delete(dc.replicasets, name_of(rs), str(_meta(rs).get("namespace")))
        except APIError as err:
            if err.code != 404:
                raise


def calculate_status(
    dc: DeploymentController, all_rss: list[Object | None], new_rs: Object | None, d: Object
) -> dict[str, Any]:
    available = util.total_status(all_rss, "availableReplicas")
    unavailable = max(0, util.total_replicas(all_rss) - available)
    old = d.get("status") or {}
    status: dict[str, Any] = {
        "observedGeneration": int(_meta(d).get("generation") or 0),
        "replicas": util.total_status(all_rss, "replicas"),
        "updatedReplicas": util.status_int(new_rs, "replicas"),
        "readyReplicas": util.total_status(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
        "collisionCount": old.get("collisionCount"),
        "conditions": [dict(c) for c in old.get("conditions") or []],
    }
    now = dc.wall_now()
    if available >= util.replicas(d) - util.max_unavailable(d):
        condition = cond.new_condition(
            cond.AVAILABLE,
            "True",
            cond.MIN_AVAILABLE_REASON,
            "Deployment has minimum availability.",
            now,
        )
    else:
        condition = cond.new_condition(
            cond.AVAILABLE,
            "False",
            cond.MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.",
            now,
        )
    cond.set_condition(status, condition)
    return normalized(status)


async def sync_deployment_status(
    dc: DeploymentController, all_rss: list[Object | None], new_rs: Object | None, d: Object
) -> None:
    status = calculate_status(dc, all_rss, new_rs, d)
    if normalized(d.get("status") or {}) == status:
        return
    d["status"] = status
    await update_status(dc, d)


async def sync_status_only(dc: DeploymentController, d: Object, rs_list: list[Object]) -> None:
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def sync(dc: DeploymentController, d: Object, rs_list: list[Object]) -> None:
    """A scale event or a paused Deployment: scale, clean up, report; never roll out."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    await scale(dc, d, new_rs, old_rss)
    if (d.get("spec") or {}).get("paused"):
        await cleanup_deployment(dc, old_rss, d)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def check_paused_conditions(dc: DeploymentController, d: Object) -> None:
    """Progressing Unknown/DeploymentPaused while paused, DeploymentResumed once resumed."""
    if not cond.has_progress_deadline(d):
        return
    status = status_of(d)
    current = cond.get_condition(status, cond.PROGRESSING)
    if current is not None and current.get("reason") == cond.TIMED_OUT_REASON:
        return
    paused_recorded = current is not None and current.get("reason") == cond.PAUSED_REASON
    paused = bool((d.get("spec") or {}).get("paused"))
    now = dc.wall_now()
    if paused and not paused_recorded:
        condition = cond.new_condition(
            cond.PROGRESSING, "Unknown", cond.PAUSED_REASON, "Deployment is paused", now
        )
    elif not paused and paused_recorded:
        condition = cond.new_condition(
            cond.PROGRESSING, "Unknown", cond.RESUMED_REASON, "Deployment is resumed", now
        )
    else:
        return
    cond.set_condition(status, condition)
    await update_status(dc, d)


async def is_scaling_event(dc: DeploymentController, d: Object, rs_list: list[Object]) -> bool:
    """Some active ReplicaSet was sized for another `spec.replicas` than the Deployment's."""
    new_rs, old_rss = await get_all_replica_sets_and_sync_revision(dc, d, rs_list, False)
    for rs in util.filter_active([*old_rss, new_rs]):
        raw = (_meta(rs).get("annotations") or {}).get(util.DESIRED_REPLICAS_ANNOTATION)
        if raw is None:
            continue
        try:
            desired = int(raw)
        except ValueError:
            continue
        if desired != util.replicas(d):
            return True
    return False
