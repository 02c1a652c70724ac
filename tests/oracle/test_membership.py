from __future__ import annotations

from wsbench.oracle.membership import Membership


def test_connect_join_leave_disconnect():
    m = Membership()
    m.connect_requested(1, "/", now_ns=1)
    assert m.is_pending(1, "/")
    assert m.sockets("/") == frozenset()
    m.connected(1, "/", "sid1", now_ns=2)
    m.connected(2, "/", "sid2", now_ns=2)
    assert not m.is_pending(1, "/")
    assert m.sockets("/") == {(1, "/"), (2, "/")}
    assert m.sid(1, "/") == "sid1" and m.client_by_sid("/", "sid2") == 2
    m.join_requested(1, "/", "a", now_ns=3)
    assert m.members("/", "a") == frozenset()
    assert m.pending_clients("/", "a") == {1}
    m.joined(1, "/", "a", now_ns=4)
    assert m.members("/", "a") == {(1, "/")}
    assert m.rooms_of(1, "/") == {"a"}
    m.leave_requested(1, "/", "a", now_ns=5)
    assert m.members("/", "a") == {(1, "/")}  # confirmed membership stands until the ack
    m.left(1, "/", "a", now_ns=6)
    assert m.members("/", "a") == frozenset()
    assert m.last_change_ns((1, "/")) == 6
    m.disconnected(1, now_ns=7)
    assert m.sockets("/") == {(2, "/")}
    assert m.down_since_ns((1, "/")) == 7
    assert m.client_by_sid("/", "sid1") is None


def test_sid_is_an_implicit_room():
    m = Membership()
    m.connected(1, "/", "s1")
    assert m.members("/", "s1") == {(1, "/")}
    m.connected(1, "/", "s1b")  # reconnect with a new sid
    assert m.members("/", "s1") == frozenset()
    assert m.members("/", "s1b") == {(1, "/")}


def test_disconnect_removes_rooms_and_pending_of_that_namespace_only():
    m = Membership()
    m.connected(1, "/", "s1")
    m.connected(1, "/chat", "c1")
    m.joined(1, "/", "a")
    m.join_requested(1, "/", "b")
    m.disconnected(1, "/")
    assert m.members("/", "a") == frozenset()
    assert not m.has_pending((1, "/"))
    assert m.sockets("/chat") == {(1, "/chat")}
    assert m.namespaces() == ["/chat"]


def test_member_sets_are_cached_until_a_change():
    m = Membership()
    m.connected(1, "/", "s1")
    m.joined(1, "/", "a")
    first = m.members("/", "a")
    assert m.members("/", "a") is first
    m.connected(2, "/", "s2")
    assert m.members("/", "a") is first  # another socket connecting does not touch room a
    m.joined(2, "/", "a")
    assert m.members("/", "a") == {(1, "/"), (2, "/")}


def test_union_of_rooms_has_each_socket_once():
    m = Membership()
    for c in (1, 2, 3):
        m.connected(c, "/", f"s{c}")
    m.joined(1, "/", "a")
    m.joined(1, "/", "b")
    m.joined(2, "/", "b")
    assert m.members_of_any("/", ["a", "b", "a"]) == {(1, "/"), (2, "/")}
    assert m.members_of_any("/", ["a", "s3"]) == {(1, "/"), (3, "/")}


def test_cancel_pending_keeps_confirmed_state():
    m = Membership()
    m.connected(1, "/", "s1")
    m.join_requested(1, "/", "a")
    m.cancel_pending(1, "/", "a")
    assert not m.is_pending(1, "/", "a")
    assert m.members("/", "a") == frozenset()
