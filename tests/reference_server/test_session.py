"""The server-role sans-I/O sessions, driven in memory (no sockets, no clock)."""

from __future__ import annotations

import json

import pytest

from wsbench.exceptions import InvalidState
from wsbench.protocol.engineio import EioPacket, EioPacketType
from wsbench.protocol.events import (
    AckReceived,
    AckTimedOut,
    Closed,
    Connected,
    Disconnected,
    DisconnectReason,
    EventReceived,
    MessageReceived,
    ProtocolViolation,
    Upgraded,
)
from wsbench.protocol.server import EioServerSession, ServerSession, Transport
from wsbench.protocol.socketio import SioPacket

OPTS = {"ping_interval": 300, "ping_timeout": 200, "max_payload": 1000}


def wire(packets: list[EioPacket]) -> list[str | bytes]:
    return [p.encode() for p in packets]


def eio(transport: str = "websocket") -> EioServerSession:
    return EioServerSession("s1", transport, 0.0, **OPTS)


def sio(transport: str = "websocket", connect_timeout: int = 1000) -> ServerSession:
    s = ServerSession("s1", transport, 0.0, connect_timeout=connect_timeout, **OPTS)
    s.messages_to_send()
    return s


def connected(ns: str = "/") -> ServerSession:
    s = sio()
    s.receive_message("40" if ns == "/" else f"40{ns},", 0.0)
    assert s.events_received() == [Connected(ns, auth=None)]
    s.accept(ns, "abc")
    s.messages_to_send()
    return s


def closed_reason(events: list) -> DisconnectReason:
    return next(e.reason for e in events if isinstance(e, Closed))


class TestHandshake:
    def test_polling_handshake_lists_websocket_upgrade(self):
        (packet,) = eio("polling").messages_to_send()
        assert packet.type is EioPacketType.OPEN
        assert json.loads(packet.data) == {
            "sid": "s1",
            "upgrades": ["websocket"],
            "pingInterval": 300,
            "pingTimeout": 200,
            "maxPayload": 1000,
        }

    def test_websocket_handshake_has_no_upgrades(self):
        (packet,) = eio().messages_to_send()
        assert json.loads(packet.data)["upgrades"] == []


