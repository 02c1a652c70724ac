"""Ack timeouts without a timer per emit: one lazy timer per socket over a heap of deadlines.

Theory of operation
-------------------
A load generator sends thousands of acked emits a second, nearly all answered
within milliseconds, each with a timeout of seconds. One ``loop.call_later``
per emit (and its ``cancel`` on the ACK) costs about 1 us of the ~20 us an
acked emit costs in all; ``asyncio.timeout`` costs more. Instead
:class:`AckDeadlines` keeps ``(deadline, ack_id, timeout, event)`` in a heap and
ONE timer armed for the earliest deadline:

* :meth:`AckDeadlines.add` pushes the deadline, after dropping answered ids
  from the top of the heap (with sequential calls the heap stays one entry
  deep), and arms or advances the timer only when the new deadline is the
  earliest;
* an ACK does nothing here: the socket pops its id from the pending map, and
  the stale heap entry is dropped later;
* when the timer fires, entries whose id is still pending and whose deadline
  has passed are expired through the socket's callback; the timer is re-armed
  for the next pending deadline, if any.

So an answered emit costs a heap push and a pop, no timer operation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

__all__ = ["AckDeadlines"]

Expire = Callable[[int, str, float], None]


class AckDeadlines:
    """Deadlines of pending acks (see the module docstring).

    Args:
        loop: the event loop (its clock and timers).
        pending: the socket's map of pending ack ids (read, never written, here).
        expire: called as ``expire(ack_id, event, timeout)`` for each id past its deadline.
    """

    __slots__ = ("_loop", "_pending", "_expire", "_heap", "_timer", "_at")

    def __init__(self, loop: asyncio.AbstractEventLoop, pending: dict[int, Any], expire: Expire):
        self._loop = loop
        self._pending = pending
        self._expire = expire
        self._heap: list[tuple[float, int, float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, ack_id: int, timeout: float, event: str) -> None:
        """Expire ``ack_id`` after ``timeout`` seconds unless it leaves ``pending`` first."""
        deadline = self._loop.time() + timeout
        heap = self._heap
        pending = self._pending
        while heap and heap[0][1] not in pending:
            heappop(heap)
        heappush(heap, (deadline, ack_id, timeout, event))
        timer = self._timer
        if timer is None or deadline < self._at:
            if timer is not None:
                timer.cancel()
            self._at = deadline
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self._loop.time()
        heap = self._heap
        pending = self._pending
        while heap:
            deadline, ack_id, timeout, event = heap[0]
            if ack_id not in pending:
                heappop(heap)
            elif deadline <= now:
                heappop(heap)
                self._expire(ack_id, event, timeout)
            else:
                self._at = deadline
                self._timer = self._loop.call_at(deadline, self._fire)
                return

    def clear(self) -> None:
        """Forget every deadline (the pending map was emptied)."""
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
