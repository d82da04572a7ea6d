"""What the runtime has of one pod: its sandboxes and its containers, read through the CRI.

`RuntimeView.sandboxes(uid)` lists the pod's sandboxes (newest first);
`RuntimeView.containers(uid)` gives its containers by name, oldest first (the newest is the
current one), from ListContainers and a ContainerStatus each, or from the statuses of known ids
alone (a sync pass that began with none knows the ones it made). `runtime_view` keys a pod's
ready sandbox and its containers' states as the PLEG keys them (kube.kubelet.pleg), so a
relist showing just what a sync saw needs no other sync.
"""

from __future__ import annotations

from typing import Any

import grpc

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.cri.client import RuntimeClient
from kube.kubelet.specs import CONTAINER_NAME, POD_UID
from kube.kubelet.status import ContainerInfo
from kube.kubelet.termination import mount_of


class RuntimeView:
    """CRI reads of one pod's objects."""

    def __init__(self, cri: RuntimeClient) -> None:
        self.cri = cri

    async def sandboxes(self, uid: str) -> list[Any]:
        """The pod's sandboxes, newest first."""
        answer = await self.cri.call(
            "ListPodSandbox",
            pb.ListPodSandboxRequest(filter=pb.PodSandboxFilter(label_selector={POD_UID: uid})),
        )
        return sorted(answer.items, key=lambda s: s.created_at, reverse=True)

    async def containers(
        self, uid: str, ids: list[str] | None = None
    ) -> dict[str, list[ContainerInfo]]:
        """The pod's containers by name, oldest first (the newest is the current one). With
        `ids`, the pod's containers are known to be just those (a pass that began with none
        made them): their statuses, without listing the runtime's containers for the pod."""
        if ids is None:
            answer = await self.cri.call(
                "ListContainers",
                pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector={POD_UID: uid})),
            )
            ids = [item.id for item in answer.containers]
        found: dict[str, list[ContainerInfo]] = {}
        for container_id in ids:
            try:
                status = (
                    await self.cri.call(
                        "ContainerStatus", pb.ContainerStatusRequest(container_id=container_id)
                    )
                ).status
            except grpc.aio.AioRpcError:
                continue
            name = status.labels.get(CONTAINER_NAME) or status.metadata.name
            found.setdefault(name, []).append(
                ContainerInfo(
                    id=status.id,
                    name=name,
                    attempt=status.metadata.attempt,
                    state=status.state,
                    created_at=status.created_at,
                    started_at=status.started_at,
                    finished_at=status.finished_at,
                    exit_code=status.exit_code,
                    reason=status.reason,
                    message=status.message,
                    image_ref=status.image_ref,
                    log_path=status.log_path,
                    message_path=mount_of(status),
                )
            )
        for history in found.values():
            history.sort(key=lambda c: (c.attempt, c.created_at))
        return found


def runtime_view(
    sandbox_id: str, containers: dict[str, list[ContainerInfo]]
) -> frozenset[tuple[str, int]]:
    """A pod's ready sandbox and containers with their states, keyed as the PLEG keys them."""
    view: set[tuple[str, int]] = {("s/" + sandbox_id, int(pb.SANDBOX_READY))}
    view.update(("c/" + c.id, c.state) for history in containers.values() for c in history)
    return frozenset(view)
