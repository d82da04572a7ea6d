"""Service cluster IPs and node ports: allocated on create, released on delete, never twice.

The API server owns the ranges (`--service-cluster-ip-range`, `--service-node-port-range`).
Used values are kept in memory, loaded from the stored Services at start; the store calls
`allocate` before it writes a Service (and `release` if the write fails), and `release` once a
Service is gone. Only one API server writes a SQLite store, so memory is the truth there; with
several API servers on one etcd this would need upstream's allocation objects (not done yet).

Errors are 422 Invalid causes with upstream's wording.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from typing import Any

from kube.api import errors
from kube.api.meta import Object, name_of

DEFAULT_NODE_PORT_RANGE = (30000, 32767)


class ServiceAllocator:
    """Cluster IPs from one IPv4 range and node ports from one port range."""

    def __init__(self, cidr: str, node_ports: tuple[int, int] = DEFAULT_NODE_PORT_RANGE) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.node_ports = node_ports
        self.used_ips: set[str] = set()
        self.used_ports: set[int] = set()
        # The network and broadcast addresses are never handed out.
        self._first = int(self.network.network_address) + 1
        self._last = int(self.network.broadcast_address) - 1

    def load(self, services: Iterable[Object]) -> None:
        for svc in services:
            ips, ports = self._claims(svc)
            self.used_ips.update(ips)
            self.used_ports.update(ports)

    @staticmethod
    def _claims(svc: Object) -> tuple[list[str], list[int]]:
        spec = svc.get("spec") or {}
        ips = [
            ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip and ip != "None"
        ]
        ports = [int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")]
        return ips, ports

    # -- allocation ----------------------------------------------------------------------

    def allocate(self, svc: Object, old: Object | None = None) -> None:
        """Fill `spec.clusterIP(s)` and node ports of `svc`, claiming what it asks for."""
        spec: dict[str, Any] = svc.setdefault("spec", {})
        name = name_of(svc)
        causes: list[errors.Cause] = []
        claimed_ips: list[str] = []
        claimed_ports: list[int] = []
        old_ips, old_ports = self._claims(old) if old is not None else ([], [])
        kind = spec.get("type", "ClusterIP")
        try:
            if kind != "ExternalName" and spec.get("clusterIP") != "None":
                wanted = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if wanted and wanted in old_ips:
                    pass
                elif wanted:
                    cause = self._claim_ip(str(wanted))
                    if cause is not None:
                        causes.append(cause)
                    else:
                        claimed_ips.append(str(wanted))
                else:
                    ip = self._next_ip()
                    if ip is None:
                        causes.append(
                            errors.Cause(
                                "FieldValueInvalid",
                                "Internal error: range is full",
                                "spec.clusterIPs",
                            )
                        )
                    else:
                        claimed_ips.append(ip)
                        wanted = ip
                if wanted:
                    spec["clusterIP"] = wanted
                    spec["clusterIPs"] = [wanted]
            if kind in ("NodePort", "LoadBalancer"):
                for index, port in enumerate(spec.get("ports") or []):
                    wanted_port = port.get("nodePort")
                    if wanted_port and int(wanted_port) in old_ports:
                        continue
                    if wanted_port:
                        cause = self._claim_port(int(wanted_port), index)
                        if cause is not None:
                            causes.append(cause)
                            continue
                        claimed_ports.append(int(wanted_port))
                    else:
                        free = self._next_port()
                        if free is None:
                            causes.append(
                                errors.Cause(
                                    "FieldValueInvalid",
                                    "Internal error: range is full",
                                    f"spec.ports[{index}].nodePort",
                                )
                            )
                            continue
                        claimed_ports.append(free)
                        port["nodePort"] = free
        finally:
            if causes:
                self.used_ips.difference_update(claimed_ips)
                self.used_ports.difference_update(claimed_ports)
        if causes:
            raise errors.invalid("", "Service", name, causes)

    def release(self, svc: Object, keep: Object | None = None) -> None:
        """Free what `svc` held (except what `keep`, its successor, still holds)."""
        ips, ports = self._claims(svc)
        kept_ips, kept_ports = self._claims(keep) if keep is not None else ([], [])
        self.used_ips.difference_update(set(ips) - set(kept_ips))
        self.used_ports.difference_update(set(ports) - set(kept_ports))

    def _claim_ip(self, ip: str) -> errors.Cause | None:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return errors.Cause(
                "FieldValueInvalid",
                f'Invalid value: "{ip}": must be a valid IP address',
                "spec.clusterIPs[0]",
            )
        if address not in self.network:
            return errors.Cause(
                "FieldValueInvalid",
                f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: the provided '
                f"IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}",
                "spec.clusterIPs",
            )
        if ip in self.used_ips:
            return errors.Cause(
                "FieldValueInvalid",
                f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided IP '
                "is already allocated",
                "spec.clusterIPs",
            )
        self.used_ips.add(ip)
        return None

    def _claim_port(self, port: int, index: int) -> errors.Cause | None:
        low, high = self.node_ports
        field = f"spec.ports[{index}].nodePort"
        if not low <= port <= high:
            return errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {port}: provided port is not in the valid range. The range of "
                f"valid ports is {low}-{high}",
                field,
            )
        if port in self.used_ports:
            return errors.Cause(
                "FieldValueInvalid",
                f"Invalid value: {port}: provided port is already allocated",
                field,
            )
        self.used_ports.add(port)
        return None

    def _next_ip(self) -> str | None:
        size = self._last - self._first + 1
        if len(self.used_ips) >= size:
            return None
        start = random.randrange(size)
        for offset in range(size):
            candidate = str(ipaddress.ip_address(self._first + (start + offset) % size))
            if candidate not in self.used_ips:
                self.used_ips.add(candidate)
                return candidate
        return None

    def _next_port(self) -> int | None:
        low, high = self.node_ports
        size = high - low + 1
        start = random.randrange(size)
        for offset in range(size):
            candidate = low + (start + offset) % size
            if candidate not in self.used_ports:
                self.used_ports.add(candidate)
                return candidate
        return None
