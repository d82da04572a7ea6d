"""apps/v1 defaults against upstream's pkg/apis/apps/v1/defaults_test.go cases."""

from __future__ import annotations

from typing import Any

from kube.api.defaults import default

TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "schedulerName": "default-scheduler",
}


def defaulted(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "web"}, "spec": spec}
    default("apps", "v1", kind, obj)
    result: dict[str, Any] = obj["spec"]
    return result


def test_deployment() -> None:
    assert defaulted("Deployment", {}) == {
        "replicas": 1,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "template": {"spec": TEMPLATE_SPEC_DEFAULTS},
    }


def test_deployment_keeps_what_is_set() -> None:
    spec = defaulted(
        "Deployment",
        {
            "replicas": 0,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "revisionHistoryLimit": 0,
            "progressDeadlineSeconds": 30,
        },
    )
    assert spec["replicas"] == 0
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": "25%"}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (0, 30)
    recreate = defaulted("Deployment", {"strategy": {"type": "Recreate"}})
    assert recreate["strategy"] == {"type": "Recreate"}


def test_replica_set() -> None:
    assert defaulted("ReplicaSet", {}) == {
        "replicas": 1,
        "template": {"spec": TEMPLATE_SPEC_DEFAULTS},
    }


def test_daemon_set() -> None:
    assert defaulted("DaemonSet", {}) == {
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
        },
        "revisionHistoryLimit": 10,
        "template": {"spec": TEMPLATE_SPEC_DEFAULTS},
    }
    assert defaulted("DaemonSet", {"updateStrategy": {"type": "OnDelete"}})["updateStrategy"] == {
        "type": "OnDelete"
    }


def test_stateful_set() -> None:
    spec = defaulted(
        "StatefulSet",
        {
            "serviceName": "web",
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    )
    assert spec == {
        "serviceName": "web",
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "template": {"spec": TEMPLATE_SPEC_DEFAULTS},
        "volumeClaimTemplates": [
            {
                "metadata": {"name": "data"},
                "spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
                "status": {"phase": "Pending"},
            }
        ],
    }


def test_stateful_set_keeps_set_strategies() -> None:
    on_delete = defaulted("StatefulSet", {"updateStrategy": {"type": "OnDelete"}})
    assert on_delete["updateStrategy"] == {"type": "OnDelete"}
    rolling = defaulted("StatefulSet", {"updateStrategy": {"type": "RollingUpdate"}})
    assert rolling["updateStrategy"] == {"type": "RollingUpdate"}  # upstream adds no partition here
    partitioned = defaulted(
        "StatefulSet", {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {}}}
    )
    assert partitioned["updateStrategy"]["rollingUpdate"] == {"partition": 0}
