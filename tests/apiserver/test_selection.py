"""Label and field selection of lists and watches (`selection.py` over `fields.py`).

Field names, their values and the 400 for an unsupported field are upstream's (each kind's
`...ToSelectableFields` and its field label conversion).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kube.api.errors import APIError
from kube.apiserver import fields
from kube.apiserver.selection import Selection


def pod(name: str, labels: dict[str, str] | None = None, **fields_: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": fields_.pop("namespace", "default"),
            "labels": labels or {},
        },
        "spec": fields_.pop("spec", {}),
        "status": fields_.pop("status", {}),
    }


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def bad_request(kind: str, labels: str, field_selector: str) -> str:
    with pytest.raises(APIError) as caught:
        Selection.parse(kind, labels, field_selector)
    assert (caught.value.code, caught.value.reason) == (400, "BadRequest")
    return caught.value.message


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("Pod", "spec.containers"),
        ("Node", "metadata.namespace"),  # cluster-scoped kinds with their own conversion
        ("Namespace", "metadata.namespace"),
        ("Namespace", "spec.finalizers"),
        ("Secret", "status.phase"),
        ("Pod", ""),
        ("Pod", "metadata.name "),  # nothing is trimmed
    ],
)
def test_unsupported_fields_are_400(kind: str, field: str) -> None:
    assert bad_request(kind, "", f"{field}=x") == f"field label not supported: {field}"


@pytest.mark.parametrize("kind", ["ConfigMap", "Deployment", "ServiceAccount"])
def test_kinds_without_a_conversion_name_the_generic_fields(kind: str) -> None:
    """upstream's DefaultMetaV1FieldSelectorConversion, for kinds with no conversion func."""
    assert bad_request(kind, "", "data.key=x") == (
        '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"'
    )


def test_old_clients_spec_host_selects_the_node_name() -> None:
    assert Selection.parse("Pod", "", "spec.host=n1").fields == [("spec.nodeName", "=", ("n1",))]


def test_pod_ips_is_accepted_but_never_set() -> None:
    selection = Selection.parse("Pod", "", "status.podIPs=10.0.0.1")
    pod = {"metadata": {"name": "p"}, "status": {"podIPs": [{"ip": "10.0.0.1"}]}}
    assert not selection.matches(pod)


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("ConfigMap", "metadata.name"),
        ("ConfigMap", "metadata.namespace"),
        ("Pod", "spec.nodeName"),
        ("Pod", "spec.hostNetwork"),
        ("Pod", "status.phase"),
        ("Pod", "status.podIP"),
        ("Pod", "status.nominatedNodeName"),
        ("Event", "involvedObject.uid"),
        ("Event", "source"),
        ("Event", "reportingComponent"),
        ("Node", "metadata.name"),
        ("Node", "spec.unschedulable"),
        ("Namespace", "status.phase"),
        ("Secret", "type"),
        ("Service", "spec.clusterIP"),
        ("Service", "spec.type"),
        ("ReplicaSet", "status.replicas"),
        ("Job", "status.successful"),
        ("CertificateSigningRequest", "spec.signerName"),
    ],
)
def test_supported_fields(kind: str, field: str) -> None:
    selection = Selection.parse(kind, "", f"{field}=x")
    assert selection.fields == [(field, "=", ("x",))]


def test_selector_syntax_errors_are_400_with_the_parser_message() -> None:
    assert bad_request("Pod", "a in (b", "") == (
        "unable to parse requirement: found '', expected: ',' or ')'"
    )
    assert bad_request("Pod", "", "metadata.name") == (
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
    )


def test_empty_selection_selects_everything_and_returns_the_same_list() -> None:
    selection = Selection.parse("Pod", "", "")
    assert selection.everything
    objects = [pod("a"), pod("b")]
    assert selection.filter(objects) is objects
    assert selection.matches(pod("c"))


def test_label_and_field_filtering_of_a_batch_keeps_order() -> None:
    objects = [
        pod("a", {"app": "web"}, spec={"nodeName": "n1"}),
        pod("b", {"app": "web"}, spec={"nodeName": "n2"}),
        pod("c", {"app": "db"}, spec={"nodeName": "n1"}),
        pod("d", {"app": "web", "canary": "1"}, spec={"nodeName": "n1"}),
        pod("e", {"app": "web"}, spec={"nodeName": "n1"}),
    ]
    selection = Selection.parse("Pod", "app=web,!canary", "spec.nodeName=n1")
    assert not selection.everything
    assert names(selection.filter(objects)) == ["a", "e"]
    assert selection.filter([]) == []


def test_labels_only_and_fields_only() -> None:
    objects = [pod("a", {"x": "1"}), pod("b", {"x": "2"}), pod("c")]
    assert names(Selection.parse("Pod", "x", "").filter(objects)) == ["a", "b"]
    assert names(Selection.parse("Pod", "x notin (1)", "").filter(objects)) == ["b", "c"]
    assert names(Selection.parse("Pod", "x>1", "").filter(objects)) == ["b"]
    assert names(Selection.parse("Pod", "", "metadata.name!=b").filter(objects)) == ["a", "c"]
    assert names(Selection.parse("Pod", "", "metadata.name==b").filter(objects)) == ["b"]


