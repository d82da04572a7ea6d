"""The arithmetic of rollouts and of scaling down, as pure functions (no server)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from kube.controllers.deployment import conditions as cond
from kube.controllers.deployment import util
from kube.controllers.pods import SlowStartError, pods_to_delete, slow_start_batch

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def stamp(seconds_ago: float) -> str:
    return cond.rfc3339(NOW - dt.timedelta(seconds=seconds_ago))


def deployment(
    replicas: int, surge: int | str = "25%", unavailable: int | str = "25%", **extra: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "generation": 1},
        "spec": {
            "replicas": replicas,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
            },
            **extra,
        },
        "status": {},
    }


def rs(name: str, size: int, age: float, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "uid": name,
            "creationTimestamp": stamp(age),
            "annotations": dict(annotations),
        },
        "spec": {"replicas": size},
        "status": {"replicas": size},
    }


# -- surge and unavailability -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        ("25%", "25%", 10, (3, 2)),  # surge rounds up, unavailability down
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 1, (1, 0)),
        (1, 0, 3, (1, 0)),
        (0, "10%", 5, (0, 1)),  # both would be 0: maxUnavailable becomes 1
        ("0%", "0%", 5, (0, 1)),
        ("50%", "50%", 5, (3, 2)),
        (2, 7, 5, (2, 5)),  # unavailability never beyond the replicas
    ],
)
def test_max_surge_and_unavailable(
    surge: int | str, unavailable: int | str, replicas: int, expected: tuple[int, int]
) -> None:
    d = deployment(replicas, surge, unavailable)
    assert (util.max_surge(d), util.max_unavailable(d)) == expected


def test_recreate_has_no_surge_or_unavailability() -> None:
    d = deployment(4)
    d["spec"]["strategy"] = {"type": "Recreate"}
    assert (util.max_surge(d), util.max_unavailable(d)) == (0, 0)


def test_bad_int_or_string_is_an_error() -> None:
    with pytest.raises(ValueError, match="is not a percentage"):
        util.scaled_value("5", 10, True)


def test_new_replica_set_grows_within_the_surge() -> None:
    d = deployment(10, 3, 2)
    old, new = rs("old", 10, 60), rs("new", 0, 1)
    assert util.new_rs_new_replicas(d, [old, new], new) == 3
    old["spec"]["replicas"] = 8
    new["spec"]["replicas"] = 3
    assert util.new_rs_new_replicas(d, [old, new], new) == 5
    new["spec"]["replicas"] = 5
    assert util.new_rs_new_replicas(d, [old, new], new) == 5  # 13 pods: no room
    d["spec"]["strategy"] = {"type": "Recreate"}
    assert util.new_rs_new_replicas(d, [old, new], new) == 10


# -- proportional scaling -----------------------------------------------------------------------


def test_scale_up_mid_rollout_is_shared_by_size() -> None:
    d = deployment(15, 3, 2)
    annotated = {util.MAX_REPLICAS_ANNOTATION: "13"}
    old, new = rs("old", 8, 60, **annotated), rs("new", 5, 1, **annotated)
    ordered, sizes, operation = util.proportional_sizes(d, [new, old])
    assert operation == "up"
    assert [r["metadata"]["name"] for r in ordered] == ["old", "new"]  # larger first
    assert sizes == {"old": 11, "new": 7}  # 18 allowed: 8*18/13 ~ 11, the rest to new


def test_scale_down_mid_rollout_is_shared_by_size() -> None:
    d = deployment(5, 3, 2)
    annotated = {util.MAX_REPLICAS_ANNOTATION: "13"}
    old, new = rs("old", 8, 60, **annotated), rs("new", 5, 1, **annotated)
    _, sizes, operation = util.proportional_sizes(d, [old, new])
    assert operation == "down"
    assert sizes == {"old": 5, "new": 3}  # 8 allowed: 8*8/13 ~ 5, 5*8/13 ~ 3


def test_equal_sizes_grow_newest_first_and_shrink_oldest_first() -> None:
    annotated = {util.MAX_REPLICAS_ANNOTATION: "4"}
    older, newer = rs("older", 2, 60, **annotated), rs("newer", 2, 1, **annotated)
    ordered, _, _ = util.proportional_sizes(deployment(5, 0, 1), [older, newer])
    assert [r["metadata"]["name"] for r in ordered] == ["newer", "older"]
    ordered, _, _ = util.proportional_sizes(deployment(2, 0, 1), [older, newer])
    assert [r["metadata"]["name"] for r in ordered] == ["older", "newer"]


def test_scale_to_zero_empties_every_set() -> None:
    old, new = rs("old", 3, 60), rs("new", 2, 1)
    _, sizes, _ = util.proportional_sizes(deployment(0), [old, new])
    assert sizes == {"old": 0, "new": 0}


def test_active_or_latest_and_saturation() -> None:
    old, new = rs("old", 0, 60), rs("new", 3, 1)
    assert util.find_active_or_latest(new, [old]) is new
    old["spec"]["replicas"] = 1
    assert util.find_active_or_latest(new, [old]) is None
    new["spec"]["replicas"] = 0
    old["spec"]["replicas"] = 0
    assert util.find_active_or_latest(new, [old]) is new
    saturated = rs("new", 3, 1, **{util.DESIRED_REPLICAS_ANNOTATION: "3"})
    saturated["status"]["availableReplicas"] = 3
    assert util.is_saturated(deployment(3), saturated)
    saturated["status"]["availableReplicas"] = 2
    assert not util.is_saturated(deployment(3), saturated)


# -- hashing, templates, revisions --------------------------------------------------------------


def test_template_hash_is_stable_safe_and_moved_by_collisions() -> None:
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c"}]}}
    first = util.compute_hash(template, None)
    assert first == util.compute_hash(template, None)
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert util.compute_hash(template, 1) not in (first, util.compute_hash(template, 2))
    # Keys in another order, or a null creationTimestamp, are the same template.
    same = {
        "spec": {"containers": [{"name": "c"}]},
        "metadata": {"creationTimestamp": None, **template["metadata"]},
    }
    assert util.compute_hash(same, None) == first
    assert util.safe_encode("0123456789") == "456789bcdf"  # digits only: 4-9, b-f
    assert util.fnv32a(b"") == 0x811C9DC5
    assert util.fnv32a(b"a") == 0xE40C292C  # the FNV-1a test vector


def test_templates_compare_without_the_hash_label() -> None:
    d_template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}
    rs_template = {
        "metadata": {"creationTimestamp": None, "labels": {"app": "web", "pod-template-hash": "x"}},
        "spec": {},
    }
    assert util.equal_ignore_hash(d_template, rs_template)
    rs_template["metadata"]["labels"]["app"] = "api"
    assert not util.equal_ignore_hash(d_template, rs_template)


def test_revision_bump_of_an_existing_set_records_history() -> None:
    d = deployment(3)
    d["metadata"]["annotations"] = {
        "team": "blue",
        util.REVISION_ANNOTATION: "9",
        util.LAST_APPLIED_ANNOTATION: "{}",
    }
    back = rs("back", 0, 60, **{util.REVISION_ANNOTATION: "1"})
    assert util.set_new_rs_annotations(d, back, 3, True)
    annotations = back["metadata"]["annotations"]
    assert annotations == {
        util.REVISION_ANNOTATION: "3",
        util.REVISION_HISTORY_ANNOTATION: "1",
        "team": "blue",
    }
    assert util.set_new_rs_annotations(d, back, 5, True)
    assert annotations[util.REVISION_HISTORY_ANNOTATION] == "1,3"
    assert not util.set_new_rs_annotations(d, back, 5, True)
    fresh = rs("fresh", 0, 0)
    util.set_new_rs_annotations(d, fresh, 1, False)
    assert fresh["metadata"]["annotations"][util.DESIRED_REPLICAS_ANNOTATION] == "3"
    assert fresh["metadata"]["annotations"][util.MAX_REPLICAS_ANNOTATION] == "4"


# -- progress -----------------------------------------------------------------------------------


def test_progress_and_deadline() -> None:
    d = deployment(3, progressDeadlineSeconds=600)
    d["status"] = {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2}
    assert cond.deployment_progressing(d, {"replicas": 3, "updatedReplicas": 2})
    assert cond.deployment_progressing(d, {"replicas": 2, "updatedReplicas": 1})
    assert not cond.deployment_progressing(d, dict(d["status"]))
    status: dict[str, Any] = {}
    cond.set_condition(
        status,
        cond.new_condition(
            cond.PROGRESSING,
            "True",
            cond.RS_UPDATED_REASON,
            "x",
            NOW - dt.timedelta(seconds=601),
        ),
    )
    assert cond.deployment_timed_out(d, status, NOW)
    assert not cond.deployment_timed_out(d, status, NOW - dt.timedelta(seconds=2))
    d["spec"]["progressDeadlineSeconds"] = 2**31 - 1
    assert not cond.deployment_timed_out(d, status, NOW)


def test_set_condition_keeps_transition_time_while_status_holds() -> None:
    status: dict[str, Any] = {}
    early = NOW - dt.timedelta(seconds=30)
    cond.set_condition(status, cond.new_condition(cond.AVAILABLE, "True", "A", "m", early))
    cond.set_condition(status, cond.new_condition(cond.AVAILABLE, "True", "B", "m", NOW))
    (only,) = status["conditions"]
    assert (only["reason"], only["lastTransitionTime"], only["lastUpdateTime"]) == (
        "B",
        cond.rfc3339(early),
        cond.rfc3339(NOW),
    )


# -- which pods go first ------------------------------------------------------------------------


def pod(
    name: str,
    *,
    node: str = "n1",
    phase: str = "Running",
    ready: bool = True,
    restarts: int = 0,
    age: float = 3600,
    ready_for: float = 3600,
    cost: int | None = None,
) -> dict[str, Any]:
    annotations = {} if cost is None else {"controller.kubernetes.io/pod-deletion-cost": str(cost)}
    return {
        "metadata": {
            "name": name,
            "uid": name,
            "creationTimestamp": stamp(age),
            "annotations": annotations,
        },
        "spec": {"nodeName": node},
        "status": {
            "phase": phase,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": stamp(ready_for),
                }
            ],
            "containerStatuses": [{"name": "c", "restartCount": restarts}],
        },
    }


def first(*pods: dict[str, Any]) -> str:
    (victim,) = pods_to_delete(list(pods), [], 1, NOW)
    return str(victim["metadata"]["name"])


def test_pods_to_delete_follow_upstreams_ranking() -> None:
    assert first(pod("assigned"), pod("unassigned", node="")) == "unassigned"
    assert first(pod("running"), pod("pending", phase="Pending")) == "pending"
    assert first(pod("running"), pod("unknown", phase="Unknown")) == "unknown"
    assert first(pod("ready"), pod("not-ready", ready=False)) == "not-ready"
    assert first(pod("cheap", cost=-5), pod("dear", cost=5)) == "cheap"
    assert first(pod("steady"), pod("crashy", restarts=4)) == "crashy"
    # Ready for less time goes first, by powers of two of the age.
    assert first(pod("long", ready_for=3600), pod("short", ready_for=10)) == "short"
    assert first(pod("old", age=7200, ready_for=100), pod("new", age=60, ready_for=100)) == "new"


def test_pods_crowded_on_a_node_go_first() -> None:
    lonely, crowded = pod("lonely", node="a"), pod("crowded", node="b")
    related = [crowded, pod("other-1", node="b"), pod("other-2", node="b"), lonely]
    (victim,) = pods_to_delete([lonely, crowded], related, 1, NOW)
    assert victim["metadata"]["name"] == "crowded"


def test_slow_start_batches_double_and_stop_at_a_failure() -> None:
    batches: list[int] = []
    state = {"in_flight": 0, "calls": 0}

    async def run(fail_at: int | None) -> int:
        async def create() -> None:
            if state["in_flight"] == 0:
                batches.append(0)  # a new batch starts
            state["in_flight"] += 1
            state["calls"] += 1
            batches[-1] += 1
            call = state["calls"]
            await asyncio.sleep(0)  # every call of the batch starts before any ends
            state["in_flight"] -= 1
            if call == fail_at:
                raise RuntimeError("quota")

        return await slow_start_batch(10, 1, create)

    assert asyncio.run(run(None)) == 10
    assert batches == [1, 2, 4, 3]
    batches.clear()
    state["calls"] = 0
    with pytest.raises(SlowStartError) as failed:
        asyncio.run(run(3))
    assert batches == [1, 2]
    assert failed.value.successes == 2
    assert str(failed.value.error) == "quota"
