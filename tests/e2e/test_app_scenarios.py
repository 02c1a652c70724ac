"""Scenarios that name an app file (``app:``): expectations derived from it, negative
expectations (``must_not``), and ``user joined`` correlated to the join that caused it,
on the embedded reference server, correct and with a ``--fault``."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import run_text, violations

REFERENCE = Path(__file__).resolve().parents[2] / "scenarios" / "apps" / "reference.yaml"

DERIVED = """
app: {app}
clients: 16
duration: 4s
arrival: {{rate: 100}}
{server}
groups:
  - flow:
      - connect: /
      - join: "room-{{rand:2}}"
      - think: 1s
      - emit: {{event: room message, data: {{room: "{{room}}", message: "hi {{client}}"}}}}
      - join: {{room: "lobby", event: join room}}
      - think: 500ms
      - emit:
          event: private message
          peer: random
          data: {{to: "{{peer_sid}}", message: {{text: psst}}}}
          must_not: {{event: private message, to: others}}
"""

EXPLICIT = """
clients: 16
duration: 4s
arrival: {{rate: 100}}
{server}
groups:
  - flow:
      - connect: /
      - join: "room-{{rand:2}}"
      - think: 1s
      - emit:
          event: room message
          data: {{room: "{{room}}", message: "hi {{client}}"}}
          ack: true
          expect: [{{event: message, to: room}}]
      - join: {{room: "lobby", event: join room}}
      - think: 500ms
      - emit:
          event: private message
          peer: random
          data: {{to: "{{peer_sid}}", message: {{text: psst}}}}
          ack: true
          expect: [{{event: private message, to: socket}}]
"""


def _run(tmp_path: Path, text: str, fault: str | None = None):
    server = f"server: {{faults: [{fault}]}}" if fault else ""
    return run_text(text.format(server=server, app=REFERENCE), tmp_path / (fault or "ok"))


def test_derived_expectations_pass_on_the_reference_server_as_explicit_ones_do(tmp_path):
    derived = _run(tmp_path / "d", DERIVED).summary
    explicit = _run(tmp_path / "e", EXPLICIT).summary
    assert violations(derived) == {} == violations(explicit)
    d, e = derived.sections.delivery, explicit.sections.delivery
    assert d.delivery_ratio == 1.0 == e.delivery_ratio
    # derived: room message + private message (stamped), user joined (correlated), acks
    # as the file declares them; explicit: the two stamped emits only
    assert d.expected > e.expected
    assert d.acks.expected == e.acks.expected


def test_user_joined_to_the_joiner_is_caught_by_correlation(tmp_path):
    # the fault includes the sender in every "to others" broadcast: the joiner gets its
    # own `user joined`, a push that carries no stamp, only the joiner's sid
    out = _run(tmp_path, DERIVED, "broadcast-to-sender").summary
    assert violations(out).get("sender_included", 0) > 0
    samples = out.sections.delivery.violations.samples
    assert any(v.event == "user joined" for v in samples if v.kind == "sender_included")


def test_a_private_message_read_by_another_socket_is_a_forbidden_delivery(tmp_path):
    out = _run(tmp_path, DERIVED, "room-leak").summary
    got = violations(out)
    assert got.get("forbidden_delivery", 0) > 0
    samples = out.sections.delivery.violations.samples
    forbidden = [v for v in samples if v.kind == "forbidden_delivery"]
    assert forbidden and all(v.event == "private message" for v in forbidden)


JOIN_LEAVE = """
app: {app}
clients: 16
duration: 5s
arrival: {{rate: 100}}
{server}
groups:
  - flow:
      - connect: /
      - loop:
          count: 3
          steps:
            - join: {{room: "room-{{rand:2}}", event: join room}}
            - think: 300ms
            - emit: {{event: room message, data: {{room: "{{room}}", message: "hi {{client}}"}}}}
            - leave: {{room: "{{room}}", event: leave room}}
            - join: {{room: "lobby", event: join}}
            - think: 100ms
            - leave: {{room: "lobby", event: leave}}
"""


def test_a_leaver_is_not_owed_its_own_user_left_nor_a_joiner_denied_its_user_joined(tmp_path):
    # issue 11 #3 item 3: the 'missing' on `user left` under broadcast-to-sender were a
    # derivation bug, not the fault: `leave` emits io.to(room) AFTER socket.leave, so the
    # leaver is not in the audience (the engine's membership after the event), while the
    # oracle's audience, computed before the change, still held it: every leaver was
    # 'missing' its own copy, fault or not. A joiner of `join` is owed its `user joined`.
    out = _run(tmp_path, JOIN_LEAVE).summary
    assert violations(out) == {}
    d = out.sections.delivery
    assert d.delivery_ratio == 1.0 and d.expected > 0


def test_broadcast_to_sender_on_joins_and_leaves_is_sender_included_only(tmp_path):
    # the fault adds the sender to `socket.to(room)`: the joiner of `join room` gets its own
    # `user joined` (and the leaver of `leave room` its `user left`): sender_included, and
    # no recipient is missing anything
    out = _run(tmp_path, JOIN_LEAVE, "broadcast-to-sender").summary
    got = violations(out)
    assert got.get("sender_included", 0) > 0 and set(got) == {"sender_included"}


DISCONNECTS = """
app: {app}
clients: 24
duration: 5s
arrival: {{rate: 100}}
{server}
groups:
  - name: stayers
    weight: 1
    namespace: /chat
    flow:
      - connect: {{namespaces: [/chat]}}
      - emit: {{event: join, data: "stay-{{client}}"}}
      - think: 4s
  - name: leavers
    weight: 1
    namespace: /chat
    flow:
      - connect: {{namespaces: [/chat]}}
      - emit: {{event: join, data: "leave-{{client}}"}}
      - think: {{uniform: [500ms, 1500ms]}}
      - disconnect: {{namespace: /chat}}
"""


def test_user_left_on_disconnect_is_derived_correlated_and_judged(tmp_path):
    # issue 11 #3 item 2: /chat's `disconnect: user left` (reference.yaml, if_sent: join) is
    # owed to every other /chat socket when a socket that joined goes away; its copy carries
    # no sid, only the username its join stamped, and is matched to the disconnection by it
    out = _run(tmp_path, DISCONNECTS).summary
    assert violations(out) == {}
    counters = out.metrics["counters"]
    assert counters.get("derived.disconnect_pushes", 0) >= 8  # one per leaver
    assert out.sections.delivery.delivery_ratio == 1.0


def test_user_left_on_disconnect_dropped_is_missing(tmp_path):
    # drop-deliveries loses 1 % of the server's writes at random, but a drop owed to a socket
    # that leaves before the copy's deadline is `lost_while_away`, not missing: with 40
    # clients (30 leavers) only ~5 of ~1,540 copies came out missing, ~2.5 of them `user left`
    # (none at all in ~1 run of 12: a CI failure). 80 clients, half of them staying: ~5,560
    # copies, 25-29 missing, ~10 of them `user left` (none has odds of ~1 in 20,000)
    text = DISCONNECTS.replace("clients: 24", "clients: 80")
    out = _run(tmp_path, text, "drop-deliveries").summary
    missing = [v for v in out.sections.delivery.violations.samples if v.kind == "missing"]
    assert {v.event for v in missing} <= {"user joined", "user left"}, missing
    assert any(v.event == "user left" for v in missing), missing
