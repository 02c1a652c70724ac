"""audience() of a room emit takes no snapshot of a room's pending joins unless one is pending
(issue 14, h48: the frozenset copy per room per emit was 3.5-4 % of the main job's profile)."""

from __future__ import annotations

import pytest

from wsbench.oracle.membership import Membership
from wsbench.oracle.semantics import Semantics, audience


def _room_of_three() -> Membership:
    m = Membership()
    for c in (1, 2, 3):
        m.connected(c, "/", f"s{c}")
        m.joined(c, "/", "r")
    return m


def test_no_pending_join_no_snapshot(monkeypatch):
    m = _room_of_three()
    monkeypatch.setattr(Membership, "pending_clients",
                        lambda *a: pytest.fail("snapshot of pending joins taken"))
    assert audience(m, Semantics.ROOM, "/", ("r",), None, 1) == {(1, "/"), (2, "/"), (3, "/")}
    assert not m.any_pending("/", "r")


def test_a_pending_leave_still_takes_its_socket_out_of_the_must_set():
    m = _room_of_three()
    m.leave_requested(2, "/", "r")
    assert m.any_pending("/", "r") and not m.any_pending("/", "other")
    assert audience(m, Semantics.ROOM, "/", ("r",), None, 1) == {(1, "/"), (3, "/")}
