"""The per-request shortcuts of the API server give what the long way gives.

Each shortcut (a create's managedFields comparison kept per top-level field, uids from a pool of
random bytes, the timestamp text kept per second, quantities parsed once per text, no unknown
field walk over a protobuf body) must leave every answer a user sees as it was: these tests
compare the shortcut with the computation it replaces, and a served create and update with
what upstream records.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import socket
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kube.api import fieldmanager, fieldpath, quantity
from kube.api.fieldmanager import MISSING, compare, record_update
from kube.api.meta import new_uid, now_rfc3339
from kube.apiserver.fieldtypes import field_type
from kube.apiserver.subresources import _binding_copy, _set_pod_condition
from kube.auth.kubeconfig import load_kubeconfig
from tests.e2e.conftest import Cluster
from tests.e2e.conftest import cluster as cluster  # a real kube server (the fixture)

POD = field_type("", "v1", "Pod")
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _pod(name: str, image: str = "registry.k8s.io/pause:3.10") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": new_uid(),
            "creationTimestamp": now_rfc3339(),
            "labels": {"app": "web", "pod-template-hash": "7d9f"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d9f",
                    "uid": "0b5c3a0e-58a4-4f3e-9d55-7d0a3f1f6a11",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": image,
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}},
                    "terminationMessagePolicy": "File",
                }
            ],
            "restartPolicy": "Always",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
            ],
        },
        "status": {},
    }


def _same(a: fieldmanager.Comparison, b: fieldmanager.Comparison) -> bool:
    return (a.added, a.modified, a.removed) == (b.added, b.modified, b.removed)


def _created(obj: dict[str, Any]) -> dict[str, Any]:
    return record_update(
        None,
        obj,
        "kube-controller-manager",
        schema=POD,
        api_version="v1",
        now="2026-01-01T00:00:00Z",
    )


def test_a_remembered_create_comparison_equals_a_fresh_one() -> None:
    fieldmanager._REMEMBERED.clear()
    zero = POD.zero()
    first, second = _pod("web-1"), _pod("web-2")
    fresh = compare(zero, second, POD)
    compare(zero, first, POD, remember=True)  # fills the memo with the shared spec
    assert _same(compare(zero, second, POD, remember=True), fresh)
    assert _same(compare(zero, second, POD, remember=True), fresh)  # and from the memo


def test_pods_of_one_template_get_the_managed_fields_a_fresh_create_gets() -> None:
    fieldmanager._REMEMBERED.clear()
    records = [_created(_pod(f"web-{i}"))["metadata"]["managedFields"] for i in range(3)]
    fieldmanager._REMEMBERED.clear()
    assert records == [_created(_pod(f"web-{i}"))["metadata"]["managedFields"] for i in range(3)]
    fields = records[0][0]["fieldsV1"]
    assert fields["f:spec"]["f:containers"]['k:{"name":"web"}']["f:image"] == {}
    assert (
        'k:{"uid":"0b5c3a0e-58a4-4f3e-9d55-7d0a3f1f6a11"}'
        in fields["f:metadata"]["f:ownerReferences"]
    )


def test_a_changed_template_is_not_served_from_the_memo() -> None:
    fieldmanager._REMEMBERED.clear()
    _created(_pod("web-1"))
    other = _pod("web-2")
    other["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    got = _created(copy.deepcopy(other))["metadata"]["managedFields"]
    fieldmanager._REMEMBERED.clear()
    assert got == _created(other)["metadata"]["managedFields"]
    assert 'k:{"name":"sidecar"}' in got[0]["fieldsV1"]["f:spec"]["f:containers"]


def test_the_memo_stays_bounded() -> None:
    fieldmanager._REMEMBERED.clear()
    for i in range(fieldmanager._REMEMBERED_LIMIT + 10):
        _created(_pod(f"web-{i}", image=f"web:{i}"))
    assert len(fieldmanager._REMEMBERED) <= fieldmanager._REMEMBERED_LIMIT


JSON_SCALAR = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "a", "1"])
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "name", "image"]), inner, max_size=3)
    ),
    max_leaves=8,
)
TOP = st.sampled_from(["apiVersion", "kind", "metadata", "spec", "status", "extra"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    lhs=st.dictionaries(TOP, JSON, max_size=4),
    rhs=st.dictionaries(TOP, JSON, max_size=4),
    spec=st.sampled_from([None, "golden"]),
)
def test_remembering_never_changes_a_comparison(
    lhs: dict[str, Any], rhs: dict[str, Any], spec: str | None
) -> None:
    if spec == "golden":
        rhs["spec"] = _pod("x")["spec"]
    for _ in range(2):  # the second time from the memo
        assert _same(compare(lhs, rhs, POD, remember=True), compare(lhs, rhs, POD))
    assert _same(compare(MISSING, rhs, POD, remember=True), compare(MISSING, rhs, POD))


def _walked(obj: dict[str, Any], schema: Any = POD, now: str = "2026-01-01T00:00:00Z") -> Any:
    """What record_update's walk records for a create, the shape memo left out."""
    return fieldmanager._record_update(None, obj, "kube-scheduler", schema, "v1", now, "", None)[
        "metadata"
    ].get("managedFields")


