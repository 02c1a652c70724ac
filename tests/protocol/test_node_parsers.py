"""Differential tests against the reference parsers: Node socket.io-parser and engine.io-parser.

One Node process per module (tests/interop/node_tools/parser_cli.js, JSON lines) decodes
and encodes every vector and every generated packet. The rules:

- every valid vector: Node decodes it to the same packet, and encodes that packet to the
  same wire as we do;
- every invalid vector: Node's verdict is the one written in the vector; where Node accepts
  and we reject, the vector is in STRICTER_THAN_NODE with the reason we are stricter;
- fuzz: whatever we accept, Node accepts and decodes to the same packet (we are never laxer
  than the reference, and never read a packet differently).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol.helpers import (
    eio_packet,
    from_json,
    ids,
    plain_type,
    sio_feed,
    sio_packet,
    to_json,
    vectors,
)
from tests.protocol.strategies import sio_packets
from tests.protocol.test_fuzz import SIGNIFICANT, mutated
from wsbench.exceptions import RemoteProtocolError
from wsbench.protocol import (
    EioPacket,
    EioPacketType,
    SioDecoder,
    SioPacket,
    decode_payload,
    encode_payload,
)

ROOT = Path(__file__).resolve().parents[2]
PARSER_CLI = ROOT / "tests" / "interop" / "node_tools" / "parser_cli.js"
NODE_MODULES = ROOT / "reference_server" / "node" / "node_modules"

pytestmark = pytest.mark.node

NODE_DIFF = settings(derandomize=True, max_examples=60, deadline=None)

# Invalid vectors that socket.io-parser 4.2.7 / engine.io-parser 5.2.x ACCEPT and we reject,
# on purpose. Each entry says why. Anything Node accepts that is not listed fails the test.
STRICTER_THAN_NODE: dict[str, str] = {
    # socket.io-parser: Number(str.charAt(0)) is 0 for "" and whitespace, so both are CONNECT
    "empty_text": "an empty text message is not a packet",
    "whitespace_type": "' ' is not a packet type (Number(' ') == 0 in JS)",
    # spec: EVENT payload MUST be a non-empty array, ACK payload an array with the same id;
    # Node only validates a payload when one is present
    "event_without_payload": "spec: EVENT needs a non-empty array",
    "event_admin_without_payload": "spec: EVENT needs a non-empty array",
    "event_id_without_payload": "spec: EVENT needs a non-empty array",
    "binary_event_without_payload": "spec: EVENT needs a non-empty array",
    "ack_without_id": "spec: an ACK carries the id of the packet it acknowledges",
    "binary_ack_without_id": "spec: an ACK carries the id of the packet it acknowledges",
    "ack_without_payload": "spec: ACK payload is an array",
    "connect_error_without_payload": "spec v5: CONNECT_ERROR carries {message, data}",
    "connect_with_ack_id": "ack ids only on EVENT/ACK",
    "disconnect_with_ack_id": "ack ids only on EVENT/ACK",
    # attachment count: Node's `buf != Number(buf)` admits "1.0", "0x1", " 1"
    "attachments_decimal_count": "attachment count must be decimal digits",
    "attachments_hex_count": "attachment count must be decimal digits",
    "attachments_space_count": "attachment count must be decimal digits",
    # placeholders: Node checks only typeof num === "number"
    "placeholder_num_float": "placeholder num must be an integer (Python reads 0.0 as float)",
    "placeholder_num_fraction": "placeholder num must be an integer (Node yields undefined)",
    # Node reads whitespace after the header as ack-id digits: Number(" ") == 0
    "whitespace_before_payload": "Node reads '2 [..]' as ack id 0; refuse instead of guessing",
    "whitespace_before_ack_payload": "Node reads '3/admin, [..]' as ack id 0",
    # engine.io-parser: Buffer.from(s, "base64") never fails
    "base64_bad_alphabet": "invalid base64 is refused (Node decodes garbage leniently)",
    "base64_missing_padding": "unpadded base64 is refused",
    "base64_with_newline": "base64 with whitespace is refused",
    "bad_base64_inside": "invalid base64 is refused",
}


class NodeParsers:
    """A JSON-lines client of parser_cli.js."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(PARSER_CLI)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )

    def ask(self, op: str, **request: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        line = json.dumps({"op": op, **request}) + "\n"
        self.proc.stdin.write(line.encode("utf-8"))
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"parser_cli.js exited with {self.proc.wait()}")
        return json.loads(answer)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    # -- Socket.IO --

    def sio_decode(self, frames: list[str | bytes]) -> dict[str, Any] | None:
        """The one packet Node decodes from these frames, or None if it rejects them."""
        answer = self.ask("sio_decode", frames=to_json(frames))
        if answer["error"] is not None or answer["incomplete"] or len(answer["packets"]) != 1:
            return None
        return answer["packets"][0]

    def sio_encode(self, packet: SioPacket) -> list[str | bytes]:
        request = {"type": plain_type(packet).value, "nsp": packet.namespace, "id": packet.id}
        if packet.data is not None:
            request["data"] = to_json(packet.data)
        answer = self.ask("sio_encode", packet=request)
        assert answer["error"] is None, answer
        return from_json(answer["frames"])

    # -- Engine.IO --

    def eio_decode_packet(self, wire: str | bytes) -> dict[str, Any] | None:
        answer = self.ask("eio_decode_packet", packet=to_json(wire))
        assert answer["error"] is None, answer
        packet = answer["packet"]
        return None if packet["type"] == "error" else packet

    def eio_decode_payload(self, body: str) -> list[dict[str, Any]] | None:
        answer = self.ask("eio_decode_payload", payload=body)
        assert answer["error"] is None, answer
        packets = answer["packets"]
        return None if any(p["type"] == "error" for p in packets) else packets


