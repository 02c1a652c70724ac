"""The distributed master's judge without Locust: worker journals, clock offsets, one oracle.

Two recording judges play two workers; their journal batches go to a
:class:`MasterJudge` as Locust's messages would carry them. Worker B's clock runs
2 s ahead: every time it records is moved by +2 s on the way (its own times, not
the send time inside a stamp another worker issued).
"""

from __future__ import annotations

from typing import Any

import pytest

from wsbench.integrations.distributed import ClockEstimate, MasterJudge, WorkerSource
from wsbench.integrations.judge import Judge
from wsbench.metrics import now_ns
from wsbench.oracle import Semantics, Stamp, embed_stamp
from wsbench.scenario.journal import (
    JournalFeed,
    JournalWriter,
    Op,
    encode_batch,
    shift_record,
)

SKEW = 2_000_000_000
B0 = 1_000_000  # worker 1's first client index


def test_the_lowest_rtt_round_trip_is_kept_and_bounds_the_offset() -> None:
    c = ClockEstimate()
    assert c.sample(1_000, 5_000 + 2_500, 9_000)  # rtt 8000: offset 7500 - 5000 = 2500 ± 4000
    assert (c.offset_ns, c.bound_ns) == (2_500, 4_000)
    assert not c.sample(10_000, 99_999, 20_000)  # a slower round trip changes nothing
    assert c.sample(30_000, 30_600 + 2_000, 31_000)  # rtt 1000, the reply left at 30_600
    assert c.offset_ns == 2_100 and c.bound_ns == 500  # within 500 of the true 2_000
    assert c.samples == 3


def test_shift_record_moves_own_times_and_a_delivered_stamp_by_its_senders_offset() -> None:
    emit = (100, Op.EMIT, "w1.5.1", 5, 1, 90, 5, "/", "room", ("r",), None, 95, 1090, False, "m")
    assert shift_record(emit, 10) == (
        90, Op.EMIT, "w1.5.1", 5, 1, 80, 5, "/", "room", ("r",), None, 85, 1080, False, "m")
    delivery = (200, Op.DELIVERY, "w0.1.1", 1, 1, 50, 7, "/", 199, "m")
    assert shift_record(delivery, 10, lambda sid: 3) == (
        190, Op.DELIVERY, "w0.1.1", 1, 1, 47, 7, "/", 189, "m")
    violation = (300, Op.VIOLATION, "connect_failed", None, None, None, "/", "c", None, "x",
                 None, 1)
    assert shift_record(violation, 10)[10] is None  # "not given" stays not given


def test_a_worker_source_holds_records_until_its_clock_is_known_and_never_runs_back() -> None:
    src = WorkerSource("node", "w0", lambda sid: 0)
    src.push(encode_batch([(1_000, Op.CONNECT_REQ, 1, "/", 1_000), (1_100, Op.HEARTBEAT)]))
    assert src.poll() == [] and src.watermark == -1
    src.clock.sample(0, 500, 0)  # offset 500, rtt 0
    assert [r[0] for r in src.poll()] == [500, 600] and src.watermark == 600
    src.clock.sample(0, 100, 0)  # an offset that would move the next record before 600
    src.push(encode_batch([(650, Op.HEARTBEAT)]))
    assert [r[0] for r in src.poll()] == [600]


def _worker(master: MasterJudge, node: str, run: str, base: int, skew: int) -> Judge:
    def sink(data: bytes) -> None:
        if skew:  # this worker's clock is `skew` ahead: its own times move, stamps of others not
            feed = JournalFeed()
            feed.push(data)
            data = encode_batch([shift_record(r, -skew, lambda sid: 0) for r in feed.poll()])
        master.journal(node, run, data)

    return Judge(run, journal=JournalWriter(sink=sink), client_base=base)


def _payload(stamp: Stamp) -> list[Any]:
    return [embed_stamp({"text": "hi"}, stamp)]


def _run(corrected: bool) -> MasterJudge:
    """Worker A's client 0 emits to room r: member B0 (worker B) gets it, so does B0+1 (a leak)."""
    master = MasterJudge()
    a = _worker(master, "A", "w0p1", 0, 0)
    b = _worker(master, "B", "w1p2", B0, SKEW)
    for judge in (a, b):
        judge.judged_events.add("message")
        judge.journal.flush()  # type: ignore[union-attr]
    for node, probe in master.due_probes():
        t = now_ns()
        master.clock_reply(probe, t + (SKEW if node == "B" and corrected else 0))
    t = now_ns()
    ma, mb = a.oracle.membership, b.oracle.membership
    for m, client in ((ma, a.new_client()), (mb, b.new_client()), (mb, b.new_client())):
        m.connect_requested(client, "/", t)
        m.connected(client, "/", f"sid{client}", t)
    assert ma.sid(0, "/") == "sid0" and mb.sid(B0 + 1, "/") == f"sid{B0 + 1}"
    for m, client in ((ma, 0), (mb, B0)):
        m.join_requested(client, "/", "r", t)
        m.joined(client, "/", "r", t)
    stamp = Stamp.new(a.run_id, 0, 1, now_ns())
    a.oracle.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=["r"], at_ns=now_ns(),
                         deadline_ns=stamp.sent_ns + 1_000_000_000, event="message")
    a.delivery(0, "/", "message", _payload(stamp), now_ns(), 10)
    for client in (B0, B0 + 1):  # received on B's clock (its sink moves the time 2 s ahead)
        b.delivery(client, "/", "message", _payload(stamp), now_ns(), 10)
    for judge in (a, b):
        judge.mark(Op.FINAL)
        judge.journal.close()  # type: ignore[union-attr]
    master.finish()
    return master


