"""The conformance probe reads frames with the shared RFC 6455 codec (as run and locust do).

A scripted loopback server completes the opening handshake and then writes raw
frames: the probe's :class:`~wsbench.client.raw.RawWebSocket` must judge a broken
frame exactly as the other runtimes do (CLOSE with the RFC's code, the reason in
the transcript), and still carry well-formed traffic both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.client.test_wsprotocol import accept, read_client_frame
from tests.conftest import scaled
from tests.protocol.test_websocket import HOSTILE
from wsbench.client.raw import CLOSED, MAX_FRAME, RawProbe
from wsbench.protocol.websocket import close_payload, frame_encoder

server_frame = frame_encoder(None)
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[tuple[str, asyncio.Event]]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> tuple[str, asyncio.Event]:
        done = asyncio.Event()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await accept(reader, writer)
                await script(reader, writer)
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()
                done.set()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", done

    yield start
    for server in servers:
        server.close()


# the probe's size bound is MAX_FRAME (64 MiB), not the client's 1 MB: its own case below
BROKEN = [h for h in HOSTILE if h[2] != 1009] + [
    ("frame over the probe's bound", b"\x82\x7f" + (MAX_FRAME + 1).to_bytes(8, "big"), 1009)
]


@pytest.mark.parametrize(("name", "stream", "code"), BROKEN, ids=[h[0] for h in BROKEN])
async def test_probe_fails_a_broken_frame_with_the_rfc_code(serve, name, stream, code) -> None:
    closes: list[tuple[int, bytes]] = []

    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b"40") + stream)
        closes.append(await read_client_frame(reader))

    url, done = await serve(script)
    async with RawProbe(url) as probe:
        ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket")
        assert await ws.recv(scaled(5)) == "40"  # what came before the violation is kept
        assert await ws.wait_closed(scaled(5)) is not None
        assert ws.close_code == code
        lines = probe.transcript.lines()
        await asyncio.wait_for(done.wait(), scaled(5))
    assert any("server broke RFC 6455" in ln and f"(closed with {code})" in ln for ln in lines)
    assert closes and closes[0][0] == 8 and int.from_bytes(closes[0][1][:2], "big") == code


async def test_probe_carries_frames_both_ways_answers_pings_and_sees_the_close(serve) -> None:
    seen: list[tuple[int, bytes]] = []

    async def script(reader, writer) -> None:
        writer.write(server_frame(1, b"2") + server_frame(9, b"ws-ping"))
        seen.append(await read_client_frame(reader))  # Engine.IO pong "3" (or the WS pong)
        seen.append(await read_client_frame(reader))
        seen.append(await read_client_frame(reader))  # the probe's own message
        writer.write(server_frame(2, bytes(70_000)) + server_frame(8, close_payload(1001, "bye")))
        seen.append(await read_client_frame(reader))  # the echoed CLOSE

    url, done = await serve(script)
    async with RawProbe(url) as probe:
        ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket")
        assert await ws.send("4hello")
        assert await ws.recv(scaled(5)) == bytes(70_000)
        assert await ws.recv(scaled(5)) is CLOSED
        assert ws.close_code == 1001 and ws.pings == 1
        lines = probe.transcript.lines()
        await asyncio.wait_for(done.wait(), scaled(5))
    assert sorted(seen[:3]) == sorted([(1, b"3"), (0xA, b"ws-ping"), (1, b"4hello")])
    assert seen[3] == (8, (1001).to_bytes(2, "big"))
    assert any("closed by server, code 1001 bye" in ln for ln in lines)
