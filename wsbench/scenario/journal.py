"""The oracle journal: how a ``--processes`` child hands what it saw to the one judge.

Theory of operation
-------------------
With several driver processes no child can judge a delivery on its own: the emit
may come from a client of another process, and so may the membership change that
decides whether the copy was due. So a child does not judge at all. Its driver gets
a :class:`RecordingOracle` instead of a :class:`~wsbench.oracle.DeliveryOracle`: the
same verbs (membership changes, ``expect_emit``, ``observe_delivery``, acks,
``retried`` (an at-least-once emit re-sent), violations), each appended as a compact tuple to a :class:`JournalWriter`, stamped
with the **system-wide monotonic clock** (``time.monotonic_ns`` is one clock for
every process of a host), at the moment of the call. Queries a client needs about
its *own* sockets (is it connected, its sid, for ``peer:`` choices) are answered by
a local :class:`~wsbench.oracle.Membership` that sees the same changes.

Records are ``(t, op, *args)`` of builtin types, written in batches (``marshal``
format version 4, length-prefixed: :func:`encode_batch`; an internal format, read
only by wsbench). The transport is pluggable: a :class:`JournalWriter` appends its
batches to a file per child, or hands them to a ``sink`` callable (a distributed
Locust worker sends each batch to the master over Locust's messaging); a
:class:`JournalReader` tails a file, a :class:`JournalFeed` decodes batches pushed
into it. The writer flushes every 50 ms, ending each batch with a
``HEARTBEAT`` record carrying its flush time: every later record of that child has
a later ``t`` (one thread, one clock), so the flush time is that child's
*watermark*. A file never blocks the child (the page cache absorbs a slow judge).

Clocks. On one host every process reads the same monotonic clock. Journals from
other machines are brought onto the judge's clock with :func:`shift_record`, which
knows where each record kind keeps its times (:data:`TIME_FIELDS`).

The parent's :class:`~wsbench.scenario.judge.Judge` tails every file
(:class:`JournalReader`), k-way merges the records with ``t`` at or below the
smallest watermark (``heapq.merge``) and replays them through ONE oracle, in the
order they happened: the verdict is what a single process would have reached,
including deliveries, leaks and drops across processes.

Run boundaries are records too: ``STOPPED`` (the users were cancelled, draining
starts) and ``FINAL`` (judging ends here; the connections this child closes
afterwards are not membership changes the verdict should see), then ``END``.
"""

from __future__ import annotations

import marshal
import struct
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, BinaryIO

from wsbench.app.paths import Expect
from wsbench.metrics import now_ns
from wsbench.oracle import Membership, Semantics, Stamp, Violation

__all__ = [
    "Op",
    "TIME_FIELDS",
    "encode_batch",
    "shift_record",
    "JournalWriter",
    "JournalReader",
    "JournalFeed",
    "RecordingOracle",
    "RecordingMembership",
    "RecordingViolations",
    "expect_data",
    "expect_of",
]

_LEN = struct.Struct("<I")
_MARSHAL_VERSION = 4  # pinned: readable by every Python 3 wsbench supports


class Op:
    """Record kinds (small ints keep records short)."""

    HEARTBEAT = 0
    CONNECT_REQ = 1
    CONNECTED = 2
    DISCONNECTED = 3
    JOIN_REQ = 4
    JOINED = 5
    LEFT = 6
    CANCEL = 7
    EMIT = 8
    DELIVERY = 9
    EXPECT_ACK = 10
    ACK = 11
    VIOLATION = 12
    STOPPED = 13
    FINAL = 14
    END = 15
    FORBID = 16
    CORRELATE = 17
    CORR_DELIVERY = 18
    RETRY = 19
    CONFIRM_BY = 20
    OUTAGE_BEGIN = 21  # a cluster's Redis goes down (restart_redis): at_ns
    OUTAGE_END = 22  # ... and its window ended: down_ns, back_ns, resubscribed_ns or None


