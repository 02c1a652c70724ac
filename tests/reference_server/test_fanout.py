"""The broadcast fan-out path of the Python reference server (issue 14).

A broadcast writes one prebuilt frame to every recipient: straight to the socket with one
``write(2)`` when nothing waits in the connection's transport, the part the kernel did not
take (and every later frame, until the transport drained) through the transport. These tests
drive a real server over loopback with a receiver that stops reading (a small SO_RCVBUF and a
small stream buffer; the server's send buffer still takes up to 4 MB): the frames must arrive whole
and in order once it reads again, the write-buffer limit must still close it when exceeded,
and the adapter's cached recipients must follow every membership change.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
from urllib.parse import urlsplit

import aiohttp
import pytest

from reference_server.config import ServerConfig
from reference_server.sio import Socket, SocketIOServer
from reference_server.transport import EngineConnection
from tests.reference_server.wire import SioClient, T, running_server

ARGS = [
    "--ping-interval", "30000", "--ping-timeout", "30000",  # the stalled reader must not time out
    "--max-payload", "1000000", "--app-heartbeat-interval", "0",
]  # fmt: skip
PAD = 200_000  # bytes per broadcast
# 6 MB: more than the kernel holds for a receiver that does not read (the sender's buffer grows
# to tcp_wmem's maximum, 4 MB by default), so frames also wait in the transport
COUNT = 30


class RawWs:
    """A WebSocket client on a plain socket that reads only when told to."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base: str) -> RawWs:
        url = urlsplit(base)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (url.hostname, url.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(
            b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            b"Host: " + url.netloc.encode() + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), T(5))
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        head = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
        self.writer.write(head + b"\0\0\0\0" + payload)  # masked with a zero key

    async def recv(self, timeout: float = 5) -> str:
        """The next text frame (the server never fragments); EOF raises IncompleteReadError."""

        async def frame() -> str:
            b0, b1 = await self.reader.readexactly(2)
            assert b0 == 0x81, hex(b0)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return (await self.reader.readexactly(n)).decode()

        return await asyncio.wait_for(frame(), T(timeout))

    async def join_doc(self, doc: str) -> None:
        assert (await self.recv()).startswith("0{")
        self.send("40")
        assert (await self.recv()).startswith("40{")
        self.send(json.dumps(["subscribe document", doc]).join(("421", "")))
        while not (await self.recv()).startswith("431"):
            pass  # the document state comes first

    def close(self) -> None:
        self.writer.close()


@pytest.fixture(scope="module")
def fan_server():
    with running_server("python", ARGS) as url:
        yield url


@pytest.fixture(scope="module")
def limited_server():
    with running_server("python", [*ARGS, "--write-buffer-limit", "300000"]) as url:
        yield url


async def _broadcast(base: str, doc: str) -> SioClient:
    async with aiohttp.ClientSession() as http:
        sender = await SioClient.connect(base, http)
        for i in range(COUNT):
            await sender.emit(
                "broadcast room", {"room": f"doc:{doc}", "data": {"i": i, "pad": "x" * PAD}}
            )
        await sender.barrier()  # the server handled every broadcast: written or queued
        await sender.ws.close()
    return sender


def _event(text: str) -> dict:
    assert text.startswith('42["event",'), text[:40]
    return json.loads(text[2:])[1]


async def test_a_stalled_receiver_gets_every_frame_whole_and_in_order(fan_server):
    rx = await RawWs.open(fan_server)
    try:
        await rx.join_doc("fan")
        await _broadcast(fan_server, "fan")  # ~2 MB while rx reads nothing
        got = [_event(await rx.recv()) for _ in range(COUNT)]
        assert [d["i"] for d in got] == list(range(COUNT))
        assert all(d["pad"] == "x" * PAD for d in got)
    finally:
        rx.close()


async def test_a_stalled_receiver_past_the_write_buffer_limit_is_closed(limited_server):
    rx = await RawWs.open(limited_server)
    try:
        await rx.join_doc("slow")
        await _broadcast(limited_server, "slow")
        seen = []
        with pytest.raises((asyncio.IncompleteReadError, ConnectionResetError)):
            while True:  # what reached the kernel before the close, then the end of the stream
                seen.append(_event(await rx.recv())["i"])
        assert seen == list(range(len(seen))) and len(seen) < COUNT, seen
    finally:
        rx.close()