def _memoised(obj: dict[str, Any], schema: Any = POD, now: str = "2026-01-01T00:00:00Z") -> Any:
    return record_update(None, obj, "kube-scheduler", schema=schema, api_version="v1", now=now)[
        "metadata"
    ].get("managedFields")


def test_a_create_of_a_known_shape_records_what_the_walk_records() -> None:
    fieldmanager._CREATES.clear()
    first = _memoised(_pod("web-1"))
    # Another pod of the template: from the memo, with its own time.
    second = _memoised(_pod("web-2"), now="2026-01-01T00:00:09Z")
    assert second == _walked(_pod("web-2"), now="2026-01-01T00:00:09Z")
    assert second[0]["time"] == "2026-01-01T00:00:09Z"
    assert first[0]["time"] == "2026-01-01T00:00:00Z"
    assert len(fieldmanager._CREATES) == 1
    # A list item's key is a value: another container name is another shape.
    renamed = _pod("web-3")
    renamed["spec"]["containers"][0]["name"] = "api"
    got = _memoised(renamed)
    assert got == _walked(renamed)
    assert 'k:{"name":"api"}' in got[0]["fieldsV1"]["f:spec"]["f:containers"]
    # A null is a shape of its own (a map field set to null is owned as a leaf).
    nulled = _pod("web-4")
    nulled["metadata"]["labels"] = None
    assert _memoised(nulled) == _walked(nulled)


def test_events_of_one_kind_share_a_memo_entry() -> None:
    event_type = field_type("", "v1", "Event")
    fieldmanager._CREATES.clear()

    def event(i: int) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"p{i}.{i:x}", "namespace": "default", "uid": new_uid()},
            "involvedObject": {"kind": "Pod", "name": f"p{i}", "uid": new_uid()},
            "reason": "Scheduled",
            "message": f"Successfully assigned default/p{i} to n{i}",
            "type": "Normal",
            "eventTime": "2026-01-01T00:00:00.000001Z",
        }

    records = [_memoised(event(i), event_type) for i in range(3)]
    assert len(fieldmanager._CREATES) == 1
    assert records == [_walked(event(i), event_type) for i in range(3)]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(objs=st.lists(st.dictionaries(TOP, JSON, max_size=4), min_size=1, max_size=4))
def test_the_create_memo_never_changes_a_record(objs: list[dict[str, Any]]) -> None:
    """Random objects, then the same shapes with other values: memo and walk agree."""

    def revalued(value: Any) -> Any:  # other scalars outside lists, the same shape
        if isinstance(value, dict):
            return {k: revalued(v) for k, v in value.items()}
        if isinstance(value, list) or value is None:
            return value
        return 7 if isinstance(value, str) else "other"

    fieldmanager._CREATES.clear()
    for obj in objs:
        obj.pop("metadata", None)
        obj["metadata"] = {"name": "x"}
        for variant in (obj, obj, revalued(obj)):  # the second and third from the memo
            assert _memoised(copy.deepcopy(variant)) == _walked(copy.deepcopy(variant))


