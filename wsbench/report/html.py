"""The standalone HTML report: one file, plots embedded as base64 PNG, no network.

Theory of operation
-------------------
:func:`render_html` builds ``report.html`` from a :class:`~wsbench.metrics.RunSummary`
and the PNGs of :func:`wsbench.report.plots.render_all` (rendered here if not
given). The page has no scripts, no external stylesheets and no fonts to fetch,
so it opens from a CI artifact store, an e-mail attachment or a laptop offline
(the standalone report Artillery users asked for and lost). A partial run gets a
red banner saying why it was cut short; every threshold shows PASS or FAIL;
violations show their counts and the evidence samples the oracle kept.

Every value from the summary is escaped with :func:`html.escape`: scenario names,
event names and violation details are user or server data.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from wsbench.metrics import Generator, RunInfo, RunSummary
from wsbench.metrics.sections import encode
from wsbench.report.console import (
    connections_text,
    cross_node_rows,
    fmt_actual,
    fmt_ms,
    fmt_ratio,
    latency_rows,
    redis_restart_lines,
    retry_rows,
)
from wsbench.report.data import FANOUT_COLUMNS, fanout_rows

__all__ = ["render_html", "write_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1400px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0 12px}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f6f6f6}
.pass{color:#13795b;font-weight:600}.fail{color:#c62828;font-weight:600}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.partial{background:#fdecea;color:#b71c1c;border:1px solid #f5c2c0}
.ok{background:#e8f5e9;color:#1b5e20;border:1px solid #c8e6c9}
.bad{background:#fff3e0;color:#e65100;border:1px solid #ffe0b2}
.meta{color:#666}img{max-width:100%;border:1px solid #eee;margin:6px 0}
code,pre{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f6f6f6}
pre{padding:8px;overflow-x:auto}
"""

_PLOT_TITLES = {
    "latency_over_time": "Latency percentiles over time",
    "latency_distribution": "Latency distribution",
    "fanout": "Fan-out",
    "connections_throughput": "Connections and throughput",
    "reconnection": "Reconnection",
    "generator": "Load generator health",
}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _banner(summary: RunSummary) -> str:
    if summary.partial:
        return (
            f'<div class="banner partial">PARTIAL RUN: {_e(summary.partial_reason)} — '
            f"everything measured until then is below (exit {summary.exit_status})</div>"
        )
    if summary.exit_status == 0:
        return '<div class="banner ok">Run complete, all thresholds passed (exit 0)</div>'
    return f'<div class="banner bad">Run complete, exit {summary.exit_status}: see thresholds and violations</div>'


def _overview(summary: RunSummary) -> str:
    sections = summary.sections
    run, conns, server = sections.run or RunInfo(), sections.connections, sections.server
    no_run = sections.run is None
    rows = [
        [
            "target",
            summary.target.url
            + (
                " (embedded reference server"
                + (", stopped after the run)" if server is None or server.stopped else ")")
                if summary.target.embedded
                else ""
            ),
        ],
        ["server", summary.target.server or "-"],
        ["started", summary.started_at],
        [
            "duration",
            f"{summary.duration_s:.1f} s (planned "
            f"{'?' if 'planned_duration_s' in run.absent or no_run else run.planned_duration_s} s)",
        ],
        [
            "clients",
            f"{'?' if no_run else run.clients} over {'?' if no_run else run.transport}, "
            f"{run.processes} process(es), seed {'?' if no_run else run.seed}",
        ],
        ["groups", ", ".join(f"{k}: {v}" for k, v in run.groups.items()) or "-"],
    ]
    if conns is not None:
        rows.append(["connections", connections_text(conns)])
        rows += [["", f"{n:,} x {msg}"] for msg, n in list(conns.errors.items())[:10]]
        closes = conns.closes
        if closes:
            rows.append(["closes by reason", f"{sum(closes.values()):,}"])
            rows += [["", f"{n:,} x {why}"] for why, n in list(closes.items())[:20]]
    env = summary.environment
    rows.append(
        [
            "environment",
            f"Python {env.python} ({env.implementation}) on {env.platform}, "
            f"{env.cpu_count} CPUs, uvloop {'on' if env.uvloop else 'off'}, "
            f"wsbench {summary.tool_version}",
        ]
    )
    return _table(["", ""], rows)


