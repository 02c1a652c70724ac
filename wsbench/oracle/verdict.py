"""The oracle's frozen result: what goes into the run summary.

:class:`OracleVerdict` is plain data: counts, ratios, simple latency aggregates (count,
min, mean, max; percentiles come from the driver's HDR histograms, fed through the
oracle's ``on_latency`` callback), violations with samples and fan-out aggregates.
``to_dict()`` gives the JSON-ready form for the summary's ``delivery`` section.
:class:`Outcome`/:class:`Observation` are what one observed delivery or ack turned out to be.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from wsbench.oracle.fanout import FanoutBucket
from wsbench.oracle.violations import ViolationSummary

__all__ = ["LatencySummary", "AckSummary", "Observation", "OracleVerdict", "Outcome"]


class Outcome(StrEnum):
    """What one observed delivery or ack turned out to be."""

    DELIVERED = "delivered"
    OPTIONAL = "optional"
    OUT_OF_ORDER = "out_of_order"  # delivered, counted, but out of order
    DUPLICATE = "duplicate"
    LEAK = "leak"
    SENDER_INCLUDED = "sender_included"
    LATE = "late"
    UNKNOWN_STAMP = "unknown_stamp"
    RETRY_DUPLICATE = "retry_duplicate"  # a copy of a re-sent emit (``retried``)
    FORBIDDEN = "forbidden_delivery"
    UNCORRELATED = "uncorrelated"
    ACK_OK = "ack_ok"
    ACK_LATE = "ack_late"
    ACK_DUPLICATE = "ack_duplicate"
    ACK_UNEXPECTED = "ack_unexpected"
    ACK_MISMATCH = "ack_mismatch"


class Observation(NamedTuple):
    """Result of observing a delivery or ack; ``latency_ns`` is -1 when not measured."""

    outcome: Outcome
    latency_ns: int = -1


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """count/min/mean/max of a latency in ns (0 when count is 0)."""

    count: int
    min_ns: int
    mean_ns: float
    max_ns: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "min_ms": self.min_ns / 1e6,
            "mean_ms": self.mean_ns / 1e6,
            "max_ms": self.max_ns / 1e6,
        }


class LatencyAccumulator:
    """Constant-memory count/min/sum/max."""

    __slots__ = ("count", "min", "sum", "max")

    def __init__(self) -> None:
        self.count = self.sum = self.max = 0
        self.min = -1

    def add(self, value_ns: int) -> None:
        self.count += 1
        self.sum += value_ns
        if value_ns > self.max:
            self.max = value_ns
        if self.min < 0 or value_ns < self.min:
            self.min = value_ns

    def summary(self) -> LatencySummary:
        if not self.count:
            return LatencySummary(0, 0, 0.0, 0)
        return LatencySummary(self.count, self.min, self.sum / self.count, self.max)


@dataclass(frozen=True, slots=True)
class AckSummary:
    """Acknowledgements the driver asked for, and what became of them."""

    expected: int
    ok: int
    timeouts: int
    late: int
    pending: int
    latency: LatencySummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "ok": self.ok,
            "timeouts": self.timeouts,
            "late": self.late,
            "pending": self.pending,
            "latency": self.latency.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class OracleVerdict:
    """Everything the delivery oracle concluded.

    ``delivery_ratio`` is in-time first deliveries over expected deliveries of closed
    non-volatile emits, not counting recipients that were disconnected when the emit
    arrived (``lost_while_away``). Volatile emits have their own ratio; their drops
    are not violations.
    """

    emits: int
    open_emits: int
    closed_emits: int
    expected: int
    delivered: int
    missing: int
    delivery_ratio: float
    volatile_expected: int
    volatile_delivered: int
    volatile_drops: int
    lost_while_away: int
    optional_deliveries: int
    latency: LatencySummary
    acks: AckSummary
    violations: ViolationSummary
    fanout: tuple[FanoutBucket, ...]
    retries: int = 0  #: re-sends of at-least-once emits the senders reported (``retried``)
    retry_duplicates: int = 0  #: copies accepted because their emit was re-sent
    nodes: int = 0  #: cluster nodes the sockets were on (0: the driver knew no node)
    same_node_deliveries: int = 0  #: measured copies to a socket on the sender's node
    other_node_deliveries: int = 0  #: measured copies that crossed to another node
    #: Redis outages (restart_redis): down_ns, back_ns, resubscribed_ns (None: not seen)
    outages: tuple[dict[str, Any], ...] = ()
    lost_during_outage: int = 0  #: other-node copies of in-window emits that never arrived
    outage_samples: tuple[dict[str, Any], ...] = ()  #: a few of them
    resumed_other_node: int = 0  #: other-node copies of emits sent after the last window
    first_resumed_ns: int | None = None  #: when the first of those arrived
    #: copies not owed to a socket that asked to leave the emit's room(s) after the emit and
    #: never got it (the server may have applied the leave first: a cluster's race)
    left_in_flight: int = 0

    @property
    def volatile_ratio(self) -> float:
        return self.volatile_delivered / self.volatile_expected if self.volatile_expected else 1.0

    @property
    def ok(self) -> bool:
        """No violation of any kind."""
        return self.violations.total == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "emits": self.emits,
            "open_emits": self.open_emits,
            "closed_emits": self.closed_emits,
            "expected": self.expected,
            "delivered": self.delivered,
            "missing": self.missing,
            "delivery_ratio": self.delivery_ratio,
            "volatile": {
                "expected": self.volatile_expected,
                "delivered": self.volatile_delivered,
                "drops": self.volatile_drops,
                "ratio": self.volatile_ratio,
            },
            "lost_while_away": self.lost_while_away,
            "optional_deliveries": self.optional_deliveries,
            "left_in_flight": self.left_in_flight,
            "latency": self.latency.to_dict(),
            "acks": self.acks.to_dict(),
            "violations": self.violations.to_dict(),
            "fanout": [b.to_dict() for b in self.fanout],
        }
