"""Engine.IO v4 codec: golden vectors, handshake parsing, payload batching."""

from __future__ import annotations

import base64

import pytest

from tests.protocol.helpers import assert_eio_roundtrip, eio_packet, from_json, ids, vectors
from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol import (
    EioPacket,
    EioPacketType,
    OpenInfo,
    batch_for_payload,
    decode_payload,
    encode_payload,
)
from wsbench.protocol.engineio import PING_PROBE, PONG_PROBE

PACKETS = vectors("engineio", "packets")
PAYLOADS = vectors("engineio", "payloads")
HANDSHAKES = vectors("engineio", "handshakes")


def _wire(case, transport):
    return from_json(case.get(transport, case.get("wire")))


@pytest.mark.parametrize("case", PACKETS, ids=ids)
def test_packet_websocket_roundtrip(case):
    assert_eio_roundtrip(_wire(case, "ws"), eio_packet(case["packet"]), polling=False)


@pytest.mark.parametrize("case", PACKETS, ids=ids)
def test_packet_polling_roundtrip(case):
    assert_eio_roundtrip(_wire(case, "polling"), eio_packet(case["packet"]), polling=True)


@pytest.mark.parametrize("case", PAYLOADS, ids=ids)
def test_payload_roundtrip(case):
    expected = [eio_packet(p) for p in case["packets"]]
    assert decode_payload(case["wire"]) == expected
    assert decode_payload(case["wire"].encode("utf-8")) == expected
    assert encode_payload(expected) == case["wire"]


@pytest.mark.parametrize("case", vectors("engineio", "invalid_packets"), ids=ids)
def test_invalid_packet(case):
    with pytest.raises(RemoteProtocolError, match=case["reason"]):
        EioPacket.decode(case["wire"])


@pytest.mark.parametrize("case", vectors("engineio", "invalid_payloads"), ids=ids)
def test_invalid_payload(case):
    with pytest.raises(RemoteProtocolError, match=case["reason"]):
        decode_payload(case["wire"])


@pytest.mark.parametrize("case", vectors("engineio", "invalid_payload_bytes"), ids=ids)
def test_invalid_payload_bytes(case):
    with pytest.raises(RemoteProtocolError, match=case["reason"]):
        decode_payload(base64.b64decode(case["b64"]))


def test_probe_constants_match_the_upgrade_wire():
    assert PING_PROBE.encode() == "2probe"
    assert PONG_PROBE.encode() == "3probe"


def test_binary_accepts_bytes_like_and_normalizes_to_bytes():
    for raw in (bytearray(b"\x01\x02"), memoryview(b"\x01\x02")):
        assert EioPacket.decode(raw) == EioPacket(EioPacketType.MESSAGE, b"\x01\x02")
        packet = EioPacket(EioPacketType.MESSAGE, raw)
        assert type(packet.data) is bytes and packet.is_binary


def test_only_message_packets_carry_binary():
    with pytest.raises(LocalProtocolError, match="only MESSAGE"):
        EioPacket(EioPacketType.PING, b"x")
    with pytest.raises(LocalProtocolError, match="must be str or bytes"):
        EioPacket(EioPacketType.MESSAGE, 42)  # type: ignore[arg-type]


def test_decode_rejects_non_text_non_bytes():
    with pytest.raises(RemoteProtocolError, match="must be str or bytes"):
        EioPacket.decode(None)  # type: ignore[arg-type]


def test_record_separator_in_text_cannot_go_on_polling():
    # A raw \x1e inside a text packet would split it in two on the receiving side.
    packet = EioPacket(EioPacketType.MESSAGE, "a\x1eb")
    assert packet.encode() == "4a\x1eb"  # fine on WebSocket: one packet per frame
    with pytest.raises(LocalProtocolError, match="record separator"):
        packet.encode_polling()
    with pytest.raises(LocalProtocolError, match="record separator"):
        encode_payload([packet])


