"""Every file in scenarios/, shortened, against the Python reference server and the Node twin."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import NODE_SERVER, node, run_text, violations
from wsbench.scenario import load_scenario

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
IDS = [p.stem for p in sorted((ROOT / "scenarios").glob("*.yaml"))]


def _short(path):  # noqa: ANN001
    s = load_scenario(path)
    counted = sum(g.count or 0 for g in s.groups)
    # reconnect.yaml restarts the server at 5 s, 2 s down: the herd needs ~10 s more
    duration = "16s" if path.stem == "reconnect" else "6s"
    return {"clients": max(counted, min(s.clients, 60)), "duration": duration}


def _check_fault_steps(path, s) -> None:  # noqa: ANN001
    """The scenarios whose point is a fault must really have run it."""
    if path.stem == "reconnect":
        rec = s.sections.reconnection
        assert s.sections.server.restarts == 1 and rec.server_restarts == 1
        assert sum(rec.herd.count) >= 50, rec  # (nearly) every client came back
        assert s.metrics["counters"].get("faults.drop_transport", 0) > 0
        assert s.metrics["counters"].get("faults.server_disconnect", 0) > 0
        assert all(t.passed for t in s.sections.thresholds), s.sections.thresholds
    if path.stem == "volatile":
        volatile = s.sections.delivery.volatile
        assert s.metrics["counters"].get("stalls", 0) == 3
        assert volatile.drops > 0, volatile  # the stalled sockets lost some
        assert s.sections.delivery.delivery_ratio == 1.0  # reliable: all, in order


def _need_cluster_tools(path) -> None:  # noqa: ANN001
    """cluster.yaml starts Redis and HAProxy (tests/cluster/conftest.py's rule: fail in CI)."""
    from tests.cluster.conftest import IN_CI
    from wsbench.launch.cluster import haproxy_available, redis_available

    if load_scenario(path).cluster and not IN_CI and not (redis_available() and haproxy_available()):
        pytest.skip("an embedded cluster needs redis-server and haproxy (apt-get install)")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_scenario_on_reference_server(path, tmp_path) -> None:
    _need_cluster_tools(path)
    outcome = run_text(path.read_text(), tmp_path, source=str(path), **_short(path))
    s = outcome.summary
    assert (tmp_path / "summary.json").exists()
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    assert s.sections.connections.connected > 0
    assert s.sections.connections.peak > 0  # the gauge counts connected sockets (it read 0)
    assert s.target.embedded and s.sections.server.stopped
    _check_fault_steps(path, s)
    failed = [t for t in s.sections.thresholds if not t.passed]
    assert outcome.exit_status == 0 and not failed, failed  # every bundled scenario passes


@node
@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", SCENARIOS, ids=IDS)
def test_scenario_on_node_twin(path, tmp_path) -> None:
    text = path.read_text()
    cluster = load_scenario(path).cluster
    if cluster:  # the cluster starts its own nodes: a mixed one, Python and Node twin nodes
        _need_cluster_tools(path)
        embedded = f"target: {{embedded: {{nodes: {cluster}}}}}"
        assert embedded in text
        text = text.replace(embedded, f"target: {{embedded: {{nodes: {cluster}, kind: mixed}}}}")
    outcome = run_text(
        text, tmp_path, server=("node", str(NODE_SERVER)), source=str(path), **_short(path),
    )
    s = outcome.summary
    if cluster:
        assert any("nodes: python, node, python" in m for m in s.sections.messages or ()), (
            s.sections.messages)
        assert s.sections.delivery.cross_node.nodes == cluster
    else:
        assert "node twin" in s.target.server
    assert not s.partial, s.partial_reason
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    _check_fault_steps(path, s)
