"""PodTopologySpread's default constraints (upstream's `defaultingType: System | List`).

A pod without constraints of its own that belongs to a Service, ReplicationController,
ReplicaSet or StatefulSet is spread with the defaults: System's are hostname maxSkew 3 and
zone maxSkew 5, both ScheduleAnyway (so they only score); List's come from the plugin args.
The selector is upstream's DefaultSelector (the Services selecting the pod merged with the
controller's selector). A pod that nothing selects is left alone.
"""

from __future__ import annotations

from typing import Any

import pytest

from kube.scheduler.config import Configuration, Profile
from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.plugins.podtopologyspread import PodTopologySpread
from kube.scheduler.scheduler import Scheduler
from tests.scheduler.builders import node, pod

ZONE = "topology.kubernetes.io/zone"


class Lister:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = objects

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return next(
            (
                o
                for o in self.objects
                if o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
            ),
            None,
        )

    def list(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.objects if namespace in (None, o["metadata"].get("namespace"))]


class Informers:
    """What set_informers needs of a SharedInformerFactory: informer(resource).lister()."""

    def __init__(self, **objects: list[dict[str, Any]]) -> None:
        self.objects = objects
        self.asked: list[str] = []

    def informer(self, resource: Any) -> Any:
        self.asked.append(resource.plural)
        lister = Lister(self.objects.get(resource.plural, []))
        return type("Informer", (), {"lister": lambda _self: lister})()


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def owned(p: dict[str, Any], kind: str, name: str, api_version: str = "apps/v1") -> dict[str, Any]:
    p["metadata"]["ownerReferences"] = [
        {"apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": True}
    ]
    return p


WEB_RS = obj("ReplicaSet", "web", {"selector": {"matchLabels": {"app": "web"}}})


def cluster(
    informers: Informers, args: dict[str, Any] | None = None, extra: list[Any] = ()
) -> Scheduler:  # type: ignore[assignment]
    """a (zone 1) runs two app=web pods, b (zone 1) is empty, c (zone 2) runs another pod."""
    profile = Profile(plugin_config={"PodTopologySpread": args} if args else {})
    s = Scheduler(None, Configuration(profiles=[profile]), seed=1)
    for name, zone in (("a", "z1"), ("b", "z1"), ("c", "z2")):
        s.on_node_add(node(name, labels={ZONE: zone}))
    for i in range(2):
        s.on_pod_add(
            owned(pod(f"web-{i}", labels={"app": "web"}, node_name="a"), "ReplicaSet", "web")
        )
    s.on_pod_add(pod("other", cpu="1", labels={"app": "other"}, node_name="c"))
    for p in extra:
        s.on_pod_add(p)
    s.frameworks["default-scheduler"].handle.set_informers(informers)
    return s


def place(s: Scheduler, p: dict[str, Any]) -> str | None:
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    host, _, _ = s.schedule_pod(fwk, CycleState(), p, snapshot)
    return host


def spread_scores(s: Scheduler, p: dict[str, Any]) -> list[int] | None:
    """PodTopologySpread's normalised scores for a, b, c (None when it skips the pod)."""
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    plugin = fwk.instances["PodTopologySpread"]
    state = CycleState()
    rows = [snapshot.matrix.index[n] for n in ("a", "b", "c")]
    if plugin.pre_score(state, p, [snapshot.node_infos[r] for r in rows]).is_skip():
        return None
    scores = fwk.plugin_scores(plugin, state, p, snapshot, rows)
    assert not hasattr(scores, "code"), scores
    return list(scores.tolist())  # type: ignore[union-attr]


def test_system_defaults_score_a_replicaset_pod_like_upstream() -> None:
    s = cluster(Informers(replicasets=[WEB_RS]))
    p = owned(pod("web-new", labels={"app": "web"}), "ReplicaSet", "web")
    # hostname (maxSkew 3, weight ln 5) and zone (maxSkew 5, weight ln 4): raw 12, 9, 6.
    assert spread_scores(s, p) == [50, 75, 100]
    assert place(s, p) == "c"  # the other zone, though c is busier than b


