"""Objects every cluster starts with, created at API server start when missing.

The four system namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease`) and
the `kubernetes` Service in `default`, whose cluster IP is the first address of the service
range (`kubectl cluster-info` looks for it). Existing objects are left as they are, so a
restart changes nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from kube.api import errors
from kube.apiserver.store import ObjectStore

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class StoreSource(Protocol):
    def for_resource(self, group: str, version: str, plural: str) -> ObjectStore: ...


async def ensure(store: ObjectStore, namespace: str, obj: dict[str, Any]) -> None:
    """Create `obj` unless an object of its name exists (which is then left as it is)."""
    try:
        await store.get(namespace, obj["metadata"]["name"])
        return
    except errors.APIError as err:
        if err.reason != "NotFound":
            raise
    try:
        await store.create(namespace, obj)
    except errors.APIError as err:
        if err.reason != "AlreadyExists":
            raise


async def bootstrap(stores: StoreSource, service_ip: str, secure_port: int) -> None:
    namespaces = stores.for_resource("", "v1", "namespaces")
    for name in SYSTEM_NAMESPACES:
        await ensure(
            namespaces,
            "",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )
    services = stores.for_resource("", "v1", "services")
    await ensure(
        services,
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": service_ip,
                "clusterIPs": [service_ip],
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
                "sessionAffinity": "None",
                "ports": [
                    {"name": "https", "port": 443, "protocol": "TCP", "targetPort": secure_port}
                ],
            },
        },
    )
