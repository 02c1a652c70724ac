"""Both session roles with the msgpack parser, in memory: a client and a server session
shuttle Engine.IO messages (WebSocket frames, or polling records), no sockets, no clock."""

from __future__ import annotations

import pytest

from wsbench.protocol.client import ClientSession, polling_payloads
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    DisconnectReason,
    EventReceived,
    ProtocolViolation,
)
from wsbench.protocol.parser import DEFAULT, MSGPACK, Parser
from wsbench.protocol.server import ServerSession
from wsbench.protocol.socketio import SioPacket

OPTS = {"ping_interval": 300, "ping_timeout": 200, "max_payload": 100_000}


class Pair:
    def __init__(self, transport: str, client: Parser, server: Parser) -> None:
        self.transport = transport
        self.client = ClientSession(transport, parser=client)
        self.server = ServerSession("s1", transport, 0.0, parser=server, **OPTS)
        self.client_events: list = []
        self.server_events: list = []
        self.sent: list[str | bytes] = []  # what the client wrote, as written

    def to_client(self) -> None:
        packets = self.server.messages_to_send()
        if self.transport == "polling":
            body = "\x1e".join(p.encode_polling() for p in packets)
            if body:
                self.client.receive_payload(body, 0.0)
        else:
            for packet in packets:
                self.client.receive_message(packet.encode(), 0.0)
        self.client_events += self.client.events_received()

    def to_server(self) -> None:
        out = self.client.messages_to_send()
        self.sent += out
        if self.transport == "polling":
            for body in polling_payloads(out, 100_000):  # type: ignore[arg-type]
                self.server.receive_payload(body, 0.0)
        else:
            for message in out:
                self.server.receive_message(message, 0.0)
        self.server_events += self.server.events_received()

    def exchange(self) -> None:
        for _ in range(3):
            self.to_client()
            self.to_server()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_msgpack_both_roles(transport: str) -> None:
    pair = Pair(transport, MSGPACK, MSGPACK)
    pair.client.connect("/", {"token": "t"})
    pair.exchange()
    assert Connected("/", auth={"token": "t"}) in pair.server_events
    pair.server.accept("/", "sock1")
    pair.exchange()
    assert any(isinstance(e, Connected) and e.sid == "sock1" for e in pair.client_events)
    # every client message is binary on the wire (base64 'b' records on polling)
    pair.client.emit("/", "upload", b"\x00\x01", {"n": 1}, ack=True)
    pair.sent.clear()
    pair.exchange()
    # every client packet is one binary message (a base64 'b' record on polling)
    assert len(pair.sent) == 1
    [message] = pair.sent
    assert message.startswith("b") if transport == "polling" else isinstance(message, bytes)
    event = next(e for e in pair.server_events if isinstance(e, EventReceived))
    assert (event.event, event.args, event.ack_id) == ("upload", [b"\x00\x01", {"n": 1}], 0)
    pair.server.ack("/", 0, ["ok", b"\xff"])
    pair.server.emit("/", "news", "hello", b"\x02")
    pair.exchange()
    assert AckReceived("/", 0, ["ok", b"\xff"]) in pair.client_events
    news = next(e for e in pair.client_events if isinstance(e, EventReceived))
    assert (news.event, news.args) == ("news", ["hello", b"\x02"])
    assert not [e for e in pair.client_events + pair.server_events
                if isinstance(e, ProtocolViolation)]


def test_msgpack_client_skips_the_json_hot_paths() -> None:
    session = ClientSession(parser=MSGPACK)
    assert session.receive_event('42["x"]') is None
    assert session.receive_ack("430[]") is None
    assert ClientSession().parser is DEFAULT


@pytest.mark.parametrize(
    ("client", "server", "named"), [(DEFAULT, MSGPACK, "msgpack"), (MSGPACK, DEFAULT, "default")]
)
def test_client_names_a_server_speaking_the_other_parser(
    client: Parser, server: Parser, named: str
) -> None:
    """A packet of the other parser is one violation naming it, not a malformed frame."""
    pair = Pair("websocket", client, client)
    pair.client.connect("/")
    pair.exchange()
    pair.server.accept("/", "sock1")
    # the server's CONNECT answer written by the other parser
    for message in server.encode(SioPacket.connect("/", {"sid": "x"})):
        pair.client.receive_message("4" + message if isinstance(message, str) else message, 0.0)
    events = pair.client.events_received()
    violations = [e for e in events if isinstance(e, ProtocolViolation)]
    assert [v.detail for v in violations] == [
        f"the server speaks the {named} parser; run with --parser {named}"
    ]
    assert any(isinstance(e, Closed) and e.reason is DisconnectReason.PARSE_ERROR for e in events)


@pytest.mark.parametrize(("client", "server"), [(DEFAULT, MSGPACK), (MSGPACK, DEFAULT)])
def test_server_names_a_client_speaking_the_other_parser(client: Parser, server: Parser) -> None:
    pair = Pair("websocket", client, server)
    pair.client.connect("/")
    pair.exchange()
    violations = [e for e in pair.server_events if isinstance(e, ProtocolViolation)]
    assert [v.detail for v in violations] == [
        f"the client speaks the {client.name} parser, this server the {server.name} one"
    ]
    assert pair.server.closed