def test_without_an_owner_the_pod_is_not_spread() -> None:
    s = cluster(Informers(replicasets=[WEB_RS]))
    loose = pod("web-new", labels={"app": "web"})
    assert spread_scores(s, loose) is None
    assert place(s, loose) == "b"  # the emptiest: same pod and nodes, other placement


def test_a_service_selecting_the_pod_gives_the_selector() -> None:
    service = obj("Service", "web", {"selector": {"app": "web"}})
    elsewhere = obj("Service", "web", {"selector": {"app": "web"}}, namespace="other")
    empty = obj("Service", "headless", {})
    s = cluster(Informers(services=[service, elsewhere, empty]))
    assert place(s, pod("web-new", labels={"app": "web"})) == "c"
    s = cluster(Informers(services=[elsewhere, empty]))
    assert place(s, pod("web-new", labels={"app": "web"})) == "b"


def test_replication_controllers_and_statefulsets_are_owners_too() -> None:
    rc = obj("ReplicationController", "web", {"selector": {"app": "web"}})
    sts = obj("StatefulSet", "web", {"selector": {"matchLabels": {"app": "web"}}})
    s = cluster(Informers(replicationcontrollers=[rc], statefulsets=[sts]))
    by_rc = owned(pod("w1", labels={"app": "web"}), "ReplicationController", "web", "v1")
    by_sts = owned(pod("w2", labels={"app": "web"}), "StatefulSet", "web")
    assert place(s, by_rc) == "c"
    assert place(s, by_sts) == "c"
    missing = owned(pod("w3", labels={"app": "web"}), "ReplicaSet", "gone")
    assert place(s, missing) == "b"


def test_a_pod_with_its_own_constraints_ignores_the_defaults() -> None:
    s = cluster(Informers(replicasets=[WEB_RS]))
    p = owned(pod("web-new", labels={"app": "web"}), "ReplicaSet", "web")
    p["spec"]["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "nothing"}},
        }
    ]
    assert place(s, p) == "b"


def test_list_defaults_can_be_hard_constraints() -> None:
    args = {
        "defaultingType": "List",
        "defaultConstraints": [
            {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
        ],
    }
    s = cluster(Informers(replicasets=[WEB_RS]), args)
    p = owned(pod("web-new", labels={"app": "web"}), "ReplicaSet", "web")
    fwk = s.frameworks["default-scheduler"]
    snapshot = s.cache.snapshot()
    fwk.handle.snapshot = snapshot
    state = CycleState()
    assert fwk.run_pre_filter(state, p, snapshot).is_success()
    statuses = {
        n: fwk.run_filter_plugins(state, p, snapshot.by_name[n]).message for n in ("a", "b", "c")
    }
    assert statuses == {
        "a": "node(s) didn't match pod topology spread constraints",
        "b": "node(s) didn't match pod topology spread constraints",
        "c": "",
    }


def test_list_without_constraints_spreads_nothing_and_watches_nothing() -> None:
    informers = Informers(replicasets=[WEB_RS])
    s = cluster(informers, {"defaultingType": "List"})
    assert informers.asked == []
    assert place(s, owned(pod("w", labels={"app": "web"}), "ReplicaSet", "web")) == "b"


def test_system_defaults_watch_the_owners() -> None:
    informers = Informers()
    cluster(informers)
    assert sorted(informers.asked) == [
        "replicasets",
        "replicationcontrollers",
        "services",
        "statefulsets",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {
                "defaultingType": "System",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule"}
                ],
            },
            'when .defaultingType is "System", .defaultConstraints must be empty',
        ),
        ({"defaultingType": "Sometimes"}, 'Unsupported value: "Sometimes"'),
        (
            {
                "defaultingType": "List",
                "defaultConstraints": [
                    {"maxSkew": 1, "topologyKey": ZONE, "labelSelector": {"matchLabels": {}}}
                ],
            },
            "constraint must not define a selector",
        ),
    ],
)
def test_bad_args_are_refused(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="PodTopologySpreadArgs") as err:
        PodTopologySpread(args, None)
    assert message in str(err.value)
