"""The WebSocket transport on aiohttp (``websocket_impl="aiohttp"``), kept for comparison.

Theory of operation
-------------------
``ws_connect(autoping=False, compress=0)`` on a shared ``ClientSession``: the
Engine.IO heartbeat is application-level (``2``/``3`` text frames answered by
the session), so aiohttp's own ping machinery stays off, and no per-message
deflate keeps every write synchronous.

Writes: aiohttp's public ``send_str`` is a coroutine that, without
compression, frames and writes synchronously and only awaits when the write
buffer passed its high-water mark. To write inline without a task per message
we call that synchronous framing step directly (``WebSocketWriter.
_write_websocket_frame``, present since aiohttp 3.11) and fall back to one
task per batch when it is absent. Instead of awaiting drain we bound the
kernel-side backlog: past ``max_write_buffer`` bytes the connection is failed
with ``transport error`` rather than buffering without limit.

Reads: :meth:`WebSocketTransport.read_loop` awaits ``receive()`` and hands
each text or binary frame to the connection's callback; no queue, no task.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import WSMsgType

from wsbench.client.transport import ReadResult, open_error
from wsbench.protocol.events import DisconnectReason

__all__ = ["WebSocketTransport", "open_error"]

DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024
_TEXT, _BINARY = WSMsgType.TEXT, WSMsgType.BINARY
_OP_TEXT, _OP_BINARY = int(WSMsgType.TEXT), int(WSMsgType.BINARY)


class WebSocketTransport:
    """An open Engine.IO WebSocket transport (see the module docstring)."""

    name = "websocket"
    __slots__ = ("_ws", "_write", "_tr", "max_write_buffer", "_tasks")

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    ) -> None:
        self._ws = ws
        writer = getattr(ws, "_writer", None)
        write = getattr(writer, "_write_websocket_frame", None)
        self._write: Callable[[bytes, int, int], None] | None = write
        self._tr: Any = getattr(writer, "transport", None)
        self.max_write_buffer = max_write_buffer
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        *,
        max_msg_size: int = 1_000_000,
        headers: dict[str, str] | None = None,
        timeout: float = 20.0,
    ) -> WebSocketTransport:
        """Open the WebSocket (handshake bounded by ``timeout`` seconds).

        Raises:
            HandshakeRejected, ConnectFailed, ResourceLimit.
        """
        connecting = http.ws_connect(
            url,
            autoping=False,
            autoclose=True,
            compress=0,
            max_msg_size=max_msg_size,
            headers=headers,
            timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
        )
        try:
            ws = await asyncio.wait_for(connecting, timeout)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise open_error(url, exc) from exc
        return cls(ws)

    @property
    def closed(self) -> bool:
        return self._ws.closed

    def send(self, messages: list[str | bytes]) -> None:
        write = self._write
        if write is None or self._tr is None:
            self._send_slow(messages)
            return
        try:
            for m in messages:
                if type(m) is str:
                    write(m.encode(), _OP_TEXT, 0)  # type: ignore[union-attr]
                else:
                    write(m, _OP_BINARY, 0)  # type: ignore[arg-type]
        except (ConnectionError, RuntimeError):
            return  # closing: the read loop reports the close
        if self._tr.get_write_buffer_size() > self.max_write_buffer:
            self.abort()

    def _send_slow(self, messages: list[str | bytes]) -> None:
        async def send_all() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                for m in messages:
                    if isinstance(m, str):
                        await self._ws.send_str(m)
                    else:
                        await self._ws.send_bytes(m)

        task = asyncio.get_running_loop().create_task(send_all())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receive_one(self, timeout: float) -> str | bytes | None:
        """Read one data frame (the upgrade probe answer); ``None`` on close or timeout."""
        try:
            msg = await asyncio.wait_for(self._ws.receive(), timeout)
        except TimeoutError:
            return None
        return msg.data if msg.type is _TEXT or msg.type is _BINARY else None

    async def read_loop(self, feed: Callable[[str | bytes], bool]) -> ReadResult:
        receive = self._ws.receive
        while True:
            msg = await receive()
            t = msg.type
            if t is _TEXT or t is _BINARY:
                if not feed(msg.data):
                    return ReadResult(None)
            elif t is WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._ws.pong(msg.data)
            elif t is WSMsgType.ERROR:
                return ReadResult(DisconnectReason.TRANSPORT_ERROR, repr(msg.data))
            elif t is WSMsgType.PONG:
                continue
            else:  # CLOSE, CLOSING, CLOSED
                code = self._ws.close_code
                return ReadResult(DisconnectReason.TRANSPORT_CLOSE, f"websocket closed ({code})")

    def pause_reading(self) -> None:
        """Best effort: aiohttp's own flow control may resume reading when its queue drains."""
        if self._tr is not None:
            self._tr.pause_reading()

    def resume_reading(self) -> None:
        if self._tr is not None:
            self._tr.resume_reading()

    def abort(self) -> None:
        if self._tr is not None:
            self._tr.abort()
        else:
            task = asyncio.get_running_loop().create_task(self._ws.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._ws.close(), 2.0)