#: Per record kind, the positions (in ``(t, op, *args)``) of times on the recorder's
#: clock besides ``t``; ``DELIVERY``'s stamp send time (position 5) is on the *sender's*.
TIME_FIELDS: dict[int, tuple[int, ...]] = {
    Op.CONNECT_REQ: (4,),
    Op.CONNECTED: (5,),
    Op.DISCONNECTED: (4,),
    Op.JOIN_REQ: (5,),
    Op.JOINED: (5,),
    Op.LEFT: (5,),
    Op.EMIT: (5, 11, 12),  # stamp sent_ns, at_ns, deadline_ns
    Op.DELIVERY: (8,),  # recv_ns
    Op.EXPECT_ACK: (5,),
    Op.ACK: (3,),
    Op.VIOLATION: (10,),
    Op.CORRELATE: (6,),  # the stamp's sent_ns
    Op.CORR_DELIVERY: (5,),  # recv_ns
    Op.OUTAGE_BEGIN: (2,),
    Op.OUTAGE_END: (2, 3, 4),
}
_DELIVERY_SENT = 5


def shift_record(
    rec: tuple[Any, ...], offset_ns: int, stamp_offset: Callable[[str], int] | None = None
) -> tuple[Any, ...]:
    """``rec`` with every time moved from its recorder's clock to the judge's.

    ``offset_ns`` is the recorder's clock minus the judge's (subtracted from ``t`` and
    every field of :data:`TIME_FIELDS`; a zero or None field means "not given" and stays).
    ``stamp_offset(stamp_id)`` is the offset of the clock that stamped an emit: a
    delivery's stamp carries the sender's send time, which may be another machine's.
    """
    fields = TIME_FIELDS.get(rec[1], ())
    out = list(rec)
    out[0] = rec[0] - offset_ns
    for i in fields:
        if out[i]:
            out[i] -= offset_ns
    if rec[1] == Op.DELIVERY and out[_DELIVERY_SENT]:
        out[_DELIVERY_SENT] -= stamp_offset(rec[2]) if stamp_offset is not None else offset_ns
    return tuple(out)


def encode_batch(records: list[tuple[Any, ...]]) -> bytes:
    """One length-prefixed batch, as written to a file or sent in a message."""
    data = marshal.dumps(records, _MARSHAL_VERSION)
    return _LEN.pack(len(data)) + data


class JournalWriter:
    """Appends records; :meth:`flush` writes one batch ending with a heartbeat.

    Args:
        path: the journal file (appended to), unless ``sink`` is given.
        batch: records buffered before a flush is forced.
        sink: called with every encoded batch instead of writing a file.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        batch: int = 4096,
        *,
        sink: Callable[[bytes], None] | None = None,
    ) -> None:
        if (path is None) == (sink is None):
            raise ValueError("JournalWriter needs exactly one of path and sink")
        self.path = Path(path) if path is not None else None
        self._file: BinaryIO | None = None
        if self.path is not None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed by close()
        self._sink = sink
        self._buf: list[tuple[Any, ...]] = []
        self._batch = batch
        self.records = 0
        self.closed = False

    def add(self, op: int, *args: Any) -> None:
        buf = self._buf
        buf.append((now_ns(), op, *args))
        if len(buf) >= self._batch:
            self.flush()

    def flush(self) -> None:
        """Write the buffered records and a heartbeat (the watermark) as one batch."""
        if self.closed:
            return
        buf = self._buf
        buf.append((now_ns(), Op.HEARTBEAT))
        data = encode_batch(buf)
        self.records += len(buf)
        self._buf = []
        if self._file is not None:
            self._file.write(data)
            self._file.flush()
        else:
            assert self._sink is not None
            self._sink(data)

    def close(self) -> None:
        if not self.closed:
            self.add(Op.END)
            self.flush()
            self.closed = True
            if self._file is not None:
                self._file.close()


class JournalFeed:
    """Decodes pushed batch bytes (:meth:`push`); :meth:`poll` returns the complete records."""

    def __init__(self) -> None:
        self._rest = b""
        self._ready: list[tuple[Any, ...]] = []
        self.watermark = -1
        self.ended = False

    def push(self, data: bytes) -> None:
        data = self._rest + data
        pos = 0
        out = self._ready
        while len(data) - pos >= 4:
            (size,) = _LEN.unpack_from(data, pos)
            if len(data) - pos - 4 < size:
                break
            out.extend(marshal.loads(data[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        self._rest = data[pos:]

    def poll(self) -> list[tuple[Any, ...]]:
        out, self._ready = self._ready, []
        if out:
            self.watermark = out[-1][0]
            if any(r[1] == Op.END for r in out[-2:]):
                self.ended = True
        return out

    def close(self) -> None:
        return None


class JournalReader(JournalFeed):
    """Tails one child's journal file: :meth:`poll` returns the complete records read."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._file: BinaryIO | None = None

    def poll(self) -> list[tuple[Any, ...]]:
        if self._file is None:
            try:
                self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            except FileNotFoundError:
                return []
        self.push(self._file.read())
        return super().poll()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# -- payload expectations as builtin data ------------------------------------------------


