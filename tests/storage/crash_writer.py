"""A write loop for the crash-safety test: `python -m tests.storage.crash_writer DB_PATH RUN`.

Sixteen concurrent writers create and update keys forever; each acknowledged write is printed
as `ack <key> <mod_revision> <value>` and flushed, so the test knows exactly what was
acknowledged when it kills this process with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kube.storage.sqlite import SQLiteBackend


async def writer(store: SQLiteBackend, run: str, worker: int) -> None:
    n = 0
    while True:
        key = f"/registry/configmaps/crash/{run}-w{worker}-{n}"
        value = f"v{worker}-{n}".encode()
        kv = await store.create(key, value)
        print(f"ack {key} {kv.mod_revision} {value.decode()}", flush=True)
        value2 = value + b"-updated"
        kv2 = await store.update(key, value2, expected_revision=kv.mod_revision)
        print(f"ack {key} {kv2.mod_revision} {value2.decode()}", flush=True)
        n += 1


async def main(path: Path, run: str) -> None:
    store = SQLiteBackend(path)
    await store.start()
    print("ready", flush=True)
    await asyncio.gather(*(writer(store, run, w) for w in range(16)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
