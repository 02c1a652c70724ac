"""Differential tests against an independent codec: python-socketio / python-engineio.

python-socketio is a *target*, not a reference: its decoder validates almost nothing
(research/conformance.md §4). So the assertions have a direction:

- everything we accept, it accepts too and decodes to the same packet;
- everything it encodes, we decode to what it meant (and vice versa);
- where we reject and it accepts, that is expected, and the vectors where that happens
  are listed below (PYTHON_SOCKETIO_LAXER) so the difference is written down.

Known places where python-socketio is *stricter* or different, kept out of the corpus:
ack ids over 100 digits ("id field is too long"), and namespaces containing ``?`` (it strips
a query string from the namespace).
"""

from __future__ import annotations

import json

import pytest
from engineio import packet as eio_packet_mod
from engineio import payload as eio_payload_mod
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet as sio_packet_mod

from tests.protocol.helpers import eio_packet, from_json, ids, sio_feed, sio_packet, vectors
from tests.protocol.strategies import sio_packets
from wsbench.protocol import (
    EioPacket,
    EioPacketType,
    SioDecoder,
    SioPacket,
    decode_payload,
    encode_payload,
)

DIFF = settings(derandomize=True, max_examples=60, deadline=None)


def py_sio_decode(frames: list[str | bytes]) -> sio_packet_mod.Packet:
    """Decode with python-socketio the way its server does (text, then attachments)."""
    packet = sio_packet_mod.Packet(encoded_packet=frames[0])
    done = packet.attachment_count == 0
    for frame in frames[1:]:
        if not isinstance(frame, bytes):
            raise ValueError("text frame while attachments are due")
        done = packet.add_attachment(frame)
    if not done:
        raise ValueError("attachments missing")
    return packet


def py_sio_accepts(frames) -> bool:
    try:
        py_sio_decode(frames)
    except Exception:  # noqa: BLE001 - any exception is its "reject"
        return False
    return True


def assert_same_sio(ours: SioPacket, theirs: sio_packet_mod.Packet) -> None:
    assert theirs.packet_type == ours.type.value
    assert (theirs.namespace or "/") == ours.namespace
    assert theirs.id == ours.id
    assert theirs.data == ours.data


# python-socketio 5.x accepts these invalid vectors; wsbench (and Node) reject them.
# Asserted as an upper bound: python-socketio may get stricter, never laxer unnoticed.
PYTHON_SOCKETIO_LAXER = {
    "unknown_type_7",  # int(ep[0]) with no range check
    "disconnect_with_payload",
    "disconnect_admin_with_payload",
    "connect_payload_array",  # no payload validation at all ...
    "connect_payload_string",
    "connect_payload_null",
    "event_payload_object",
    "event_payload_string",
    "event_payload_nan",  # ... and json.loads accepts NaN / Infinity
    "event_payload_infinity",
    "event_empty_array",
    "event_name_null",
    "event_name_bool",
    "event_name_object",
    "event_name_array",
    "event_reserved_connect",  # no reserved names
    "event_reserved_connect_error",
    "event_reserved_disconnect",
    "event_reserved_disconnecting",
    "event_reserved_newListener",
    "event_reserved_removeListener",
    "event_reserved_removeListener_admin",
    "ack_payload_object",
    "ack_payload_string",
    "connect_error_payload_array",
    "connect_error_payload_bool",
    "attachments_missing_dash",  # a binary header without "-" is read as 0 attachments
    "attachments_zero",
    "binary_ack_attachments_zero",
    "placeholder_num_negative",  # attachments[-1]
    "placeholder_num_missing",  # a dict without "num" is left as data
    "empty_text",
    "event_without_payload",
    "event_admin_without_payload",
    "event_id_without_payload",
    "ack_without_id",
    "ack_without_payload",
    "binary_ack_without_id",
    "binary_event_without_payload",
    "connect_error_without_payload",
    "connect_with_ack_id",
    "disconnect_with_ack_id",
    "whitespace_before_payload",  # json.loads skips leading whitespace
    "whitespace_before_ack_payload",
}


@pytest.mark.parametrize("case", vectors("socketio", "valid"), ids=ids)
def test_valid_vectors_decode_the_same(case):
    frames = from_json(case["frames"])
    assert_same_sio(sio_packet(case["packet"]), py_sio_decode(frames))


@pytest.mark.parametrize("case", vectors("socketio", "invalid"), ids=ids)
def test_invalid_vectors_python_socketio_is_laxer_only_where_documented(case):
    if py_sio_accepts(from_json(case["frames"])):
        assert case["name"] in PYTHON_SOCKETIO_LAXER


