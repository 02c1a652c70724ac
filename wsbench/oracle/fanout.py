"""Fan-out: how long one emit takes to reach its whole audience.

Theory of operation
-------------------
When the oracle closes an emit (its deadline passed, or every recipient has it) it
builds a :class:`FanoutRecord`: the audience size, how many got it in time, and the
latency (from the *intended* send time) of the first, the median and the last
recipient. Records are not kept: :class:`FanoutStats` folds them into one
:class:`_Bucket` per audience-size class (1, 2-10, 11-100, 101-1000, 1001-10000,
more), so its memory is constant. The driver may also feed each record to HDR
histograms (``wsbench.metrics``) through the oracle's ``on_fanout`` callback; this
module itself stays plain integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["FanoutRecord", "FanoutBucket", "FanoutStats", "bucket_label"]

_BOUNDS: tuple[int, ...] = (1, 10, 100, 1000, 10000)


def bucket_label(audience: int) -> str:
    """The audience-size class of ``audience`` recipients: ``"1"``, ``"2-10"``, ... ``">10000"``."""
    low = 1
    for high in _BOUNDS:
        if audience <= high:
            return str(high) if low == high else f"{low}-{high}"
        low = high + 1
    return f">{_BOUNDS[-1]}"


@dataclass(frozen=True, slots=True)
class FanoutRecord:
    """One closed emit's fan-out. Latencies are ns from the intended send time, -1 if none."""

    stamp: str
    event: str
    audience: int
    delivered: int
    first_ns: int
    median_ns: int
    last_ns: int

    @property
    def completion(self) -> float:
        """Share of the audience that got it in time (1.0 for an empty audience)."""
        return self.delivered / self.audience if self.audience else 1.0

    @classmethod
    def build(cls, stamp: str, event: str, audience: int, latencies: list[int]) -> FanoutRecord:
        if not latencies:
            return cls(stamp, event, audience, 0, -1, -1, -1)
        ordered = sorted(latencies)
        return cls(
            stamp,
            event,
            audience,
            len(ordered),
            ordered[0],
            ordered[(len(ordered) - 1) // 2],
            ordered[-1],
        )


@dataclass(frozen=True, slots=True)
class FanoutBucket:
    """Aggregate of the emits of one audience-size class."""

    label: str
    emits: int
    expected: int
    delivered: int
    complete: int
    mean_first_ns: float
    mean_median_ns: float
    mean_last_ns: float
    max_last_ns: int

    @property
    def completion(self) -> float:
        return self.delivered / self.expected if self.expected else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "audience": self.label,
            "emits": self.emits,
            "expected": self.expected,
            "delivered": self.delivered,
            "complete_emits": self.complete,
            "completion": self.completion,
            "mean_first_ms": self.mean_first_ns / 1e6,
            "mean_median_ms": self.mean_median_ns / 1e6,
            "mean_last_ms": self.mean_last_ns / 1e6,
            "max_last_ms": self.max_last_ns / 1e6,
        }


class _Bucket:
    __slots__ = (
        "emits",
        "expected",
        "delivered",
        "complete",
        "timed",
        "first",
        "median",
        "last",
        "max_last",
    )

    def __init__(self) -> None:
        self.emits = self.expected = self.delivered = self.complete = self.timed = 0
        self.first = self.median = self.last = self.max_last = 0


class FanoutStats:
    """Constant-memory aggregation of :class:`FanoutRecord` by audience-size class."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def add(self, record: FanoutRecord) -> None:
        if record.audience == 0:
            return
        b = self._buckets.setdefault(bucket_label(record.audience), _Bucket())
        b.emits += 1
        b.expected += record.audience
        b.delivered += record.delivered
        if record.delivered >= record.audience:
            b.complete += 1
        if record.delivered:
            b.timed += 1
            b.first += record.first_ns
            b.median += record.median_ns
            b.last += record.last_ns
            b.max_last = max(b.max_last, record.last_ns)

    def buckets(self) -> tuple[FanoutBucket, ...]:
        def order(label: str) -> int:
            digits = label.lstrip(">").split("-")[0]
            return int(digits) + (1 if label.startswith(">") else 0)

        out = []
        for label in sorted(self._buckets, key=order):
            b = self._buckets[label]
            n = b.timed or 1
            out.append(
                FanoutBucket(
                    label,
                    b.emits,
                    b.expected,
                    b.delivered,
                    b.complete,
                    b.first / n,
                    b.median / n,
                    b.last / n,
                    b.max_last,
                )
            )
        return tuple(out)
