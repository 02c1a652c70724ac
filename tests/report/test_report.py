"""report/: every output renders from a RunSummary artifact alone."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from tests.report.conftest import build_summary
from wsbench.metrics import Connections, Metrics, RunSummary, Target, Threshold
from wsbench.report import write_report
from wsbench.report.compare import render_compare
from wsbench.report.console import render_summary, table
from wsbench.report.html import render_html
from wsbench.report.junit import render_junit
from wsbench.report.plots import PLOTS, render_all

PNG = b"\x89PNG\r\n\x1a\n"


def test_every_plot_renders_png(summary: RunSummary) -> None:
    pngs = render_all(summary)
    assert list(pngs) == list(PLOTS)
    for png in pngs.values():
        assert png.startswith(PNG) and len(png) > 10_000


def test_empty_run_renders_without_plots() -> None:
    empty = RunSummary(
        scenario="x",
        target=Target("http://127.0.0.1:1"),
        started_at="t",
        duration_s=0.0,
        exit_status=4,
        metrics=Metrics().snapshot(),
        partial=True,
        partial_reason="target unreachable",
    )
    assert render_all(empty) == {}
    page = render_html(empty, {})
    assert "PARTIAL RUN" in page and "target unreachable" in page
    assert "partial run" in render_junit(empty)
    assert "PARTIAL" in render_summary(empty)


def test_html_is_self_contained_and_escaped(summary: RunSummary) -> None:
    page = render_html(summary)
    assert page.count("data:image/png;base64,") == len(PLOTS)
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
    data = build_summary(violations=1).to_dict()
    data["sections"]["delivery"]["violations"]["samples"][0]["event"] = "<script>x</script>"
    evil = RunSummary.from_dict(data)
    assert evil.sections.delivery.violations.samples[0].event == "<script>x</script>"
    assert "<script>x" not in render_html(evil, {})


def test_partial_banner_and_exit(summary: RunSummary) -> None:
    part = build_summary(partial=True)
    assert "PARTIAL RUN: interrupted (SIGINT)" in render_html(part, {})
    assert "PARTIAL RUN" not in render_html(summary, {})


def test_junit_counts_failures() -> None:
    root = ET.fromstring(render_junit(build_summary(violations=3)))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    names = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert names == {"delivery_ratio", "missing"}


def test_console_summary_names_violations_and_thresholds() -> None:
    text = render_summary(build_summary(violations=3), "reports/chat/x")
    assert "VIOLATION missing: 3" in text
    assert "FAIL" in text and "PASS" in text
    assert "embedded reference server, stopped after the run" in text
    assert "report: reports/chat/x" in text


def test_compare_flags_regressions() -> None:
    text = render_compare(build_summary(), build_summary(seed=2, slow=1.5, violations=4))
    assert "violation missing: 0 -> 4" in text
    row = next(line for line in text.splitlines() if "delivery p99 ms" in line)
    assert "worse" in row


def test_write_report_files(tmp_path, summary: RunSummary) -> None:
    written = write_report(summary, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {f"{s}.png" for s in PLOTS} | {
        "report.html",
        "junit.xml",
    }
    assert written["html"].stat().st_size > 100_000


def test_table_alignment() -> None:
    lines = table(["a", "bb"], [["x", 1], ["yyy", 22]])
    assert lines[0] == "  a    bb" and lines[2] == "  x     1"


def test_report_refuses_a_summary_that_breaks_the_schema_naming_each_field(
    tmp_path, summary: RunSummary
) -> None:
    import json

    from click.testing import CliRunner

    from wsbench.cli import cli

    good = summary.write(tmp_path / "good" / "summary.json")
    ok = CliRunner().invoke(cli, ["report", str(good)])
    assert ok.exit_code == 0, ok.output
    data = json.loads(good.read_text())
    del data["metrics"]["histograms"]
    data["sections"]["delivery"]["fanout"] = "broken"
    bad = tmp_path / "bad" / "summary.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["report", str(bad)])
    assert result.exit_code == 3, result.output
    assert f"{bad}: metrics.histograms: missing" in result.output
    assert f"{bad}: sections.delivery.fanout: 'broken' is not of type 'array'" in result.output
    assert not (bad.parent / "report.html").exists()  # nothing rendered with plots missing
    compare = CliRunner().invoke(cli, ["report", str(good), str(bad)])
    assert compare.exit_code == 3 and "sections.delivery.fanout" in compare.output


def test_every_summary_the_report_fixture_builds_passes_the_schema(summary: RunSummary) -> None:
    from wsbench.report.data import schema_errors

    assert schema_errors(summary.to_dict()) == []


@pytest.mark.parametrize(
    ("limit", "actual", "shown"),
    [
        ("<= 1 s", 0.042303, "42.3 ms"),  # the limit in s, the value below 1 s: ms
        ("<= 2 s", 1.25, "1.25 s"),
        ("<= 500 ms", 0.042303, "42.3 ms"),
        ("<= 500 ms", 1.2, "1,200 ms"),
        (">= 0.999", 0.99912345, "0.999123"),  # a ratio stays a ratio
        ("== 0 (implicit)", 3, "3"),
        ("<= 1 s", None, "-"),
    ],
)
def test_threshold_actual_is_shown_in_the_limits_unit(limit, actual, shown) -> None:
    from wsbench.report.console import fmt_actual, summary_lines
    from wsbench.report.html import render_html
    from wsbench.report.junit import render_junit

    t = Threshold("latency.delivery.p99", False, limit, actual)
    assert fmt_actual(t) == shown
    summary = build_summary(seconds=2)
    summary = replace(summary, sections=replace(summary.sections, thresholds=(t,)))
    row = next(ln for ln in summary_lines(summary) if "latency.delivery.p99" in ln)
    assert row.rstrip().endswith(shown) and "0.042303" not in row
    assert f"<td>{shown}</td>" in render_html(summary, {})
    failures = [f.get("message", "") + (f.text or "")
                for f in ET.fromstring(render_junit(summary)).iter("failure")]
    assert any(f"{shown} breaks {limit}" in f for f in failures), failures


def test_plots_of_a_sparse_run_emit_no_matplotlib_warnings() -> None:
    """A run with throughput but no sockets, no CPU samples, no ack: one side of several
    plots is empty; matplotlib must not print "No artists with labels" to stderr."""
    import warnings

    m = Metrics(origin_ns=0, origin_wall=1_700_000_000.0)
    for s in range(3):
        m.incr("emits", 5)
        m.record_ns("delivery", 2_000_000)
        m.record_ns("loop_lag", 1_000_000)
        m.tick((s + 1) * 1_000_000_000)
    m.flush()
    sparse = RunSummary(scenario="sparse", target=Target("http://127.0.0.1:1"),
                        started_at="2026-01-01T00:00:00Z", duration_s=3.0, exit_status=0,
                        metrics=m.snapshot(), sections={"delivery": {"fanout": [
                            {"audience": "1", "emits": 0, "completion": 1.0}]}})
    from wsbench.report.plots import plot_connections_throughput, plot_generator

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the legend fix itself: no warning is raised at all
        assert plot_connections_throughput(sparse) is not None
        assert plot_generator(sparse) is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pngs = render_all(sparse)  # the empty fan-out log axis: logged, not printed
    assert caught == [] and {"connections_throughput", "generator", "fanout"} <= set(pngs)


def test_connection_counts_say_what_they_count(summary: RunSummary) -> None:
    from wsbench.report.console import connections_text, summary_lines

    conns = Connections(attempted=510, connected=508, peak=390, errors={"refused": 2})
    text = connections_text(conns)
    assert text == ("510 clients started, 508 connects succeeded, "
                    "at most 390 open at once (peak), 2 connect errors")
    s = replace(summary, sections=replace(summary.sections, connections=conns))
    assert f"  connections: {text}" in summary_lines(s)
    assert text in render_html(s, {})


def test_cross_node_plot_only_for_a_cluster_run() -> None:
    """issue 12 #3: same-node vs other-node latency is plotted when the sockets were on 2+
    nodes, and a single-server run has no such plot (nor an empty one)."""
    from wsbench.report.plots import plot_cross_node

    cluster = build_summary(nodes=3)
    fig = plot_cross_node(cluster)
    assert fig is not None
    left, right = fig.axes[:2]
    labels = [line.get_label() for line in left.get_lines()]
    assert labels[0].startswith("same node (n=") and labels[1].startswith("other node")
    assert "adapter lag: p50 +" in left.get_title()
    assert {line.get_label() for line in right.get_lines()} >= {"same node p99",
                                                               "other node (via the adapter) p50"}
    assert "cross_node" in render_all(cluster)
    single = build_summary(nodes=1)
    assert "cross_node" not in single.to_dict()["sections"]["delivery"]
    assert plot_cross_node(single) is None
    assert "cross_node" not in render_all(single)


def test_a_redis_restart_is_reported_in_the_console_and_the_html() -> None:
    from wsbench.metrics.sections import RedisOutage, RedisRestart

    s = build_summary()
    dl = s.sections.delivery
    assert dl is not None and "redis_restart" in dl.absent
    assert "Redis restarted" not in render_summary(s) and "Redis restarts" not in render_html(s, {})
    restart = RedisRestart(
        outages=(RedisOutage(down_at_s=4.0, back_at_s=5.5, resubscribed_at_s=6.0, down_s=2.0),),
        lost_during_outage=37, resumed=True, resumed_copies=900, resumed_at_s=6.1,
    )
    dl = replace(dl, redis_restart=restart, absent=dl.absent - {"redis_restart"})
    s = replace(s, sections=replace(s.sections, delivery=dl))
    line = ("Redis restarted at t=4.0 s: down 2.0 s; 37 copies lost while it was down; "
            "cross-node delivery resumed at t=6.1 s")
    assert line in render_summary(s)
    assert "<h3>Cluster: Redis restarts</h3>" in render_html(s, {}) and line in render_html(s, {})
    stuck = replace(dl, redis_restart=replace(restart, resumed=False))
    assert "did NOT resume" in render_summary(replace(s, sections=replace(s.sections, delivery=stuck)))
