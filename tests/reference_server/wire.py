"""Test helpers: start a server (Python reference server or the Node twin, via wsbench.launch) on
a free loopback port, and raw wire helpers (aiohttp HTTP + websocket, literal wire text, none of
our codecs)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

import aiohttp
import pytest

from wsbench.launch import Server, node_twin, node_twin_available, reference_server

FACTOR = float(os.environ.get("WSBENCH_TIMEOUT_FACTOR", "1"))
SUITE_ARGS = [
    "--ping-interval", "300", "--ping-timeout", "200",
    "--max-payload", "1000000", "--connect-timeout", "1000",
    "--app-heartbeat-interval", "0",
]  # fmt: skip


def T(seconds: float) -> float:
    """A timeout scaled by WSBENCH_TIMEOUT_FACTOR."""
    return seconds * FACTOR


def node_available() -> bool:
    return node_twin_available()


@contextlib.contextmanager
def running_server(kind: str, args: list[str]) -> Iterator[str]:
    """Start ``kind`` ('python' or 'node') on 127.0.0.1:0; yield its base URL; stop it."""
    if kind == "python":
        spec = reference_server(*args)
    else:
        if not node_available():
            pytest.skip("node or reference_server/node/node_modules missing")
        spec = node_twin(*args)
    with Server(spec) as server:
        yield server.url


class Wire:
    """Raw Engine.IO/Socket.IO over aiohttp: no codec of ours on the client side."""

    def __init__(
        self, base: str, session: aiohttp.ClientSession, path: str = "/socket.io/"
    ) -> None:
        self.base = base
        self.http = session
        self.path = path

    def url(self, **query: str) -> str:
        q = "&".join(f"{k}={v}" for k, v in query.items())
        return f"{self.base}{self.path}?{q}"

    def ws_url(self, **query: str) -> str:
        return self.url(**query).replace("http://", "ws://", 1)

    async def get(self, **query: str) -> tuple[int, str]:
        async with self.http.get(self.url(**query), timeout=aiohttp.ClientTimeout(T(5))) as r:
            return r.status, await r.text()

    async def post(self, body: str | bytes, headers: dict[str, str] | None = None, **query: str):
        async with self.http.post(
            self.url(**query), data=body, headers=headers, timeout=aiohttp.ClientTimeout(T(5))
        ) as r:
            return r.status, await r.text()

    async def open_polling(self) -> str:
        import json

        status, body = await self.get(EIO="4", transport="polling")
        assert status == 200 and body.startswith("0"), body
        return json.loads(body[1:])["sid"]

    async def ws(self, **query: str) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(
            self.ws_url(**query), autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=T(5))
        )

    async def open_ws(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.ws(EIO="4", transport="websocket")
        first = await recv(ws)
        assert first.startswith("0{"), first
        return ws


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0, skip_pings: bool = False):
    """The next text/binary frame's data; raises if the socket closes or time runs out."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), T(timeout))
        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            if skip_pings and msg.data == "2":
                await ws.send_str("3")
                continue
            return msg.data
        raise ConnectionError(f"websocket closed: {msg.type} {msg.data!r}")


