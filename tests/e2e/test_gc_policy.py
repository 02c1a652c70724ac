"""A run makes no full garbage collection while its clients run, and says what the young
ones cost (issue 14: in the main job 10-11 full collections blocked the loop 0.4-1 s each)."""

from __future__ import annotations

import gc

from tests.e2e.conftest import run_text

# 100 clients: young collections now come every 5,000 net tracked allocations (wave 2e,
# YOUNG_THRESHOLD), which 20 clients' 1,200 acked emits never reached (100: 3 of them)
SCENARIO = """
clients: 100
duration: 2s
arrival: {rate: 200}
groups:
  - name: talkers
    flow:
      - connect: {namespaces: [/]}
      - loop:
          duration: 1500ms
          steps:
            - emit: {event: echo, data: "hi {client}", ack: true}
            - think: 20ms
"""


def test_the_driver_runs_with_young_collections_only(tmp_path):
    before = gc.get_threshold()
    summary = run_text(SCENARIO, tmp_path / "run").summary
    counters = summary.metrics["counters"]
    assert counters.get("gc.gen0", 0) > 0  # the collector went on, observed
    assert "gc.gen2" not in counters  # and made no full collection
    assert "gc_pause" in summary.metrics["histograms"]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0  # restored after
