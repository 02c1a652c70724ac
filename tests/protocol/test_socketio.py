"""Socket.IO v5 codec: golden vectors, the strict decoder, constructors and encoder guards."""

from __future__ import annotations

import pytest

from tests.protocol.helpers import (
    assert_sio_roundtrip,
    from_json,
    ids,
    sio_feed,
    sio_packet,
    vectors,
)
from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol import RESERVED_EVENTS, SioDecoder, SioPacket, SioPacketType
from wsbench.protocol.socketio import deconstruct, dumps, has_binary, reconstruct

VALID = vectors("socketio", "valid")
INVALID = vectors("socketio", "invalid")

T = SioPacketType


@pytest.mark.parametrize("case", VALID, ids=ids)
def test_valid_vector_roundtrip(case):
    canonical = from_json(case["canonical"]) if "canonical" in case else None
    assert_sio_roundtrip(from_json(case["frames"]), sio_packet(case["packet"]), canonical)


@pytest.mark.parametrize("case", INVALID, ids=ids)
def test_invalid_vector_rejected(case):
    with pytest.raises(RemoteProtocolError):
        sio_feed(from_json(case["frames"]))


@pytest.mark.parametrize("case", INVALID, ids=ids)
def test_decoder_usable_after_rejection(case):
    decoder = SioDecoder()
    with pytest.raises(RemoteProtocolError):
        sio_feed(from_json(case["frames"]), decoder)
    assert decoder.awaiting_attachments == 0
    assert decoder.feed('2["next"]') == SioPacket.event("next")


def test_every_reserved_name_has_an_invalid_vector():
    rejected = {c["frames"][0] for c in INVALID if isinstance(c["frames"][0], str)}
    for name in RESERVED_EVENTS:
        assert any(f'["{name}"]' in wire for wire in rejected), name


def test_decode_reports_attachment_count_and_keeps_placeholders():
    packet, n = SioPacket.decode('52-/x,3["a",{"_placeholder":true,"num":1}]')
    assert n == 2
    assert packet == SioPacket(T.BINARY_EVENT, "/x", ["a", {"_placeholder": True, "num": 1}], 3)


def test_max_attachments_is_configurable():
    wire = '53-["a"]'
    assert SioDecoder(max_attachments=3).feed(wire) is None
    with pytest.raises(RemoteProtocolError, match="too many attachments"):
        SioDecoder(max_attachments=2).feed(wire)


def test_decoder_waits_for_every_attachment():
    decoder = SioDecoder()
    assert (
        decoder.feed('52-["a",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]') is None
    )
    assert decoder.awaiting_attachments == 2
    assert decoder.feed(bytearray(b"x")) is None
    assert decoder.awaiting_attachments == 1
    assert decoder.feed(memoryview(b"y")) == SioPacket(T.BINARY_EVENT, "/", ["a", b"y", b"x"])
    assert decoder.awaiting_attachments == 0


def test_decoder_reset_drops_a_pending_packet():
    decoder = SioDecoder()
    decoder.feed('51-["a",{"_placeholder":true,"num":0}]')
    decoder.reset()
    assert decoder.awaiting_attachments == 0
    assert decoder.feed('2["b"]') == SioPacket.event("b")


@pytest.mark.parametrize("message", [None, 1, ["2"], {"b64": "AA=="}])
def test_decoder_rejects_non_str_non_bytes(message):
    with pytest.raises(RemoteProtocolError):
        SioDecoder().feed(message)
    with pytest.raises(RemoteProtocolError):
        SioPacket.decode(message)


def test_deeply_nested_attachment_payload_is_a_protocol_error():
    # JSON nesting that the json module still parses must not blow the stack while
    # placeholders are put back: a RecursionError would escape the read loop.
    depth = 950
    wire = '51-["a",' + "[" * depth + '{"_placeholder":true,"num":0}' + "]" * depth + "]"
    decoder = SioDecoder()
    try:
        out = decoder.feed(wire)
    except RemoteProtocolError:
        return
    assert out is None
    try:
        decoder.feed(b"\x01")
    except RemoteProtocolError:
        pass


def test_deeply_nested_json_is_a_protocol_error():
    with pytest.raises(RemoteProtocolError):
        SioPacket.decode('2["a",' + "[" * 100_000 + "]" * 100_000 + "]")


def test_whitespace_before_payload_is_rejected_not_misread():
    # socket.io-parser reads " " as ack-id digits (Number(" ") == 0): "2 [..]" is EVENT id 0
    # to Node. Accepting it as "no id" would disagree with the reference; we refuse it.
    for wire in ('2 ["a"]', '2\t["a"]', '2/admin,\n["a"]', "3 []", "0 {}"):
        with pytest.raises(RemoteProtocolError):
            SioPacket.decode(wire)
    assert SioPacket.decode('2["a"] ')[0] == SioPacket.event("a")  # trailing is harmless


# -- constructors and accessors ------------------------------------------------------------


def test_constructors_encode_to_the_spec_examples():
    assert SioPacket.connect().encode() == ["0"]
    assert SioPacket.connect("/admin", {"token": "t"}).encode() == ['0/admin,{"token":"t"}']
    assert SioPacket.disconnect("/admin").encode() == ["1/admin,"]
    assert SioPacket.event("foo").encode() == ['2["foo"]']
    assert SioPacket.event("bar", namespace="/admin").encode() == ['2/admin,["bar"]']
    assert SioPacket.event("foo", id=12).encode() == ['212["foo"]']
    assert SioPacket.ack(13, ["bar"], namespace="/admin").encode() == ['3/admin,13["bar"]']
    assert SioPacket.connect_error("Not authorized").encode() == ['4{"message":"Not authorized"}']
    assert SioPacket.connect_error("no", {"code": 1}).encode() == [
        '4{"message":"no","data":{"code":1}}'
    ]
    assert SioPacket.event("baz", b"\x01\x02\x03\x04").encode() == [
        '51-["baz",{"_placeholder":true,"num":0}]',
        b"\x01\x02\x03\x04",
    ]
    assert SioPacket.ack(15, ["bar", bytearray(b"\x01")]).encode() == [
        '61-15["bar",{"_placeholder":true,"num":0}]',
        b"\x01",
    ]


