"""A pod's DNS settings from its dnsPolicy and dnsConfig, as upstream's kubelet forms them
(pkg/kubelet/network/dns/dns.go), for the CRI PodSandboxConfig.dns_config.

The kubelet's `--cluster-dns`, `--cluster-domain` and `--resolv-conf` flags are the inputs:

- `ClusterFirst` (the default; `ClusterFirstWithHostNet` for hostNetwork pods): the cluster DNS
  servers only, the searches `<ns>.svc.<domain> svc.<domain> <domain>` then the host's, and
  `ndots:5`. Without `--cluster-dns` the pod gets `Default` and a `MissingClusterDNS` warning,
  as upstream. A hostNetwork pod with `ClusterFirst` gets `Default`.
- `Default`: the host's resolv.conf (`--resolv-conf`; `""` means none: nameserver 127.0.0.1,
  search `.`, as upstream).
- `None`: only the pod's `dnsConfig`.

`spec.dnsConfig` is merged on top (nameservers and searches appended without duplicates,
options overriding by name), then trimmed to upstream's limits (3 nameservers, 32 search
domains of at most 253 characters, a search line of at most 2048 characters) with a
`DNSConfigForming` warning. The runtime writes resolv.conf from the result; the kubelet never
touches the file itself, so containerd gets the same settings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_NAMESERVERS = 3  # upstream's validation.MaxDNSNameservers
MAX_SEARCH_PATHS = 32  # validation.MaxDNSSearchPaths
MAX_SEARCH_LINE = 2048  # validation.MaxDNSSearchListChars
MAX_DOMAIN = 253  # DNS1123SubdomainMaxLength
DEFAULT_OPTIONS = ["ndots:5"]
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_RESOLV_CONF = "/etc/resolv.conf"

# (event type, reason, message) for the pod: what the caller records.
DNSWarning = tuple[str, str, str]


@dataclass
class DNSSettings:
    """What goes into the CRI DNSConfig (and so resolv.conf): servers, searches, options."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def parse_cluster_dns(values: list[str]) -> list[str]:
    """`--cluster-dns` values (repeated flags and comma lists) as IP strings; a ValueError
    naming the first one that is not an IP address."""
    found = [item.strip() for value in values for item in value.split(",") if item.strip()]
    for item in found:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(f"--cluster-dns {item!r}: not an IP address") from None
    return found


def parse_resolv_conf(text: str) -> DNSSettings:
    """nameserver/search/options of a resolv.conf as upstream's parseResolvConf reads them:
    every nameserver line counts, the last search line wins (trailing dots dropped, `.`
    skipped), options accumulate (a later value for a name replaces the earlier)."""
    settings = DNSSettings()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        fields = line.split()
        if fields[0] == "nameserver" and len(fields) >= 2:
            settings.servers.append(fields[1])
        elif fields[0] == "search":
            settings.searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            settings.options = merge_options(settings.options, fields[1:])
    return settings


def merge_options(existing: list[str], extra: list[str]) -> list[str]:
    """Options by name (`name` or `name:value`), later ones overriding, in first-seen order."""
    merged: dict[str, str] = {}
    for option in [*existing, *extra]:
        name, _, value = option.partition(":")
        merged[name] = value
    return [f"{name}:{value}" if value else name for name, value in merged.items()]


