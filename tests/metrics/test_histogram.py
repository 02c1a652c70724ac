"""LatencyHistogram: accuracy, HDR equivalence, clamping, exact encode/decode/merge."""

from __future__ import annotations

import random

import pytest
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

from wsbench.exceptions import ConfigError
from wsbench.metrics import HIGHEST_US, LatencyHistogram


def hdr_reference(values_us: list[int]) -> HdrHistogram:
    ref = HdrHistogram(1, HIGHEST_US, 3)
    for v in values_us:
        ref.record_value(v)
    return ref


def recorded(values_ns: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for ns in values_ns:
        hist.record_ns(ns)
    return hist


BOUNDARIES = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096, 10**6, 2**31, HIGHEST_US - 1, HIGHEST_US]


def test_inline_bucket_index_matches_hdrh() -> None:
    rnd = random.Random(7)
    values = BOUNDARIES + [rnd.randrange(HIGHEST_US) for _ in range(5000)]
    ours = recorded([v * 1000 for v in values])
    ref = hdr_reference(values)
    assert bytes(ours._counts) == bytes(ref.counts)


def test_statistics_match_hdrh() -> None:
    rnd = random.Random(3)
    values = [int(rnd.lognormvariate(7, 1.5)) for _ in range(20_000)]
    ours, ref = recorded([v * 1000 for v in values]), hdr_reference(values)
    assert ours.count == ref.get_total_count() == 20_000
    assert ours.min == ref.get_min_value()
    assert ours.max == ref.get_max_value()
    assert ours.mean == pytest.approx(ref.get_mean_value())
    assert ours.stdev == pytest.approx(ref.get_stddev())
    for p in (0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0):
        assert ours.percentile(p) == ref.get_value_at_percentile(p), p


@pytest.mark.parametrize("dist", ["uniform", "exponential", "bimodal"])
def test_percentiles_within_hdr_precision_of_exact(dist: str) -> None:
    rnd = random.Random(11)
    draw = {
        "uniform": lambda: rnd.randint(1, 100_000),
        "exponential": lambda: int(rnd.expovariate(1 / 2_000)) + 1,
        "bimodal": lambda: rnd.choice((500, 80_000)) + rnd.randint(0, 50),
    }[dist]
    values = sorted(draw() for _ in range(50_000))
    hist = recorded([v * 1000 for v in values])
    for key, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("p999", 99.9)):
        exact = values[max(int(p / 100 * len(values) + 0.5), 1) - 1]
        # 3 significant digits: the reported value is within 0.1 % above the exact one.
        assert exact <= hist.percentiles()[key] <= exact * 1.001 + 1, (key, exact)
    assert hist.percentiles()["max"] >= values[-1]


def test_empty_histogram_reads_as_zero() -> None:
    hist = LatencyHistogram()
    assert (hist.count, hist.min, hist.max, hist.mean, hist.stdev) == (0, 0, 0, 0.0, 0.0)
    assert hist.percentiles() == {"p50": 0, "p90": 0, "p95": 0, "p99": 0, "p999": 0, "max": 0}
    assert LatencyHistogram.decode(hist.encode()) == hist


def test_out_of_range_values_are_clamped_and_counted() -> None:
    hist = recorded([-5_000, 500, (HIGHEST_US + 10) * 1000, 5_000])
    assert hist.count == 4
    assert hist.clamped == 2
    assert hist.min == 0
    assert hist.max >= HIGHEST_US
    assert hist.to_dict()["clamped"] == 2


def test_record_us_truncates_to_whole_microseconds() -> None:
    hist = LatencyHistogram()
    hist.record_us(1500.7)
    assert hist.percentile(50) == 1500


def test_to_dict_reports_milliseconds_and_the_histoblob() -> None:
    hist = recorded([2_000_000] * 10)  # 2 ms
    summary = hist.to_dict()
    assert summary["count"] == 10
    assert summary["p50_ms"] == pytest.approx(2.0, rel=1e-3)
    assert summary["min_ms"] == pytest.approx(2.0, rel=1e-3)
    assert summary["hdr"].startswith("HISTF")
    assert LatencyHistogram.from_dict(summary) == hist


def test_reset_keeps_bound_recorder_valid() -> None:
    hist = LatencyHistogram()
    record = hist.record_ns
    record(1_000_000)
    hist.reset()
    assert hist.count == 0
    record(2_000_000)
    assert hist.count == 1


def test_percentile_outside_0_100_is_refused() -> None:
    with pytest.raises(ValueError):
        LatencyHistogram().percentile(101)


def test_merge_of_decoded_parts_equals_recording_everything() -> None:
    rnd = random.Random(5)
    values = [int(rnd.paretovariate(1.2) * 100_000) for _ in range(30_000)] + [-1, 10**13]
    whole = recorded(values)
    merged = LatencyHistogram()
    for i in range(4):
        part = recorded(values[i::4])
        merged.merge(LatencyHistogram.decode(part.encode(), clamped=part.clamped))
    assert merged == whole
    assert merged.to_dict() == whole.to_dict()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=-10**6, max_value=4 * 10**12), max_size=200),
    st.integers(min_value=1, max_value=5),
)
def test_merge_property(values: list[int], parts: int) -> None:
    whole = recorded(values)
    merged = LatencyHistogram()
    for i in range(parts):
        piece = recorded(values[i::parts])
        merged.merge(LatencyHistogram.decode(piece.encode(), clamped=piece.clamped))
    assert merged == whole
    assert merged.percentiles() == whole.percentiles()
    assert merged.count == len(values)


@pytest.mark.parametrize("blob", ["", "not base64!", "SGVsbG8gd29ybGQ=", "HISTFAAAAAA="])
def test_decode_rejects_garbage(blob: str) -> None:
    with pytest.raises(ConfigError, match="encoded histogram"):
        LatencyHistogram.decode(blob)


def test_decode_rejects_other_precision() -> None:
    other = HdrHistogram(1, 1000, 2)
    other.record_value(5)
    with pytest.raises(ConfigError, match="range/precision"):
        LatencyHistogram.decode(other.encode())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_decode_of_arbitrary_bytes_fails_cleanly(tail: bytes) -> None:
    import base64

    blob = base64.b64encode(bytes.fromhex("1c849314") + len(tail).to_bytes(4, "big") + tail)
    try:
        hist = LatencyHistogram.decode(blob)
    except ConfigError:
        return
    assert hist.count >= 0
