"""The journal of a --processes child and the judge that replays several of them."""

from __future__ import annotations

import random

from wsbench.metrics import now_ns
from wsbench.oracle import DeliveryOracle, Semantics, Stamp, Violation, ViolationKind
from wsbench.scenario.journal import JournalReader, JournalWriter, Op, RecordingOracle
from wsbench.scenario.judge import Judge

S = 1_000_000_000


def test_writer_and_reader_round_trip(tmp_path) -> None:
    path = tmp_path / "j.bin"
    w = JournalWriter(path, batch=3)
    r = JournalReader(path)
    assert r.poll() == [] and r.watermark == -1
    for i in range(5):
        w.add(Op.CANCEL, i, "/", None)
    got = r.poll()  # the batch of 3 was flushed when full
    w.flush()
    got += r.poll()
    cancels = [rec for rec in got if rec[1] == Op.CANCEL]
    assert [rec[2] for rec in cancels] == [0, 1, 2, 3, 4]
    times = [rec[0] for rec in got]
    assert times == sorted(times) and r.watermark == times[-1]
    assert got[-1][1] == Op.HEARTBEAT and not r.ended
    w.close()
    r.poll()
    assert r.ended


def _script(rng: random.Random, n: int = 400) -> list[tuple]:
    """A random but valid sequence of oracle calls by 6 clients in 2 rooms."""
    calls: list[tuple] = []
    seq = dict.fromkeys(range(6), 0)
    for c in range(6):
        calls.append(("connect", c))
    for _ in range(n):
        c = rng.randrange(6)
        what = rng.random()
        if what < 0.15:
            calls.append(("join", c, f"r{rng.randrange(2)}"))
        elif what < 0.25:
            calls.append(("leave", c, f"r{rng.randrange(2)}"))
        elif what < 0.55:
            seq[c] += 1
            calls.append(("emit", c, seq[c], rng.choice(["all", "room", "others"])))
        else:
            calls.append(("deliver", rng.randrange(6), rng.randrange(6), rng.randrange(1, 8)))
    return calls


def _play(calls: list[tuple], oracle_for) -> None:  # noqa: ANN001
    """Drive the oracle returned by ``oracle_for(client)`` (one, or one per process)."""
    emitted: dict[tuple[int, int], Stamp] = {}
    for call in calls:
        t = now_ns()
        kind, c = call[0], call[1]
        o = oracle_for(c)
        m = o.membership
        if kind == "connect":
            m.connect_requested(c, "/", t)
            m.connected(c, "/", f"sid{c}", t)
        elif kind == "join":
            m.join_requested(c, "/", call[2], t)
            m.joined(c, "/", call[2], t)
        elif kind == "leave":
            m.join_requested(c, "/", call[2], t)
            m.left(c, "/", call[2], t)
        elif kind == "emit":
            stamp = Stamp.new("run", c, call[2], t)
            emitted[(c, call[2])] = stamp
            sem = {"all": Semantics.ALL, "room": Semantics.ROOM, "others": Semantics.OTHERS}
            o.expect_emit(
                stamp, c, "/", sem[call[3]], rooms=("r0",) if call[3] == "room" else (),
                deadline_ns=t + 10 * S,
            )  # fmt: skip
            o.expect_ack(("ack", c, call[2]), c, "/", t, 10 * S, "x")
            o.observe_ack(("ack", c, call[2]), t + 1)
        else:  # a delivery to c of the call[3]-th latest emit of call[2], if any
            sender, back = call[2], call[3]
            stamp = emitted.get(
                (sender, max(1, len([k for k in emitted if k[0] == sender]) - back))
            )
            if stamp is not None:
                o.observe_delivery(stamp, c, "/", t, "event")
    oracle_for(0).violations.add(Violation(ViolationKind.MALFORMED_FRAME, receiver=(3, "*")))


def test_two_journals_replayed_give_the_single_oracle_verdict(tmp_path) -> None:
    for seed in range(5):
        calls = _script(random.Random(seed))
        single = DeliveryOracle()
        _play(calls, lambda c, o=single: o)
        single.sweep(None)
        writers = [JournalWriter(tmp_path / f"{seed}-{k}.bin", batch=7) for k in range(2)]
        recorders = [RecordingOracle(w) for w in writers]
        _play(calls, lambda c, r=recorders: r[c % 2])  # clients dealt round-robin
        for w in writers:
            w.close()
        judge = Judge([w.path for w in writers], origin_ns=now_ns(), origin_wall=0.0)
        judge.finish(aborted=False)
        a, b = single.verdict().to_dict(), judge.oracle.verdict().to_dict()
        for key in ("emits", "expected", "delivered", "missing", "optional_deliveries", "acks"):
            assert a[key] == b[key], (seed, key)
        assert a["violations"]["counts"] == b["violations"]["counts"], seed
        assert a["violations"]["total"] > 0  # the script does produce violations to compare


def test_judge_waits_for_the_slowest_child(tmp_path) -> None:
    wa, wb = JournalWriter(tmp_path / "a.bin"), JournalWriter(tmp_path / "b.bin")
    a, b = RecordingOracle(wa), RecordingOracle(wb)
    t = now_ns()
    b.membership.connect_requested(2, "/", t)
    b.membership.connected(2, "/", "s2", t)
    wb.flush()  # b's watermark: before the emit
    stamp = Stamp.new("run", 1, 1, now_ns())
    a.expect_emit(stamp, 1, "/", Semantics.OTHERS, deadline_ns=stamp.sent_ns + S)
    wa.flush()
    judge = Judge([wa.path, wb.path], origin_ns=t, origin_wall=0.0)
    judge.poll()
    assert judge.oracle.emits == 0  # b has not reached the emit's time yet
    b.observe_delivery(stamp, 2, "/", now_ns(), "event")
    wb.flush()
    judge.poll()
    assert judge.oracle.emits == 1 and judge.oracle.delivered == 0  # a may still write before
    wa.flush()  # a's heartbeat: nothing of a's comes before it any more
    judge.poll()
    v = judge.oracle.verdict()
    assert v.emits == 1 and v.delivered == 1 and judge.settled


def test_retries_are_journaled_and_judged_as_in_one_process(tmp_path) -> None:
    """``retried`` goes through the journal (Op.RETRY): the judge accepts the copy of the
    re-sent emit as a retry duplicate, and still flags a copy of an emit never re-sent."""
    wa, wb = JournalWriter(tmp_path / "a.bin"), JournalWriter(tmp_path / "b.bin")
    a, b = RecordingOracle(wa), RecordingOracle(wb)
    t = now_ns()
    for o, c in ((a, 1), (b, 2)):
        o.membership.connect_requested(c, "/", t)
        o.membership.connected(c, "/", f"s{c}", t)
    retried, plain = Stamp.new("run", 1, 1, t), Stamp.new("run", 1, 2, t)
    for s in (retried, plain):
        a.expect_emit(s, 1, "/", Semantics.OTHERS, deadline_ns=t + 10 * S)
    a.retried(retried.id, 2)
    for s in (retried, retried, plain, plain):  # a second copy of each at client 2
        b.observe_delivery(s, 2, "/", now_ns(), "event")
    wa.close()
    wb.close()
    assert any(rec[1] == Op.RETRY for rec in JournalReader(wa.path).poll())
    judge = Judge([wa.path, wb.path], origin_ns=t, origin_wall=0.0)
    judge.finish(aborted=False)
    oracle = judge.oracle
    assert (oracle.retries, oracle.retry_duplicates) == (1, 1)
    assert oracle.verdict().violations.counts == {"duplicate": 1}
