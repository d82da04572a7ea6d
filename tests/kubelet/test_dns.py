"""A pod's resolv.conf settings per dnsPolicy, as upstream's kubelet forms them (dns.go):
ClusterFirst, its fallback without --cluster-dns (MissingClusterDNS), Default, None, hostNetwork,
dnsConfig merged on top, the limits, and the CRI DNSConfig the sandbox gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kube.kubelet.dns import (
    DNSConfigurer,
    DNSSettings,
    fit_limits,
    parse_cluster_dns,
    parse_resolv_conf,
)
from kube.kubelet.specs import sandbox_config

HOST_RESOLV = """# the node's
nameserver 192.0.2.53
nameserver 192.0.2.54
search example.com corp.example.com.
options timeout:2 attempts:3
"""


@pytest.fixture
def host(tmp_path: Path) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(HOST_RESOLV)
    return str(path)


def _pod(namespace: str = "team", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": namespace, "uid": "u-1"},
        "spec": {"containers": [{"name": "c", "image": "i"}], **spec},
    }


def test_host_resolv_conf_is_read_as_upstream() -> None:
    settings = parse_resolv_conf(
        HOST_RESOLV + "; comment\nsearch a.example. .\noptions ndots:2 timeout:4 rotate\n"
    )
    assert settings.servers == ["192.0.2.53", "192.0.2.54"]
    assert settings.searches == ["a.example"]  # the last search line wins
    assert settings.options == ["timeout:4", "attempts:3", "ndots:2", "rotate"]


def test_cluster_first_uses_only_the_cluster_dns(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    settings, warnings = dns.pod_dns(_pod())
    assert settings == DNSSettings(
        servers=["10.96.0.10"],
        searches=[
            "team.svc.cluster.local",
            "svc.cluster.local",
            "cluster.local",
            "example.com",
            "corp.example.com",
        ],
        options=["ndots:5"],
    )
    assert warnings == []


def test_cluster_first_is_the_default_policy_and_honours_the_domain(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.0.0.10"], cluster_domain="k.test", resolv_conf=host)
    settings, _ = dns.pod_dns(_pod(namespace="default", dnsPolicy="ClusterFirst"))
    assert settings.searches[:3] == ["default.svc.k.test", "svc.k.test", "k.test"]


def test_cluster_first_without_cluster_dns_falls_back_to_default(host: str) -> None:
    settings, warnings = DNSConfigurer(resolv_conf=host).pod_dns(_pod())
    assert settings.servers == ["192.0.2.53", "192.0.2.54"]
    assert settings.searches == ["example.com", "corp.example.com"]
    assert warnings == [
        (
            "Warning",
            "MissingClusterDNS",
            'pod: "web_team(u-1)". kubelet does not have ClusterDNS IP configured and cannot '
            'create Pod using "ClusterFirst" policy. Falling back to "Default" policy.',
        )
    ]


def test_default_is_the_hosts_resolv_conf(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    settings, warnings = dns.pod_dns(_pod(dnsPolicy="Default"))
    assert settings == DNSSettings(
        ["192.0.2.53", "192.0.2.54"],
        ["example.com", "corp.example.com"],
        ["timeout:2", "attempts:3"],
    )
    assert warnings == []


def test_default_without_a_resolv_conf_is_the_local_resolver() -> None:
    settings, _ = DNSConfigurer(resolv_conf="").pod_dns(_pod(dnsPolicy="Default"))
    assert settings == DNSSettings(["127.0.0.1"], ["."], [])


def test_host_network_cluster_first_gets_default_unless_with_host_net(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    plain, _ = dns.pod_dns(_pod(hostNetwork=True))
    assert plain.servers == ["192.0.2.53", "192.0.2.54"]
    with_host_net, _ = dns.pod_dns(_pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"))
    assert with_host_net.servers == ["10.96.0.10"]
    assert with_host_net.options == ["ndots:5"]
    # Without hostNetwork, ClusterFirstWithHostNet is ClusterFirst.
    assert dns.pod_dns(_pod(dnsPolicy="ClusterFirstWithHostNet"))[0].servers == ["10.96.0.10"]


def test_none_is_only_the_pods_dns_config(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    config = {
        "nameservers": ["1.2.3.4"],
        "searches": ["ns1.svc.cluster-domain.example"],
        "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
    }
    settings, warnings = dns.pod_dns(_pod(dnsPolicy="None", dnsConfig=config))
    assert settings == DNSSettings(
        ["1.2.3.4"], ["ns1.svc.cluster-domain.example"], ["ndots:2", "edns0"]
    )
    assert warnings == []


def test_dns_config_is_merged_on_top(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    config = {
        "nameservers": ["10.96.0.10", "8.8.8.8"],
        "searches": ["cluster.local", "my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}],
    }
    settings, _ = dns.pod_dns(_pod(dnsConfig=config))
    assert settings.servers == ["10.96.0.10", "8.8.8.8"]
    assert settings.searches[-1] == "my.dns.search.suffix"
    assert settings.searches.count("cluster.local") == 1
    assert settings.options == ["ndots:1", "single-request"]


def test_limits_trim_with_dns_config_forming_warnings() -> None:
    settings, warnings = fit_limits(
        DNSSettings(
            ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"], [f"d{i}.example" for i in range(40)]
        ),
        [],
    )
    assert settings.servers == ["1.1.1.1", "2.2.2.2", "3.3.3.3"]
    assert len(settings.searches) == 32
    assert [w[1] for w in warnings] == ["DNSConfigForming", "DNSConfigForming"]
    assert warnings[0][2] == (
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied "
        "nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3"
    )
    assert warnings[1][2].startswith("Search Line limits were exceeded")
    long = ["x" * 250 + f"{i}" for i in range(9)] + ["y" * 300]
    settings, _ = fit_limits(DNSSettings([], long), [])
    assert "y" * 300 not in settings.searches
    assert len(" ".join(settings.searches)) <= 2048
    assert settings.searches == long[:8]


def test_cluster_dns_flag_values() -> None:
    assert parse_cluster_dns(["10.96.0.10", "10.96.0.11,fd00::a"]) == [
        "10.96.0.10",
        "10.96.0.11",
        "fd00::a",
    ]
    with pytest.raises(ValueError, match="--cluster-dns 'kube-dns': not an IP address"):
        parse_cluster_dns(["kube-dns"])


def test_the_sandbox_config_carries_the_settings(host: str) -> None:
    dns = DNSConfigurer(cluster_dns=["10.96.0.10"], resolv_conf=host)
    settings, _ = dns.pod_dns(_pod())
    config = sandbox_config(
        _pod(), 0, node_name="n", pod_logs_dir="/l", cgroup_root="/kubepods", dns=settings
    )
    assert list(config.dns_config.servers) == ["10.96.0.10"]
    assert config.dns_config.searches[0] == "team.svc.cluster.local"
    assert list(config.dns_config.options) == ["ndots:5"]


def test_kubelet_flags() -> None:
    import argparse

    from kube.cli.kubelet import add_arguments

    parser = argparse.ArgumentParser(prog="kube kubelet")
    add_arguments(parser)
    assert all(
        f in parser.format_help() for f in ("--cluster-dns", "--cluster-domain", "--resolv-conf")
    )
    args = parser.parse_args(
        ["--kubeconfig", "k", "--cluster-dns", "10.96.0.10,10.96.0.11", "--cluster-dns", "fd00::a"]
    )
    assert parse_cluster_dns(args.cluster_dns) == ["10.96.0.10", "10.96.0.11", "fd00::a"]
    assert (args.cluster_domain, args.resolv_conf) == ("cluster.local", "/etc/resolv.conf")
    assert parser.parse_args(["--kubeconfig", "k", "--resolv-conf", ""]).resolv_conf == ""


def test_the_hosts_resolv_conf_is_reread_when_it_changes(host: str) -> None:
    dns = DNSConfigurer(resolv_conf=host)
    first, _ = dns.pod_dns(_pod(dnsPolicy="Default"))
    first.servers.append("changed by a caller")  # the cached copy stays as read
    assert dns.pod_dns(_pod(dnsPolicy="Default"))[0].servers == ["192.0.2.53", "192.0.2.54"]
    Path(host).write_text("nameserver 198.51.100.1\n")
    assert dns.pod_dns(_pod(dnsPolicy="Default"))[0].servers == ["198.51.100.1"]