async def wait_closed(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = 1.0, pong: bool = True
) -> float:
    """Wait for the server to close ``ws`` while answering pings; returns seconds taken."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + T(timeout)
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"not closed within {T(timeout)} s")
        msg = await asyncio.wait_for(ws.receive(), remaining)
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            return loop.time() - start
        if msg.type is aiohttp.WSMsgType.ERROR:
            return loop.time() - start
        if pong and msg.type is aiohttp.WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")


class SioClient:
    """A minimal Socket.IO client for contract tests: raw aiohttp websocket + our codecs.

    Every received EVENT goes to ``inbox`` (namespace, event, args); ACKs resolve futures.
    ``barrier()`` does an ``echo`` round trip: anything the server sent this client before
    answering it has arrived, so "nothing received" checks need no sleeps.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        from wsbench.protocol.socketio import SioDecoder

        self.ws = ws
        self.decoder = SioDecoder()
        self.inbox: list[tuple[str, str, list]] = []
        self.acks: dict[tuple[str, int], asyncio.Future] = {}
        self.connects: dict[str, asyncio.Future] = {}
        self.disconnected: list[str] = []
        self.next_id = 0
        self.closed = asyncio.get_running_loop().create_future()
        self.sids: dict[str, str] = {}
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def connect(cls, base: str, http: aiohttp.ClientSession, ns: str = "/", auth=None,
                      *, auto_pong: bool = False):  # fmt: skip
        """``auto_pong``: the reader answers every app-level ``ping`` event of ``/`` with a
        ``pong`` as it reads it (from the CONNECT on), whatever the test is awaiting."""
        ws = await http.ws_connect(
            base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        )
        client = cls(ws)
        client.auto_pong = auto_pong
        await client.join_ns(ns, auth)
        return client

    async def join_ns(self, ns: str, auth=None) -> dict:
        from wsbench.protocol.socketio import SioPacket

        fut = self.connects[ns] = asyncio.get_running_loop().create_future()
        await self._send(SioPacket.connect(ns, auth))
        answer = await asyncio.wait_for(fut, T(3))
        if "sid" in answer:
            self.sids[ns] = answer["sid"]
        return answer

    @property
    def sid(self) -> str:
        return self.sids["/"]

    async def _send(self, packet) -> None:
        for part in packet.encode():
            if isinstance(part, str):
                await self.ws.send_str("4" + part)
            else:
                await self.ws.send_bytes(part)

    async def _read(self) -> None:
        from wsbench.protocol.socketio import SioPacketType

        try:
            async for msg in self.ws:
                data = msg.data
                if msg.type is aiohttp.WSMsgType.TEXT:
                    if data == "2":
                        await self.ws.send_str("3")
                        continue
                    if not data.startswith("4"):
                        continue
                    packet = self.decoder.feed(data[1:])
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    packet = self.decoder.feed(data)
                else:
                    break
                if packet is None:
                    continue
                if packet.type in (SioPacketType.CONNECT, SioPacketType.CONNECT_ERROR):
                    fut = self.connects.pop(packet.namespace, None)
                    if fut and not fut.done():
                        fut.set_result(packet.data)
                elif packet.is_event:
                    self.inbox.append((packet.namespace, packet.data[0], list(packet.data[1:])))
                    if self.auto_pong and packet.namespace == "/" and packet.data[0] == "ping":
                        from wsbench.protocol.socketio import SioPacket

                        await self._send(SioPacket.event("pong"))
                    if packet.id is not None and self.auto_ack is not None:
                        from wsbench.protocol.socketio import SioPacket

                        await self._send(SioPacket.ack(packet.id, self.auto_ack, packet.namespace))
                elif packet.is_ack:
                    fut = self.acks.pop((packet.namespace, packet.id), None)
                    if fut and not fut.done():
                        fut.set_result(list(packet.data))
                elif packet.type is SioPacketType.DISCONNECT:
                    self.disconnected.append(packet.namespace)
        finally:
            if not self.closed.done():
                self.closed.set_result(True)

    auto_ack: list | None = None
    auto_pong: bool = False

    async def emit(self, event: str, *args, ns: str = "/") -> None:
        from wsbench.protocol.socketio import SioPacket

        await self._send(SioPacket.event(event, *args, namespace=ns))

    async def call(self, event: str, *args, ns: str = "/", timeout: float = 3):
        """Emit with an ack and return the ack's first argument (or all of them if several)."""
        from wsbench.protocol.socketio import SioPacket

        ack_id = self.next_id
        self.next_id += 1
        fut = self.acks[(ns, ack_id)] = asyncio.get_running_loop().create_future()
        await self._send(SioPacket.event(event, *args, namespace=ns, id=ack_id))
        result = await asyncio.wait_for(fut, T(timeout))
        return result[0] if len(result) == 1 else result

    async def barrier(self) -> None:
        await self.call("echo", "barrier")

    def take(self, event: str, ns: str = "/") -> list[list]:
        """Remove and return the args of every received ``event`` in ``ns``."""
        got = [args for (n, e, args) in self.inbox if n == ns and e == event]
        self.inbox = [m for m in self.inbox if not (m[0] == ns and m[1] == event)]
        return got

    async def wait_for(self, event: str, ns: str = "/", timeout: float = 3) -> list:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + T(timeout)
        while True:
            for i, (n, e, args) in enumerate(self.inbox):
                if n == ns and e == event:
                    del self.inbox[i]
                    return args
            if loop.time() > deadline:
                raise AssertionError(f"no {event!r} in {ns} within {timeout} s: {self.inbox}")
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()
