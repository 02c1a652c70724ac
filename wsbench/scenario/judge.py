"""The judge of a multi-process run: every child's journal, merged by time, one oracle.

Theory of operation
-------------------
:class:`Judge` owns the run's only :class:`~wsbench.oracle.DeliveryOracle` and a
:class:`~wsbench.metrics.Metrics` store for what the oracle measures (delivery and
ack latency, fan-out). :meth:`Judge.poll` reads what the children appended to their
journals (:mod:`wsbench.scenario.journal`), then replays, in timestamp order, every
record at or below the *watermark* (the smallest last-heartbeat time over children
still running): each child's records are already in order, so a ``heapq.merge`` of
the per-child queues is the global order. Memory is bounded by what the children
wrote in the last poll interval, not by the run.

Replay time drives everything the single-process driver drives with the wall
clock: the oracle is swept (emits past their deadline close) whenever replay time
has advanced 100 ms, as the driver's sweeper does, and the metrics roll over to a
new second by replay time, so a delivery lands in the second it was received.

A record that comes after the child's ``FINAL`` mark is ignored but for
violations: those are the connections the child closes after judging ended.

Clock error. The children of one host share one clock, so a copy is always replayed
after the emit it is a copy of (the emit is registered before it is sent). Journals
from other machines are moved onto the judge's clock by an *estimated* offset
(:mod:`wsbench.integrations.distributed`), each wrong by up to its error bound: a copy
received on one worker ~1 ms after another worker registered the emit may then sort
*before* the emit. :attr:`Judge.slack` says how far two sources' times may be off (the
sum of the two largest error bounds; 0 on one clock). A copy whose emit, negative
expectation or correlation is not registered yet then *waits*, in replay time, up to
``slack`` for it: it is judged the moment the emit (same stamp, same event), the
``FORBID`` or the ``CORRELATE`` is replayed, or, if none comes by its time plus
``slack``, as it would have been at once (``unknown_stamp``, uncorrelated). So the
verdict does not depend on estimate errors within their bounds nor on the order the
merge put such records in; :attr:`Judge.waited` counts the copies that waited.

Sources are pluggable: a path is tailed with a
:class:`~wsbench.scenario.journal.JournalReader`; anything else with ``poll()``,
``watermark``, ``ended`` and ``close()`` (a
:class:`~wsbench.scenario.journal.JournalFeed`, or the distributed Locust master's
clock-corrected worker journals) is used as given, and :meth:`Judge.add_source`
adds one while the run goes on. ``oracle=`` replays into a given oracle (whose
callbacks record what it measures) instead of one recording into :attr:`metrics`.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from wsbench.metrics import Metrics
from wsbench.oracle import (
    DeliveryOracle,
    FanoutRecord,
    Semantics,
    Stamp,
    Violation,
    ViolationKind,
)
from wsbench.oracle.fanout import bucket_label
from wsbench.scenario.journal import JournalReader, Op, expect_of
from wsbench.scenario.stampkeys import Secondary

__all__ = ["Judge", "Secondary", "latency_sinks", "node_latency_sink", "NODE_HISTOGRAMS"]

_SWEEP_NS = 100_000_000
_INF = 1 << 62


def latency_sinks(
    metrics: Metrics,
) -> tuple[Callable[[str, int], None], Callable[[FanoutRecord], None]]:
    """The oracle's ``on_latency`` and ``on_fanout`` callbacks, recording into ``metrics``."""
    delivery = metrics.recorder("delivery")
    ack = metrics.recorder("ack")
    incr = metrics.incr

    def on_latency(kind: str, ns: int) -> None:
        if kind == "delivery":
            delivery(ns)
            incr("deliveries")
        else:
            ack(ns)
            incr("acks")

    def on_fanout(record: FanoutRecord) -> None:
        if record.delivered == 0:
            return
        label = bucket_label(record.audience)
        rec = metrics.record_ns
        rec("fanout_first", record.first_ns)
        rec("fanout_last", record.last_ns)
        rec(f"fanout.first.{label}", record.first_ns)
        rec(f"fanout.median.{label}", record.median_ns)
        rec(f"fanout.last.{label}", record.last_ns)

    return on_latency, on_fanout


