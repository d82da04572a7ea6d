"""The OCI runtime spec (`config.json`) of one container, built from what the CRI asks for.

A pure function of its inputs, so it can be tested without runc: the process (args, env, cwd,
user), its own pid/ipc/uts/mount namespaces and the pod's network namespace by path (none for
a hostNetwork pod), the standard /proc, /dev and /sys mounts, the pod's /etc/hosts,
/etc/resolv.conf and /etc/hostname, the CRI's volume mounts, and the cgroup (path under the
kubelet's parent, with CPU, memory and pids limits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OCI_VERSION = "1.0.2"
# cgroups v1 accounts memory+swap only with this file (swapaccount=1); runc fails without it.
SWAP_ACCOUNTING = Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The capabilities containerd and Docker give a container by default.
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
]
READONLY_PATHS = [
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
]


@dataclass
class Mount:
    """A bind mount of a host path into the container."""

    container_path: str
    host_path: str
    readonly: bool = False


@dataclass
class Resources:
    """The CRI's LinuxContainerResources, as far as cgroups v1 and v2 both take them."""

    cpu_shares: int = 0
    cpu_quota: int = 0
    cpu_period: int = 0
    memory_limit_bytes: int = 0
    memory_swap_bytes: int = 0  # memory plus swap; honoured where the kernel accounts swap
    pids_limit: int = 0


@dataclass
class ContainerSpec:
    """Everything config.json is made of."""

    args: list[str]
    env: list[str] = field(default_factory=list)
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    hostname: str = ""
    netns_path: str | None = None  # None: the host's network namespace
    mounts: list[Mount] = field(default_factory=list)
    resources: Resources = field(default_factory=Resources)
    cgroups_path: str = ""
    readonly_rootfs: bool = False
    privileged: bool = False
    tty: bool = False
    annotations: dict[str, str] = field(default_factory=dict)


def merge_env(image_env: list[str], env: list[tuple[str, str]]) -> list[str]:
    """The image's environment overridden by the container's, in order, with a PATH."""
    merged: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        merged[key] = value
    for key, value in env:
        merged[key] = value
    if "PATH" not in merged:
        merged["PATH"] = PATH_ENV.partition("=")[2]
    return [f"{k}={v}" for k, v in merged.items()]


def command_line(
    image_entrypoint: list[str], image_cmd: list[str], command: list[str], args: list[str]
) -> list[str]:
    """The process's argv as the runtimes choose it: a container `command` replaces the image's
    ENTRYPOINT (and drops its CMD), container `args` replace the image's CMD."""
    if command:
        return [*command, *args]
    return [*image_entrypoint, *(args if args else image_cmd)]


def oci_config(spec: ContainerSpec) -> dict[str, Any]:
    """The OCI runtime spec for runc."""
    namespaces: list[dict[str, str]] = [
        {"type": "pid"},
        {"type": "ipc"},
        {"type": "uts"},
        {"type": "mount"},
    ]
    if spec.netns_path is not None:
        namespaces.append({"type": "network", "path": spec.netns_path})
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]
    for mount in spec.mounts:
        options = ["rbind", "rprivate", "ro" if mount.readonly else "rw"]
        mounts.append(
            {
                "destination": mount.container_path,
                "type": "bind",
                "source": mount.host_path,
                "options": options,
            }
        )
    caps = list(DEFAULT_CAPABILITIES)
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    cpu: dict[str, int] = {}
    if spec.resources.cpu_shares:
        cpu["shares"] = spec.resources.cpu_shares
    if spec.resources.cpu_quota:
        cpu["quota"] = spec.resources.cpu_quota
    if spec.resources.cpu_period:
        cpu["period"] = spec.resources.cpu_period
    if cpu:
        resources["cpu"] = cpu
    if spec.resources.memory_limit_bytes:
        resources["memory"] = {"limit": spec.resources.memory_limit_bytes}
        swap = spec.resources.memory_swap_bytes
        if swap >= spec.resources.memory_limit_bytes and SWAP_ACCOUNTING.exists():
            resources["memory"]["swap"] = swap
    if spec.resources.pids_limit:
        resources["pids"] = {"limit": spec.resources.pids_limit}
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "resources": resources,
        "maskedPaths": [] if spec.privileged else MASKED_PATHS,
        "readonlyPaths": [] if spec.privileged else READONLY_PATHS,
    }
    if spec.cgroups_path:
        linux["cgroupsPath"] = spec.cgroups_path
    config: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": spec.tty,
            "user": {"uid": spec.uid, "gid": spec.gid, "additionalGids": spec.additional_gids},
            "args": spec.args,
            "env": spec.env,
            "cwd": spec.cwd or "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": False,
        },
        "root": {"path": "rootfs", "readonly": spec.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": dict(spec.annotations),
    }
    if spec.hostname:
        config["hostname"] = spec.hostname
    return config
