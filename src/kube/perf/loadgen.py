"""The scheduler benchmark's pod creates, in a process of their own.

    python -m kube.perf.loadgen --kubeconfig PATH --workload NAME

upstream's scheduler_perf creates its pods from other goroutines, i.e. on other cores than
the scheduler's; in one Python process the creates (request building, JSON encoding, the
client's TLS and HTTP work) would share the scheduler's event loop and GIL, and the
scheduler's figure would pay for the load generator. `kube bench scheduler` starts this
process once, before the scheduler, and drives it over a pipe, one JSON object per line:

    -> {"op": "create", "kind": "measured", "template": "measured", "namespace": NS, "count": N}
    <- {"op": "created", "kind": "measured", "times": [T0, T1, ...]}
    -> {"op": "churn", "template": "churn", "namespace": NS, "interval": 0.2}
    -> {"op": "stop", "kind": "churn"}    (or any kind: no create of that kind starts after it)
    <- {"op": "created", "kind": "churn", "times": [...]}
    <- {"op": "error", "kind": K, "message": "..."}            (a create failed)

Pod `KIND-I` is created from the workload's template; `times[I]` is `time.monotonic()` just
before its create call (0.0 for a pod never created, after a stop). CLOCK_MONOTONIC is one
clock for every process of the machine, so the harness subtracts these from its own bind
times for the latencies. The process ends when its stdin closes (or on SIGTERM from the
harness, by PID); it has its own session, so a Ctrl-C meant for the harness reaches only the
harness, which then ends the run and this process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kube import eventloop
from kube.api.resources import resource
from kube.client.rest import JSON, RESTClient
from kube.codec import jsonc
from kube.perf.workloads import WORKLOADS, Object, Workload

PODS = resource("pods")
CONCURRENCY = 32  # create calls in flight at once, as the in-process harness had
LINE_LIMIT = 1 << 26  # one reply carries every create time of a phase (10,000 floats ~ 200 KB)


def pod_object(template: Callable[[], Object], name: str, namespace: str) -> Object:
    """The workload template's pod under `name` in `namespace`."""
    pod = template()
    meta = {**(pod.get("metadata") or {}), "name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Pod", **pod, "metadata": meta}


def template_of(workload: Workload, which: str) -> Callable[[], Object]:
    """`init`, `measured` or `churn`: the workload's template of that name."""
    found = {
        "init": workload.init_template,
        "measured": workload.measured_template,
        "churn": workload.churn_template,
    }.get(which)
    if found is None:
        raise ValueError(f"workload {workload.name} has no {which} template")
    return found


