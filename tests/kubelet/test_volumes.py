"""Pod volumes on the node: the atomic writer's layout, hostPath type checks, the downward API,
and the manager's configMap/secret/projected/emptyDir setup against a fake API client."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from kube.api import errors
from kube.kubelet.volumes import (
    CONFIGMAP,
    EMPTY_DIR,
    PROJECTED,
    SECRET,
    MountError,
    VolumeManager,
    check_host_path,
    check_path,
    field_ref,
    resource_field_ref,
    write_atomic,
)


def _read(path: Path) -> str:
    return path.read_text()


def test_atomic_writer_layout_and_swap(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    assert write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    data = target / "..data"
    assert data.is_symlink()
    assert os.readlink(data).startswith("..20")
    assert os.readlink(target / "a") == "..data/a"
    assert os.readlink(target / "dir") == "..data/dir"
    assert _read(target / "a") == "1"
    assert _read(target / "dir" / "b") == "2"
    assert stat.S_IMODE((target / "dir" / "b").stat().st_mode) == 0o400
    first = os.readlink(data)
    assert not write_atomic(target, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    assert os.readlink(data) == first  # same payload: nothing rewritten
    assert write_atomic(target, {"a": (b"changed", 0o644)})
    assert os.readlink(data) != first
    assert not (target / first).exists()  # the old timestamped dir is gone
    assert not (target / "dir").exists()  # a name no longer in the payload is removed
    assert _read(target / "a") == "changed"
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith("..20")) == [
        "..data",
        "a",
    ]


@pytest.mark.parametrize("bad", ["", "/abs", "../x", "a/../b", "..hidden"])
def test_payload_paths_are_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid path"):
        check_path(bad)


def test_host_path_types(tmp_path: Path) -> None:
    directory, file = tmp_path / "d", tmp_path / "f"
    directory.mkdir()
    file.write_text("x")
    check_host_path(str(directory), "Directory")
    check_host_path(str(file), "File")
    check_host_path(str(tmp_path / "nothing"), "")
    with pytest.raises(ValueError, match=f"hostPath type check failed: {file} is not a directory"):
        check_host_path(str(file), "Directory")
    with pytest.raises(ValueError, match="is not a file"):
        check_host_path(str(directory), "File")
    with pytest.raises(ValueError, match="is not a directory"):
        check_host_path(str(tmp_path / "missing"), "Directory")
    check_host_path(str(tmp_path / "made" / "deep"), "DirectoryOrCreate")
    assert (tmp_path / "made" / "deep").is_dir()
    check_host_path(str(tmp_path / "new-file"), "FileOrCreate")
    assert (tmp_path / "new-file").is_file()
    with pytest.raises(ValueError, match="is not a socket file"):
        check_host_path(str(file), "Socket")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s"))
        check_host_path(str(tmp_path / "s"), "Socket")
    finally:
        sock.close()
    with pytest.raises(ValueError, match="is not a character device"):
        check_host_path(str(file), "CharDevice")
    check_host_path("/dev/null", "CharDevice")
    with pytest.raises(ValueError, match="Bogus is an invalid volume type"):
        check_host_path(str(file), "Bogus")


POD: dict[str, Any] = {
    "metadata": {
        "name": "web",
        "namespace": "ns",
        "uid": "uid-1",
        "labels": {"b": "2", "a": 'x"y'},
        "annotations": {"note": "hi"},
    },
    "spec": {
        "serviceAccountName": "robot",
        "containers": [
            {
                "name": "c",
                "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/etc/cfg"},
                    {"name": "scratch", "mountPath": "/scratch", "subPath": "sub"},
                    {"name": "host", "mountPath": "/host", "readOnly": True},
                ],
            }
        ],
    },
}


def test_downward_api_values() -> None:
    assert field_ref(POD, "metadata.labels") == 'a="x\\"y"\nb="2"'
    assert field_ref(POD, "metadata.annotations['note']") == "hi"
    assert field_ref(POD, "metadata.uid") == "uid-1"
    ref = {"resource": "limits.cpu", "divisor": "1m"}
    assert resource_field_ref(POD, ref, "c") == "500"
    assert resource_field_ref(POD, {"resource": "limits.cpu"}, "c") == "1"  # rounded up
    assert resource_field_ref(POD, {"resource": "limits.memory", "divisor": "1Mi"}, "c") == "64"
    assert resource_field_ref(POD, {"resource": "requests.memory"}, "c") == str(64 * 1024 * 1024)
    with pytest.raises(ValueError, match="unsupported fieldPath"):
        field_ref(POD, "status.podIP")


class FakeClient:
    """The API calls the manager makes: GET configmaps/secrets, POST serviceaccounts/token."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.objects = objects
        self.token_requests: list[dict[str, Any]] = []

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = self.objects.get((kind.plural, name))
        if found is None:
            raise errors.not_found("", kind.plural, name)
        return found

    async def create(
        self,
        kind: Any,
        obj: dict[str, Any],
        namespace: str | None = None,
        *,
        subresource: str = "",
        name: str = "",
    ) -> dict[str, Any]:
        assert (kind.plural, subresource, name, namespace) == (
            "serviceaccounts",
            "token",
            "robot",
            "ns",
        )
        self.token_requests.append(obj)
        return {
            "status": {
                "token": f"tok-{len(self.token_requests)}",
                "expirationTimestamp": "2099-01-01T00:00:00Z",
            }
        }


