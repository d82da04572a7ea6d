"""Suite-wide test settings: where the shared golden fixtures live."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO_ROOT.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def shared_testdata() -> Path:
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"golden fixtures not found at {SHARED_TESTDATA} (../shared beside the repo)")
    return SHARED_TESTDATA
