"""Choosing a backend from configuration: `--storage sqlite|etcd` and `--etcd-servers`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kube.storage.backend import Backend, StorageError

BACKENDS = ("sqlite", "etcd")


@dataclass(frozen=True)
class StorageConfig:
    """What the API server needs to open its store."""

    kind: str = "sqlite"
    sqlite_path: Path = Path("state.db")
    etcd_servers: list[str] = field(default_factory=lambda: ["http://127.0.0.1:2379"])

    def describe(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite at {self.sqlite_path}"
        return f"etcd at {','.join(self.etcd_servers)}"


def make_backend(config: StorageConfig) -> Backend:
    """A backend for `config`, not yet started. Unknown kinds are a `StorageError`."""
    if config.kind == "sqlite":
        from kube.storage.sqlite import SQLiteBackend

        # Keep the newest 10,000 revisions of history for watchers that resume; compact each
        # minute (kube-apiserver asks etcd to compact every 5 minutes).
        return SQLiteBackend(config.sqlite_path, compact_keep=10_000, compact_interval=60.0)
    if config.kind == "etcd":
        from kube.storage.etcd import EtcdBackend

        return EtcdBackend(list(config.etcd_servers))
    raise StorageError(
        f"unknown storage backend {config.kind!r}; use --storage {' or --storage '.join(BACKENDS)}"
    )