# -- handshake -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", HANDSHAKES, ids=ids)
def test_handshake_roundtrip(case):
    o = case["open"]
    expected = OpenInfo(
        o["sid"], tuple(o["upgrades"]), o["ping_interval"], o["ping_timeout"], o["max_payload"]
    )
    assert OpenInfo.from_json(case["data"]) == expected
    assert expected.to_json() == case["data"]
    assert expected.to_packet().encode() == "0" + case["data"]


@pytest.mark.parametrize("case", vectors("engineio", "invalid_handshakes"), ids=ids)
def test_invalid_handshake(case):
    with pytest.raises(RemoteProtocolError, match=case["reason"]):
        OpenInfo.from_json(case["data"])


def test_handshake_keeps_unknown_fields_and_defaults_upgrades():
    info = OpenInfo.from_json('{"sid":"a","pingInterval":1,"pingTimeout":2,"maxPayload":3,"x":[1]}')
    assert info.upgrades == ()
    assert info.extra == {"x": [1]}
    assert OpenInfo.from_json(info.to_json()) == info


# -- batching ------------------------------------------------------------------------------


def _msg(n: int) -> EioPacket:
    return EioPacket(EioPacketType.MESSAGE, "x" * (n - 1))  # n bytes on the wire


def test_batch_respects_max_payload_counting_separators():
    packets = [_msg(4), _msg(4), _msg(4)]
    # 4 + 1 + 4 = 9 fits in 9; the third would need 14
    assert batch_for_payload(packets, 9) == [packets[:2], packets[2:]]
    assert batch_for_payload(packets, 8) == [[p] for p in packets]
    assert batch_for_payload(packets, 14) == [packets]
    assert batch_for_payload([], 10) == []


def test_batch_counts_utf8_bytes_and_base64():
    euro = EioPacket(EioPacketType.MESSAGE, "\u20ac")  # "4" + 3 bytes
    binary = EioPacket(EioPacketType.MESSAGE, b"\x01\x02\x03\x04")  # "bAQIDBA==" = 9
    assert batch_for_payload([euro, euro], 9) == [[euro, euro]]
    assert batch_for_payload([euro, euro], 8) == [[euro], [euro]]
    assert batch_for_payload([binary, binary], 19) == [[binary, binary]]
    assert batch_for_payload([binary, binary], 18) == [[binary], [binary]]


def test_batch_oversized_packet_goes_alone():
    big, small = _msg(50), _msg(2)
    assert batch_for_payload([small, big, small], 10) == [[small], [big], [small]]


def test_batches_reencode_within_limit():
    packets = [_msg(n) for n in (1, 7, 3, 3, 9, 2, 2, 2, 10)]
    for limit in range(1, 30):
        batches = batch_for_payload(packets, limit)
        assert [p for b in batches for p in b] == packets
        for batch in batches:
            wire = encode_payload(batch)
            assert len(batch) == 1 or len(wire.encode("utf-8")) <= limit
            assert decode_payload(wire) == batch


def test_handshake_fast_path_checks_as_strictly():
    """from_json's one-test fast path (bench/README.md "Acked emits: the connect path,
    wave 2e"): the five known fields give a fresh empty ``extra``; a bool, a float or a
    negative interval and a non-string upgrade are still refused, each by its name."""
    text = '{"sid":"a","upgrades":["websocket"],"pingInterval":1,"pingTimeout":2,"maxPayload":3}'
    first, second = OpenInfo.from_json(text), OpenInfo.from_json(text)
    assert first.extra == {} and first.extra is not second.extra
    assert first.upgrades == ("websocket",)
    good = {"pingInterval": "1", "pingTimeout": "2", "maxPayload": "3"}
    for key, bad in (("pingInterval", "true"), ("pingTimeout", "2.0"), ("maxPayload", "-1")):
        wrong = text.replace(f'"{key}":{good[key]}', f'"{key}":{bad}')
        assert wrong != text
        with pytest.raises(RemoteProtocolError, match=f"handshake {key} must be a non-negative"):
            OpenInfo.from_json(wrong)
    with pytest.raises(RemoteProtocolError, match="upgrades must be a list of strings"):
        OpenInfo.from_json(text.replace('["websocket"]', '["websocket",1]'))
