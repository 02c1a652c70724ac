"""The oracle and at-least-once retries (issue 13 #4): a copy of a re-sent emit is a counted
retry duplicate, one per retry and socket; a copy beyond the tries, or of an emit never
re-sent, is still a duplicate."""

from __future__ import annotations

from tests.oracle.test_delivery import MS, counts, emit, world
from wsbench.oracle import Outcome, Semantics


def test_a_retried_emit_may_arrive_once_more_per_retry_and_socket():
    o = world(2)
    s = emit(o, 0, 1, Semantics.ALL)
    o.retried(s.id, 2)  # the ACK of try 1 was lost: try 2 carries the same payload
    for c in (0, 1):
        assert o.observe_delivery(s, c, "/", 11 * MS).outcome is Outcome.DELIVERED
    # both copies of try 2, after the emit closed (every audience socket had one)
    for c in (0, 1):
        assert o.observe_delivery(s, c, "/", 12 * MS).outcome is Outcome.RETRY_DUPLICATE
    # a third copy: more copies than tries, a real duplicate
    assert o.observe_delivery(s, 1, "/", 13 * MS).outcome is Outcome.DUPLICATE
    assert counts(o) == {"duplicate": 1}
    assert (o.retries, o.retry_duplicates) == (1, 2)


def test_two_retries_allow_two_extra_copies_while_open():
    o = world(3)
    s = emit(o, 0, 1, Semantics.OTHERS)
    o.retried(s.id, 2)
    o.retried(s.id, 3)
    outcomes = [o.observe_delivery(s, 1, "/", t * MS).outcome for t in (11, 12, 13, 14)]
    assert outcomes == [
        Outcome.DELIVERED, Outcome.RETRY_DUPLICATE, Outcome.RETRY_DUPLICATE, Outcome.DUPLICATE
    ]
    assert o.retries == 2


def test_a_duplicate_of_an_emit_never_retried_is_flagged():
    o = world(2)
    retried, plain = emit(o, 0, 1, Semantics.ALL), emit(o, 0, 2, Semantics.ALL)
    o.retried(retried.id, 2)
    o.retried(plain.id, 1)  # try 1 is the first send, not a retry
    o.observe_delivery(plain, 1, "/", 11 * MS)
    assert o.observe_delivery(plain, 1, "/", 12 * MS).outcome is Outcome.DUPLICATE
    assert counts(o) == {"duplicate": 1} and o.retries == 1


def test_secondary_expectations_of_a_retried_stamp_are_covered():
    o = world(2)
    s = emit(o, 0, 1, Semantics.ALL)
    o.retried(s.id, 2)
    second = emit(o, 0, 1, Semantics.ALL)  # same stamp fields, registered under id|event
    object.__setattr__(second, "id", f"{s.id}|joined")
    o.expect_emit(second, 0, "/", Semantics.SENDER, deadline_ns=200 * MS)
    o.observe_delivery(second, 0, "/", 11 * MS)
    assert o.observe_delivery(second, 0, "/", 12 * MS).outcome is Outcome.RETRY_DUPLICATE
