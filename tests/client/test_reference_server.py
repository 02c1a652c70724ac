"""The default WebSocket transport and the Connection API against the Python reference server.

Real loopback sockets to ``python -m reference_server`` (aiohttp): large frames,
the server's 1009 close on an oversized message, fault injection with
``send_raw``, ``abort`` followed by reconnection, and a paused reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import scaled, until
from tests.integrations.support import reference_server_factory
from wsbench.client import connect
from wsbench.protocol.reconnect import ReconnectPolicy

FAST_RETRY = ReconnectPolicy(reconnection_delay=0.05, reconnection_delay_max=0.2)


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()



async def test_large_frames_both_ways(server) -> None:
    url = server()
    async with connect(url, reconnection=False, timeout=scaled(5)) as c:
        sock = c.socket()
        for size in (126, 65_536, 500_000):
            text = "x" * size
            assert await sock.call("echo", text, timeout=scaled(5)) == text
        assert c.connection.violation_count == 0


async def test_server_closes_an_oversized_message_with_1009(server) -> None:
    url = server("--max-payload", "2000")
    async with connect(url, reconnection=False, timeout=scaled(5)) as c:
        reasons: list[str] = []
        c.socket().on("disconnect", reasons.append)
        c.connection.send_raw('42["echo","' + "x" * 10_000 + '"]')
        await until(lambda: bool(reasons))
        assert reasons == ["transport close"]
        assert "1009" in c.connection.close_detail


async def test_send_raw_garbage_makes_a_strict_server_close(server) -> None:
    url = server()
    async with connect(url, reconnection=False, timeout=scaled(5)) as c:
        reasons: list[str] = []
        c.socket().on("disconnect", reasons.append)
        c.connection.send_raw("4~not a socket.io packet")
        await until(lambda: bool(reasons))
        assert reasons and reasons[0] in ("transport close", "io server disconnect")


async def test_abort_is_a_network_failure_that_reconnects(server) -> None:
    url = server()
    async with connect(url, reconnection=FAST_RETRY, timeout=scaled(5)) as c:
        sock = c.socket()
        reasons: list[str] = []
        sock.on("disconnect", reasons.append)
        first = sock.sid
        c.connection.abort()
        await until(lambda: bool(reasons))
        await sock.wait_connected(timeout=scaled(5))
        assert reasons == ["transport close"]
        assert sock.sid != first and c.connection.reconnects == 1


async def test_paused_reader_receives_nothing_until_resumed(server) -> None:
    url = server()
    async with connect(url, timeout=scaled(5)) as a, connect(url, timeout=scaled(5)) as b:
        seen: list[object] = []
        a.socket().on("event", seen.append)
        a.connection.pause_reading()
        for i in range(3):
            await b.socket().call("broadcast all", {"data": i}, timeout=scaled(3))
        await asyncio.sleep(scaled(0.2))
        assert seen == []
        a.connection.resume_reading()
        await until(lambda: len(seen) == 3)
        assert seen == [0, 1, 2]
