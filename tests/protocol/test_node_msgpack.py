"""Differential tests of the msgpack parser against the official socket.io-msgpack-parser.

The same rules as tests/protocol/test_node_parsers.py, with parser_cli.js's msgpack ops:

- every golden vector: Node encodes the packet to the same bytes and decodes them to it;
- every refusal: Node refuses it too, unless it is listed in STRICTER_THAN_NODE;
- fuzz: whatever we accept (generated packets, then mutated bytes), Node accepts and decodes
  to the same packet; whatever Node encodes from a generated packet, we decode to it.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.protocol import test_node_parsers
from tests.protocol.helpers import from_json, to_json
from tests.protocol.test_msgpack import GOLDEN, REFUSED_LIKE_NODE, STRICTER_THAN_NODE, packets
from tests.protocol.test_node_parsers import NodeParsers, numbers_as_floats
from wsbench.exceptions import RemoteProtocolError
from wsbench.protocol.parser import MSGPACK, decode_msgpack
from wsbench.protocol.socketio import SioPacket

pytestmark = pytest.mark.node

node = test_node_parsers.node  # the Node parsers' fixture (one process per module)

DIFF = settings(derandomize=True, max_examples=80, deadline=None)


def node_decode(node: NodeParsers, frame: bytes) -> dict[str, Any] | None:
    answer = node.ask("msgpack_decode", frame={"b64": base64.b64encode(frame).decode("ascii")})
    if answer.get("error") is not None or len(answer["packets"]) != 1:
        return None
    return answer["packets"][0]


def node_encode(node: NodeParsers, packet: SioPacket) -> bytes:
    request = {"type": packet.type.value, "nsp": packet.namespace, "id": packet.id,
               "data": to_json(packet.data)}
    answer = node.ask("msgpack_encode", packet=request)
    assert answer["error"] is None, answer
    [frame] = from_json(answer["frames"])
    assert isinstance(frame, bytes)
    return frame


def view(packet: SioPacket) -> dict[str, Any]:
    return {"type": packet.type.value, "nsp": packet.namespace, "id": packet.id,
            "data": numbers_as_floats(to_json(packet.data))}


def same(ours: SioPacket, theirs: dict[str, Any]) -> bool:
    theirs = dict(theirs, data=numbers_as_floats(theirs["data"]))
    return view(ours) == theirs


@pytest.mark.parametrize(("name", "packet", "wire"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_vectors_are_nodes(node: NodeParsers, name: str, packet: SioPacket,
                                  wire: str) -> None:
    frame = bytes.fromhex(wire.replace(" ", ""))
    assert node_encode(node, packet) == frame
    theirs = node_decode(node, frame)
    assert theirs is not None and same(packet, theirs)


@pytest.mark.parametrize("name", sorted(REFUSED_LIKE_NODE))
def test_node_refuses_too(node: NodeParsers, name: str) -> None:
    assert node_decode(node, REFUSED_LIKE_NODE[name]) is None


@pytest.mark.parametrize("name", sorted(STRICTER_THAN_NODE))
def test_stricter_ones_are_accepted_by_node(node: NodeParsers, name: str) -> None:
    """Each entry must really be one Node accepts: otherwise it belongs to REFUSED_LIKE_NODE."""
    assert node_decode(node, STRICTER_THAN_NODE[name][0]) is not None, STRICTER_THAN_NODE[name][1]


def node_writes_it(value: Any) -> bool:
    """False for values the JSON-lines channel or notepack.io cannot carry faithfully:
    infinities (JSON has none) and integral doubles of 2**64 or more, which notepack.io 2.2
    writes as a corrupt uint64 (its hi word overflows): a bug of the official parser."""
    if isinstance(value, float):
        return math.isfinite(value) and not (value.is_integer() and abs(value) >= 2**63)
    if isinstance(value, list):
        return all(node_writes_it(v) for v in value)
    if isinstance(value, dict):
        return all(node_writes_it(v) for v in value.values())
    return True


def test_notepack_corrupts_huge_integral_doubles(node: NodeParsers) -> None:
    """Why node_writes_it excludes them: Node writes 2**64 (a double) as uint64 0."""
    frame = node_encode(node, SioPacket.ack(0, [2.0**64]))
    assert decode_msgpack(frame).data == [0]


@DIFF
@given(packets())
def test_generated_packets_agree(node: NodeParsers, packet: SioPacket) -> None:
    assume(node_writes_it(packet.data))
    ours = MSGPACK.encode(packet)[0]
    assert isinstance(ours, bytes)
    theirs = node_decode(node, ours)
    assert theirs is not None and same(packet, theirs)
    # and what Node writes for it, we read as the same packet
    assert same(decode_msgpack(node_encode(node, packet)), theirs)


@DIFF
@given(packets(), st.integers(min_value=0, max_value=200), st.integers(0, 255))
def test_mutations_never_laxer_than_node(
    node: NodeParsers, packet: SioPacket, pos: int, byte: int
) -> None:
    assume(node_writes_it(packet.data))
    frame = bytearray(MSGPACK.encode(packet)[0])
    frame[pos % len(frame)] = byte
    try:
        ours = decode_msgpack(bytes(frame))
    except RemoteProtocolError:
        return
    assume(node_writes_it(ours.data))
    theirs = node_decode(node, bytes(frame))
    assert theirs is not None, f"Node refuses {bytes(frame).hex()} that we accept"
    assert same(ours, theirs)
