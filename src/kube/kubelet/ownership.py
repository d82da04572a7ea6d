"""Volume ownership for a pod's `securityContext.fsGroup` (upstream's SetVolumeOwnership).

A pod that runs as a non-root user must still be able to use its volumes: with `fsGroup`
set, the kubelet gives every file and directory of a volume that supports ownership
management (emptyDir, configMap, secret, projected, downwardAPI; not hostPath) the group
`fsGroup` and the group bits the volume needs, and the container process gets `fsGroup` as a
supplementary group (kube.kubelet.specs), so it reaches the files through the group:

- files: group read and write (`g+rw`), or only read (`g+r`) on a read-only volume (the API
  data volumes);
- directories: the same plus group search (`g+x`; `u+x` too) and setgid (`g+s`), so files the
  container creates later inherit the group;
- symlinks: the link itself changes group (lchown), its target's mode is left alone.

`fsGroupChangePolicy: OnRootMismatch` skips the walk when the volume's root already has the
group, the bits and setgid (upstream's requiresPermissionChange), which saves walking a large
volume on every mount; `Always` (the default) walks every time the volume is set up.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import Any

log = logging.getLogger("kube.kubelet.ownership")

RW_MASK = 0o660
RO_MASK = 0o440
EXEC_MASK = 0o110
ON_ROOT_MISMATCH = "OnRootMismatch"


def fs_group(pod: dict[str, Any]) -> int | None:
    """The pod's `securityContext.fsGroup`, or None when it has none."""
    value = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return int(value) if value is not None else None


def change_policy(pod: dict[str, Any]) -> str:
    """The pod's `securityContext.fsGroupChangePolicy` ("Always" when unset)."""
    security = (pod.get("spec") or {}).get("securityContext") or {}
    return str(security.get("fsGroupChangePolicy") or "Always")


def requires_change(root: Path, group: int, *, readonly: bool) -> bool:
    """False only when the volume's root already has `group`, the mode bits and setgid."""
    try:
        info = os.stat(root)
    except OSError:
        return True
    if info.st_gid != group or not stat.S_ISDIR(info.st_mode):
        return True
    wanted = (RO_MASK if readonly else RW_MASK) | EXEC_MASK
    return (stat.S_IMODE(info.st_mode) & wanted) != wanted or not info.st_mode & stat.S_ISGID


def _change(path: str, group: int, readonly: bool) -> None:
    """One entry: lchown to the group, then the mask (not through a symlink)."""
    os.lchown(path, -1, group)
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    mask = RO_MASK if readonly else RW_MASK
    if stat.S_ISDIR(info.st_mode):
        mask |= stat.S_ISGID | EXEC_MASK
    mode = stat.S_IMODE(info.st_mode)
    if mode | mask != mode:
        os.chmod(path, mode | mask)


def set_volume_ownership(
    root: Path, group: int | None, *, readonly: bool, policy: str | None = None
) -> bool:
    """Gives the volume at `root` the group `group` (see the module doc); True if it walked.

    The walk does not follow symlinks (the atomic writer's `..data` and its top-level links are
    changed as links; the timestamped directory they point into is walked itself).
    """
    if group is None:
        return False
    if policy == ON_ROOT_MISMATCH and not requires_change(root, group, readonly=readonly):
        return False
    _change(str(root), group, readonly)
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            _change(os.path.join(directory, name), group, readonly)
    return True
