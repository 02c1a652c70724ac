"""Compare two runs: the same key numbers side by side, with the change.

Theory of operation
-------------------
``wsbench report A.json B.json`` loads two summaries and lines up what a reader
compares first: duration, clients, connections, deliveries, delivery ratio,
violations, ack timeouts, latency percentiles of every histogram both runs have,
reconnection and the generator's CPU. Each row shows A, B and the relative change
of B against A; for latencies and error counts a rise is flagged ``worse``. A
partial run is flagged in the header so it is never compared as if complete.
Comparing percentiles, never means of percentiles: both come from exact HDR
histograms.
"""

from __future__ import annotations

from typing import Any

from wsbench.metrics import Delivery, RunSummary
from wsbench.report.console import fmt_ms, table
from wsbench.report.data import LATENCY_NAMES, histogram_stats

__all__ = ["compare_rows", "render_compare"]


def _get(summary: RunSummary, path: str) -> Any:
    """The attribute at ``path`` of the typed sections; None when a section or key is absent."""
    value: Any = summary.sections
    for part in path.split("."):
        if value is None or part in getattr(value, "absent", ()):
            return None
        value = getattr(value, part)
    return value


#: (label, attribute path in the sections, lower is better)
_COUNTS = [
    ("clients", "run.clients", None),
    ("connected", "connections.connected", False),
    ("stamped emits", "delivery.emits", None),
    ("deliveries", "delivery.delivered", None),
    ("delivery ratio", "delivery.delivery_ratio", False),
    ("violations", "delivery.violations.total", True),
    ("ack timeouts", "delivery.acks.timeouts", True),
    ("volatile drops", "delivery.volatile.drops", True),
    ("reconnects", "reconnection.reconnects", None),
    ("generator CPU mean %", "generator.cpu_percent_mean", True),
]


def _change(a: float | None, b: float | None, lower_better: bool | None) -> str:
    if a is None or b is None:
        return ""
    if a == b:
        return "="
    rel = f"{(b - a) / a * 100:+.1f}%" if a else "new"
    if lower_better is None:
        return rel
    worse = (b > a) if lower_better else (b < a)
    return f"{rel} {'worse' if worse else 'better'}"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def compare_rows(a: RunSummary, b: RunSummary) -> list[list[str]]:
    """Rows ``[what, A, B, change]``."""
    rows = [["duration s", f"{a.duration_s:.1f}", f"{b.duration_s:.1f}", ""]]
    for label, path, lower in _COUNTS:
        va, vb = _get(a, path), _get(b, path)
        if va is None and vb is None:
            continue
        rows.append([label, _fmt(va), _fmt(vb), _change(_num(va), _num(vb), lower)])
    names = [n for n in LATENCY_NAMES if histogram_stats(a, n) or histogram_stats(b, n)]
    for name in names:
        sa, sb = histogram_stats(a, name) or {}, histogram_stats(b, name) or {}
        for stat in ("p50", "p99", "p999", "max"):
            va, vb = sa.get(f"{stat}_ms"), sb.get(f"{stat}_ms")
            rows.append([f"{name} {stat} ms", fmt_ms(va), fmt_ms(vb), _change(va, vb, True)])
    return rows


def render_compare(a: RunSummary, b: RunSummary, name_a: str = "A", name_b: str = "B") -> str:
    """The comparison as text."""

    def head(s: RunSummary, n: str) -> str:
        part = f" PARTIAL ({s.partial_reason})" if s.partial else ""
        return f"  {n}: {s.scenario} {s.started_at} -> {s.target.url}, exit {s.exit_status}{part}"

    lines = ["wsbench compare", head(a, name_a), head(b, name_b), ""]
    lines += table(["", name_a, name_b, "change"], compare_rows(a, b))
    empty = Delivery()
    ca, cb = ((s.sections.delivery or empty).violations.counts for s in (a, b))
    for kind in sorted(set(ca) | set(cb)):
        lines.append(f"  violation {kind}: {ca.get(kind, 0):,} -> {cb.get(kind, 0):,}")
    return "\n".join(lines) + "\n"
