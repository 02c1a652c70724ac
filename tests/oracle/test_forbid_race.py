"""``must_not: {to: non_members}`` against a join in flight (issue 15: the main job's 3-8
false ``forbidden_delivery`` per run).

A roomer's ``room message`` is registered (and its negative expectation with it) when
the sender writes it; on a loaded machine the server may read it after a join another
client sends later on its own connection, and then rightly fans the copy out to the
new member. The rule must judge the membership the server may have used: a socket whose
membership changed at or after the rule's registration may receive it, as a leak's
judgement excuses (``DeliveryOracle._may_receive``, commit 27d82e2)."""

from __future__ import annotations

from wsbench.oracle import DeliveryOracle, Outcome, Semantics, Stamp, ViolationKind
from wsbench.scenario.journal import JournalWriter, RecordingOracle
from wsbench.scenario.judge import Judge

MS = 1_000_000


def world():
    o = DeliveryOracle()
    for c in range(4):
        o.membership.connected(c, "/", f"sid{c}", 1 * MS)
    o.membership.joined(0, "/", "r", 2 * MS)
    o.membership.joined(1, "/", "r", 2 * MS)
    return o


def register(o, at_ns=10 * MS):
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=("r",), at_ns=at_ns,
                  deadline_ns=3000 * MS, event="message")
    o.forbid(stamp.id, "/", "message", "non_members", sender=0, rooms=("r",), at_ns=at_ns)
    return stamp


def test_a_join_sent_after_the_emit_may_receive_it():
    o = world()
    stamp = register(o)
    o.membership.join_requested(2, "/", "r", 15 * MS)  # sent after the emit was registered
    o.membership.joined(2, "/", "r", 20 * MS)  # the server applied it first
    assert o.observe_delivery(stamp, 2, "/", 25 * MS, "message").outcome is not Outcome.FORBIDDEN
    assert o.observe_delivery(stamp, 1, "/", 26 * MS, "message").outcome is Outcome.DELIVERED
    # a non-member whose membership did not change since is still protected
    assert o.observe_delivery(stamp, 3, "/", 27 * MS, "message").outcome is Outcome.FORBIDDEN
    counts = o.verdict().violations.counts
    assert counts == {ViolationKind.FORBIDDEN_DELIVERY.value: 1}, counts


def test_a_join_confirmed_before_the_emit_excuses_nothing():
    o = world()
    o.membership.joined(2, "/", "other", 5 * MS)  # changed, but before the registration
    stamp = register(o)
    assert o.observe_delivery(stamp, 2, "/", 25 * MS, "message").outcome is Outcome.FORBIDDEN


def test_the_sender_rule_is_not_excused_by_its_own_join():
    o = world()
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.forbid(stamp.id, "/", "message", "sender", sender=0, at_ns=10 * MS)
    o.membership.joined(0, "/", "s", 15 * MS)  # membership does not matter to this rule
    assert o.observe_delivery(stamp, 0, "/", 25 * MS, "message").outcome is Outcome.FORBIDDEN


def test_the_journal_carries_the_registration_time_to_the_judge(tmp_path):
    # a --processes child journals the rule; the parent's judge replays it with its at_ns
    journal = JournalWriter(tmp_path / "child.bin")
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    RecordingOracle(journal).forbid(stamp.id, "/", "message", "non_members", sender=0,
                                    rooms=("r",), at_ns=10 * MS)
    journal.close()
    o = world()
    judge = Judge([journal.path], origin_ns=0, origin_wall=0.0, oracle=o)
    judge.poll(everything=True)
    o.membership.joined(2, "/", "r", 20 * MS)
    assert o.observe_delivery(stamp, 2, "/", 25 * MS, "message").outcome is not Outcome.FORBIDDEN
    assert o.observe_delivery(stamp, 3, "/", 26 * MS, "message").outcome is Outcome.FORBIDDEN
