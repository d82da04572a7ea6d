"""The one worker loop every controller shares: business logic apart from retry policy.

A controller is a `sync(key)` coroutine that reconciles one object and raises on failure; it
knows nothing about retries. `run_workers` starts `workers` coroutines that each take a key
off a `RateLimitingQueue`, call `sync`, and then, as client-go controllers do in
processNextWorkItem/handleErr:

- on success, `forget` the key (its backoff starts over next time);
- on failure, `add_rate_limited` it (retry after an exponential backoff), unless it has already
  been requeued `max_retries` times: then log why it is dropped and `forget` it (a later event
  for the object adds it afresh);
- always `done` the key, so a key re-added during the sync is processed again.

An exception from `sync` never stops a worker. The workers return when the queue is shut down
and empty; cancelling `run_workers` cancels them, each still marking its key `done`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from kube.client.workqueue import RateLimitingQueue, ShutDown

K = TypeVar("K", bound=Hashable)

# Deployment, ReplicaSet, StatefulSet, DaemonSet and Job controllers upstream all use 15.
DEFAULT_MAX_RETRIES = 15

_log = logging.getLogger(__name__)


async def run_workers(
    queue: RateLimitingQueue[K],
    sync: Callable[[K], Awaitable[None]],
    workers: int = 1,
    *,
    max_retries: int | None = DEFAULT_MAX_RETRIES,
    name: str = "",
    log: logging.Logger | None = None,
) -> None:
    """Run `workers` workers on `queue` until it shuts down.

    `max_retries=None` retries forever (for controllers whose keys must converge eventually,
    such as garbage collection); `name` labels the log lines (default: the queue's name).
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    logger = log or _log
    label = name or queue.name or "workqueue"
    async with asyncio.TaskGroup() as group:
        for index in range(workers):
            group.create_task(
                _work(queue, sync, max_retries, label, logger), name=f"{label}-worker-{index}"
            )


async def _work(
    queue: RateLimitingQueue[K],
    sync: Callable[[K], Awaitable[None]],
    max_retries: int | None,
    label: str,
    log: logging.Logger,
) -> None:
    while await process_next_item(queue, sync, max_retries=max_retries, name=label, log=log):
        pass


async def process_next_item(
    queue: RateLimitingQueue[K],
    sync: Callable[[K], Awaitable[None]],
    *,
    max_retries: int | None = DEFAULT_MAX_RETRIES,
    name: str = "workqueue",
    log: logging.Logger = _log,
) -> bool:
    """Take one key, sync it and apply the retry policy; False once the queue is shut down."""
    try:
        key = await queue.get()
    except ShutDown:
        return False
    try:
        await sync(key)
    except Exception as error:
        _handle_error(queue, key, error, max_retries, name, log)
    else:
        queue.forget(key)
    finally:
        queue.done(key)
    return True


def _handle_error(
    queue: RateLimitingQueue[K],
    key: K,
    error: Exception,
    max_retries: int | None,
    name: str,
    log: logging.Logger,
) -> None:
    requeues = queue.num_requeues(key)
    if max_retries is None or requeues < max_retries:
        log.info(
            "%s: error syncing %r (retry %d): %s",
            name,
            key,
            requeues + 1,
            error,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        queue.add_rate_limited(key)
        return
    log.warning(
        "%s: dropping %r out of the queue after %d retries: %s",
        name,
        key,
        requeues,
        error,
        exc_info=error,
    )
    queue.forget(key)