def test_accessors():
    event = SioPacket.event("chat", 1, {"a": 2}, id=3)
    assert event.is_event and not event.is_ack
    assert event.event_name == "chat" and event.args == [1, {"a": 2}]
    ack = SioPacket.ack(3, [b"x"])
    assert ack.is_ack and ack.event_name is None and ack.args == [b"x"]
    assert SioPacket(T.BINARY_ACK, data=None, id=1).args == []
    assert SioPacket.connect().args == [] and SioPacket.connect().event_name is None


def test_binary_types_without_bytes_encode_as_plain():
    assert SioPacket(T.BINARY_EVENT, "/", ["a"]).encode() == ['2["a"]']
    assert SioPacket(T.BINARY_ACK, "/", [], 1).encode() == ["31[]"]


@pytest.mark.parametrize(
    ("packet", "match"),
    [
        (SioPacket(T.EVENT, "/", None), "must be an array"),
        (SioPacket(T.EVENT, "/", {"a": 1}), "must be an array"),
        (SioPacket(T.EVENT, "/", []), "non-reserved name"),
        (SioPacket(T.EVENT, "/", ["disconnect"]), "non-reserved name"),
        (SioPacket(T.EVENT, "/", [True]), "non-reserved name"),
        (SioPacket(T.ACK, "/", []), "needs an id"),
        (SioPacket(T.CONNECT, "/", []), "must be an object"),
        (SioPacket(T.DISCONNECT, "/", {}), "no payload"),
        (SioPacket(T.CONNECT_ERROR, "/", None), "object or string"),
        (SioPacket(T.EVENT, "admin", ["a"]), "must start with '/'"),
        (SioPacket(T.EVENT, "/", ["a"], -1), "non-negative integer"),
        (SioPacket(T.EVENT, "/", ["a"], True), "non-negative integer"),
        (SioPacket(T.EVENT, "/", ["a", float("nan")]), "not JSON-serializable"),
        (SioPacket(T.EVENT, "/", ["a", object()]), "not JSON-serializable"),
    ],
)
def test_encoder_refuses_what_the_protocol_forbids(packet, match):
    with pytest.raises(LocalProtocolError, match=match):
        packet.encode()


@pytest.mark.parametrize(
    "packet",
    [
        # "/a,b" would be read back as namespace "/a" followed by garbage
        SioPacket(T.EVENT, "/a,b", ["x"]),
        SioPacket(T.CONNECT, "/a,", None),
        # the decoder refuses ack ids on these types, so the encoder must not write them
        SioPacket(T.CONNECT, "/", None, 5),
        SioPacket(T.DISCONNECT, "/", None, 1),
        SioPacket(T.CONNECT_ERROR, "/", {"message": "x"}, 2),
    ],
    ids=[
        "comma_in_namespace",
        "trailing_comma_namespace",
        "connect_id",
        "disconnect_id",
        "error_id",
    ],
)
def test_encoder_refuses_what_the_decoder_cannot_read_back(packet):
    with pytest.raises(LocalProtocolError):
        packet.encode()


# -- JSON and binary helpers ---------------------------------------------------------------


def test_dumps_is_json_stringify_compatible():
    assert dumps(["a", {"b": 1.5, "c": None}]) == '["a",{"b":1.5,"c":null}]'
    assert dumps(["h\u00e9 \U0001f600"]) == '["h\u00e9 \U0001f600"]'  # UTF-8 kept
    assert dumps(["\x1e\x00"]) == '["\\u001e\\u0000"]'  # control characters escaped


def test_dumps_escapes_lone_surrogates_like_json_stringify():
    # A peer may send "\ud800" escaped; echoing it must give text that is valid UTF-8
    # (JSON.stringify escapes lone surrogates since ES2019), not a str that cannot be sent.
    packet = SioPacket.decode('2["echo","\\ud800x"]')[0]
    (wire,) = packet.encode()
    wire.encode("utf-8")
    assert wire == '2["echo","\\ud800x"]'
    assert SioPacket.decode(wire)[0] == packet


def test_has_binary_deconstruct_reconstruct():
    value = {"a": [1, b"x", {"b": bytearray(b"y")}], "c": (memoryview(b"z"),)}
    assert has_binary(value) and not has_binary({"a": [1, "x", None]})
    buffers: list[bytes] = []
    skeleton = deconstruct(value, buffers)
    assert buffers == [b"x", b"y", b"z"]
    assert skeleton == {
        "a": [1, {"_placeholder": True, "num": 0}, {"b": {"_placeholder": True, "num": 1}}],
        "c": [{"_placeholder": True, "num": 2}],
    }
    assert reconstruct(skeleton, buffers) == {"a": [1, b"x", {"b": b"y"}], "c": [b"z"]}


@pytest.mark.parametrize("num", [1, -1, True, "0", None, 0.0])
def test_reconstruct_refuses_bad_placeholders(num):
    with pytest.raises(RemoteProtocolError, match="placeholder"):
        reconstruct([{"_placeholder": True, "num": num}], [b"only one"])


def test_placeholder_must_be_exactly_true():
    fake = {"_placeholder": 1, "num": 0}
    assert reconstruct([fake], [b"x"]) == [fake]