def _thresholds(summary: RunSummary) -> str:
    items = summary.sections.thresholds or ()
    if not items:
        return "<p class=meta>No thresholds in this scenario.</p>"
    rows = []
    for t in items:
        verdict = (
            '<span class="pass">PASS</span>'
            if t.passed
            else '<span class="fail">FAIL</span>'
        )
        rows.append([verdict, _e(t.name), _e(t.limit), _e(fmt_actual(t)), _e(t.detail)])
    return _table(["", "threshold", "limit", "actual", "detail"], rows, raw=True)


def _delivery(summary: RunSummary) -> str:
    dl = summary.sections.delivery
    if dl is None:
        return "<p class=meta>No stamped emits in this run.</p>"
    vol, acks, vio = dl.volatile, dl.acks, dl.violations
    rows = [
        ["stamped emits", f"{dl.emits:,}"],
        ["expected deliveries", f"{dl.expected:,}"],
        ["delivered in time", f"{dl.delivered:,}"],
        ["delivery ratio", fmt_ratio(dl)],
        ["missing", f"{dl.missing:,}"],
        ["volatile drops (allowed, not violations)", f"{vol.drops:,} of {vol.expected:,}"],
        ["lost while away (recipient disconnected)", f"{dl.lost_while_away:,}"],
        ["optional deliveries (membership in flux)", f"{dl.optional_deliveries:,}"],
        ["left in flight (not owed: the recipient asked to leave after the emit)",
         f"{dl.left_in_flight:,}"],
        ["acks ok / expected", f"{acks.ok:,} / {acks.expected:,}"],
        ["ack timeouts / late", f"{acks.timeouts:,} / {acks.late:,}"],
        *retry_rows(dl),
        ["violations", f"{vio.total:,}"],
    ]
    out = _table(["delivery oracle", ""], rows)
    counts = vio.counts
    if counts:
        out += "<h3>Violations</h3>" + _table(
            ["kind", "count"], [[k, f"{n:,}"] for k, n in counts.items()]
        )
        samples = [encode(s) for s in vio.samples[:60]]
        if samples:
            keys = [
                "kind",
                "stamp",
                "event",
                "namespace",
                "sender",
                "receiver",
                "expected",
                "detail",
            ]
            out += "<h3>Evidence (samples)</h3>" + _table(
                keys,
                [
                    [
                        json.dumps(s.get(k)) if isinstance(s.get(k), list) else s.get(k, "")
                        for k in keys
                    ]
                    for s in samples
                ],
            )
    cross = cross_node_rows(dl)
    if cross:
        out += (f"<h3>Cluster: delivery latency (ms) by recipient, {dl.cross_node.nodes} nodes</h3>"
                "<p class=meta>other node: the copy crossed the adapter (Redis pub/sub); "
                "adapter lag = other-node minus same-node percentile</p>"
                + _table(["recipient", "copies", "p50", "p95", "p99", "max"], cross))
    restarts = redis_restart_lines(dl)
    if restarts:
        out += ("<h3>Cluster: Redis restarts</h3><p class=meta>pub/sub has no replay: copies "
                "that had to cross the adapter while Redis was down are counted, not judged</p>"
                + "".join(f"<p>{html.escape(line)}</p>" for line in restarts))
    fanout = fanout_rows(summary)
    if fanout:
        cols = [f"{who} {stat}" for who, stat in FANOUT_COLUMNS]
        out += (
            "<h3>Fan-out by audience size</h3><p class=meta>Percentiles over emits of the time "
            "(ms from the intended send) to each emit's first, median and last recipient "
            "(HDR histograms, one value per emit).</p>"
        ) + _table(
            ["audience", "emits", "expected", "delivered", "completion", *cols],
            [
                [
                    b["audience"],
                    f"{b['emits']:,}",
                    f"{b['expected']:,}",
                    f"{b['delivered']:,}",
                    f"{100 * b['completion']:.3f}%",
                    *(fmt_ms(b[c]) for c in cols),
                ]
                for b in fanout
            ],
        )
    return out


