"""NodeName, NodeUnschedulable, NodePorts, ImageLocality, BalancedAllocation: upstream cases."""

from __future__ import annotations

from kube.scheduler.framework.cycle_state import CycleState
from kube.scheduler.framework.status import Code
from kube.scheduler.plugins.balancedallocation import BalancedAllocation
from kube.scheduler.plugins.imagelocality import ImageLocality, normalized_image_name
from kube.scheduler.plugins.nodename import NodeName
from kube.scheduler.plugins.nodeports import NodePorts
from kube.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from tests.scheduler.builders import node, pod, snapshot_of


def test_node_name() -> None:
    n = snapshot_of([node("foo")]).node_infos[0]
    assert NodeName().filter(CycleState(), pod("p"), n).is_success()
    assert NodeName().filter(CycleState(), pod("p", node_name="foo"), n).is_success()
    status = NodeName().filter(CycleState(), pod("p", node_name="bar"), n)
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ["node(s) didn't match the requested node name"],
    )


def test_node_unschedulable_unless_tolerated() -> None:
    n = snapshot_of([node("n", unschedulable=True)]).node_infos[0]
    status = NodeUnschedulable().filter(CycleState(), pod("p"), n)
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
        ["node(s) were unschedulable"],
    )
    tolerant = pod(
        "p",
        spec={
            "tolerations": [
                {
                    "key": "node.kubernetes.io/unschedulable",
                    "operator": "Exists",
                    "effect": "NoSchedule",
                }
            ]
        },
    )
    assert NodeUnschedulable().filter(CycleState(), tolerant, n).is_success()


def ports_pod(name: str, *ports: tuple[str, str, int], node_name: str = "") -> dict:
    p = pod(name, node_name=node_name)
    p["spec"]["containers"][0]["ports"] = [
        {"containerPort": n, "hostPort": n, "protocol": proto, "hostIP": ip}
        for proto, ip, n in ports
    ]
    return p


def test_node_ports_conflicts_as_host_port_info() -> None:
    def fits(existing: tuple[str, str, int], wanted: tuple[str, str, int]) -> bool:
        snapshot = snapshot_of([node("n")], [ports_pod("e", existing, node_name="n")])
        return (
            NodePorts()
            .filter(CycleState(), ports_pod("p", wanted), snapshot.node_infos[0])
            .is_success()
        )

    assert fits(("UDP", "127.0.0.1", 8080), ("UDP", "127.0.0.1", 9090))
    assert fits(("UDP", "127.0.0.1", 8080), ("TCP", "127.0.0.1", 8080))
    assert not fits(("TCP", "127.0.0.1", 8080), ("TCP", "127.0.0.1", 8080))
    assert fits(("TCP", "127.0.0.1", 8001), ("TCP", "127.0.0.2", 8001))
    assert not fits(("TCP", "0.0.0.0", 8001), ("TCP", "127.0.0.1", 8001))
    assert not fits(("TCP", "127.0.0.1", 8001), ("TCP", "0.0.0.0", 8001))
    snapshot = snapshot_of([node("n")], [ports_pod("e", ("TCP", "0.0.0.0", 80), node_name="n")])
    status = NodePorts().filter(
        CycleState(), ports_pod("p", ("TCP", "0.0.0.0", 80)), snapshot.node_infos[0]
    )
    assert (status.code, status.reasons) == (
        Code.UNSCHEDULABLE,
        ["node(s) didn't have free ports for the requested pod ports"],
    )


def test_image_locality_prefers_nodes_with_the_image() -> None:
    mb = 1024 * 1024
    nodes = [
        node(
            "n1",
            images=[
                (["gcr.io/40:latest", "gcr.io/40:v1"], 40 * mb),
                (["gcr.io/300:latest"], 300 * mb),
            ],
        ),
        node("n2", images=[(["gcr.io/250:latest"], 250 * mb)]),
        node("n3"),
    ]
    snapshot = snapshot_of(nodes)
    plugin = ImageLocality(handle=None)
    p = pod("p", image="gcr.io/40")
    state = CycleState()
    plugin.pre_score(state, p, snapshot.node_infos)
    scores = [plugin.score(state, p, n)[0] for n in snapshot.node_infos]
    # 40MB * 1/3 of the nodes is below the 23MB floor: 0 everywhere (upstream's spread effect).
    assert scores == [0, 0, 0]
    big = pod("p", image="gcr.io/300")
    plugin.pre_score(state, big, snapshot.node_infos)
    assert [plugin.score(state, big, n)[0] for n in snapshot.node_infos][1:] == [0, 0]
    assert plugin.score(state, big, snapshot.node_infos[0])[0] == 100 * (100 * mb - 23 * mb) // (
        1000 * mb - 23 * mb
    )
    assert normalized_image_name("gcr.io/x") == "gcr.io/x:latest"
    assert normalized_image_name("host:5000/x") == "host:5000/x:latest"
    assert normalized_image_name("x:1") == "x:1"


def test_balanced_allocation_scores_the_spread_of_fractions() -> None:
    # upstream case: node 4000m/10000, existing 3000m/5000 -> cpu 0.75, mem 0.5, std 0.125.
    snapshot = snapshot_of(
        [node("n", cpu="4000m", memory="10000")],
        [pod("e", cpu="3000m", memory="5000", node_name="n")],
    )
    value, _ = BalancedAllocation().score(CycleState(), pod("p"), snapshot.node_infos[0])
    assert value == 87
