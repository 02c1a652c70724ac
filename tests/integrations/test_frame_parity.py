"""`wsbench run` and `wsbench locust` judge a server's WebSocket frames by the same rules.

A tiny raw TCP server completes a valid RFC 6455 opening handshake, sends an
Engine.IO OPEN, then writes one hostile byte stream. The asyncio transport
(:class:`wsbench.client.connection.Connection`) and the Locust transport
(:class:`wsbench.integrations.wire.Connection`, on plain threads here) each meet it
over a real loopback socket; both must record the same ``ProtocolViolation``, close
with ``transport error``, and send the server a CLOSE with the RFC's code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import scaled
from tests.protocol.test_websocket import HOSTILE
from wsbench.client.connection import Connection as AsyncConnection
from wsbench.integrations.wire import Connection as LocustConnection
from wsbench.protocol.events import Closed, DisconnectReason, ProtocolViolation, SessionEvent
from wsbench.protocol.websocket import close_payload, frame_encoder

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OPEN = (
    b'0{"sid":"parity","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)
server_frame = frame_encoder(None)


def client_close_code(data: bytes) -> int | None:
    """The code of the first CLOSE among the (masked) client frames in ``data``."""
    pos = 0
    while len(data) - pos >= 2:
        b0, n = data[pos], data[pos + 1] & 0x7F
        head = 2 if n < 126 else 4 if n == 126 else 10
        if n >= 126:
            n = int.from_bytes(data[pos + 2 : pos + head], "big")
        key = data[pos + head : pos + head + 4]
        body = bytes(
            b ^ key[i % 4] for i, b in enumerate(data[pos + head + 4 : pos + head + 4 + n])
        )
        if b0 & 0x0F == 8:
            return int.from_bytes(body[:2], "big") if len(body) >= 2 else 1005
        pos += head + 4 + n
    return None


class HostileServer:
    """Accepts connections; each gets a 101, an Engine.IO OPEN and then ``stream``."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closes: list[int | None] = []
        self.done = threading.Semaphore(0)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(scaled(5))
        received = b""
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            conn.sendall(server_frame(1, OPEN) + self.stream)
            while client_close_code(received) is None:  # until the client's CLOSE or EOF
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        finally:
            self.closes.append(client_close_code(received))
            conn.close()
            self.done.release()

    def wait_handled(self) -> None:
        assert self.done.acquire(timeout=scaled(10)), "the client never finished its close"

    def stop(self) -> None:
        self.listener.close()


class Threads:
    """The Locust transport's runtime on plain threads (gevent is Locust's business)."""

    def spawn(self, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        return thread

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def event(self) -> threading.Event:
        return threading.Event()

    def lock(self) -> Any:
        return threading.Lock()


Outcome = tuple[list[ProtocolViolation], DisconnectReason | None, str]


async def through_asyncio(url: str) -> Outcome:
    conn = AsyncConnection(url, None, transports="websocket", timeout=scaled(5))
    await conn.start()
    deadline = time.monotonic() + scaled(5)
    while conn.close_reason is None and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    conn.abort()
    return list(conn.violations), conn.close_reason, conn.close_detail


def through_locust(url: str) -> Outcome:
    events: list[SessionEvent] = []
    closed = threading.Event()

    def on_event(event: SessionEvent, recv_ns: int) -> None:
        events.append(event)
        if type(event) is Closed:
            closed.set()

    conn = LocustConnection(url, runtime=Threads(), on_event=on_event, timeout=scaled(5))
    conn.open()
    assert closed.wait(scaled(5)), "the Locust transport never closed"
    conn.abort()
    ends = [e for e in events if type(e) is Closed]
    violations = [e for e in events if type(e) is ProtocolViolation]
    return violations, ends[0].reason, ends[0].detail


@pytest.fixture
def hostile() -> Iterator[Callable[[bytes], HostileServer]]:
    servers: list[HostileServer] = []

    def start(stream: bytes) -> HostileServer:
        servers.append(HostileServer(stream))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize(("name", "stream", "code"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_both_runtimes_record_the_same_violation_and_close_code(
    hostile: Callable[[bytes], HostileServer], name: str, stream: bytes, code: int
) -> None:
    server = hostile(stream)
    run = asyncio.run(through_asyncio(server.url))
    server.wait_handled()
    locust = through_locust(server.url)
    server.wait_handled()
    assert run == locust
    violations, reason, detail = run
    assert reason is DisconnectReason.TRANSPORT_ERROR
    assert len(violations) == 1 and violations[0].fatal
    assert violations[0].detail == detail and detail.endswith(f"(closed with {code})")
    assert violations[0].spec_ref.startswith("RFC 6455 §")
    assert server.closes == [code, code], "each runtime fails the connection with the RFC code"


@pytest.mark.parametrize(
    ("stream", "detail", "echo"),
    [
        (server_frame(8, close_payload(1001, "bye")), "websocket closed (1001): bye", 1001),
        (server_frame(8, b""), "websocket closed (1005)", 1005),
    ],
)
def test_a_valid_server_close_is_echoed_and_reported_alike(
    hostile: Callable[[bytes], HostileServer], stream: bytes, detail: str, echo: int
) -> None:
    server = hostile(stream)
    run = asyncio.run(through_asyncio(server.url))
    server.wait_handled()
    locust = through_locust(server.url)
    server.wait_handled()
    assert run == locust == ([], DisconnectReason.TRANSPORT_CLOSE, detail)
    assert server.closes == [echo, echo]
