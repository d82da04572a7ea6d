"""Defaults of the discovery.k8s.io group, as pkg/apis/discovery/v1/defaults.go applies them.

- EndpointSlice: each port's `name` is `""` and its `protocol` is `TCP` when left out.
  The name matters to clients: kubectl's `describe service` reads every slice port's name
  through a pointer and crashes on a port without one, so a slice written by any client
  must read back with it.
"""

from __future__ import annotations

from kube.api.defaults._walk import Object, items, setdefault


def endpoint_slice(obj: Object) -> None:
    for port in items(obj, "ports"):
        setdefault(port, "name", "")
        setdefault(port, "protocol", "TCP")
