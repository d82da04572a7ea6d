"""Relaying a WebSocket: what the API server (to a kubelet) and the kubelet (to its runtime)
both do for exec, attach and port-forward streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiohttp
from aiohttp import WSMsgType, web


async def relay(
    client: web.WebSocketResponse,
    other: aiohttp.ClientWebSocketResponse,
    keep: Callable[[bytes], bool] | None = None,
) -> None:
    """Copies frames both ways until either side closes, then closes the other. `keep`, when
    given, says which of the client's binary frames go on (a frame the other side's protocol
    version cannot carry is dropped)."""

    async def copy(
        source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
        keep: Callable[[bytes], bool] | None = None,
    ) -> None:
        async for message in source:
            if message.type == WSMsgType.BINARY:
                if keep is None or keep(message.data):
                    await sink.send_bytes(message.data)
            elif message.type == WSMsgType.TEXT:
                await sink.send_str(message.data)
            else:
                break

    tasks = [
        asyncio.create_task(copy(other, client)),
        asyncio.create_task(copy(client, other, keep)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
                await task
        with contextlib.suppress(ConnectionResetError):
            await client.close()
        with contextlib.suppress(ConnectionResetError):
            await other.close()
