"""Read a run summary for rendering: series, histograms and sections as plain Python data.

Theory of operation
-------------------
Everything in :mod:`wsbench.report` renders from a saved
:class:`~wsbench.metrics.RunSummary` (``summary.json``), never from live objects, so
a report can be re-rendered at any time and two runs compared. This module is the
one place that knows where things live inside a summary:

* ``metrics`` is a :meth:`Metrics.snapshot <wsbench.metrics.Metrics.snapshot>`:
  cumulative HDR histograms (``histograms``), counters, gauges and per-second
  ``series``. Histograms are decoded with :class:`~wsbench.metrics.LatencyHistogram`
  so curves (CDFs, percentile spectra) are exact, not interpolated from a few
  percentiles.
* ``sections`` is a typed :class:`~wsbench.metrics.Sections` (see
  :mod:`wsbench.metrics.sections` and ``reports/README.md``): ``run``, ``delivery``,
  ``connections``, ``reconnection``, ``generator``, ``server``, ``thresholds``,
  ``warnings``, read as attributes (``summary.sections.delivery.violations.total``),
  never by string key. A section that is absent is ``None`` and a key that is absent
  reads as its default, so a partial run (server died, Ctrl-C) or another producer's
  summary (Locust) still renders.
* :func:`load_summary` is how ``wsbench report`` reads a file: it validates it against
  the published JSON Schema (``wsbench/metrics/summary.schema.json``, with jsonschema)
  first, so a damaged summary (a histogram table deleted, ``fanout`` not a list) is
  refused naming the field instead of rendering with plots silently missing; then it
  is decoded into the typed summary (:meth:`RunSummary.from_dict
  <wsbench.metrics.RunSummary.from_dict>`).

Metric names the runner uses (also in ``reports/README.md``): latency histograms
``delivery``, ``ack``, ``connect``, ``reconnect``, ``loop_lag`` and
``fanout.<first|median|last>.<audience class>``; counters ``emits``,
``deliveries``, ``acks``, ``violations``, ``connect_errors``, ``reconnects``;
gauges ``connections``, ``process.cpu_percent``, ``server.cpu_percent``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from wsbench.exceptions import ConfigError
from wsbench.metrics import SCHEMA_VERSION, LatencyHistogram, RunSummary, schema

__all__ = [
    "LATENCY_NAMES",
    "Series",
    "counter_series",
    "gauge_series",
    "latency_series",
    "histogram",
    "histogram_stats",
    "load_summary",
    "schema_errors",
    "fanout_classes",
    "fanout_rows",
    "FANOUT_COLUMNS",
    "cdf",
    "percentile_spectrum",
]

#: Latency histograms shown in tables and plots, in this order, with their titles.
LATENCY_NAMES: dict[str, str] = {
    "delivery": "delivery (intended send to receive)",
    "ack": "ack (intended send to ack)",
    "connect": "connect (handshake + namespaces)",
    "reconnect": "reconnect (drop to connected again)",
    "loop_lag": "driver event-loop lag",
}


@dataclass(frozen=True, slots=True)
class Series:
    """One per-second series: ``t`` in seconds from the run's origin and its values."""

    t: tuple[float, ...]
    values: tuple[float | None, ...]

    def __bool__(self) -> bool:
        return bool(self.t)


def _snapshot(summary: RunSummary) -> dict[str, Any]:
    return summary.metrics if isinstance(summary.metrics, dict) else {}


def _field(path: Any) -> str:
    """``["sections", "delivery", "fanout"]`` -> ``sections.delivery.fanout``; ``[t, 0]`` -> ``t[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def schema_errors(data: Any) -> list[str]:
    """Every way ``data`` breaks the summary schema, as ``field: problem``, sorted by field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    found = []
    for error in validator.iter_errors(data):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = next((k for k in error.validator_value if k not in error.instance), None)
            if missing is not None:
                found.append((path + [missing], "missing (required by the summary schema)"))
                continue
        found.append((path, error.message))
    return [f"{_field(p)}: {msg}" for p, msg in sorted(found, key=lambda x: [str(q) for q in x[0]])]


def load_summary(path: str | os.PathLike[str]) -> RunSummary:
    """Read ``summary.json`` and check it against the published schema, then load it.

    Raises:
        ConfigError: unreadable, not JSON, or not a valid summary; the message names the
            file and every offending field (``FILE: sections.delivery.fanout: ...``).
    """
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read run summary {where}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION:
        problems = schema_errors(data)
        if problems:
            raise ConfigError(
                "\n".join(f"{where}: {p}" for p in problems[:20])
                + (f"\n{where}: ... and {len(problems) - 20} more" if len(problems) > 20 else "")
            )
    return RunSummary.from_dict(data, source=where)  # a version it cannot read: says so


