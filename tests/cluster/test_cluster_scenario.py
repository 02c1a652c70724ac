"""scenarios/cluster.yaml on an embedded cluster (real redis-server, 3 reference nodes, HAProxy).

Shortened, it passes on a correct cluster with its clients spread over the three nodes, and
fails on each Redis adapter fault of the reference server with the violation it causes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.e2e.conftest import run_text, violations
from wsbench.scenario import loads_scenario

pytestmark = [needs_redis, needs_haproxy, pytest.mark.slow, pytest.mark.timeout(240)]

PATH = Path(__file__).resolve().parents[2] / "scenarios" / "cluster.yaml"
TEXT = PATH.read_text()
SHORT = {"clients": 45, "duration": 7.0}

FAULTS = {
    "adapter-double-emit": "duplicate",
    "adapter-drop-remote": "missing",
    "adapter-publish-per-room": "duplicate",
}


def with_fault(fault: str) -> str:
    assert "server:\n" in TEXT
    return TEXT.replace("server:\n", f"server:\n  faults: [{fault}]\n", 1)


def test_the_file_names_an_embedded_cluster_of_three_nodes() -> None:
    scenario = loads_scenario(TEXT, str(PATH))  # its app: file resolves next to it
    assert (scenario.target, scenario.cluster, scenario.nodes) == ("embedded", 3, ())


def test_cluster_scenario_passes_on_a_correct_cluster(tmp_path) -> None:
    outcome = run_text(TEXT, tmp_path, **SHORT)
    summary = outcome.summary
    assert outcome.exit_status == 0, (violations(summary), summary.sections.warnings)
    assert violations(summary) == {} or not any(violations(summary).values())
    assert summary.sections.delivery.expected > 1000
    assert summary.target.server.startswith("wsbench embedded cluster")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_cluster_scenario_fails_on_each_adapter_fault(fault: str, tmp_path) -> None:
    outcome = run_text(with_fault(fault), tmp_path, **SHORT)
    counts = violations(outcome.summary)
    assert outcome.exit_status == 1, counts
    assert counts.get(FAULTS[fault], 0) > 0, counts
