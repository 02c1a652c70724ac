"""A WebSocket transport on picows (Cython WebSocket for asyncio), for comparison only.

Used by ``bench/client_receive.py --only wsbench-picows`` to measure picows against
wsbench's hand-written transport (:mod:`wsbench.client.wsprotocol`, the sans-I/O codec of
:mod:`wsbench.protocol.websocket` as the ``data_received`` of an ``asyncio.Protocol``) on the
same client: same :class:`~wsbench.client.Connection`, same session, only the frame layer
differs. picows parses frames in Cython and hands each one to ``on_ws_frame``; the payload is
decoded here (text) and fed to the session exactly as the default transport does. Auto-pong
on (picows' default); unfragmented server frames only (what the bench sends); not part of
the package, and picows is not a dependency (the measured result is in bench/README.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from wsbench.client.transport import ReadResult
from wsbench.protocol.events import DisconnectReason

TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY


class PicowsTransport(WSListener):
    name = "websocket"

    def __init__(self) -> None:
        self.tr: WSTransport | None = None
        self.feed: Callable[[str | bytes], bool] | None = None
        self.pending: list[str | bytes] = []
        self.done: asyncio.Future[ReadResult] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, url: str, max_msg_size: int = 1_000_000, **_: Any) -> PicowsTransport:
        transport, listener = await ws_connect(cls, url, max_frame_size=max_msg_size)
        assert isinstance(listener, PicowsTransport)
        listener.tr = transport
        return listener

    # -- picows callbacks ------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.tr = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        op = frame.msg_type
        if op is TEXT:
            msg: str | bytes = frame.get_payload_as_utf8_text()
        elif op is BINARY:
            msg = frame.get_payload_as_bytes()
        elif op is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        else:
            return  # PING is answered by picows (auto-pong), PONG ignored
        feed = self.feed
        if feed is None:
            self.pending.append(msg)
        else:
            feed(msg)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_result(ReadResult(DisconnectReason.TRANSPORT_CLOSE, "picows closed"))

    # -- the Transport interface -----------------------------------------------------------

    def send(self, messages: list[str | bytes]) -> None:
        tr = self.tr
        if tr is None:
            return
        for m in messages:
            if type(m) is str:
                tr.send(TEXT, m.encode())
            else:
                tr.send(BINARY, bytes(m))

    async def read_loop(self, feed: Callable[[str | bytes], bool]) -> ReadResult:
        self.feed = feed
        for m in self.pending:
            feed(m)
        self.pending.clear()
        return await self.done

    def pause_reading(self) -> None:
        if self.tr is not None:
            self.tr.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        if self.tr is not None:
            self.tr.underlying_transport.resume_reading()

    def abort(self) -> None:
        if self.tr is not None:
            self.tr.disconnect(graceful=False)

    async def close(self) -> None:
        if self.tr is not None:
            self.tr.send_close()
            self.tr.disconnect()


def install() -> None:
    """Make every new wsbench Connection open its WebSockets with this transport."""
    from wsbench.client.connection import Connection

    async def open_websocket(self: Connection, url: str, max_size: int) -> Any:
        return await PicowsTransport.open(url, max_size)

    Connection._open_websocket = open_websocket  # type: ignore[method-assign]
