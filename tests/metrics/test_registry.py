"""Metrics: per-second rollover, bounded series, snapshots and exact merging."""

from __future__ import annotations

import json
import random

import pytest

from wsbench.exceptions import ConfigError
from wsbench.metrics import LatencyHistogram, Metrics

S = 1_000_000_000
MS = 1_000_000


def fresh(**kwargs: object) -> Metrics:
    return Metrics(origin_ns=0, origin_wall=1_000.0, **kwargs)  # type: ignore[arg-type]


def test_tick_rolls_over_once_per_second() -> None:
    m = fresh()
    m.record_ns("rtt", 2 * MS)
    m.record_ns("rtt", 4 * MS)
    assert m.tick(S // 2) is False
    assert m.series("rtt") == []
    assert m.tick(S) is True
    assert m.tick(S + 1) is False
    (point,) = m.series("rtt")
    assert (point.t, point.count) == (0, 2)
    assert point.p50_ms == pytest.approx(2.0, rel=1e-3)
    assert point.max_ms == pytest.approx(4.0, rel=1e-3)
    assert point.histogram().count == 2


def test_empty_second_has_a_point_with_no_percentiles() -> None:
    m = fresh()
    m.record_ns("rtt", MS)
    m.tick(S)
    m.tick(2 * S)
    empty = m.series("rtt")[1]
    assert (empty.t, empty.count, empty.p99_ms, empty.hdr) == (1, 0, None, None)


def test_late_tick_folds_missed_seconds_into_the_open_one() -> None:
    m = fresh()
    m.record_ns("rtt", MS)
    m.tick(5 * S + 3)
    m.record_ns("rtt", MS)
    m.tick(6 * S)
    assert [(p.t, p.count) for p in m.series("rtt")] == [(0, 1), (5, 1)]


def test_recorder_survives_rollover_and_cumulative_includes_open_second() -> None:
    m = fresh()
    record = m.recorder("rtt")
    for second in range(3):
        record(MS)
        m.tick((second + 1) * S)
    record(MS)  # open second
    assert m.histogram("rtt").count == 4
    assert sum(p.count for p in m.series("rtt")) == 3
    assert m.histogram("unknown").count == 0


def test_recorders_for_one_name_share_its_histogram() -> None:
    m = fresh()
    first, second = m.recorder("rtt"), m.recorder("rtt")
    first(MS)
    second(MS)
    m.record_ns("rtt", MS)
    m.tick(S)
    assert [(p.t, p.count) for p in m.series("rtt")] == [(0, 3)]


def test_counters_and_gauges_are_sampled_each_second() -> None:
    m = fresh()
    m.incr("sent")
    m.incr("sent", 4)
    m.set_gauge("clients", 10)
    m.tick(S)
    m.incr("sent", 2)
    m.set_gauge("clients", 12)
    m.tick(2 * S)
    assert m.counter("sent") == 7
    assert m.counter_series("sent") == [(0, 5), (1, 2)]
    assert m.gauge_series("clients") == [(0, 10), (1, 12)]
    assert m.gauge("clients") == 12


def test_series_are_bounded_rings() -> None:
    m = fresh(max_points=5)
    for second in range(20):
        m.record_ns("rtt", MS)
        m.incr("n")
        m.set_gauge("g", second)
        m.tick((second + 1) * S)
    assert [p.t for p in m.series("rtt")] == [15, 16, 17, 18, 19]
    assert len(m.counter_series("n")) == len(m.gauge_series("g")) == 5
    assert m.histogram("rtt").count == 20  # the cumulative histogram keeps everything


def test_flush_closes_partial_second_and_later_records_join_it() -> None:
    m = fresh()
    m.record_ns("rtt", MS)
    m.incr("n")
    m.flush(S // 2)
    assert [(p.t, p.count) for p in m.series("rtt")] == [(0, 1)]
    m.record_ns("rtt", 3 * MS)
    m.incr("n")
    m.flush()
    assert [(p.t, p.count) for p in m.series("rtt")] == [(0, 2)]
    assert m.counter_series("n") == [(0, 2)]


def test_bad_max_points_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        Metrics(max_points=0)


def run(m: Metrics, samples: list[tuple[int, str, int]]) -> Metrics:
    """Feed (time_ns, name, latency_ns) samples, ticking as time passes."""
    for when, name, latency in samples:
        m.tick(when)
        m.record_ns(name, latency)
        m.incr(f"{name}.n")
    m.set_gauge("clients", 5)
    m.flush(max(w for w, _, _ in samples))
    return m


def workload(seed: int = 1) -> list[tuple[int, str, int]]:
    rnd = random.Random(seed)
    return sorted(
        (rnd.randrange(10 * S), rnd.choice(("ack", "fanout")), int(rnd.lognormvariate(14, 1)))
        for _ in range(3_000)
    )


def test_snapshot_survives_json_round_trip() -> None:
    m = run(fresh(), workload())
    snap = json.loads(json.dumps(m.snapshot(), allow_nan=False))
    again = Metrics.from_snapshot(snap)
    assert again.snapshot() == m.snapshot()
    assert again.histogram("ack") == m.histogram("ack")


def test_merging_process_snapshots_equals_one_process_recording_everything() -> None:
    samples = workload(2)
    single = run(fresh(), samples)
    snaps = [json.loads(json.dumps(run(fresh(), samples[i::3]).snapshot())) for i in range(3)]
    merged = Metrics.merge_snapshots(snaps)
    for name in ("ack", "fanout"):
        assert merged.histogram(name) == single.histogram(name)
        assert merged.series(name) == single.series(name)
    assert merged.counters == single.counters
    assert merged.counter_series("ack.n") == single.counter_series("ack.n")
    assert merged.gauge("clients") == 15  # gauges add up across processes
    assert merged.snapshot()["histograms"] == single.snapshot()["histograms"]


def test_merge_aligns_series_on_wall_origin() -> None:
    early, late = fresh(), Metrics(origin_ns=0, origin_wall=1_003.0)
    early.record_ns("rtt", MS)
    early.flush(S // 2)
    late.record_ns("rtt", 2 * MS)
    late.flush(S // 2)
    merged = Metrics.merge_snapshots([late.snapshot(), early.snapshot()])
    assert merged.origin_wall == 1_000.0
    assert [(p.t, p.count) for p in merged.series("rtt")] == [(0, 1), (3, 1)]


def test_merge_into_live_store_combines_equal_seconds_exactly() -> None:
    a, b = fresh(), fresh()
    a.record_ns("rtt", MS)
    b.record_ns("rtt", 9 * MS)
    a.flush(S // 2)
    b.flush(S // 2)
    a.merge(b.snapshot())
    (point,) = a.series("rtt")
    assert point.count == 2
    expected = LatencyHistogram()
    expected.record_ns(MS)
    expected.record_ns(9 * MS)
    assert point.histogram() == expected
    assert point.max_ms == pytest.approx(9.0, rel=1e-3)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: {**s, "format": 99},
        lambda s: {**s, "histograms": []},
        lambda s: {**s, "histograms": {"x": {"hdr": "garbage"}}},
        lambda s: {**s, "origin_wall": "yesterday"},
        lambda s: {**s, "series": {**s["series"], "counters": {"n": {"t": [1, 2], "delta": [1]}}}},
        lambda s: [s],
    ],
)
def test_malformed_snapshots_are_config_errors(mangle: object) -> None:
    snap = run(fresh(), workload(3)[:50]).snapshot()
    with pytest.raises(ConfigError):
        fresh().merge(mangle(snap))  # type: ignore[operator]
