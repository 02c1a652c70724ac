"""ClientSession driven in memory with scripted server frames, on both transports."""

from __future__ import annotations

import base64
import random

import pytest

from wsbench.exceptions import InvalidState, LocalProtocolError
from wsbench.protocol.client import ClientSession, EioState, NamespaceState, polling_payloads
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    DisconnectReason,
    EventReceived,
    Opened,
    ProtocolViolation,
    Upgraded,
)
from wsbench.protocol.reconnect import ReconnectPolicy

OPEN = '0{"sid":"eio1","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}'


@pytest.fixture(params=["websocket", "polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


def binary(transport: str, data: bytes) -> str | bytes:
    """A binary Engine.IO message as the server sends it on ``transport``."""
    return data if transport == "websocket" else "b" + base64.b64encode(data).decode()


def opened(transport: str, *namespaces: str) -> ClientSession:
    s = ClientSession(transport)
    for ns in namespaces:
        s.connect(ns)
    s.receive_message(OPEN, 0.0)
    s.events_received()
    s.messages_to_send()
    return s


def connected(transport: str, ns: str = "/", sid: str = "s1") -> ClientSession:
    s = opened(transport, ns)
    prefix = "" if ns == "/" else ns + ","
    s.receive_message(f'40{prefix}{{"sid":"{sid}"}}', 0.0)
    s.events_received()
    s.messages_to_send()
    return s


def violations(events: list) -> list[ProtocolViolation]:
    return [e for e in events if isinstance(e, ProtocolViolation)]


# -- handshake and heartbeat ------------------------------------------------------------------


def test_handshake_sends_connect_for_pending_namespaces(transport: str) -> None:
    s = ClientSession(transport)
    s.connect("/")
    s.connect("/admin", {"token": "t"})
    assert s.messages_to_send() == []
    s.receive_message(OPEN, 1.0)
    events = s.events_received()
    assert isinstance(events[0], Opened) and events[0].info.sid == "eio1"
    assert s.state is EioState.OPEN and s.sid == "eio1"
    assert s.messages_to_send() == ["40", '40/admin,{"token":"t"}']


def test_handshake_over_polling_payload() -> None:
    s = ClientSession("polling")
    s.connect("/")
    s.receive_payload(OPEN.encode(), 0.0)
    assert isinstance(s.events_received()[0], Opened)
    assert s.messages_to_send() == ["40"]


def test_connect_after_open_sends_at_once(transport: str) -> None:
    s = opened(transport)
    s.connect("/custom", {})
    assert s.messages_to_send() == ["40/custom,{}"]


def test_first_packet_not_open_fails(transport: str) -> None:
    s = ClientSession(transport)
    s.receive_message("40", 0.0)
    events = s.events_received()
    assert violations(events)[0].fatal
    assert events[-1] == Closed(DisconnectReason.TRANSPORT_ERROR, events[-1].detail)
    assert s.state is EioState.CLOSED


def test_bad_handshake_json_fails(transport: str) -> None:
    s = ClientSession(transport)
    s.receive_message('0{"sid":5}', 0.0)
    assert isinstance(s.events_received()[-1], Closed)


def test_ping_is_answered_with_pong_and_extends_deadline(transport: str) -> None:
    s = opened(transport)
    assert s.next_deadline() == pytest.approx(0.5)
    s.receive_message("2", 0.4)
    assert s.messages_to_send() == ["3"]
    assert s.next_deadline() == pytest.approx(0.9)
    s.handle_deadline(0.6)
    assert s.state is EioState.OPEN


def test_missing_ping_closes_with_ping_timeout(transport: str) -> None:
    s = connected(transport)
    s.handle_deadline(0.49)
    assert s.state is EioState.OPEN
    s.handle_deadline(0.5)
    events = s.events_received()
    assert events == [
        Disconnected("/", DisconnectReason.PING_TIMEOUT),
        Closed(DisconnectReason.PING_TIMEOUT, events[-1].detail),
    ]
    assert s.next_deadline() is None


def test_server_pong_is_a_non_fatal_violation(transport: str) -> None:
    s = opened(transport)
    s.receive_message("3", 0.0)
    (v,) = violations(s.events_received())
    assert not v.fatal and s.state is EioState.OPEN


def test_noop_upgrade_and_second_open(transport: str) -> None:
    s = opened(transport)
    s.receive_message("6", 0.0)
    s.receive_message("5", 0.0)
    s.receive_message(OPEN, 0.0)
    vs = violations(s.events_received())
    assert len(vs) == 2 and not any(v.fatal for v in vs)


def test_engineio_close_closes_with_transport_close(transport: str) -> None:
    s = connected(transport)
    s.receive_message("1", 0.0)
    events = s.events_received()
    assert events[0] == Disconnected("/", DisconnectReason.TRANSPORT_CLOSE)
    assert isinstance(events[1], Closed) and events[1].reason is DisconnectReason.TRANSPORT_CLOSE


@pytest.mark.parametrize("frame", ["9", "", "x"])
def test_undecodable_engineio_packet_is_transport_error(transport: str, frame: str) -> None:
    s = connected(transport)
    s.receive_message(frame, 0.0)
    events = s.events_received()
    assert violations(events)[0].fatal
    assert events[-1].reason is DisconnectReason.TRANSPORT_ERROR


def test_transport_closed(transport: str) -> None:
    s = connected(transport)
    s.receive_closed(1.0)
    assert isinstance(s.events_received()[-1], Closed)
    s.receive_closed(2.0)  # idempotent
    s.receive_message('42["x"]', 2.0)  # ignored once closed
    assert s.events_received() == []


# -- namespaces -------------------------------------------------------------------------------


def test_connect_answer(transport: str) -> None:
    s = opened(transport, "/admin")
    s.messages_to_send()
    s.receive_message('40/admin,{"sid":"abc"}', 0.0)
    assert s.events_received() == [Connected("/admin", "abc", None, False)]
    assert s.namespace("/admin").state is NamespaceState.CONNECTED


def test_connect_error_object_and_legacy_string(transport: str) -> None:
    s = opened(transport, "/", "/x")
    s.receive_message('44{"message":"Authentication error","data":{"code":1}}', 0.0)
    s.receive_message('44/x,"Invalid namespace"', 0.0)
    assert s.events_received() == [
        ConnectRefused("/", "Authentication error", {"code": 1}),
        ConnectRefused("/x", "Invalid namespace", None),
    ]
    assert s.active_namespaces == []


def test_is_active_agrees_with_active_namespaces(transport: str) -> None:
    """Connection.socket asks is_active (no list per call): the same answer, always."""
    s = opened(transport, "/", "/x")
    names = ("/", "/x", "/never")

    def agree() -> None:
        for name in names:
            assert s.is_active(name) is (name in s.active_namespaces)

    agree()
    assert s.is_active("/x") and not s.is_active("/never")
    s.receive_message('44/x,"Invalid namespace"', 0.0)
    agree()
    assert not s.is_active("/x") and s.is_active("/")
    s.disconnect("/")
    agree()
    assert not s.is_active("/")


def test_connect_answer_without_sid_is_refused(transport: str) -> None:
    s = opened(transport, "/")
    s.receive_message("40{}", 0.0)
    events = s.events_received()
    assert not violations(events)[0].fatal
    assert isinstance(events[-1], ConnectRefused)


def test_unexpected_connect_answers_are_violations(transport: str) -> None:
    s = connected(transport)
    s.receive_message('40{"sid":"again"}', 0.0)
    s.receive_message('40/nope,{"sid":"x"}', 0.0)
    s.receive_message('44/nope,{"message":"x"}', 0.0)
    assert len(violations(s.events_received())) == 3


def test_event_before_connect_answer_is_a_violation(transport: str) -> None:
    s = opened(transport, "/")
    s.receive_message('42["early"]', 0.0)
    (v,) = s.events_received()
    assert isinstance(v, ProtocolViolation) and not v.fatal


def test_event_for_unknown_namespace_is_a_violation(transport: str) -> None:
    s = connected(transport)
    s.receive_message('42/other,["x"]', 0.0)
    assert len(violations(s.events_received())) == 1


def test_server_disconnect(transport: str) -> None:
    s = connected(transport, "/chat")
    s.receive_message("41/chat,", 0.0)
    assert s.events_received() == [Disconnected("/chat", DisconnectReason.IO_SERVER_DISCONNECT)]
    assert s.active_namespaces == []
    assert not DisconnectReason.IO_SERVER_DISCONNECT.reconnects
    s.receive_message("41/chat,", 0.0)
    assert len(violations(s.events_received())) == 1


def test_client_disconnect(transport: str) -> None:
    s = connected(transport, "/chat")
    s.disconnect("/chat")
    assert s.messages_to_send() == ["41/chat,"]
    assert s.events_received() == [Disconnected("/chat", DisconnectReason.IO_CLIENT_DISCONNECT)]
    with pytest.raises(InvalidState):
        s.emit("/chat", "x")
    s.disconnect("/chat")  # no-op


def test_close_sends_disconnects(transport: str) -> None:
    s = connected(transport)
    s.close()
    expected = ["41", "1"] if transport == "polling" else ["41"]
    assert s.messages_to_send() == expected
    events = s.events_received()
    assert events[-1].reason is DisconnectReason.IO_CLIENT_DISCONNECT
    assert s.active_namespaces == []
    s.close()


def test_connect_misuse() -> None:
    s = ClientSession()
    with pytest.raises(LocalProtocolError):
        s.connect("nope")
    with pytest.raises(LocalProtocolError):
        s.connect("/", auth=["x"])  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        s.connect("/", auth={"b": b"x"})
    s.connect("/")
    with pytest.raises(InvalidState):
        s.connect("/")
    with pytest.raises(InvalidState):
        s.namespace("/nope")
    with pytest.raises(LocalProtocolError):
        ClientSession("carrier-pigeon")


# -- events -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "ns", "event", "args", "ack_id"),
    [
        (
            '42["hello",1,"two",{"a":[true,null]},3.5]',
            "/",
            "hello",
            [1, "two", {"a": [True, None]}, 3.5],
            None,
        ),
        ('4212["hello"]', "/", "hello", [], 12),
        ('42/chat,["m","x"]', "/chat", "m", ["x"], None),
        ('42/chat,7["m"]', "/chat", "m", [], 7),
        ("42[1,2]", "/", 1, [2], None),
        ('42["é✓",{"k":"\\u00e9"}]', "/", "é✓", [{"k": "é"}], None),
    ],
)
def test_events_fast_path(
    transport: str, frame: str, ns: str, event: object, args: list, ack_id: int | None
) -> None:
    s = connected(transport, ns)
    s.receive_message(frame, 0.0)
    assert s.events_received() == [EventReceived(ns, event, args, ack_id)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "frame",
    [
        "42",
        "42[]",
        "42{}",
        '42["disconnect"]',
        "42[NaN]",
        '42["a"',
        "42abc",
        "42/chat",
        "42/chat,",
        "421",
        "42[true]",
        '421{"a":1}',
    ],
)
def test_malformed_events_are_parse_errors(transport: str, frame: str) -> None:
    s = connected(transport, "/chat" if "/chat" in frame else "/")
    s.receive_message(frame, 0.0)
    events = s.events_received()
    assert violations(events)[0].fatal, frame
    assert events[-1].reason is DisconnectReason.PARSE_ERROR


@pytest.mark.parametrize(
    "frame", ["4", "47", '41{"a":1}', "43[]", '40"x"', "45[]", '4a-["x"]', '411-["x"]']
)
def test_malformed_socketio_packets_are_parse_errors(transport: str, frame: str) -> None:
    s = connected(transport)
    s.receive_message(frame, 0.0)
    assert s.events_received()[-1].reason is DisconnectReason.PARSE_ERROR


def test_binary_event(transport: str) -> None:
    s = connected(transport)
    s.receive_message('451-["bin",{"_placeholder":true,"num":0},"x"]', 0.0)
    assert s.events_received() == []
    s.receive_message(binary(transport, b"\x00\x01"), 0.0)
    assert s.events_received() == [EventReceived("/", "bin", [b"\x00\x01", "x"])]


def test_text_while_awaiting_attachment_is_a_parse_error(transport: str) -> None:
    s = connected(transport)
    s.receive_message('451-["bin",{"_placeholder":true,"num":0}]', 0.0)
    s.receive_message('42["x"]', 0.0)  # must not take the fast path
    assert s.events_received()[-1].reason is DisconnectReason.PARSE_ERROR


def test_unexpected_binary_is_a_parse_error(transport: str) -> None:
    s = connected(transport)
    s.receive_message(binary(transport, b"x"), 0.0)
    assert s.events_received()[-1].reason is DisconnectReason.PARSE_ERROR


def test_binary_before_open_and_bad_base64(transport: str) -> None:
    s = ClientSession(transport)
    s.receive_message(binary(transport, b"x"), 0.0)
    assert isinstance(s.events_received()[-1], Closed)
    if transport == "polling":
        s = connected(transport)
        s.receive_message("b!!!", 0.0)
        assert s.events_received()[-1].reason is DisconnectReason.TRANSPORT_ERROR
        s = connected(transport)
        s.receive_message(b"raw", 0.0)
        assert s.events_received()[-1].reason is DisconnectReason.TRANSPORT_ERROR


# -- emits and acks ---------------------------------------------------------------------------


def test_emit_encodings(transport: str) -> None:
    s = connected(transport, "/chat")
    assert s.emit("/chat", "m", 1, "é", None) is None
    assert s.emit("/chat", "m", ack=True) == 0
    assert s.emit("/chat", "m", ack=True) == 1
    assert s.messages_to_send() == ['42/chat,["m",1,"é",null]', '42/chat,0["m"]', '42/chat,1["m"]']


def test_emit_binary(transport: str) -> None:
    s = connected(transport)
    s.emit("/", "up", b"\x01\x02", ack=True)
    out = s.messages_to_send()
    assert out[0] == '451-0["up",{"_placeholder":true,"num":0}]'
    assert out[1] == binary(transport, b"\x01\x02")


def test_emit_misuse(transport: str) -> None:
    s = connected(transport)
    with pytest.raises(LocalProtocolError):
        s.emit("/", "connect")
    with pytest.raises(LocalProtocolError):
        s.emit("/", "x", object())
    with pytest.raises(InvalidState):
        s.emit("/nope", "x")


def test_emit_before_connect_answer_is_buffered(transport: str) -> None:
    s = ClientSession(transport)
    s.connect("/")
    s.emit("/", "early", 1)
    s.receive_message(OPEN, 0.0)
    assert s.messages_to_send() == ["40"]
    s.receive_message('40{"sid":"a"}', 0.0)
    assert s.messages_to_send() == ['42["early",1]']


def test_ack_correlation(transport: str) -> None:
    s = connected(transport, "/chat")
    ack_id = s.emit("/chat", "q", ack=True)
    s.receive_message(f'43/chat,{ack_id}["r",2]', 0.0)
    assert s.events_received() == [AckReceived("/chat", ack_id, ["r", 2])]
    s.receive_message(f'43/chat,{ack_id}["r"]', 0.0)  # twice: unknown now
    (v,) = s.events_received()
    assert isinstance(v, ProtocolViolation) and not v.fatal
    assert s.state is EioState.OPEN


def test_binary_ack(transport: str) -> None:
    s = connected(transport)
    ack_id = s.emit("/", "q", ack=True)
    s.receive_message(f'461-{ack_id}[{{"_placeholder":true,"num":0}}]', 0.0)
    s.receive_message(binary(transport, b"ok"), 0.0)
    assert s.events_received() == [AckReceived("/", ack_id, [b"ok"])]


def test_late_ack_after_cancel_is_counted_not_a_violation(transport: str) -> None:
    s = connected(transport)
    ack_id = s.emit("/", "q", ack=True)
    s.cancel_ack("/", ack_id)
    s.receive_message(f"43{ack_id}[]", 0.0)
    assert s.events_received() == [] and s.late_acks == 1


def test_ack_ids_are_per_namespace(transport: str) -> None:
    s = connected(transport, "/")
    s.connect("/b")
    s.receive_message('40/b,{"sid":"b"}', 0.0)
    assert s.emit("/", "x", ack=True) == 0
    assert s.emit("/b", "x", ack=True) == 0
    assert s.emit("/", "x", ack=True) == 1


def test_answering_server_acks(transport: str) -> None:
    s = connected(transport, "/chat")
    s.receive_message('42/chat,5["ack request",{"n":1}]', 0.0)
    (e,) = s.events_received()
    assert e.ack_id == 5
    s.ack("/chat", 5, ["pong"])
    s.ack("/chat", 6, [b"\xff"])
    assert s.messages_to_send() == [
        '43/chat,5["pong"]',
        '461-/chat,6[{"_placeholder":true,"num":0}]',
        binary(transport, b"\xff"),
    ]
    with pytest.raises(InvalidState):
        s.ack("/x", 1)


# -- recovery and reconnection ----------------------------------------------------------------


def test_recovery_offsets_and_reconnect(transport: str) -> None:
    s = opened(transport, "/")
    s.connect("/admin", {"token": "t"})
    s.messages_to_send()
    s.receive_message('40{"sid":"s1","pid":"p1"}', 0.0)
    s.receive_message('40/admin,{"sid":"a1","pid":"p2"}', 0.0)
    s.receive_message('42["tick",1,"off-1"]', 0.0)
    s.receive_message('42["tick",2,"off-2"]', 0.0)
    s.receive_message('421["asks",1,"not-an-offset"]', 0.0)
    events = s.events_received()
    assert events[0] == Connected("/", "s1", "p1", False)
    assert events[2] == EventReceived("/", "tick", [1], None, "off-1")
    assert events[3].offset == "off-2" and events[4].args == [1, "not-an-offset"]
    s.receive_closed(1.0, DisconnectReason.TRANSPORT_CLOSE)
    events = s.events_received()
    assert [type(e) for e in events] == [Disconnected, Disconnected, Closed]
    assert s.active_namespaces == ["/", "/admin"]
    s.emit("/", "while away")  # buffered until the namespace is back
    s.reopen()
    assert s.state is EioState.OPENING
    s.receive_message(OPEN.replace("eio1", "eio2"), 2.0)
    assert s.messages_to_send() == [
        '40{"pid":"p1","offset":"off-2"}',
        '40/admin,{"pid":"p2","token":"t"}',
    ]
    # the server replays missed events before the CONNECT answer
    s.receive_message('42["tick",3,"off-3"]', 2.0)
    s.receive_message('40{"sid":"s1","pid":"p1"}', 2.0)
    s.receive_message('40/admin,{"sid":"a2","pid":"p3"}', 2.0)
    events = s.events_received()
    assert events[1] == EventReceived("/", "tick", [3], None, "off-3")
    assert events[2] == Connected("/", "s1", "p1", True)
    assert events[3] == Connected("/admin", "a2", "p3", False)
    assert s.messages_to_send() == ['42["while away"]']
    assert s.namespace("/admin").offset is None


def test_no_pid_no_offset_stripping(transport: str) -> None:
    s = connected(transport)
    s.receive_message('42["tick","last"]', 0.0)
    assert s.events_received() == [EventReceived("/", "tick", ["last"])]


def test_io_server_disconnect_namespace_not_reconnected(transport: str) -> None:
    s = connected(transport, "/")
    s.connect("/b")
    s.receive_message('40/b,{"sid":"b"}', 0.0)
    s.receive_message("41/b,", 0.0)
    s.receive_closed(0.0)
    s.reopen("websocket")
    s.receive_message(OPEN, 0.0)
    assert s.messages_to_send() == ["40"]


def test_reopen_misuse() -> None:
    s = ClientSession()
    with pytest.raises(InvalidState):
        s.reopen()
    s.receive_closed(0.0)
    with pytest.raises(LocalProtocolError):
        s.reopen("smoke")


def test_reconnect_policy_matches_backoff() -> None:
    policy = ReconnectPolicy()

    class Fixed:
        def __init__(self, value: float) -> None:
            self.value = value

        def random(self) -> float:
            return self.value

    # rand=0.25: floor(2.5)=2 even -> minus; deviation floor(0.25*0.5*ms)
    assert policy.next_delay(0, Fixed(0.25)) == 0.875
    # rand=0.15: floor(1.5)=1 odd -> plus; 2000 + 150
    assert policy.next_delay(1, Fixed(0.15)) == 2.15
    assert policy.next_delay(10, Fixed(0.15)) == 5.0
    assert policy.next_delay(5000, Fixed(0.5)) == 5.0
    rng = random.Random(1)
    for attempt in range(20):
        assert 0 <= policy.next_delay(attempt, rng) <= 5.0
    assert ReconnectPolicy(randomization_factor=0).next_delay(2, rng) == 4.0
    assert policy.should_reconnect(DisconnectReason.TRANSPORT_CLOSE, 3)
    assert not policy.should_reconnect(DisconnectReason.IO_SERVER_DISCONNECT, 0)
    assert not policy.should_reconnect(DisconnectReason.IO_CLIENT_DISCONNECT, 0)
    assert not ReconnectPolicy(attempts=2).should_reconnect(DisconnectReason.PING_TIMEOUT, 2)
    assert not ReconnectPolicy(reconnection=False).should_reconnect(
        DisconnectReason.PING_TIMEOUT, 0
    )


# -- upgrade ----------------------------------------------------------------------------------


def test_upgrade_procedure() -> None:
    s = connected("polling")
    assert s.start_upgrade() == "2probe"
    s.emit("/", "during", b"\x01")  # before the probe answer: still polling
    assert s.messages_to_send()[1] == "bAQ=="
    assert s.receive_probe("3probe", 0.0) is True
    s.emit("/", "paused", b"\x02")
    assert s.messages_to_send() == []  # held while polling pauses
    s.receive_payload("6", 0.0)
    assert s.finish_upgrade() == "5"
    assert s.events_received() == [Upgraded("websocket")]
    assert s.messages_to_send() == ['451-["paused",{"_placeholder":true,"num":0}]', b"\x02"]
    assert s.transport == "websocket"


def test_upgrade_bad_probe_stays_on_polling() -> None:
    s = connected("polling")
    s.start_upgrade()
    assert s.receive_probe("3nope", 0.0) is False
    assert not s.events_received()[0].fatal
    assert not s.upgrading and s.transport == "polling"
    s.start_upgrade()
    s.abort_upgrade()
    with pytest.raises(InvalidState):
        s.finish_upgrade()


def test_upgrade_misuse() -> None:
    with pytest.raises(InvalidState):
        connected("websocket").start_upgrade()
    s = ClientSession("polling")
    s.receive_message(OPEN.replace('["websocket"]', "[]"), 0.0)
    with pytest.raises(InvalidState):
        s.start_upgrade()
    assert s.receive_probe("3probe", 0.0) is False


# -- polling batching -------------------------------------------------------------------------


def test_polling_payloads_respect_max_payload() -> None:
    assert polling_payloads(["40", "42[1]"], 100) == ["40\x1e42[1]"]
    assert polling_payloads(["aaaa", "bbbb", "cc"], 9) == ["aaaa\x1ebbbb", "cc"]
    assert polling_payloads(["ééé", "x"], 6) == ["ééé", "x"]
    assert polling_payloads(["toolongforone"], 4) == ["toolongforone"]
    assert polling_payloads([], 4) == []


def test_empty_and_non_utf8_polling_payloads() -> None:
    s = connected("polling")
    s.receive_payload(b"", 0.0)
    assert s.events_received()[-1].reason is DisconnectReason.TRANSPORT_ERROR
    s = connected("polling")
    s.receive_payload(b"\xff", 0.0)
    assert s.events_received()[-1].reason is DisconnectReason.TRANSPORT_ERROR


def test_polling_payload_with_several_records() -> None:
    s = connected("polling")
    s.receive_payload('2\x1e42["a"]\x1e451-["b",{"_placeholder":true,"num":0}]\x1ebAQ==', 0.0)
    assert s.messages_to_send() == ["3"]
    assert s.events_received() == [EventReceived("/", "a"), EventReceived("/", "b", [b"\x01"])]
