"""The real-server fixtures of tests/controllers, for the client tests that need a server."""

from __future__ import annotations

from tests.controllers.conftest import bare_cluster, client

__all__ = ["bare_cluster", "client"]
