"""Issue 9 section 2, items 1 and 4: peer input that once escaped the decoders as ValueError
(4,300+ digit ack ids and attachment counts) or was accepted but could never be written back
(non-finite numbers, 900-deep JSON) is a RemoteProtocolError / a recorded parse-error
violation, in the strict decoder and in the client's fast paths alike."""

from __future__ import annotations

import pytest

from wsbench.exceptions import RemoteProtocolError
from wsbench.protocol.client import ClientSession
from wsbench.protocol.events import DisconnectReason, EventReceived, ProtocolViolation
from wsbench.protocol.socketio import (
    MAX_ACK_ID,
    MAX_JSON_DEPTH,
    SioDecoder,
    SioPacket,
    loads,
    parse_ack_id,
)

HUGE = "1" * 5000  # int() refuses more than 4,300 digits
DEEP = "[" * 900 + "]" * 900

BAD_PACKETS = [
    f'2{HUGE}["a"]',  # EVENT with a huge ack id
    f"3{HUGE}[]",  # ACK
    f'2/chat,{HUGE}["a"]',
    f'5{HUGE}-["a",{{"_placeholder":true,"num":0}}]',  # attachment count
    f'6{HUGE}-{HUGE}[{{"_placeholder":true,"num":0}}]',
    f'2{MAX_ACK_ID + 1}["a"]',  # one above Number.MAX_SAFE_INTEGER
    '2["a",1e400]',  # JSON.parse makes it Infinity
    '2["a",{"x":-1e400}]',
    f"3{MAX_ACK_ID}[1E999]",
    f'2["a",{DEEP}]',
    '2["a",' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "]",  # depth limit + 1
]


@pytest.mark.parametrize("text", BAD_PACKETS, ids=lambda t: t[:24])
def test_decoder_refuses_with_a_protocol_error(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        SioDecoder().feed(text)


def test_limits_themselves_are_accepted() -> None:
    packet = SioDecoder().feed(f'2{MAX_ACK_ID}["a",1.5e300]')
    assert packet is not None and packet.id == MAX_ACK_ID and packet.data == ["a", 1.5e300]
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    packet = SioDecoder().feed(f'2["a",{nested}]')  # the event array is level 1
    assert packet is not None
    # a payload with many brackets but little depth is not refused
    wide = "[" + ",".join(["[]"] * 5000) + "]"
    assert SioDecoder().feed(f'2["a",{wide}]') is not None


def test_parse_ack_id_and_loads() -> None:
    assert parse_ack_id("0012") == 12
    with pytest.raises(RemoteProtocolError):
        parse_ack_id(HUGE)
    for bad in ("1e400", "[NaN]", "-Infinity", DEEP, '{"a":' * 200 + "1" + "}" * 200):
        with pytest.raises(ValueError):
            loads(bad)
    assert loads('{"a":[1,2.5,"x"]}') == {"a": [1, 2.5, "x"]}


def connected(transport: str) -> ClientSession:
    s = ClientSession(transport)
    s.connect("/")
    s.connect("/chat")
    s.receive_message(
        '0{"sid":"e","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":10000000}',
        0.0,
    )
    s.receive_message('40{"sid":"s1"}', 0.0)
    s.receive_message('40/chat,{"sid":"s2"}', 0.0)
    s.events_received()
    s.messages_to_send()
    return s


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("text", BAD_PACKETS, ids=lambda t: t[:24])
def test_client_records_a_parse_error_violation(transport: str, text: str) -> None:
    """Before the fix the client's fast path called int() on the digits: ValueError escaped
    into the transport ("Fatal error on transport") and no violation was recorded."""
    s = connected(transport)
    s.receive_message("4" + text, 0.0)
    events = s.events_received()
    kinds = [e for e in events if isinstance(e, ProtocolViolation)]
    assert kinds and kinds[0].fatal, events
    assert events[-1].reason is DisconnectReason.PARSE_ERROR


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_client_fast_paths_still_take_in_range_ids(transport: str) -> None:
    s = connected(transport)
    s.receive_message(f'42{MAX_ACK_ID}["m",1]', 0.0)
    assert s.events_received() == [EventReceived("/", "m", [1], MAX_ACK_ID)]
    fast = s.receive_event(f'42/chat,{MAX_ACK_ID}["m"]')
    assert fast is not None and fast[3] == MAX_ACK_ID
    assert s.receive_event(f'42{HUGE}["m"]') is None  # "not that": the strict path judges
    assert s.receive_event(f'42["m",{DEEP}]') is None
    assert s.receive_ack(f"43{HUGE}[]") is None


def test_encoded_packets_decode_back() -> None:
    packet = SioPacket.event("a", 1, id=MAX_ACK_ID)
    assert SioDecoder().feed(packet.encode()[0]) == packet


def test_encoder_refuses_an_id_the_decoder_would_refuse() -> None:
    from wsbench.exceptions import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        SioPacket.event("a", id=MAX_ACK_ID + 1).encode()
