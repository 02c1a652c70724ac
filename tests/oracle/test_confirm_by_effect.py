"""Joins and leaves that nothing answers (an app file's ``confirmed_by: none``): pending in
the membership until an effect confirms them (``confirm_by_copy``), never by a clock."""

from __future__ import annotations

from wsbench.metrics import now_ns
from wsbench.oracle import DeliveryOracle, Outcome, Semantics, Stamp, ViolationKind
from wsbench.scenario.journal import JournalReader, JournalWriter, Op, RecordingOracle
from wsbench.scenario.judge import Judge

MS = 1_000_000
S = 1_000_000_000
V = ViolationKind


def world(n: int = 4, rooms: dict[str, list[int]] | None = None) -> DeliveryOracle:
    o = DeliveryOracle()
    for c in range(n):
        o.membership.connected(c, "/", f"sid{c}")
    for room, members in (rooms or {}).items():
        for c in members:
            o.membership.joined(c, "/", room)
    return o


def push(o: DeliveryOracle, sender: int, seq: int, sem: Semantics, rooms=(), t: int = 10 * MS):
    stamp = Stamp.new("r", sender, seq, t)
    o.expect_emit(stamp, sender, "/", sem, rooms=rooms, at_ns=t, deadline_ns=t + 100 * MS)
    return stamp


def test_a_pending_leave_is_neither_missing_nor_leak_until_its_push_confirms_it() -> None:
    o = world(rooms={"r": [0, 1, 2]})
    m = o.membership
    # client 2 leaves 'r' fire-and-forget; its 'user left' goes to the others (correlated)
    m.leave_requested(2, "/", "r", 5 * MS)
    left = push(o, 2, 1, Semantics.ROOM_OTHERS, ("r",), t=5 * MS)
    o.confirm_by_copy(left.id, 2, "/", "r", False)
    # a room push while the leave is pending: 2 may or may not get it
    during = push(o, 0, 1, Semantics.ROOM, ("r",), t=6 * MS)
    assert o.observe_delivery(during, 0, "/", 7 * MS).outcome is Outcome.DELIVERED
    assert o.observe_delivery(during, 1, "/", 7 * MS).outcome is Outcome.DELIVERED
    assert o.observe_delivery(during, 2, "/", 7 * MS).outcome is Outcome.OPTIONAL
    assert m.is_pending(2, "/", "r") and "r" in m.rooms_of(2, "/")
    # the effect: client 0 gets 2's 'user left': the server applied the leave
    o.observe_delivery(left, 0, "/", 8 * MS)
    assert not m.is_pending(2, "/", "r") and "r" not in m.rooms_of(2, "/")
    assert o.confirmed_by_effect == 1
    # from now on 2 is outside the room: a copy to it is a leak
    after = push(o, 0, 2, Semantics.ROOM, ("r",), t=9 * MS)
    assert o.observe_delivery(after, 2, "/", 10 * MS).outcome is Outcome.LEAK
    o.observe_delivery(left, 1, "/", 10 * MS)
    o.observe_delivery(after, 0, "/", 10 * MS)
    o.observe_delivery(after, 1, "/", 10 * MS)
    o.sweep()
    assert o.verdict().violations.counts == {V.LEAK: 1}


def test_an_unconfirmed_change_stays_pending_whatever_the_clock() -> None:
    o = world(rooms={"r": [0]})
    m = o.membership
    m.join_requested(1, "/", "r", 5 * MS)
    o.confirm_by_copy("never-seen", 1, "/", "r", True)
    o.sweep(10_000 * MS)  # time passes: nothing confirms it
    assert m.is_pending(1, "/", "r")
    later = push(o, 0, 1, Semantics.ROOM, ("r",), t=10_001 * MS)
    o.observe_delivery(later, 0, "/", 10_002 * MS)
    o.sweep()  # 1 got nothing: not missing, it is pending
    assert o.verdict().violations.total == 0


