"""The semantics engine against hand-built membership views: every declared event of
scenarios/apps/seed.yaml and scenarios/apps/reference.yaml, plus properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsbench.app import (
    Sock,
    View,
    expected_connect,
    find,
    load_app,
    on_connect,
    on_disconnect,
    outcome,
    traits,
)
from wsbench.oracle import Membership

ROOT = Path(__file__).resolve().parents[2]
SEED = load_app(ROOT / "scenarios/apps/seed.yaml")
REF = load_app(ROOT / "scenarios/apps/reference.yaml")

#: A sends; B is in r1; C is in r1 and r2; D in nothing; X is on /admin, Y on /chat
VIEW = View([
    Sock("/", "A"),
    Sock("/", "B", frozenset({"r1"})),
    Sock("/", "C", frozenset({"r1", "r2"})),
    Sock("/", "D"),
    Sock("/admin", "X"),
    Sock("/chat", "Y"),
    Sock("/chat", "Z"),
])


def pushes(o):
    return {(p.event, p.namespace): (set(p.recipients), p.payload.example()) for p in o.pushes}


def ack(o):
    return None if o.ack is None else o.ack.payload.example()


# -- seed.yaml: every declared event ----------------------------------------------------

SEED_CASES = {
    ("/", "message"): (["a", 1], {("message-back", "/"): ({"A"}, ["a", 1])}, None),
    ("/", "message-with-ack"): (["a", 1], {}, ["a", 1]),
    ("/", "chat message"): (["hi"], {("chat message", "/"): ({"A", "B", "C", "D"}, ["hi"])}, None),
    ("/", "join room"): (["r1"], {("joined", "/"): ({"A"}, ["r1"]),
                                  ("user joined", "/"): ({"B", "C"}, ["A"])}, None),
    ("/", "leave room"): (["r1"], {("user left", "/"): ({"B", "C"}, ["A"])}, None),
    ("/", "private message"): ([{"to": "B", "message": "m"}],
                               {("private message", "/"): ({"B"}, [{"from": "A", "message": "m"}])},
                               None),
    ("/", "join"): (["r1"], {("user joined", "/"): ({"A", "B", "C"}, ["A"])}, None),
    ("/", "room message"): ([{"room": "r2", "message": "m"}],
                            {("message", "/"): ({"C"}, [{"room": "r2", "from": "A", "message": "m"}])},
                            None),
    ("/", "leave"): (["r1"], {("user left", "/"): ({"B", "C"}, ["A"])}, None),
    ("/chat", "message"): (["t"], {("message", "/chat"): ({"Y", "Z"}, ["t"])}, None),
    ("/admin", "broadcast"): (["hey"], {("announcement", "/"): ({"A", "B", "C", "D"}, ["hey"])},
                              None),
}


def test_every_seed_event_has_a_case():
    assert {(e.namespace, e.name) for e in SEED.events()} == set(SEED_CASES)


@pytest.mark.parametrize("key", sorted(SEED_CASES), ids=lambda k: f"{k[0]} {k[1]}")
def test_seed_event_outcome(key):
    ns, event = key
    args, want_pushes, want_ack = SEED_CASES[key]
    sender = {"/": "A", "/chat": "Y", "/admin": "X"}[ns]
    o = outcome(SEED, VIEW, ns, sender, event, args)
    assert o.declared and o.refused is None and o.unknown is None
    assert pushes(o) == want_pushes
    assert ack(o) == want_ack  # the seed acks nothing but the harness event


def test_seed_join_room_is_confirmed_by_joined_and_the_joiner_must_not_get_user_joined():
    o = outcome(SEED, VIEW, "/", "A", "join room", ["r1"])
    assert [(c.kind, c.room, c.confirmed_by) for c in o.changes] == [("join", "r1", "joined")]
    assert o.must_not("/", "user joined") == {"A", "D"}
    assert o.view_after.get("/", "A").rooms == {"r1"}
    # `join` announces to the whole room, the joiner included
    assert "A" not in outcome(SEED, VIEW, "/", "A", "join", ["r1"]).must_not("/", "user joined")


def test_seed_refuses_nothing_so_joining_another_sid_is_a_join():
    o = outcome(SEED, VIEW, "/", "A", "join", ["B"])
    assert o.refused is None and o.changes[0].room == "B"
    # ...and A then reads B's private messages: the hijack a conform probe judges by outcome
    pm = outcome(SEED, o.view_after, "/", "C", "private message", [{"to": "B", "message": "s"}])
    assert pushes(pm)[("private message", "/")][0] == {"A", "B"}


def test_seed_leave_is_applied_before_the_announcement():
    o = outcome(SEED, VIEW, "/", "B", "leave", ["r1"])
    assert pushes(o)[("user left", "/")][0] == {"C"}
    assert o.changes[0].confirmed_by == "none"


def test_seed_connect_auth_and_unknown_namespace():
    o = on_connect(SEED, VIEW, "/", "N", {"token": "t"})
    assert pushes(o) == {("auth", "/"): ({"N"}, [{"token": "t"}])}
    assert pushes(on_connect(SEED, VIEW, "/custom", "K"))[("auth", "/custom")][1] == [{}]
    assert expected_connect(SEED, "/", secret=True).message == "Authentication error"
    assert expected_connect(SEED, "/", secret=True, token="invalid").message == "Invalid token"
    assert expected_connect(SEED, "/chat", secret=True).accepted  # io.use is / only
    assert expected_connect(SEED, "/nope").message == "Invalid namespace"


def test_a_path_the_event_does_not_have_is_unknown_not_a_verdict():
    o = outcome(SEED, VIEW, "/", "A", "private message", ["just a string"])
    assert o.unknown and "is not in the event" in o.unknown and not o.pushes


def test_undeclared_event_is_ignored():
    o = outcome(SEED, VIEW, "/", "A", "broadcast all", [{"data": 1}])
    assert not o.declared and not o.pushes and o.ack is None


# -- reference.yaml: every declared event -----------------------------------------------

OK = {"ok": True}
REF_CASES = {
    ("/", "message"): (["a"], {("message-back", "/"): ({"A"}, ["a"])}, None),
    ("/", "message-with-ack"): (["a", 2], {}, ["a", 2]),
    ("/", "echo"): ([3], {}, [3]),
    ("/", "pong"): ([], {}, None),
    ("/", "chat message"): (["hi"], {("chat message", "/"): ({"A", "B", "C", "D"}, ["hi"])}, [OK]),
    ("/", "join room"): (["r1"], {("joined", "/"): ({"A"}, ["r1"]),
                                  ("user joined", "/"): ({"B", "C"}, ["A"])},
                         [{"ok": True, "room": "r1"}]),
    ("/", "leave room"): (["r1"], {("user left", "/"): ({"B", "C"}, ["A"])},
                          [{"ok": True, "room": "r1"}]),
    ("/", "private message"): ([{"to": "C", "message": 1}],
                               {("private message", "/"): ({"C"}, [{"from": "A", "message": 1}])},
                               [OK]),
    ("/", "join"): (["r2"], {("user joined", "/"): ({"A", "C"}, ["A"])}, [{"ok": True, "room": "r2"}]),
    ("/", "room message"): ([{"room": "r1", "message": 1}],
                            {("message", "/"): ({"B", "C"}, [{"room": "r1", "from": "A", "message": 1}])},
                            [OK]),
    ("/", "leave"): (["r1"], {("user left", "/"): ({"B", "C"}, ["A"])}, [{"ok": True, "room": "r1"}]),
    ("/", "broadcast all"): ([{"data": 5}], {("event", "/"): ({"A", "B", "C", "D"}, [5])}, [OK]),
    ("/", "broadcast others"): ([{"data": 5}], {("event", "/"): ({"B", "C", "D"}, [5])}, [OK]),
    ("/", "broadcast room"): ([{"room": "r2", "data": 5}], {("event", "/"): ({"C"}, [5])}, [OK]),
    ("/", "broadcast rooms"): ([{"rooms": ["r1", "r2", "D"], "data": 5}],
                               {("event", "/"): ({"B", "C", "D"}, [5])}, [OK]),
    ("/", "broadcast room others"): ([{"room": "r1", "data": 5}],
                                     {("event", "/"): ({"B", "C"}, [5])}, [OK]),
    ("/", "broadcast socket"): ([{"to": "D", "data": 5}], {("event", "/"): ({"D"}, [5])}, [OK]),
    ("/", "broadcast volatile"): ([{"data": 5, "count": 3}], {("event", "/"): ({"A"}, [5])}, [OK]),
    ("/", "request ack"): ([{"data": 5}], {("ack request", "/"): ({"A"}, [5])}, [None]),
    ("/", "subscribe document"): (["d1"], {("document state", "/"): (
        {"A"}, [{"docId": "d1", "version": 0, "content": None}])}, [{"ok": True, "room": "doc:d1"}]),
    ("/", "update document"): ([{"docId": "d1", "changes": {"k": 1}}], {("document updated", "/"): (
        set(), [{"docId": "d1", "changes": {"k": 1}, "version": 0}])}, [{"ok": True, "version": 0}]),
    ("/", "unsubscribe document"): (["d1"], {}, [{"ok": True, "room": "doc:d1"}]),
    ("/", "fetch notifications"): ([], {}, [None]),
    ("/chat", "join"): (["yy"], {("user joined", "/chat"): (
        {"Y", "Z"}, [{"id": "Y", "username": "yy", "userCount": 0}]),
        ("users", "/chat"): ({"Y"}, [None])}, [{"ok": True, "userCount": 0}]),
    ("/chat", "message"): (["t"], {("message", "/chat"): (
        {"Y", "Z"}, [{"id": 0, "username": None, "text": "t", "timestamp": ""}])},
        [{"ok": True, "id": 0}]),
    ("/chat", "typing"): ([], {("typing", "/chat"): ({"Z"}, [{"username": None}])}, [OK]),
    ("/chat", "stop typing"): ([], {("stop typing", "/chat"): ({"Z"}, [{"username": None}])}, [OK]),
    ("/admin", "broadcast"): (["hey"], {
        ("announcement", "/"): ({"A", "B", "C", "D"}, ["hey"]),
        ("announcement", "/chat"): ({"Y", "Z"}, ["hey"]),
        ("announcement", "/admin"): ({"X"}, ["hey"]),
        ("announcement", "/custom"): (set(), ["hey"]),
    }, [OK]),
}


def test_every_reference_event_has_a_case():
    assert {(e.namespace, e.name) for e in REF.events()} == set(REF_CASES)


@pytest.mark.parametrize("key", sorted(REF_CASES), ids=lambda k: f"{k[0]} {k[1]}")
def test_reference_event_outcome(key):
    ns, event = key
    args, want_pushes, want_ack = REF_CASES[key]
    sender = {"/": "A", "/chat": "Y", "/admin": "X"}[ns]
    o = outcome(REF, VIEW, ns, sender, event, args)
    assert o.declared and o.refused is None and o.unknown is None, (o.refused, o.unknown)
    assert pushes(o) == want_pushes
    assert ack(o) == want_ack


def test_reference_volatile_copies_and_room_variant():
    o = outcome(REF, VIEW, "/", "A", "broadcast volatile", [{"data": 1, "count": 3}])
    assert [(p.copies, p.volatile) for p in o.pushes] == [(3, True)]
    o = outcome(REF, VIEW, "/", "A", "broadcast volatile", [{"data": 1, "room": "r1"}])
    assert [(set(p.recipients), p.copies) for p in o.pushes] == [({"B", "C"}, 1)]


def test_reference_refusals_are_the_refusal_signal_and_change_nothing():
    for event, args in [("join room", ["B"]), ("join", ["doc:x"]), ("join", [""]),
                        ("leave", ["A"]), ("private message", [{"to": "X", "message": 1}]),
                        ("broadcast rooms", [{"rooms": [], "data": 1}]),
                        ("room message", ["nope"])]:
        o = outcome(REF, VIEW, "/", "A", event, args)
        assert o.refused, event
        assert not o.changes and o.view_after is VIEW
        assert ack(o) == [{"ok": False, "error": ""}]
        assert pushes(o) == {("error", "/"): ({"A"}, [{"event": event, "message": ""}])}
        assert o.ack.mismatch([{"ok": False, "error": "no"}]) is None
        assert o.ack.mismatch([{"ok": True}]) is not None


def test_payload_expectations_say_where_a_copy_differs():
    o = outcome(REF, VIEW, "/", "A", "room message", [{"room": "r1", "message": "m"}])
    p = o.pushes[0]
    assert p.mismatch([{"room": "r1", "from": "A", "message": "m"}]) is None
    assert "from" in p.mismatch([{"room": "r1", "from": "B", "message": "m"}])
    assert "unexpected" in p.mismatch([{"room": "r1", "from": "A", "message": "m", "x": 1}])
    assert [(c.source, c.place) for c in p.carries] == [
        ("$args[0].room", "[0].room"), ("$args[0].message", "[0].message")]


def test_reference_connect_with_auth_and_admin_claim():
    assert expected_connect(REF, "/chat", secret=True).message == "Authentication error"
    assert expected_connect(REF, "/admin", secret=True, token="valid").message == "Not authorized"
    assert expected_connect(REF, "/admin", secret=True, token="valid",
                            claims={"admin": True}).accepted
    assert expected_connect(REF, "/admin", secret=True, token="valid",
                            claims={"admin": 1}).message == "Not authorized"
    assert expected_connect(REF, "/admin").accepted  # no secret: auth off


def test_reference_chat_disconnect_announces_only_after_a_join():
    assert not on_disconnect(REF, VIEW, "/chat", "Y").pushes
    o = on_disconnect(REF, VIEW, "/chat", "Y", sent=["join"])
    assert pushes(o) == {("user left", "/chat"): ({"Z"}, [{"username": None, "userCount": 0}])}


def test_pending_join_is_may_not_must_nor_must_not():
    view = View(VIEW.sockets(), pending=[("/", "D", "r1")])
    o = outcome(REF, view, "/", "A", "broadcast room", [{"room": "r1", "data": 1}])
    assert o.pushes[0].recipients == {"B", "C"} and o.pushes[0].may == {"D"}
    assert o.must_not("/", "event") == {"A"}


def test_view_from_the_oracle_membership():
    m = Membership()
    m.connected(1, "/", "s1")
    m.connected(2, "/", "s2")
    m.joined(2, "/", "r")
    m.join_requested(1, "/", "r")
    v = View.from_membership(m)
    assert v.get("/", "s2").rooms == {"r"} and v.pending == {("/", "s1", "r")}


def test_what_the_file_allows():
    seed = {t.event: t for t in traits(SEED) if t.namespace == "/"}
    assert seed["join room"].joins and seed["join room"].announces
    assert seed["join room"].confirmed_by == "joined"
    assert seed["private message"].addressed_by_field and not seed["private message"].acked
    assert find(SEED, "acked")[0][0].event == "message-with-ack"
    hits, why = find(SEED, "volatile")
    assert not hits and "no push is volatile" in why
    assert find(REF, "multi_room")[0][0].event == "broadcast rooms"
    assert {t.event for t in find(SEED, "cross_namespace")[0]} == {"broadcast"}
    with pytest.raises(ValueError, match="unknown capability"):
        find(SEED, "flies")


# -- properties -------------------------------------------------------------------------

ROOMS = ["r1", "r2", "r3"]
SIDS = [f"s{i}" for i in range(6)]


@st.composite
def views(draw):
    socks = [Sock("/", sid, frozenset(draw(st.sets(st.sampled_from(ROOMS))))) for sid in SIDS]
    return View(socks)


@settings(max_examples=150, deadline=None)
@given(view=views(), rooms=st.lists(st.sampled_from(ROOMS + SIDS), min_size=1, max_size=4),
       sender=st.sampled_from(SIDS))
def test_multi_room_send_is_one_copy_per_member_and_partitions_the_namespace(view, rooms, sender):
    o = outcome(REF, view, "/", sender, "broadcast rooms", [{"rooms": rooms, "data": 0}])
    (p,) = o.pushes
    members = {s.sid for s in view.sockets() if s.rooms & set(rooms) or s.sid in rooms}
    assert p.recipients == members and p.copies == 1
    bad = o.must_not("/", "event")
    assert not bad & p.recipients and bad | p.recipients == set(SIDS)


@settings(max_examples=150, deadline=None)
@given(view=views(), room=st.sampled_from(ROOMS), sender=st.sampled_from(SIDS))
def test_room_others_excludes_the_sender_and_join_is_applied_first(view, room, sender):
    o = outcome(SEED, view, "/", sender, "join room", [room])
    announce = next(p for p in o.pushes if p.event == "user joined")
    members = {s.sid for s in view.sockets() if room in s.rooms} - {sender}
    assert announce.recipients == members
    assert sender in o.must_not("/", "user joined")
    joined = outcome(SEED, view, "/", sender, "join", [room]).pushes[0]
    assert joined.recipients == members | {sender}


def test_expected_ack_resolves_a_scenarios_ack_template_with_the_arguments_sent():
    # a scenario's expect_ack: {payload: ...} is read with the app file's value language
    # (wsbench.app.loader.ack_spec) and resolved here with the arguments really sent (h43)
    import yaml

    from wsbench.app import expected_ack
    from wsbench.app.loader import ack_spec
    from wsbench.yamlnode import Node

    text = 'payload: {ok: true, response: "$args[0].data", by: $sender.sid, n: $integer}\n'
    root = Node(yaml.compose(text), "", "<t>", yaml.SafeLoader(""), [])
    spec = ack_spec(root.mapping(("payload", "args")))
    sent = [{"data": {"q": 1}}]
    ack = expected_ack(spec, "/", "S1", "request ack", sent)
    assert not isinstance(ack, str)
    assert ack.mismatch([{"ok": True, "response": {"q": 1}, "by": "S1", "n": 3}]) is None
    assert "[0].response" in ack.mismatch([{"ok": True, "response": None, "by": "S1", "n": 3}])
    assert "[0].by" in ack.mismatch([{"ok": True, "response": {"q": 1}, "by": "S2", "n": 3}])
    # a path the arguments do not have: said, never a verdict
    assert expected_ack(spec, "/", "S1", "request ack", [{"nodata": 1}]) == (
        "ack: $args[0].data is not in the event")
