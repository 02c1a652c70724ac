"""The oracle judges across nodes (issue 12 #3): delivery latency split into recipients on the
sender's node and recipients on another node (the adapter's lag).

Unit level on the sans-I/O oracle (nodes from the membership, the journal carrying them to a
judge that splits exactly as one process does), then scenarios/cluster.yaml shortened on a
real embedded cluster (redis-server, 3 reference nodes, HAProxy) in one process and with
--processes 2: summary.json's ``delivery.cross_node``, its histograms, the console line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.e2e.conftest import run_text, violations
from wsbench.metrics import Metrics, RunSummary
from wsbench.oracle import DeliveryOracle, Semantics
from wsbench.oracle.stamp import Stamp
from wsbench.report.console import summary_lines
from wsbench.report.html import render_html
from wsbench.scenario.journal import JournalReader, JournalWriter, RecordingOracle
from wsbench.scenario.judge import NODE_HISTOGRAMS, Judge, node_latency_sink

TEXT = (Path(__file__).resolve().parents[2] / "scenarios" / "cluster.yaml").read_text()
SHORT = {"clients": 45, "duration": 6.0}
MS = 1_000_000


def _stamp(n: int, sent_ns: int) -> Stamp:
    return Stamp.new("r", 0, n, sent_ns)


def _drive(oracle, sender_node_of) -> None:
    """4 clients, nodes 0,1,0,1; client 0 broadcasts twice; copies 1 ms (same node) or 5 ms
    (other node) after the send."""
    m = oracle.membership
    for c in range(4):
        m.connected(c, "/", f"sid{c}", 1, sender_node_of(c))
    for n in range(2):
        sent = (10 + n) * MS
        oracle.expect_emit(_stamp(n, sent), 0, "/", Semantics.OTHERS, deadline_ns=sent + 999 * MS)
        for c in (1, 2, 3):
            lag = 1 * MS if c % 2 == 0 else 5 * MS
            oracle.observe_delivery(_stamp(n, sent), c, "/", sent + lag)


def test_the_oracle_splits_latency_by_the_recipients_node() -> None:
    metrics = Metrics()
    oracle = DeliveryOracle(on_node_latency=node_latency_sink(metrics))
    _drive(oracle, lambda c: c % 2)
    v = oracle.verdict()
    assert (v.nodes, v.same_node_deliveries, v.other_node_deliveries) == (2, 2, 4)
    same, other = (metrics.histogram(n) for n in NODE_HISTOGRAMS)
    assert (same.count, other.count) == (2, 4)
    assert same.max < 2000 <= 4000 < other.min  # µs: 1 ms vs 5 ms


def test_without_nodes_nothing_is_split() -> None:
    metrics = Metrics()
    oracle = DeliveryOracle(on_node_latency=node_latency_sink(metrics))
    _drive(oracle, lambda c: None)
    v = oracle.verdict()
    assert (v.nodes, v.same_node_deliveries, v.other_node_deliveries) == (0, 0, 0)
    assert not set(NODE_HISTOGRAMS) & set(metrics.histogram_names)


def test_the_journal_carries_the_node_to_the_judge(tmp_path: Path) -> None:
    path = tmp_path / "child.journal"
    writer = JournalWriter(path)
    _drive(RecordingOracle(writer), lambda c: c % 2)
    writer.close()
    judge = Judge([JournalReader(path)], origin_ns=0, origin_wall=0.0)
    judge.poll(everything=True)
    v = judge.oracle.verdict()
    assert (v.nodes, v.same_node_deliveries, v.other_node_deliveries) == (2, 2, 4)
    assert [judge.metrics.histogram(n).count for n in NODE_HISTOGRAMS] == [2, 4]


@needs_redis
@needs_haproxy
@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("processes", [1, 2])
def test_cluster_scenario_reports_same_node_and_other_node_latency(processes, tmp_path) -> None:
    outcome = run_text(TEXT, tmp_path, processes=processes, **SHORT)
    summary = outcome.summary
    assert outcome.exit_status == 0, violations(summary)
    cross = summary.sections.delivery.cross_node
    assert cross.nodes == 3
    # 45 clients round-robin over 3 nodes: about 1/3 of a room's others are on the sender's node
    assert cross.same_node.count > 100 and cross.other_node.count > 2 * cross.same_node.count * 0.8
    assert cross.same_node.count + cross.other_node.count == summary.sections.delivery.delivered
    assert cross.other_node.p50_ms > 0 and cross.same_node.p50_ms > 0
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data["sections"]["delivery"]["cross_node"]["nodes"] == 3
    assert RunSummary.from_dict(data).to_dict() == data
    text = "\n".join(summary_lines(summary))
    assert "same node" in text and "other node" in text and "adapter lag" in text
    page = render_html(summary)
    assert "Cluster: delivery latency (ms) by recipient, 3 nodes" in page


def test_a_single_server_run_has_no_cross_node_section(tmp_path) -> None:
    one = TEXT.replace("target: {embedded: {nodes: 3}}", "target: embedded", 1)
    assert one != TEXT
    outcome = run_text(one, tmp_path, clients=18, duration=6.0)
    assert outcome.summary.sections.delivery.delivered > 0
    data = json.loads((tmp_path / "summary.json").read_text())
    assert "cross_node" not in data["sections"]["delivery"]
    assert "adapter lag" not in "\n".join(summary_lines(outcome.summary))
    assert "Cluster: delivery latency" not in render_html(outcome.summary)
