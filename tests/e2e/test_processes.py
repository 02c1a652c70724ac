"""``--processes 2``: one judge for two driver processes, deliveries judged across them."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_text, violations

# Every client is in one room and emits to it: with clients dealt round-robin to two
# processes, every emit has recipients in the other process.
ROOM = """
clients: 12
duration: 4s
arrival: {rate: 100}
groups:
  - flow:
      - connect: /
      - join: r
      - think: 1s
      - every:
          interval: 100ms
          count: 10
          steps:
            - emit: {event: broadcast room, data: {room: r, data: {}}, ack: true, expect: [{event: event, to: room, room: r}]}
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("processes", [1, 2])
def test_cross_process_deliveries_are_judged_like_one_process(processes, tmp_path) -> None:
    outcome = run_text(ROOM, tmp_path, processes=processes)
    s = outcome.summary
    d = s.sections.delivery
    assert not s.partial, s.partial_reason
    assert outcome.exit_status == 0, s.sections.thresholds
    assert violations(s) == {}
    assert d.emits == 12 * 10
    assert d.expected == d.delivered == 12 * 10 * 12  # every member, sender included
    assert d.acks.ok == 120
    assert s.sections.run.processes == processes
    assert s.metrics["histograms"]["delivery"]["count"] == 12 * 10 * 12
    assert s.metrics["counters"]["emits"] == 120  # counters of both children, merged
    assert s.sections.connections.connected == 12
    if processes == 2:
        assert "replays them through one oracle" in s.sections.run.oracle_partitioning


# Each client alone in its room: room-leak sends every room message to all, so most
# leaks land in the other process.
LEAK = """
clients: 10
duration: 4s
server: {faults: [room-leak]}
groups:
  - flow:
      - connect: /
      - join: "r{client}"
      - think: 1s
      - emit: {event: room message, data: {room: "{room}", message: hi}, expect: [{event: message, to: room}]}
"""

DROP = """
clients: 20
duration: 5s
server: {faults: [drop-deliveries]}
groups:
  - flow:
      - connect: /
      - think: 1s
      - every:
          interval: 100ms
          count: 20
          steps:
            - emit: {event: broadcast all, data: {data: {}}, expect: [{event: event, to: all, within: 1s}]}
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("text", "kind"), [(LEAK, "leak"), (DROP, "missing")], ids=["leak", "drop"]
)
def test_faults_are_caught_across_processes(text, kind, tmp_path) -> None:
    outcome = run_text(text, tmp_path, processes=2)
    found = violations(outcome.summary)
    assert outcome.exit_status == 1
    assert found.get(kind, 0) > 0, found
    if kind == "leak":  # 10 messages, each leaked to the 9 other clients
        assert found["leak"] == 90, found
    samples = outcome.summary.sections.delivery.violations.samples
    cross = [
        v for v in samples if v.kind == kind and v.sender is not None
        and v.receiver is not None and (v.sender - v.receiver[0]) % 2 == 1
    ]  # fmt: skip
    assert cross, samples[:5]  # sender and receiver in different processes
