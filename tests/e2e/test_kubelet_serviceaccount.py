"""A pod's API credentials end to end: admission adds the `kube-api-access-*` volume, the
kubelet fills it (a bound token from TokenRequest, the cluster CA from `kube-root-ca.crt`,
the namespace) and the container reads it.

The pod cannot call the API server itself (it listens on 127.0.0.1, outside the pod's network
namespace), so the test hands the token the pod read to a TokenReview. Reuses the `node`
fixture of test_kubelet.py, which makes the `default` account and the root CA ConfigMap.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e import test_kubelet
from tests.e2e.conftest import KUBECTL
from tests.e2e.test_kubelet import IMAGE, Node, _pod, _ready_node, _running, _wait_for

node = test_kubelet.node  # the module-scoped fixture: a server, a runtime and a kubelet

pytestmark = pytest.mark.slow

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _read(node: Node, pod: str, path: str) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(node.kubeconfig), "exec", pod, "--", "cat", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_pod_reads_its_token_namespace_and_ca(node: Node) -> None:
    _wait_for(lambda: _ready_node(node), 30, "node Ready")
    container = {"name": "app", "image": IMAGE, "command": ["sleep", "3600"]}
    node.kubectl(
        "apply",
        "-f",
        "-",
        input=_pod("creds", node.name, container, terminationGracePeriodSeconds=1),
    )
    pod = _wait_for(lambda: _running(node, "creds"), 60, "pod creds Running")
    assert pod["spec"]["serviceAccountName"] == "default"
    assert pod["spec"]["volumes"][0]["name"].startswith("kube-api-access-")
    assert _read(node, "creds", f"{TOKEN_PATH}/namespace") == "default"
    ca = (node.logs / "server" / "tls" / "ca.crt").read_text()
    assert _read(node, "creds", f"{TOKEN_PATH}/ca.crt") == ca
    token = _read(node, "creds", f"{TOKEN_PATH}/token")
    review = node.kubectl(
        "create",
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenReview",
                "spec": {"token": token},
            }
        ),
    )
    status = json.loads(review)["status"]
    assert status["authenticated"] is True
    assert status["user"]["username"] == "system:serviceaccount:default:default"
    assert status["user"]["extra"]["authentication.kubernetes.io/pod-name"] == ["creds"]
    node.kubectl("delete", "pod", "creds", "--wait=true", "--timeout=60s")