def latency_series(summary: RunSummary, name: str, field: str = "p99_ms") -> Series:
    """Per-second ``field`` (``count``, ``p50_ms``, ``p95_ms``, ``p99_ms``, ``max_ms``) of a histogram."""
    cols = _snapshot(summary).get("series", {}).get("histograms", {}).get(name)
    if not isinstance(cols, dict) or field not in cols:
        return Series((), ())
    return Series(tuple(float(t) for t in cols["t"]), tuple(cols[field]))


def counter_series(summary: RunSummary, name: str) -> Series:
    """Per-second deltas of a counter (events per second)."""
    cols = _snapshot(summary).get("series", {}).get("counters", {}).get(name)
    if not isinstance(cols, dict):
        return Series((), ())
    return Series(tuple(float(t) for t in cols["t"]), tuple(float(v) for v in cols["delta"]))


def gauge_series(summary: RunSummary, name: str) -> Series:
    """Per-second samples of a gauge."""
    cols = _snapshot(summary).get("series", {}).get("gauges", {}).get(name)
    if not isinstance(cols, dict):
        return Series((), ())
    return Series(tuple(float(t) for t in cols["t"]), tuple(float(v) for v in cols["value"]))


def histogram_stats(summary: RunSummary, name: str) -> dict[str, Any] | None:
    """The JSON summary of a cumulative histogram (count, p50_ms, ...), None if absent or empty."""
    data = _snapshot(summary).get("histograms", {}).get(name)
    if not isinstance(data, dict) or not data.get("count"):
        return None
    return data


def histogram(summary: RunSummary, name: str) -> LatencyHistogram | None:
    """The cumulative histogram ``name`` decoded, None if absent or empty."""
    data = histogram_stats(summary, name)
    return LatencyHistogram.from_dict(data) if data else None


def _class_key(label: str) -> int:
    digits = label.lstrip(">").split("-")[0]
    return int(digits) + (1 if label.startswith(">") else 0) if digits.isdigit() else 1 << 30


FANOUT_COLUMNS = (
    ("first", "p50"),
    ("median", "p50"),
    ("last", "p50"),
    ("last", "p99"),
    ("last", "max"),
)  #: (recipient, statistic) shown per audience class: ``first p50`` ... ``last max``


def fanout_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per audience class: the oracle's counts and HDR percentiles over its emits.

    For each emit the oracle knows the latency of its first, median and last recipient;
    the histograms ``fanout.<first|median|last>.<class>`` hold one value per emit, so
    ``median p50`` is the median over emits of the median recipient's latency (not a
    mean). Keys: ``audience``, ``emits``, ``expected``, ``delivered``, ``completion`` and
    ``"<recipient> <stat>"`` in ms (None when the histogram is absent).
    """
    delivery = summary.sections.delivery
    buckets = {b.audience: b for b in (delivery.fanout if delivery else ())}
    labels = sorted(set(buckets) | set(fanout_classes(summary)), key=_class_key)
    rows = []
    for label in labels:
        b = buckets.get(label)
        row: dict[str, Any] = {
            "audience": label,
            "emits": b.emits if b else 0,
            "expected": b.expected if b else 0,
            "delivered": b.delivered if b else 0,
            "completion": b.completion if b else 1.0,
        }
        for who, stat in FANOUT_COLUMNS:
            st = histogram_stats(summary, f"fanout.{who}.{label}")
            row[f"{who} {stat}"] = float(st[f"{stat}_ms"]) if st else None
        if b is None:
            st = histogram_stats(summary, f"fanout.last.{label}")
            row["emits"] = int(st["count"]) if st else 0
        rows.append(row)
    return rows


def fanout_classes(summary: RunSummary) -> list[str]:
    """Audience-size classes with fan-out histograms (``"1"``, ``"2-10"``...), smallest first."""
    names = _snapshot(summary).get("histograms", {})
    labels = {n.split(".", 2)[2] for n in names if n.startswith("fanout.last.")}
    return sorted(labels, key=_class_key)


def cdf(hist: LatencyHistogram, points: int = 200) -> tuple[list[float], list[float]]:
    """``(latency_ms, fraction <= latency)`` at ``points`` percentiles from 0 to 100."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(points + 1):
        q = 100.0 * i / points
        xs.append(hist.percentile(q) / 1000.0)
        ys.append(q / 100.0)
    return xs, ys


#: Percentiles of the classic HDR "percentile spectrum" plot (x axis: 1 / (1 - q)).
_SPECTRUM = (0.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)


def percentile_spectrum(hist: LatencyHistogram) -> tuple[list[float], list[float]]:
    """``(1/(1-q), latency_ms)`` pairs for the percentile-distribution plot, up to the count's reach."""
    xs: list[float] = []
    ys: list[float] = []
    reach = 100.0 * (1.0 - 1.0 / max(hist.count, 1))
    for q in _SPECTRUM:
        if q > reach and q > 50.0:
            break
        xs.append(1.0 / (1.0 - q / 100.0))
        ys.append(hist.percentile(q) / 1000.0)
    xs.append(1.0 / (1.0 - min(max(reach, 50.0), 99.9999) / 100.0))
    ys.append(hist.max / 1000.0)
    return xs, ys