def test_a_pending_join_is_confirmed_by_a_room_push_reaching_the_joiner() -> None:
    o = world(rooms={"r": [0]})
    m = o.membership
    m.join_requested(1, "/", "r", 5 * MS)
    o.confirm_by_copy("its-own-push", 1, "/", "r", True)
    first = push(o, 0, 1, Semantics.ROOM, ("r",), t=6 * MS)
    assert o.observe_delivery(first, 1, "/", 7 * MS).outcome is Outcome.OPTIONAL
    assert "r" in m.rooms_of(1, "/") and not m.is_pending(1, "/", "r")
    # now a member: the next room push must reach it
    second = push(o, 0, 2, Semantics.ROOM, ("r",), t=8 * MS)
    o.observe_delivery(first, 0, "/", 9 * MS)
    o.observe_delivery(second, 0, "/", 9 * MS)
    o.sweep()
    assert o.verdict().violations.counts == {V.MISSING: 1}


def test_a_newer_change_supersedes_an_older_ones_effect() -> None:
    o = world(rooms={"r": [0]})
    m = o.membership
    m.join_requested(1, "/", "r", 5 * MS)
    joined = push(o, 1, 1, Semantics.ROOM_OTHERS, ("r",), t=5 * MS)
    o.confirm_by_copy(joined.id, 1, "/", "r", True)
    m.leave_requested(1, "/", "r", 6 * MS)  # left again before anything confirmed the join
    o.confirm_by_copy("its-leave-push", 1, "/", "r", False)
    o.observe_delivery(joined, 0, "/", 7 * MS)  # the join's effect, now stale
    assert "r" not in m.rooms_of(1, "/") and m.is_pending(1, "/", "r")
    # nor does a room push reaching it turn the pending leave into a membership
    p = push(o, 0, 1, Semantics.ROOM, ("r",), t=8 * MS)
    assert o.observe_delivery(p, 1, "/", 9 * MS).outcome is Outcome.OPTIONAL
    assert "r" not in m.rooms_of(1, "/")


def test_a_judge_replaying_journals_confirms_by_the_same_effect(tmp_path) -> None:
    """``confirm_by_copy`` is journaled (Op.CONFIRM_BY): the --processes / distributed
    Locust judge confirms the leave when another process's client gets the push."""
    wa, wb = JournalWriter(tmp_path / "a.bin"), JournalWriter(tmp_path / "b.bin")
    a, b = RecordingOracle(wa), RecordingOracle(wb)
    t = now_ns()
    for o, c in ((a, 1), (b, 2)):
        o.membership.connect_requested(c, "/", t)
        o.membership.connected(c, "/", f"s{c}", t)
        o.membership.joined(c, "/", "r", t)
    a.membership.leave_requested(1, "/", "r", t)
    left = Stamp.new("run", 1, 1, t)
    a.expect_emit(left, 1, "/", Semantics.ROOM_OTHERS, rooms=("r",), deadline_ns=t + S)
    a.confirm_by_copy(left.id, 1, "/", "r", False)
    wa.flush()
    b.observe_delivery(left, 2, "/", now_ns(), "user left")
    later = Stamp.new("run", 2, 1, now_ns())
    b.expect_emit(later, 2, "/", Semantics.ROOM, rooms=("r",), deadline_ns=later.sent_ns + S)
    b.observe_delivery(later, 2, "/", now_ns(), "message")
    wa.close()
    wb.close()
    assert any(rec[1] == Op.CONFIRM_BY for rec in JournalReader(wa.path).poll())
    judge = Judge([wa.path, wb.path], origin_ns=t, origin_wall=0.0)
    judge.finish(aborted=False)
    o = judge.oracle
    assert o.confirmed_by_effect == 1 and "r" not in o.membership.rooms_of(1, "/")
    assert o.verdict().violations.total == 0 and o.verdict().delivered == 2