def test_laxer_list_names_real_vectors():
    assert PYTHON_SOCKETIO_LAXER <= {c["name"] for c in vectors("socketio", "invalid")}


def _no_query(packet: SioPacket) -> bool:
    return "?" not in packet.namespace


@DIFF
@given(sio_packets().filter(_no_query))
def test_our_encoding_decodes_the_same_in_python_socketio(packet):
    frames = packet.encode()
    theirs = py_sio_decode(frames)
    assert (theirs.namespace or "/") == packet.namespace
    assert theirs.id == packet.id
    assert theirs.data == packet.data


@DIFF
@given(sio_packets().filter(_no_query))
def test_python_socketio_encoding_decodes_the_same_in_ours(packet):
    # python-socketio turns EVENT/ACK with bytes into BINARY_EVENT/BINARY_ACK itself
    theirs = sio_packet_mod.Packet(
        packet.type.value, data=packet.data, namespace=packet.namespace, id=packet.id
    )
    encoded = theirs.encode()
    frames = encoded if isinstance(encoded, list) else [encoded]
    ours = sio_feed(frames, SioDecoder(max_attachments=len(frames)))
    assert_same_sio(ours, theirs)


# -- Engine.IO -----------------------------------------------------------------------------


def assert_same_eio(ours: EioPacket, theirs: eio_packet_mod.Packet) -> None:
    assert theirs.packet_type == ours.type.value
    if isinstance(ours.data, bytes) or isinstance(theirs.data, str):
        assert theirs.data == ours.data
    elif theirs.data is None:
        assert ours.data == ""
    else:  # python-engineio json-decodes text data when it can
        assert theirs.data == json.loads(ours.data)


@pytest.mark.parametrize("case", vectors("engineio", "packets"), ids=ids)
@pytest.mark.parametrize("transport", ["ws", "polling"])
def test_eio_packets_decode_the_same(case, transport):
    wire = from_json(case.get(transport, case.get("wire")))
    expected = eio_packet(case["packet"])
    assert_same_eio(expected, eio_packet_mod.Packet(encoded_packet=wire))
    assert EioPacket.decode(wire) == expected


@pytest.mark.parametrize("case", vectors("engineio", "payloads"), ids=ids)
def test_eio_payloads_decode_the_same(case):
    theirs = eio_payload_mod.Payload(encoded_payload=case["wire"]).packets
    ours = decode_payload(case["wire"])
    assert len(theirs) == len(ours)
    for a, b in zip(ours, theirs, strict=True):
        assert_same_eio(a, b)


# python-engineio accepts these invalid Engine.IO vectors (no type range check, lax base64,
# an empty payload is "no packets").
PYTHON_ENGINEIO_LAXER = {
    "type_7",
    "type_9_with_data",
    "type_unicode_digit",
    "base64_bad_alphabet",
    "base64_with_newline",
    "empty",  # payload
    "unknown_type_inside",
    "v3_length_prefix_8",
    "bad_base64_inside",
}


@pytest.mark.parametrize("case", vectors("engineio", "invalid_packets"), ids=ids)
def test_eio_invalid_packets_direction(case):
    try:
        eio_packet_mod.Packet(encoded_packet=case["wire"])
    except Exception:  # noqa: BLE001
        return
    assert case["name"] in PYTHON_ENGINEIO_LAXER


@pytest.mark.parametrize("case", vectors("engineio", "invalid_payloads"), ids=ids)
def test_eio_invalid_payloads_direction(case):
    try:
        eio_payload_mod.Payload(encoded_payload=case["wire"])
    except Exception:  # noqa: BLE001
        return
    assert case["name"] in PYTHON_ENGINEIO_LAXER


@DIFF
@given(
    st.lists(
        st.binary(max_size=16) | st.text(max_size=16).filter(lambda s: "\x1e" not in s),
        min_size=1,
        max_size=16,
    )
)
def test_eio_payload_encoding_agrees(items):
    ours = [EioPacket(EioPacketType.MESSAGE, item) for item in items]
    body = encode_payload(ours)
    theirs = eio_payload_mod.Payload(
        packets=[eio_packet_mod.Packet(eio_packet_mod.MESSAGE, item) for item in items]
    ).encode()
    assert decode_payload(theirs) == ours
    for a, b in zip(ours, eio_payload_mod.Payload(encoded_payload=body).packets, strict=True):
        assert_same_eio(a, b)
