"""``wsbench conform --parser msgpack``: the literal packets translated, the wire tiers on msgpack.

The translator is checked packet by packet (what each malformed literal becomes), then the
engineio + socketio tiers run against the reference server and the Node twin, both started with
``--parser msgpack``: 0 FAILED, the attachment rules UNIMPLEMENTED with their reason.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import msgpack
import pytest
from click.testing import CliRunner

from tests.conformance.conftest import unexpected
from tests.conftest import TIMEOUT_FACTOR
from wsbench import launch
from wsbench.cli import cli
from wsbench.conformance.embedded import SUITE_OPTIONS, embedded_targets
from wsbench.conformance.registry import select
from wsbench.conformance.runner import TargetReport, TargetSpec, preflight, run_all
from wsbench.conformance.translate import TEXT_UNDER_MSGPACK, MsgpackTranslator
from wsbench.exceptions import ParserMismatch
from wsbench.launch import Server, node_twin_available
from wsbench.protocol.parser import decode_msgpack

WIRE = ["engineio", "socketio"]
ATTACHMENT_RULES = {
    "sio.parser.too-many-attachments-closes": "UNIMPLEMENTED",
    "sio.parser.bad-placeholder-closes": "UNIMPLEMENTED",
    "sio.parser.text-while-awaiting-attachments-closes": "UNIMPLEMENTED",
}


def _map(frame: str | bytes) -> dict:
    assert isinstance(frame, bytes), frame
    return msgpack.unpackb(frame, raw=False, strict_map_key=False)


def _out(text: str) -> dict:
    wire = MsgpackTranslator().outgoing(text)
    assert wire is not None and len(wire) == 1
    return _map(wire[0])


def test_valid_packets_become_the_official_msgpack_map() -> None:
    assert _out("40") == {"type": 0, "nsp": "/"}
    assert _out('40/custom,{"token":"abc"}') == {
        "type": 0, "data": {"token": "abc"}, "nsp": "/custom"}
    assert _out('42456["message-with-ack",1,"2",{"3":[false]}]') == {
        "type": 2, "data": ["message-with-ack", 1, "2", {"3": [False]}], "nsp": "/", "id": 456}
    assert _out("41/custom") == {"type": 1, "nsp": "/custom"}
    # decodable by wsbench's strict decoder, so the server gets what the official one sends
    assert decode_msgpack(MsgpackTranslator().outgoing('421["x",{"a":1}]')[0]).id == 1


def test_malformed_packets_stay_malformed_in_the_same_way() -> None:
    assert _out("42{}") == {"type": 2, "data": {}, "nsp": "/"}  # payload not an array
    assert _out("42[]") == {"type": 2, "data": [], "nsp": "/"}  # empty EVENT array
    assert _out('42abc["m",1]') == {"type": 2, "data": ["m", 1], "nsp": "/", "id": "abc"}
    assert _out('41{"a":1}') == {"type": 1, "data": {"a": 1}, "nsp": "/"}
    assert _out("4abc")["type"] == "a"  # unknown type stays unknown
    # no JSON after the header: sent as the text it is (refused: msgpack packets are binary)
    assert MsgpackTranslator().outgoing("42[unterminated") is None
    # Engine.IO packets other than MESSAGE, and a binary frame with no attachment due
    assert MsgpackTranslator().outgoing("3") is None
    assert MsgpackTranslator().outgoing(b"\x01\x02\x03") is None


def test_attachments_are_held_then_sent_in_place() -> None:
    tr = MsgpackTranslator()
    ph = '{"_placeholder":true,"num":%d}'
    assert tr.outgoing(f'452-789["message-with-ack",{ph % 0},{ph % 1}]') == []
    assert tr.outgoing(b"\x01\x02\x03") == []
    (frame,) = tr.outgoing(b"\x04\x05")
    assert _map(frame) == {
        "type": 2, "data": ["message-with-ack", b"\x01\x02\x03", b"\x04\x05"], "nsp": "/",
        "id": 789}
    # a text packet while attachments are due: the held header goes first, alone
    assert tr.outgoing(f'451-["m",{ph % 0}]') == []
    held, nxt = tr.outgoing('42["m","x"]')
    assert _map(held)["data"] == ["m", {"_placeholder": True, "num": 0}]
    assert _map(nxt)["data"] == ["m", "x"]


def test_incoming_msgpack_is_read_as_the_default_parsers_frames() -> None:
    tr = MsgpackTranslator()
    binary_ack = msgpack.packb(
        {"type": 3, "data": [b"\x01", {"k": b"\x02"}], "nsp": "/", "id": 7}, use_bin_type=True)
    assert tr.incoming(binary_ack) == [
        '462-7[{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]',
        b"\x01", b"\x02"]
    # Node's CONNECT answer without recovery: {sid, pid: undefined} -> JSON.stringify drops pid
    undefined = msgpack.ExtType(0, b"\x00")
    answer = msgpack.packb({"type": 0, "data": {"sid": "s1", "pid": undefined}, "nsp": "/"})
    assert tr.incoming(answer) == ['40{"sid":"s1"}']
    # not a msgpack packet: handed over as it came; a text MESSAGE can match no expectation
    assert tr.incoming(b"\x01\x02") == [b"\x01\x02"]
    assert tr.incoming('42["auth",{}]') == [TEXT_UNDER_MSGPACK + '42["auth",{}]']
    assert tr.incoming("2") == ["2"]


def test_polling_payloads_are_translated_both_ways() -> None:
    tr = MsgpackTranslator()
    body = tr.outgoing_payload('40\x1e42["message","early"]')
    first, second = body.split("\x1e")
    assert _map(base64.b64decode(first[1:])) == {"type": 0, "nsp": "/"}
    assert _map(base64.b64decode(second[1:]))["data"] == ["message", "early"]
    record = "b" + base64.b64encode(
        msgpack.packb({"type": 2, "data": ["auth", {}], "nsp": "/"})).decode()
    assert tr.incoming_payload(f"2\x1e{record}") == '2\x1e42["auth",{}]'
    assert tr.incoming_payload("ok") == "ok"


def run_wire(spec: TargetSpec) -> TargetReport:
    return asyncio.run(run_all([spec], select(WIRE, ()), factor=TIMEOUT_FACTOR))[0]


@pytest.fixture(scope="module")
def reference_msgpack() -> Iterator[TargetSpec]:
    with embedded_targets(parser="msgpack") as spec:
        yield spec


@pytest.mark.timeout(120)
def test_reference_server_on_msgpack_passes_every_wire_check(
    reference_msgpack: TargetSpec,
) -> None:
    report = run_wire(reference_msgpack)
    expected = {
        "eio.heartbeat.websocket.client-ping": "INFORMATIONAL",
        "sio.connect.event-before-connect-ack": "INFORMATIONAL",
        "sio.message.volatile": "INFORMATIONAL",
        **ATTACHMENT_RULES,
    }
    assert unexpected(report, expected) == {}
    reason = report.results["sio.parser.bad-placeholder-closes"].reason
    assert "no msgpack equivalent" in reason
    # the transcript shows the real wire (binary msgpack) and the text the check wrote
    lines = report.results["sio.message.binary-event"].transcript
    assert any("> <binary " in ln for ln in lines)
    assert any('~ read as 452-["message-back"' in ln for ln in lines)


@pytest.mark.timeout(120)
@pytest.mark.node
def test_node_twin_on_msgpack_passes_every_wire_check() -> None:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    spec = launch.node_twin(*SUITE_OPTIONS, "--parser", "msgpack")
    with (
        Server(spec) as main,
        Server(spec.with_args("--jwt-secret", "node-secret", "--recovery")) as aux,
    ):
        target = TargetSpec(main.url, "node", auth_url=aux.url, auth_secret="node-secret",
                            recovery_url=aux.url, parser="msgpack")
        report = run_wire(target)
    failed = {c: r.reason for c, r in report.results.items() if str(r.verdict) == "FAILED"}
    assert failed == {}
    # the official msgpack parser accepts an empty EVENT array: NON-STRICT, never FAILED
    empty = report.results["sio.parser.empty-event-array-closes"]
    assert str(empty.verdict) == "NON-STRICT" and "msgpack-parser" in empty.reason
    for cid, verdict in ATTACHMENT_RULES.items():
        assert str(report.results[cid].verdict) == verdict


def test_a_parser_mismatch_fails_the_preflight_in_one_line(
    reference_msgpack: TargetSpec,
) -> None:
    wrong = TargetSpec(reference_msgpack.url, "embedded")  # default parser vs msgpack server
    with pytest.raises(ParserMismatch, match="speaks the msgpack parser; run with --parser msgpack"):
        asyncio.run(preflight(wrong, TIMEOUT_FACTOR))


def test_cli_conform_parser_msgpack_embedded() -> None:
    result = CliRunner().invoke(cli, [
        "conform", "--target", "embedded", "--parser", "msgpack", "--tier", "socketio",
        "--cases", "sio.message.*", "--cases", "sio.parser.*",
        "--timeout-factor", str(TIMEOUT_FACTOR),
    ])
    assert result.exit_code == 0, result.output  # 0: nothing FAILED
    assert "no msgpack equivalent" in result.output


def test_cli_conform_parser_mismatch_exits_4(reference_msgpack: TargetSpec) -> None:
    result = CliRunner().invoke(cli, [
        "conform", "--target", reference_msgpack.url, "--tier", "socketio", "--cases", "S1*"])
    assert result.exit_code == 4, result.output
    assert "run with --parser msgpack" in result.output
