"""``wsbench conform --app`` on binary events (issue 13 #2): the file's ``binary:`` arguments get
stamped blobs (100 bytes, every 8th send 64 KiB), judged exactly once and byte for byte.

Real servers over loopback: ``wsbench conform --target embedded --app
scenarios/apps/reference.yaml`` on both parsers (``broadcast room`` carries binary ``data``),
the Node twin on the default parser, and a python-socketio server wsbench did not write
(tests/targets/python_socketio_binary.py) correct and with one byte of every 25th blob flipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conformance.test_app import REFERENCE, failed, run_app
from tests.conftest import ROOT, TIMEOUT_FACTOR
from wsbench import launch
from wsbench.cli import cli
from wsbench.conformance.checks.app_traffic import BLOB_LARGE, BLOB_SMALL, MESSAGES
from wsbench.conformance.embedded import APP_OPTIONS
from wsbench.conformance.runner import TargetSpec
from wsbench.launch import Server, ServerSpec, node_twin_available

BINARY = Path(__file__).parent / "apps" / "binary.yaml"
LARGE = MESSAGES // 8  # every 8th send
BLOBS = {str(BLOB_SMALL): MESSAGES - LARGE, str(BLOB_LARGE): LARGE}


def _blobs(behaviour: str, details: dict[str, object]) -> dict[str, int]:
    """The blobs a behaviour's run sent: the shared experiment's 460 sends, or the order
    check's own run (462 sends by 3 concurrent senders, more in later rounds), every 8th
    64 KiB."""
    if behaviour != "order":
        return BLOBS
    n = int(details["sent"])  # type: ignore[call-overload]
    return {str(BLOB_SMALL): n - n // 8, str(BLOB_LARGE): n // 8}
JUDGED = ("exactly-once", "payload", "no-leak", "room-isolation", "order")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_conform_embedded_reference_yaml_sends_and_judges_binary_data(parser: str,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "conform.json"
    args = ["conform", "--target", "embedded", "--app", str(REFERENCE), "--tier", "contract,load",
            "--cases", "app.root.broadcast-room.*", "--json", str(out),
            "--timeout-factor", str(TIMEOUT_FACTOR)]
    if parser != "default":
        args += ["--parser", parser]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    results = json.loads(out.read_text())["results"]["embedded"]
    for behaviour in JUDGED:
        r = results[f"app.root.broadcast-room.{behaviour}"]
        # order sends in rounds until it has the power for 1 in 100 (app_order.py): OK
        assert r["verdict"] == "OK", (behaviour, r["reason"])
        blobs = _blobs(behaviour, r["details"])
        assert r["details"]["blobs"] == blobs, r["details"]
        assert f"binary: {blobs[str(BLOB_SMALL)]} of {BLOB_SMALL} bytes, " \
            f"{blobs[str(BLOB_LARGE)]} of 65536 bytes" in r["reason"]
    # A and B are in the room: every send owes both a byte-equal copy
    assert results["app.root.broadcast-room.payload"]["reason"].startswith(
        f"{2 * MESSAGES} copies match")


@pytest.mark.timeout(180)
def test_node_twin_carries_binary_data_through_unchanged() -> None:
    if not node_twin_available():
        pytest.skip("needs node and npm ci --prefix reference_server/node")
    with Server(launch.node_twin(*APP_OPTIONS)) as main:
        report = run_app(TargetSpec(main.url, "node"), REFERENCE, ("app.root.broadcast-room.*",))
    assert failed(report) == {}
    for behaviour in JUDGED:
        r = report.results[f"app.root.broadcast-room.{behaviour}"]
        assert str(r.verdict) == "OK" and r.details["blobs"] == _blobs(behaviour, r.details), \
            (behaviour, r.reason)


def _binary_target(parser: str, corrupt_every: int = 0) -> ServerSpec:
    return ServerSpec(
        (sys.executable, str(ROOT / "tests" / "targets" / "python_socketio_binary.py"),
         "--parser", parser, "--corrupt-every", str(corrupt_every)),
        cwd=str(ROOT), name="python-socketio binary target",
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("parser", ["default", "msgpack"])
def test_a_server_that_flips_one_byte_fails_payload_and_the_correct_one_passes(parser: str) -> None:
    cases = ("app.root.blob.*",)
    with Server(_binary_target(parser)) as server:
        good = run_app(TargetSpec(server.url, "python-socketio", parser=parser), BINARY, cases)
    assert failed(good) == {}
    for behaviour in ("exactly-once", "payload", "sender-exclusion", "ack"):
        r = good.results[f"app.root.blob.{behaviour}"]
        assert str(r.verdict) == "OK", (behaviour, r.reason)
    assert good.results["app.root.blob.payload"].details["blobs"] == BLOBS
    with Server(_binary_target(parser, corrupt_every=25)) as server:
        bad = run_app(TargetSpec(server.url, "python-socketio", parser=parser), BINARY, cases)
    payload = bad.results["app.root.blob.payload"]
    assert str(payload.verdict) == "FAILED", payload.reason
    # 460 // 25 = 18 corrupted sends, each pushed to the 3 others
    assert payload.details["mismatches"] == 3 * (MESSAGES // 25), payload.reason
    assert "differ from the file's payload" in payload.reason
    assert "bytes, differing first at byte" in payload.reason, payload.reason
    assert "[0].data:" in payload.reason and len(payload.reason) < 400, payload.reason