def _manager(
    tmp_path: Path, objects: dict[tuple[str, str], dict[str, Any]]
) -> tuple[VolumeManager, FakeClient, list[tuple[str, str, str]]]:
    client = FakeClient(objects)
    events: list[tuple[str, str, str]] = []
    manager = VolumeManager(
        client,  # type: ignore[arg-type]
        tmp_path,
        recorder=lambda obj, kind, reason, message: events.append((kind, reason, message)),
        tmpfs=False,
    )
    return manager, client, events


def _pod(volumes: list[dict[str, Any]]) -> dict[str, Any]:
    return {**POD, "spec": {**POD["spec"], "volumes": volumes}}


def test_missing_configmap_fails_with_upstreams_message(tmp_path: Path) -> None:
    manager, _, events = _manager(tmp_path, {})
    pod = _pod([{"name": "cfg", "configMap": {"name": "missing"}}])
    with pytest.raises(MountError) as caught:
        asyncio.run(manager.setup(pod))
    message = 'MountVolume.SetUp failed for volume "cfg" : configmap "missing" not found'
    assert str(caught.value) == message
    assert events == [("Warning", "FailedMount", message)]
    pod = _pod([{"name": "s", "secret": {"secretName": "nope"}}])
    with pytest.raises(MountError, match='secret "nope" not found'):
        asyncio.run(manager.setup(pod))
    optional = _pod([{"name": "cfg", "configMap": {"name": "missing", "optional": True}}])
    paths = asyncio.run(manager.setup(optional))
    assert Path(paths["cfg"]).is_dir()


