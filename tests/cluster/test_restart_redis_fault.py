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


def _script(oracle_for, t0: int) -> None:  # noqa: ANN001
    """The window of the test above on real clocks, by clients a (sender; asks the restart),
    b (same node) and c (another node); ``oracle_for(client)`` is that client's oracle."""
    ms = 1_000_000
    for client, node in (("a", 0), ("b", 0), ("c", 1)):
        oracle_for(client).membership.connected(client, "/", f"sid-{client}", t0, node=node)

    def emit(n: int, t: int) -> Stamp:
        stamp = Stamp(f"s{n}", "a", n, t)
        oracle_for("a").expect_emit(stamp, "a", "/", Semantics.OTHERS, at_ns=t,
                                    deadline_ns=t + 50 * ms)
        return stamp

    oracle_for("a").outage_begin(t0 + 1 * ms)
    s1 = emit(1, t0 + 2 * ms)
    oracle_for("b").observe_delivery(s1, "b", "/", t0 + 3 * ms)
    emit(2, t0 + 4 * ms)
    oracle_for("a").outage_end(t0 + 1 * ms, t0 + 5 * ms, t0 + 6 * ms)
    s3 = emit(3, t0 + 7 * ms)
    oracle_for("b").observe_delivery(s3, "b", "/", t0 + 8 * ms)
    s4 = emit(4, t0 + 9 * ms)
    oracle_for("b").observe_delivery(s4, "b", "/", t0 + 10 * ms)
    oracle_for("c").observe_delivery(s4, "c", "/", t0 + 11 * ms)


def test_journal_replays_the_outage_window(tmp_path) -> None:
    """OUTAGE_BEGIN/OUTAGE_END journaled by the asking child, the recipients' deliveries in
    another child's journal: the judge's replay gives the single oracle's outage verdict."""
    from wsbench.metrics import now_ns
    from wsbench.scenario.journal import JournalReader, JournalWriter, Op, RecordingOracle
    from wsbench.scenario.judge import Judge

    t0 = now_ns()
    single = DeliveryOracle()
    _script(lambda _c: single, t0)
    single.sweep(None)
    writers = [JournalWriter(tmp_path / f"j{k}.bin", batch=2) for k in range(2)]
    rec = [RecordingOracle(w) for w in writers]
    _script(lambda c: rec[0] if c == "a" else rec[1], t0)  # a's child asked the restart
    for w in writers:
        w.close()
    judge = Judge([w.path for w in writers], origin_ns=t0, origin_wall=0.0)
    judge.finish(aborted=False)
    a, b = single.verdict(), judge.oracle.verdict()
    assert a.lost_during_outage == 2 and a.violations.counts == {"missing": 2}
    for key in ("outages", "lost_during_outage", "resumed_other_node", "first_resumed_ns",
                "expected", "delivered"):
        assert getattr(b, key) == getattr(a, key), key
    assert b.violations.counts == a.violations.counts
    assert b.outages[0]["resubscribed_ns"] == t0 + 6_000_000
    assert [s["recipient"] for s in b.outage_samples] == ["c", "c"]
    ops = [r[1] for r in JournalReader(writers[0].path).poll()]
    assert Op.OUTAGE_BEGIN in ops and Op.OUTAGE_END in ops


@needs_redis
@needs_haproxy
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_restart_redis_reports_losses_and_resumed_delivery(tmp_path) -> None:
    outcome = run_text(with_restart(), tmp_path, clients=45, duration=9.0)
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


@needs_redis
@needs_haproxy
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_restart_redis_under_two_processes(tmp_path) -> None:
    """--processes 2: the restarter's child asks the parent (which owns the cluster), journals
    the window; the judge excuses the in-window other-node copies and sees delivery resume."""
    outcome = run_text(with_restart(), tmp_path, clients=45, duration=9.0, processes=2)
    summary = outcome.summary
    d = summary.sections.delivery
    assert outcome.exit_status == 0, (violations(summary), summary.sections.warnings)
    assert not any(violations(summary).values()), violations(summary)
    assert not any("restart_redis skipped" in w for w in summary.sections.warnings)
    r = d.redis_restart
    assert len(r.outages) == 1, r
    o = r.outages[0]
    assert o.back_at_s >= o.down_at_s + 2.0 and o.resubscribed_at_s >= o.back_at_s, r
    assert r.lost_during_outage > 0, r
    assert r.resumed and r.resumed_copies > 0 and r.resumed_at_s > o.resubscribed_at_s, r


def test_a_summary_with_redis_restart_validates_against_the_schema(tmp_path) -> None:
    import json

    import jsonschema

    from tests.metrics.test_summary import make_summary
    from wsbench.metrics import redis_restart_section, schema
    from wsbench.metrics.sections import encode

    o = _oracle()
    o.outage_begin(100)
    _emit(o, "s1", 150)
    o.outage_end(100, 300, 400)
    o.sweep(None)
    section = encode(redis_restart_section(o.verdict(), 0))
    assert section["lost_during_outage"] == 1 and section["lost_samples"][0]["recipient"] == "c"
    data = json.loads(make_summary().write(tmp_path / "s.json").read_text())
    data["sections"].setdefault("delivery", {})["redis_restart"] = section
    jsonschema.validate(data, schema(), cls=jsonschema.Draft202012Validator)
    section["lost_during_outage"] = -1  # the entry is checked, not merely allowed
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema(), cls=jsonschema.Draft202012Validator)
