"""The per-run metrics store: latency histograms, counters, gauges, per-second series.

Theory of operation
-------------------
A :class:`Metrics` belongs to one recording thread of control (an asyncio loop,
a gevent hub, a worker process). It never starts a thread and never reads the
clock by itself: the caller drives time by calling :meth:`Metrics.tick` with
:func:`~wsbench.metrics.clock.now_ns` at least once a second, and calls
:meth:`Metrics.flush` at the end of the run.

*Latencies.* Each name has one *interval* histogram that receives every record
of the current second. On rollover the interval histogram is (1) summarised
into a point of the name's per-second series, (2) added into the name's
*cumulative* histogram, and (3) reset in place. Recording therefore touches one
histogram only, and :meth:`recorder` can hand out the interval histogram's bound
``record_ns`` for the hottest paths: it stays valid for the whole run.

*Exact series merge.* A series point keeps, besides (t, count, p50, p95, p99,
max), the second's histogram encoded as an HDR histoblob (about 50 bytes for an
empty second, typically 0.2–2 KB for a busy one). Merging snapshots from several
processes or Locust workers decodes and adds the histograms of equal seconds, so
per-second percentiles of the merged run are exact, not averages of
percentiles. Memory stays bounded: every series is a ring of at most
``max_points`` points (default 86,400, a day of seconds); an hour-long run with
one busy latency name holds a few MB of encoded histograms. Raw samples are
never stored.

*Time axis.* A point's ``t`` is the whole number of seconds since the store's
origin (``origin_ns`` on the monotonic clock, ``origin_wall`` on the wall
clock). If ticks are late, the records of the missed seconds land in the point
of the second the interval opened in; seconds with no tick at all have no point.
Snapshots from different processes are aligned on ``origin_wall``: give every
process of a run the same origin to merge seconds exactly.

*Counters* are cumulative integers; their series holds the per-second delta.
*Gauges* hold the last value set; their series samples that value each second.
Merging sums counters, counter deltas, gauges and gauge samples (connections,
RSS, CPU percent and file descriptors of several processes add up).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..exceptions import ConfigError
from .clock import now_ns, wall_time
from .histogram import LatencyHistogram

__all__ = ["Metrics", "IntervalPoint", "SNAPSHOT_FORMAT", "DEFAULT_MAX_POINTS"]

SNAPSHOT_FORMAT = 1
DEFAULT_MAX_POINTS = 86_400
_SECOND = 1_000_000_000
_POINT_FIELDS = ("t", "count", "p50_ms", "p95_ms", "p99_ms", "max_ms", "hdr")


@dataclass(frozen=True, slots=True)
class IntervalPoint:
    """One second of one latency series; ``hdr`` is that second's histoblob (None if empty)."""

    t: int
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    hdr: str | None

    @classmethod
    def of(cls, t: int, hist: LatencyHistogram) -> IntervalPoint:
        """Summarise ``hist`` as the point of second ``t``."""
        count, p, blob = hist.summary()  # one pass over the counts
        if not count:
            return cls(t, 0, None, None, None, None, None)
        return cls(t, count, p["p50"] / 1000.0, p["p95"] / 1000.0, p["p99"] / 1000.0,
                   p["max"] / 1000.0, blob)

    def histogram(self) -> LatencyHistogram:
        """The second's histogram, decoded."""
        return LatencyHistogram.decode(self.hdr) if self.hdr else LatencyHistogram()


def _combine_points(t: int, points: list[IntervalPoint]) -> IntervalPoint:
    if len(points) == 1:
        return replace(points[0], t=t)
    merged = LatencyHistogram()
    for point in points:
        if point.hdr:
            merged.merge(LatencyHistogram.decode(point.hdr))
    return IntervalPoint.of(t, merged)


