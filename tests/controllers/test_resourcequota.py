"""ResourceQuota `status.used` follows what the namespace holds."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from kube.api.resources import resource
from kube.client.rest import RESTClient
from kube.controllers.resourcequota import pod_usage
from tests.controllers.conftest import controllers, eventually, set_pod_phase

NAMESPACES = resource("namespaces")
PODS = resource("pods")
QUOTAS = resource("resourcequotas")
CONFIGMAPS = resource("configmaps")


def _pod(name: str, cpu: str, memory: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "resources": {
                        "requests": {"cpu": cpu, "memory": memory},
                        "limits": {"cpu": cpu, "memory": memory},
                    },
                }
            ]
        },
    }


async def test_used_counts_pods_compute_and_objects(bare_cluster: Path, client: RESTClient) -> None:
    ns = "quota"
    await client.create(NAMESPACES, {"metadata": {"name": ns}})
    await client.create(PODS, _pod("a", "250m", "64Mi"), ns)
    await client.create(PODS, _pod("b", "500m", "128Mi"), ns)
    done = await client.create(PODS, _pod("done", "1", "1Gi"), ns)
    await set_pod_phase(client, done, "Succeeded")  # terminal pods do not count
    await client.create(
        QUOTAS,
        {
            "metadata": {"name": "compute"},
            "spec": {
                "hard": {
                    "pods": "10",
                    "requests.cpu": "2",
                    "limits.memory": "1Gi",
                    "count/configmaps": "5",
                }
            },
        },
        ns,
    )
    async with controllers(bare_cluster, "resourcequota"):

        async def used() -> Any:
            status = (await client.get(QUOTAS, "compute", ns)).get("status") or {}
            return status.get("used") if len(status.get("used") or {}) == 4 else None

        assert await eventually(used) == {
            "pods": "2",
            "requests.cpu": "750m",
            "limits.memory": "192Mi",
            "count/configmaps": "0",
        }
        await client.create(CONFIGMAPS, {"metadata": {"name": "x"}}, ns)
        await client.delete(PODS, "a", ns, grace_period_seconds=0)

        async def updated() -> bool:
            got = await used()
            return bool(got) and got["count/configmaps"] == "1" and got["pods"] == "1"

        await eventually(updated)
        status = (await client.get(QUOTAS, "compute", ns))["status"]
        assert status["hard"]["requests.cpu"] == "2"
        assert status["used"]["requests.cpu"] == "500m"


def test_init_containers_count_as_the_largest_not_the_sum() -> None:
    pod = {
        "spec": {
            "containers": [{"resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [
                {"resources": {"requests": {"cpu": "300m"}}},
                {"resources": {"requests": {"cpu": "200m"}}},
            ],
        }
    }
    assert pod_usage(pod, "requests", "cpu") == Decimal("0.3")
