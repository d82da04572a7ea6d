"""`pods/log`, `pods/exec`, `pods/attach` and `pods/portforward`: the API server's proxy to the
kubelet of the pod's node.

As upstream's pod registry (pkg/registry/core/pod/strategy.go LogLocation, ExecLocation): the
pod's container is checked first (one container may be implied; otherwise it must be named
and exist), then the kubelet is found from the pod's node: its `status.addresses` InternalIP and
`status.daemonEndpoints.kubeletEndpoint.Port`. The log is a plain-text stream copied through;
exec is a WebSocket relayed frame by frame between the client and the kubelet's
`/exec/{ns}/{pod}/{container}`, with the subprotocol the kubelet picked (v5/v4.channel.k8s.io);
attach the same to `/attach/{ns}/{pod}/{container}`. Port-forward (no container) relays to
`/portForward/{ns}/{pod}`: kubectl's `SPDY/3.1+portforward.k8s.io` WebSocket carries a SPDY
session in its binary messages, which passes through unread (upstream's API server unwraps it
onto a SPDY upgrade to the kubelet instead; the kubelet here accepts the tunnel as is).

`nodes/proxy` (`/api/v1/nodes/{node}/proxy/{path}`) forwards any request to `https://{kubelet}/
{path}` with its query, method and body, and answers with the kubelet's status, type and body
(streamed): `kubectl get --raw /api/v1/nodes/n/proxy/stats/summary`, `.../proxy/healthz`.

The kubelet's serving certificate is not verified (upstream's default, with
`--kubelet-certificate-authority` unset); the API server presents its kubelet client certificate
when it has one, which a kubelet started with `--client-ca-file` requires.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from kube.api import errors
from kube.apiserver.requestinfo import RequestInfo
from kube.apiserver.store import ObjectStore
from kube.client.websocket import relay

__all__ = ["NODE_PROXY_VERBS", "KubeletProxy", "container_for", "kubelet_address"]

StoreFor = Callable[[str, str, str], ObjectStore]

LOG_PARAMS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime",
              "limitBytes")  # fmt: skip
EXEC_PARAMS = ("command", "stdin", "stdout", "stderr", "tty")
ATTACH_PARAMS = ("stdin", "stdout", "stderr", "tty")
CONNECT_TIMEOUT = 10.0
# nodes/proxy: upstream's connect verbs for it (discovery lists them), each an HTTP method.
NODE_PROXY_VERBS = ("create", "delete", "get", "patch", "update")
# Request headers passed on to the kubelet: the client's credentials for the API server and
# the hop-by-hop headers stay behind (upstream's proxy strips them likewise).
_FORWARDED_HEADERS = ("Accept", "Content-Type", "User-Agent")
_RETURNED_HEADERS = ("Content-Type", "Content-Encoding", "Cache-Control", "Location")


def _names(containers: Any) -> list[str]:
    return [str(c.get("name")) for c in containers or [] if isinstance(c, dict)]


def container_for(pod: dict[str, Any], wanted: str) -> str:
    """The container a log or exec request means, with upstream's 400s when it is unclear."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    spec = pod.get("spec") or {}
    containers = _names(spec.get("containers"))
    init = _names(spec.get("initContainers"))
    ephemeral = _names(spec.get("ephemeralContainers"))
    if not wanted:
        if len(containers) == 1:
            return containers[0]
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        message = (
            f"a container name must be specified for pod {name}, "
            f"choose one of: [{' '.join(containers)}]"
        )
        if init:
            message += f" or one of the init containers: [{' '.join(init)}]"
        if ephemeral:
            message += f" or one of the ephemeral containers: [{' '.join(ephemeral)}]"
        raise errors.bad_request(message)
    if wanted not in (*containers, *init, *ephemeral):
        raise errors.bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


def kubelet_address(node: dict[str, Any]) -> tuple[str, int]:
    """(host, port) of a node's kubelet: the InternalIP (else any address) and kubelet port."""
    status = node.get("status") or {}
    addresses = [a for a in status.get("addresses") or [] if isinstance(a, dict)]
    by_type = {str(a.get("type")): str(a.get("address") or "") for a in reversed(addresses)}
    host = next(
        (by_type[t] for t in ("InternalIP", "ExternalIP", "Hostname") if by_type.get(t)), ""
    )
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    name = (node.get("metadata") or {}).get("name", "")
    if not host or not isinstance(port, int) or port <= 0:
        raise errors.internal(f"node {name} has no kubelet address to connect to")
    return host, port


