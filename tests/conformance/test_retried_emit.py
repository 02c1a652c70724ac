"""contract.acks.retried-emit-acked (issue 13 #4 in ``wsbench conform``): socket.io-client's
at-least-once retry, i.e. the same EVENT payload under a fresh ack id while the first try's ack
is outstanding, is acked under both ids and broadcasts once per try, on the reference server
and the Node twin; a target without the trigger is UNIMPLEMENTED; a python-socketio target
that deduplicates by payload (tests/targets/python_socketio_retry.py --dedupe) FAILED."""

from __future__ import annotations

import sys

import pytest

from tests.conformance.conftest import run
from tests.conftest import ROOT
from wsbench.conformance.runner import TargetSpec
from wsbench.launch import Server, ServerSpec

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


def _retry_target(*args: str) -> ServerSpec:
    return ServerSpec(
        (sys.executable, str(ROOT / "tests" / "targets" / "python_socketio_retry.py"), *args),
        cwd=str(ROOT), name="python-socketio retry target",
    )


@pytest.mark.timeout(90)
def test_a_server_deduplicating_by_payload_fails_and_the_plain_one_passes() -> None:
    with Server(_retry_target()) as server:
        v, reason, details = verdict(TargetSpec(server.url, "python-socketio"))
    assert v == "OK", reason
    assert details["copies:event"] == {"B": 2}
    with Server(_retry_target("--dedupe")) as server:
        v, reason, _ = verdict(TargetSpec(server.url, "python-socketio"))
    assert v == "FAILED", reason
    # python-socketio acks every packet with an id: the deduplicated retry's ack is empty
    assert reason == "ack of the retry of 'broadcast room': expected {'ok': True}, got None"
