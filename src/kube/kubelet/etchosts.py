"""The pod's /etc/hosts, written by the kubelet and bind-mounted into each container.

The CRI has no field for the hosts file, so upstream's kubelet writes `<pod dir>/etc-hosts`
itself once the pod IP is known and mounts it at /etc/hosts into every container (unless the
container mounts something there itself); any CRI runtime (containerd too) then shows the same
file. A pod's own file is "managed": localhost and the IPv6 names, the pod IP with its hostname
(and FQDN `<hostname>.<subdomain>.<ns>.svc.<domain>` with a subdomain), then the pod's
hostAliases. A hostNetwork pod gets the node's /etc/hosts plus its hostAliases.

Also the pod's hostname and domain (upstream's GeneratePodHostNameAndDomain and
GetNodenameForKernel), which the sandbox's hostname uses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ETC_HOSTS = "/etc/hosts"
HEADER = "# Kubernetes-managed hosts file.\n"
HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
MAX_HOSTNAME = 63  # a kernel hostname of a pod is a DNS label
MAX_FQDN = 64  # the kernel's limit for a hostname


class HostnameError(Exception):
    """setHostnameAsFQDN with an FQDN longer than the kernel takes (upstream's message)."""


def hostname_and_domain(pod: dict[str, Any], cluster_domain: str) -> tuple[str, str]:
    """(hostname, domain): spec.hostname or the pod name cut to 63 characters (trailing `-`
    and `.` dropped); `<subdomain>.<ns>.svc.<cluster domain>` when spec.subdomain is set."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    hostname = str(spec.get("hostname") or meta.get("name") or "")
    if len(hostname) > MAX_HOSTNAME:
        hostname = hostname[:MAX_HOSTNAME].rstrip("-.")
    domain = ""
    if spec.get("subdomain"):
        namespace = meta.get("namespace") or "default"
        domain = f"{spec['subdomain']}.{namespace}.svc.{cluster_domain}"
    return hostname, domain


def kernel_hostname(pod: dict[str, Any], cluster_domain: str) -> str:
    """The sandbox's hostname: the FQDN with setHostnameAsFQDN (and a domain), else the
    short name."""
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    if (pod.get("spec") or {}).get("setHostnameAsFQDN") and domain:
        fqdn = f"{hostname}.{domain}"
        if len(fqdn) > MAX_FQDN:
            raise HostnameError(
                f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} "
                f"is too long ({MAX_FQDN} characters is the max, {len(fqdn)} characters "
                "requested)"
            )
        return fqdn
    return hostname


def _aliases(pod: dict[str, Any]) -> str:
    entries = [
        a
        for a in (pod.get("spec") or {}).get("hostAliases") or []
        if isinstance(a, dict) and a.get("ip")
    ]
    if not entries:
        return ""
    lines = [f"{a['ip']}\t" + "\t".join(map(str, a.get("hostnames") or [])) for a in entries]
    return "\n# Entries added by HostAliases.\n" + "".join(line + "\n" for line in lines)


def managed_hosts(pod: dict[str, Any], pod_ips: list[str], cluster_domain: str) -> str:
    """upstream's managedHostsFileContent for a pod with its own network."""
    hostname, domain = hostname_and_domain(pod, cluster_domain)
    text = (
        HEADER
        + "127.0.0.1\tlocalhost\n"
        + "::1\tlocalhost ip6-localhost ip6-loopback\n"
        + "fe00::0\tip6-localnet\n"
        + "fe00::0\tip6-mcastprefix\n"
        + "fe00::1\tip6-allnodes\n"
        + "fe00::2\tip6-allrouters\n"
    )
    for address in pod_ips:
        if domain:
            text += f"{address}\t{hostname}.{domain}\t{hostname}\n"
        else:
            text += f"{address}\t{hostname}\n"
    return text + _aliases(pod)


def node_hosts(pod: dict[str, Any], node_hosts_file: Path = Path(ETC_HOSTS)) -> str:
    """upstream's nodeHostsFileContent: the node's /etc/hosts for a hostNetwork pod."""
    try:
        node = node_hosts_file.read_text()
    except OSError:
        node = ""
    return HEADER_HOST_NETWORK + node + _aliases(pod)


def hosts_content(
    pod: dict[str, Any],
    pod_ips: list[str],
    cluster_domain: str,
    node_hosts_file: Path = Path(ETC_HOSTS),
) -> str:
    if (pod.get("spec") or {}).get("hostNetwork"):
        return node_hosts(pod, node_hosts_file)
    return managed_hosts(pod, pod_ips, cluster_domain)


def hosts_path(root_dir: Path, uid: str) -> Path:
    """`<root-dir>/pods/<uid>/etc-hosts`, removed with the pod's directory."""
    return root_dir / "pods" / uid / "etc-hosts"


def ensure_hosts_file(
    root_dir: Path,
    pod: dict[str, Any],
    pod_ips: list[str],
    cluster_domain: str,
    node_hosts_file: Path = Path(ETC_HOSTS),
) -> Path:
    """Writes the pod's hosts file (only when its content changed); its path."""
    path = hosts_path(root_dir, str(pod["metadata"]["uid"]))
    content = hosts_content(pod, pod_ips, cluster_domain, node_hosts_file)
    try:
        if path.read_text() == content:
            return path
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # In place, as upstream's os.WriteFile: the containers' bind mounts keep the same inode.
    path.write_text(content)
    os.chmod(path, 0o644)
    return path


def wants_hosts_mount(container: dict[str, Any], pod_ips: list[str]) -> bool:
    """Mount only with a pod IP and when the container mounts nothing at /etc/hosts itself."""
    if not pod_ips:
        return False
    return all(
        m.get("mountPath") != ETC_HOSTS
        for m in container.get("volumeMounts") or []
        if isinstance(m, dict)
    )
