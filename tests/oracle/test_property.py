"""Property: a perfect server (deliveries computed from its own membership) has no violations.

The simulation is asynchronous the way a real deployment is: each client's packets reach
the server in order, but the server interleaves clients arbitrarily; each client's inbox is
FIFO (deliveries and acks in the order the server wrote them); the driver tells the
membership model about a change when it sends the request and confirms it when the ack
arrives. Hypothesis picks the interleaving.
"""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from wsbench.oracle import DeliveryOracle, Semantics, Stamp

N = 4
ROOMS = ["a", "b", "c"]
NS = "/"

op = st.one_of(
    st.tuples(st.just("join"), st.integers(0, N - 1), st.sampled_from(ROOMS)),
    st.tuples(st.just("leave"), st.integers(0, N - 1), st.sampled_from(ROOMS)),
    st.tuples(
        st.just("emit"),
        st.integers(0, N - 1),
        st.sampled_from(list(Semantics)),
        st.lists(st.sampled_from(ROOMS), min_size=1, max_size=3),
        st.integers(0, N - 1),
        st.booleans(),
    ),
    st.tuples(st.just("process"), st.integers(0, N - 1)),
    st.tuples(st.just("read"), st.integers(0, N - 1)),
    st.tuples(st.just("bounce"), st.integers(0, N - 1)),
)


class PerfectServer:
    def __init__(self):
        self.connected: set[int] = set()
        self.rooms: dict[str, set[int]] = {r: set() for r in ROOMS}
        self.sid = {}

    def audience(self, sender, semantics, rooms, to):
        everyone = set(self.connected)
        by_sid = {self.sid[c]: c for c in self.connected}

        def room(r):
            return self.rooms.get(r, set()) | ({by_sid[r]} if r in by_sid else set())

        if semantics in (Semantics.ALL, Semantics.NAMESPACE_ALL, Semantics.ALL_NAMESPACES):
            return everyone
        if semantics is Semantics.OTHERS:
            return everyone - {sender}
        if semantics is Semantics.ROOM:
            return room(rooms[0])
        if semantics is Semantics.ROOM_OTHERS:
            return room(rooms[0]) - {sender}
        if semantics is Semantics.ROOMS:
            return set().union(*(room(r) for r in rooms))
        if semantics is Semantics.ROOMS_OTHERS:
            return set().union(*(room(r) for r in rooms)) - {sender}
        if semantics is Semantics.SOCKET:
            return {to} & everyone
        return {sender} & everyone  # SENDER


def run(ops):
    oracle = DeliveryOracle()
    m = oracle.membership
    server = PerfectServer()
    outbox = {c: deque() for c in range(N)}  # client -> server, per client FIFO
    inbox = {c: deque() for c in range(N)}  # server -> client
    alive = set(range(N))
    seq = dict.fromkeys(range(N), 0)
    epoch = dict.fromkeys(range(N), 0)
    clock = 0

    def tick():
        nonlocal clock
        clock += 1
        return clock

    for c in range(N):  # everyone connects first
        m.connected(c, NS, f"s{c}.0", now_ns=tick())
        server.connected.add(c)
        server.sid[c] = f"s{c}.0"

    def process(c):
        if not outbox[c]:
            return
        item = outbox[c].popleft()
        kind = item[0]
        if kind in ("join", "leave"):
            (server.rooms[item[1]].add if kind == "join" else server.rooms[item[1]].discard)(c)
            inbox[c].append(("ack", kind, item[1]))
        elif kind == "emit":
            _, stamp, semantics, rooms, to = item
            if c in server.connected:
                for r in server.audience(c, semantics, rooms, to):
                    inbox[r].append(("event", stamp))
        elif kind == "disconnect":
            server.connected.discard(c)
            for members in server.rooms.values():
                members.discard(c)
            inbox[c].clear()
        elif kind == "connect":
            server.connected.add(c)
            server.sid[c] = item[1]
            inbox[c].append(("connected", item[1]))

    def read(c):
        if not inbox[c] or c not in alive and inbox[c][0][0] != "connected":
            return
        item = inbox[c].popleft()
        if item[0] == "ack":
            (m.joined if item[1] == "join" else m.left)(c, NS, item[2], now_ns=tick())
        elif item[0] == "connected":
            m.connected(c, NS, item[1], now_ns=tick())
            alive.add(c)
        else:
            oracle.observe_delivery(item[1], c, NS, tick())

    for o in ops:
        kind, c = o[0], o[1]
        if kind in ("join", "leave") and c in alive:
            m.join_requested(c, NS, o[2], now_ns=tick())
            outbox[c].append((kind, o[2]))
        elif kind == "emit" and c in alive:
            _, _, semantics, rooms, to, _unused = o
            if semantics in (Semantics.ROOM, Semantics.ROOM_OTHERS):
                rooms = rooms[:1]  # io.to(room): one room (several are ROOMS / ROOMS_OTHERS)
            seq[c] += 1
            stamp = Stamp.new("p", c, seq[c], tick())
            oracle.expect_emit(stamp, c, NS, semantics, rooms=rooms, to=to, deadline_ns=10**12)
            outbox[c].append(("emit", stamp, semantics, rooms, to))
        elif kind == "process":
            process(c)
        elif kind == "read":
            read(c)
        elif kind == "bounce" and c in alive:  # drop the connection, reconnect later
            alive.discard(c)
            m.disconnected(c, now_ns=tick())
            outbox[c].append(("disconnect",))
            epoch[c] += 1
            sid = f"s{c}.{epoch[c]}"
            m.connect_requested(c, NS, now_ns=tick())
            outbox[c].append(("connect", sid))
    # drain: the server processes everything, every client reads everything
    while any(outbox.values()) or any(inbox[c] for c in range(N)):
        for c in range(N):
            process(c)
            while inbox[c]:
                before = len(inbox[c])
                read(c)
                if len(inbox[c]) == before:
                    inbox[c].clear()
    oracle.sweep()
    return oracle.verdict()


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=60))
def test_perfect_server_has_no_violations(ops):
    verdict = run(ops)
    assert verdict.violations.counts == {}, verdict.violations.samples[:3]
    assert verdict.delivered == verdict.expected


def test_the_simulation_exercises_deliveries():
    ops = [("join", 1, "a"), ("process", 1), ("read", 1)]
    ops += [("emit", 0, Semantics.ROOM, ["a"], 0, False), ("process", 0)]
    v = run(ops)
    assert v.expected == 1 and v.delivered == 1


def test_the_same_simulation_catches_a_leaky_server(monkeypatch):
    monkeypatch.setattr(PerfectServer, "audience", lambda self, *a: set(self.connected))
    ops = [("join", 1, "a"), ("process", 1), ("read", 1)]
    ops += [("emit", 0, Semantics.ROOM, ["a"], 0, False), ("process", 0)]
    assert run(ops).violations.counts == {"leak": 3}
