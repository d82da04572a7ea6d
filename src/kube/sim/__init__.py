"""Synthetic clusters: hollow nodes that look like kubelets to the API (kubemark, kwok)."""
