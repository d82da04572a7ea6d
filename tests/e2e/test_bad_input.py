"""Bad input never writes and never crashes: raw HTTPS requests against the real `kube server`.

Each case sends one malformed request with the admin client certificate and checks what a
client sees: the HTTP code, a `Status` with upstream's reason and message, nothing written
(the objects the case could have touched are as they were), and the server still ready.

Every case states upstream's code, reason and message and is compared with them exactly,
except the few in `UNCOMPARED`, whose message carries the object itself: there the part that
does not depend on it is checked.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlparse

import pytest

from kube.auth.kubeconfig import load_kubeconfig
from tests.e2e.conftest import Cluster

NS = "e2e-bad-input"
CM = f"/api/v1/namespaces/{NS}/configmaps"
SEED = f"{CM}/seed"
PODS = f"/api/v1/namespaces/{NS}/pods"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
SERVICES = f"/api/v1/namespaces/{NS}/services"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
LIMIT = 3 * 1024 * 1024

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"

FIND_KIND = (
    'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
    'Kind string "json:\\"kind,omitempty\\"" }'
)
REJECTED_422 = "the server rejected our request due to an error in our request"


class Raw:
    """HTTPS requests as they are written, with the admin client certificate."""

    def __init__(self, cluster: Cluster) -> None:
        info = load_kubeconfig(cluster.kubeconfig)
        url = urlparse(info.server)
        assert url.hostname is not None
        assert url.port is not None
        self.host, self.port = url.hostname, url.port
        self.context = info.ssl_context()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        *,
        chunked: bool = False,
    ) -> tuple[int, Any]:
        """The status and the decoded JSON body (bytes when it is not JSON)."""
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=30)
        try:
            conn.putrequest(method, path)
            if content_type is not None:
                conn.putheader("Content-Type", content_type)
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            elif body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders()
            # The server may answer before reading everything (413): then read its answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._send(conn, body or b"", chunked)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, data

    @staticmethod
    def _send(conn: http.client.HTTPSConnection, body: bytes, chunked: bool) -> None:
        step = 256 * 1024
        for start in range(0, len(body), step):
            part = body[start : start + step]
            conn.send(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        if chunked:
            conn.send(b"0\r\n\r\n")


@pytest.fixture(scope="module")
def raw(cluster: Cluster) -> Raw:
    client = Raw(cluster)
    status, _ = client.request(
        "POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": NS}}).encode(), JSON
    )
    assert status == 201
    seed = {"metadata": {"name": "seed"}, "data": {"a": "1"}}
    status, _ = client.request("POST", CM, json.dumps(seed).encode(), JSON)
    assert status == 201
    return client


def configmap(name: str = "x", **fields: Any) -> bytes:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **fields}
    return json.dumps(body).encode()


def summary(body: bytes) -> str:
    """upstream's summarizeData(body, 30): JSON text or hex, cut at 30 bytes."""
    head = body[:30]
    text = head.decode() if body.startswith(b"{") else head.hex()
    return text + (" ..." if len(body) > 30 else "")


def unrecognized(body: bytes, why: str) -> str:
    """upstream's transformDecodeError for a body whose kind it could not read."""
    return (
        f"the object provided is unrecognized (must be of type ConfigMap): {why} ({summary(body)})"
    )


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    path: str
    body: bytes | None
    content_type: str | None
    code: int  # upstream's
    reason: str  # upstream's
    message: str  # upstream's
    part: str = ""  # for UNCOMPARED cases: the part of the message that must be there
    chunked: bool = False


TRUNCATED_JSON = configmap()[:-10]
BAD_YAML = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n"
PB_GARBAGE = b"\x01\x02garbage"
PB_ENVELOPE = b"k8s\x01\x0a\x02v1"
# runtime.Unknown with typeMeta {v1, ConfigMap} and a raw field that claims 32 bytes, has 2.
PB_TRUNCATED = b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x20\x0a\x05"
PB_PREFIX = "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
BIG = configmap("big", data={"a": "x" * LIMIT})
WRONG_VERSION_CONTINUE = (
    base64.urlsafe_b64encode(b'{"v":"x","rv":1,"start":"a"}').decode().rstrip("=")
)

