"""Scenario steps for broadcast acks (issue 13 #3): groups answer the server's ack requests after
``answer_acks.delay`` (or never), and ``expect_ack: {answers: all}`` judges the aggregated ack."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import run_text, violations

SCENARIO = """
name: broadcast-acks
clients: 4
duration: 3s
groups:
  - name: members
    count: 3
    answer_acks: ANSWER
    flow:
      - connect: /
      - join: {room: lobby}
  - name: sender
    count: 1
    flow:
      - connect: /
      - think: 1s
      - emit: {event: broadcast with ack, data: {room: lobby, data: hi, timeout: 800},
               expect_ack: {answers: all}, ack_timeout: 3s, stamp: false}
"""


@pytest.mark.timeout(60)
def test_delayed_answers_from_every_recipient_pass(tmp_path) -> None:  # noqa: ANN001
    s = run_text(SCENARIO.replace("ANSWER", "{delay: 50ms}"), tmp_path).summary
    assert violations(s) == {}, s.sections.delivery.violations.samples[:3]
    acks = s.sections.delivery.acks
    assert acks.ok == acks.expected == 1
    assert acks.latency.min_ms >= 50  # the members answered after their delay


@pytest.mark.timeout(60)
def test_silent_recipients_fail_expect_ack_all(tmp_path) -> None:  # noqa: ANN001
    s = run_text(SCENARIO.replace("ANSWER", "false"), tmp_path).summary
    assert violations(s) == {"ack_mismatch": 1}
    assert "of 3 recipients answered" in s.sections.delivery.violations.samples[0].detail
