"""The runtime's records of sandboxes and containers, kept as JSON beside their bundles.

Each record lives in its own directory (`<root>/sandboxes/<id>/sandbox.json`,
`<root>/containers/<id>/container.json`), written atomically, so a restarted `kube runtime`
finds every pod and container it had; a container's exit is read from the file its shim wrote.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# CRI states (runtime.v1 ContainerState / PodSandboxState values).
CONTAINER_CREATED = 0
CONTAINER_RUNNING = 1
CONTAINER_EXITED = 2
CONTAINER_UNKNOWN = 3
SANDBOX_READY = 0
SANDBOX_NOTREADY = 1


def new_id() -> str:
    """A 64-hex id, as the other runtimes give."""
    return secrets.token_hex(32)


@dataclass
class SandboxRecord:
    id: str
    name: str
    uid: str
    namespace: str
    attempt: int
    hostname: str = ""
    log_directory: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    state: int = SANDBOX_READY
    host_network: bool = False
    netns: str = ""
    netns_path: str = ""
    ip: str = ""
    cgroup_parent: str = ""
    runtime_handler: str = ""


@dataclass
class ContainerRecord:
    id: str
    sandbox_id: str
    name: str
    attempt: int
    image: str  # the reference the kubelet asked for
    image_id: str  # sha256:<config digest>
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    created_at: int = 0
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    mounts: list[dict[str, Any]] = field(default_factory=list)
    rootfs_mounted: bool = False
    mode: str = "runc"
    cgroups_path: str = ""


def save(record: SandboxRecord | ContainerRecord, directory: Path, name: str) -> None:
    """Writes the record as JSON (atomically). Its fields as they are (`vars`), not asdict's
    deep copy, and no indent (the C encoder): a container's record is saved at its create, its
    start and its exit, and this was a tenth of a millisecond each."""
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.partial"
    partial.write_text(json.dumps(vars(record)))
    partial.replace(directory / name)


def load_sandboxes(root: Path) -> dict[str, SandboxRecord]:
    found: dict[str, SandboxRecord] = {}
    for path in sorted(root.glob("*/sandbox.json")):
        try:
            record = SandboxRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        found[record.id] = record
    return found


def load_containers(root: Path) -> dict[str, ContainerRecord]:
    found: dict[str, ContainerRecord] = {}
    for path in sorted(root.glob("*/container.json")):
        try:
            record = ContainerRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        found[record.id] = record
    return found
