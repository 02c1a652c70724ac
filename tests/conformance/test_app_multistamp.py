"""A copy that carries several sends' stamps names none of them (the order checks' matcher).

chat's ``join`` answers the sender with ``users``, the list of every joined username; the
check's usernames carry its stamps, so the list of the second join carries two. Matched by
its first stamp, such a copy was taken for a copy of the first send's ``users`` (to another
socket: not placed), the round never caught up ("not every copy arrived"), and the order
check's opportunities counted pairs of unrelated copies (seen 1 run in 8 on the Node twin).
"""

from __future__ import annotations

from types import SimpleNamespace

from tests.conftest import ROOT
from wsbench.app import load_app
from wsbench.app.engine import Sock, View, outcome
from wsbench.conformance.checks import app_traffic as traffic
from wsbench.conformance.checks.app_order import _opportunities
from wsbench.conformance.peer import Received

RUN = "0badcafe"
APP = load_app(str(ROOT / "scenarios" / "apps" / "reference.yaml"))


def _experiment() -> traffic.Experiment:
    exp = traffic.Experiment("join", "/chat")
    exp.sids = {"S1": "s1", "S2": "s2"}
    view = View([Sock("/chat", "s1"), Sock("/chat", "s2")])
    for i, sender in enumerate(("s1", "s2")):
        o = outcome(APP, view, "/chat", sender, "join", [f"u wsb~{RUN}~{i}"])
        view = o.view_after or view
        exp.outcomes.append(o)
        exp.tags.append("join")
    exp.sent = 2
    return exp


def test_a_users_list_with_two_stamps_is_the_second_joiners_copy() -> None:
    exp = _experiment()
    names = [f"u wsb~{RUN}~0", f"u wsb~{RUN}~1"]
    s1 = SimpleNamespace(label="S1", sids={"/chat": "s1"}, events=[
        Received("/chat", "users", ([names[0]],), 1),
    ])
    s2 = SimpleNamespace(label="S2", sids={"/chat": "s2"}, events=[
        Received("/chat", "users", (names,), 1),  # both stamps: the list after the 2nd join
    ])
    traffic._match(exp, [s1, s2], {"S1": 0, "S2": 0}, RUN)
    placed = {(c.peer, c.index) for c in exp.copies if c.verdict == "expected"}
    assert ("S2", 1) in placed, exp.copies  # the second join's answer, to its sender
    assert ("S1", 0) in placed


def test_a_copy_with_several_stamps_is_no_same_sender_opportunity() -> None:
    def users(*ids: int) -> tuple[list[str], ...]:
        return ([f"u wsb~{RUN}~{i}" for i in ids],)

    # two users lists in a row, whose first stamps are S1's sends 0 and 2: not S1's copies
    peer = SimpleNamespace(ack_after=[], events=[
        Received("/chat", "users", users(0, 1), 1), Received("/chat", "users", users(2, 1), 2),
    ])
    assert _opportunities(peer, 0, RUN, ["S1", "S2", "S1"]) == 0
    one = SimpleNamespace(ack_after=[], events=[
        Received("/chat", "users", users(0), 1), Received("/chat", "users", users(2), 2),
    ])
    assert _opportunities(one, 0, RUN, ["S1", "S2", "S1"]) == 1  # one stamp each: S1's pair
