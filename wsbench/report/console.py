"""Plain-text tables of a run summary: the final summary a run prints, and its pieces.

Theory of operation
-------------------
:func:`summary_lines` turns a :class:`~wsbench.metrics.RunSummary` into the lines
the ``run`` command prints at the end and ``wsbench report`` prints again: how the
run ended (complete or PARTIAL and why), clients and connections, the oracle's
counts (deliveries, ratio, volatile drops, acks, violations by kind with one
sample each), latency percentiles per histogram, fan-out by audience size,
reconnection, the load generator's own health and every threshold with PASS or
FAIL. Pure functions of the artifact: no colours, no terminal queries, so the same
text goes to a TTY, a CI log and a test assertion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from wsbench.metrics import Connections, Delivery, Generator, RunSummary, Threshold
from wsbench.metrics.sections import encode
from wsbench.report.data import (
    FANOUT_COLUMNS,
    LATENCY_NAMES,
    fanout_rows,
    histogram_stats,
)

__all__ = ["table", "summary_lines", "render_summary", "fmt_ms", "fmt_ratio", "fmt_actual", "connections_text", "latency_rows", "cross_node_rows",
           "redis_restart_lines"]


def fmt_ms(value: float | None) -> str:
    """A latency in ms with sensible precision (``0.42``, ``12.3``, ``1,250``)."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def retry_rows(delivery: Delivery) -> list[list[str]]:
    """The at-least-once rows (retry rate, what re-sends cost); none without such emits."""
    r = delivery.retries
    if not r.emits:
        return []
    first, again = r.first_try, r.retried

    def cost(lat: Any) -> str:
        if not lat.count:
            return "-"
        return f"{lat.count:,} emits, p50 {lat.p50_ms:.1f} ms, p99 {lat.p99_ms:.1f} ms"

    return [
        ["retry rate (emits re-sent / with retries)",
         f"{r.retry_rate * 100:.2f}% ({r.emits_retried:,} of {r.emits:,})"],
        ["re-sends / gave up", f"{r.retries:,} / {r.exhausted:,}"],
        ["retry duplicates (accepted)", f"{r.retry_duplicates:,}"],
        ["latency, settled at the first try", cost(first)],
        ["latency, settled after a re-send", cost(again)],
    ]


def redis_restart_lines(delivery: Delivery | None) -> list[str]:
    """One line per ``restart_redis`` outage of a cluster run (console and report.html)."""
    if delivery is None or "redis_restart" in delivery.absent or not delivery.redis_restart.outages:
        return []
    r = delivery.redis_restart
    resumed = (f"cross-node delivery resumed at t={r.resumed_at_s:.1f} s" if r.resumed
               else "cross-node delivery did NOT resume")
    return [f"Redis restarted at t={o.down_at_s:.1f} s: down {o.down_s:.1f} s; "
            f"{r.lost_during_outage:,} copies lost while it was down; {resumed}"
            for o in r.outages]


def cross_node_rows(delivery: Delivery | None) -> list[list[str]]:
    """A cluster run's delivery latency by recipient (same node as the sender / another node,
    and the adapter's lag between them); none unless the sockets were on 2+ nodes."""
    if delivery is None or "cross_node" in delivery.absent or delivery.cross_node.nodes < 2:
        return []
    x = delivery.cross_node

    def row(name: str, lat: Any) -> list[str]:
        return [name, f"{lat.count:,}", fmt_ms(lat.p50_ms), fmt_ms(lat.p95_ms),
                fmt_ms(lat.p99_ms), fmt_ms(lat.max_ms)]

    return [
        row("same node", x.same_node),
        row("other node", x.other_node),
        ["adapter lag (other - same)", "", fmt_ms(x.adapter_lag_p50_ms), "",
         fmt_ms(x.adapter_lag_p99_ms), ""],
    ]


def fmt_ratio(delivery: Delivery) -> str:
    """The delivery ratio as a percentage, or ``n/a`` when nothing was expected."""
    if not delivery.expected:
        return "n/a (nothing expected)"
    return f"{100 * delivery.delivery_ratio:.4f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """Left-aligned first column, right-aligned others, one space-padded line per row."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for n, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append(indent + "  ".join(parts).rstrip())
        if n == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return out


def latency_rows(summary: RunSummary) -> list[list[str]]:
    """One row per latency histogram with data: name, count, p50, p90, p99, p99.9, max (ms)."""
    rows = []
    names = list(LATENCY_NAMES) + [
        n
        for n in sorted(summary.metrics.get("histograms", {}))
        if n not in LATENCY_NAMES and not n.startswith("fanout.")
    ]
    for name in names:
        st = histogram_stats(summary, name)
        if st is None:
            continue
        rows.append(
            [
                name,
                f"{st['count']:,}",
                fmt_ms(st["p50_ms"]),
                fmt_ms(st["p90_ms"]),
                fmt_ms(st["p99_ms"]),
                fmt_ms(st["p999_ms"]),
                fmt_ms(st["max_ms"]),
            ]
        )
    return rows


def connections_text(conns: Connections) -> str:
    """What the connection counts are, in words (the console line and the HTML row)."""
    return (
        f"{conns.attempted:,} clients started, "
        f"{conns.connected:,} connects succeeded, "
        f"at most {conns.peak:,} open at once (peak), "
        f"{sum(conns.errors.values()):,} connect errors"
    )


def _status(summary: RunSummary) -> str:
    if summary.partial:
        return f"PARTIAL ({summary.partial_reason}), exit {summary.exit_status}"
    return f"complete, exit {summary.exit_status}"


