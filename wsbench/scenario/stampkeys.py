"""How an emit with several expectations is keyed in the oracle: ONE spelling for every runtime.

One payload carries one stamp; an emit that expects two events registers the first under
the stamp's id and each further one under ``id|event`` (:func:`secondary_stamp`). A
receiver maps a copy back to its expectation's key with :class:`Secondary`, which is
bounded: beyond ``bound`` ids the oldest are forgotten (their emits closed long before),
so the table never grows with the length of a run. Used by the interpreter, the
``--processes`` judge and the Locust judge.
"""

from __future__ import annotations

from collections import OrderedDict

from wsbench.oracle import Stamp

__all__ = ["Secondary", "secondary_stamp"]


def secondary_stamp(stamp: Stamp, event: str) -> Stamp:
    """The oracle key of a further ``expect`` of one emit: ``id|event``."""
    return Stamp(f"{stamp.id}|{event}", stamp.sender, stamp.seq, stamp.sent_ns)


class Secondary:
    """Which stamp ids have further expectations (bounded, oldest forgotten first)."""

    __slots__ = ("_events", "_bound")

    def __init__(self, bound: int = 50_000) -> None:
        self._events: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._bound = bound

    def register(self, base_id: str, event: str) -> None:
        events = self._events
        events[base_id] = events.get(base_id, frozenset()) | {event}
        while len(events) > self._bound:
            events.popitem(last=False)

    def key(self, stamp: Stamp, event: str) -> Stamp:
        """The stamp the oracle knows this delivery of ``event`` by."""
        events = self._events.get(stamp.id) if self._events else None
        if events is not None and event in events:
            return secondary_stamp(stamp, event)
        return stamp

    def __len__(self) -> int:
        return len(self._events)

    def __bool__(self) -> bool:
        return bool(self._events)