def test_namespace_field() -> None:
    objects = [pod("a", namespace="x"), pod("b", namespace="y")]
    assert names(Selection.parse("Pod", "", "metadata.namespace=y").filter(objects)) == ["b"]


def test_unscheduled_pods() -> None:
    objects = [pod("a", spec={"nodeName": "n1"}), pod("b"), pod("c", spec={"nodeName": ""})]
    assert names(Selection.parse("Pod", "", "spec.nodeName=").filter(objects)) == ["b", "c"]
    assert names(Selection.parse("Pod", "", "spec.nodeName!=").filter(objects)) == ["a"]


def test_booleans_read_true_false_and_default_to_false() -> None:
    objects = [
        pod("a", spec={"hostNetwork": True}),
        pod("b", spec={"hostNetwork": False}),
        pod("c"),
    ]
    assert names(Selection.parse("Pod", "", "spec.hostNetwork=true").filter(objects)) == ["a"]
    assert names(Selection.parse("Pod", "", "spec.hostNetwork=false").filter(objects)) == ["b", "c"]
    nodes: list[dict[str, Any]] = [
        {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
        {"metadata": {"name": "n2"}, "spec": {}},
    ]
    selected = Selection.parse("Node", "", "spec.unschedulable=false").filter(nodes)
    assert names(selected) == ["n2"]


def test_counts_default_to_zero() -> None:
    replica_sets: list[dict[str, Any]] = [
        {"metadata": {"name": "a"}, "status": {"replicas": 3}},
        {"metadata": {"name": "b"}, "status": {}},
        {"metadata": {"name": "c"}, "status": {"replicas": 0}},
    ]
    assert names(Selection.parse("ReplicaSet", "", "status.replicas=0").filter(replica_sets)) == [
        "b",
        "c",
    ]
    assert names(Selection.parse("ReplicaSet", "", "status.replicas=3").filter(replica_sets)) == [
        "a"
    ]


def test_job_status_successful_reads_status_succeeded() -> None:
    jobs: list[dict[str, Any]] = [
        {"metadata": {"name": "done"}, "status": {"succeeded": 1}},
        {"metadata": {"name": "new"}, "status": {}},
    ]
    assert names(Selection.parse("Job", "", "status.successful=1").filter(jobs)) == ["done"]
    assert names(Selection.parse("Job", "", "status.successful=0").filter(jobs)) == ["new"]


def test_event_fields_as_kubectl_describe_asks() -> None:
    events: list[dict[str, Any]] = [
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"uid": "u1", "name": "web", "kind": "Pod"},
            "source": {"component": "kubelet"},
            "type": "Normal",
        },
        {
            "metadata": {"name": "e2"},
            "involvedObject": {"uid": "u2", "name": "web"},
            "type": "Warning",
        },
    ]
    selection = Selection.parse("Event", "", "involvedObject.uid=u1,involvedObject.name=web")
    assert names(selection.filter(events)) == ["e1"]
    assert names(Selection.parse("Event", "", "source=kubelet").filter(events)) == ["e1"]
    assert names(Selection.parse("Event", "", "type!=Normal").filter(events)) == ["e2"]


def test_escaped_values() -> None:
    objects = [pod("a", status={"phase": "x,y"}), pod("b", status={"phase": "x"})]
    assert names(Selection.parse("Pod", "", "status.phase=x\\,y").filter(objects)) == ["a"]


def test_matches_one_object() -> None:
    selection = Selection.parse("Pod", "app=web", "status.phase=Running")
    assert selection.matches(pod("a", {"app": "web"}, status={"phase": "Running"}))
    assert not selection.matches(pod("a", {"app": "web"}, status={"phase": "Pending"}))
    assert not selection.matches(pod("a", {"app": "db"}, status={"phase": "Running"}))
    assert not selection.matches({"metadata": None})  # a broken object matches nothing here


def test_field_values() -> None:
    obj = {
        "metadata": {"name": "p"},
        "spec": {"nodeName": None, "hostNetwork": True, "restartPolicy": "Never"},
        "status": {"replicas": 2, "phase": ["not", "a", "string"]},
    }
    paths = ["metadata.name", "spec.nodeName", "spec.hostNetwork", "status.replicas", "spec.x.y"]
    assert fields.field_values(obj, paths) == {
        "metadata.name": "p",
        "spec.nodeName": "",
        "spec.hostNetwork": "true",
        "status.replicas": "2",
        "spec.x.y": "",
    }
    assert fields.field_values({"spec": "scalar"}, ["spec.nodeName"]) == {"spec.nodeName": ""}


def test_selectable_fields() -> None:
    assert fields.selectable_fields("ConfigMap") == ("metadata.name", "metadata.namespace")
    assert fields.selectable_fields("Node") == ("metadata.name", "spec.unschedulable")
    assert "status.phase" in fields.selectable_fields("Pod")


_LABELS = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2", ""]), max_size=3
)


@given(st.lists(_LABELS, max_size=8), st.sampled_from(["a", "!a", "a=1", "a!=1,b", "c in (1,2)"]))
def test_filter_agrees_with_matches_one_by_one(
    label_sets: list[dict[str, str]], selector: str
) -> None:
    objects = [pod(str(i), labels) for i, labels in enumerate(label_sets)]
    selection = Selection.parse("Pod", selector, "metadata.namespace=default")
    assert selection.filter(objects) == [o for o in objects if selection.matches(o)]
