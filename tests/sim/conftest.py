"""Hollow nodes run against the controllers' `bare_cluster` (an API server with no controllers
and no scheduler), so a test sees only what the hollow nodes themselves write."""

from tests.controllers.conftest import bare_cluster, client

__all__ = ["bare_cluster", "client"]
