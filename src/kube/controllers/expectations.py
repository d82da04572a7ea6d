"""Expectations: what a controller has asked for and not yet seen in its informer.

client-go's ControllerExpectations (pkg/controller/controller_utils.go). A controller that
creates 5 pods learns of them only when its pod informer delivers them; a sync that ran before
that would count 0 pods and create 5 more. So before writing, the controller records that it
expects 5 creations (or these deletions) for its key; each informer add/delete lowers the
count; and `satisfied(key)` stays false, keeping the controller's hands off, until the counts
reach zero or `EXPECTATIONS_TIMEOUT` has passed since they were set (a lost watch event must
not wedge the controller forever).

`UIDTrackingExpectations` additionally remembers *which* pods it expects to go, so a pod whose
delete is seen twice (an update with deletionTimestamp, then the delete) lowers the count once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Upstream's ExpectationsTimeout.
EXPECTATIONS_TIMEOUT = 5 * 60.0

log = logging.getLogger("kube.controllers.expectations")


@dataclass
class _Expectee:
    add: int
    delete: int
    timestamp: float

    def fulfilled(self) -> bool:
        return self.add <= 0 and self.delete <= 0


class ControllerExpectations:
    """Pending creations and deletions per controller key (`namespace/name`)."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._items: dict[str, _Expectee] = {}

    def get(self, key: str) -> tuple[int, int] | None:
        item = self._items.get(key)
        return None if item is None else (item.add, item.delete)

    def satisfied(self, key: str) -> bool:
        """True if the controller may act: nothing pending, pending too long, or never set."""
        item = self._items.get(key)
        if item is None:
            return True
        if item.fulfilled():
            return True
        if self._now() - item.timestamp > EXPECTATIONS_TIMEOUT:
            log.info("expectations for %s expired: %d adds, %d deletes", key, item.add, item.delete)
            return True
        return False

    def set(self, key: str, add: int, delete: int) -> None:
        self._items[key] = _Expectee(add, delete, self._now())

    def expect_creations(self, key: str, adds: int) -> None:
        self.set(key, adds, 0)

    def expect_deletions(self, key: str, dels: int) -> None:
        self.set(key, 0, dels)

    def _lower(self, key: str, add: int, delete: int) -> None:
        item = self._items.get(key)
        if item is not None:
            item.add -= add
            item.delete -= delete

    def creation_observed(self, key: str) -> None:
        self._lower(key, 1, 0)

    def deletion_observed(self, key: str) -> None:
        self._lower(key, 0, 1)

    def delete(self, key: str) -> None:
        self._items.pop(key, None)


class UIDTrackingExpectations(ControllerExpectations):
    """Expectations whose deletions are tracked by pod key, so each counts once."""

    def __init__(self, now: Callable[[], float]) -> None:
        super().__init__(now)
        self._uids: dict[str, set[str]] = {}

    def expect_deletions_of(self, key: str, pod_keys: Iterable[str]) -> None:
        keys = set(pod_keys)
        self._uids[key] = keys
        self.expect_deletions(key, len(keys))

    def deletion_observed_of(self, key: str, pod_key: str) -> None:
        keys = self._uids.get(key)
        if keys is not None and pod_key in keys:
            keys.discard(pod_key)
            self.deletion_observed(key)

    def delete(self, key: str) -> None:
        super().delete(key)
        self._uids.pop(key, None)