def summary_lines(summary: RunSummary, out_dir: str | None = None) -> list[str]:
    """The final summary of a run as text lines."""
    run = summary.sections.run
    conns = summary.sections.connections
    dl = summary.sections.delivery
    lines = [
        f"wsbench run '{summary.scenario}': {_status(summary)}",
        f"  target {summary.target.url}"
        + (
            " (embedded reference server, stopped after the run)" if summary.target.embedded else ""
        ),
        f"  {summary.duration_s:.1f} s, {run.clients if run else '?'} clients over "
        f"{run.transport if run else '?'}, {run.processes if run else 1} process(es), "
        f"seed {run.seed if run else '?'}",
    ]
    if conns is not None:
        lines.append(f"  connections: {connections_text(conns)}")
        for msg, n in list(conns.errors.items())[:5]:
            lines.append(f"    {n:,} x {msg}")
        closes = conns.closes
        if closes:
            lines.append(f"  connection closes by reason: {sum(closes.values()):,}")
            for why, n in list(closes.items())[:8]:
                lines.append(f"    {n:,} x {why}")
    if dl is not None:
        vol, acks, vio = dl.volatile, dl.acks, dl.violations
        lines += [
            "",
            "delivery oracle",
            *table(
                ["", "value"],
                [
                    ["stamped emits", f"{dl.emits:,}"],
                    ["expected deliveries", f"{dl.expected:,}"],
                    ["delivered in time", f"{dl.delivered:,}"],
                    ["delivery ratio", fmt_ratio(dl)],
                    ["missing", f"{dl.missing:,}"],
                    ["volatile drops (allowed)", f"{vol.drops:,} of {vol.expected:,}"],
                    ["lost while away", f"{dl.lost_while_away:,}"],
                    ["left in flight (not owed)", f"{dl.left_in_flight:,}"],
                    ["acks ok / expected", f"{acks.ok:,} / {acks.expected:,}"],
                    ["ack timeouts", f"{acks.timeouts:,}"],
                    *retry_rows(dl),
                    ["violations", f"{vio.total:,}"],
                ],
            ),
        ]
        for kind, n in vio.counts.items():
            lines.append(f"  VIOLATION {kind}: {n:,}")
            sample = next((v for v in vio.samples if v.kind == kind), None)
            if sample is not None:
                lines.append(
                    "    e.g. "
                    + ", ".join(
                        f"{k}={v}"
                        for k, v in encode(sample).items()
                        if k not in ("kind", "at_ns") and v not in (None, "")
                    )
                )
    rows = latency_rows(summary)
    if rows:
        lines += [
            "",
            "latency (ms)",
            *table(["metric", "count", "p50", "p90", "p99", "p99.9", "max"], rows),
        ]
    fanout = fanout_rows(summary)
    if fanout:
        cols = [f"{who} {stat}" for who, stat in FANOUT_COLUMNS]
        lines += [
            "",
            "fan-out by audience size: percentiles over emits of the time (ms from intended",
            "send) to the first, median and last recipient",
            *table(
                ["audience", "emits", "completion", *cols],
                [
                    [
                        b["audience"],
                        f"{b['emits']:,}",
                        f"{100 * b['completion']:.3f}%",
                        *(fmt_ms(b[c]) for c in cols),
                    ]
                    for b in fanout
                ],
            ),
        ]
    cross = cross_node_rows(dl)
    if cross:
        lines += [
            "",
            f"cluster: delivery latency (ms) by recipient, {dl.cross_node.nodes} nodes "  # type: ignore[union-attr]
            "(other node: the copy crossed the adapter)",
            *table(["recipient", "copies", "p50", "p95", "p99", "max"], cross),
        ]
    lines += redis_restart_lines(dl)
    rec = summary.sections.reconnection
    if rec is not None and (rec.reconnects or rec.failed):
        lines += [
            "",
            f"reconnection: {rec.reconnects:,} reconnected, "
            f"{rec.failed:,} failed, {rec.lost_while_away:,} "
            f"deliveries missed while away, {rec.replayed:,} replayed by recovery",
        ]
    gen = summary.sections.generator or Generator()
    if summary.sections.generator is not None:
        lines += [
            "",
            f"load generator: CPU mean {gen.cpu_percent_mean:.0f}% "
            f"max {gen.cpu_percent_max:.0f}% (100 = one core), "
            f"event-loop lag p99 {fmt_ms(gen.loop_lag_p99_ms)} ms",
        ]
    for warning in [*gen.warnings, *(summary.sections.warnings or ())]:
        lines.append(f"  WARNING: {warning}")
    thresholds = summary.sections.thresholds or ()
    if thresholds:
        lines += [
            "",
            "thresholds",
            *table(
                ["", "threshold", "limit", "actual"],
                [
                    [
                        "PASS" if t.passed else "FAIL",
                        t.name,
                        t.limit,
                        fmt_actual(t),
                    ]
                    for t in thresholds
                ],
            ),
        ]
    if out_dir:
        lines += ["", f"report: {out_dir}"]
    return lines


_LIMIT_UNIT = re.compile(r"[0-9.]\s*(ms|s)\s*$")


def fmt_actual(threshold: Threshold) -> str:
    """A threshold's measured value, a latency in its limit's unit.

    The summary keeps latencies in seconds (``actual: 0.042303``); beside ``<= 500 ms`` it
    reads ``42.3 ms``, beside ``<= 2 s`` it reads ``1.25 s``, or ``42.3 ms`` below one second.
    Ratios and counts are shown as they are.
    """
    value = threshold.actual
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    unit = _LIMIT_UNIT.search(threshold.limit)
    if unit is not None:
        if unit.group(1) == "s" and value >= 1:
            return f"{value:.4g} s"
        return f"{fmt_ms(value * 1000)} ms"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render_summary(summary: RunSummary, out_dir: str | None = None) -> str:
    return "\n".join(summary_lines(summary, out_dir)) + "\n"
