"""Starting the API server: certificates, stores, bootstrap objects, and the HTTPS listener.

`run(backend, options, ready)` is the API server's row in `kube server`'s component table:
it makes (or reuses) the cluster's PKI under `<data-dir>/tls`, builds one `ObjectStore` per
stored resource of the registry, creates the objects every cluster starts with, listens on
HTTPS, writes `<data-dir>/admin.kubeconfig`, and then sets `ready`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from kube.api import errors
from kube.api.registry import Registry
from kube.api.resources import REGISTRY
from kube.apiserver.allocators import DEFAULT_NODE_PORT_RANGE, ServiceAllocator
from kube.apiserver.app import APIServer, Authentication, HealthChecks, not_found_path
from kube.apiserver.bootstrap import bootstrap
from kube.apiserver.discovery import DiscoveryDocuments
from kube.apiserver.openapi import OpenAPIDocuments
from kube.apiserver.requestinfo import RequestInfo
from kube.apiserver.store import ObjectStore
from kube.apiserver.strategies import strategy_for
from kube.apiserver.subresources import SERVED, Subresources
from kube.apiserver.watchcache import Reflector, WatchCache
from kube.auth.authn import StaticTokenFile
from kube.auth.certs import default_hosts, ensure_client_cert, ensure_pki
from kube.auth.kubeconfig import write_admin_kubeconfig
from kube.auth.serviceaccount import ServiceAccountAuthenticator, TokenIssuer, TokenVerifier
from kube.auth.tls import server_ssl_context
from kube.storage.backend import Backend

log = logging.getLogger("kube.apiserver")


# The admission plugins this API server has that --disable-admission-plugins may name.
ADMISSION_PLUGINS = ("ServiceAccount",)


@dataclass
class APIServerOptions:
    data_dir: Path
    bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    token_auth_file: Path | None = None
    service_cluster_ip_range: str = "10.43.0.0/16"
    service_node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE
    extra_sans: list[str] = field(default_factory=list)
    # Admission plugins turned off (upstream's --disable-admission-plugins): "ServiceAccount".
    disable_admission_plugins: tuple[str, ...] = ()

    @property
    def kubernetes_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cluster_ip_range).hosts()))

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "admin.kubeconfig"


class Stores:
    """The `ObjectStore` of every stored resource, found from a request's `RequestInfo`."""

    def __init__(
        self, backend: Backend, registry: Registry, services: ServiceAllocator | None = None
    ) -> None:
        self.registry = registry
        self.services = services
        self.by_gvr: dict[tuple[str, str, str], ObjectStore] = {}
        # One storage watch feeds every resource's watch cache (kube.apiserver.watchcache).
        self.reflector = Reflector(backend)
        for row in registry:
            if row.stored:
                strategy = strategy_for(
                    row.kind,
                    has_status=row.subresource("status") is not None,
                    group=row.group,
                    version=row.version,
                )
                if (row.group, row.kind) == ("", "Service"):
                    strategy.allocator = services
                store = ObjectStore(backend, row, strategy)
                store.cache = WatchCache(self.reflector, row, store.decode)
                self.by_gvr[(row.group, row.version, row.plural)] = store

    def __call__(self, info: RequestInfo) -> ObjectStore:
        row = self.registry.get(info.group, info.version, info.resource)
        if row is None:
            raise not_found_path()
        verb = info.verb
        if info.subresource:
            sub = row.subresource(info.subresource)
            if sub is None:
                raise not_found_path()
            allowed = sub.verbs
            if (info.subresource != "status" and info.subresource not in SERVED) or (
                verb not in allowed
            ):
                raise errors.method_not_supported(row.group, f"{row.plural}/{sub.name}", verb)
        else:
            allowed = row.verbs
            if verb not in allowed:
                raise _no_route(verb, allowed)
        if verb not in allowed:
            raise errors.method_not_supported(row.group, row.plural, verb)
        if info.namespace and not row.namespaced:
            raise not_found_path()
        store = self.by_gvr.get((row.group, row.version, row.plural))
        if store is None:
            raise errors.method_not_supported(row.group, row.plural, verb)
        return store

    def for_resource(self, group: str, version: str, plural: str) -> ObjectStore:
        return self.by_gvr[(group, version, plural)]

    async def object_metadata(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The metadata of a core object by kind (what token authentication checks), or None."""
        row = self.registry.for_kind("", "v1", kind)
        if row is None:
            return None
        try:
            obj = await self.for_resource("", "v1", row.plural).get(namespace, name)
        except errors.APIError as err:
            if err.code == 404:
                return None
            raise
        meta = obj.get("metadata")
        return meta if isinstance(meta, dict) else None


COLLECTION_VERBS = frozenset(("list", "watch", "create", "deletecollection"))
ITEM_VERBS = frozenset(("get", "update", "patch", "delete"))


def _no_route(verb: str, allowed: tuple[str, ...] | frozenset[str]) -> errors.APIError:
    """A verb the resource does not serve, as upstream's router answers it: no route is
    installed for it, so a path that has routes for other methods is a generic 405 (DELETE
    on a collection without deletecollection), and one that has none is a 404."""
    same_path = COLLECTION_VERBS if verb in COLLECTION_VERBS else ITEM_VERBS
    if same_path.intersection(allowed):
        return errors.method_not_allowed()
    return not_found_path()


async def run(backend: Backend, options: APIServerOptions, ready: asyncio.Event) -> None:
    """Serve until cancelled; `ready` is set once the listener accepts requests."""
    hosts = [*default_hosts(options.kubernetes_service_ip), *options.extra_sans]
    pki = await asyncio.to_thread(ensure_pki, options.data_dir / "tls", hosts=hosts)
    # What the API server presents to kubelets (pods/log, pods/exec): upstream's identity.
    kubelet_key = pki.dir / "apiserver-kubelet-client.key"
    await asyncio.to_thread(
        ensure_client_cert,
        pki.dir,
        "apiserver-kubelet-client",
        pki.ca,
        "kube-apiserver-kubelet-client",
        ["system:masters"],
    )
    services = ServiceAllocator(options.service_cluster_ip_range, options.service_node_port_range)
    stores = Stores(backend, REGISTRY, services)
    services.load((await stores.for_resource("", "v1", "services").list(None)).items)
    await bootstrap(stores, options.kubernetes_service_ip, options.secure_port)

    openapi = OpenAPIDocuments(REGISTRY)
    await asyncio.to_thread(openapi.index)  # build the documents off the event loop, once
    health = HealthChecks({"etcd": _storage_check(backend), "poststarthook/bootstrap-objects": _ok})
    token_file = StaticTokenFile(options.token_auth_file) if options.token_auth_file else None
    issuer = TokenIssuer(pki.service_account_key) if pki.service_account_key else None
    service_accounts = (
        ServiceAccountAuthenticator(
            TokenVerifier([issuer.key.public_key()]), stores.object_metadata
        )
        if issuer is not None
        else None
    )
    server = APIServer(
        stores,
        registry=REGISTRY,
        discovery=DiscoveryDocuments(REGISTRY, f"{options.bind_address}:{options.secure_port}"),
        openapi=openapi,
        authentication=Authentication(token_file=token_file, service_accounts=service_accounts),
        health=health,
        namespaces=lambda: stores.for_resource("", "v1", "namespaces"),
        subresources=Subresources(
            stores,
            stores.for_resource,
            issuer=issuer,
            kubelet_client_cert=(pki.dir / "apiserver-kubelet-client.crt", kubelet_key),
        ),
    )
    server.handlers.service_account_admission = (
        "ServiceAccount" not in options.disable_admission_plugins
    )
    ssl_context = server_ssl_context(
        pki.serving_cert_path, pki.serving_key_path, client_ca_file=pki.ca_cert_path
    )
    runner = web.ServerRunner(server.web_server(), shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner, options.bind_address, options.secure_port, ssl_context=ssl_context
        )
        await site.start()
        port = _bound_port(site, options.secure_port)
        await asyncio.to_thread(write_admin_kubeconfig, options.kubeconfig_path, pki, port=port)
        log.info("serving on https://%s:%d", options.bind_address, port)
        options.secure_port = port
        ready.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await stores.reflector.close()


def _bound_port(site: web.TCPSite, wanted: int) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; the port matters for :0
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        return int(sock.getsockname()[1])
    return wanted


async def _ok() -> bool:
    return True


def _storage_check(backend: Backend):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        await asyncio.wait_for(backend.current_revision(), 2.0)
        return True

    return check