def test_one_oracle_judges_deliveries_across_workers_after_correcting_a_2s_skew() -> None:
    master = _run(corrected=True)
    verdict = master.judge.oracle.verdict()
    assert (verdict.emits, verdict.expected, verdict.delivered) == (1, 2, 2)
    counts = master.judge.oracle.violations.summary().to_dict()["counts"]
    assert counts == {"leak": 1}, master.judge.oracle.violations.summary().to_dict()
    (leak,) = master.judge.oracle.violations.summary().to_dict()["samples"]
    assert leak["stamp"] == "w0p1.0.1" and leak["sender"] == 0  # worker A's emit, client 0
    assert leak["receiver"][0] == B0 + 1  # received on worker B
    hist = master.judge.metrics.histogram("delivery")
    assert hist.count == 2 and hist.max < 500_000  # µs: not the 2 s skew
    clocks = {c["run"]: c for c in master.clocks()}
    assert abs(clocks["w1p2"]["offset_ms"] - 2000) <= clocks["w1p2"]["error_bound_ms"] + 1e-3
    assert abs(clocks["w0p1"]["offset_ms"]) <= clocks["w0p1"]["error_bound_ms"] + 1e-3
    assert all(c["complete"] for c in clocks.values())


def test_without_the_correction_the_skewed_worker_is_misjudged() -> None:
    master = _run(corrected=False)
    counts = master.judge.oracle.violations.summary().to_dict()["counts"]
    assert counts != {"leak": 1}, counts  # the 2 s skew alone breaks the verdict


def test_the_master_closes_no_emit_beyond_what_every_journal_covers() -> None:
    master = MasterJudge()
    a = _worker(master, "A", "w0p1", 0, 0)
    b = _worker(master, "B", "w1p2", B0, 0)
    for judge in (a, b):
        judge.journal.flush()  # type: ignore[union-attr]
    for _node, probe in master.due_probes():
        master.clock_reply(probe, now_ns())
    t = now_ns()
    mb = b.oracle.membership
    mb.connect_requested(B0, "/", t)
    mb.connected(B0, "/", "sidB", t)
    b.journal.flush()  # B's last batch that arrives: its watermark is now
    deadline = now_ns() + 2_000_000  # after B's watermark ...
    stamp = Stamp.new(a.run_id, 0, 1, deadline - 1_000_000_000)
    a.oracle.expect_emit(stamp, 0, "/", Semantics.NAMESPACE_ALL, at_ns=now_ns(),
                         deadline_ns=deadline, event="message")
    while now_ns() <= deadline:  # ... and before A's FINAL (a clock value, not a verdict wait)
        pass
    a.mark(Op.FINAL)
    a.journal.close()  # type: ignore[union-attr]
    # B's later batches (which may hold B0's copy) never arrive: B's horizon is its watermark
    master.finish()
    assert master.horizon_ns < deadline
    verdict = master.judge.oracle.verdict()
    assert verdict.missing == 0 and master.judge.oracle.violations.total == 0
    assert verdict.open_emits == 1


@pytest.mark.parametrize("role", ["local", "worker"])
def test_a_second_expectation_is_keyed_like_the_processes_judge(role: str) -> None:
    judge = Judge("w0p1", journal=JournalWriter(sink=lambda d: None) if role == "worker" else None)
    stamp = Stamp.new("w0p1", 0, 1, now_ns())
    assert judge.alias(stamp, "joined").id == "w0p1.0.1|joined"


def test_a_local_judge_maps_each_event_of_a_two_expect_emit_to_its_own_key() -> None:
    judge = Judge("w0p1")
    judge.judged_events.update({"joined", "user joined"})
    m = judge.oracle.membership
    for client in (judge.new_client(), judge.new_client()):
        m.connect_requested(client, "/", now_ns())
        m.connected(client, "/", f"sid{client}", now_ns())
    stamp = Stamp.new("w0p1", 0, 1, now_ns())
    for event in ("joined", "user joined"):
        judge.oracle.expect_emit(judge.alias(stamp, event), 0, "/", Semantics.NAMESPACE_ALL,
                                 at_ns=now_ns(), deadline_ns=now_ns() + 10**9, event=event)
    for event in ("joined", "user joined"):
        for client in (0, 1):
            judge.delivery(client, "/", event, _payload(stamp), now_ns(), 10)
    verdict = judge.oracle.verdict()
    assert (verdict.expected, verdict.delivered) == (4, 4)
    assert judge.oracle.violations.total == 0
