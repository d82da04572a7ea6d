"""The e2e `cluster` fixture (a real `kube server`) for the load-test smoke test."""

from tests.e2e.conftest import Cluster, cluster

__all__ = ["Cluster", "cluster"]