@pytest.fixture(scope="module")
def node() -> NodeParsers:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (needed for the socket.io-parser oracle)")
    if not (NODE_MODULES / "socket.io-parser").is_dir():
        pytest.skip(
            "reference_server/node/node_modules missing: cd reference_server/node && npm ci"
        )
    if not PARSER_CLI.is_file():
        pytest.skip(f"{PARSER_CLI.relative_to(ROOT)} is missing")
    parsers = NodeParsers()
    yield parsers
    parsers.close()


def node_view(packet: SioPacket) -> dict[str, Any]:
    """Our packet as parser_cli.js renders Node's."""
    return {
        "type": plain_type(packet).value,
        "wire_type": packet.type.value,
        "nsp": packet.namespace,
        "id": packet.id,
        "data": to_json(packet.data),
    }


def numbers_as_floats(value: Any) -> Any:
    """JSON.stringify prints 6.331493769264841e+16 as 63314937692648410: compare as doubles."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, list):
        return [numbers_as_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    return value


def same_as_node(ours: SioPacket, theirs: dict[str, Any]) -> bool:
    theirs = {k: theirs[k] for k in ("type", "wire_type", "nsp", "id", "data")}
    ours_view = node_view(ours)
    theirs["data"] = numbers_as_floats(theirs["data"])
    ours_view["data"] = numbers_as_floats(ours_view["data"])
    return theirs == ours_view


def js_safe(value: Any) -> bool:
    """True if JSON.parse/stringify keep the value as is (no big ints, no infinities)."""
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        return True
    if isinstance(value, int):
        return abs(value) <= 2**53
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, list):
        return all(js_safe(v) for v in value)
    if isinstance(value, dict):
        return "__proto__" not in value and all(js_safe(v) for v in value.values())
    return False


def safe_packet(packet: SioPacket) -> bool:
    return js_safe(packet.data) and (packet.id is None or packet.id <= 2**53)


# -- Socket.IO vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("case", vectors("socketio", "valid"), ids=ids)
def test_sio_valid_vector_decodes_the_same(node, case):
    theirs = node.sio_decode(from_json(case["frames"]))
    assert theirs is not None, "Node rejects a vector we call valid"
    assert same_as_node(sio_packet(case["packet"]), theirs)


@pytest.mark.parametrize("case", vectors("socketio", "valid"), ids=ids)
def test_sio_valid_vector_encodes_the_same(node, case):
    packet = sio_packet(case["packet"])
    assert node.sio_encode(packet) == packet.encode()


@pytest.mark.parametrize("case", vectors("socketio", "invalid"), ids=ids)
def test_sio_invalid_vector_verdict(node, case):
    frames = from_json(case["frames"])
    with pytest.raises(RemoteProtocolError):
        sio_feed(frames)
    node_accepts = node.sio_decode(frames) is not None
    assert node_accepts == (case["node"] == "accept")
    assert node_accepts == (case["name"] in STRICTER_THAN_NODE)


def test_allow_list_names_real_vectors():
    names = {c["name"] for c in vectors("socketio", "invalid")}
    names |= {c["name"] for c in vectors("engineio", "invalid_packets")}
    names |= {c["name"] for c in vectors("engineio", "invalid_payloads")}
    assert set(STRICTER_THAN_NODE) <= names


# -- Socket.IO generated -------------------------------------------------------------------


@NODE_DIFF
@given(sio_packets().filter(safe_packet))
def test_sio_our_encoding_decodes_the_same_in_node(node, packet):
    frames = packet.encode()
    theirs = node.sio_decode(frames)
    assert theirs is not None
    assert same_as_node(sio_feed(frames, SioDecoder(max_attachments=len(frames))), theirs)


@NODE_DIFF
@given(sio_packets().filter(safe_packet))
def test_sio_node_encoding_decodes_the_same_in_ours(node, packet):
    frames = node.sio_encode(packet)
    ours = sio_feed(frames, SioDecoder(max_attachments=len(frames)))
    assert (plain_type(ours), ours.namespace, ours.id, numbers_as_floats(ours.data)) == (
        plain_type(packet),
        packet.namespace,
        packet.id,
        numbers_as_floats(packet.data),
    )


VALID_SIO = [from_json(c["frames"]) for c in vectors("socketio", "valid")]
grammar_text = st.lists(st.sampled_from(SIGNIFICANT), max_size=24).map("".join)


@settings(NODE_DIFF, max_examples=400)
@given(
    st.lists(grammar_text | mutated([f[0] for f in VALID_SIO]), min_size=1, max_size=1)
    | st.sampled_from(VALID_SIO).flatmap(
        lambda fr: st.tuples(mutated([fr[0]]), st.just(fr[1:])).map(lambda t: [t[0], *t[1]])
    )
)
def test_sio_fuzz_never_laxer_than_node(node, frames):
    try:
        ours = sio_feed(frames)
    except RemoteProtocolError:
        return
    theirs = node.sio_decode(frames)
    assert theirs is not None, f"we accept {frames!r}, Node rejects it"
    if safe_packet(ours):
        assert same_as_node(ours, theirs)


# -- Engine.IO -----------------------------------------------------------------------------

EIO_NAMES = {t: t.name.lower() for t in EioPacketType}


def eio_view(packet: EioPacket) -> dict[str, Any]:
    view: dict[str, Any] = {"type": EIO_NAMES[packet.type]}
    if packet.data != "":  # engine.io-parser omits empty text data
        view["data"] = to_json(packet.data)
    return view


@pytest.mark.parametrize("case", vectors("engineio", "packets"), ids=ids)
@pytest.mark.parametrize("transport", ["ws", "polling"])
def test_eio_packet_vector(node, case, transport):
    wire = from_json(case.get(transport, case.get("wire")))
    expected = eio_packet(case["packet"])
    assert node.eio_decode_packet(wire) == eio_view(expected)
    if not (isinstance(expected.data, bytes) and not expected.data):  # Buffer(0) has no data
        answer = node.ask(
            "eio_encode_packet", packet=eio_view(expected), supportsBinary=transport == "ws"
        )
        assert from_json(answer["packet"]) == wire


@pytest.mark.parametrize("case", vectors("engineio", "payloads"), ids=ids)
def test_eio_payload_vector(node, case):
    expected = [eio_packet(p) for p in case["packets"]]
    assert node.eio_decode_payload(case["wire"]) == [eio_view(p) for p in expected]
    answer = node.ask("eio_encode_payload", packets=[eio_view(p) for p in expected])
    assert answer["payload"] == encode_payload(expected) == case["wire"]


@pytest.mark.parametrize("case", vectors("engineio", "invalid_packets"), ids=ids)
def test_eio_invalid_packet_verdict(node, case):
    with pytest.raises(RemoteProtocolError):
        EioPacket.decode(case["wire"])
    node_accepts = node.eio_decode_packet(case["wire"]) is not None
    assert node_accepts == (case["node"] == "accept")
    assert node_accepts == (case["name"] in STRICTER_THAN_NODE)


@pytest.mark.parametrize("case", vectors("engineio", "invalid_payloads"), ids=ids)
def test_eio_invalid_payload_verdict(node, case):
    with pytest.raises(RemoteProtocolError):
        decode_payload(case["wire"])
    node_accepts = node.eio_decode_payload(case["wire"]) is not None
    assert node_accepts == (case["node"] == "accept")
    assert node_accepts == (case["name"] in STRICTER_THAN_NODE)


@NODE_DIFF
@given(st.text(max_size=30) | mutated(["4hello\x1e2\x1e4world", "bAQIDBA==\x1e40", "6"]))
def test_eio_payload_fuzz_never_laxer_than_node(node, body):
    try:
        ours = decode_payload(body)
    except RemoteProtocolError:
        return
    theirs = node.eio_decode_payload(body)
    assert theirs == [eio_view(p) for p in ours]


@NODE_DIFF
@given(st.lists(st.binary(max_size=12).map(bytes), min_size=1, max_size=4))
def test_eio_binary_base64_agrees(node, items):
    packets = [EioPacket(EioPacketType.MESSAGE, b) for b in items]
    answer = node.ask("eio_encode_payload", packets=[eio_view(p) for p in packets])
    assert answer["payload"] == encode_payload(packets)
    assert [base64.b64decode(p.encode_polling()[1:]) for p in packets] == items
