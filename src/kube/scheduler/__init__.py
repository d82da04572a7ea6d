"""The scheduler: binds pending pods to nodes as kube-scheduler does (see README.md)."""
