"""What the EndpointSlice controller last wrote, to tell a stale informer from a real change.

Upstream's endpointSliceTracker (pkg/controller/endpointslice). The controller reads a
Service's slices from its informer; right after it created, updated or deleted one, the
informer may not show that write yet, and a sync from that view would create the same
endpoints again in a second slice (which the next sync deletes): at a few hundred Services
that churn doubled the controller's writes. So each write is remembered per Service (the
slice's `metadata.generation` after an update or create, or that it was deleted), and a sync
whose informer view is older than what was written fails with `StaleInformerCache`, to be
retried with backoff, as upstream's does. Once a sync sees every remembered write, the
Service's record is dropped: the informer has caught up.
"""

from __future__ import annotations

from kube.api.meta import Object

DELETED = -1


class StaleInformerCache(Exception):
    """The informer does not yet show this controller's last writes of a Service's slices."""


def _name(slice_: Object) -> str:
    return str((slice_.get("metadata") or {}).get("name") or "")


def _generation(slice_: Object) -> int:
    value = (slice_.get("metadata") or {}).get("generation")
    return value if isinstance(value, int) else 0


class SliceTracker:
    """Per Service key: slice name -> the generation written, or DELETED."""

    def __init__(self) -> None:
        self._written: dict[str, dict[str, int]] = {}

    def wrote(self, service_key: str, slice_: Object) -> None:
        """A create or update of `slice_` (as the server answered it) succeeded."""
        self._written.setdefault(service_key, {})[_name(slice_)] = _generation(slice_)

    def deleted(self, service_key: str, name: str) -> None:
        self._written.setdefault(service_key, {})[name] = DELETED

    def stale(self, service_key: str, seen: list[Object]) -> bool:
        """Whether `seen` (the informer's slices of the Service) misses a remembered write.

        When it misses none, the Service's record is dropped."""
        written = self._written.get(service_key)
        if not written:
            return False
        present = {_name(s): _generation(s) for s in seen}
        for name, generation in written.items():
            if generation == DELETED:
                if name in present:
                    return True
            elif present.get(name, DELETED) < generation:
                return True
        del self._written[service_key]
        return False

    def forget(self, service_key: str) -> None:
        self._written.pop(service_key, None)
