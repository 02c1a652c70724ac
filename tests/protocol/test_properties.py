"""Hypothesis round trips: encode -> decode is the identity, over WebSocket and polling."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.strategies import any_text, sio_packets
from wsbench.protocol import (
    EioPacket,
    EioPacketType,
    OpenInfo,
    SioDecoder,
    SioPacket,
    SioPacketType,
    decode_payload,
    encode_payload,
)
from wsbench.protocol.socketio import has_binary

settings.register_profile("wsbench-protocol", derandomize=True, max_examples=100, deadline=None)
PROFILE = settings.get_profile("wsbench-protocol")

T = SioPacketType
M = EioPacketType.MESSAGE


def expected_after_roundtrip(packet: SioPacket) -> SioPacket:
    """What the receiver sees: EVENT/ACK with bytes arrive as BINARY_EVENT/BINARY_ACK."""
    ptype = packet.type
    if packet.is_event or packet.is_ack:
        binary = has_binary(packet.data)
        if packet.is_event:
            ptype = T.BINARY_EVENT if binary else T.EVENT
        else:
            ptype = T.BINARY_ACK if binary else T.ACK
    return SioPacket(ptype, packet.namespace, packet.data, packet.id)


def feed_all(decoder: SioDecoder, frames: list[str | bytes]) -> SioPacket:
    *head, last = frames
    for frame in head:
        assert decoder.feed(frame) is None
    packet = decoder.feed(last)
    assert packet is not None and decoder.awaiting_attachments == 0
    return packet


@settings(PROFILE)
@given(sio_packets())
def test_sio_roundtrip_over_websocket(packet):
    frames = packet.encode()
    wire = [EioPacket(M, f).encode() for f in frames]
    # WebSocket: text frames carry "4", binary frames are raw
    assert [isinstance(w, bytes) for w in wire] == [isinstance(f, bytes) for f in frames]
    received = [EioPacket.decode(w).data for w in wire]
    decoder = SioDecoder(max_attachments=len(frames))  # the 10 limit is checked separately
    assert feed_all(decoder, received) == expected_after_roundtrip(packet)


@settings(PROFILE, max_examples=50)  # lists of packets are slow to generate
@given(st.lists(sio_packets(), min_size=1, max_size=3))
def test_sio_roundtrip_over_polling(packets):
    # JSON escapes \x1e inside strings; namespaces come without it on polling.
    packets = [p for p in packets if "\x1e" not in p.namespace] or [SioPacket.connect()]
    eio = [EioPacket(M, f) for p in packets for f in p.encode()]
    body = encode_payload(eio)
    assert decode_payload(body.encode("utf-8")) == eio
    decoder = SioDecoder(max_attachments=100)
    out = [decoder.feed(e.data) for e in decode_payload(body)]
    assert [p for p in out if p is not None] == [expected_after_roundtrip(p) for p in packets]


@settings(PROFILE)
@given(sio_packets())
def test_binary_attachment_count_matches_placeholders(packet):
    text, *buffers = packet.encode()
    decoded, count = SioPacket.decode(text, max_attachments=10**6)
    assert count == len(buffers)
    assert text.count('{"_placeholder":true,"num":') == len(buffers)
    if buffers:
        assert text.startswith(f"{decoded.type.value}{len(buffers)}-")
        assert decoded.type in (T.BINARY_EVENT, T.BINARY_ACK)


@settings(PROFILE)
@given(
    sio_packets()
    | st.builds(lambda bs: SioPacket.event("up", *bs), st.lists(st.binary(), max_size=14))
)
def test_default_decoder_enforces_ten_attachments(packet):
    frames = packet.encode()
    decoder = SioDecoder()
    if len(frames) - 1 <= 10:
        assert feed_all(decoder, frames) == expected_after_roundtrip(packet)
    else:
        try:
            decoder.feed(frames[0])
        except Exception as exc:  # noqa: BLE001 - the type is what is asserted
            assert "too many attachments" in str(exc)
        else:
            raise AssertionError("more than 10 attachments accepted")


text_packets = st.builds(EioPacket, st.sampled_from(list(EioPacketType)), any_text)
binary_packets = st.builds(EioPacket, st.just(M), st.binary(max_size=64))


@settings(PROFILE)
@given(text_packets | binary_packets)
def test_eio_packet_roundtrip_websocket(packet):
    assert EioPacket.decode(packet.encode()) == packet


@settings(PROFILE)
@given(st.lists(text_packets.filter(lambda p: "\x1e" not in p.data) | binary_packets, min_size=1))
def test_eio_payload_roundtrip_polling(packets):
    body = encode_payload(packets)
    assert decode_payload(body) == packets
    assert decode_payload(body.encode("utf-8")) == packets
    assert [EioPacket.decode(p.encode_polling()) for p in packets] == packets


@settings(PROFILE)
@given(
    st.builds(
        OpenInfo,
        any_text.filter(bool),
        st.lists(any_text, max_size=3).map(tuple),
        st.integers(0, 2**53),
        st.integers(0, 2**53),
        st.integers(0, 2**53),
    )
)
def test_handshake_roundtrip(info):
    assert OpenInfo.from_json(info.to_json()) == info
    assert EioPacket.decode(info.to_packet().encode()) == info.to_packet()
