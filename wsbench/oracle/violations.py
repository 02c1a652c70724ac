"""Violations are data: counted by kind, with a bounded sample of evidence.

Theory of operation
-------------------
The oracle never raises on a server's misbehaviour. Each broken promise is a
:class:`Violation` (what, which emit, who sent, who received, where, how big the
expected audience was, a short detail). :class:`ViolationLog` counts every one by
:class:`ViolationKind` and keeps the first ``samples_per_kind`` of each kind, so an
hour-long run with a million leaks holds a million in a counter and a handful of
examples, never a list of a million records.

Some outcomes are *not* violations and are counted elsewhere by the oracle: volatile
drops (the contract allows them), recipients that were disconnected when the emit
arrived ("lost while away", the reconnection measurement) and deliveries to sockets
whose membership was changing at send time ("optional" deliveries).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["ViolationKind", "Violation", "ViolationLog", "ViolationSummary"]


class ViolationKind(StrEnum):
    """Every way a server can break a delivery or acknowledgement promise."""

    #: an expected recipient never got the (non-volatile) emit before its deadline
    MISSING = "missing"
    #: a recipient got the same emit more than once (incl. multi-room emits)
    DUPLICATE = "duplicate"
    #: a socket outside the expected audience got the emit (room leak)
    LEAK = "leak"
    #: the sender got an emit whose semantics exclude the sender
    SENDER_INCLUDED = "sender_included"
    #: a recipient got a sender's emits in a different order than they were sent
    OUT_OF_ORDER = "out_of_order"
    #: a delivery arrived after the emit's deadline had closed it
    LATE = "late"
    #: a stamped delivery whose emit the oracle never registered
    UNKNOWN_STAMP = "unknown_stamp"
    #: an acknowledgement did not arrive within its timeout
    ACK_TIMEOUT = "ack_timeout"
    #: an acknowledgement arrived after its timeout
    ACK_LATE = "ack_late"
    #: an acknowledgement arrived twice
    ACK_DUPLICATE = "ack_duplicate"
    #: an acknowledgement for an ack id that was never requested (or already settled)
    ACK_UNEXPECTED = "ack_unexpected"
    #: the ack arrived but did not say what the contract says (e.g. ``ok`` false)
    ACK_MISMATCH = "ack_mismatch"
    #: an event the scenario did not expect (reported by the driver)
    UNEXPECTED_EVENT = "unexpected_event"
    #: a payload that does not have the contract's shape (reported by the driver)
    PAYLOAD_MISMATCH = "payload_mismatch"
    #: a frame the codec could not decode (reported by the driver)
    MALFORMED_FRAME = "malformed_frame"
    #: an expected connect or reconnect was refused or failed (reported by the driver)
    CONNECT_FAILED = "connect_failed"
    #: a socket a negative expectation protects got the event (``must_not``, the app
    #: file's ``never:``): e.g. a private message read by another socket
    FORBIDDEN_DELIVERY = "forbidden_delivery"


@dataclass(frozen=True, slots=True)
class Violation:
    """Evidence of one violation. Fields not relevant to a kind are empty."""

    kind: ViolationKind
    stamp: str = ""
    sender: Hashable | None = None
    receiver: Hashable | None = None
    namespace: str = ""
    event: str = ""
    expected: int | None = None
    detail: str = ""
    at_ns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "stamp": self.stamp,
            "sender": _jsonable(self.sender),
            "receiver": _jsonable(self.receiver),
            "namespace": self.namespace,
            "event": self.event,
            "expected": self.expected,
            "detail": self.detail,
            "at_ns": self.at_ns,
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return str(value)


@dataclass(frozen=True, slots=True)
class ViolationSummary:
    """Frozen counts and samples, for the run summary."""

    counts: dict[str, int]
    samples: tuple[Violation, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def count(self, kind: ViolationKind | str) -> int:
        return self.counts.get(str(kind), 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "counts": dict(self.counts),
            "samples": [v.to_dict() for v in self.samples],
        }


class ViolationLog:
    """Counter by kind plus the first ``samples_per_kind`` pieces of evidence of each, with
    every event that has the kind among them: once a kind's sample is full, the first
    violation of an event it does not show yet takes the place of the latest sample of the
    event shown most (so 30 ``missing`` of ``user joined`` first cannot hide that
    ``user left`` copies went missing too)."""

    def __init__(self, samples_per_kind: int = 20) -> None:
        self.samples_per_kind = samples_per_kind
        self._counts: dict[ViolationKind, int] = {}
        self._samples: dict[ViolationKind, list[Violation]] = {}
        self._events: dict[ViolationKind, set[str]] = {}  #: the events each sample shows

    def add(self, violation: Violation, count: int = 1) -> None:
        """Count ``violation`` (``count`` times) and keep it as evidence (see the class)."""
        kind = violation.kind
        self._counts[kind] = self._counts.get(kind, 0) + count
        sample = self._samples.setdefault(kind, [])
        events = self._events.setdefault(kind, set())
        if len(sample) < self.samples_per_kind:
            sample.append(violation)
            events.add(violation.event)
        elif violation.event not in events:
            shown = Counter(v.event for v in sample)
            most, n = shown.most_common(1)[0]
            if n > 1:  # every event keeps at least its first sample
                del sample[max(i for i, v in enumerate(sample) if v.event == most)]
                sample.append(violation)
                events.add(violation.event)

    def count(self, kind: ViolationKind) -> int:
        return self._counts.get(kind, 0)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def summary(self) -> ViolationSummary:
        counts = {str(k): v for k, v in sorted(self._counts.items()) if v}
        samples = tuple(v for k in sorted(self._samples) for v in self._samples[k])
        return ViolationSummary(counts, samples)
