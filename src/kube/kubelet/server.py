"""The kubelet's HTTPS server (port 10250): container logs and exec, which the API server proxies.

As upstream's pkg/kubelet/server: `GET /containerLogs/{ns}/{pod}/{container}` answers the
container's log as plain text, read from its CRI log file (`follow`, `tailLines`,
`timestamps`, `previous`, `sinceSeconds`, `sinceTime`, `limitBytes`);
`GET /exec/{ns}/{pod}/{container}?command=..` upgrades to a WebSocket speaking the
`v5.channel.k8s.io` / `v4.channel.k8s.io` protocol: stdout on channel 1, stderr on channel 2,
and the result as a metav1.Status on channel 3 (Success, or Failure with reason
NonZeroExitCode and the exit code as a cause), then the socket closes.

`/attach/{ns}/{pod}/{container}` is the same WebSocket onto the container's own stdio (CRI
`Attach`); `/portForward/{ns}/{pod}` accepts `SPDY/3.1+portforward.k8s.io` (a SPDY session
tunnelled in binary messages, as kubectl sends it) for the pod's sandbox (CRI `PortForward`).
Both are relayed to the runtime's streaming URL like exec's.

Exec asks the runtime for a streaming URL (CRI `Exec`, as containerd and CRI-O answer it) and
relays the client's WebSocket to it frame by frame, so stdin (`-i`), a tty (`-t`, resizes) and
output as it comes all work; a runtime without streaming (UNIMPLEMENTED) gets ExecSync, whose
output is sent when the command ends, with stdin ignored.

The server is TLS: a serving certificate from `--tls-cert-file/--tls-private-key-file`, else a
self-signed one kept under the root dir (the API server does not verify it, as upstream's
default). With `--client-ca-file` a request must carry a client certificate signed by that CA
(the API server's kubelet client certificate), else 401.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import datetime as dt
import json
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import grpc
from aiohttp import WSMsgType, web

from kube._generated.cri import runtime_v1_pb2 as pb
from kube.auth.certs import create_ca, issue_serving_cert
from kube.auth.tls import server_ssl_context
from kube.client.websocket import relay
from kube.cri.client import RuntimeClient, not_found
from kube.cri.runtime.logs import parse_line
from kube.kubelet import spdyexec, spdytunnel

log = logging.getLogger("kube.kubelet.server")

# Newest first: aiohttp picks the first of ours the client offers.
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
PORT_FORWARD_PROTOCOLS = ("SPDY/3.1+portforward.k8s.io",)
PORT_FORWARD_SPDY = "portforward.k8s.io"  # X-Stream-Protocol-Version of a SPDY upgrade
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = b"\xff"  # v5.channel.k8s.io: [255, channel] ends a stream (stdin)
FOLLOW_POLL = 0.1
RUNNING_CHECK = 1.0
EXEC_TIMEOUT = 0  # CRI: no timeout; the command runs until it ends
CHUNK = 64 * 1024

POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"


# -- the runtime, as the server needs it ------------------------------------------------------


@dataclass(frozen=True)
class ContainerRef:
    """One container instance: its runtime id and CRI log file."""

    id: str
    log_path: str


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int


class Containers(Protocol):
    """What the server asks of the runtime (a CRI client in the kubelet, a fake in tests)."""

    async def find(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> ContainerRef | None: ...

    async def running(self, container_id: str) -> bool: ...

    async def exec_sync(self, container_id: str, cmd: list[str]) -> ExecResult: ...

    async def exec_url(
        self, container_id: str, cmd: list[str], tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str | None:
        """The runtime's streaming URL for this exec (CRI Exec), or None to use ExecSync."""
        ...

    async def attach_url(
        self, container_id: str, tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str | None:
        """The runtime's streaming URL for an attach (CRI Attach); None: not supported."""
        ...

    async def port_forward_url(self, namespace: str, pod: str) -> str | None:
        """The runtime's URL for a port-forward into the pod's ready sandbox (CRI PortForward);
        None: no such sandbox."""
        ...


class CRIContainers:
    """`Containers` over a CRI runtime: containers found by upstream's io.kubernetes.* labels."""

    def __init__(self, cri: RuntimeClient) -> None:
        self.cri = cri

    async def find(
        self, namespace: str, pod: str, container: str, previous: bool
    ) -> ContainerRef | None:
        labels = {POD_NAMESPACE: namespace, POD_NAME: pod, CONTAINER_NAME: container}
        answer = await self.cri.call(
            "ListContainers",
            pb.ListContainersRequest(filter=pb.ContainerFilter(label_selector=labels)),
        )
        # Exited containers stay until their pod is deleted: a pod of the same name made
        # again meanwhile is the one meant, the pod of the newest container.
        newest = max(answer.containers, key=lambda c: c.created_at, default=None)
        uid = newest.labels.get(POD_UID, "") if newest is not None else ""
        mine = [c for c in answer.containers if c.labels.get(POD_UID, "") == uid]
        # The newest attempt is the current container; `previous` is the one before it.
        found = sorted(mine, key=lambda c: (c.metadata.attempt, c.created_at))
        index = -2 if previous else -1
        if len(found) < -index:
            return None
        chosen = found[index]
        try:
            status = await self.cri.call(
                "ContainerStatus", pb.ContainerStatusRequest(container_id=chosen.id)
            )
        except grpc.aio.AioRpcError as err:
            if not_found(err):
                return None
            raise
        return ContainerRef(id=chosen.id, log_path=status.status.log_path)

    async def running(self, container_id: str) -> bool:
        try:
            status = await self.cri.call(
                "ContainerStatus", pb.ContainerStatusRequest(container_id=container_id)
            )
        except grpc.aio.AioRpcError as err:
            if not_found(err):
                return False
            raise
        return bool(status.status.state == pb.CONTAINER_RUNNING)

    async def exec_sync(self, container_id: str, cmd: list[str]) -> ExecResult:
        answer = await self.cri.call(
            "ExecSync",
            pb.ExecSyncRequest(container_id=container_id, cmd=cmd, timeout=EXEC_TIMEOUT),
            deadline=24 * 3600,
        )
        return ExecResult(answer.stdout, answer.stderr, answer.exit_code)

    async def exec_url(
        self, container_id: str, cmd: list[str], tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str | None:
        request = pb.ExecRequest(
            container_id=container_id, cmd=cmd, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr
        )
        try:
            answer = await self.cri.call("Exec", request, deadline=30)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise
        url = str(answer.url)
        # A runtime may answer a path on its streaming server's base URL; only http(s) is used.
        return url if url.startswith(("http://", "https://")) else None

    async def attach_url(
        self, container_id: str, tty: bool, stdin: bool, stdout: bool, stderr: bool
    ) -> str | None:
        request = pb.AttachRequest(
            container_id=container_id, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr
        )
        try:
            answer = await self.cri.call("Attach", request, deadline=30)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise
        url = str(answer.url)
        return url if url.startswith(("http://", "https://")) else None

    async def port_forward_url(self, namespace: str, pod: str) -> str | None:
        labels = {POD_NAMESPACE: namespace, POD_NAME: pod}
        answer = await self.cri.call(
            "ListPodSandbox",
            pb.ListPodSandboxRequest(
                filter=pb.PodSandboxFilter(
                    label_selector=labels,
                    state=pb.PodSandboxStateValue(state=pb.SANDBOX_READY),
                )
            ),
        )
        if not answer.items:
            return None
        newest = max(answer.items, key=lambda s: (s.metadata.attempt, s.created_at))
        forward = await self.cri.call(
            "PortForward", pb.PortForwardRequest(pod_sandbox_id=newest.id), deadline=30
        )
        url = str(forward.url)
        return url if url.startswith(("http://", "https://")) else None


# -- logs ---------------------------------------------------------------------------------


class BadRequest(Exception):
    pass


@dataclass(frozen=True)
class LogOptions:
    """upstream's PodLogOptions as the kubelet applies them to one log file."""

    follow: bool = False
    tail_lines: int | None = None
    timestamps: bool = False
    previous: bool = False
    since_ns: int | None = None  # only lines at or after this Unix time (ns)
    limit_bytes: int | None = None


def _flag(query: Any, name: str) -> bool:
    value = str(query.get(name, "false")).lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0", ""):
        return False
    raise BadRequest(f'{name}: invalid boolean value "{value}"')


def _int(query: Any, name: str) -> int | None:
    if name not in query:
        return None
    try:
        return int(query[name])
    except ValueError:
        raise BadRequest(f'{name}: invalid integer "{query[name]}"') from None


def parse_time_ns(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 time with any fraction (Go's RFC3339Nano), in UTC."""
    text = text.strip()
    if text.endswith("Z"):
        base, offset = text[:-1], 0
    else:
        sign = 1 if text[-6] == "+" else -1
        hours, minutes = text[-5:].split(":")
        base, offset = text[:-6], sign * (int(hours) * 3600 + int(minutes) * 60)
    whole, _, fraction = base.partition(".")
    moment = dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    seconds = calendar.timegm(moment.timetuple()) - offset
    return seconds * 1_000_000_000 + int((fraction + "000000000")[:9])


def log_options(query: Any, now: float | None = None) -> LogOptions:
    """The options of a /containerLogs request (400 on malformed values, as upstream)."""
    tail = _int(query, "tailLines")
    limit = _int(query, "limitBytes")
    since_seconds = _int(query, "sinceSeconds")
    if tail is not None and tail < 0:
        raise BadRequest("tailLines: must be greater than or equal to 0")
    if limit is not None and limit < 1:
        raise BadRequest("limitBytes: must be greater than 0")
    if since_seconds is not None and since_seconds < 1:
        raise BadRequest("sinceSeconds: must be greater than 0")
    since_ns: int | None = None
    if since_seconds is not None:
        since_ns = int(((time.time() if now is None else now) - since_seconds) * 1e9)
    elif query.get("sinceTime"):
        try:
            since_ns = parse_time_ns(str(query["sinceTime"]))
        except (ValueError, IndexError):
            raise BadRequest(f'sinceTime: invalid time "{query["sinceTime"]}"') from None
    return LogOptions(
        follow=_flag(query, "follow"),
        tail_lines=tail,
        timestamps=_flag(query, "timestamps"),
        previous=_flag(query, "previous"),
        since_ns=since_ns,
        limit_bytes=limit,
    )


def tail_offset(path: str, lines: int) -> int:
    """The byte offset where the last `lines` lines of the file start (reading backwards)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        end = f.tell()
        if lines == 0:
            return end
        position, seen = end, 0
        # A last line ending in "\n" does not start another line.
        skip_last = True
        while position > 0:
            step = min(CHUNK, position)
            position -= step
            f.seek(position)
            block = f.read(step)
            for index in range(len(block) - 1, -1, -1):
                if block[index] != 0x0A:
                    continue
                if skip_last and position + index == end - 1:
                    continue
                seen += 1
                if seen == lines:
                    return position + index + 1
            skip_last = False
        return 0


def render(line: bytes, options: LogOptions) -> bytes | None:
    """What `kubectl logs` shows of one CRI log line, or None when options drop it."""
    try:
        stamp, _stream, partial, content = parse_line(line)
    except ValueError:
        return None
    if options.since_ns is not None:
        try:
            if parse_time_ns(stamp) < options.since_ns:
                return None
        except (ValueError, IndexError):
            return None
    out = content if partial else content + b"\n"
    return f"{stamp} ".encode() + out if options.timestamps else out


class LogReader:
    """Reads one CRI log file from a starting offset, line by line, as the file grows."""

    def __init__(self, path: str, options: LogOptions) -> None:
        self.path = path
        self.options = options
        self.offset = 0 if options.tail_lines is None else tail_offset(path, options.tail_lines)
        self.rest = b""
        self.sent = 0

    def read(self) -> tuple[bytes, bool]:
        """(the rendered new complete lines, whether limitBytes is reached)."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        chunks = [r for r in (render(x, self.options) for x in data[:cut].splitlines()) if r]
        out = b"".join(chunks)
        limit = self.options.limit_bytes
        if limit is not None and self.sent + len(out) >= limit:
            out = out[: limit - self.sent]
            self.sent = limit
            return out, True
        self.sent += len(out)
        return out, False


async def stream_log(
    ref: ContainerRef,
    options: LogOptions,
    running: Callable[[], Awaitable[bool]],
    poll: float = FOLLOW_POLL,
) -> AsyncIterator[bytes]:
    """The log's text in pieces; with `follow`, until the container stops running."""
    reader = LogReader(ref.log_path, options)
    checked = time.monotonic()
    alive = options.follow
    while True:
        data, done = reader.read()
        if data:
            yield data
        if done or not alive:
            return
        await asyncio.sleep(poll)
        if time.monotonic() - checked >= RUNNING_CHECK:
            checked = time.monotonic()
            alive = await running()  # one more read after it stopped, then the end


# -- exec ---------------------------------------------------------------------------------


def exit_status(result: ExecResult, cmd: list[str]) -> dict[str, Any]:
    """The metav1.Status upstream sends on the error channel when the command ends."""
    if result.exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            "command terminated with non-zero exit code: error executing command "
            f"[{' '.join(cmd)}], exit code {result.exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(result.exit_code)}]},
    }


def error_status(message: str) -> dict[str, Any]:
    return {
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


# -- the server ---------------------------------------------------------------------------


async def _dial_spdy(
    request: web.Request, url: str, stream_protocol: str, protocols: tuple[str, ...]
) -> tuple[web.WebSocketResponse, asyncio.StreamReader, asyncio.StreamWriter] | web.Response:
    """Upgrade to SPDY at the runtime's streaming `url`, then accept the client's WebSocket;
    a 500 Status when the runtime cannot be dialed."""
    try:
        reader, writer = await spdytunnel.upgrade(url, stream_protocol)
    except (spdytunnel.TunnelError, OSError) as err:
        return _status(500, "InternalError", f"error dialing the runtime: {err}")
    client = web.WebSocketResponse(protocols=protocols, max_msg_size=0)
    try:
        await client.prepare(request)
    except BaseException:
        writer.close()
        raise
    return client, reader, writer


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.Response(
        text=json.dumps(body), status=code, headers={"Content-Type": "application/json"}
    )


class KubeletServer:
    """The routes of the kubelet's server over a `Containers`."""

    def __init__(
        self,
        containers: Containers,
        *,
        require_client_cert: bool = False,
        summary: Callable[[], Awaitable[dict[str, Any]]] | None = None,
        spdy: bool = False,
    ) -> None:
        self.containers = containers
        self.require_client_cert = require_client_cert
        self.summary = summary  # /stats/summary (kube.kubelet.stats)
        # The runtime's streaming server speaks SPDY (containerd, CRI-O: upstream's
        # pkg/kubelet/cri/streaming), not the built-in runtime's WebSockets: exec and attach
        # go to it as SPDY streams (kube.kubelet.spdyexec) and port-forward's tunnelled SPDY
        # session over an upgrade (kube.kubelet.spdytunnel). Which one it is comes from the
        # runtime's name: trying a WebSocket first would use up the URL's one-time token.
        self.spdy = spdy

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._authenticate])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/stats/summary", self.stats_summary)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self.container_logs)
        app.router.add_route("*", "/exec/{namespace}/{pod}/{container}", self.exec)
        app.router.add_route("*", "/attach/{namespace}/{pod}/{container}", self.attach)
        app.router.add_route("*", "/portForward/{namespace}/{pod}", self.port_forward)
        return app

    @web.middleware
    async def _authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if self.require_client_cert and request.path != "/healthz":
            transport = request.transport
            peer = transport.get_extra_info("peercert") if transport is not None else None
            if not peer:
                return web.Response(status=401, text="Unauthorized")
        return await handler(request)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def stats_summary(self, request: web.Request) -> web.Response:
        """The stats/v1alpha1 Summary (`only_cpu_and_memory` is accepted; all is answered)."""
        if self.summary is None:
            return web.Response(status=404, text="404 page not found\n")
        try:
            body = await self.summary()
        except grpc.aio.AioRpcError as err:
            return web.Response(status=500, text=f"failed to get stats: {err.details()}\n")
        return web.Response(text=json.dumps(body), content_type="application/json")

    async def container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            options = log_options(request.query)
        except BadRequest as err:
            return _status(400, "BadRequest", str(err))
        ref = await self.containers.find(namespace, pod, name, options.previous)
        if ref is None:
            which = "previous terminated container" if options.previous else "container"
            return _status(
                400 if options.previous else 404,
                "BadRequest" if options.previous else "NotFound",
                f'{which} "{name}" in pod "{pod}" not found',
            )
        if not await asyncio.to_thread(Path(ref.log_path).exists):
            return web.Response(text="", content_type="text/plain")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            async for piece in stream_log(ref, options, lambda: self.containers.running(ref.id)):
                await response.write(piece)
            await response.write_eof()
        return response

    async def exec(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        cmd = request.query.getall("command", [])
        try:
            stdin, stdout, stderr, tty = (
                _flag(request.query, k) for k in ("stdin", "stdout", "stderr", "tty")
            )
        except BadRequest as err:
            return _status(400, "BadRequest", str(err))
        if not cmd:
            return _status(400, "BadRequest", "you must specify at least 1 command")
        if not (stdin or stdout or stderr):
            return _status(
                400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr"
            )
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return _status(400, "BadRequest", "Upgrade request required")
        ref = await self.containers.find(namespace, pod, name, False)
        if ref is None:
            return _status(404, "NotFound", f'container not found ("{name}")')
        try:
            url = await self.containers.exec_url(ref.id, cmd, tty, stdin, stdout, stderr)
        except grpc.aio.AioRpcError as err:
            return _status(500, "InternalError", str(err.details() or err.code()))
        if url is not None and self.spdy:
            return await self._spdy_exec(request, url, stdin, stdout, stderr, tty)
        if url is not None:
            return await self._stream(request, ws, url)
        await ws.prepare(request)
        drain = asyncio.create_task(self._drain(ws))
        try:
            try:
                result = await self.containers.exec_sync(ref.id, cmd)
            except grpc.aio.AioRpcError as err:
                await ws.send_bytes(bytes([ERROR]) + json.dumps(error_status(
                    str(err.details() or err.code())
                )).encode())  # fmt: skip
                return ws
            if stdout and result.stdout:
                await ws.send_bytes(bytes([STDOUT]) + result.stdout)
            if stderr and result.stderr:
                # With a tty there is one stream: the terminal's, on stdout.
                await ws.send_bytes(bytes([STDOUT if tty else STDERR]) + result.stderr)
            status = exit_status(result, cmd)
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        except ConnectionResetError:
            pass
        finally:
            drain.cancel()
            await ws.close()
        return ws

    async def attach(self, request: web.Request) -> web.StreamResponse:
        namespace, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            stdin, stdout, stderr, tty = (
                _flag(request.query, k) for k in ("stdin", "stdout", "stderr", "tty")
            )
        except BadRequest as err:
            return _status(400, "BadRequest", str(err))
        if not (stdin or stdout or stderr):
            return _status(
                400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr"
            )
        ws = web.WebSocketResponse(protocols=PROTOCOLS, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return _status(400, "BadRequest", "Upgrade request required")
        ref = await self.containers.find(namespace, pod, name, False)
        if ref is None:
            return _status(404, "NotFound", f'container not found ("{name}")')
        try:
            url = await self.containers.attach_url(ref.id, tty, stdin, stdout, stderr)
        except grpc.aio.AioRpcError as err:
            return _status(500, "InternalError", str(err.details() or err.code()))
        if url is None:
            return _status(500, "InternalError", "the container runtime does not support attach")
        if self.spdy:
            return await self._spdy_exec(request, url, stdin, stdout, stderr, tty)
        return await self._stream(request, ws, url)

    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        namespace, pod = request.match_info["namespace"], request.match_info["pod"]
        ws = web.WebSocketResponse(protocols=PORT_FORWARD_PROTOCOLS, max_msg_size=0)
        if not ws.can_prepare(request).ok:
            return _status(400, "BadRequest", "Upgrade request required")
        try:
            url = await self.containers.port_forward_url(namespace, pod)
        except grpc.aio.AioRpcError as err:
            return _status(500, "InternalError", str(err.details() or err.code()))
        if url is None:
            return _status(404, "NotFound", f'pod "{pod}" not found')
        if self.spdy:
            return await self._spdy_tunnel(request, url, PORT_FORWARD_SPDY, PORT_FORWARD_PROTOCOLS)
        return await self._stream(request, ws, url, PORT_FORWARD_PROTOCOLS)

    async def _stream(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        url: str,
        protocols: tuple[str, ...] = PROTOCOLS,
    ) -> web.StreamResponse:
        """Relays the client's WebSocket to the runtime's streaming URL, same subprotocol, or
        an older one the runtime speaks: kubectl offers only `v5.channel.k8s.io`, containerd 1.6
        only `v4.channel.k8s.io` (same frames; v5 adds the stream-close frame on channel 255,
        which v4 cannot carry and is dropped, so stdin's end does not reach such a runtime)."""
        offered = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip() in protocols
        ]
        others = [p for p in protocols if p not in offered] if offered else []
        async with aiohttp.ClientSession() as session:
            try:
                runtime = await session.ws_connect(url, protocols=offered + others, max_msg_size=0)
            except aiohttp.ClientError as err:
                return _status(500, "InternalError", f"error dialing the runtime: {err}")
            chosen = runtime.protocol
            translated = chosen in others
            if translated:
                chosen = offered[0]
            client = web.WebSocketResponse(protocols=(chosen,) if chosen else (), max_msg_size=0)
            await client.prepare(request)
            await relay(client, runtime, (lambda frame: frame[:1] != CLOSE) if translated else None)
            return client

    @staticmethod
    async def _spdy_exec(
        request: web.Request, url: str, stdin: bool, stdout: bool, stderr: bool, tty: bool
    ) -> web.StreamResponse:
        dialed = await _dial_spdy(request, url, spdyexec.STREAM_PROTOCOL, PROTOCOLS)
        if not isinstance(dialed, tuple):
            return dialed
        client, reader, writer = dialed
        session = spdyexec.ExecSession(client, reader, writer)
        session.open_streams(stdin, stdout, stderr, tty)
        await session.run()
        return client

    @staticmethod
    async def _spdy_tunnel(
        request: web.Request, url: str, stream_protocol: str, protocols: tuple[str, ...]
    ) -> web.StreamResponse:
        dialed = await _dial_spdy(request, url, stream_protocol, protocols)
        if not isinstance(dialed, tuple):
            return dialed
        client, reader, writer = dialed
        await spdytunnel.tunnel(client, reader, writer)
        return client

    @staticmethod
    async def _drain(ws: web.WebSocketResponse) -> None:
        """Reads (and drops) what the client sends: stdin, resizes, v5 stream closes."""
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                return


# -- TLS ----------------------------------------------------------------------------------


def self_signed(directory: Path, hosts: list[str]) -> tuple[Path, Path]:
    """`kubelet.crt`/`kubelet.key` under `directory`: a serving certificate from a CA of its own,
    made once (upstream writes a self-signed `kubelet.crt` in its cert dir the same way)."""
    cert, key = directory / "kubelet.crt", directory / "kubelet.key"
    if cert.exists() and key.exists():
        return cert, key
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = create_ca(common_name=f"{hosts[0]}-ca@{int(time.time())}")
    pair = issue_serving_cert(ca, hosts, common_name=hosts[0])
    key.write_bytes(pair.key_pem())
    key.chmod(0o600)
    cert.write_bytes(pair.cert_pem() + ca.cert_pem())
    return cert, key


def ssl_context(
    cert_file: Path | None,
    key_file: Path | None,
    client_ca_file: Path | None,
    cert_dir: Path,
    hosts: list[str],
) -> ssl.SSLContext:
    if cert_file is None or key_file is None:
        cert_file, key_file = self_signed(cert_dir, hosts)
    return server_ssl_context(cert_file, key_file, client_ca_file=client_ca_file)


async def serve(
    server: KubeletServer, address: str, port: int, context: ssl.SSLContext
) -> tuple[web.AppRunner, int]:
    """Starts listening; (the runner to clean up, the port actually bound)."""
    runner = web.AppRunner(server.application(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, address, port, ssl_context=context)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    log.info("kubelet server listening on https://%s:%d", address, bound)
    return runner, bound


__all__ = [
    "PROTOCOLS",
    "CRIContainers",
    "ContainerRef",
    "Containers",
    "ExecResult",
    "KubeletServer",
    "LogOptions",
    "exit_status",
    "log_options",
    "render",
    "serve",
    "ssl_context",
    "stream_log",
    "tail_offset",
]