class Generator:
    """Creates the pods it is told to and answers with their create times."""

    def __init__(self, client: RESTClient, workload: Workload) -> None:
        self.client = client
        self.workload = workload
        self.tasks: dict[str, asyncio.Task[None]] = {}
        # Per kind: set by {"op": "stop"}; no create starts after it (SIGINT ends a run early).
        self.stops: dict[str, asyncio.Event] = {}

    def reply(self, message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    async def create(self, kind: str, template: Callable[[], Object], ns: str, i: int) -> float:
        """POST pod KIND-I; the created pod in the answer is not decoded (nobody reads it)."""
        body = jsonc.dumps(pod_object(template, f"{kind}-{i}", ns))
        stamp = time.monotonic()
        await self.client.request("POST", PODS.path(ns), body=body, content_type=JSON)
        return stamp

    async def create_many(
        self, kind: str, which: str, ns: str, count: int, stop: asyncio.Event
    ) -> None:
        """Pods KIND-0..count-1, CONCURRENCY at a time; times of those created (0.0: not)."""
        template = template_of(self.workload, which)
        semaphore = asyncio.Semaphore(CONCURRENCY)
        times = [0.0] * count

        async def one(i: int) -> None:
            async with semaphore:
                if not stop.is_set():
                    times[i] = await self.create(kind, template, ns, i)

        try:
            await asyncio.gather(*(one(i) for i in range(count)))
        except Exception as err:
            self.reply({"op": "error", "kind": kind, "message": str(err)})
            return
        self.reply({"op": "created", "kind": kind, "times": times})

    async def churn(self, which: str, ns: str, interval: float, stop: asyncio.Event) -> None:
        """upstream's churn op in create mode: one pod now and every `interval`, until stop."""
        template = template_of(self.workload, which)
        times: list[float] = []
        try:
            while not stop.is_set():
                times.append(await self.create("churn", template, ns, len(times)))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        except Exception as err:
            self.reply({"op": "error", "kind": "churn", "message": str(err)})
            return
        self.reply({"op": "created", "kind": "churn", "times": times})

    def handle(self, command: dict[str, Any]) -> None:
        op = command.get("op")
        kind = str(command.get("kind") or "churn")
        if op in ("create", "churn"):
            stop = self.stops[kind] = asyncio.Event()
            template, ns = str(command["template"]), str(command["namespace"])
            self.tasks[kind] = asyncio.create_task(
                self.create_many(kind, template, ns, int(command["count"]), stop)
                if op == "create"
                else self.churn(template, ns, float(command["interval"]), stop)
            )
        elif op == "stop":
            if kind in self.stops:
                self.stops[kind].set()
        else:
            self.reply({"op": "error", "kind": "", "message": f"unknown command {command!r}"})


class RemoteGenerator:
    """The harness's side: starts `python -m kube.perf.loadgen` and sends it commands."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._waiting: dict[str, asyncio.Future[list[float]]] = {}
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, kubeconfig: Path, workload: str) -> RemoteGenerator:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kube.perf.loadgen",
            "--kubeconfig",
            str(kubeconfig),
            "--workload",
            workload,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
            start_new_session=True,
        )
        generator = cls(proc)
        await generator._ready
        return generator

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                message = json.loads(line)
                if message["op"] == "ready":
                    self._ready.set_result(None)
                    continue
                future = self._waiting.pop(message["kind"], None)
                if future is None or future.done():
                    continue
                if message["op"] == "created":
                    future.set_result(message["times"])
                else:
                    future.set_exception(RuntimeError(f"creating pods: {message['message']}"))
        finally:
            gone = RuntimeError(f"the load generator (pid {self.pid}) exited")
            if not self._ready.done():
                self._ready.set_exception(gone)
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(gone)
            self._waiting.clear()

    def _send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")

    def _expect(self, kind: str) -> asyncio.Future[list[float]]:
        future: asyncio.Future[list[float]] = asyncio.get_running_loop().create_future()
        self._waiting[kind] = future
        return future

    def create(
        self, kind: str, template: str, namespace: str, count: int
    ) -> asyncio.Future[list[float]]:
        """Start creating KIND-0..count-1; the future gets their create times."""
        future = self._expect(kind)
        self._send(
            {
                "op": "create",
                "kind": kind,
                "template": template,
                "namespace": namespace,
                "count": count,
            }
        )
        return future

    def churn(self, template: str, namespace: str, interval: float) -> asyncio.Future[list[float]]:
        """Start a churn pod every `interval` s; the future gets their times after `stop`."""
        future = self._expect("churn")
        self._send(
            {"op": "churn", "template": template, "namespace": namespace, "interval": interval}
        )
        return future

    def stop(self, kind: str) -> None:
        """No more creates of `kind`: its future then gets the times of those made."""
        if self.proc.returncode is None and self.proc.stdin is not None:
            self._send({"op": "stop", "kind": kind})

    async def close(self, grace: float = 10.0) -> None:
        """Close its stdin (it ends), or SIGTERM this PID after `grace` seconds."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), grace)
        except TimeoutError:
            if self.proc.returncode is None:
                self.proc.terminate()
            await self.proc.wait()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


async def serve(kubeconfig: Path, workload: Workload) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with RESTClient.from_kubeconfig(kubeconfig, qps=None) as client:
        generator = Generator(client, workload)
        generator.reply({"op": "ready"})
        while line := await reader.readline():
            generator.handle(json.loads(line))
        for task in generator.tasks.values():
            task.cancel()
        await asyncio.gather(*generator.tasks.values(), return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kube.perf.loadgen", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--workload", choices=list(WORKLOADS), required=True)
    args = parser.parse_args(argv)
    eventloop.run(serve(args.kubeconfig, WORKLOADS[args.workload]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
