"""Each --fault of the reference server makes the matching short scenario fail, naming the violation."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_text, violations

BASE = "clients: {clients}\nduration: {duration}\nserver: {{faults: [{fault}]}}\n"

CASES = {
    "broadcast-to-sender": (
        "sender_included",
        10,
        "4s",
        """
groups:
  - flow:
      - connect: /
      - think: 1s
      - emit: {event: broadcast others, data: {data: {}}, ack: true, expect: [{event: event, to: others}]}
""",
    ),
    "room-leak": (
        "leak",
        10,
        "4s",
        """
groups:
  - flow:
      - connect: /
      - join: "r{client}"
      - think: 1s
      - emit: {event: room message, data: {room: "{room}", message: hi}, expect: [{event: message, to: room}]}
""",
    ),
    "multi-room-duplicate": (
        "duplicate",
        6,
        "4s",
        """
groups:
  - flow:
      - connect: /
      - join: a
      - join: b
      - think: 1s
      - emit: {event: broadcast rooms, data: {rooms: [a, b], data: {}}, expect: [{event: event, to: rooms, rooms: [a, b]}]}
""",
    ),
    "drop-deliveries": (
        "missing",
        30,
        "6s",
        """
groups:
  - flow:
      - connect: /
      - think: 1s
      - every:
          interval: 100ms
          count: 20
          steps:
            - emit: {event: broadcast all, data: {data: {}}, expect: [{event: event, to: all, within: 1s}]}
""",
    ),
    # One sender: order is judged per (sender, receiver), and the fault swaps adjacent
    # deliveries to a socket, so adjacent deliveries must come from the same sender.
    "reorder": (
        "out_of_order",
        10,
        "5s",
        """
groups:
  - name: listeners
    count: 9
    flow:
      - connect: /
      - join: r
      - think: 4s
  - name: sender
    count: 1
    flow:
      - connect: /
      - join: r
      - think: 1s
      - every:
          interval: 5ms
          count: 400
          steps:
            - emit: {event: broadcast room, data: {room: r, data: {}}, expect: [{event: event, to: room, room: r}]}
""",
    ),
    "drop-acks": (
        "ack_timeout",
        5,
        "4s",
        """
groups:
  - flow:
      - connect: /
      - emit: {event: chat message, data: hi, ack: true, ack_timeout: 1s}
""",
    ),
    "late-acks": (
        "ack_timeout",
        5,
        "5s",
        """
groups:
  - flow:
      - connect: /
      - emit: {event: chat message, data: hi, ack: true, ack_timeout: 500ms}
""",
    ),
    "ignore-leave": (
        "leak",
        10,
        "5s",
        """
groups:
  - flow:
      - connect: /
      - join: r
      - think: 500ms
      - leave: r
      - think: 500ms
      - emit: {event: broadcast room, data: {room: r, data: {}}, expect: [{event: event, to: room, room: r}]}
""",
    ),
    "accept-bad-token": (
        "connect_failed",
        4,
        "4s",
        """
auth: {jwt: {secret: a-long-enough-secret-for-hs256-tests}}
groups:
  - flow:
      - connect: {token: invalid, refused: Invalid token}
""",
    ),
    "private-room-join": (
        "leak",
        6,
        "5s",
        """
groups:
  - flow:
      - connect: /
      - think: 1s
      - emit: {event: echo, data: x, ack: true, stamp: none, peer: next}
      - join: "{peer_sid}"
      - think: 500ms
      - emit: {event: private message, peer: previous, data: {to: "{peer_sid}", message: psst}, expect: [{event: private message, to: socket}]}
""",
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fault", sorted(CASES))
def test_fault_is_caught(fault, tmp_path) -> None:
    kind, clients, duration, body = CASES[fault]
    text = BASE.format(clients=clients, duration=duration, fault=fault) + body
    outcome = run_text(text, tmp_path)
    found = violations(outcome.summary)
    assert outcome.exit_status != 0
    assert found.get(kind, 0) > 0, found
    failed = [t for t in outcome.summary.sections.thresholds if not t.passed]
    assert any(kind in str(t.detail) or kind in t.name for t in failed), failed
