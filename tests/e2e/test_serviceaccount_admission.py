"""ServiceAccount admission as kubectl shows it, against a `kube server` that runs its
controllers (the serviceaccount controller makes each namespace's `default` account).

`kubectl run` gets a pod whose account is `default` and whose containers mount the projected
`kube-api-access-*` volume read-only at /var/run/secrets/kubernetes.io/serviceaccount; a pod
naming a missing account is refused with upstream's 403 and nothing is stored; an account
with `automountServiceAccountToken: false` gives pods no volume.
"""

from __future__ import annotations

import json
import re

import yaml

from tests.e2e.conftest import Cluster

TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _namespace(cluster: Cluster, name: str) -> None:
    cluster.kubectl("create", "namespace", name)


def test_kubectl_run_gets_the_default_account_and_the_api_access_volume(
    cluster: Cluster,
) -> None:
    _namespace(cluster, "sa-run")  # a fresh namespace: admission waits for its account
    cluster.kubectl("run", "web", "-n", "sa-run", "--image=busybox", "--", "sleep", "3600")
    pod = yaml.safe_load(
        cluster.kubectl(
            "get", "pod", "web", "-n", "sa-run", "-o", "yaml", "--show-managed-fields"
        ).stdout
    )
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    (volume,) = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[a-z0-9]{5}", volume["name"])
    projected = volume["projected"]
    assert projected["defaultMode"] == 420
    assert projected["sources"][0] == {
        "serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}
    }
    assert projected["sources"][1]["configMap"]["name"] == "kube-root-ca.crt"
    assert projected["sources"][2]["downwardAPI"]["items"][0]["fieldRef"] == {
        "apiVersion": "v1",
        "fieldPath": "metadata.namespace",
    }
    assert spec["containers"][0]["volumeMounts"] == [
        {"name": volume["name"], "mountPath": TOKEN_PATH, "readOnly": True}
    ]
    # What kubectl applied is kubectl's; the added volume is nobody's applied field.
    managed = json.dumps(pod["metadata"]["managedFields"])
    assert "kube-api-access" not in managed
    assert "f:volumes" not in managed


def test_a_missing_account_is_forbidden_and_nothing_is_stored(cluster: Cluster) -> None:
    _namespace(cluster, "sa-missing")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "sa-missing"},
        "spec": {
            "serviceAccountName": "robot",
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }
    refused = cluster.kubectl("create", "-f", "-", input=json.dumps(pod), check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: '
        "error looking up service account sa-missing/robot: "
        'serviceaccount "robot" not found'
    )
    gone = cluster.kubectl("get", "pod", "p", "-n", "sa-missing", check=False)
    assert "NotFound" in gone.stderr
    cluster.kubectl("create", "serviceaccount", "robot", "-n", "sa-missing")
    cluster.kubectl("create", "-f", "-", input=json.dumps(pod))
    created = json.loads(
        cluster.kubectl("get", "pod", "p", "-n", "sa-missing", "-o", "json").stdout
    )
    assert created["spec"]["serviceAccountName"] == "robot"


def test_an_account_that_opts_out_gives_no_volume(cluster: Cluster) -> None:
    _namespace(cluster, "sa-optout")
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "quiet", "namespace": "sa-optout"},
        "automountServiceAccountToken": False,
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(account))
    cluster.kubectl(
        "run",
        "q",
        "-n",
        "sa-optout",
        "--image=busybox",
        "--overrides",
        json.dumps({"spec": {"serviceAccountName": "quiet"}}),
    )
    spec = json.loads(cluster.kubectl("get", "pod", "q", "-n", "sa-optout", "-o", "json").stdout)[
        "spec"
    ]
    assert spec["serviceAccountName"] == "quiet"
    assert "volumes" not in spec
    assert "volumeMounts" not in spec["containers"][0]