class TestHeartbeat:
    def test_server_pings_every_interval_and_pong_resets(self):
        s = eio()
        s.messages_to_send()
        assert s.next_deadline() == pytest.approx(0.3)
        s.handle_deadline(0.3)
        assert wire(s.messages_to_send()) == ["2"]
        assert s.next_deadline() == pytest.approx(0.5)
        s.receive_message("3", 0.35)
        assert s.next_deadline() == pytest.approx(0.65)
        s.handle_deadline(0.65)
        assert wire(s.messages_to_send()) == ["2"]

    def test_no_pong_closes_with_ping_timeout(self):
        s = eio()
        s.handle_deadline(0.3)
        s.handle_deadline(0.5)
        assert closed_reason(s.events_received()) is DisconnectReason.PING_TIMEOUT
        assert s.next_deadline() is None

    def test_client_ping_closes_invalid_heartbeat_direction(self):
        s = eio()
        s.receive_message("2", 0.1)
        (event,) = s.events_received()
        assert event == Closed(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")


class TestEngineMessages:
    def test_text_and_binary_messages(self):
        s = eio()
        s.receive_message("4hello", 0.0)
        s.receive_message(b"\x01\x02", 0.0)
        assert s.events_received() == [MessageReceived("hello"), MessageReceived(b"\x01\x02")]

    def test_polling_payload_with_base64(self):
        s = eio("polling")
        s.receive_payload("4hello\x1ebAQIDBA==", 0.0)
        assert s.events_received() == [
            MessageReceived("hello"),
            MessageReceived(b"\x01\x02\x03\x04"),
        ]

    def test_garbage_closes_with_parse_error(self):
        s = eio("polling")
        s.messages_to_send()
        s.receive_payload("abc", 0.0)
        events = s.events_received()
        assert isinstance(events[0], ProtocolViolation)
        assert closed_reason(events) is DisconnectReason.PARSE_ERROR
        assert wire(s.messages_to_send()) == ["1"]

    def test_client_close_ends_pending_get_with_noop(self):
        s = eio("polling")
        s.messages_to_send()
        s.receive_payload("1", 0.0)
        assert closed_reason(s.events_received()) is DisconnectReason.TRANSPORT_CLOSE
        assert wire(s.messages_to_send()) == ["6"]

    def test_oversized_polling_body_closes(self):
        s = eio("polling")
        s.receive_payload("4" + "x" * 1000, 0.0)
        assert s.closed


class TestUpgrade:
    def test_probe_then_upgrade(self):
        s = eio("polling")
        s.messages_to_send()
        s.receive_probe("2probe", 0.1)
        assert s.upgrading
        assert wire(s.probe_messages_to_send()) == ["3probe"]
        assert wire(s.messages_to_send()) == ["6"]
        s.receive_probe("5", 0.2)
        assert s.transport is Transport.WEBSOCKET
        assert s.events_received() == [Upgraded("websocket")]
        assert not s.can_upgrade()

    def test_upgrade_without_probe_is_aborted(self):
        s = eio("polling")
        s.receive_probe("5", 0.1)
        assert s.transport is Transport.POLLING and not s.upgrading

    def test_upgrade_timeout(self):
        s = EioServerSession("s1", "polling", 0.0, ping_interval=25000, upgrade_timeout=100)
        s.receive_probe("2probe", 0.0)
        assert s.next_deadline() == pytest.approx(0.1)
        s.handle_deadline(0.1)
        assert not s.upgrading and s.can_upgrade()


class TestNamespaces:
    def test_connect_accept(self):
        s = sio()
        s.receive_message('40{"token":"123"}', 0.0)
        assert s.events_received() == [Connected("/", auth={"token": "123"})]
        s.accept("/", "abc")
        assert wire(s.messages_to_send()) == ['40{"sid":"abc"}']

    def test_connect_with_pid_and_replay_before_answer(self):
        s = sio()
        s.receive_message("40/custom,", 0.0)
        s.events_received()
        replay = [SioPacket.event("x", 1, "off1", namespace="/custom")]
        s.accept("/custom", "abc", pid="p1", replay=replay)
        assert wire(s.messages_to_send()) == [
            '42/custom,["x",1,"off1"]',
            '40/custom,{"sid":"abc","pid":"p1"}',
        ]

    def test_refuse(self):
        s = sio()
        s.receive_message("40/random", 0.0)
        s.events_received()
        s.refuse("/random", "Invalid namespace")
        assert wire(s.messages_to_send()) == ['44/random,{"message":"Invalid namespace"}']
        s.receive_message('42["x"]', 0.0)  # still not connected
        assert closed_reason(s.events_received()) is DisconnectReason.FORCED_SERVER_CLOSE

    @pytest.mark.parametrize(
        "message",
        ['42["message"]', "41", "44{}"],
        ids=["event-before-connect", "disconnect-before-connect", "connect-error"],
    )
    def test_invalid_state_closes(self, message):
        s = sio()
        s.receive_message(message, 0.0)
        assert closed_reason(s.events_received()) in (
            DisconnectReason.FORCED_SERVER_CLOSE,
            DisconnectReason.PARSE_ERROR,
        )

    def test_event_while_pending_closes(self):
        s = sio()
        s.receive_message("40", 0.0)
        s.receive_message('42["x"]', 0.0)
        events = s.events_received()
        assert closed_reason(events) is DisconnectReason.FORCED_SERVER_CLOSE

    def test_double_connect_closes(self):
        s = connected()
        s.receive_message("40", 0.0)
        events = s.events_received()
        assert Disconnected("/", DisconnectReason.FORCED_SERVER_CLOSE) in events
        assert closed_reason(events) is DisconnectReason.FORCED_SERVER_CLOSE

    def test_disconnect_with_payload_is_parse_error(self):
        s = connected()
        s.receive_message('41{"a":1}', 0.0)
        assert closed_reason(s.events_received()) is DisconnectReason.PARSE_ERROR

    @pytest.mark.parametrize("message", ["4abc", "42{}", '42abc["x"]', "42[]", '42["disconnect"]'])
    def test_decode_errors_close_with_parse_error(self, message):
        s = connected()
        s.receive_message(message, 0.0)
        assert closed_reason(s.events_received()) is DisconnectReason.PARSE_ERROR

    def test_client_disconnect_keeps_connection(self):
        s = connected()
        s.receive_message("41", 0.0)
        assert s.events_received() == [
            Disconnected("/", DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)
        ]
        assert not s.closed

    def test_server_disconnect(self):
        s = connected("/custom")
        s.disconnect("/custom")
        assert wire(s.messages_to_send()) == ["41/custom,"]
        assert s.events_received() == [
            Disconnected("/custom", DisconnectReason.SERVER_NAMESPACE_DISCONNECT)
        ]
        with pytest.raises(InvalidState):
            s.emit("/custom", "x")

    def test_connect_timeout(self):
        s = sio(connect_timeout=1000)
        s.handle_deadline(0.3)
        s.receive_message("3", 0.31)
        s.handle_deadline(1.0)
        assert closed_reason(s.events_received()) is DisconnectReason.FORCED_SERVER_CLOSE

    def test_connected_namespace_cancels_connect_timeout(self):
        s = connected()
        s.handle_deadline(0.3)
        s.receive_message("3", 0.31)
        s.handle_deadline(1.0)
        assert not s.closed

    def test_close_reports_every_namespace(self):
        s = connected()
        s.close(DisconnectReason.SERVER_SHUTTING_DOWN)
        assert s.events_received() == [
            Disconnected("/", DisconnectReason.SERVER_SHUTTING_DOWN),
            Closed(DisconnectReason.SERVER_SHUTTING_DOWN),
        ]


class TestEventsAndAcks:
    def test_event_with_ack_id(self):
        s = connected()
        s.receive_message('42456["message-with-ack",1,"2",{"3":[false]}]', 0.0)
        assert s.events_received() == [
            EventReceived("/", "message-with-ack", [1, "2", {"3": [False]}], 456)
        ]
        s.ack("/", 456, [1, "2", {"3": [False]}])
        assert wire(s.messages_to_send()) == ['43456[1,"2",{"3":[false]}]']

    def test_binary_event_and_binary_ack(self):
        s = connected()
        ph = '{"_placeholder":true,"num":0}'
        s.receive_message(f'452-789["message-with-ack",{ph},{ph.replace("0", "1")}]', 0.0)
        s.receive_message(b"\x01\x02\x03", 0.0)
        assert s.events_received() == []
        s.receive_message(b"\x04\x05\x06", 0.0)
        (event,) = s.events_received()
        assert event.args == [b"\x01\x02\x03", b"\x04\x05\x06"] and event.ack_id == 789
        s.ack("/", 789, event.args)
        assert wire(s.messages_to_send()) == [
            f"462-789[{ph},{ph.replace('0', '1')}]",
            b"\x01\x02\x03",
            b"\x04\x05\x06",
        ]

    def test_server_ack_ids_per_namespace_and_reply(self):
        s = connected()
        assert s.emit("/", "ack request", {"a": 1}, ack=True) == 0
        assert s.emit("/", "ack request", ack=True) == 1
        assert wire(s.messages_to_send()) == ['420["ack request",{"a":1}]', '421["ack request"]']
        s.receive_message('431["yes"]', 0.0)
        s.receive_message('431["again"]', 0.0)  # answered once only
        assert s.events_received() == [AckReceived("/", 1, ["yes"])]

    def test_server_ack_timeout_then_late_ack_ignored(self):
        s = connected()
        s.emit("/", "q", ack=True, timeout=100, now=0.0)
        assert s.next_deadline() == pytest.approx(0.1)
        s.handle_deadline(0.1)
        assert s.events_received() == [AckTimedOut("/", 0)]
        s.receive_message("430[]", 0.2)
        assert s.events_received() == []