def expect_data(e: Expect) -> tuple[Any, ...]:
    """An app engine :class:`~wsbench.app.paths.Expect` as nested builtin tuples (marshal
    writes them): ``(kind, value, ((key, sub), ...))``. It travels with its EMIT record, so
    the judge checks every copy's payload whichever process received it."""
    return (e.kind, e.value, tuple((k, expect_data(sub)) for k, sub in e.items))


def expect_of(data: tuple[Any, ...]) -> Expect:
    """The inverse of :func:`expect_data`."""
    kind, value, items = data
    return Expect(kind, value, tuple((k, expect_of(sub)) for k, sub in items))


# -- the child's side: the oracle's verbs, recorded -------------------------------------


class RecordingMembership:
    """Membership changes go to the journal AND a local model (for this child's queries)."""

    def __init__(self, journal: JournalWriter) -> None:
        self._j = journal
        self.local = Membership()

    def connect_requested(self, client: Hashable, namespace: str, now_ns: int = 0) -> None:
        self._j.add(Op.CONNECT_REQ, client, namespace, now_ns)
        self.local.connect_requested(client, namespace, now_ns)

    def connected(
        self, client: Hashable, namespace: str, sid: str, now_ns: int = 0, node: int | None = None
    ) -> None:
        if node is None:
            self._j.add(Op.CONNECTED, client, namespace, sid, now_ns)
        else:  # the socket's cluster node travels with it (the judge splits the latency by it)
            self._j.add(Op.CONNECTED, client, namespace, sid, now_ns, node)
        self.local.connected(client, namespace, sid, now_ns, node)

    def disconnected(self, client: Hashable, namespace: str | None = None, now_ns: int = 0) -> None:
        self._j.add(Op.DISCONNECTED, client, namespace, now_ns)
        self.local.disconnected(client, namespace, now_ns)

    def join_requested(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        self._j.add(Op.JOIN_REQ, client, namespace, room, now_ns)
        self.local.join_requested(client, namespace, room, now_ns)

    leave_requested = join_requested

    def joined(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        self._j.add(Op.JOINED, client, namespace, room, now_ns)
        self.local.joined(client, namespace, room, now_ns)

    def left(self, client: Hashable, namespace: str, room: str, now_ns: int = 0) -> None:
        self._j.add(Op.LEFT, client, namespace, room, now_ns)
        self.local.left(client, namespace, room, now_ns)

    def cancel_pending(self, client: Hashable, namespace: str, room: str | None) -> None:
        self._j.add(Op.CANCEL, client, namespace, room)
        self.local.cancel_pending(client, namespace, room)

    def __getattr__(self, name: str) -> Any:  # queries: this child's own sockets
        return getattr(self.local, name)


class RecordingViolations:
    """``oracle.violations`` of a child: recorded, counted by the judge (``total`` is 0 here)."""

    total = 0

    def __init__(self, journal: JournalWriter) -> None:
        self._j = journal

    def add(self, v: Violation, count: int = 1) -> None:
        receiver = v.receiver
        if receiver is not None and not isinstance(receiver, (tuple, int, str)):
            receiver = str(receiver)
        self._j.add(
            Op.VIOLATION,
            str(v.kind),
            v.stamp,
            v.sender,
            receiver,
            v.namespace,
            v.event,
            v.expected,
            v.detail,
            v.at_ns,
            count,
        )


class RecordingOracle:
    """Stands in for :class:`~wsbench.oracle.DeliveryOracle` in a child (see the module docstring)."""

    open_emits = 0

    def __init__(self, journal: JournalWriter) -> None:
        self.journal = journal
        self.membership = RecordingMembership(journal)
        self.violations = RecordingViolations(journal)

    def expect_emit(
        self,
        stamp: Stamp,
        sender: Hashable | None,
        namespace: str,
        semantics: Semantics,
        *,
        rooms: Iterable[str] = (),
        to: Hashable | None = None,
        at_ns: int | None = None,
        deadline_ns: int,
        volatile: bool = False,
        event: str = "",
        include_sender: bool = False,
        payload: Any = None,
    ) -> int:
        extra = () if payload is None else (expect_data(payload),)
        self.journal.add(
            Op.EMIT,
            stamp.id,
            stamp.sender,
            stamp.seq,
            stamp.sent_ns,
            sender,
            namespace,
            str(semantics),
            tuple(rooms),
            to,
            at_ns,
            deadline_ns,
            volatile,
            event,
            include_sender,
            *extra,  # the payload expectation, only when there is one
        )
        return -1

    def observe_delivery(
        self, stamp: Stamp, receiver: Hashable, namespace: str, recv_ns: int, event: str = "",
        args: Any = None,
    ) -> None:
        self.journal.add(
            Op.DELIVERY,
            stamp.id,
            stamp.sender,
            stamp.seq,
            stamp.sent_ns,
            receiver,
            namespace,
            recv_ns,
            event,
            *(() if args is None else (list(args),)),  # the copy, for a payload check
        )

    def forbid(
        self,
        stamp_id: str,
        namespace: str,
        event: str,
        who: str,
        *,
        sender: Hashable | None = None,
        rooms: Iterable[str] = (),
        at_ns: int | None = None,
    ) -> int:
        self.journal.add(Op.FORBID, stamp_id, namespace, event, who, sender, tuple(rooms),
                         at_ns)
        return -1

    def correlate(self, key: str, stamp: Stamp) -> None:
        self.journal.add(Op.CORRELATE, key, stamp.id, stamp.sender, stamp.seq, stamp.sent_ns)

    def observe_correlated(
        self, key: str, receiver: Hashable, namespace: str, recv_ns: int, event: str = "",
        args: Any = None,
    ) -> None:
        self.journal.add(Op.CORR_DELIVERY, key, receiver, namespace, recv_ns, event,
                         *(() if args is None else (list(args),)))

    def retried(self, stamp_id: str, attempt: int) -> None:
        self.journal.add(Op.RETRY, stamp_id, attempt)

    def outage_begin(self, at_ns: int) -> None:
        self.journal.add(Op.OUTAGE_BEGIN, at_ns)

    def outage_end(self, down_ns: int, back_ns: int, resubscribed_ns: int | None) -> None:
        self.journal.add(Op.OUTAGE_END, down_ns, back_ns, resubscribed_ns)

    def confirm_by_copy(
        self, stamp_id: str, client: Hashable, namespace: str, room: str, join: bool
    ) -> None:
        self.journal.add(Op.CONFIRM_BY, stamp_id, client, namespace, room, join)

    def expect_ack(
        self,
        key: Hashable,
        client: Hashable,
        namespace: str,
        sent_ns: int,
        timeout_ns: int,
        event: str = "",
    ) -> None:
        self.journal.add(Op.EXPECT_ACK, key, client, namespace, sent_ns, timeout_ns, event)

    def observe_ack(self, key: Hashable, recv_ns: int, ok: bool = True, detail: str = "") -> None:
        self.journal.add(Op.ACK, key, recv_ns, ok, detail)

    def sweep(self, now_ns: int | None = None) -> int:
        return 0  # the judge closes emits

    def next_deadline(self) -> int | None:
        return None