def client_context(client_cert: tuple[Path, Path] | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        ctx.load_cert_chain(*client_cert)
    return ctx


class KubeletProxy:
    """The handlers of pods/log and pods/exec."""

    def __init__(self, store_for: StoreFor, client_cert: tuple[Path, Path] | None = None) -> None:
        self.store_for = store_for
        self.client_cert = client_cert
        self._ssl: ssl.SSLContext | None = None

    @property
    def ssl(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = client_context(self.client_cert)
        return self._ssl

    async def _target(
        self, info: RequestInfo, container: str | None, what: str
    ) -> tuple[dict[str, Any], str, str] | None:
        """(pod, container, kubelet URL with `{}` for the route); None for a log of a pod with
        no node yet. A `container` of None (port-forward) names none."""
        pod = await self.store_for("", "v1", "pods").get(info.namespace, info.name)
        if container is not None:
            container = container_for(pod, container)
        node_name = str((pod.get("spec") or {}).get("nodeName") or "")
        if not node_name:
            if what == "log":
                return None  # upstream: no location, an empty log
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        node = await self.store_for("", "v1", "nodes").get("", node_name)
        host, port = kubelet_address(node)
        if ":" in host:
            host = f"[{host}]"
        parts = (info.namespace, info.name) if container is None else (
            info.namespace, info.name, container
        )  # fmt: skip
        path = "/".join(quote(p, safe="") for p in parts)
        return pod, container or "", f"https://{host}:{port}/{{}}/{path}"

    async def log(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        query = request.query
        target = await self._target(info, query.get("container", ""), "log")
        if target is None:
            return web.Response(body=b"", content_type="text/plain")
        params = [(k, v) for k in LOG_PARAMS for v in query.getall(k, [])]
        url = target[2].format("containerLogs") + ("?" + urlencode(params) if params else "")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, ssl=self.ssl) as answer,
            ):
                if answer.status != 200:
                    return web.Response(
                        body=await answer.read(),
                        status=answer.status,
                        headers={"Content-Type": answer.headers.get("Content-Type", "text/plain")},
                    )
                response = web.StreamResponse(headers={"Content-Type": "text/plain"})
                await response.prepare(request)
                with contextlib.suppress(ConnectionResetError):
                    async for piece in answer.content.iter_any():
                        await response.write(piece)
                    await response.write_eof()
                return response
        except aiohttp.ClientError as err:
            raise errors.internal(f'Get "{url}": {err}') from err

    async def node_proxy(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        """`nodes/{name}/proxy/{path}`: the request as it came, sent to the node's kubelet."""
        node = await self.store_for("", "v1", "nodes").get("", info.name)
        host, port = kubelet_address(node)
        if ":" in host:
            host = f"[{host}]"
        path = "/".join(quote(p, safe="") for p in info.rest)
        if info.rest and request.path.endswith("/"):
            path += "/"
        url = f"https://{host}:{port}/{path}"
        if request.query_string:
            url += "?" + request.query_string
        headers = {k: request.headers[k] for k in _FORWARDED_HEADERS if k in request.headers}
        body = await request.read() if request.can_read_body else None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session,
                session.request(
                    request.method, url, headers=headers, data=body, ssl=self.ssl
                ) as answer,
            ):
                returned = {k: answer.headers[k] for k in _RETURNED_HEADERS if k in answer.headers}
                response = web.StreamResponse(status=answer.status, headers=returned)
                await response.prepare(request)
                with contextlib.suppress(ConnectionResetError):
                    async for piece in answer.content.iter_any():
                        await response.write(piece)
                    await response.write_eof()
                return response
        except aiohttp.ClientConnectorError as err:
            # Upstream passes the dial error on as a Status without a reason (code 500).
            cause = (
                "connect: connection refused"
                if isinstance(err.os_error, ConnectionRefusedError)
                else str(err.os_error)
            )
            message = f"error trying to reach service: dial tcp {host}:{port}: {cause}"
            raise errors.APIError(500, "", message) from err
        except aiohttp.ClientError as err:
            raise errors.APIError(500, "", f"error trying to reach service: {err}") from err

    async def exec(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        return await self._connect(request, info, "exec", EXEC_PARAMS)

    async def attach(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        return await self._connect(request, info, "attach", ATTACH_PARAMS)

    async def port_forward(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        return await self._connect(request, info, "portForward", ())

    async def _connect(
        self, request: web.Request, info: RequestInfo, route: str, names: tuple[str, ...]
    ) -> web.StreamResponse:
        """A connect subresource: the client's WebSocket relayed to the kubelet's `route`."""
        query = request.query
        container = None if route == "portForward" else query.get("container", "")
        target = await self._target(info, container, route)
        assert target is not None
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise errors.bad_request("Upgrade request required")
        params = [(k, v) for k in names for v in query.getall(k, [])]
        url = target[2].format(route) + ("?" + urlencode(params) if params else "")
        offered = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT)
        )
        try:
            try:
                upstream = await session.ws_connect(
                    url, protocols=offered, ssl=self.ssl, max_msg_size=0, autoping=True
                )
            except aiohttp.WSServerHandshakeError as err:
                raise errors.APIError(
                    err.status, "InternalError" if err.status >= 500 else "BadRequest",
                    f"error dialing backend: {err.message}",
                ) from err  # fmt: skip
            except aiohttp.ClientError as err:
                raise errors.internal(f"error dialing backend: {err}") from err
            chosen = upstream.protocol
            client = web.WebSocketResponse(protocols=(chosen,) if chosen else (), max_msg_size=0)
            await client.prepare(request)
            await relay(client, upstream)
            return client
        finally:
            await session.close()
