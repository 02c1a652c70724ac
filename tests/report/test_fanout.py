"""Fan-out is reported as HDR percentiles over emits, labelled as such (not means)."""

from __future__ import annotations

from wsbench.metrics import Metrics, RunSummary, Target
from wsbench.oracle import DeliveryOracle, Semantics, Stamp
from wsbench.report.console import render_summary
from wsbench.report.data import fanout_rows
from wsbench.report.html import render_html
from wsbench.report.plots import plot_fanout
from wsbench.scenario.judge import latency_sinks

MS = 1_000_000


def _skewed_run(metrics: Metrics, emits: range) -> DeliveryOracle:
    """Emits to 5 receivers: 99 of 100 reach all within ~3.7 ms, one takes 4.6 s."""
    on_latency, on_fanout = latency_sinks(metrics)
    oracle = DeliveryOracle(on_latency=on_latency, on_fanout=on_fanout)
    for c in range(6):
        oracle.membership.connected(c, "/", f"s{c}", 0)
    for i in emits:
        sent = i * 10 * MS
        stamp = Stamp(f"e{i}", 0, i, sent)
        oracle.expect_emit(stamp, 0, "/", Semantics.OTHERS, at_ns=sent,
                           deadline_ns=sent + 10_000 * MS)  # fmt: skip
        slow = i % 100 == 99
        for r in range(1, 6):
            late = (4600 if slow else 3.7) * MS + r * 1000
            oracle.observe_delivery(stamp, r, "/", sent + int(late), "message")
    oracle.sweep(None)
    return oracle


def _summary(metrics: Metrics, oracle: DeliveryOracle) -> RunSummary:
    metrics.flush()
    return RunSummary(
        scenario="fanout", target=Target("http://127.0.0.1:1"), started_at="2026-01-01T00:00:00Z",
        duration_s=1.0, exit_status=0, metrics=metrics.snapshot(),
        sections={"delivery": oracle.verdict().to_dict()},
    )  # fmt: skip


def test_fanout_shows_percentiles_not_means() -> None:
    """Audience 2-10 showed "median 49 ms" (a mean over emits) while the p50 was 3.7 ms."""
    m = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    summary = _summary(m, _skewed_run(m, range(100)))
    assert summary.sections.delivery is not None
    bucket = summary.sections.delivery.fanout[0]
    assert bucket.audience == "2-10" and bucket.mean_median_ms > 40  # the misleading mean
    row = fanout_rows(summary)[0]
    assert 3.6 < row["median p50"] < 3.8 and 3.6 < row["first p50"] < 3.8
    assert row["last max"] > 4500
    text = render_summary(summary)
    assert "percentiles over emits" in text
    header = next(line for line in text.splitlines() if line.strip().startswith("audience"))
    assert header.split()[3:] == ["first", "p50", "median", "p50", "last", "p50", "last", "p99",
                                  "last", "max"]  # fmt: skip
    line = next(line for line in text.splitlines() if line.strip().startswith("2-10"))
    assert "3.7" in line.split()[4] and "49" not in line
    html = render_html(summary, {})
    assert "median p50" in html and "Percentiles over emits" in html
    assert plot_fanout(summary) is not None


def test_fanout_percentiles_merge_across_processes() -> None:
    """--processes children: their fan-out histograms add up to the single-process ones."""
    one = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    whole = _summary(one, _skewed_run(one, range(200)))
    a = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    b = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    _skewed_run(a, range(100))
    oracle = _skewed_run(b, range(100, 200))
    a.flush()
    b.flush()
    merged = Metrics.from_snapshot(a.snapshot())
    merged.merge(b.snapshot())
    split = _summary(merged, oracle)
    for col in ("first p50", "median p50", "last p50", "last p99", "last max"):
        assert fanout_rows(split)[0][col] == fanout_rows(whole)[0][col], col
