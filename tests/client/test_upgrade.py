"""The polling -> WebSocket upgrade: the probe (wsbench.client.upgrade) and the connection's switch.

Real loopback sockets: the Python reference server for the whole upgrade, and a small
aiohttp server that answers the probe wrongly (or records what the probe sent) for the
probe's failure paths, fed to a real sans-I/O session.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp import WSMsgType, web

from tests.conftest import scaled, until
from tests.integrations.support import reference_server_factory
from wsbench.client import connect
from wsbench.client.upgrade import probe
from wsbench.client.wsprotocol import ProtocolTransport
from wsbench.protocol.client import ClientSession
from wsbench.protocol.events import DisconnectReason, ProtocolViolation


@pytest.fixture(scope="module")
def server() -> Iterator[Callable[..., str]]:
    yield from reference_server_factory()



async def test_polling_upgrade_switches_to_websocket(server) -> None:
    url = server()
    async with connect(url, transports="polling+upgrade", timeout=scaled(5)) as c:
        sock = c.socket()
        assert await sock.call("echo", "on polling", timeout=scaled(5)) == "on polling"
        await until(lambda: c.transport == "websocket")
        assert c.transport == "websocket"
        assert await sock.call("echo", "on websocket", timeout=scaled(5)) == "on websocket"
        assert c.connection.violation_count == 0 and c.connection.reconnects == 0


def _handshake(sid: str) -> str:
    info = {"sid": sid, "upgrades": ["websocket"], "pingInterval": 25000,
            "pingTimeout": 20000, "maxPayload": 1_000_000}  # fmt: skip
    return "0" + json.dumps(info)


class ProbeServer:
    """Answers each WebSocket's first frame with ``answer`` and records what it received."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.received: list[str] = []
        self.closed = asyncio.Event()
        self.url = ""
        self.sockets: list[web.WebSocketResponse] = []

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                self.received.append(msg.data)
                await ws.send_str(self.answer)
        self.closed.set()
        return ws


@pytest.fixture
async def probe_server(request) -> AsyncIterator[ProbeServer]:
    app_server = ProbeServer(request.param)
    app = web.Application()
    app.router.add_get("/socket.io/", app_server.websocket)
    runner = web.AppRunner(app, shutdown_timeout=scaled(1))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    app_server.url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid=s1"
    try:
        yield app_server
    finally:
        for ws in app_server.sockets:
            await ws.close()
        await runner.cleanup()


def _polling_session(sid: str) -> ClientSession:
    session = ClientSession("polling")
    session.receive_payload(_handshake(sid), time.monotonic())
    session.events_received()
    return session


@pytest.mark.parametrize("probe_server", ["3nope"], indirect=True)
async def test_a_wrong_probe_answer_is_a_violation_and_stays_on_polling(probe_server) -> None:
    session = _polling_session("s1")

    async def open_ws() -> ProtocolTransport:
        return await ProtocolTransport.open(probe_server.url, timeout=scaled(5))

    ws = await probe(session, open_ws, scaled(5), time.monotonic)
    assert ws is None
    assert probe_server.received == ["2probe"]
    assert session.transport == "polling" and session.sid == "s1"
    violations = [e for e in session.events_received() if isinstance(e, ProtocolViolation)]
    assert len(violations) == 1 and "3probe" in violations[0].detail and not violations[0].fatal
    async with asyncio.timeout(scaled(5)):
        await probe_server.closed.wait()  # the probing WebSocket was closed
    session.start_upgrade()  # and the session may try again: the failed upgrade was aborted


@pytest.mark.parametrize("probe_server", ["3probe"], indirect=True)
async def test_probe_sends_nothing_when_the_session_moved_on(probe_server) -> None:
    session = _polling_session("s1")

    async def open_ws_while_it_reconnects() -> ProtocolTransport:
        ws = await ProtocolTransport.open(probe_server.url, timeout=scaled(5))
        # meanwhile the polling transport failed and the connection reconnected
        session.receive_closed(time.monotonic(), DisconnectReason.TRANSPORT_CLOSE, "")
        session.reopen("polling")
        session.receive_payload(_handshake("s2"), time.monotonic())
        return ws

    ws = await probe(session, open_ws_while_it_reconnects, scaled(5), time.monotonic)
    assert ws is None
    async with asyncio.timeout(scaled(5)):
        await probe_server.closed.wait()
    assert probe_server.received == []  # no 2probe on s1's WebSocket for the s2 session
    assert session.sid == "s2" and session.transport == "polling"


@pytest.mark.parametrize("probe_server", ["3probe"], indirect=True)
async def test_an_answered_probe_hands_the_open_websocket_back(probe_server) -> None:
    session = _polling_session("s1")

    async def open_ws() -> ProtocolTransport:
        return await ProtocolTransport.open(probe_server.url, timeout=scaled(5))

    ws = await probe(session, open_ws, scaled(5), time.monotonic)
    assert ws is not None and probe_server.received == ["2probe"]
    assert session.finish_upgrade() == "5" and session.transport == "websocket"
    await ws.close()
