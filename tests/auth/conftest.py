"""Shared fixtures: one PKI per test session, built by `ensure_pki` like `kube server` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from kube.auth import PKI, default_hosts, ensure_pki

SERVICE_IP = "10.43.0.1"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return ensure_pki(tmp_path_factory.mktemp("pki"), hosts=default_hosts(SERVICE_IP))


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    """An empty directory for tests that create (and damage) their own PKI."""
    return tmp_path / "pki"
