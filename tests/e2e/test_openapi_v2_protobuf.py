"""`/openapi/v2` as gnostic protobuf, and what kubectl does with it.

kubectl validates a create-only kind (TokenReview has no PATCH operation, so the OpenAPI v3
documents cannot say whether the server validates fields) by falling back to the v2 document,
which it asks for as protobuf only; it then validates on the client side with that document.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from kubernetes import client, config

from kube._generated.gnostic import openapiv2_pb2 as pb
from tests.e2e.conftest import Cluster

PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

TOKEN_REVIEW = """\
apiVersion: authentication.k8s.io/v1
kind: TokenReview
spec:
  token: not-a-token
"""


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with client.ApiClient(
        config.new_client_from_config(str(cluster.kubeconfig)).configuration
    ) as api:
        yield api


def get_v2(api: client.ApiClient, accept: str) -> tuple[int, dict[str, str], bytes]:
    url = f"{api.configuration.host}/openapi/v2"
    response = api.call_api("GET", url, header_params={"Accept": accept})
    return response.status, dict(response.getheaders()), response.read()


def test_create_of_a_token_review_validates_and_succeeds(cluster: Cluster) -> None:
    created = cluster.kubectl("create", "-f", "-", "-o", "json", input=TOKEN_REVIEW)
    review = orjson.loads(created.stdout)
    assert review["kind"] == "TokenReview"
    assert review["status"]["authenticated"] is False


def test_an_unknown_field_of_a_token_review_is_refused_by_kubectl(cluster: Cluster) -> None:
    bad = TOKEN_REVIEW + "  foo: bar\n"
    for validate in ("--validate=strict", "--validate=true"):
        refused = cluster.kubectl("create", "-f", "-", validate, input=bad, check=False)
        assert refused.returncode == 1
        assert (
            'error validating data: ValidationError(TokenReview.spec): unknown field "foo" in '
            "io.k8s.api.authentication.v1.TokenReviewSpec" in refused.stderr
        ), refused.stderr
    ignored = cluster.kubectl("create", "-f", "-", "--validate=false", "-o", "name", input=bad)
    assert ignored.stdout.startswith("tokenreview.authentication.k8s.io/")


def test_the_protobuf_document_decodes_with_the_pod_definition(api: client.ApiClient) -> None:
    status, headers, body = get_v2(api, PROTOBUF_ACCEPT)
    assert status == 200
    assert headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert headers["Vary"] == "Accept"
    doc = pb.Document.FromString(body)
    assert doc.swagger == "2.0"
    assert doc.info.title == "Kubernetes"
    definitions = {d.name: d.value for d in doc.definitions.additional_properties}
    pod = definitions["io.k8s.api.core.v1.Pod"]
    assert list(pod.type.value) == ["object"]
    extensions = {e.name: e.value.yaml for e in pod.vendor_extension}
    gvk = orjson.loads(extensions["x-kubernetes-group-version-kind"])
    assert gvk == [{"group": "", "kind": "Pod", "version": "v1"}]
    properties = {p.name: p.value for p in pod.properties.additional_properties}
    assert properties["spec"]._ref == "#/definitions/io.k8s.api.core.v1.PodSpec"

    paths = {p.name: p.value for p in doc.paths.path}
    patch = paths["/api/v1/namespaces/{name}"].patch
    query = [
        p.parameter.non_body_parameter.query_parameter_sub_schema.name for p in patch.parameters
    ]
    assert "fieldValidation" in query
    body_params = [p.parameter.body_parameter for p in patch.parameters]
    assert any(b.name == "body" and b.required for b in body_params)


def test_json_stays_the_default_with_the_same_etag(api: client.ApiClient) -> None:
    status, json_headers, body = get_v2(api, "application/json")
    assert status == 200
    assert json_headers["Content-Type"] == "application/json"
    assert orjson.loads(body)["swagger"] == "2.0"
    _, proto_headers, _ = get_v2(api, PROTOBUF_ACCEPT)
    assert json_headers["ETag"] == proto_headers["ETag"]  # one content, as upstream
    status, _, _ = get_v2(api, "text/html")
    assert status == 406
