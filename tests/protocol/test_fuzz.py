"""Fuzz the decoders: any input gives a packet or a RemoteProtocolError, nothing else.

Accepted input must also be stable: what we decode, we can encode, and that decodes to
the same packet (no packet the decoder accepts is one the encoder cannot reproduce).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.helpers import from_json, vectors
from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol import EioPacket, OpenInfo, SioDecoder, SioPacket, decode_payload

FUZZ = settings(derandomize=True, max_examples=300, deadline=None)

# Characters that matter to the grammars, so random strings hit the parsers' branches.
SIGNIFICANT = list('0123456789-/,[]{}":_btruefalsenul \t\x1e\\') + [
    '{"_placeholder":true,"num":0}',
    '"disconnect"',
    "AQIDBA==",
    "\U0001f600",
    "\ud800",
]
grammar_text = st.lists(st.sampled_from(SIGNIFICANT), max_size=30).map("".join)
texts = st.text(max_size=40) | grammar_text

VALID_SIO = [from_json(c["frames"]) for c in vectors("socketio", "valid")]
VALID_EIO = [c.get("polling", c.get("wire")) for c in vectors("engineio", "packets")]
VALID_PAYLOADS = [c["wire"] for c in vectors("engineio", "payloads")]


@st.composite
def mutated(draw, corpus: list[str]) -> str:
    """A valid wire string with a few random edits (insert, delete, replace, truncate)."""
    text = draw(st.sampled_from(corpus))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        piece = draw(st.sampled_from(SIGNIFICANT) | st.characters())
        if op == "insert":
            text = text[:pos] + piece + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + 1 :]
        elif op == "replace":
            text = text[:pos] + piece + text[pos + 1 :]
        elif op == "truncate":
            text = text[:pos]
        else:
            text = text[:pos] + text[pos:] + text[pos:]
    return text


def _stable_sio(packet: SioPacket) -> None:
    try:
        frames = packet.encode()
    except LocalProtocolError:
        # the only accepted value we cannot write back: numbers JSON.parse makes infinite
        assert "inf" in repr(packet.data), packet
        return
    decoder = SioDecoder(max_attachments=10**6)
    out = [decoder.feed(f) for f in frames]
    again = out[-1]
    assert again is not None
    assert (again.namespace, again.id, again.data) == (packet.namespace, packet.id, packet.data)


@FUZZ
@given(st.binary(max_size=40) | texts | mutated(VALID_EIO))
def test_eio_packet_decode(message):
    try:
        packet = EioPacket.decode(message)
    except RemoteProtocolError:
        return
    assert EioPacket.decode(packet.encode()) == packet


@FUZZ
@given(st.binary(max_size=60) | texts | mutated(VALID_PAYLOADS))
def test_eio_decode_payload(body):
    try:
        packets = decode_payload(body)
    except RemoteProtocolError:
        return
    assert packets
    for packet in packets:
        assert EioPacket.decode(packet.encode_polling()) == packet


@FUZZ
@given(texts | mutated([f[0] for f in VALID_SIO]))
def test_sio_packet_decode(text):
    try:
        packet, attachments = SioPacket.decode(text)
    except RemoteProtocolError:
        return
    assert 0 <= attachments <= 10
    if attachments == 0:
        _stable_sio(packet)


frames = st.lists(texts | st.binary(max_size=8), max_size=6)


@FUZZ
@given(
    frames
    | st.sampled_from(VALID_SIO).flatmap(
        lambda fr: st.lists(st.sampled_from(fr) | texts | st.binary(max_size=4), max_size=6)
    )
)
def test_sio_decoder_feed(messages):
    decoder = SioDecoder()
    for message in messages:
        try:
            packet = decoder.feed(message)
        except RemoteProtocolError:
            assert decoder.awaiting_attachments == 0
            continue
        if packet is not None:
            assert decoder.awaiting_attachments == 0
            _stable_sio(packet)


@FUZZ
@given(texts | st.sampled_from(['{"sid":"a","pingInterval":1,"pingTimeout":1,"maxPayload":1}']))
def test_handshake_from_json(text):
    try:
        info = OpenInfo.from_json(text)
    except RemoteProtocolError:
        return
    assert OpenInfo.from_json(info.to_json()) == info


def test_deep_nesting_in_every_decoder():
    deep = "[" * 50_000
    for call in (
        lambda: SioPacket.decode("2" + deep),
        lambda: SioDecoder().feed("51-" + deep),
        lambda: OpenInfo.from_json(deep),
    ):
        try:
            call()
        except RemoteProtocolError:
            pass
