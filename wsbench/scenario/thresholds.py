"""Thresholds: the scenario's pass/fail criteria, judged on the merged results of a run.

Theory of operation
-------------------
:func:`evaluate` reads only what ends up in the run summary — the merged metrics
snapshot (HDR histograms) and the oracle verdict as a dict — so a run split over
several processes is judged exactly like a single-process one, and ``wsbench
report`` could re-judge a saved run. Each criterion becomes one
:class:`ThresholdResult` (name, limit as text, actual value, passed); the list goes
into the summary's ``thresholds`` section, the console table and ``junit.xml``.

Latency limits are in seconds in the scenario and compared against the histogram
statistic in milliseconds (``p50``...``p999``, ``max``, ``mean``); a latency
metric with no samples fails (a threshold on nothing measured proves nothing).
The latency names of the scenario format map to histograms: ``delivery``,
``ack``, ``connect``, ``reconnect``, ``fanout_first``, ``fanout_last``.

Violations: any violation fails the run unless a threshold allows its kind.

* ``violations: N`` (or ``violations: {total: N}``) bounds the total of every kind;
* ``violations: {kind: N}`` bounds one kind; ``ack_timeouts: N`` also allows N
  ``ack_timeout`` violations and ``connect_errors: N`` N ``connect_failed`` ones
  (a client that fails to connect is a ``connect_failed`` violation), unless the
  mapping names that kind itself;
* without a total, every kind no threshold names must not occur: the implicit
  criterion ``violations == 0 (implicit)`` (no violation threshold at all) or
  ``violations.unlisted == 0 (implicit)`` (kinds outside the mapping), whose detail
  lists the kinds found. So a run in which the oracle caught the server breaking a
  promise never passes by default.

``delivery_ratio`` with no expected delivery fails too ("nothing was expected"):
a ratio of nothing proves nothing, and the console prints it as ``n/a``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from wsbench.scenario.model import LatencyLimit, Thresholds

__all__ = ["ThresholdResult", "evaluate"]


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    name: str
    limit: str
    actual: float | int | None
    passed: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else f"{seconds:g} s"


def _latency(limit: LatencyLimit, histograms: Mapping[str, Any]) -> ThresholdResult:
    name = f"latency.{limit.metric}.{limit.stat}"
    data = histograms.get(limit.metric) or {}
    bound = f"<= {_fmt_s(limit.limit)}"
    if not data.get("count"):
        return ThresholdResult(name, bound, None, False, f"no {limit.metric} latency was measured")
    actual_ms = float(data.get(f"{limit.stat}_ms", 0.0))
    ok = actual_ms <= limit.limit * 1000.0
    detail = "" if ok else f"{limit.stat} of {data['count']:,} samples is {actual_ms:.1f} ms"
    return ThresholdResult(name, bound, actual_ms / 1000.0, ok, detail)


def _ratio(bound: float, delivery: Mapping[str, Any]) -> ThresholdResult:
    expected = int(delivery.get("expected", 0))
    if not expected:
        return ThresholdResult(
            "delivery_ratio", f">= {bound:g}", None, False, "nothing was expected to be delivered"
        )
    ratio = float(delivery.get("delivery_ratio", 1.0))
    ok = ratio >= bound
    missing = f"{delivery.get('missing', 0):,} of {expected:,} expected deliveries missing"
    return ThresholdResult("delivery_ratio", f">= {bound:g}", ratio, ok, "" if ok else missing)


def evaluate(
    thresholds: Thresholds,
    histograms: Mapping[str, Any],
    delivery: Mapping[str, Any],
    connect_errors: int,
) -> list[ThresholdResult]:
    """Judge every criterion; see the module docstring."""
    out: list[ThresholdResult] = []
    t = thresholds
    if t.delivery_ratio is not None:
        out.append(_ratio(t.delivery_ratio, delivery))
    vio = delivery.get("violations") or {}
    counts: Mapping[str, int] = vio.get("counts") or {}
    total = int(vio.get("total", 0))
    allowed = dict(t.violations_by_kind)
    implied: dict[str, str] = {}
    if t.ack_timeouts is not None and "ack_timeout" not in allowed:
        allowed["ack_timeout"], implied["ack_timeout"] = t.ack_timeouts, "ack_timeouts"
    if t.connect_errors is not None and "connect_failed" not in allowed:
        allowed["connect_failed"], implied["connect_failed"] = t.connect_errors, "connect_errors"
    if t.violations is None:
        unlisted = {k: n for k, n in counts.items() if k not in allowed and n}
        n = sum(unlisted.values())
        by_kind = ", ".join(f"{k}: {c:,}" for k, c in unlisted.items())
        if not allowed:
            out.append(ThresholdResult("violations", "== 0 (implicit)", n, n == 0, by_kind))
        else:
            out.append(
                ThresholdResult(
                    "violations.unlisted", "== 0 (implicit: kinds no threshold names)",
                    n, n == 0, by_kind,
                )
            )  # fmt: skip
    else:
        by_kind = ", ".join(f"{k}: {c:,}" for k, c in counts.items())
        out.append(
            ThresholdResult(
                "violations", f"<= {t.violations}", total, total <= t.violations, by_kind
            )
        )
    for kind, limit in allowed.items():
        if kind in implied and t.violations is not None:
            continue  # the total bounds it already
        n = int(counts.get(kind, 0))
        via = f" ({implied[kind]})" if kind in implied else ""
        out.append(ThresholdResult(f"violations.{kind}", f"<= {limit}{via}", n, n <= limit))
    if t.ack_timeouts is not None:
        n = int((delivery.get("acks") or {}).get("timeouts", 0))
        out.append(ThresholdResult("ack_timeouts", f"<= {t.ack_timeouts}", n, n <= t.ack_timeouts))
    if t.connect_errors is not None:
        out.append(
            ThresholdResult(
                "connect_errors",
                f"<= {t.connect_errors}",
                connect_errors,
                connect_errors <= t.connect_errors,
            )
        )
    for limit in (*t.latency, *t.reconnect_time):
        out.append(_latency(limit, histograms))
    return out