def _generator(summary: RunSummary) -> str:
    gen, rec = summary.sections.generator or Generator(), summary.sections.reconnection
    parts = []
    if summary.sections.generator is not None:
        parts.append(
            _table(
                ["load generator", ""],
                [
                    [
                        "CPU mean / max (100 = one core)",
                        f"{gen.cpu_percent_mean:.0f}% / {gen.cpu_percent_max:.0f}%",
                    ],
                    ["event-loop lag p99", f"{fmt_ms(gen.loop_lag_p99_ms)} ms"],
                ],
            )
        )
    if rec is not None:
        parts.append(
            _table(
                ["reconnection", ""],
                [
                    [
                        "reconnected / failed",
                        f"{rec.reconnects:,} / {rec.failed:,}",
                    ],
                    ["deliveries missed while away", f"{rec.lost_while_away:,}"],
                    ["replayed by connection state recovery", f"{rec.replayed:,}"],
                ],
            )
        )
    clocks = gen.extra.get("clocks") or []
    if clocks:  # distributed Locust: how each worker's journal was put on the master's clock
        parts.append(
            _table(
                ["worker (run)", "clock offset ms", "error bound ms", "best RTT ms", "probes",
                 "journal complete"],
                [
                    [
                        f"{c.get('worker', '')} ({c.get('run', '')})",
                        fmt_ms(c.get("offset_ms")),
                        fmt_ms(c.get("error_bound_ms")),
                        fmt_ms(c.get("rtt_ms")),
                        str(c.get("samples", 0)),
                        "yes" if c.get("complete") else "no (judged up to its last batch)",
                    ]
                    for c in clocks
                ],
            )
        )
    warnings = [*gen.warnings, *(summary.sections.warnings or ())]
    if warnings:
        parts.append("<ul>" + "".join(f'<li class="fail">{_e(w)}</li>' for w in warnings) + "</ul>")
    return "".join(parts)


def render_html(summary: RunSummary, pngs: Mapping[str, bytes] | None = None) -> str:
    """The whole report page as a string."""
    if pngs is None:
        from wsbench.report.plots import render_all

        pngs = render_all(summary)
    title = f"wsbench — {summary.scenario} — {summary.started_at}"
    plots = "".join(
        f"<h2>{_e(_PLOT_TITLES.get(stem, stem))}</h2>"
        f'<img alt="{_e(stem)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'
        for stem, png in pngs.items()
    )
    latency = latency_rows(summary)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>wsbench run: {_e(summary.scenario)}</h1>"
        f'<div class="meta">{_e(summary.started_at)} — summary schema v{summary.schema_version}</div>'
        f"{_banner(summary)}"
        f"<h2>Run</h2>{_overview(summary)}"
        f"<h2>Thresholds</h2>{_thresholds(summary)}"
        f"<h2>Delivery</h2>{_delivery(summary)}"
        "<h2>Latency (ms)</h2>"
        + (
            _table(["metric", "count", "p50", "p90", "p99", "p99.9", "max"], latency)
            if latency
            else "<p class=meta>No latency recorded.</p>"
        )
        + f"<h2>Reconnection and load generator</h2>{_generator(summary)}"
        f"{plots}"
        "</body></html>\n"
    )


def write_html(summary: RunSummary, path: str, pngs: Mapping[str, bytes] | None = None) -> None:
    """Write :func:`render_html` to ``path`` (UTF-8)."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render_html(summary, pngs))
