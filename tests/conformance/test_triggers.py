"""A check that needs a trigger the target does not offer is UNIMPLEMENTED, never FAILED.

python-socketio runs the official harness (it acks ``message-with-ack``) but none of the
contract's triggers: every contract check is UNIMPLEMENTED, the containment and ack-load
checks measure with the harness's acked event instead of ``echo``, and nothing FAILS. With
``--harness-only`` it lacks ``request ack`` too: the server-ack checks are UNIMPLEMENTED,
like volatile. The reference server with ``--fault drop-acks`` acks nothing, so a silent
trigger there is a fault, not a missing trigger: those checks FAIL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from tests.conformance.conftest import run, unexpected
from tests.conftest import ROOT
from wsbench.conformance.embedded import embedded_targets
from wsbench.conformance.runner import TargetSpec
from wsbench.launch import Server, ServerSpec

APP = str(ROOT / "tests" / "targets" / "python_socketio_app.py")

MEASURED_WITHOUT_ECHO = (
    "security.limits.oversized-payload-contained",
    "security.limits.flood-contained",
    "load.acks.within-timeout",
)


@pytest.fixture(scope="module")
def harness_only() -> Iterator[TargetSpec]:
    app = ServerSpec((sys.executable, APP, "--harness-only"), cwd=str(ROOT), name="harness-only")
    with Server(app) as server:
        yield TargetSpec(server.url, "python-socketio --harness-only")


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_missing_contract_triggers_are_unimplemented_not_failed(
    python_socketio: TargetSpec,
) -> None:
    report = run(python_socketio, ["contract", "security", "load"])
    expected = {cid: "UNIMPLEMENTED" for cid in report.results if cid not in MEASURED_WITHOUT_ECHO}
    assert unexpected(report, expected) == {}
    assert "'message-with-ack'" in report.results["load.acks.within-timeout"].reason
    echo = report.results["contract.harness.echo"].reason
    assert "does not offer 'echo'" in echo and "acks 'message-with-ack'" in echo


@pytest.mark.timeout(60)
def test_server_ack_checks_without_the_trigger_are_unimplemented(
    harness_only: TargetSpec,
) -> None:
    report = run(harness_only, cases=["sio.message.server-*", "sio.message.volatile"])
    expected = dict.fromkeys(report.results, "UNIMPLEMENTED")
    assert len(expected) == 3
    assert unexpected(report, expected) == {}


@pytest.mark.timeout(60)
def test_a_target_that_acks_nothing_fails_instead_of_looking_unimplemented() -> None:
    cases = ["contract.harness.echo", "sio.message.server-ack", "load.acks.within-timeout"]
    with embedded_targets(["--fault", "drop-acks"]) as spec:
        report = run(spec, cases=cases)
    assert unexpected(report, dict.fromkeys(cases, "FAILED")) == {}
