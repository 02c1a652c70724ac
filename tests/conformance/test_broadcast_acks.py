"""The 'broadcast with ack' checks (issue 13 #3) on the reference server, the Node twin (the
official socket.io 4.8 broadcast-with-ack) and a target without the trigger."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import run
from wsbench.conformance.runner import TargetSpec

CASES = ["contract.broadcast.with-ack*"]
IDS = {"contract.broadcast.with-ack", "contract.broadcast.with-ack-timeout"}


def verdicts(spec: TargetSpec) -> dict[str, str]:
    report = run(spec, ["contract"], CASES)
    assert set(report.results) == IDS
    return {cid: f"{r.verdict}: {r.reason}" for cid, r in report.results.items()}


@pytest.mark.timeout(60)
def test_reference_server_answers_every_recipient_and_reports_partial(reference) -> None:
    got = verdicts(reference)
    assert all(v.startswith("OK") for v in got.values()), got
    assert "answers ['A', 'B'], timedOut True" in got["contract.broadcast.with-ack-timeout"]
    assert "answers ['A', 'B', 'C'], timedOut False" in got["contract.broadcast.with-ack"]


@pytest.mark.node
@pytest.mark.timeout(60)
def test_node_twin_on_official_broadcast_acks(node_twin) -> None:
    got = verdicts(node_twin)
    assert all(v.startswith("OK") for v in got.values()), got


@pytest.mark.timeout(60)
def test_a_target_without_the_trigger_is_unimplemented(python_socketio) -> None:
    got = verdicts(python_socketio)
    assert all(v.startswith("UNIMPLEMENTED") for v in got.values()), got
