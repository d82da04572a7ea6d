"""fsGroup: the pod's volumes get its group and the group bits, as upstream's SetVolumeOwnership.

What a user of a non-root pod sees on disk: an emptyDir is `drwxrwsrwx` with the fsGroup
(files made later inherit the group through setgid; existing files become `g+rw`); configMap,
secret, projected and downwardAPI files are group-readable (`0400` becomes `0440`), never
group-writable, their directories `g+rxs`; hostPath is left alone; `OnRootMismatch` skips the
walk when the root is already right; and a refresh of unchanged API data does not rewrite it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.runtime.containers import ContainerManager, ContainerRequest
from kube.cri.runtime.images import Image
from kube.cri.runtime.spec import oci_config
from kube.cri.runtime.state import SandboxRecord
from kube.kubelet.ownership import change_policy, fs_group, requires_change, set_volume_ownership
from kube.kubelet.specs import container_config
from kube.kubelet.volumes import VolumeManager
from tests.kubelet.test_volumes import POD, FakeClient

GROUP = 2000

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another group needs root")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _pod(volumes: list[dict[str, Any]], **security: Any) -> dict[str, Any]:
    spec = {**POD["spec"], "volumes": volumes, "securityContext": {"fsGroup": GROUP, **security}}
    return {**POD, "spec": spec}


def test_fields_and_defaults() -> None:
    assert fs_group(_pod([])) == GROUP
    assert fs_group(POD) is None
    assert change_policy(_pod([])) == "Always"
    assert change_policy(_pod([], fsGroupChangePolicy="OnRootMismatch")) == "OnRootMismatch"


def test_a_writable_tree_gets_the_group_rw_and_setgid(tmp_path: Path) -> None:
    root = tmp_path / "vol"
    (root / "sub").mkdir(parents=True)
    os.chmod(root, 0o755)
    os.chmod(root / "sub", 0o700)
    (root / "sub" / "f").write_text("x")
    os.chmod(root / "sub" / "f", 0o600)
    os.symlink("sub/f", root / "link")
    assert requires_change(root, GROUP, readonly=False)
    assert set_volume_ownership(root, GROUP, readonly=False)
    for path in (root, root / "sub", root / "sub" / "f", root / "link"):
        assert os.lstat(path).st_gid == GROUP
    assert _mode(root) == 0o2775
    assert _mode(root / "sub") == 0o2770
    assert _mode(root / "sub" / "f") == 0o660
    assert not requires_change(root, GROUP, readonly=False)
    # OnRootMismatch: the root is right, so nothing is walked (a new file keeps its group).
    (root / "new").write_text("y")
    os.chown(root / "new", -1, 0)
    assert not set_volume_ownership(root, GROUP, readonly=False, policy="OnRootMismatch")
    assert os.stat(root / "new").st_gid == 0
    assert set_volume_ownership(root, GROUP, readonly=False, policy="Always")
    assert os.stat(root / "new").st_gid == GROUP
    assert not set_volume_ownership(root, None, readonly=False)


def test_volumes_of_a_pod_with_an_fs_group(tmp_path: Path) -> None:
    objects = {
        ("configmaps", "cfg"): {"data": {"k": "v"}},
        ("secrets", "sec"): {"data": {"password": base64.b64encode(b"pw").decode()}},
    }
    manager = VolumeManager(FakeClient(objects), tmp_path, tmpfs=False)  # type: ignore[arg-type]
    host = tmp_path / "host"
    host.mkdir(mode=0o755)
    pod = _pod(
        [
            {"name": "scratch", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {"name": "host", "hostPath": {"path": str(host)}},
        ]
    )
    paths = {k: Path(v) for k, v in asyncio.run(manager.setup(pod)).items()}
    scratch = paths["scratch"]
    assert (os.stat(scratch).st_gid, _mode(scratch)) == (GROUP, 0o2777)
    for name, file, mode in (("cfg", "k", 0o644), ("sec", "password", 0o440)):
        data = (paths[name] / "..data").resolve()
        assert (os.stat(data).st_gid, _mode(data)) == (GROUP, 0o2755)
        assert (os.stat(paths[name]).st_gid, _mode(paths[name])) == (GROUP, 0o2755)
        assert (os.stat(data / file).st_gid, _mode(data / file)) == (GROUP, mode)
        assert os.lstat(paths[name] / file).st_gid == GROUP  # the top-level symlink
    assert (os.stat(host).st_gid, _mode(host)) == (0, 0o755)
    # A refresh with nothing changed keeps the same timestamped directory.
    before = os.readlink(paths["sec"] / "..data")
    asyncio.run(manager.setup(pod))
    assert os.readlink(paths["sec"] / "..data") == before
    # A file the container made in the emptyDir keeps its group; a kubelet sync leaves it.
    made = scratch / "made"
    made.write_text("z")
    asyncio.run(manager.setup(pod))
    assert _mode(scratch) == 0o2777
    assert os.stat(made).st_gid == GROUP  # inherited through setgid


def test_no_fs_group_leaves_modes_as_they_were(tmp_path: Path) -> None:
    objects = {("secrets", "sec"): {"data": {"password": base64.b64encode(b"pw").decode()}}}
    manager = VolumeManager(FakeClient(objects), tmp_path, tmpfs=False)  # type: ignore[arg-type]
    pod = {
        **POD,
        "spec": {
            **POD["spec"],
            "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            ],
        },
    }
    paths = {k: Path(v) for k, v in asyncio.run(manager.setup(pod)).items()}
    assert _mode(paths["scratch"]) == 0o777
    assert _mode((paths["sec"] / "..data").resolve() / "password") == 0o400


def test_the_container_gets_fs_group_and_supplemental_groups(tmp_path: Path) -> None:
    """kubelet -> CRI supplemental_groups (fsGroup first) -> runtime -> config.json's
    process.user.additionalGids (the primary group first, as containerd)."""
    pod = _pod([], runAsUser=1000, supplementalGroups=[3000, 2000])
    container = {"name": "c", "image": "busybox"}
    config = container_config(
        pod, container, 0, {}, mounts=[], resources=pb.LinuxContainerResources()
    )
    security = config.linux.security_context
    assert list(security.supplemental_groups) == [GROUP, 3000, GROUP]
    assert security.run_as_user.value == 1000
    request = ContainerRequest(
        name="c",
        image="busybox",
        command=["id"],
        run_as_user=security.run_as_user.value,
        supplemental_groups=tuple(security.supplemental_groups),
    )
    manager = ContainerManager(tmp_path, None)  # type: ignore[arg-type]
    sandbox = SandboxRecord(id="s", name="p", uid="u", namespace="default", attempt=0)
    built = manager.build_spec(sandbox, tmp_path, Image(id="sha256:x"), request)
    user = oci_config(built)["process"]["user"]
    assert user == {"uid": 1000, "gid": 0, "additionalGids": [0, GROUP, 3000]}
    no_groups = container_config(
        POD, container, 0, {}, mounts=[], resources=pb.LinuxContainerResources()
    )
    assert list(no_groups.linux.security_context.supplemental_groups) == []
