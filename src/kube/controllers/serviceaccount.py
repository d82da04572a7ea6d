"""Every namespace gets a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.

Upstream's serviceaccounts-controller ("serviceaccount") and root-ca-cert-publisher
("root-ca-cert-publisher"). Both are keyed by namespace: a namespace that appears, or the
object being deleted or (for the ConfigMap) changed, enqueues the namespace, and `sync` puts
back what is missing. Terminating namespaces are left alone, as upstream does.
"""

from __future__ import annotations

from pathlib import Path

from kube.api import errors
from kube.api.meta import Object
from kube.api.registry import Resource
from kube.api.resources import resource
from kube.client.informer import DeletedFinalStateUnknown, EventHandler
from kube.controllers.base import Controller
from kube.controllers.manager import register

NAMESPACES = resource("namespaces")
SERVICE_ACCOUNTS = resource("serviceaccounts")
CONFIGMAPS = resource("configmaps")

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


def _namespace_of(obj: Object | DeletedFinalStateUnknown) -> str:
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key.partition("/")[0]
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _terminating(ns: Object | None) -> bool:
    if ns is None:
        return True
    return bool((ns.get("metadata") or {}).get("deletionTimestamp")) or (
        (ns.get("status") or {}).get("phase") == "Terminating"
    )


class _PerNamespace(Controller):
    """Keyed by namespace name: namespace events and the named object's events enqueue it."""

    WORKERS = 1
    OBJECT_NAME = ""

    def _watch_namespaces(self) -> None:
        self.namespaces = self.ctx.informers.informer(NAMESPACES)
        self.namespaces.add_event_handler(
            EventHandler(
                on_add=lambda ns: self.queue.add(ns["metadata"]["name"]),
                on_update=lambda _old, ns: self.queue.add(ns["metadata"]["name"]),
            )
        )

    def _enqueue_owner_namespace(self, obj: Object | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            name = obj.key.rpartition("/")[2]
        else:
            name = str((obj.get("metadata") or {}).get("name") or "")
        if name == self.OBJECT_NAME:
            self.queue.add(_namespace_of(obj))

    async def _create_missing(self, resource: Resource, namespace: str, body: Object) -> None:
        try:
            await self.client.create(resource, body, namespace)
        except errors.APIError as err:
            # Exists already (another writer won), or the namespace began terminating.
            if err.code not in (409, 403):
                raise


class ServiceAccountsController(_PerNamespace):
    NAME = "serviceaccount"
    OBJECT_NAME = DEFAULT_SERVICE_ACCOUNT

    def setup(self) -> None:
        self._watch_namespaces()
        self.accounts = self.ctx.informers.informer(SERVICE_ACCOUNTS)
        self.accounts.add_event_handler(EventHandler(on_delete=self._enqueue_owner_namespace))

    async def sync(self, key: str) -> None:
        if _terminating(self.namespaces.lister().get(key)):
            return
        if self.accounts.lister().get(DEFAULT_SERVICE_ACCOUNT, key) is not None:
            return
        body = {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": key}}
        await self._create_missing(SERVICE_ACCOUNTS, key, body)


class RootCACertPublisher(_PerNamespace):
    NAME = "root-ca-cert-publisher"
    OBJECT_NAME = ROOT_CA_CONFIGMAP

    def setup(self) -> None:
        self.ca_pem = self._ca_bundle()
        self._watch_namespaces()
        self.configmaps = self.ctx.informers.informer(CONFIGMAPS)
        self.configmaps.add_event_handler(
            EventHandler(
                on_update=lambda _old, cm: self._enqueue_owner_namespace(cm),
                on_delete=self._enqueue_owner_namespace,
            )
        )

    def _ca_bundle(self) -> str:
        """The CA the cluster's clients trust: `root-ca-data` (PEM) or `root-ca-file`."""
        data = self.ctx.options.get("root-ca-data")
        if isinstance(data, bytes):
            return data.decode()
        if isinstance(data, str) and data:
            return data
        path = self.ctx.options.get("root-ca-file")
        if path:
            return Path(str(path)).read_text()
        return ""

    async def sync(self, key: str) -> None:
        if not self.ca_pem or _terminating(self.namespaces.lister().get(key)):
            return
        want_data = {"ca.crt": self.ca_pem}
        want_annotations = {"kubernetes.io/description": ROOT_CA_DESCRIPTION}
        current = self.configmaps.lister().get(ROOT_CA_CONFIGMAP, key)
        if current is None:
            body = {
                "metadata": {
                    "name": ROOT_CA_CONFIGMAP,
                    "namespace": key,
                    "annotations": want_annotations,
                },
                "data": want_data,
            }
            await self._create_missing(CONFIGMAPS, key, body)
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if current.get("data") == want_data and all(
            annotations.get(k) == v for k, v in want_annotations.items()
        ):
            return
        await self.client.patch(
            CONFIGMAPS,
            ROOT_CA_CONFIGMAP,
            {"metadata": {"annotations": want_annotations}, "data": want_data},
            key,
            patch_type="merge",
        )


register(ServiceAccountsController)
register(RootCACertPublisher)