def test_configmap_secret_projected_and_mounts(tmp_path: Path) -> None:
    objects = {
        ("configmaps", "cfg"): {"data": {"k1": "v1", "k2": "v2"}},
        ("secrets", "sec"): {"data": {"password": base64.b64encode(b"s3cr3t").decode()}},
        ("configmaps", "kube-root-ca.crt"): {"data": {"ca.crt": "CERT"}},
    }
    manager, client, _ = _manager(tmp_path, objects)
    host = tmp_path / "hostdir"
    host.mkdir()
    pod = _pod(
        [
            {
                "name": "cfg",
                "configMap": {
                    "name": "cfg",
                    "items": [{"key": "k1", "path": "one/k1", "mode": 0o600}],
                },
            },
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": str(host), "type": "Directory"}},
            {
                "name": "api",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ]
                },
            },
        ]
    )
    paths = asyncio.run(manager.setup(pod))
    base = tmp_path / "pods" / "uid-1" / "volumes"
    assert paths["cfg"] == str(base / CONFIGMAP / "cfg")
    assert _read(base / CONFIGMAP / "cfg" / "one" / "k1") == "v1"
    assert not (base / CONFIGMAP / "cfg" / "k2").exists()
    assert stat.S_IMODE((base / CONFIGMAP / "cfg" / "one" / "k1").stat().st_mode) == 0o600
    assert _read(base / SECRET / "sec" / "password") == "s3cr3t"
    assert stat.S_IMODE((base / SECRET / "sec" / "password").stat().st_mode) == 0o400
    assert (base / EMPTY_DIR / "scratch").is_dir()
    assert paths["host"] == str(host)
    assert _read(base / PROJECTED / "api" / "token") == "tok-1"
    assert _read(base / PROJECTED / "api" / "ca.crt") == "CERT"
    assert _read(base / PROJECTED / "api" / "namespace") == "ns"
    request = client.token_requests[0]["spec"]
    assert request["expirationSeconds"] == 3607
    assert request["boundObjectRef"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "web",
        "uid": "uid-1",
    }
    # A second sync reuses the cached token and picks up a changed ConfigMap.
    objects[("configmaps", "cfg")] = {"data": {"k1": "new"}}
    asyncio.run(manager.setup(pod))
    assert len(client.token_requests) == 1
    assert _read(base / CONFIGMAP / "cfg" / "one" / "k1") == "new"
    # Once set up, a missing ConfigMap only warns; the old content stays.
    del objects[("configmaps", "cfg")]
    asyncio.run(manager.setup(pod))
    assert _read(base / CONFIGMAP / "cfg" / "one" / "k1") == "new"

    mounts = {m.container_path: m for m in manager.mounts(pod, pod["spec"]["containers"][0])}
    assert mounts["/etc/cfg"].host_path == str(base / CONFIGMAP / "cfg")
    assert mounts["/etc/cfg"].readonly  # API data is always read-only
    assert mounts["/scratch"].host_path == str(base / EMPTY_DIR / "scratch" / "sub")
    assert (base / EMPTY_DIR / "scratch" / "sub").is_dir()
    assert not mounts["/scratch"].readonly
    assert mounts["/host"].readonly

    asyncio.run(manager.teardown("uid-1"))
    assert not (tmp_path / "pods" / "uid-1").exists()
    assert host.is_dir()  # hostPath is never removed


def test_items_naming_a_missing_key(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path, {("configmaps", "cfg"): {"data": {"a": "1"}}})
    pod = _pod(
        [{"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "b"}]}}]
    )
    with pytest.raises(MountError, match="configmap references non-existent config key: b"):
        asyncio.run(manager.setup(pod))


def test_sub_path_expr_expands_the_containers_env(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path, {})
    pod = _pod([{"name": "logs", "emptyDir": {}}])
    container = {
        "name": "c",
        "volumeMounts": [
            {"name": "logs", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)"},
            {"name": "logs", "mountPath": "/bad", "subPath": "../escape"},
        ],
    }
    asyncio.run(manager.setup(pod))
    mounts = manager.mounts(pod, container, {"POD_NAME": "web"})
    assert [(m.container_path, Path(m.host_path).name) for m in mounts] == [("/logs", "web")]


def test_orphaned_pod_dirs_are_removed(tmp_path: Path) -> None:
    manager, _, _ = _manager(tmp_path, {})
    asyncio.run(manager.setup(_pod([{"name": "scratch", "emptyDir": {}}])))
    (tmp_path / "pods" / "gone" / "volumes" / EMPTY_DIR / "x").mkdir(parents=True)
    (tmp_path / "pods" / "known" / "volumes").mkdir(parents=True)
    asyncio.run(manager.cleanup_orphans({"known"}))
    assert sorted(p.name for p in (tmp_path / "pods").iterdir()) == ["known", "uid-1"]
