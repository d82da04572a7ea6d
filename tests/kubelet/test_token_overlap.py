"""A pod's TokenRequest goes while its sandbox is made (kube.kubelet.pods `sync`,
kube.kubelet.volumes `setup` in two parts), and a missing ConfigMap or Secret still fails the
pod as upstream: a FailedMount event, no sandbox and no TokenRequest.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kube.api import errors
from kube.kubelet.pods import PodSyncer
from kube.kubelet.volumes import PROJECTED, TOKENS, WITHOUT_TOKENS, VolumeManager
from tests.kubelet.test_init import FakeCRI

ACCESS = {  # what the ServiceAccount admission plugin gives every pod
    "name": "kube-api-access-x",
    "projected": {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
        ],
    },
}


def _pod() -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
        "spec": {
            "containers": [{"name": "main", "image": "img"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}, ACCESS],
        },
    }


class SandboxCRI(FakeCRI):
    """A runtime whose RunPodSandbox says when it began."""

    def __init__(self) -> None:
        super().__init__()
        self.sandbox_begun = asyncio.Event()

    def RunPodSandbox(self, request: Any) -> Any:
        self.sandbox_begun.set()
        return super().RunPodSandbox(request)


class Client:
    """The API: the root CA ConfigMap (when `ca`), and a TokenRequest that answers only once
    the sandbox has begun (when `wait_for` is given): a sync that asked for the token first
    and the sandbox after it would never finish."""

    def __init__(self, ca: bool, wait_for: asyncio.Event | None = None) -> None:
        self.ca = ca
        self.wait_for = wait_for
        self.tokens = 0

    async def get(self, kind: Any, name: str, namespace: str | None = None) -> dict[str, Any]:
        if self.ca and kind.plural == "configmaps" and name == "kube-root-ca.crt":
            return {"data": {"ca.crt": "CA"}}
        raise errors.not_found("", kind.plural, name)

    async def create(self, kind: Any, obj: dict[str, Any], *_: Any, **__: Any) -> dict[str, Any]:
        self.tokens += 1
        if self.wait_for is not None:
            await self.wait_for.wait()
        return {"status": {"token": "tok", "expirationTimestamp": "2099-01-01T00:00:00Z"}}


def _syncer(cri: FakeCRI, client: Client, tmp_path: Path) -> tuple[PodSyncer, list[Any]]:
    events: list[Any] = []
    record = lambda _obj, kind, reason, message, **_ref: events.append((kind, reason, message))  # noqa: E731
    volumes = VolumeManager(client, tmp_path, recorder=record, tmpfs=False)  # type: ignore[arg-type]
    syncer = PodSyncer(
        cri,  # type: ignore[arg-type]
        node_name="n1",
        node_ip="192.0.2.2",
        pod_logs_dir="/tmp/pods",
        runtime_name="fake",
        volumes=volumes,
        recorder=record,
    )
    return syncer, events


async def test_the_token_is_asked_for_while_the_sandbox_is_made(tmp_path: Path) -> None:
    cri = SandboxCRI()
    client = Client(ca=True, wait_for=cri.sandbox_begun)
    syncer, _ = _syncer(cri, client, tmp_path)
    status, _ = await asyncio.wait_for(syncer.sync(_pod()), 5)
    assert client.tokens == 1
    assert len(cri.sandboxes) == 1
    assert status["containerStatuses"][0]["state"].get("running") is not None
    volume = tmp_path / "pods" / "u1" / "volumes" / PROJECTED / "kube-api-access-x"
    assert (volume / "token").read_text() == "tok"
    assert (volume / "ca.crt").read_text() == "CA"


async def test_a_missing_configmap_fails_the_pod_before_its_sandbox(tmp_path: Path) -> None:
    cri = SandboxCRI()
    client = Client(ca=False)
    syncer, events = _syncer(cri, client, tmp_path)
    status, wake = await syncer.sync(_pod())
    assert not cri.sandboxes  # no sandbox, as upstream
    assert client.tokens == 0
    assert wake == 2.0
    assert status["phase"] == "Pending"
    message = (
        'MountVolume.SetUp failed for volume "kube-api-access-x" : '
        'configmap "kube-root-ca.crt" not found'
    )
    assert ("Warning", "FailedMount", message) in events


async def test_the_two_parts_of_a_volume_setup(tmp_path: Path) -> None:
    client = Client(ca=True)
    manager = VolumeManager(client, tmp_path, tmpfs=False)  # type: ignore[arg-type]
    pod = _pod()
    paths = await manager.setup(pod, WITHOUT_TOKENS)
    assert set(paths) == {"scratch"}  # the token's volume waits for the second part
    assert client.tokens == 0
    paths = await manager.setup(pod, TOKENS)
    assert set(paths) == {"scratch", "kube-api-access-x"}
    assert client.tokens == 1
    assert (Path(paths["kube-api-access-x"]) / "token").read_text() == "tok"
