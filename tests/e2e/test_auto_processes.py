"""``--processes auto`` (RunOptions.processes=None): a run with more clients than one
process holds is split over the cores, says so, and is judged as one run."""

from __future__ import annotations

import os

import pytest

import wsbench.scenario.processes as processes_module
from tests.e2e.conftest import run_text, violations

ROOM = """
clients: 8
duration: 3s
arrival: {rate: 100}
groups:
  - flow:
      - connect: /
      - join: r
      - think: 1s
      - emit: {event: broadcast room, data: {room: r, data: {}}, ack: true, expect: [{event: event, to: room, room: r}]}
"""


@pytest.mark.timeout(90)
@pytest.mark.parametrize("cores, expected", [(3, 2), (2, 1)])  # one core is the server's
def test_auto_splits_when_one_process_would_saturate(cores, expected, tmp_path, monkeypatch):
    monkeypatch.setattr(processes_module, "CLIENTS_PER_PROCESS", 4)  # 8 clients: 2 processes' worth
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    outcome = run_text(ROOM, tmp_path, processes=None)
    s = outcome.summary
    assert outcome.exit_status == 0, (s.partial_reason, s.sections.thresholds)
    assert violations(s) == {}
    assert s.sections.run.processes == expected
    assert s.sections.generator.processes == expected
    assert any(m.startswith(f"processes: {expected} (auto: ") for m in outcome.messages)
    assert s.sections.delivery.delivered == s.sections.delivery.expected == 8 * 8
