"""The per-second rollover reads each latency series' counts ONCE (issue 14).

A pass over a wide histogram's counts is ~1.5 ms; the rollover used to make five per
non-empty series (count, percentiles, encode, and two in merge) and three per empty one,
a 25-60 ms block of the driver's event loop every second with the main job's 18 series.
Counted, not timed."""

from __future__ import annotations

import pytest

from wsbench.metrics import LatencyHistogram, Metrics

S = 1_000_000_000


@pytest.fixture
def passes(monkeypatch):
    count = [0]
    original = LatencyHistogram._sync

    def counting(self):
        count[0] += 1
        return original(self)

    monkeypatch.setattr(LatencyHistogram, "_sync", counting)
    return count


def test_one_pass_per_series_per_second(passes):
    m = Metrics(origin_ns=0)
    busy, idle = m.recorder("delivery"), m.recorder("ack")
    m.recorder("loop_lag")
    for ms in (1, 2, 3, 40):
        busy(ms * 1_000_000)
    idle(5_000_000)
    m.tick(1 * S)  # second 0: two busy series, one empty
    assert passes[0] == 3
    busy(7_000_000)
    passes[0] = 0
    m.tick(2 * S)  # second 1: one busy, two empty
    assert passes[0] == 3


def test_the_rolled_up_numbers_are_unchanged():
    m = Metrics(origin_ns=0)
    rec = m.recorder("delivery")
    for ms in (1, 2, 3, 40):
        rec(ms * 1_000_000)
    m.tick(1 * S)
    m.tick(2 * S)  # an empty second in between
    rec(9_000_000)
    m.tick(3 * S)
    whole = m.histogram("delivery")
    assert whole.count == 5 and whole.max == pytest.approx(40_000, rel=1e-3)
    expected = LatencyHistogram()
    for ms in (1, 2, 3, 40, 9):
        expected.record_ns(ms * 1_000_000)
    assert whole.percentiles() == expected.percentiles()
    points = m.snapshot()["series"]["histograms"]["delivery"]
    assert points["t"] == [0, 1, 2] and points["count"] == [4, 0, 1]
    assert points["p99_ms"][1] is None and points["hdr"][1] is None
    assert LatencyHistogram.decode(points["hdr"][2]).count == 1


def test_summary_is_count_percentiles_and_blob():
    h = LatencyHistogram()
    assert h.summary() == (0, {k: 0 for k in h.percentiles()}, None)
    for us in (10, 20, 30_000):
        h.record_ns(us * 1000)
    count, p, blob = h.summary()
    assert count == h.count == 3 and p == h.percentiles()
    assert LatencyHistogram.decode(blob) == h
