"""contract.acks.retried-emit-acked (issue 13 #4 in ``wsbench conform``): socket.io-client's
at-least-once retry, i.e. the same EVENT payload under a fresh ack id while the first try's ack
is outstanding, is acked under both ids and broadcasts once per try, on the reference server
and the Node twin; a target without the trigger is UNIMPLEMENTED."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import run
from wsbench.conformance.runner import TargetSpec

ID = "contract.acks.retried-emit-acked"


def verdict(spec: TargetSpec) -> tuple[str, str, dict]:
    report = run(spec, ["contract"], [ID])
    assert set(report.results) == {ID}
    r = report.results[ID]
    return str(r.verdict), r.reason, dict(r.details)


@pytest.mark.timeout(60)
def test_reference_server_acks_the_retry_and_broadcasts_per_try(reference) -> None:
    v, reason, details = verdict(reference)
    assert v == "OK", reason
    assert "2 copies" in reason
    assert details["copies:event"] == {"B": 2}


@pytest.mark.node
@pytest.mark.timeout(60)
def test_node_twin_acks_the_retry_and_broadcasts_per_try(node_twin) -> None:
    v, reason, _ = verdict(node_twin)
    assert v == "OK", reason


@pytest.mark.timeout(60)
def test_a_target_without_the_trigger_is_unimplemented(python_socketio) -> None:
    v, reason, _ = verdict(python_socketio)
    assert v == "UNIMPLEMENTED", reason
    assert "'broadcast room'" in reason
