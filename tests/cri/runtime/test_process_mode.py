"""Process mode: where runc or root is missing, containers run as plain processes.

No isolation (no namespaces, no cgroups, the host's network), but the same CRI lifecycle: the
image's rootfs, the command, logs in the CRI format, exec, a graceful stop.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from kube.cri.runtime.containers import ContainerRequest
from kube.cri.runtime.runtime import Runtime, SandboxRequest
from kube.cri.runtime.state import CONTAINER_EXITED, CONTAINER_RUNNING


def read(path: str) -> str:
    return Path(path).read_text()


async def test_a_container_as_a_plain_process(tmp_path: Path, busybox_archive: Path) -> None:
    runtime = Runtime(tmp_path / "rt", mode="process")
    runtime.images.import_archive(busybox_archive)
    sandbox = await runtime.run_sandbox(
        SandboxRequest(name="p", uid="u", namespace="default", log_directory=str(tmp_path / "l"))
    )
    assert sandbox.ip == ""  # the host's network
    try:
        record = await runtime.create_container(
            sandbox.id,
            ContainerRequest(
                name="c",
                image="localhost/busybox:latest",
                command=["sh", "-c", "echo hello $GREETING; while true; do sleep 0.1; done"],
                env=[("GREETING", "world")],
                log_path=str(tmp_path / "l" / "c.log"),
            ),
        )
        await runtime.start_container(record.id)
        assert runtime.container_state(record) == CONTAINER_RUNNING
        result = await runtime.exec_sync(record.id, ["echo", "hi"], 10)
        assert (result.stdout, result.exit_code) == (b"hi\n", 0)
        for _ in range(50):
            if "hello world" in read(record.log_path):
                break
            await asyncio.sleep(0.05)
        assert read(record.log_path).split(" ", 1)[1] == "stdout F hello world\n"
        await runtime.stop_container(record.id, 5)
        assert runtime.container_state(record) == CONTAINER_EXITED
        assert record.exit_code == 143  # SIGTERM, not PID 1 here: the default action
    finally:
        with contextlib.suppress(Exception):
            await runtime.remove_sandbox(sandbox.id)
    assert runtime.sandboxes == {}
    assert runtime.container_records == {}
