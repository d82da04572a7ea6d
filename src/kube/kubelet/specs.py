"""What the kubelet asks the runtime for: the CRI PodSandboxConfig and ContainerConfig of a pod.

Pure builders (no I/O) from the pod spec. Labels and annotations are upstream's
(io.kubernetes.*), so `crictl` users and other runtimes (containerd) see what they expect and
the kubelet finds its sandboxes and containers again by pod uid and container name. The
container's command and args have `$(VAR)` expanded against its resolved environment.
"""

from __future__ import annotations

from typing import Any

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.kubelet.dns import DEFAULT_CLUSTER_DOMAIN, DNSConfigurer, DNSSettings
from kube.kubelet.envvars import expand
from kube.kubelet.etchosts import HostnameError, hostname_and_domain, kernel_hostname
from kube.kubelet.termination import DEFAULT_PATH, MESSAGE_PATH, MESSAGE_POLICY

POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"
GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod"


def namespace_options(spec: dict[str, Any]) -> Any:
    """The pod's Linux namespaces, as upstream's kubelet asks for them of any CRI runtime
    (namespacesForPod): network and IPC are the pod's (the node's with hostNetwork/hostIPC);
    each container has a PID namespace of its own unless shareProcessNamespace (the pod's) or
    hostPID (the node's). The zero value would be POD, a PID namespace shared with the sandbox."""
    return pb.NamespaceOption(
        network=pb.NODE if spec.get("hostNetwork") else pb.POD,
        ipc=pb.NODE if spec.get("hostIPC") else pb.POD,
        pid=(
            pb.NODE
            if spec.get("hostPID")
            else pb.POD
            if spec.get("shareProcessNamespace")
            else pb.CONTAINER
        ),
    )


PROTOCOLS = {"TCP": pb.TCP, "UDP": pb.UDP, "SCTP": pb.SCTP}


def port_mappings(spec: dict[str, Any]) -> list[Any]:
    """Every container port as a CRI PortMapping (upstream's MakePortMappings: the runtime or
    its CNI portmap acts on the ones with a hostPort)."""
    mappings = []
    for container in spec.get("containers") or []:
        for port in container.get("ports") or []:
            if not isinstance(port, dict) or not port.get("containerPort"):
                continue
            mappings.append(
                pb.PortMapping(
                    protocol=PROTOCOLS.get(str(port.get("protocol") or "TCP"), pb.TCP),
                    container_port=int(port["containerPort"]),
                    host_port=int(port.get("hostPort") or 0),
                    host_ip=str(port.get("hostIP") or ""),
                )
            )
    return mappings


def sandbox_config(
    pod: dict[str, Any],
    attempt: int,
    *,
    node_name: str,
    pod_logs_dir: str,
    cgroup_root: str,
    dns: DNSSettings | None = None,
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
) -> Any:
    """The pod's sandbox: metadata, hostname, DNS (`dns` from kube.kubelet.dns; without it,
    only spec.dnsConfig), port mappings, log directory, cgroup parent, network."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    uid, name, namespace = meta["uid"], meta["name"], meta.get("namespace", "default")
    host_network = bool(spec.get("hostNetwork"))
    try:
        hostname = node_name if host_network else kernel_hostname(pod, cluster_domain)
    except HostnameError:  # upstream fails the sandbox; the short name keeps the pod running
        hostname = hostname_and_domain(pod, cluster_domain)[0]
    if dns is None:
        dns, _ = DNSConfigurer(resolv_conf="").pod_dns(
            {**pod, "spec": {**spec, "dnsPolicy": "None"}}
        )
    config = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=attempt),
        hostname=hostname,
        log_directory=f"{pod_logs_dir}/{namespace}_{name}_{uid}",
        dns_config=pb.DNSConfig(servers=dns.servers, searches=dns.searches, options=dns.options),
        port_mappings=port_mappings(spec),
        labels={POD_UID: uid, POD_NAME: name, POD_NAMESPACE: namespace},
        annotations=dict(meta.get("annotations") or {}),
    )
    config.linux.cgroup_parent = f"{cgroup_root}/pod{uid}"
    config.linux.security_context.namespace_options.CopyFrom(namespace_options(spec))
    return config


def container_config(
    pod: dict[str, Any],
    container: dict[str, Any],
    attempt: int,
    env: dict[str, str],
    *,
    mounts: list[Any],
    resources: Any,
) -> Any:
    """One container instance: image, command/args (expanded), env, labels, annotations (the
    restart count, grace period and termination-message settings), mounts, resources, user."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    grace = spec.get("terminationGracePeriodSeconds")
    config = pb.ContainerConfig(
        metadata=pb.ContainerMetadata(name=container["name"], attempt=attempt),
        image=pb.ImageSpec(image=container.get("image", "")),
        command=[expand(c, env) for c in container.get("command") or []],
        args=[expand(a, env) for a in container.get("args") or []],
        working_dir=container.get("workingDir") or "",
        envs=[pb.KeyValue(key=k, value=v.encode()) for k, v in env.items()],
        labels={
            POD_UID: meta["uid"],
            POD_NAME: meta["name"],
            POD_NAMESPACE: meta.get("namespace", "default"),
            CONTAINER_NAME: container["name"],
        },
        annotations={
            RESTART_COUNT: str(attempt),
            GRACE_PERIOD: str(30 if grace is None else grace),
            MESSAGE_PATH: str(container.get("terminationMessagePath") or DEFAULT_PATH),
            MESSAGE_POLICY: str(container.get("terminationMessagePolicy") or "File"),
        },
        log_path=f"{container['name']}/{attempt}.log",
        stdin=bool(container.get("stdin")),
        stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
    )
    config.linux.resources.CopyFrom(resources)
    config.mounts.extend(mounts)
    security = container.get("securityContext") or {}
    pod_security = spec.get("securityContext") or {}
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    group = security.get("runAsGroup", pod_security.get("runAsGroup"))
    if user is not None:
        config.linux.security_context.run_as_user.value = int(user)
    if group is not None:
        config.linux.security_context.run_as_group.value = int(group)
    # Upstream's order: the pod's fsGroup, then its supplementalGroups (extra GIDs).
    fs_group = pod_security.get("fsGroup")
    extra = [fs_group] if fs_group is not None else []
    extra += pod_security.get("supplementalGroups") or []
    config.linux.security_context.supplemental_groups.extend(int(g) for g in extra)
    config.linux.security_context.readonly_rootfs = bool(security.get("readOnlyRootFilesystem"))
    config.linux.security_context.privileged = bool(security.get("privileged"))
    config.linux.security_context.namespace_options.CopyFrom(namespace_options(spec))
    return config