NODE_HISTOGRAMS = ("delivery.same_node", "delivery.other_node")
"""The HDR histograms of a cluster run's delivery latency: recipients on the sender's node,
and recipients on another node (their copy crossed the adapter). Named like every other
histogram, so --processes children and distributed Locust workers merge them exactly."""


def node_latency_sink(metrics: Metrics) -> Callable[[bool, int], None]:
    """The oracle's ``on_node_latency`` callback, recording into :data:`NODE_HISTOGRAMS`."""
    record = metrics.record_ns  # lazily: a run on one server has neither histogram
    same, other = NODE_HISTOGRAMS

    def on_node_latency(same_node: bool, ns: int) -> None:
        record(same if same_node else other, ns)

    return on_node_latency


def _time(item: tuple[int, int, tuple[Any, ...]]) -> int:
    return item[0]


def _await_key(rec: tuple[Any, ...]) -> tuple[str, str, str]:
    """What copy ``rec`` waits for: its stamp's emit of its event, or its correlation key."""
    if rec[1] == Op.CORR_DELIVERY:
        return ("corr", rec[2], "")
    return ("stamp", rec[2].partition("|")[0], rec[9])


class Judge:
    """Replays the children's journals through one oracle (see the module docstring)."""

    def __init__(
        self,
        paths: Sequence[str | Path | Any],
        *,
        origin_ns: int,
        origin_wall: float,
        oracle: DeliveryOracle | None = None,
    ) -> None:
        self.metrics = Metrics(origin_ns=origin_ns, origin_wall=origin_wall)
        if oracle is None:
            on_latency, on_fanout = latency_sinks(self.metrics)
            oracle = DeliveryOracle(on_latency=on_latency, on_fanout=on_fanout,
                                    on_node_latency=node_latency_sink(self.metrics))
        self.oracle = oracle
        self.readers: list[Any] = []
        self.queues: list[deque[tuple[Any, ...]]] = []
        self.gone: list[bool] = []  #: a child that exited: its watermark is infinite
        self.stopped: list[int | None] = []
        self.final: list[int | None] = []
        self.replay_ns = 0
        self.records = 0
        self._last_sweep = 0
        self._secondary = Secondary()
        #: how far (ns) two sources' times may be off (see the module docstring); called
        #: after each read, the largest value seen is used. None: one clock, no waiting
        self.slack: Callable[[], int] | None = None
        self._slack_ns = 0
        #: copies waiting for what they are a copy of: [until_ns, source, t, rec, done]
        self._early: deque[list[Any]] = deque()
        self._awaits: dict[tuple[str, str, str], list[list[Any]]] = {}
        self.waited = 0  #: copies replayed before their emit, judged once it came
        for p in paths:
            self.add_source(p)

    def add_source(self, source: str | Path | Any) -> int:
        """Judge one more journal (a path, or a source object); returns its index."""
        self.readers.append(source if hasattr(source, "poll") else JournalReader(source))
        self.queues.append(deque())
        self.gone.append(False)
        self.stopped.append(None)
        self.final.append(None)
        return len(self.readers) - 1

    @property
    def watermark(self) -> int:
        marks = [
            _INF if (r.ended or gone) else r.watermark
            for r, gone in zip(self.readers, self.gone, strict=True)
        ]
        return min(marks, default=_INF)

    def poll(self, everything: bool = False) -> int:
        """Read new records and replay those up to the watermark (all when ``everything``)."""
        for reader, queue in zip(self.readers, self.queues, strict=True):
            queue.extend(reader.poll())
        if self.slack is not None:
            self._slack_ns = max(self._slack_ns, self.slack())
        mark = _INF if everything else self.watermark
        streams = [self._upto(i, mark) for i in range(len(self.queues))]
        n = 0
        early = self._early
        for t, i, rec in heapq.merge(*streams, key=_time):
            if early and early[0][0] < t:
                self._release(t - 1)
            self._apply(i, t, rec)
            n += 1
        if early:
            self._release(mark)  # every record up to the mark is replayed: none is coming
        if mark < _INF and mark - self._last_sweep >= _SWEEP_NS:
            self._advance(mark)
        self.records += n
        return n

    def _upto(self, i: int, mark: int) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
        queue = self.queues[i]
        while queue and queue[0][0] <= mark:
            rec = queue.popleft()
            yield rec[0], i, rec

    def _wait(self, key: tuple[str, str, str], i: int, t: int, rec: tuple[Any, ...]) -> None:
        """Hold copy ``rec`` until what it is a copy of (``key``) is replayed, or ``slack``."""
        entry = [t + self._slack_ns, i, t, rec, False]
        self._early.append(entry)
        self._awaits.setdefault(key, []).append(entry)
        self.waited += 1

    def _wake(self, key: tuple[str, str, str]) -> None:
        """``key`` was just registered: judge the copies that waited for it, in order."""
        for entry in self._awaits.pop(key, ()):
            if not entry[4]:
                entry[4] = True
                self._copy(entry[3], False)

    def _release(self, upto: int) -> None:
        """Judge, as they are, the waiting copies whose time plus ``slack`` is <= ``upto``."""
        early = self._early
        while early and early[0][0] <= upto:
            entry = early.popleft()
            if entry[4]:
                continue
            entry[4] = True
            rec = entry[3]
            key = _await_key(rec)
            waiting = self._awaits.get(key)
            if waiting is not None:
                waiting.remove(entry)
                if not waiting:
                    del self._awaits[key]
            self._copy(rec, False)

    def _copy(self, rec: tuple[Any, ...], may_wait: bool, i: int = -1) -> None:
        """A ``DELIVERY`` or ``CORR_DELIVERY``: judged, or waiting (``may_wait``) when
        sources' clocks may be off and nothing it is a copy of is registered yet."""
        oracle = self.oracle
        if rec[1] == Op.CORR_DELIVERY:
            if may_wait and not oracle.correlates(rec[2]):
                self._wait(_await_key(rec), i, rec[0], rec)
                return
            oracle.observe_correlated(*rec[2:])
            return
        _, _, sid, s, q, sent, receiver, ns, recv_ns, event = rec[:10]
        stamp = Stamp(sid, s, q, sent)
        if self._secondary:
            stamp = self._secondary.key(stamp, event)
        if may_wait and not oracle.expects_copy(stamp.id, event):
            self._wait(_await_key(rec), i, rec[0], rec)
            return
        oracle.observe_delivery(stamp, receiver, ns, recv_ns, event,
                                rec[10] if len(rec) > 10 else None)

    def _advance(self, t: int) -> None:
        self.replay_ns = t
        self.metrics.tick(t)
        self.oracle.sweep(t)
        self._last_sweep = t

    def _apply(self, i: int, t: int, rec: tuple[Any, ...]) -> None:  # noqa: C901 - a dispatch
        op = rec[1]
        if t - self._last_sweep >= _SWEEP_NS:
            self._advance(t)
        else:
            self.replay_ns = max(self.replay_ns, t)
        if self.final[i] is not None and op != Op.VIOLATION:
            return
        oracle = self.oracle
        if op == Op.DELIVERY or op == Op.CORR_DELIVERY:
            self._copy(rec, self._slack_ns > 0, i)
        elif op == Op.EMIT:
            _, _, sid, s, q, sent, sender, ns, sem, rooms, to, at, deadline, volatile, event = rec[:15]
            include_sender = bool(rec[15]) if len(rec) > 15 else False
            payload = expect_of(rec[16]) if len(rec) > 16 else None
            if "|" in sid:
                self._secondary.register(sid.split("|", 1)[0], event)
            oracle.expect_emit(
                Stamp(sid, s, q, sent),
                sender,
                ns,
                Semantics(sem),
                rooms=rooms,
                to=to,
                at_ns=at,
                deadline_ns=deadline,
                volatile=volatile,
                event=event,
                include_sender=include_sender,
                payload=payload,
            )
            if self._awaits:
                self._wake(("stamp", sid.partition("|")[0], event))
        elif op == Op.FORBID:
            sid, ns, event, who, sender, rooms, *at = rec[2:]  # at_ns: since issue 15
            oracle.forbid(sid, ns, event, who, sender=sender, rooms=rooms,
                          at_ns=at[0] if at else None)
            if self._awaits:
                self._wake(("stamp", sid.partition("|")[0], event))
        elif op == Op.CORRELATE:
            key, sid, s, q, sent = rec[2:]
            oracle.correlate(key, Stamp(sid, s, q, sent))
            if self._awaits:
                self._wake(("corr", key, ""))
        elif op == Op.RETRY:
            oracle.retried(*rec[2:])
        elif op == Op.OUTAGE_BEGIN:
            oracle.outage_begin(*rec[2:])
        elif op == Op.OUTAGE_END:
            oracle.outage_end(*rec[2:])
        elif op == Op.CONFIRM_BY:
            oracle.confirm_by_copy(*rec[2:])
        elif op == Op.EXPECT_ACK:
            oracle.expect_ack(*rec[2:])
        elif op == Op.ACK:
            oracle.observe_ack(*rec[2:])
        elif op == Op.VIOLATION:
            kind, stamp_id, sender, receiver, ns, event, expected, detail, at, count = rec[2:]
            oracle.violations.add(
                Violation(
                    ViolationKind(kind), stamp_id, sender, receiver, ns, event, expected, detail, at
                ),
                count=count,
            )
        elif op == Op.HEARTBEAT or op == Op.END:
            pass
        elif op == Op.STOPPED:
            self.stopped[i] = t
        elif op == Op.FINAL:
            self.final[i] = t
        else:
            self._membership(op, rec)

    def _membership(self, op: int, rec: tuple[Any, ...]) -> None:
        m = self.oracle.membership
        if op == Op.CONNECT_REQ:
            m.connect_requested(*rec[2:])
        elif op == Op.CONNECTED:
            m.connected(*rec[2:])
        elif op == Op.DISCONNECTED:
            m.disconnected(*rec[2:])
        elif op == Op.JOIN_REQ:
            m.join_requested(*rec[2:])
        elif op == Op.JOINED:
            m.joined(*rec[2:])
        elif op == Op.LEFT:
            m.left(*rec[2:])
        elif op == Op.CANCEL:
            m.cancel_pending(*rec[2:])
        else:
            raise ValueError(f"unknown journal record {rec!r}")

    @property
    def all_stopped(self) -> bool:
        """Every child's STOPPED mark has been replayed (or the child is gone)."""
        return all(s is not None or g for s, g in zip(self.stopped, self.gone, strict=True))

    @property
    def settled(self) -> bool:
        """Nothing left to wait for: no open emit, no pending ack."""
        return self.oracle.open_emits == 0 and self.oracle.open_acks == 0

    def finish(self, aborted: bool) -> None:
        """Replay what is left and close every open emit (as of the last FINAL if aborted)."""
        self.poll(everything=True)
        finals = [f for f in self.final if f is not None]
        end = max(finals) if finals else self.replay_ns
        self.oracle.sweep(end if aborted else None)
        self.metrics.set_gauge("violations", self.oracle.violations.total)
        self.metrics.flush(max(end, self.replay_ns))
        for reader in self.readers:
            reader.close()