CASES = [
    # -- bodies that do not decode -----------------------------------------------------
    Case(
        "json-truncated",
        "POST",
        CM,
        TRUNCATED_JSON,
        JSON,
        400,
        "BadRequest",
        unrecognized(
            TRUNCATED_JSON,
            "couldn't get version/kind; json parse error: unexpected end of JSON input",
        ),
    ),
    Case(
        "json-bad-character",
        "POST",
        CM,
        b'{"apiVersion":"v1" "kind":"ConfigMap"}',
        JSON,
        400,
        "BadRequest",
        unrecognized(
            b'{"apiVersion":"v1" "kind":"ConfigMap"}',
            "couldn't get version/kind; json parse error: invalid character '\"' after object "
            "key:value pair",
        ),
    ),
    Case(
        "json-not-an-object",
        "POST",
        CM,
        b'["a"]',
        JSON,
        400,
        "BadRequest",
        unrecognized(
            b'["a"]',
            "couldn't get version/kind; json parse error: json: cannot unmarshal array into Go "
            f"value of type {FIND_KIND}",
        ),
    ),
    Case(
        "yaml",
        "POST",
        CM,
        BAD_YAML,
        YAML,
        400,
        "BadRequest",
        unrecognized(
            BAD_YAML,
            "error converting YAML to JSON: yaml: line 3: did not find expected ',' or ']'",
        ),
    ),
    Case(
        "protobuf-garbage",
        "POST",
        CM,
        PB_GARBAGE,
        PROTOBUF,
        400,
        "BadRequest",
        unrecognized(PB_GARBAGE, PB_PREFIX),
    ),
    Case(
        "protobuf-wrong-envelope",
        "POST",
        CM,
        PB_ENVELOPE,
        PROTOBUF,
        400,
        "BadRequest",
        unrecognized(PB_ENVELOPE, PB_PREFIX),
    ),
    Case(
        "protobuf-truncated",
        "POST",
        CM,
        PB_TRUNCATED,
        PROTOBUF,
        400,
        "BadRequest",
        unrecognized(PB_TRUNCATED, "unexpected EOF"),
    ),
    # -- bodies for another URL ----------------------------------------------------------
    Case(
        # The body decodes as a v1.Secret (its kind is read), which has no conversion into the
        # URL's type: transformDecodeError's "cannot be handled as" form, not "unrecognized"
        # (that one is for bodies whose kind cannot be read at all).
        "wrong-kind",
        "POST",
        CM,
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).encode(),
        JSON,
        400,
        "BadRequest",
        'Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to '
        "(core.ConfigMap): unknown conversion",
    ),
    Case(
        "wrong-api-version",
        "POST",
        CM,
        json.dumps(
            {"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
        ).encode(),
        JSON,
        400,
        "BadRequest",
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: no kind "ConfigMap" is '
        'registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"',
    ),
    Case(
        "kind-not-served",
        "POST",
        CM,
        json.dumps({"apiVersion": "v1", "kind": "configmap", "metadata": {"name": "x"}}).encode(),
        JSON,
        400,
        "BadRequest",
        'configmap in version "v1" cannot be handled as a ConfigMap: no kind "configmap" is '
        'registered for version "v1" in scheme "pkg/api/legacyscheme/scheme.go:30"',
    ),
    # -- values of the wrong type for the kind's Go struct ------------------------------------
    Case(
        "configmap-data-bool",
        "POST",
        CM,
        configmap(data={"a": True}),
        JSON,
        400,
        "BadRequest",
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "bool into Go struct field ConfigMap.data of type string",
    ),
    Case(
        "configmap-data-number-yaml",
        "POST",
        CM,
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {port: 8080}\n",
        YAML,
        400,
        "BadRequest",
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "number into Go struct field ConfigMap.data of type string",
    ),
    Case(
        "configmap-data-not-a-map",
        "POST",
        CM,
        configmap(data="a=1"),
        JSON,
        400,
        "BadRequest",
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "string into Go struct field ConfigMap.data of type map[string]string",
    ),
    Case(
        "labels-number",
        "PUT",
        SEED,
        json.dumps({"metadata": {"name": "seed", "labels": {"a": 1}}}).encode(),
        JSON,
        400,
        "BadRequest",
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal '
        "number into Go struct field ObjectMeta.metadata.labels of type string",
    ),
    Case(
        "secret-data-not-base64",
        "POST",
        SECRETS,
        json.dumps({"metadata": {"name": "x"}, "data": {"a": "YQ="}}).encode(),
        JSON,
        400,
        "BadRequest",
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    ),
    Case(
        "deployment-replicas-string",
        "POST",
        DEPLOYMENTS,
        json.dumps({"metadata": {"name": "x"}, "spec": {"replicas": "3"}}).encode(),
        JSON,
        400,
        "BadRequest",
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "string into Go struct field DeploymentSpec.spec.replicas of type int32",
    ),
    Case(
        "service-port-string",
        "POST",
        SERVICES,
        json.dumps({"metadata": {"name": "x"}, "spec": {"ports": [{"port": "80"}]}}).encode(),
        JSON,
        400,
        "BadRequest",
        'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string '
        "into Go struct field ServicePort.spec.ports.port of type int32",
    ),
    Case(
        "put-name-mismatch",
        "PUT",
        SEED,
        configmap("other"),
        JSON,
        400,
        "BadRequest",
        "the name of the object (other) does not match the name on the URL (seed)",
    ),
    Case(
        "put-namespace-mismatch",
        "PUT",
        SEED,
        json.dumps({"metadata": {"name": "seed", "namespace": "default"}}).encode(),
        JSON,
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    ),
    Case(
        "post-namespace-mismatch",
        "POST",
        CM,
        json.dumps({"metadata": {"name": "x", "namespace": "default"}}).encode(),
        JSON,
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
    ),
    # -- query parameters ------------------------------------------------------------------
    Case(
        "label-selector",
        "GET",
        f"{CM}?labelSelector={quote('a in (b')}",
        None,
        None,
        400,
        "BadRequest",
        "unable to parse requirement: found '', expected: ',' or ')'",
    ),
    Case(
        "label-selector-operator",
        "GET",
        f"{CM}?labelSelector={quote('!!')}",
        None,
        None,
        400,
        "BadRequest",
        "unable to parse requirement: found '!', expected: identifier",
    ),
    Case(
        "field-selector-no-operator",
        "GET",
        f"{CM}?fieldSelector=metadata.name",
        None,
        None,
        400,
        "BadRequest",
        "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
    ),
    Case(
        "field-selector-unsupported-configmap",
        "GET",
        f"{CM}?fieldSelector={quote('data.a=1')}",
        None,
        None,
        400,
        "BadRequest",
        '"data.a" is not a known field selector: only "metadata.name", "metadata.namespace"',
    ),
    Case(
        "field-selector-unsupported-pod",
        "GET",
        f"{PODS}?fieldSelector={quote('spec.foo=x')}",
        None,
        None,
        400,
        "BadRequest",
        "field label not supported: spec.foo",
    ),
    Case(
        "continue-malformed",
        "GET",
        f"{CM}?limit=1&continue=garbage!!",
        None,
        None,
        400,
        "BadRequest",
        "invalid continue token: continue key is not valid: illegal base64 data at input byte 7",
    ),
    Case(
        "continue-wrong-version",
        "GET",
        f"{CM}?limit=1&continue={WRONG_VERSION_CONTINUE}",
        None,
        None,
        400,
        "BadRequest",
        "invalid continue token: continue key is not valid: server does not recognize this "
        'encoded version "x"',
    ),
    Case(
        "watch-timeout-not-a-number",
        "GET",
        f"{CM}?watch=true&timeoutSeconds=abc",
        None,
        None,
        400,
        "BadRequest",
        'strconv.ParseInt: parsing "abc": invalid syntax',
    ),
    Case(
        "continue-not-json",
        "GET",
        f"{CM}?limit=1&continue={base64.urlsafe_b64encode(b'{x').decode().rstrip('=')}",
        None,
        None,
        400,
        "BadRequest",
        "invalid continue token: continue key is not valid: invalid character 'x' looking for "
        "beginning of object key string",
    ),
    Case(
        "limit-not-a-number",
        "GET",
        f"{CM}?limit=abc",
        None,
        None,
        400,
        "BadRequest",
        'strconv.ParseInt: parsing "abc": invalid syntax',
    ),
    Case(
        "grace-period-not-a-number",
        "DELETE",
        f"{SEED}?gracePeriodSeconds=soon",
        None,
        None,
        400,
        "BadRequest",
        'strconv.ParseInt: parsing "soon": invalid syntax',
    ),
    # -- patches -------------------------------------------------------------------------
    Case(
        "json-patch-not-a-list",
        "PATCH",
        SEED,
        b'{"op":"add","path":"/data/b","value":"2"}',
        JSON_PATCH,
        400,
        "BadRequest",
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
    ),
    Case(
        "json-patch-bad-op",
        "PATCH",
        SEED,
        b'[{"op":"frob","path":"/data/a"}]',
        JSON_PATCH,
        422,
        "Invalid",
        REJECTED_422,
    ),
    Case(
        "json-patch-bad-path",
        "PATCH",
        SEED,
        b'[{"op":"remove","path":"/data/zzz"}]',
        JSON_PATCH,
        422,
        "Invalid",
        REJECTED_422,
    ),
    Case(
        "json-patch-test-fails",
        "PATCH",
        SEED,
        b'[{"op":"test","path":"/data/a","value":"2"},{"op":"add","path":"/data/b","value":"3"}]',
        JSON_PATCH,
        422,
        "Invalid",
        REJECTED_422,
    ),
    Case(
        "json-patch-not-json",
        "PATCH",
        SEED,
        b"[{",
        JSON_PATCH,
        400,
        "BadRequest",
        "unexpected end of JSON input",
    ),
    Case(
        "json-patch-wrong-type",
        "PATCH",
        SEED,
        b'[{"op":"replace","path":"/data/a","value":5}]',
        JSON_PATCH,
        422,
        "Invalid",
        ' "" is invalid: patch: Invalid value: "{...}": json: cannot unmarshal number into Go '
        "struct field ConfigMap.data of type string",
        part="json: cannot unmarshal number into Go struct field ConfigMap.data of type string",
    ),
    Case(
        "merge-patch-not-an-object",
        "PATCH",
        SEED,
        b'"x"',
        MERGE_PATCH,
        400,
        "BadRequest",
        "Invalid JSON Patch",
    ),
    Case(
        "merge-patch-not-json",
        "PATCH",
        SEED,
        b"{",
        MERGE_PATCH,
        400,
        "BadRequest",
        "Invalid JSON Patch",
    ),
    Case(
        "strategic-patch-not-an-object",
        "PATCH",
        SEED,
        b"[]",
        STRATEGIC_PATCH,
        400,
        "BadRequest",
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    ),
    Case(
        # upstream answers this one 500 with no reason (strategicpatch's plain error); this
        # server answers it as the client's error, in upstream's words.
        "strategic-patch-bad-directive",
        "PATCH",
        SEED,
        b'{"data":{"$patch":"frob"}}',
        STRATEGIC_PATCH,
        422,
        "Invalid",
        "unknown patch type: frob in map: map[$patch:frob]",
    ),
    # -- sizes, media types, methods, paths -------------------------------------------------
    Case(
        "too-large",
        "POST",
        CM,
        BIG,
        JSON,
        413,
        "RequestEntityTooLarge",
        f"Request entity too large: limit is {LIMIT}",
    ),
    Case(
        "too-large-chunked",
        "POST",
        CM,
        BIG,
        JSON,
        413,
        "RequestEntityTooLarge",
        f"Request entity too large: limit is {LIMIT}",
        chunked=True,
    ),
    Case(
        "unsupported-media-type",
        "POST",
        CM,
        configmap(),
        "text/plain",
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf",
    ),
    Case(
        "unknown-method",
        "TRACE",
        CM,
        None,
        None,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ),
    Case(
        "post-to-a-name",
        "POST",
        SEED,
        configmap("seed"),
        JSON,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ),
    Case(
        "put-to-a-collection",
        "PUT",
        CM,
        configmap(),
        JSON,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ),
    Case(
        # Namespaces have no deletecollection: upstream installs no DELETE route on the
        # collection, so its router answers.
        "delete-all-namespaces",
        "DELETE",
        "/api/v1/namespaces",
        None,
        None,
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ),
    Case(
        "unknown-resource",
        "GET",
        f"/api/v1/namespaces/{NS}/widgets",
        None,
        None,
        404,
        "NotFound",
        "the server could not find the requested resource",
    ),
    Case(
        "unknown-group",
        "POST",
        f"/apis/example.com/v1/namespaces/{NS}/widgets",
        b"{}",
        JSON,
        404,
        "NotFound",
        "the server could not find the requested resource",
    ),
]