def _dedup(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def pod_ref(pod: dict[str, Any]) -> str:
    """upstream's format.Pod: `name_namespace(uid)`."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', 'default')}({meta.get('uid', '')})"


def policy_type(spec: dict[str, Any]) -> str:
    """The effective policy: `None`, `ClusterFirst` or `Default` (getPodDNSType)."""
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "None":
        return "None"
    if policy == "ClusterFirstWithHostNet":
        return "ClusterFirst"
    if policy == "ClusterFirst" and not spec.get("hostNetwork"):
        return "ClusterFirst"
    if policy in ("ClusterFirst", "Default"):
        return "Default"
    return "ClusterFirst"  # the API server rejects other values; upstream falls back so too


@dataclass
class DNSConfigurer:
    """The kubelet's DNS flags; `pod_dns(pod)` is upstream's Configurer.GetPodDNS."""

    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    resolv_conf: str = DEFAULT_RESOLV_CONF  # "": no host resolver configuration

    _cached: tuple[tuple[int, int], DNSSettings] | None = field(default=None, repr=False)

    def host_settings(self) -> DNSSettings:
        """The host's resolver configuration (empty when unset or unreadable), reparsed only
        when the file changes: every pod sync forms its sandbox config."""
        if not self.resolv_conf:
            return DNSSettings()
        try:
            path = Path(self.resolv_conf)
            stat = path.stat()
            key = (stat.st_mtime_ns, stat.st_size)
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, parse_resolv_conf(path.read_text()))
        except OSError:
            return DNSSettings()
        cached = self._cached[1]
        return DNSSettings(list(cached.servers), list(cached.searches), list(cached.options))

    def cluster_searches(self, namespace: str, host: list[str]) -> list[str]:
        if not self.cluster_domain:
            return host
        domain = self.cluster_domain
        return _dedup([f"{namespace}.svc.{domain}", f"svc.{domain}", domain, *host])

    def pod_dns(self, pod: dict[str, Any]) -> tuple[DNSSettings, list[DNSWarning]]:
        """The pod's DNS settings and the warning events upstream records while forming them."""
        spec = pod.get("spec") or {}
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        warnings: list[DNSWarning] = []
        settings = self.host_settings()
        kind = policy_type(spec)
        if kind == "None":
            settings = DNSSettings()
        elif kind == "ClusterFirst" and self.cluster_dns:
            settings = DNSSettings(
                servers=list(self.cluster_dns),
                searches=self.cluster_searches(namespace, settings.searches),
                options=list(DEFAULT_OPTIONS),
            )
        else:
            if kind == "ClusterFirst":
                warnings.append(
                    (
                        "Warning",
                        "MissingClusterDNS",
                        f'pod: "{pod_ref(pod)}". kubelet does not have ClusterDNS IP '
                        'configured and cannot create Pod using "ClusterFirst" policy. '
                        'Falling back to "Default" policy.',
                    )
                )
            if not self.resolv_conf:
                settings = DNSSettings(servers=["127.0.0.1"], searches=["."])
        config = spec.get("dnsConfig")
        if isinstance(config, dict):
            settings.servers = _dedup(
                [*settings.servers, *map(str, config.get("nameservers") or [])]
            )
            settings.searches = _dedup(
                [*settings.searches, *map(str, config.get("searches") or [])]
            )
            settings.options = merge_options(
                settings.options,
                [
                    str(o["name"]) + (f":{o['value']}" if o.get("value") else "")
                    for o in config.get("options") or []
                    if isinstance(o, dict) and o.get("name")
                ],
            )
        return fit_limits(settings, warnings)


def fit_limits(
    settings: DNSSettings, warnings: list[DNSWarning]
) -> tuple[DNSSettings, list[DNSWarning]]:
    """upstream's formDNSConfigFitsLimits: at most 3 nameservers; searches cut to 32, domains
    over 253 characters dropped, the line cut from the end to 2048 characters."""
    if len(settings.servers) > MAX_NAMESERVERS:
        settings.servers = settings.servers[:MAX_NAMESERVERS]
        warnings.append(
            (
                "Warning",
                "DNSConfigForming",
                "Nameserver limits were exceeded, some nameservers have been omitted, the "
                "applied nameserver line is: " + " ".join(settings.servers),
            )
        )
    searches, exceeded = settings.searches, False
    if len(searches) > MAX_SEARCH_PATHS:
        searches, exceeded = searches[:MAX_SEARCH_PATHS], True
    kept = [s for s in searches if len(s) <= MAX_DOMAIN]
    exceeded = exceeded or len(kept) != len(searches)
    while kept and len(" ".join(kept)) > MAX_SEARCH_LINE:
        kept.pop()
        exceeded = True
    settings.searches = kept
    if exceeded:
        warnings.append(
            (
                "Warning",
                "DNSConfigForming",
                "Search Line limits were exceeded, some search paths have been omitted, the "
                "applied search line is: " + " ".join(kept),
            )
        )
    return settings, warnings