def _connected(io: SocketIOServer, sid: str) -> tuple[EngineConnection, Socket]:
    session = io.session_factory(sid, "polling", 0.0)
    conn = EngineConnection(session, io, io.config, {})
    session.receive_message("40", 0.0)
    conn.pump()
    conn.poll_buffer.clear()  # the CONNECT answer
    return conn, conn.sockets["/"]


def _events(conn: EngineConnection) -> list:
    got = [json.loads(record[2:])[1] for record in conn.poll_buffer]
    conn.poll_buffer.clear()
    return got


async def test_the_cached_recipients_follow_every_membership_change() -> None:
    io = SocketIOServer(ServerConfig())
    nsp = io.of("/")
    ca, a = _connected(io, "eio-a")
    cb, b = _connected(io, "eio-b")
    a.join("r")
    kept = nsp.adapter.connections(["r"], [])
    assert kept == (ca,) and nsp.adapter.connections(["r"], []) is kept  # kept between changes
    assert nsp.to("r").emit("event", 1) == 1 and _events(ca) == [1] and _events(cb) == []
    b.join("r")
    assert nsp.to("r").emit("event", 2) == 2 and _events(ca) == [2] and _events(cb) == [2]
    assert b.to("r").emit("event", 3) == 1 and _events(ca) == [3] and _events(cb) == []
    a.leave("r")
    assert nsp.to("r").emit("event", 4) == 1 and _events(ca) == [] and _events(cb) == [4]
    assert nsp.emit("event", 5) == 2 and _events(ca) == [5] and _events(cb) == [5]
    cb.close()  # disconnected: out of every room and of the namespace
    assert nsp.to("r").emit("event", 6) == 0 and nsp.emit("event", 7) == 1
    assert _events(ca) == [7]
    _, c = _connected(io, "eio-c")  # a new socket is in "all" at once
    assert nsp.emit("event", 8) == 2


class _Accepted(asyncio.Protocol):
    """The server side of a loopback TCP connection: its transport, nothing read."""

    def __init__(self, into: list[asyncio.Transport]) -> None:
        self.into = into

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.into.append(transport)  # type: ignore[arg-type]


async def _text_frames(reader: asyncio.StreamReader, count: int) -> list[str]:
    got = []
    for _ in range(count):
        b0, n = await asyncio.wait_for(reader.readexactly(2), T(5))
        assert b0 == 0x81 and n < 126, (b0, n)
        got.append((await asyncio.wait_for(reader.readexactly(n), T(5))).decode())
    return got


async def test_a_handlers_emit_to_its_socket_goes_before_its_broadcast_to_its_room() -> None:
    """The fan-out loop's fast path skips a connection whose pump is running (wave 2e).

    A handler runs inside its connection's pump: its ``socket.emit`` waits in the session
    until that pump's next turn, so a broadcast it makes next to a room its socket is in must
    not write straight to the socket (which would overtake the emit). A real loopback TCP
    transport, so the broadcast meets the direct-write path.
    """
    loop = asyncio.get_running_loop()
    accepted: list[asyncio.Transport] = []
    server = await loop.create_server(lambda: _Accepted(accepted), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
    try:
        while not accepted:
            await asyncio.sleep(0.01)
        io = SocketIOServer(ServerConfig())
        nsp = io.of("/")

        def on_connection(socket: Socket) -> None:
            socket.join("r")

            def go(*_: object, ack: object = None) -> None:
                socket.emit("first")
                assert nsp.to("r").emit("second") == 1

            socket.on("go", go)

        nsp.on_connection = on_connection
        session = io.session_factory("eio-w", "websocket", loop.time())
        conn = EngineConnection(session, io, io.config, {})
        conn.attach_ws(None, accepted[0])
        assert conn._fast_fd >= 0  # the direct-write path is on
        conn.pump()  # OPEN
        session.receive_message("40", loop.time())
        conn.pump()
        session.receive_message('42["go"]', loop.time())
        conn.pump()
        frames = await _text_frames(reader, 4)
        assert frames[0].startswith("0{") and frames[1].startswith("40{"), frames
        assert frames[2:] == ['42["first"]', '42["second"]']
        # outside a pump the same broadcast takes the direct write
        assert nsp.to("r").emit("third") == 1
        assert await _text_frames(reader, 1) == ['42["third"]']
    finally:
        writer.close()
        server.close()
