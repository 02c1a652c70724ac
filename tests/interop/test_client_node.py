"""wsbench's asyncio client against the official Node socket.io 4.8 server (the twin).

Real loopback sockets. The twin runs with the official suites' heartbeat
(pingInterval 300 ms, pingTimeout 200 ms) so every test also proves that the
client answers pings on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.conftest import scaled, until
from wsbench.client import connect
from wsbench.exceptions import AckTimeout, ConnectRefused
from wsbench.launch import Server, node_twin, node_twin_available
from wsbench.protocol.reconnect import ReconnectPolicy

pytestmark = pytest.mark.node

HEARTBEAT = ["--ping-interval", "300", "--ping-timeout", "200"]
TRANSPORTS = ["websocket", "polling", "polling+upgrade"]
FAST_RETRY = ReconnectPolicy(reconnection_delay=0.05, reconnection_delay_max=0.2)


@pytest.fixture(scope="module")
def twin_factory() -> Iterator[Callable[..., Server]]:
    if not node_twin_available():
        pytest.skip("needs node and npm ci in reference_server/node")
    started: list[Server] = []

    def make(*args: str) -> Server:
        twin = Server(node_twin(*HEARTBEAT, *args))
        started.append(twin)
        twin.start()
        return twin

    yield make
    for twin in started:
        twin.close()


@pytest.fixture(scope="module")
def twin(twin_factory: Callable[..., Server]) -> Server:
    return twin_factory()


@contextlib.asynccontextmanager
async def client(url: str, **kwargs: object) -> AsyncIterator:
    kwargs.setdefault("timeout", scaled(5))
    async with connect(url, **kwargs) as c:  # type: ignore[arg-type]
        yield c


JSON_VALUES = [
    0,
    -1.5,
    2**53 - 1,
    "",
    "é✓ \u2028",
    True,
    False,
    None,
    [],
    {},
    {"a": [1, {"b": None}]},
]


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_connect_echo_every_json_type(twin: Server, transports: str) -> None:
    async with client(twin.url, transports=transports, reconnection=False) as c:
        sock = c.socket()
        assert sock.connected and sock.sid
        for value in JSON_VALUES:
            assert await sock.call("echo", value, timeout=scaled(3)) == value
        got = await sock.call("message-with-ack", 1, "two", timeout=scaled(3))
        assert got == 1
        await asyncio.sleep(scaled(0.7))  # a few heartbeats go by
        assert c.connected
        assert await sock.call("echo", "still here", timeout=scaled(3)) == "still here"
        expected = "polling" if transports == "polling" else "websocket"
        assert c.transport == expected
        assert c.connection.violation_count == 0


@pytest.mark.parametrize("transports", TRANSPORTS)
async def test_binary_both_ways(twin: Server, transports: str) -> None:
    async with client(twin.url, transports=transports) as c:
        sock = c.socket()
        blob = bytes(range(256)) * 4
        assert await sock.call("echo", blob, timeout=scaled(3)) == blob
        back = asyncio.ensure_future(sock.wait_for("message-back", timeout=scaled(3)))
        sock.emit("message", {"nested": [b"\x00", b"\xff\xfe"]}, "text")
        assert await back == [{"nested": [b"\x00", b"\xff\xfe"]}, "text"]


async def test_namespaces_and_server_pushed_events(twin: Server) -> None:
    async with client(twin.url, namespaces=["/", "/chat", "/custom"], auth={"k": "v"}) as a:
        async with client(twin.url, namespaces=["/chat"]) as b:
            custom_auth = asyncio.ensure_future(a.socket("/custom").wait_for("auth", scaled(3)))
            a.connection.socket("/custom")  # already connected: same socket
            joined: list[dict] = []
            b.socket("/chat").on("user joined", joined.append)
            users = await a.socket("/chat").call("join", "alice", timeout=scaled(3))
            assert users["ok"] is True
            assert await until(lambda: bool(joined), 3)
            assert joined[0]["username"] == "alice"
            # /custom emitted `auth` on connection; it may have arrived before we listened
            with contextlib.suppress(TimeoutError):
                assert await custom_auth == [{"k": "v"}]
            with pytest.raises(ConnectRefused, match="Invalid namespace"):
                async with client(twin.url, namespaces=["/nope"], reconnection=False):
                    pass


async def test_broadcast_reaches_listeners_and_on_any(twin: Server) -> None:
    async with client(twin.url) as sender, client(twin.url) as receiver:
        seen: list[object] = []
        anything: list[object] = []
        receiver.socket().on("event", seen.append)
        receiver.socket().on_any(lambda event, *args: anything.append(event))
        await sender.socket().call("broadcast all", {"data": {"n": 1}}, timeout=scaled(3))
        await receiver.socket().wait_for("event", timeout=scaled(3)) if not seen else None
        assert seen == [{"n": 1}] and "event" in anything


@pytest.mark.parametrize("transports", ["websocket", "polling"])
async def test_acks_both_ways(twin: Server, transports: str) -> None:
    async with client(twin.url, transports=transports) as c:
        sock = c.socket()
        sock.on("ack request", lambda data: ("answer", data))
        reply = await sock.call("request ack", {"data": [1, 2]}, timeout=scaled(3))
        assert reply == {"ok": True, "response": "answer"}
        sock.off("ack request")

        async def slow(data: object) -> object:
            await asyncio.sleep(0.01)
            return {"async": data}

        sock.on("ack request", slow)
        reply = await sock.call("request ack", {"data": 3}, timeout=scaled(3))
        assert reply == {"ok": True, "response": {"async": 3}}
        results: list[object] = []
        done = asyncio.Event()

        def on_ack(args: list | None) -> None:
            results.append(args)
            done.set()

        sock.emit_with_ack_callback("echo", 7, callback=on_ack, timeout=scaled(3))
        await asyncio.wait_for(done.wait(), scaled(3))
        assert results == [[7]]
        with pytest.raises(AckTimeout):
            await sock.call("no such event", timeout=0.2)


async def test_connect_error_from_jwt_middleware(twin_factory: Callable[..., Server]) -> None:
    jwt = pytest.importorskip("jwt")
    secure = twin_factory("--jwt-secret", "wsbench-interop-secret-of-32-bytes!")
    with pytest.raises(ConnectRefused) as info:
        async with client(secure.url, reconnection=False):
            pass
    assert info.value.message == "Authentication error"
    with pytest.raises(ConnectRefused, match="Invalid token"):
        async with client(secure.url, auth={"token": "garbage"}):
            pass
    token = jwt.encode({"userId": 7}, "wsbench-interop-secret-of-32-bytes!", algorithm="HS256")
    async with client(secure.url, auth={"token": token}) as c:
        assert c.connected
    with pytest.raises(ConnectRefused, match="Not authorized"):
        async with client(secure.url, auth={"token": token}, namespaces=["/", "/admin"]):
            pass


async def test_server_disconnect_does_not_reconnect(twin_factory: Callable[..., Server]) -> None:
    strict = twin_factory("--app-heartbeat-interval", "150")
    async with client(strict.url, reconnection=FAST_RETRY) as c:
        sock = c.socket()
        reasons: list[str] = []
        sock.on("disconnect", reasons.append)
        # we never answer the app-level `ping` event, so the server disconnects the socket
        deadline = time.monotonic() + scaled(5)
        while not reasons and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert reasons == ["io server disconnect"]
        await asyncio.sleep(scaled(0.5))
        assert not sock.connected and c.connection.reconnects == 0


@pytest.mark.parametrize("transports", ["websocket", "polling"])
async def test_reconnects_after_server_restart(
    twin_factory: Callable[..., Server], transports: str
) -> None:
    restartable = twin_factory()
    rng = random.Random(7)
    async with client(
        restartable.url, transports=transports, reconnection=FAST_RETRY, rng=rng
    ) as c:
        sock = c.socket()
        first_sid = sock.sid
        restartable.stop()
        assert await until(lambda: not sock.connected, 3)
        restartable.start()
        await sock.wait_connected(timeout=scaled(10))
        assert sock.sid != first_sid and not sock.recovered
        assert c.connection.reconnects >= 1
        assert await sock.call("echo", "back", timeout=scaled(3)) == "back"


async def test_connection_state_recovery(twin_factory: Callable[..., Server]) -> None:
    recovering = twin_factory("--recovery")
    async with client(recovering.url, reconnection=FAST_RETRY) as a, client(recovering.url) as b:
        sock = a.socket()
        seen: list[object] = []
        sock.on("event", seen.append)
        await b.socket().call("broadcast all", {"data": "first"}, timeout=scaled(3))
        assert await until(lambda: seen == ["first"], 3), seen
        sid = sock.sid
        assert a.connection.session.namespace("/").offset is not None
        a.connection.abort()  # the network drops: "transport close"
        assert await until(lambda: not sock.connected, 3)
        await b.socket().call("broadcast all", {"data": "missed"}, timeout=scaled(3))
        await sock.wait_connected(timeout=scaled(5))
        assert sock.recovered and sock.sid == sid
        # the missed packet is replayed before the CONNECT answer completes
        assert await until(lambda: seen == ["first", "missed"], 3), seen


@pytest.mark.parametrize("impl", ["asyncio", "aiohttp"])
async def test_large_frames_both_ways_on_each_websocket_impl(twin: Server, impl: str) -> None:
    async with client(twin.url, websocket_impl=impl, reconnection=False) as c:
        sock = c.socket()
        for size in (125, 126, 65_535, 65_536, 300_000):  # 7-, 16- and 64-bit lengths
            text = "é" * (size // 2)
            assert await sock.call("echo", text, timeout=scaled(5)) == text
        blob = bytes(range(256)) * 1024
        assert await sock.call("echo", blob, timeout=scaled(5)) == blob
        assert c.connection.violation_count == 0


async def test_oversized_message_is_closed_by_the_server_with_1009(
    twin_factory: Callable[..., Server],
) -> None:
    small = twin_factory("--max-payload", "1000")
    async with client(small.url, reconnection=False) as c:
        sock = c.socket()
        reasons: list[str] = []
        sock.on("disconnect", reasons.append)
        c.connection.send_raw("42" + '["echo","' + "x" * 5000 + '"]')
        deadline = time.monotonic() + scaled(5)
        while not reasons and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert reasons == ["transport close"]
        assert "1009" in c.connection.close_detail


async def test_abort_reconnects_and_pause_reading_holds_deliveries(twin: Server) -> None:
    async with client(twin.url, reconnection=FAST_RETRY) as a, client(twin.url) as b:
        sock = a.socket()
        seen: list[object] = []
        sock.on("event", seen.append)
        b_seen: list[object] = []
        b.socket().on("event", b_seen.append)
        a.connection.pause_reading()
        await b.socket().call("broadcast all", {"data": 1}, timeout=scaled(3))
        # the broadcast reached the reader that reads: a's copy is on its way or in its socket
        assert await until(lambda: b_seen == [1], 3)
        assert seen == [] and a.connection.reading_paused
        a.connection.resume_reading()
        assert await until(lambda: seen == [1], 3), seen
        first = sock.sid
        a.connection.abort()
        assert await until(lambda: a.connection.reconnects == 1, 5)
        await sock.wait_connected(timeout=scaled(5))
        assert sock.sid != first and a.connection.reconnects == 1
        assert seen == [1]
        assert await sock.call("echo", "back", timeout=scaled(3)) == "back"