class Metrics:
    """Named latency histograms, counters and gauges with bounded per-second series."""

    def __init__(
        self,
        *,
        origin_ns: int | None = None,
        origin_wall: float | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        if max_points < 1:
            raise ConfigError(f"max_points must be at least 1, got {max_points}")
        self.origin_ns = now_ns() if origin_ns is None else origin_ns
        self.origin_wall = wall_time() if origin_wall is None else origin_wall
        self.max_points = max_points
        self._second = 0  # index of the open interval
        self._interval: dict[str, LatencyHistogram] = {}
        self._cumulative: dict[str, LatencyHistogram] = {}
        self._counters: dict[str, int] = {}
        self._marks: dict[str, int] = {}  # counter values at the last rollover
        self._gauges: dict[str, float] = {}
        self._hseries: dict[str, deque[IntervalPoint]] = {}
        self._cseries: dict[str, deque[tuple[int, int]]] = {}
        self._gseries: dict[str, deque[tuple[int, float]]] = {}

    # -- recording ------------------------------------------------------------

    def _create(self, name: str) -> LatencyHistogram:
        interval = self._interval[name] = LatencyHistogram()
        self._cumulative[name] = LatencyHistogram()
        self._hseries[name] = deque(maxlen=self.max_points)
        return interval

    def record_ns(self, name: str, ns: int) -> None:
        """Record a latency of ``ns`` nanoseconds under ``name``."""
        try:
            self._interval[name].record_ns(ns)
        except KeyError:
            self._create(name).record_ns(ns)

    def recorder(self, name: str) -> Callable[[int], None]:
        """A ``record_ns(ns)`` callable bound to ``name``, valid for the life of the store."""
        interval = self._interval.get(name)
        if interval is None:
            interval = self._create(name)
        return interval.record_ns

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        self._counters[name] = self._counters.get(name, 0) + n

    def set_gauge(self, name: str, value: float) -> None:
        """Set gauge ``name``; the value in force at each rollover goes to its series."""
        self._gauges[name] = value

    # -- time -------------------------------------------------------------------

    def tick(self, now: int) -> bool:
        """Close the open second if ``now`` (monotonic ns) is past it; True if it rolled over."""
        second = (now - self.origin_ns) // _SECOND
        if second <= self._second:
            return False
        self._rollover(self._second)
        self._second = second
        return True

    def flush(self, now: int | None = None) -> None:
        """Close the open (partial) second now, e.g. at the end of a run.

        Records made afterwards in the same second are folded into the same point.
        """
        if now is not None:
            self.tick(now)
        self._rollover(self._second)

    def _rollover(self, t: int) -> None:
        for name, interval in self._interval.items():
            point = IntervalPoint.of(t, interval)  # syncs the interval: merged as it is
            self._push_point(self._hseries[name], point)
            if point.count:  # an empty second has nothing to add or reset
                self._cumulative[name]._add_synced(interval)
                interval.reset()
        for name, value in self._counters.items():
            ring = self._cseries.setdefault(name, deque(maxlen=self.max_points))
            delta = value - self._marks.get(name, 0)
            self._marks[name] = value
            if ring and ring[-1][0] == t:
                delta += ring.pop()[1]
            ring.append((t, delta))
        for name, gauge in self._gauges.items():
            gring = self._gseries.setdefault(name, deque(maxlen=self.max_points))
            if gring and gring[-1][0] == t:
                gring.pop()
            gring.append((t, gauge))

    @staticmethod
    def _push_point(ring: deque[IntervalPoint], point: IntervalPoint) -> None:
        if ring and ring[-1].t == point.t:
            point = _combine_points(point.t, [ring.pop(), point])
        ring.append(point)

    # -- reading ------------------------------------------------------------------

    @property
    def histogram_names(self) -> list[str]:
        return sorted(self._interval)

    def histogram(self, name: str) -> LatencyHistogram:
        """A copy of the cumulative histogram of ``name``, open second included."""
        if name not in self._interval:
            return LatencyHistogram()
        total = self._cumulative[name].copy()
        total.merge(self._interval[name])
        return total

    def counter(self, name: str) -> int:
        return self._counters.get(name, 0)

    @property
    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def gauge(self, name: str) -> float | None:
        return self._gauges.get(name)

    @property
    def gauges(self) -> dict[str, float]:
        return dict(self._gauges)

    def series(self, name: str) -> list[IntervalPoint]:
        """The closed per-second points of latency ``name``, oldest first."""
        return list(self._hseries.get(name, ()))

    def counter_series(self, name: str) -> list[tuple[int, int]]:
        """``(t, delta)`` per closed second of counter ``name``."""
        return list(self._cseries.get(name, ()))

    def gauge_series(self, name: str) -> list[tuple[int, float]]:
        """``(t, value)`` per closed second of gauge ``name``."""
        return list(self._gseries.get(name, ()))

    # -- snapshots and merging ----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything measured, JSON-serialisable; histograms travel as HDR histoblobs."""
        hseries = {}
        for name, ring in self._hseries.items():
            hseries[name] = {f: [getattr(p, f) for p in ring] for f in _POINT_FIELDS}
        return {
            "format": SNAPSHOT_FORMAT,
            "origin_wall": self.origin_wall,
            "interval_s": 1,
            "histograms": {n: self.histogram(n).to_dict() for n in sorted(self._interval)},
            "counters": dict(sorted(self._counters.items())),
            "gauges": dict(sorted(self._gauges.items())),
            "series": {
                "histograms": hseries,
                "counters": {n: {"t": [t for t, _ in r], "delta": [d for _, d in r]}
                             for n, r in self._cseries.items()},
                "gauges": {n: {"t": [t for t, _ in r], "value": [v for _, v in r]}
                           for n, r in self._gseries.items()},
            },
        }

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any], *, max_points: int = DEFAULT_MAX_POINTS) -> Metrics:
        """A store holding exactly what ``snapshot`` holds."""
        return cls.merge_snapshots([snapshot], max_points=max_points)

    @classmethod
    def merge_snapshots(
        cls, snapshots: Iterable[dict[str, Any]], *, max_points: int = DEFAULT_MAX_POINTS
    ) -> Metrics:
        """Merge snapshots of several processes into one store, aligned on the earliest origin."""
        snapshots = list(snapshots)
        origins = [_field(s, "origin_wall", (int, float)) for s in snapshots]
        merged = cls(origin_ns=0, origin_wall=min(origins, default=0.0), max_points=max_points)
        for snapshot in snapshots:
            merged.merge(snapshot)
        return merged

    def merge(self, snapshot: dict[str, Any]) -> None:
        """Add a snapshot into this store: exact histograms, summed counters, series by second.

        Raises:
            ConfigError: the snapshot is malformed or of an unknown format.
        """
        if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
            found = snapshot.get("format") if isinstance(snapshot, dict) else type(snapshot).__name__
            raise ConfigError(f"metrics snapshot format {found!r} is not {SNAPSHOT_FORMAT}")
        shift = round(_field(snapshot, "origin_wall", (int, float)) - self.origin_wall)
        series = _field(snapshot, "series", dict)
        hists: list[tuple[str, tuple[LatencyHistogram, ...]]] = [
            (name, (LatencyHistogram.from_dict(data),))
            for name, data in _field(snapshot, "histograms", dict).items()]
        counters = [(name, int(value)) for name, value in _field(snapshot, "counters", dict).items()]
        gauges = [(name, float(value)) for name, value in _field(snapshot, "gauges", dict).items()]
        hseries = [(name, [IntervalPoint(*row) for row in _rows(cols, _POINT_FIELDS, name)])
                   for name, cols in _field(series, "histograms", dict).items()]
        rows = {kind: [(name, _rows(cols, ("t", col), name))
                       for name, cols in _field(series, kind, dict).items()]
                for kind, col in (("counters", "delta"), ("gauges", "value"))}
        self._merge_parts(shift, hists, counters, gauges, hseries, rows["counters"],
                          rows["gauges"])

    def merge_store(self, other: Metrics) -> None:
        """``merge(other.snapshot())`` without the snapshot: the same store afterwards.

        For a store drained in this very process (a Locust process's judge into its
        aggregate, every 2 s): the snapshot encodes every histogram as an HDR histoblob
        (zlib) that the merge decodes again, most of the ticker's drain (in-process,
        bench/README.md "Locust worker, wave 2e"). ``other`` is only read; its series
        points are immutable and shared.
        """
        names = sorted(other._interval)
        self._merge_parts(
            round(other.origin_wall - self.origin_wall),
            [(name, (other._cumulative[name], other._interval[name])) for name in names],
            sorted(other._counters.items()),
            sorted(other._gauges.items()),
            [(name, list(ring)) for name, ring in other._hseries.items()],
            [(name, list(ring)) for name, ring in other._cseries.items()],
            [(name, list(ring)) for name, ring in other._gseries.items()],
        )

    def _merge_parts(
        self,
        shift: int,
        hists: list[tuple[str, tuple[LatencyHistogram, ...]]],
        counters: list[tuple[str, int]],
        gauges: list[tuple[str, float]],
        hseries: list[tuple[str, list[IntervalPoint]]],
        cseries: list[tuple[str, list[tuple[int, Any]]]],
        gseries: list[tuple[str, list[tuple[int, Any]]]],
    ) -> None:
        for name, parts in hists:
            if name not in self._interval:
                self._create(name)
            for part in parts:
                self._cumulative[name].merge(part)
        for name, value in counters:
            self._counters[name] = self._counters.get(name, 0) + value
            self._marks[name] = self._marks.get(name, 0) + value
        for name, fvalue in gauges:
            self._gauges[name] = self._gauges.get(name, 0.0) + fvalue
        for name, incoming in hseries:
            if name not in self._interval:
                self._create(name)
            ring = self._hseries[name]
            if _appends(ring, incoming, shift):  # the usual drain: only seconds from the last on
                for point in incoming:
                    t = point.t + shift
                    if ring and ring[-1].t == t:
                        ring.append(_combine_points(t, [ring.pop(), point]))
                    else:
                        ring.append(point if not shift else replace(point, t=t))
                continue
            by_t: dict[int, list[IntervalPoint]] = {}
            for point in ring:
                by_t.setdefault(point.t, []).append(point)
            for point in incoming:
                by_t.setdefault(point.t + shift, []).append(point)
            points = [_combine_points(t, group) for t, group in sorted(by_t.items())]
            self._hseries[name] = deque(points, maxlen=self.max_points)
        maps: tuple[tuple[dict[str, Any], list[tuple[str, list[tuple[int, Any]]]]], ...] = (
            (self._cseries, cseries), (self._gseries, gseries))
        for ring_map, named_rows in maps:
            for name, rows in named_rows:
                old = ring_map.get(name)
                if old is not None and _appends(old, rows, shift, key=0):
                    for t, value in rows:
                        t += shift
                        if old and old[-1][0] == t:
                            value += old.pop()[1]
                        old.append((t, value))
                    continue
                sums: dict[int, Any] = dict(old or ())
                for t, value in rows:
                    sums[t + shift] = sums.get(t + shift, 0) + value
                ring_map[name] = deque(sorted(sums.items()), maxlen=self.max_points)


def _appends(ring: deque[Any], incoming: list[Any], shift: int, key: int | None = None) -> bool:
    """Whether ``incoming`` (points or ``(t, value)`` rows) only adds seconds at or after the
    last one of ``ring``, in increasing order: merged by appending (and combining the one
    shared second), the same result as re-sorting the whole ring, in O(new points), not
    O(run length) (a drain every 2 s into an aggregate holding up to 86,400 seconds)."""
    last = (ring[-1][key] if key is not None else ring[-1].t) if ring else None
    for i, item in enumerate(incoming):
        t = (item[key] if key is not None else item.t) + shift
        if last is not None and (t < last or (t == last and i)):
            return False  # before the ring's end, or a second twice: the general path sorts
        last = t
    return True


def _field(data: Any, key: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"metrics snapshot: {key!r} is missing or not of the expected type")
    return value


def _rows(cols: Any, fields: tuple[str, ...], name: str) -> list[tuple[Any, ...]]:
    columns = [_field(cols, f, list) for f in fields]
    if len({len(c) for c in columns}) > 1:
        raise ConfigError(f"metrics snapshot: series {name!r} has columns of different lengths")
    return list(zip(*columns, strict=True))
