"""The watch cache's objects share equal managedFields documents, and nothing a client sees
changes: the same JSON, and no object changed through another's document."""

from __future__ import annotations

import copy
import gc
import tracemalloc
from typing import Any

import orjson

from kube.apiserver.sharedfields import SharedFields
from kube.codec import yamlc
from kube.storage.backend import KeyValue


def _pod(name: str, image: str = "pause:3.10") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "managedFields": [
                {
                    "manager": "kube-controller-manager",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2026-11-24T08:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"c"}': {".": {}, "f:image": {}, "f:name": {}}
                            }
                        }
                    },
                },
                {
                    "manager": "kubelet",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": f"2026-11-24T08:00:0{len(name) % 10}Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:phase": {}, "f:podIP": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {"containers": [{"name": "c", "image": image}]},
    }


def _decoded(shared: SharedFields, obj: dict[str, Any], revision: int = 7) -> dict[str, Any]:
    kv = KeyValue(f"/registry/pods/default/{obj['metadata']['name']}", orjson.dumps(obj), 1, 1)
    return shared.decoding(lambda kv: orjson.loads(kv.value))(kv)


def test_equal_documents_are_one_object_and_the_json_is_unchanged() -> None:
    shared = SharedFields()
    pods = [_pod(f"web-{i}") for i in range(3)]
    decoded = [_decoded(shared, p) for p in pods]
    first, second = (d["metadata"]["managedFields"] for d in decoded[:2])
    assert first[0]["fieldsV1"] is second[0]["fieldsV1"]
    assert first[1]["fieldsV1"] is second[1]["fieldsV1"]
    for original, got in zip(pods, decoded, strict=True):
        assert orjson.dumps(got) == orjson.dumps(original)


def test_different_documents_stay_apart() -> None:
    shared = SharedFields()
    a = _decoded(shared, _pod("a"))
    other = _pod("b")
    other["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:containers"] = {
        'k:{"name":"d"}': {".": {}}
    }
    b = _decoded(shared, copy.deepcopy(other))
    fields_a = a["metadata"]["managedFields"][0]["fieldsV1"]
    fields_b = b["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields_a is not fields_b
    assert fields_b == other["metadata"]["managedFields"][0]["fieldsV1"]


def test_objects_without_managed_fields_pass_through() -> None:
    shared = SharedFields()
    for obj in ({"metadata": {"name": "x"}}, {"metadata": {"managedFields": None}}, {}):
        assert shared.share(copy.deepcopy(obj)) == obj


def test_the_memo_is_bounded() -> None:
    shared = SharedFields(kept=4)
    for i in range(10):
        _decoded(shared, _pod("p", image=f"i{i}") | {"x": i})
        pod = _pod("p")
        pod["metadata"]["managedFields"][0]["fieldsV1"] = {f"f:n{i}": {}}
        _decoded(shared, pod)
    assert len(shared._documents) <= 4


def test_a_thousand_pods_of_one_template_keep_one_copy_of_their_documents() -> None:
    raw = [orjson.dumps(_pod(f"web-{i}")) for i in range(1000)]

    def kept(decode: Any) -> int:
        gc.collect()
        tracemalloc.start()
        objs = [decode(r) for r in raw]
        gc.collect()
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del objs
        return size

    shared = SharedFields()
    plain = kept(orjson.loads)
    interned = kept(lambda r: shared.share(orjson.loads(r)))
    assert interned < plain * 0.75


def test_yaml_writes_shared_documents_in_full() -> None:
    """kubectl -o yaml of two pods sharing a document: no anchors or aliases."""
    shared = SharedFields()
    pods = [_decoded(shared, _pod(f"web-{i}")) for i in range(2)]
    text = yamlc.dumps({"items": pods}).decode()
    assert "&id" not in text
    assert "*id" not in text
    assert text.count("f:image") == 2
