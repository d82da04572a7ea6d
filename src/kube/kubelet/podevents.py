"""Events about a pod and its containers, as the kubelet records them.

`PodEvents.event(pod, type, reason, message, container)` logs the event (but for the Normal
steps of every container start) and records it through the kubelet's events client; about one
of the pod's containers when `container` names it: the reference's fieldPath
(`spec.containers{name}`, or the init or ephemeral list the container is in), which
`kubectl describe` shows before the message, as upstream's container reference.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from kube.kubelet.hooks import pod_label

log = logging.getLogger("kube.kubelet.pods")

# upstream's Normal events of a container's start (kuberuntime startContainer, the image
# manager's): recorded through the events client, so they never hold up a status write.
CONTAINER_STEPS = ("Pulled", "Created", "Started")


class Recorder(Protocol):
    """EventRecorder.event: (the involved object, event type, reason, message), and the
    reference's fieldPath for an event about one container (`spec.containers{name}`)."""

    def __call__(
        self,
        obj: dict[str, Any],
        event_type: str,
        reason: str,
        message: str,
        /,
        *,
        field_path: str = "",
    ) -> None: ...


class PodEvents:
    """Records the kubelet's events about pods (None: only logs them)."""

    def __init__(self, recorder: Recorder | None) -> None:
        self.recorder = recorder

    def event(
        self, pod: dict[str, Any], kind: str, reason: str, message: str, container: str = ""
    ) -> None:
        """An Event about the pod (Killing, Unhealthy, Failed...); about one of its containers
        when `container` names it."""
        if kind != "Normal" or reason not in CONTAINER_STEPS:
            log.info("pod %s: %s %s: %s", pod_label(pod), kind, reason, message)
        if self.recorder is None or not (pod.get("metadata") or {}).get("name"):
            return
        involved = {"apiVersion": "v1", "kind": "Pod", "metadata": pod.get("metadata") or {}}
        if container:
            path = field_path(pod, container)
            self.recorder(involved, kind, reason, message, field_path=path)
        else:
            self.recorder(involved, kind, reason, message)

    def container_event(
        self, pod: dict[str, Any], container: str, kind: str, reason: str, message: str
    ) -> None:
        """`event` in the argument order of the probe manager's callback."""
        self.event(pod, kind, reason, message, container)


def field_path(pod: dict[str, Any], container: str) -> str:
    """The fieldPath of a container's reference: `spec.containers{name}`, or the init or
    ephemeral container list it is in (upstream's GenerateContainerRef)."""
    spec = pod.get("spec") or {}
    for key in ("initContainers", "ephemeralContainers"):
        if any(c.get("name") == container for c in spec.get(key) or []):
            return f"spec.{key}{{{container}}}"
    return f"spec.containers{{{container}}}"
