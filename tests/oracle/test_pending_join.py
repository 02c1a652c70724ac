"""A join (or leave) is pending until the client sees it confirmed (issue 11, item 3, h44).

On a cluster (Redis adapter) a join on node A and a room broadcast sent from node B race:
whether a socket still joining must get the copy is undecidable until its join is
acknowledged. So a copy to a pending joiner is neither required nor forbidden; once the
join is confirmed (its ack, or its confirming push, arrived at the client) the member is
required for emits sent after the confirmation. A pending leaver may get a copy, none is
owed. The same holds for copies correlated by the sender's sid (``user joined``), whose
emit may already be closed (all its required recipients had it) when a pending joiner's
copy comes through the adapter."""

from __future__ import annotations

from wsbench.oracle import DeliveryOracle, Outcome, Semantics, Stamp, ViolationKind

MS = 1_000_000
V = ViolationKind


def world(n: int = 4) -> DeliveryOracle:
    o = DeliveryOracle()
    for c in range(n):
        o.membership.connected(c, "/", f"sid{c}", 1 * MS)
    o.membership.joined(0, "/", "r", 2 * MS)
    o.membership.joined(1, "/", "r", 2 * MS)
    return o


def room_emit(o: DeliveryOracle, seq: int, at: int, *, forbid: bool = True) -> Stamp:
    """Client 0 sends a room message to 'r' (and its must_not non_members)."""
    stamp = Stamp.new("run", 0, seq, at)
    o.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=("r",), at_ns=at,
                  deadline_ns=at + 3000 * MS, event="message")
    if forbid:
        o.forbid(stamp.id, "/", "message", "non_members", sender=0, rooms=("r",), at_ns=at)
    return stamp


def counts(o: DeliveryOracle) -> dict[str, int]:
    return dict(o.verdict().violations.counts)


def test_a_concurrent_join_and_broadcast_is_neither_missing_nor_forbidden() -> None:
    o = world()
    o.membership.join_requested(2, "/", "r", 5 * MS)  # client 2's join is in flight
    stamp = room_emit(o, 1, 10 * MS)  # the broadcast races it (another node)
    late = room_emit(o, 2, 11 * MS)  # and so does a second one
    o.observe_delivery(stamp, 0, "/", 11 * MS, "message")
    o.observe_delivery(stamp, 1, "/", 11 * MS, "message")
    # the join was applied first on 2's node: the copy is allowed
    assert o.observe_delivery(stamp, 2, "/", 12 * MS, "message").outcome is Outcome.OPTIONAL
    o.membership.joined(2, "/", "r", 13 * MS)  # its ack arrives
    # the second racing broadcast, whose copy 2 never gets: not missing either
    o.observe_delivery(late, 0, "/", 14 * MS, "message")
    o.observe_delivery(late, 1, "/", 14 * MS, "message")
    o.sweep()
    assert counts(o) == {}
    assert o.verdict().optional_deliveries == 1
    # sent after the confirmation: 2 is owed it
    after = room_emit(o, 3, 20 * MS)
    o.observe_delivery(after, 0, "/", 21 * MS, "message")
    o.observe_delivery(after, 1, "/", 21 * MS, "message")
    o.sweep()
    assert counts(o) == {V.MISSING.value: 1}
    assert o.verdict().violations.samples[0].receiver == (2, "/")


def test_a_confirmed_member_that_misses_a_copy_is_missing() -> None:
    o = world()
    o.membership.join_requested(2, "/", "r", 5 * MS)
    o.membership.joined(2, "/", "r", 8 * MS)  # confirmed before the emit is sent
    stamp = room_emit(o, 1, 10 * MS)
    o.observe_delivery(stamp, 0, "/", 11 * MS, "message")
    o.observe_delivery(stamp, 1, "/", 11 * MS, "message")
    o.sweep()
    assert counts(o) == {V.MISSING.value: 1}
    assert o.verdict().violations.samples[0].receiver == (2, "/")


def test_a_pending_leaver_may_get_a_copy_and_is_owed_none() -> None:
    o = world()
    o.membership.leave_requested(1, "/", "r", 5 * MS)
    first = room_emit(o, 1, 10 * MS, forbid=False)
    second = room_emit(o, 2, 11 * MS, forbid=False)
    o.observe_delivery(first, 0, "/", 12 * MS, "message")
    assert o.observe_delivery(first, 1, "/", 12 * MS, "message").outcome is Outcome.OPTIONAL
    o.observe_delivery(second, 0, "/", 12 * MS, "message")  # 1 already gone from it
    o.membership.left(1, "/", "r", 13 * MS)
    o.sweep()
    assert counts(o) == {}
    # once the leave is confirmed, a copy of a later emit is a leak
    third = room_emit(o, 3, 20 * MS, forbid=False)
    assert o.observe_delivery(third, 1, "/", 21 * MS, "message").outcome is Outcome.LEAK


def join_announcement(o: DeliveryOracle, sender: int, room: str, seq: int, at: int) -> Stamp:
    """``join room``'s ``user joined`` to the room's others, correlated by the joiner's sid."""
    stamp = Stamp.new("run", sender, seq, at)
    o.membership.join_requested(sender, "/", room, at)
    o.expect_emit(stamp, sender, "/", Semantics.ROOM_OTHERS, rooms=(room,), at_ns=at,
                  deadline_ns=at + 3000 * MS, event="user joined")
    o.correlate(f"sid{sender}", stamp)
    return stamp


def test_a_pending_joiners_correlated_copy_of_a_closed_emit_is_no_leak() -> None:
    """The cluster scenario's 2 false leaks per run: joiner 3 joins 'r', then 's'; client 2
    joined 'r' concurrently; the 'r' announcement closes as soon as the confirmed members
    have it, then 2's copy arrives: it is a copy of the first join, not a leak of the second."""
    o = world()
    o.membership.join_requested(2, "/", "r", 5 * MS)  # in flight on another node
    join_announcement(o, 3, "r", 1, 10 * MS)  # owed to 0 and 1 only
    o.membership.joined(3, "/", "r", 11 * MS)
    o.membership.joined(2, "/", "r", 12 * MS)  # 2's ack
    join_announcement(o, 3, "s", 2, 20 * MS)  # 's' has no other member: closes at once
    o.membership.joined(3, "/", "s", 21 * MS)
    for c in (0, 1):
        assert o.observe_correlated("sid3", c, "/", 22 * MS, "user joined").outcome \
            is Outcome.DELIVERED
    assert o.open_emits == 0
    got = o.observe_correlated("sid3", 2, "/", 23 * MS, "user joined")
    assert got.outcome is Outcome.OPTIONAL, got
    o.sweep()
    assert counts(o) == {}


def test_a_correlated_copy_no_membership_change_explains_is_still_a_leak() -> None:
    o = world()
    join_announcement(o, 3, "r", 1, 10 * MS)
    o.membership.joined(3, "/", "r", 11 * MS)
    for c in (0, 1):
        o.observe_correlated("sid3", c, "/", 12 * MS, "user joined")
    # 2 never asked to join 'r': its copy is a leak, closed emit or not
    assert o.observe_correlated("sid3", 2, "/", 13 * MS, "user joined").outcome is Outcome.LEAK
    # and a second copy to a member is a duplicate
    assert o.observe_correlated("sid3", 0, "/", 14 * MS, "user joined").outcome \
        is Outcome.DUPLICATE


def test_a_copy_matched_to_the_newer_emit_does_not_make_the_older_ones_copy_a_duplicate() -> None:
    """The cluster scenario's false duplicate: 2 is a confirmed member of 's' and joined 'r'
    concurrently with joiner 3; 3 joins 'r', then 's'. 2's first copy (of the 'r' join, which
    did not owe it) is matched to the 's' join, which did; its second copy is then the
    optional one of the 'r' join, by then closed, not a duplicate of the 's' join."""
    o = world()
    o.membership.joined(2, "/", "s", 2 * MS)
    o.membership.join_requested(2, "/", "r", 5 * MS)
    join_announcement(o, 3, "r", 1, 10 * MS)
    o.membership.joined(3, "/", "r", 11 * MS)
    o.membership.joined(2, "/", "r", 12 * MS)
    join_announcement(o, 3, "s", 2, 20 * MS)  # owed to 2
    o.membership.joined(3, "/", "s", 21 * MS)
    assert o.observe_correlated("sid3", 2, "/", 22 * MS, "user joined").outcome \
        is Outcome.DELIVERED  # the 'r' copy, taken for the 's' one
    for c in (0, 1):
        o.observe_correlated("sid3", c, "/", 22 * MS, "user joined")
    assert o.open_emits == 0
    assert o.observe_correlated("sid3", 2, "/", 23 * MS, "user joined").outcome \
        is Outcome.OPTIONAL
    assert counts(o) == {}


def test_a_late_correlated_copy_is_late_not_a_copy_of_the_newest_emit() -> None:
    o = world()
    join_announcement(o, 3, "r", 1, 10 * MS)
    o.membership.joined(3, "/", "r", 11 * MS)
    o.observe_correlated("sid3", 0, "/", 12 * MS, "user joined")
    o.sweep(4000 * MS)  # 1 never got it: missing
    join_announcement(o, 3, "s", 2, 4100 * MS)
    assert o.observe_correlated("sid3", 1, "/", 4200 * MS, "user joined").outcome is Outcome.LATE
    assert counts(o) == {V.MISSING.value: 1, V.LATE.value: 1}


def test_a_leave_sent_after_the_emit_may_be_applied_first() -> None:
    """The cluster scenario's listeners leave mid-run: client 1 asks to leave 'r' after a
    room message to 'r' was sent from another node; its node applies the leave before the
    message comes through Redis, so 1 never gets it: not missing (``left_in_flight``)."""
    o = world()
    stamp = room_emit(o, 1, 10 * MS, forbid=False)
    o.membership.leave_requested(1, "/", "r", 11 * MS)
    o.membership.left(1, "/", "r", 12 * MS)  # its ack
    o.observe_delivery(stamp, 0, "/", 13 * MS, "message")
    o.sweep()
    assert counts(o) == {} and o.left_in_flight == 1
    assert o.verdict().expected == 1


def test_a_leaver_still_in_another_target_room_is_owed_the_copy() -> None:
    o = world()
    o.membership.joined(1, "/", "s", 3 * MS)
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.expect_emit(stamp, 0, "/", Semantics.ROOMS, rooms=("r", "s"), at_ns=10 * MS,
                  deadline_ns=3010 * MS, event="event")
    o.membership.leave_requested(1, "/", "r", 11 * MS)  # leaves 'r', stays in 's'
    o.membership.left(1, "/", "r", 12 * MS)
    o.membership.leave_requested(2, "/", "s", 11 * MS)  # never was a member: changes nothing
    o.observe_delivery(stamp, 0, "/", 13 * MS, "event")
    o.sweep()
    assert counts(o) == {V.MISSING.value: 1} and o.left_in_flight == 0
    assert o.verdict().violations.samples[0].receiver == (1, "/")
