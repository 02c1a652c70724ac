"""Every ``--fault`` of the reference server makes the gate FAIL on the checks that name it."""

from __future__ import annotations

import pytest

from tests.conformance.conftest import run
from wsbench.conformance.embedded import embedded_targets
from wsbench.conformance.registry import FAULTS, fault_index

# Checks that name a fault but cannot see it (none at present).
KNOWN_GAPS: set[tuple[str, str]] = set()


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_is_caught(fault: str) -> None:
    ids = fault_index()[fault]
    # as conform --target embedded: contract/security/load on the default-heartbeat twin
    # (with the fault too), so an overloaded machine's heartbeat closes cannot hide a fault
    with embedded_targets(["--fault", fault], app_tiers=True) as spec:
        report = run(spec, cases=ids)
    assert report.failed, f"--fault {fault} passed the gate"
    escaped = {cid for cid in ids if str(report.results[cid].verdict) != "FAILED"}
    assert escaped <= {cid for f, cid in KNOWN_GAPS if f == fault}, escaped
