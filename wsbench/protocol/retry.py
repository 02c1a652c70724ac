"""At-least-once emits: socket.io-client 4.6+'s ``retries`` + ``ackTimeout`` queue, sans-I/O.

Theory of operation
-------------------
socket.io-client (lib/socket.ts ``_addToQueue`` / ``_drainQueue``) puts every emit of a socket
created with ``retries`` into ONE queue and sends them one at a time, in order: the head of
the queue is sent with an ack id (a fresh id on each try, ``this.ids++``; the arguments are
the same, so a server sees the same payload again), and the next packet waits until the head
is settled. The head's ack callback decides:

* an ACK: the head is done (``ack(null, ...args)``), the next one is sent;
* an error (no ACK within ``ackTimeout``, or "socket has been disconnected"): when the head
  has been tried more than ``retries`` times it is discarded and its callback gets the
  error, else it is sent again at once (if connected);
* a (re)connect sends the head again even if it is still pending (``_drainQueue(true)``).

So a packet is sent at most ``retries + 1`` times. wsbench keeps the per-emit ``retries``
(socket.io-client has one per socket): each queued emit carries its own bound, and emits
without retries bypass the queue, as ``volatile`` ones bypass it in socket.io-client.

:class:`RetryQueue` is that logic without I/O, timers or ack ids: the caller reports what
happened to the head's current try (:meth:`~RetryQueue.answered`, :meth:`~RetryQueue.failed`),
the connection state (:meth:`~RetryQueue.connected`, :meth:`~RetryQueue.disconnected`), and
performs the actions it gets back: :class:`SendTry` (emit the entry with a new ack id and
start its timeout) and :class:`Settled` (the emit's final outcome). A try's outcome must name
the try (``entry.seq``, ``attempt``); a stale one (an earlier try of the head, or of an entry
settled meanwhile) is ignored, as socket.io-client ignores an ACK for a packet that is no
longer the head.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["QueuedEmit", "RetryQueue", "SendTry", "Settled", "RetryAction"]


class QueuedEmit:
    """One queued emit (socket.io-client's queued packet: ``id``, ``tryCount``, ``pending``)."""

    __slots__ = ("seq", "event", "args", "retries", "timeout", "token", "tries", "pending")

    def __init__(
        self, seq: int, event: str, args: list[Any], retries: int, timeout: float, token: Hashable
    ) -> None:
        self.seq, self.event, self.args = seq, event, args
        self.retries, self.timeout, self.token = retries, timeout, token
        self.tries = 0
        self.pending = False


@dataclass(frozen=True, slots=True)
class SendTry:
    """Emit ``entry.event`` + ``entry.args`` with a new ack id now; this is try ``attempt``
    (1 = the first send; more = a retry); expire it after ``entry.timeout`` s."""

    entry: QueuedEmit
    attempt: int


@dataclass(frozen=True, slots=True)
class Settled:
    """The emit is done: ``args`` of the ACK that settled it, or None (``error`` says why)
    after ``attempts`` tries."""

    token: Hashable
    args: list[Any] | None
    attempts: int
    error: str = ""


RetryAction = SendTry | Settled


class RetryQueue:
    """The queue of one socket (namespace); see the module docstring."""

    __slots__ = ("_queue", "_seq", "_connected")

    def __init__(self, connected: bool = False) -> None:
        self._queue: deque[QueuedEmit] = deque()
        self._seq = 0
        self._connected = connected

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def head(self) -> QueuedEmit | None:
        return self._queue[0] if self._queue else None

    def push(
        self, event: str, args: list[Any], retries: int, timeout: float, token: Hashable = None
    ) -> list[RetryAction]:
        """Queue an emit (``retries`` >= 0 extra tries, each waiting ``timeout`` s for its ACK)."""
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if timeout <= 0:
            raise ValueError(f"the ack timeout must be > 0 s, got {timeout}")
        self._seq += 1
        self._queue.append(QueuedEmit(self._seq, event, args, retries, timeout, token))
        return self._drain(False)

    def answered(self, seq: int, attempt: int, args: list[Any]) -> list[RetryAction]:
        """The ACK of try ``attempt`` of entry ``seq`` arrived."""
        head = self._current(seq, attempt)
        if head is None:
            return []
        self._queue.popleft()
        head.pending = False
        return [Settled(head.token, args, head.tries), *self._drain(False)]

    def failed(self, seq: int, attempt: int, error: str) -> list[RetryAction]:
        """Try ``attempt`` of entry ``seq`` got no ACK (timeout, or the socket disconnected)."""
        head = self._current(seq, attempt)
        if head is None:
            return []
        head.pending = False
        out: list[RetryAction] = []
        if head.tries > head.retries:
            self._queue.popleft()
            out.append(Settled(head.token, None, head.tries, error))
        return out + self._drain(False)

    def connected(self) -> list[RetryAction]:
        """The namespace is (re)connected: the head is sent again, pending or not."""
        self._connected = True
        return self._drain(True)

    def disconnected(self) -> None:
        """Nothing is sent until :meth:`connected` (the pending try fails through
        :meth:`failed` when its ack is given up)."""
        self._connected = False

    def clear(self, error: str) -> list[RetryAction]:
        """The socket is gone for good: every queued emit is settled with ``error``."""
        out: list[RetryAction] = [Settled(e.token, None, e.tries, error) for e in self._queue]
        self._queue.clear()
        return out

    def _current(self, seq: int, attempt: int) -> QueuedEmit | None:
        head = self.head
        if head is None or head.seq != seq or head.tries != attempt:
            return None  # an earlier try, or an entry already settled: ignored
        return head

    def _drain(self, force: bool) -> list[RetryAction]:
        head = self.head
        if not self._connected or head is None or (head.pending and not force):
            return []
        head.pending = True
        head.tries += 1
        return [SendTry(head, head.tries)]
