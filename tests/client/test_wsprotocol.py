"""The default WebSocket transport against scripted RFC 6455 servers on real loopback sockets.

Each test starts an asyncio server that completes (or spoils) the opening
handshake and then plays a script of raw frames, so the client's parser meets
what real servers rarely produce on demand: 16- and 64-bit lengths, many frames
in one segment, a frame split byte by byte, fragmentation with a PING in
between, close codes, protocol violations, and a peer that stops reading.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.conftest import scaled
from wsbench.client.frames import GUID, encode_frame
from wsbench.client.wsprotocol import ProtocolTransport
from wsbench.exceptions import HandshakeRejected
from wsbench.protocol.events import DisconnectReason

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """An unmasked frame, as a server sends it."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    if n < 126:
        return bytes((b0, n)) + payload
    if n < 65536:
        return bytes((b0, 126)) + n.to_bytes(2, "big") + payload
    return bytes((b0, 127)) + n.to_bytes(8, "big") + payload


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame from the client; asserts it is masked (RFC 6455 §5.1)."""
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80, "client frames must be masked"
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    mask = await reader.readexactly(4)
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    answer = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + answer + b"\r\n\r\n"
    )


class Scripted:
    def __init__(self, script: Script, handshake: bool = True) -> None:
        self.script = script
        self.handshake = handshake
        self.done = asyncio.Event()
        self.error: BaseException | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.handshake:
                await accept(reader, writer)
            await self.script(reader, writer)
        except BaseException as exc:  # surfaced by the test
            self.error = exc
        finally:
            self.done.set()
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[tuple[str, Scripted]]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script, handshake: bool = True) -> tuple[str, Scripted]:
        scripted = Scripted(script, handshake)
        server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket", scripted

    yield start
    for server in servers:
        server.close()


async def collect(t: ProtocolTransport, count: int) -> tuple[list[str | bytes], object]:
    got: list[str | bytes] = []

    def feed(message: str | bytes) -> bool:
        got.append(message)
        return len(got) < count

    result = await asyncio.wait_for(t.read_loop(feed), scaled(5))
    return got, result


async def test_receives_every_length_encoding_and_many_frames_per_segment(serve) -> None:
    sizes = [0, 1, 125, 126, 65535, 65536, 200_000]
    texts = ["4" + "x" * max(0, n - 1) for n in sizes]

    async def script(reader, writer) -> None:
        writer.write(b"".join(server_frame(1, t.encode()) for t in texts))
        await reader.read()  # until the client goes

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got, result = await collect(t, len(texts))
    assert [len(m) for m in got] == [len(x) for x in texts]
    assert got == texts
    t.abort()


async def test_frame_split_byte_by_byte_and_binary(serve) -> None:
    frames = server_frame(1, '42["é"]'.encode()) + server_frame(2, b"\x00\x01" * 70_000)

    async def script(reader, writer) -> None:
        for i in range(0, 64):  # the head, one byte per segment
            writer.write(frames[i : i + 1])
            await writer.drain()
            await asyncio.sleep(0)
        writer.write(frames[64:])
        await reader.read()

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got, _ = await collect(t, 2)
    assert got == ['42["é"]', b"\x00\x01" * 70_000]
    t.abort()


async def test_fragmented_message_with_ping_between_is_reassembled_and_pong_sent(serve) -> None:
    pong: list[tuple[int, bytes]] = []

    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b'42["a', fin=False))
        writer.write(server_frame(9, b"hi"))
        writer.write(server_frame(0, b'bc"', fin=False))
        writer.write(server_frame(0, b"]"))
        pong.append(await read_client_frame(reader))
        await reader.read()

    url, server = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got, _ = await collect(t, 1)
    assert got == ['42["abc"]']
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while not pong and asyncio.get_running_loop().time() < deadline:  # the server reads it
        await asyncio.sleep(0.01)
    assert pong == [(0xA, b"hi")]
    t.abort()


async def test_client_frames_are_masked_and_decoded_by_the_server(serve) -> None:
    seen: list[tuple[int, bytes]] = []
    messages: list[str | bytes] = ["3", "42" + "é" * 100, b"\x01" * 70_000, "4" * 200]

    async def script(reader, writer) -> None:
        for _ in messages:
            seen.append(await read_client_frame(reader))

    url, server = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    t.send(messages[:1])
    t.send(messages[1:])
    await asyncio.wait_for(server.done.wait(), scaled(5))
    assert server.error is None
    assert seen == [(1 if isinstance(m, str) else 2, m.encode() if isinstance(m, str) else m)
                    for m in messages]  # fmt: skip
    t.abort()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes((0x81, 0x85)) + b"\x00" * 9, 1002),  # masked by the server
        (server_frame(1, b"x", rsv=0x40), 1002),  # RSV1 without an extension
        (server_frame(0, b"x"), 1002),  # continuation of nothing
        (server_frame(1, b"a", fin=False) + server_frame(1, b"b"), 1002),  # new final text inside
        (server_frame(3, b"x"), 1002),  # reserved opcode
        (server_frame(9, b"x", fin=False), 1002),  # fragmented control frame
        (server_frame(1, b"\xff\xfe"), 1007),  # not UTF-8
        (server_frame(1, b"x" * 2000), 1009),  # over max_size
    ],
)
async def test_violations_fail_the_connection_with_the_rfc_close_code(serve, frame, code) -> None:
    closes: list[tuple[int, bytes]] = []

    async def script(reader, writer) -> None:
        writer.write(frame)
        closes.append(await read_client_frame(reader))

    url, server = await serve(script)
    t = await ProtocolTransport.open(url, max_msg_size=1000, timeout=scaled(5))
    _, result = await collect(t, 10)
    await asyncio.wait_for(server.done.wait(), scaled(5))
    assert result.reason is DisconnectReason.TRANSPORT_ERROR
    assert f"closed with {code}" in result.detail
    assert closes and closes[0][0] == 8 and int.from_bytes(closes[0][1][:2], "big") == code


async def test_server_close_is_echoed_and_reported_with_its_code(serve) -> None:
    echoed: list[tuple[int, bytes]] = []

    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b"4x") + server_frame(8, (1001).to_bytes(2, "big") + b"bye"))
        echoed.append(await read_client_frame(reader))

    url, server = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got, result = await collect(t, 10)
    await asyncio.wait_for(server.done.wait(), scaled(5))
    assert got == ["4x"]
    assert result.reason is DisconnectReason.TRANSPORT_CLOSE
    assert result.detail == "websocket closed (1001): bye"
    assert echoed == [(8, (1001).to_bytes(2, "big"))]


async def test_eof_without_close_frame_is_transport_close_1006(serve) -> None:
    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b"4x"))

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got, result = await collect(t, 10)
    assert got == ["4x"]
    assert (result.reason, result.detail) == (
        DisconnectReason.TRANSPORT_CLOSE,
        "websocket closed (1006)",
    )


async def test_frames_sent_with_the_101_answer_are_kept_until_read_loop(serve) -> None:
    written = asyncio.Event()

    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b"0{}") + server_frame(1, b"40"))
        await writer.drain()
        written.set()
        await reader.read()

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    await asyncio.wait_for(written.wait(), scaled(5))  # both frames sent, nobody reads yet
    assert await t.receive_one(scaled(5)) == "0{}"
    got, _ = await collect(t, 1)
    assert got == ["40"]
    t.abort()


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\nno way!", 400),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
            101,
        ),  # fmt: skip
        (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", 101),
    ],
)
async def test_bad_handshake_answers_are_rejected(serve, answer, status) -> None:
    async def script(reader, writer) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(0.2)

    url, _ = await serve(script, handshake=False)
    with pytest.raises(HandshakeRejected) as info:
        await ProtocolTransport.open(url, timeout=scaled(5))
    assert info.value.status == status
    if status == 400:
        assert "no way!" in str(info.value)


async def test_peer_that_stops_reading_fails_the_writer_at_the_bound(serve) -> None:
    async def script(reader, writer) -> None:
        await asyncio.sleep(scaled(5))  # never reads

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5), max_write_buffer=256 * 1024)
    loop_done = asyncio.ensure_future(t.read_loop(lambda m: True))
    chunk = "4" + "x" * 16_000
    for _ in range(2000):  # 32 MB offered: kernel buffers fill, then ours, then the bound
        t.send([chunk])
        if t.closed:
            break
        await asyncio.sleep(0)
    assert t.closed
    result = await asyncio.wait_for(loop_done, scaled(5))
    assert result.reason is DisconnectReason.TRANSPORT_ERROR
    assert "peer not reading" in result.detail


async def test_pause_reading_stops_delivery_until_resumed(serve) -> None:
    written = asyncio.Event()

    async def script(reader, writer) -> None:
        for i in range(3):
            await asyncio.sleep(0.05)  # paced sends: the behaviour under test
            writer.write(server_frame(1, f"4{i}".encode()))
        await writer.drain()
        written.set()
        await reader.read()

    url, _ = await serve(script)
    t = await ProtocolTransport.open(url, timeout=scaled(5))
    got: list[str | bytes] = []
    t.pause_reading()
    loop_done = asyncio.ensure_future(t.read_loop(lambda m: got.append(m) is None))
    await asyncio.wait_for(written.wait(), scaled(5))  # all three are on their way
    await asyncio.sleep(0.05)  # quiet window, only once everything was sent
    assert got == []
    t.resume_reading()
    deadline = asyncio.get_running_loop().time() + scaled(5)
    while len(got) < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert got == ["40", "41", "42"]
    t.abort()
    await asyncio.wait_for(loop_done, scaled(5))


def test_encode_frame_masks_every_length() -> None:
    for n in (0, 1, 16, 17, 125, 126, 65535, 65536):
        payload = os.urandom(n)
        frame = encode_frame(2, payload)
        head = {True: 2, False: 4 if n < 65536 else 10}[n < 126]
        mask, body = frame[head : head + 4], frame[head + 4 :]
        assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload
