"""DeliveryOracle.forbid: negative expectations (``must_not``) judged per copy.

The protected sockets are a rule over the membership's snapshot, never an enumerated
set: registering one on a big namespace costs O(rooms) and keeps no per-socket state
(issue 14: building the set was 43 % of the main job's generator CPU)."""

from __future__ import annotations

import tracemalloc

import pytest

from wsbench.oracle import DeliveryOracle, Outcome, Semantics, Stamp, ViolationKind

MS = 1_000_000


def world(n, rooms):
    o = DeliveryOracle()
    for c in range(n):
        o.membership.connected(c, "/", f"sid{c}")
    for room, members in rooms.items():
        for c in members:
            o.membership.joined(c, "/", room)
    return o


def copy(o, stamp, client, event="message"):
    return o.observe_delivery(stamp, client, "/", 12 * MS, event).outcome


def test_non_members_protected_members_and_pending_spared():
    o = world(6, {"r": [0, 1]})
    o.membership.join_requested(2, "/", "r")  # unconfirmed: may or may not get it
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.expect_emit(stamp, 0, "/", Semantics.ROOM, rooms=("r",), deadline_ns=110 * MS,
                  event="message")
    o.forbid(stamp.id, "/", "message", "non_members", sender=0, rooms=("r",))
    assert copy(o, stamp, 1) is Outcome.DELIVERED
    assert copy(o, stamp, 2) is not Outcome.FORBIDDEN
    assert copy(o, stamp, 4) is Outcome.FORBIDDEN
    assert copy(o, stamp, 3, event="other") is not Outcome.FORBIDDEN  # another event
    assert o.verdict().violations.count(ViolationKind.FORBIDDEN_DELIVERY) == 1


@pytest.mark.parametrize("who, bad, fine", [
    ("sender", [0], [1, 2]),
    ("others", [1, 2], [0]),
    ("all", [0, 1, 2], []),
])
def test_who_without_a_positive_expectation(who, bad, fine):
    o = world(3, {})
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.forbid(stamp.id, "/", "message", who, sender=0)
    for c in bad:
        assert copy(o, stamp, c) is Outcome.FORBIDDEN
    for c in fine:
        assert copy(o, stamp, c) is Outcome.OPTIONAL


def test_positive_audience_is_never_protected():
    o = world(4, {})
    stamp = Stamp.new("run", 0, 1, 10 * MS)  # a private message to 2, must_not: others
    o.expect_emit(stamp, 0, "/", Semantics.SOCKET, to=2, deadline_ns=110 * MS,
                  event="message")
    o.forbid(stamp.id, "/", "message", "others", sender=0)
    assert copy(o, stamp, 2) is Outcome.DELIVERED
    assert copy(o, stamp, 1) is Outcome.FORBIDDEN


def test_membership_as_of_the_forbid():
    o = world(3, {"r": [0]})
    stamp = Stamp.new("run", 0, 1, 10 * MS)
    o.forbid(stamp.id, "/", "message", "non_members", sender=0, rooms=("r",))
    o.membership.connected(7, "/", "sid7")  # connects later: was not a socket then
    o.membership.joined(1, "/", "r")  # joins later: was a non-member then
    assert copy(o, stamp, 7) is not Outcome.FORBIDDEN
    assert copy(o, stamp, 1) is Outcome.FORBIDDEN


def test_registering_keeps_no_per_socket_state():
    """200 forbids over a namespace of 5,000 sockets: an enumerated set per forbid held
    ~200 x 5,000 socket keys (tens of MB); the rule holds a few references each."""
    o = world(5000, {f"room-{i}": range(i * 50, i * 50 + 50) for i in range(100)})
    o.membership.sockets("/")  # the membership's cached snapshots exist before measuring
    for i in range(100):
        o.membership.members("/", f"room-{i}")
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for seq in range(200):
        room = f"room-{seq % 100}"
        o.forbid(f"s{seq}", "/", "message", "non_members", sender=seq * 7 % 5000,
                 rooms=(room,))
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert o.forbidden_registered == 200
    assert grown < 500_000, f"forbid kept {grown} bytes for 200 rules"