# Cases whose message carries the object (upstream quotes the patched object): `part` is
# compared instead.
UNCOMPARED = {"json-patch-wrong-type"}


# The names the cases' bodies and URLs carry (controllers write others, such as
# kube-root-ca.crt, into every namespace on their own).
NAMES = ("seed", "x", "big", "other")


def names_touched(raw: Raw) -> dict[str, Any]:
    """What the cases could have written: those names here and in default, and their pods."""
    seen: dict[str, Any] = {}
    for path in (CM, "/api/v1/namespaces/default/configmaps", PODS, SECRETS, DEPLOYMENTS, SERVICES):
        status, body = raw.request("GET", path)
        assert status == 200, body
        for item in body["items"]:
            meta = item["metadata"]
            if meta["name"] in NAMES:
                seen[f"{path}/{meta['name']}"] = (meta["resourceVersion"], item.get("data"))
    return seen


def check_status(body: Any, code: int) -> dict[str, Any]:
    assert isinstance(body, dict), body
    assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure")
    assert body["code"] == code
    return body


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_without_writing(raw: Raw, case: Case) -> None:
    before = names_touched(raw)
    status, body = raw.request(
        case.method, case.path, case.body, case.content_type, chunked=case.chunked
    )
    assert 400 <= status < 500, body
    status_body = check_status(body, status)
    if case.id in UNCOMPARED:
        assert case.part in status_body["message"]
        assert (status, status_body["reason"]) == (case.code, case.reason)
    else:
        assert (status, status_body["reason"], status_body["message"]) == (
            case.code,
            case.reason,
            case.message,
        )
    assert names_touched(raw) == before
    assert raw.request("GET", "/readyz") == (200, b"ok")


def test_the_seed_is_untouched(raw: Raw) -> None:
    """After every bad request, the object they aimed at reads as it was written."""
    status, body = raw.request("GET", SEED)
    assert status == 200
    assert body["data"] == {"a": "1"}
    assert "deletionTimestamp" not in body["metadata"]
