"""The ``restart_redis`` scenario fault: scenarios/cluster.yaml, shortened, on 3 embedded Python
nodes with one user restarting Redis mid-run. Copies to other-node recipients of emits in the
outage window are ``lost_during_outage`` (counted, not violations); emits after the window must
reach every other-node recipient (``missing`` otherwise), and did."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster.conftest import needs_haproxy, needs_redis
from tests.e2e.conftest import run_text, violations
from wsbench.oracle import DeliveryOracle
from wsbench.oracle.semantics import Semantics
from wsbench.oracle.stamp import Stamp

TEXT = (Path(__file__).resolve().parents[2] / "scenarios" / "cluster.yaml").read_text()
FAULT_GROUP = """  - name: redis-restarter
    count: 1
    flow:
      - connect: /
      - think: 3s
      - fault: {kind: restart_redis, downtime: 2s}
"""


def with_restart() -> str:
    assert "groups:\n" in TEXT
    return TEXT.replace("groups:\n", "groups:\n" + FAULT_GROUP, 1)


def _oracle() -> DeliveryOracle:
    o = DeliveryOracle()
    o.membership.connected("a", "/", 0, node=0)
    o.membership.connected("b", "/", 0, node=0)  # same node as the sender
    o.membership.connected("c", "/", 0, node=1)  # another node: its copy crosses Redis
    return o


def _emit(o: DeliveryOracle, sid: str, t: int) -> None:
    o.expect_emit(Stamp(sid, "a", int(sid[1:]), t), "a", "/", Semantics.OTHERS, at_ns=t,
                  deadline_ns=t + 1_000)


def test_outage_window_excuses_other_node_copies_only() -> None:
    o = _oracle()
    o.outage_begin(100)
    _emit(o, "s1", 150)  # in the window: c's copy lost, b's owed
    o.observe_delivery(Stamp("s1", "a", 1, 150), "b", "/", 160)
    _emit(o, "s2", 200)  # in the window, b misses too: b's is missing (needs no Redis)
    o.outage_end(100, 300, 400)
    _emit(o, "s3", 500)  # after the window: c's copy is owed
    o.observe_delivery(Stamp("s3", "a", 3, 500), "b", "/", 510)
    _emit(o, "s4", 600)
    o.observe_delivery(Stamp("s4", "a", 4, 600), "b", "/", 610)
    o.observe_delivery(Stamp("s4", "a", 4, 600), "c", "/", 620)
    o.sweep(None)
    v = o.verdict()
    assert v.lost_during_outage == 2  # c of s1 and s2
    assert v.violations.counts == {"missing": 2}  # b of s2, c of s3
    assert (v.resumed_other_node, v.first_resumed_ns) == (1, 620)
    assert v.outages == ({"down_ns": 100, "back_ns": 300, "resubscribed_ns": 400},)


def test_journal_replays_the_outage_window() -> None:
    from wsbench.scenario.journal import TIME_FIELDS, Op

    assert TIME_FIELDS[Op.OUTAGE_BEGIN] == (2,) and TIME_FIELDS[Op.OUTAGE_END] == (2, 3, 4)


@needs_redis
@needs_haproxy
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_restart_redis_reports_losses_and_resumed_delivery(tmp_path) -> None:
    outcome = run_text(with_restart(), tmp_path, clients=45, duration=7.0)
    summary = outcome.summary
    d = summary.sections.delivery
    assert outcome.exit_status == 0, (violations(summary), summary.sections.warnings)
    assert not any(violations(summary).values()), violations(summary)
    r = d.redis_restart
    assert len(r.outages) == 1, r
    o = r.outages[0]
    assert o.down_at_s > 0 and o.back_at_s >= o.down_at_s + 2.0 and o.resubscribed_at_s >= o.back_at_s
    assert r.lost_during_outage > 0, r  # talkers emitted every 500 ms through the window
    assert r.resumed and r.resumed_copies > 0 and r.resumed_at_s > o.resubscribed_at_s, r
    assert d.expected > 1000
