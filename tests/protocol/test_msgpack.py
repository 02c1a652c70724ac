"""The msgpack parser (wsbench.protocol.parser): golden vectors, round trips, refusals.

The golden bytes below are what socket.io-msgpack-parser 3.0.2 (notepack.io 2.2.0) writes
for the same packet object (keys in socket.io's order: type, data, nsp, id), written out
by hand from the msgpack spec; tests/protocol/test_node_msgpack.py checks them against the
official parser itself.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.strategies import ack_ids, any_text, event_names, keys, namespaces
from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol.parser import (
    DEFAULT,
    MSGPACK,
    PARSER_NAMES,
    MsgpackDecoder,
    decode_msgpack,
    get_parser,
    mismatch_message,
)
from wsbench.protocol.socketio import SioDecoder, SioPacket, SioPacketType

T = SioPacketType

# (name, packet, the official encoder's bytes as hex)
GOLDEN = [
    ("connect_root", SioPacket(T.CONNECT, "/"), "82 a474797065 00 a36e7370 a12f"),
    (
        "connect_answer",
        SioPacket(T.CONNECT, "/", {"sid": "abc"}),
        "83 a474797065 00 a464617461 81 a3736964 a3616263 a36e7370 a12f",
    ),
    ("disconnect_admin", SioPacket(T.DISCONNECT, "/admin"),
     "82 a474797065 01 a36e7370 a62f61646d696e"),
    (
        "event_binary_inside",
        SioPacket(T.EVENT, "/", ["hello", 1, {"a": b"\x01\x02"}]),
        "83 a474797065 02 a464617461 93 a568656c6c6f 01 81 a161 c4020102 a36e7370 a12f",
    ),
    (
        "event_with_id",
        SioPacket(T.EVENT, "/admin", ["x"], 12),
        "84 a474797065 02 a464617461 91 a178 a36e7370 a62f61646d696e a26964 0c",
    ),
    (
        "ack_numbers",
        SioPacket(T.ACK, "/", [1.5, -3, 2**40], 7),
        "84 a474797065 03 a464617461 93 cb3ff8000000000000 fd cf0000010000000000"
        " a36e7370 a12f a26964 07",
    ),
    (
        "connect_error",
        SioPacket(T.CONNECT_ERROR, "/", {"message": "no"}),
        "83 a474797065 04 a464617461 81 a76d657373616765 a26e6f a36e7370 a12f",
    ),
]


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


@pytest.mark.parametrize(("name", "packet", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_vectors(name: str, packet: SioPacket, wire: str) -> None:
    assert MSGPACK.encode(packet) == [_hex(wire)]
    assert MSGPACK.decoder().feed(_hex(wire)) == packet


def test_binary_types_are_sent_as_plain_types() -> None:
    """No BINARY_EVENT/BINARY_ACK on the msgpack wire: bytes travel in place as bin."""
    packet = SioPacket(T.BINARY_EVENT, "/", ["file", b"\x00\xff"], None)
    [frame] = MSGPACK.encode(packet)
    assert isinstance(frame, bytes)
    assert msgpack.unpackb(frame)["type"] == 2
    assert decode_msgpack(frame) == SioPacket(T.EVENT, "/", ["file", b"\x00\xff"])
    ack = MSGPACK.encode(SioPacket(T.BINARY_ACK, "/", [b"x"], 3))[0]
    assert decode_msgpack(ack) == SioPacket(T.ACK, "/", [b"x"], 3)  # type: ignore[arg-type]


def test_undefined_is_absent() -> None:
    """socket.io-client sends CONNECT without auth as data: undefined (fixext 1, type 0)."""
    undefined = msgpack.ExtType(0, b"\x00")
    frame = msgpack.packb({"type": 0, "data": undefined, "nsp": "/"})
    assert decode_msgpack(frame) == SioPacket(T.CONNECT, "/")
    # and inside an array it reads as null, as JSON.stringify writes it
    frame = msgpack.packb({"type": 2, "data": ["e", undefined, [undefined]], "nsp": "/"})
    assert decode_msgpack(frame).data == ["e", None, [None]]


def test_extra_keys_are_ignored() -> None:
    """socket.io-client 4.x encodes its `options` ({compress}) into the packet too."""
    frame = msgpack.packb(
        {"type": 2, "data": ["hi"], "options": {"compress": True}, "nsp": "/", "id": 0}
    )
    assert decode_msgpack(frame) == SioPacket(T.EVENT, "/", ["hi"], 0)


# Refused by the official decoder too (checkPacket, notepack.io's decode).
REFUSED_LIKE_NODE = {
    "not_a_map": msgpack.packb([2, ["x"], "/"]),
    "type_missing": msgpack.packb({"data": ["x"], "nsp": "/"}),
    "type_5": msgpack.packb({"type": 5, "data": ["x"], "nsp": "/"}),
    "type_negative": msgpack.packb({"type": -1, "data": ["x"], "nsp": "/"}),
    "type_string": msgpack.packb({"type": "2", "data": ["x"], "nsp": "/"}),
    "nsp_missing": msgpack.packb({"type": 2, "data": ["x"]}),
    "nsp_number": msgpack.packb({"type": 2, "data": ["x"], "nsp": 1}),
    "connect_data_array": msgpack.packb({"type": 0, "data": [1], "nsp": "/"}),
    "disconnect_with_data": msgpack.packb({"type": 1, "data": {}, "nsp": "/"}),
    "connect_error_number": msgpack.packb({"type": 4, "data": 3, "nsp": "/"}),
    "event_data_object": msgpack.packb({"type": 2, "data": {"a": 1}, "nsp": "/"}),
    "event_without_data": msgpack.packb({"type": 2, "nsp": "/"}),
    "ack_data_string": msgpack.packb({"type": 3, "data": "x", "nsp": "/", "id": 1}),
    "id_string": msgpack.packb({"type": 2, "data": ["x"], "nsp": "/", "id": "1"}),
    "id_fraction": msgpack.packb({"type": 2, "data": ["x"], "nsp": "/", "id": 1.5}),
    "trailing_bytes": msgpack.packb({"type": 0, "nsp": "/"}) + b"\xc0",
    "truncated": msgpack.packb({"type": 2, "data": ["hello"], "nsp": "/"})[:-3],
    "empty": b"",
    "reserved_byte": b"\xc1",
}

def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


# Accepted by the official decoder, refused here on purpose (each one: why).
STRICTER_THAN_NODE = {
    "event_empty_array": (
        msgpack.packb({"type": 2, "data": [], "nsp": "/"}),
        "spec: EVENT needs a non-empty array",
    ),
    "event_reserved_name": (
        msgpack.packb({"type": 2, "data": ["connect"], "nsp": "/"}),
        "reserved event names are refused (as by socket.io-parser)",
    ),
    "event_name_null": (
        msgpack.packb({"type": 2, "data": [None], "nsp": "/"}),
        "the event name is a string or a number",
    ),
    "ack_without_id": (
        msgpack.packb({"type": 3, "data": [], "nsp": "/"}),
        "spec: an ACK carries the id it acknowledges",
    ),
    "connect_with_id": (
        msgpack.packb({"type": 0, "nsp": "/", "id": 1}),
        "ack ids only on EVENT/ACK",
    ),
    "id_negative": (
        msgpack.packb({"type": 2, "data": ["x"], "nsp": "/", "id": -1}),
        "ack ids are 0..2**53-1",
    ),
    "id_above_safe_integer": (
        msgpack.packb({"type": 2, "data": ["x"], "nsp": "/", "id": 2**53}),
        "ack ids are 0..2**53-1 (Node reads larger ones as imprecise doubles)",
    ),
    "id_float_integral": (
        msgpack.packb({"type": 2, "data": ["x"], "nsp": "/", "id": 1.0}),
        "ids and types are msgpack integers",
    ),
    "type_float_integral": (
        msgpack.packb({"type": 2.0, "data": ["x"], "nsp": "/"}),
        "ids and types are msgpack integers",
    ),
    "nsp_without_slash": (
        msgpack.packb({"type": 0, "nsp": "admin"}),
        "namespaces start with '/'",
    ),
    "invalid_utf8": (
        b"\x83\xa4type\x02\xa4data\x91\xa2\xff\xfe\xa3nsp\xa1/",
        "strings are UTF-8 (Node substitutes U+FFFD)",
    ),
    "integer_map_key": (
        msgpack.packb({"type": 2, "data": ["x", {1: 2}], "nsp": "/"}),
        "map keys are strings (Node stringifies them)",
    ),
    "ext_arraybuffer": (
        msgpack.packb({"type": 2, "data": ["x", msgpack.ExtType(0, b"abc")], "nsp": "/"}),
        "binary is msgpack bin; the ArrayBuffer extension is refused",
    ),
    "ext_custom": (
        msgpack.packb({"type": 2, "data": ["x", msgpack.ExtType(5, b"a")], "nsp": "/"}),
        "no extension types but undefined",
    ),
    "ext_timestamp": (
        msgpack.packb({"type": 2, "data": ["x", msgpack.Timestamp(1, 0)], "nsp": "/"}),
        "no extension types but undefined",
    ),
    "too_deep": (
        msgpack.packb({"type": 2, "data": ["x", _nested(120)], "nsp": "/"}),
        "payload nesting is limited to 100, as for JSON",
    ),
}


@pytest.mark.parametrize("name", sorted(REFUSED_LIKE_NODE))
def test_refused_like_node(name: str) -> None:
    decoder = MSGPACK.decoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed(REFUSED_LIKE_NODE[name])


@pytest.mark.parametrize("name", sorted(STRICTER_THAN_NODE))
def test_stricter_than_node(name: str) -> None:
    with pytest.raises(RemoteProtocolError):
        MSGPACK.decoder().feed(STRICTER_THAN_NODE[name][0])


def test_text_is_refused_and_named() -> None:
    decoder = MsgpackDecoder()
    with pytest.raises(RemoteProtocolError, match="text message"):
        decoder.feed("40")
    assert decoder.awaiting_attachments == 0


def test_decoder_never_raises_anything_else() -> None:
    junk = [b"\x00", b"\x90", b"\x80", b"\xdd\xff\xff\xff\xff", b"\x91" * 5000 + b"\xc0", b"\xa4ty"]
    for frame in junk:
        with pytest.raises(RemoteProtocolError):
            decode_msgpack(frame)


def test_encode_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.EVENT, "/", ["connect"]))
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.EVENT, "/", ["x", 2**64]))
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.EVENT, "/", ["x", object()]))
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.ACK, "/", []))
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.DISCONNECT, "/", None, 3))
    with pytest.raises(LocalProtocolError):
        MSGPACK.encode(SioPacket(T.CONNECT, "admin"))


def test_selection_and_mismatch_naming() -> None:
    assert PARSER_NAMES == ("default", "msgpack")
    assert get_parser(None) is DEFAULT and get_parser("msgpack") is MSGPACK
    assert get_parser(MSGPACK) is MSGPACK
    with pytest.raises(LocalProtocolError, match="unknown parser 'json5'.*default, msgpack"):
        get_parser("json5")
    msgpack_frame = MSGPACK.encode(SioPacket(T.CONNECT, "/", {"sid": "a"}))[0]
    assert DEFAULT.foreign(msgpack_frame) == "msgpack"
    assert DEFAULT.foreign(b"\x01\x02") is None
    assert MSGPACK.foreign('0{"sid":"a"}') == "default"
    assert MSGPACK.foreign("hello") is None
    assert mismatch_message("msgpack") == (
        "the server speaks the msgpack parser; run with --parser msgpack"
    )


def test_default_parser_is_the_text_format() -> None:
    packet = SioPacket(T.EVENT, "/", ["x", b"\x01"])
    assert DEFAULT.encode(packet) == packet.encode()
    assert isinstance(DEFAULT.decoder(), SioDecoder)


# -- hypothesis round trips -------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | any_text
    | st.binary(max_size=16)
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
objects = st.dictionaries(keys, values, max_size=4)


@st.composite
def packets(draw: st.DrawFn) -> SioPacket:
    nsp = draw(namespaces)
    kind = draw(st.sampled_from(["event", "ack", "connect", "disconnect", "error"]))
    if kind == "event":
        args = draw(st.lists(values, max_size=4))
        return SioPacket(T.EVENT, nsp, [draw(event_names), *args], draw(st.none() | ack_ids))
    if kind == "ack":
        return SioPacket(T.ACK, nsp, draw(st.lists(values, max_size=4)), draw(ack_ids))
    if kind == "connect":
        return SioPacket(T.CONNECT, nsp, draw(st.none() | objects))
    if kind == "disconnect":
        return SioPacket(T.DISCONNECT, nsp)
    return SioPacket(T.CONNECT_ERROR, nsp, draw(any_text | objects))


@settings(max_examples=300, deadline=None)
@given(packets())
def test_round_trip(packet: SioPacket) -> None:
    [frame] = MSGPACK.encode(packet)
    assert isinstance(frame, bytes)
    assert MSGPACK.decoder().feed(frame) == packet


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_refuse(frame: bytes) -> None:
    try:
        packet = decode_msgpack(frame)
    except RemoteProtocolError:
        return
    assert packet.type in (T.CONNECT, T.DISCONNECT, T.EVENT, T.ACK, T.CONNECT_ERROR)
    assert packet.namespace.startswith("/")


@settings(max_examples=200, deadline=None)
@given(packets(), st.integers(min_value=0, max_value=200), st.integers(0, 255))
def test_mutated_frames_decode_or_refuse(packet: SioPacket, pos: int, byte: int) -> None:
    frame = bytearray(MSGPACK.encode(packet)[0])
    frame[pos % len(frame)] = byte
    try:
        again = decode_msgpack(bytes(frame))
    except RemoteProtocolError:
        return
    assert again.namespace.startswith("/")
    # what we accept we can send back unchanged (repr: a mutated float may be NaN)
    assert repr(decode_msgpack(MSGPACK.encode(again)[0])) == repr(again)
