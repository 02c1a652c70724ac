"""The gate against real servers on loopback: the reference server, the Node twin, python-socketio.

Expected non-OK verdicts are spelled out: anything else (in particular any FAILED on the
reference implementations) breaks the test.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import run, unexpected
from wsbench.conformance.runner import TargetSpec

# Spec-open behaviour, documented in docs/conformance.md (research §2.4).
REFERENCE_ALLOWED = {
    "eio.heartbeat.websocket.client-ping": "INFORMATIONAL",
    "sio.connect.event-before-connect-ack": "INFORMATIONAL",
    "sio.message.volatile": "INFORMATIONAL",
}
NODE_EXPECTED = {
    **REFERENCE_ALLOWED,
    "eio.close.websocket.forced-close": "NON-STRICT",  # Node ignores '1' on a WebSocket (§1.4)
}

# What the research note measured on python-socketio 5.18.1 / python-engineio 4.15.1 (§1.4, §4):
# the official failures E1 E3 E4 E5 E8-E12 E18 E21 E23-E25 (11/25 pass) and S21, plus the
# heartbeat-masked S22 S30 S31 S32 (strict) and S23 (no connect timeout: NON-STRICT here).
# Three of the official failures were the suite's timing, not python-engineio (issue 9 #1: no
# verdict on a fixed sleep): E24 passes once the upgrade is proven processed (an echo over the
# WebSocket) instead of 20 ms later; E25 is the documented NON-STRICT (the second WebSocket is
# refused at the HTTP upgrade); E18 closes at its real 300 + 200 ms, within the close bound
# of the (wrongly) advertised 0 + 200 ms, which opens-session already FAILS.
PYTHON_SOCKETIO_EXPECTED = {
    "eio.handshake.polling.opens-session": "FAILED",  # pingInterval 0.3 s advertised as 0
    "eio.handshake.polling.rejects-invalid-transport": "FAILED",  # missing transport -> polling
    "eio.handshake.polling.rejects-invalid-method": "FAILED",  # PUT -> 405
    "eio.handshake.websocket.opens-session": "FAILED",
    "eio.handshake.polling.error-body": "INFORMATIONAL",
    "eio.message.polling.one-text-packet": "FAILED",  # 'OK' not 'ok'
    "eio.message.polling.several-text-packets": "FAILED",
    "eio.message.polling.text-and-binary": "FAILED",
    "eio.message.polling.utf8-multibyte": "FAILED",
    "eio.message.polling.invalid-packet-closes": "FAILED",
    "eio.message.polling.duplicate-poll-closes": "FAILED",
    "eio.message.polling.rejects-binary-content-type": "NON-STRICT",
    "eio.heartbeat.websocket.client-ping": "INFORMATIONAL",
    "eio.heartbeat.websocket.interval-accuracy": "NON-STRICT",  # advertised 0 ms
    "eio.close.polling.forced-close": "FAILED",
    "eio.close.websocket.forced-close": "NON-STRICT",
    "eio.upgrade.polling-to-websocket": "FAILED",  # extra '6' flushed to the WebSocket
    "eio.upgrade.ignores-second-websocket": "NON-STRICT",  # refused at the HTTP upgrade
    "eio.limits.polling.max-payload": "NON-STRICT",  # no HTTP answer instead of 413
    "eio.limits.polling.large-batch": "INFORMATIONAL",  # >16 packets dropped
    "sio.connect.unknown-namespace": "FAILED",  # 44/random,"Unable to connect"
    "sio.connect.invalid-handshake-closes": "FAILED",
    "sio.connect.no-handshake-closes": "NON-STRICT",
    "sio.connect.double-connect-closes": "NON-STRICT",
    "sio.connect.event-before-connect-ack": "INFORMATIONAL",
    "sio.message.unknown-type-closes": "FAILED",
    "sio.message.invalid-payload-closes": "FAILED",
    "sio.message.invalid-ack-id-closes": "FAILED",
    "sio.message.volatile": "UNIMPLEMENTED",  # no volatile in python-socketio
    "sio.parser.empty-event-array-closes": "FAILED",
    "sio.parser.reserved-event-name-closes": "NON-STRICT",
    "sio.parser.disconnect-with-payload-closes": "NON-STRICT",
    "sio.parser.too-many-attachments-closes": "NON-STRICT",
    "sio.parser.bad-placeholder-closes": "NON-STRICT",
    "sio.parser.unexpected-binary-closes": "NON-STRICT",
    "sio.parser.text-while-awaiting-attachments-closes": "NON-STRICT",
    **{
        f"sio.recovery.{name}": "UNIMPLEMENTED"
        for name in (
            "pid-in-connect-answer",
            "offset-appended",
            "replays-missed-before-connect",
            "same-sid",
            "unknown-pid-fresh-session",
        )
    },
}


@pytest.mark.timeout(120)
def test_reference_server_passes_every_tier(reference: TargetSpec) -> None:
    report = run(reference)
    assert unexpected(report, REFERENCE_ALLOWED) == {}
    assert not report.failed


@pytest.mark.node
@pytest.mark.timeout(120)
def test_node_twin_passes_every_tier(node_twin: TargetSpec) -> None:
    report = run(node_twin)
    assert unexpected(report, NODE_EXPECTED) == {}
    for result in report.results.values():
        assert result.transcript and result.reason


@pytest.mark.timeout(120)
def test_python_socketio_matches_the_research_measurements(python_socketio: TargetSpec) -> None:
    report = run(python_socketio, ["engineio", "socketio"])
    assert unexpected(report, PYTHON_SOCKETIO_EXPECTED) == {}
    official = [cid for cid, r in report.results.items() if str(r.verdict) == "FAILED"]
    assert len(official) == 18