def test_the_golden_pod_compares_the_same_remembered(shared_testdata: Path) -> None:
    """Upstream's fixture Pod: every field of the kind, lists keyed and atomic."""
    obj = json.loads((shared_testdata / "k8s-api" / "core.v1.Pod.json").read_text())
    zero = POD.zero()
    for _ in range(2):
        assert _same(compare(zero, obj, POD, remember=True), compare(zero, obj, POD))


def test_uids_are_random_version_4_and_distinct() -> None:
    uids = [new_uid() for _ in range(2000)]
    assert len(set(uids)) == len(uids)
    for text in uids[:300]:
        assert UID.match(text), text
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_the_timestamp_is_rfc3339_utc_whole_seconds_and_current() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    stamp = now_rfc3339()
    after = dt.datetime.now(dt.UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert before <= when <= after


def test_a_quantity_parsed_again_is_the_same_value_and_bad_text_still_fails() -> None:
    assert quantity.parse("500Mi") == quantity.parse("500Mi")
    assert str(quantity.parse("100m")) == "100m"
    assert str(quantity.parse("0.1")) == "100m"
    for _ in range(2):
        with pytest.raises(quantity.QuantityError):
            quantity.parse("12x")


def test_a_binding_changes_its_copy_and_never_the_pod_read() -> None:
    """The binding's copy shares what it does not change with the pod read (the watch
    cache's): the node, annotations and condition land in the copy alone."""
    pod = _pod("web-1")
    pod["status"] = {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]}
    before = copy.deepcopy(pod)
    bound = _binding_copy(pod)
    bound["spec"]["nodeName"] = "node-1"
    bound["metadata"]["annotations"] = {"a": "b"}
    _set_pod_condition(bound, {"type": "PodScheduled", "status": "True"})
    _set_pod_condition(bound, {"type": "Ready", "status": "True"})
    assert pod == before
    assert bound["spec"]["nodeName"] == "node-1"
    assert [c["type"] for c in bound["status"]["conditions"]] == ["Ready", "PodScheduled"]
    assert bound["spec"]["containers"] is pod["spec"]["containers"]  # shared, not copied


def test_kube_server_answers_expect_100_continue_before_the_body(
    cluster: Cluster,
) -> None:
    """curl sends `Expect: 100-continue` before a large body and waits for the interim
    answer: the server (aiohttp's low-level server, no Application) still gives it."""
    info = load_kubeconfig(cluster.kubeconfig)
    url = urlsplit(info.server)
    body = json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "expect-continue"}}
    ).encode()
    head = (
        f"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\nConnection: close\r\n\r\n"
    ).encode()
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        info.ssl_context().wrap_socket(raw, server_hostname=url.hostname) as tls,
    ):
        tls.sendall(head)
        assert tls.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        tls.sendall(body)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b'"name":"expect-continue"' in answer


def test_fieldsv1_documents_of_shared_subtrees_are_written_as_before(
    shared_testdata: Path,
) -> None:
    """FieldsV1 documents kept per top-level subtree read exactly as written afresh, for
    sets that share subtrees (pods of one template) and sets that do not."""
    obj = json.loads((shared_testdata / "k8s-api" / "core.v1.Pod.json").read_text())
    zero = POD.zero()
    fresh = compare(zero, obj, POD).added
    for _ in range(2):
        remembered = compare(zero, obj, POD, remember=True).added
        assert remembered.to_json() == fresh._emit(include_self=False)
        assert remembered.to_json() == fresh.to_json()
    records = [_created(_pod(f"web-{i}"))["metadata"]["managedFields"] for i in range(3)]
    assert records[0][0]["fieldsV1"]["f:spec"] == records[2][0]["fieldsV1"]["f:spec"]
    assert (
        fieldpath.FieldSet.from_json(records[1][0]["fieldsV1"]).to_json()
        == (records[1][0]["fieldsV1"])
    )
