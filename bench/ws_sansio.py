"""A WebSocket transport on websockets' sans-I/O ``ClientProtocol``, for comparison only.

Used by ``bench/client_receive.py --only wsbench-websockets`` to measure the
alternative to wsbench's hand-written reader (:mod:`wsbench.client.wsprotocol`)
with a well-kept library: the same ``asyncio.Protocol`` shape, but every chunk
goes through ``receive_data`` / ``events_received`` / ``data_to_send`` and each
frame is a ``Frame`` object. Unfragmented server frames only (what the bench
sends); not part of the package, and websockets is not a dependency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from wsbench.client.transport import ReadResult
from wsbench.protocol.events import DisconnectReason

TEXT, BINARY = Opcode.TEXT, Opcode.BINARY


class WebsocketsTransport(asyncio.Protocol):
    name = "websocket"

    def __init__(self, url: str, max_size: int) -> None:
        self.proto = ClientProtocol(parse_uri(url), max_size=max_size)
        self.tr: Any = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.feed: Callable[[str | bytes], bool] | None = None
        self.pending: list[str | bytes] = []
        self.done: asyncio.Future[ReadResult] = asyncio.get_running_loop().create_future()

    @classmethod
    async def open(cls, url: str, max_msg_size: int = 1_000_000, **_: Any) -> WebsocketsTransport:
        self = cls(url, max_msg_size)
        host, port = self.proto.uri.host, self.proto.uri.port
        await asyncio.get_running_loop().create_connection(lambda: self, host, port)
        self.proto.send_request(self.proto.connect())
        self._flush()
        await self.opened
        return self

    def connection_made(self, transport: Any) -> None:
        self.tr = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(ReadResult(DisconnectReason.TRANSPORT_CLOSE, str(exc)))

    def _flush(self) -> None:
        out = self.proto.data_to_send()
        if out:
            self.tr.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        proto = self.proto
        proto.receive_data(data)
        for ev in proto.events_received():
            if type(ev) is Response:
                if proto.handshake_exc is not None:
                    self.opened.set_exception(proto.handshake_exc)
                else:
                    self.opened.set_result(None)
                continue
            op = ev.opcode
            if op is TEXT or op is BINARY:
                msg = ev.data.decode() if op is TEXT else bytes(ev.data)
                if self.feed is None:
                    self.pending.append(msg)
                else:
                    self.feed(msg)
        self._flush()

    def send(self, messages: list[str | bytes]) -> None:
        for m in messages:
            if type(m) is str:
                self.proto.send_text(m.encode())
            else:
                self.proto.send_binary(m)  # type: ignore[arg-type]
        self._flush()

    async def read_loop(self, feed: Callable[[str | bytes], bool]) -> ReadResult:
        self.feed = feed
        for m in self.pending:
            feed(m)
        self.pending.clear()
        return await self.done

    def pause_reading(self) -> None:
        self.tr.pause_reading()

    def resume_reading(self) -> None:
        self.tr.resume_reading()

    def abort(self) -> None:
        self.tr.abort()

    async def close(self) -> None:
        self.tr.close()


def install() -> None:
    """Make every new wsbench Connection open its WebSockets with this transport."""
    from wsbench.client.connection import Connection

    async def open_websocket(self: Connection, url: str, max_size: int) -> Any:
        return await WebsocketsTransport.open(url, max_size)

    Connection._open_websocket = open_websocket  # type: ignore[method-assign]
