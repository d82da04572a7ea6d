"""ConfigMaps and Secrets for pod volumes from watches, not a GET per sync.

Upstream's kubelet reads the ConfigMaps and Secrets its pods' volumes name through the
configmap/secret manager's default "Watch" strategy (pkg/kubelet/util/manager,
WatchBasedManager): each object a pod references gets a reflector of its own (a watch in the
object's namespace with `fieldSelector=metadata.name=<name>`), shared by every pod that
references it and stopped when the last of them is gone. Reads are answered from that
reflector's store once it has synced, so a pod sync costs no request, and a change to the
object arrives by the watch for the next sync to write into the volume.

Here an entry is made the first time a pod asks for an object (`get(..., owner=uid)`), and the
pod's references are dropped when its volumes are torn down (`release(uid)`). An object that
does not exist reads as None, as the store has no such key; it appears once the watch sees it
created. When a watch cannot sync in `SYNC_TIMEOUT` (the API server refuses the list, say) the
read falls back to a plain GET, so a pod never waits longer than it did before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from kube.api import errors
from kube.api.resources import Resource
from kube.client.informer import Informer
from kube.client.rest import RESTClient

log = logging.getLogger("kube.kubelet.objectcache")

SYNC_TIMEOUT = 5.0  # seconds a first read waits for its watch before asking with a GET


@dataclass
class _Entry:
    informer: Informer
    owners: set[str] = field(default_factory=set)


class ObjectCache:
    """Watch-backed reads of named ConfigMaps and Secrets, reference-counted by pod uid."""

    def __init__(self, client: RESTClient, *, sync_timeout: float = SYNC_TIMEOUT) -> None:
        self.client = client
        self.sync_timeout = sync_timeout
        self.entries: dict[tuple[str, str, str], _Entry] = {}

    async def get(
        self, kind: Resource, name: str, namespace: str, owner: str
    ) -> dict[str, Any] | None:
        """The object (None when it does not exist), from its watch; APIError as a GET would
        raise it when the watch could not sync and the GET fails too."""
        key = (kind.plural, namespace, name)
        entry = self.entries.get(key)
        if entry is None:
            informer = Informer(
                self.client,
                kind,
                namespace=namespace,
                field_selector=f"metadata.name={name}",
            )
            entry = self.entries[key] = _Entry(informer)
            informer.start()
        entry.owners.add(owner)
        if not entry.informer.has_synced and not await entry.informer.wait_for_sync(
            self.sync_timeout
        ):
            log.warning(
                "no watch of %s %s/%s yet; reading it with a GET", kind.plural, namespace, name
            )
            try:
                return await self.client.get(kind, name, namespace)
            except errors.APIError as err:
                if err.code == 404:
                    return None
                raise
        obj = entry.informer.indexer.get(f"{namespace}/{name}")
        return obj

    def owned(self, owner: str) -> list[tuple[str, str, str]]:
        """The (plural, namespace, name) keys `owner` reads (tests, debugging)."""
        return sorted(k for k, e in self.entries.items() if owner in e.owners)

    async def release(self, owner: str) -> None:
        """Drops `owner`'s references; watches nobody references any longer are stopped."""
        unused = []
        for key, entry in list(self.entries.items()):
            entry.owners.discard(owner)
            if not entry.owners:
                unused.append(self.entries.pop(key))
        for entry in unused:
            await entry.informer.stop()

    async def close(self) -> None:
        """Stops every watch (the kubelet is stopping)."""
        entries, self.entries = list(self.entries.values()), {}
        for entry in entries:
            with contextlib.suppress(asyncio.CancelledError):
                await entry.informer.stop()
