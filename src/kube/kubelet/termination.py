"""Termination messages: what a container leaves in terminationMessagePath, or its log's tail.

As upstream: for each container instance the kubelet makes an empty file under
`<root-dir>/pods/<uid>/containers/<name>/<random>` and mounts it read-write at the container's
`terminationMessagePath` (default /dev/termination-log). When the container has exited, the
kubelet reads at most 4096 bytes of that file into `state.terminated.message`; with
`terminationMessagePolicy: FallbackToLogsOnError`, an empty file and a failure (non-zero exit)
use the last 80 lines (at most 2048 bytes) of the container's log instead. The path and the
policy travel as the container's annotations so the runtime's ContainerStatus says where to
look.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from kube.kubelet.status import EXITED, ContainerInfo

MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath"
MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy"
DEFAULT_PATH = "/dev/termination-log"
MAX_MESSAGE = 4096
MAX_LOG_LINES = 80
MAX_LOG_BYTES = 2048


def message_file(root_dir: Path, uid: str, name: str) -> Path:
    """A new empty host file for one container instance's termination message."""
    directory = root_dir / "pods" / uid / "containers" / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / secrets.token_hex(4)
    path.touch(mode=0o666)
    path.chmod(0o666)  # whatever user the container runs as may write it
    return path


def log_tail(log_path: str, lines: int = MAX_LOG_LINES, limit: int = MAX_LOG_BYTES) -> str:
    """The last `lines` lines of a CRI-format log (`<time> <stream> <P|F> <text>`), joined."""
    try:
        raw = Path(log_path).read_bytes()[-256 * 1024 :].decode(errors="replace")
    except OSError:
        return ""
    text = []
    for line in raw.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 3:
            continue
        content = parts[3] if len(parts) == 4 else ""
        text.append(content + ("\n" if parts[2] == "F" else ""))
    joined = "".join(text)
    tail = "".join(joined.splitlines(keepends=True)[-lines:])
    data = tail.encode()[-limit:]
    return data.decode(errors="ignore")


def termination_message(message_path: str, log_path: str, policy: str, exit_code: int) -> str:
    """The message of an exited container (upstream's getTerminationMessage + log fallback)."""
    message = ""
    if message_path:
        try:
            with open(message_path, "rb") as source:
                message = source.read(MAX_MESSAGE).decode(errors="replace")
        except OSError:
            message = ""
    if not message and policy == "FallbackToLogsOnError" and exit_code != 0 and log_path:
        message = log_tail(log_path)
    return message


def mount_of(status: Any) -> str:
    """The host file of a CRI ContainerStatus's termination message mount, or ''."""
    wanted = status.annotations.get(MESSAGE_PATH, "")
    if not wanted:
        return ""
    for mount in status.mounts:
        if mount.container_path == wanted:
            return str(mount.host_path)
    return ""


def with_messages(
    pod: dict[str, Any], containers: dict[str, list[ContainerInfo]]
) -> dict[str, list[ContainerInfo]]:
    """The pod's runtime containers, the exited ones with their termination messages."""
    spec = pod.get("spec") or {}
    policies = {
        c["name"]: str(c.get("terminationMessagePolicy") or "File")
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    }
    out: dict[str, list[ContainerInfo]] = {}
    for name, history in containers.items():
        out[name] = [
            replace(
                info,
                message=termination_message(
                    info.message_path, info.log_path, policies.get(name, "File"), info.exit_code
                )
                or info.message,
            )
            if info.state == EXITED
            else info
            for info in history
        ]
    return out
