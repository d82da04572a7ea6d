"""The `backend` fixture: every conformance test runs on SQLite and on a real etcd."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kube.storage.backend import Backend
from kube.storage.etcd import EtcdBackend
from kube.storage.sqlite import SQLiteBackend
from tests.support.etcd import EtcdProcess


@pytest.fixture(params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        store: Backend = SQLiteBackend(tmp_path / "state.db")
        await store.start()
        try:
            yield store
        finally:
            await store.close()
    else:
        with EtcdProcess() as etcd:
            store = EtcdBackend(etcd.endpoints)
            await store.start()
            try:
                yield store
            finally:
                await store.close()
