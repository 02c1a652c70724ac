"""A missing copy says why the socket was owed it: its membership of the emit's rooms
before the send and, on a cluster, the nodes (the evidence a user needs to tell a server's
lost copy from a socket that was not yet a member)."""

from __future__ import annotations

from wsbench.oracle import DeliveryOracle, Semantics, Stamp

MS = 1_000_000


def _missing_detail(o: DeliveryOracle) -> str:
    o.sweep(None)
    (sample,) = o.violations.summary().to_dict()["samples"]
    assert sample["kind"] == "missing"
    return sample["detail"]


def test_a_missing_room_copy_names_the_membership_and_the_nodes() -> None:
    o = DeliveryOracle()
    o.membership.connected("a", "/", "sa", 0, node=1)
    o.membership.connected("b", "/", "sb", 0, node=1)
    o.membership.joined("b", "/", "r1", 188 * MS)
    o.expect_emit(Stamp("s1", "a", 1, 1000 * MS), "a", "/", Semantics.ROOM_OTHERS,
                  rooms=["r1"], at_ns=1000 * MS, deadline_ns=4000 * MS)
    assert _missing_detail(o) == ("no copy before the deadline "
                                  "(in r1 since 812 ms before the send; node 1, as the sender)")


def test_without_rooms_or_nodes_the_detail_is_the_plain_one() -> None:
    o = DeliveryOracle()
    o.membership.connected("a", "/", "sa", 0)
    o.membership.connected("b", "/", "sb", 0)
    o.expect_emit(Stamp("s1", "a", 1, 10), "a", "/", Semantics.OTHERS, at_ns=10,
                  deadline_ns=20)
    assert _missing_detail(o) == "no copy before the deadline"


def test_an_emit_sent_behind_its_schedule_says_so() -> None:
    o = DeliveryOracle()
    o.membership.connected("a", "/", "sa", 0)
    o.membership.connected("b", "/", "sb", 0)
    o.expect_emit(Stamp("s1", "a", 1, 1000 * MS), "a", "/", Semantics.OTHERS,
                  at_ns=2770 * MS, deadline_ns=3000 * MS)
    assert _missing_detail(o) == ("no copy before the deadline "
                                  "(registered 1770 ms after its intended send)")
