"""The pod indexes controllers sync from: by controller uid (with each namespace's orphans) and
by label pair; each answers what a walk over every pod of the namespace would."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kube.client.informer import Indexer
from kube.controllers.pods import (
    POD_CONTROLLER_UID_INDEX,
    pod_controller_uid_index,
    pods_for_owner,
)
from kube.controllers.serviceendpoints import (
    LABEL_PAIR_INDEX,
    label_pair_index,
    pods_selected,
    selector_matches,
)


class _Pods:
    """What `pods_selected` reads of an informer: its indexer."""

    def __init__(self, indexer: Indexer) -> None:
        self.indexer = indexer


def _pod(name: str, ns: str, labels: dict[str, str], owner: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels, "uid": f"u-{name}"}
    if owner is not None:
        meta["ownerReferences"] = [
            {"kind": "ReplicaSet", "name": owner, "uid": f"rs-{owner}", "controller": True}
        ]
    return {"metadata": meta}


def test_an_owner_sees_its_pods_and_its_namespace_orphans_only() -> None:
    idx = Indexer({POD_CONTROLLER_UID_INDEX: pod_controller_uid_index})
    idx.put(_pod("a", "ns1", {"app": "x"}, "web"))
    idx.put(_pod("b", "ns1", {"app": "x"}, None))
    idx.put(_pod("c", "ns1", {"app": "x"}, "other"))
    idx.put(_pod("d", "ns2", {"app": "x"}, None))
    rs = {"metadata": {"name": "web", "namespace": "ns1", "uid": "rs-web"}}
    assert sorted(p["metadata"]["name"] for p in pods_for_owner(idx, rs)) == ["a", "b"]
    # Adopting the orphan moves it under the owner's uid: still one copy.
    idx.put(_pod("b", "ns1", {"app": "x"}, "web"))
    assert sorted(p["metadata"]["name"] for p in pods_for_owner(idx, rs)) == ["a", "b"]
    idx.remove("ns1/a")
    assert [p["metadata"]["name"] for p in pods_for_owner(idx, rs)] == ["b"]


_LABELS = st.dictionaries(st.sampled_from("abc"), st.sampled_from("xy"), max_size=3)


@settings(max_examples=60, deadline=None)
@given(
    pods=st.lists(st.tuples(st.sampled_from(["n1", "n2"]), _LABELS), max_size=30),
    selector=_LABELS,
    seed=st.integers(0, 2**16),
)
def test_label_pair_index_selects_what_a_namespace_walk_selects(
    pods: list[tuple[str, dict[str, str]]], selector: dict[str, str], seed: int
) -> None:
    idx = Indexer({LABEL_PAIR_INDEX: label_pair_index})
    for i, (ns, labels) in enumerate(pods):
        idx.put(_pod(f"p{i}", ns, labels, None))
    # Relabel and delete some, so the index has to follow changes.
    rng = random.Random(seed)
    for i, (ns, _labels) in enumerate(pods):
        if rng.random() < 0.3:
            idx.put(_pod(f"p{i}", ns, {"a": rng.choice("xy")}, None))
        elif rng.random() < 0.2:
            idx.remove(f"{ns}/p{i}")
    for ns in ("n1", "n2"):
        walked = sorted(
            p["metadata"]["name"]
            for p in idx.by_index("namespace", ns)
            if selector and selector_matches(selector, p["metadata"]["labels"])
        )
        indexed = sorted(p["metadata"]["name"] for p in pods_selected(_Pods(idx), ns, selector))  # type: ignore[arg-type]
        assert indexed == walked
