"""Packets in flight for a namespace the client just left are legal (issue 9, h35 #1).

Socket.IO has no acknowledgement of a client DISCONNECT: whatever the server sent for
``/chat`` before it read ``41/chat,`` still arrives. The client session drops it and
counts it (``dropped_after_leave``); a packet for a namespace the client never connected
stays a violation.
"""

from __future__ import annotations

import pytest

from wsbench.protocol.client import ClientSession
from wsbench.protocol.events import EventReceived, ProtocolViolation

OPEN = '0{"sid":"e1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}'


@pytest.fixture(params=["websocket", "polling"])
def session(request: pytest.FixtureRequest) -> ClientSession:
    s = ClientSession(request.param)
    s.connect("/")
    s.connect("/chat")
    s.receive_message(OPEN, 0.0)
    s.receive_message('40{"sid":"a"}', 0.0)
    s.receive_message('40/chat,{"sid":"b"}', 0.0)
    s.events_received()
    s.messages_to_send()
    return s


def _violations(s: ClientSession) -> list[ProtocolViolation]:
    return [e for e in s.events_received() if isinstance(e, ProtocolViolation)]


def test_event_ack_and_disconnect_after_leave_are_dropped_and_counted(session: ClientSession):
    s = session
    s.emit("/chat", "message", "hi", ack=True)
    s.disconnect("/chat")
    assert s.messages_to_send()[-1] == "41/chat,"
    s.events_received()
    s.receive_message('42/chat,["message",{"text":"x"}]', 1.0)  # the fast path's frame
    s.receive_message('42/chat,7["ask"]', 1.0)  # the strict path's (an ack id)
    s.receive_message('43/chat,0["ok"]', 1.0)  # the answer to the emit before leaving
    s.receive_message("41/chat,", 1.0)  # the server let it go at the same moment
    assert s.dropped_after_leave == 4
    assert _violations(s) == []
    assert s.state.value == "open"
    # the other namespace is untouched
    s.receive_message('42["still"]', 1.0)
    assert [e.event for e in s.events_received() if isinstance(e, EventReceived)] == ["still"]


def test_binary_event_after_leave_is_dropped(session: ClientSession):
    s = session
    s.disconnect("/chat")
    s.events_received()
    s.receive_message('451-/chat,["file",{"_placeholder":true,"num":0}]', 1.0)
    if s.transport == "websocket":
        s.receive_message(b"\x01\x02", 1.0)
    else:
        s.receive_message("bAQI=", 1.0)
    assert s.dropped_after_leave == 1
    assert _violations(s) == []


def test_never_connected_namespace_stays_a_violation(session: ClientSession):
    s = session
    s.receive_message('42/admin,["announcement","x"]', 1.0)
    (v,) = _violations(s)
    assert "not connected" in v.detail
    assert s.dropped_after_leave == 0


def test_server_disconnected_namespace_stays_a_violation(session: ClientSession):
    s = session
    s.receive_message("41/chat,", 1.0)  # the server disconnected it: not our leave
    s.events_received()
    s.receive_message('42/chat,["message",{"text":"x"}]', 1.0)
    (v,) = _violations(s)
    assert "EVENT for a namespace that is not connected" in v.detail
    assert s.dropped_after_leave == 0


def test_rejoining_keeps_the_grace_until_the_connect_answer(session: ClientSession):
    s = session
    s.emit("/chat", "message", "before", ack=True)  # ack id 0
    s.disconnect("/chat")
    s.connect("/chat")  # a quick rejoin: old copies can still precede the CONNECT answer
    s.emit("/chat", "message", "after", ack=True)  # ack id 1, buffered until the answer
    s.events_received()
    s.receive_message('42/chat,["message",{"text":"old"}]', 1.0)
    s.receive_message('43/chat,0["old ack"]', 1.0)
    assert s.dropped_after_leave == 2
    assert _violations(s) == []
    s.receive_message('40/chat,{"sid":"c"}', 1.0)  # the server read DISCONNECT, then CONNECT
    s.receive_message('42/chat,["message",{"text":"new"}]', 1.0)
    events = s.events_received()
    assert [e.args for e in events if isinstance(e, EventReceived)] == [[{"text": "new"}]]
    # the grace is over: the server disconnecting it, then an EVENT for it, is a violation
    s.receive_message("41/chat,", 1.0)
    s.receive_message('42/chat,["message",{"text":"late"}]', 1.0)
    assert len(_violations(s)) == 1
    assert s.dropped_after_leave == 2


def test_a_refused_rejoin_ends_the_grace(session: ClientSession):
    s = session
    s.disconnect("/chat")
    s.connect("/chat")
    s.receive_message('44/chat,{"message":"no"}', 1.0)
    s.events_received()
    s.receive_message('42/chat,["message",{"text":"x"}]', 1.0)
    assert len(_violations(s)) == 1
    assert s.dropped_after_leave == 0


def test_a_new_engineio_session_ends_the_grace(session: ClientSession):
    s = session
    s.disconnect("/chat")
    s.receive_closed(1.0)
    s.reopen()
    s.receive_message(OPEN, 2.0)
    s.receive_message('40{"sid":"d"}', 2.0)
    s.events_received()
    s.receive_message('42/chat,["message",{"text":"x"}]', 2.0)
    assert len(_violations(s)) == 1
    assert s.dropped_after_leave == 0
