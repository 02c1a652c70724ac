"""Distributed Locust judged by one oracle: worker journals, clock offsets, the master's judge.

Theory of operation
-------------------
A Locust worker does not judge (:class:`~wsbench.integrations.judge.Judge` in
recording mode): it records the oracle's verbs (membership, emits, deliveries, acks,
violations) into the same journal ``wsbench run --processes`` children write
(:mod:`wsbench.scenario.journal`), and every batch goes to the master as a
``wsbench_journal`` message over Locust's own channel. The master's
:class:`MasterJudge` feeds each worker's batches into a :class:`WorkerSource` and
replays all of them, merged by time up to the smallest watermark, through ONE
:class:`~wsbench.oracle.DeliveryOracle` with the same
:class:`~wsbench.scenario.judge.Judge` that judges ``--processes``. So a broadcast a
client of worker A sends and clients of worker B receive is judged as in one process
(audience, leaks, drops, order), and a violation names its emit (stamp id, sender).

Clocks. Workers on other machines read other monotonic clocks. The master sends
each worker a ``wsbench_clock`` probe (ten at 100 ms when the worker's first batch
arrives, then one every 2 s); the worker answers at once with its clock. With
``t_send``/``t_recv`` the master's clock around the round trip, the worker's offset
is ``worker_t - (t_send + t_recv) / 2``, exact within ``RTT / 2`` whatever the two
one-way delays are (:class:`ClockEstimate` keeps the lowest-RTT sample). A worker's
records are replayed only once its clock is estimated, each moved onto the master's
clock (:func:`~wsbench.scenario.journal.shift_record`): its own times by its offset,
and a delivery's stamp send time by the offset of the worker that stamped it (the
stamp id's prefix is that worker's run id). Latency is therefore judged on ONE
clock, the master's: receive time corrected by the receiver's offset minus intended
send time corrected by the sender's, wrong by at most the sum of the two bounds.
Times within one worker (ack latency, connect time) are differences on one clock and
need no correction. Offsets only change when a better sample arrives; a worker's
replay time never runs backwards (a record is never placed before an earlier one of
the same worker). The summary lists, per worker, the offset, the best RTT and the
error bound: the largest ``RTT / 2`` of any estimate its records were corrected with.

Order within the error. A worker's ``user joined`` copy of a join another worker
registered ~1 ms earlier can, corrected by estimates wrong by a few ms (each within its
bound: a loaded worker that read its clock late for the first probes), sort before the
emit. The replay is therefore given a *slack*: the sum of the two largest error bounds
used (:meth:`MasterJudge.slack_ns`); a copy whose emit (or correlation) is not
registered yet waits for it that long in replay time and is judged when it comes
(:class:`~wsbench.scenario.judge.Judge`, "Clock error"). A CI run judged 36 such copies
``unknown_stamp`` and their 36 owed copies ``missing`` before this.

The master sends the offsets to every worker (``wsbench_offsets``, keyed by run id)
so a worker can give Locust's ``sio-recv`` entries a cross-worker latency on the
master's clock too (until it knows them, such a push is counted with no time).

End of run: a worker marks ``STOPPED`` and ``FINAL`` in its journal when Locust stops
it, closes its clients, and its last batch (``END``) precedes its ``client_stopped``
on the same channel. :meth:`MasterJudge.finish` closes only emits whose deadline is
within every worker's journal (the smallest of their FINAL marks or last watermarks):
an emit whose copies a late or lost batch may hold stays open, never a violation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from wsbench.integrations.judge import CLIENTS_PER_WORKER, MASTER_RUN, Judge, Report
from wsbench.metrics import now_ns
from wsbench.oracle import Violation
from wsbench.scenario.journal import JournalFeed, Op, shift_record
from wsbench.scenario.judge import Judge as Replay

__all__ = ["ClockEstimate", "WorkerSource", "MasterJudge", "PROBE_BURST", "PROBE_EVERY_S"]

PROBE_BURST = 10
PROBE_BURST_GAP_S = 0.1
PROBE_EVERY_S = 2.0
_PROBE_TTL_NS = 10_000_000_000
_INF = 1 << 62


def _worker_of(client: Hashable | None) -> str:
    """The worker a client key belongs to (``w<index>``), or ``-``."""
    if isinstance(client, int) and not isinstance(client, bool):
        return f"w{client // CLIENTS_PER_WORKER}"
    return "-"


@dataclass
class ClockEstimate:
    """One worker's clock minus the master's, from probe round trips (lowest RTT kept)."""

    offset_ns: int | None = None
    rtt_ns: int | None = None
    samples: int = 0
    #: the largest bound (RTT / 2) of an estimate some record was corrected with
    bound_used_ns: int = 0

    def sample(self, t_send: int, worker_t: int, t_recv: int) -> bool:
        """Add a round trip (master clock ``t_send`` .. ``t_recv``); True when it is kept."""
        rtt = t_recv - t_send
        if rtt < 0:
            return False
        self.samples += 1
        if self.rtt_ns is not None and rtt >= self.rtt_ns:
            return False
        self.rtt_ns = rtt
        # worker_t - (t_send + t_recv) / 2, in integers
        self.offset_ns = worker_t - t_send - rtt // 2
        return True

    @property
    def bound_ns(self) -> int | None:
        """The error bound of the current estimate (``RTT / 2``)."""
        return None if self.rtt_ns is None else (self.rtt_ns + 1) // 2

    def used(self) -> int:
        """The offset to correct with now (records the bound it carries)."""
        assert self.offset_ns is not None
        self.bound_used_ns = max(self.bound_used_ns, self.bound_ns or 0)
        return self.offset_ns

    def assume_zero(self) -> None:
        """No probe was ever answered: take the worker's clock as the master's (no bound)."""
        if self.offset_ns is None:
            self.offset_ns = 0


@dataclass
class WorkerSource:
    """One worker's journal for the replay: batches pushed in, records out on the master's clock.

    Args:
        node: the worker's Locust client id.
        run: the worker's run id (its stamps' prefix).
        stamp_offset: the offset of the worker that issued a stamp id.
    """

    node: str
    run: str
    stamp_offset: Callable[[str], int]
    clock: ClockEstimate = field(default_factory=ClockEstimate)
    feed: JournalFeed = field(default_factory=JournalFeed)
    batches: int = 0
    records: int = 0
    final_ns: int | None = None
    _held: list[tuple[Any, ...]] = field(default_factory=list)
    _last: int = -1
    _mark: int = -1

    def push(self, data: bytes) -> None:
        self.batches += 1
        self.feed.push(data)

    def poll(self) -> list[tuple[Any, ...]]:
        self._held.extend(self.feed.poll())
        if self.clock.offset_ns is None or not self._held:
            return []
        offset = self.clock.used()
        held, self._held = self._held, []
        out = []
        last = self._last
        for rec in held:
            shifted = shift_record(rec, offset, self.stamp_offset)
            if shifted[0] < last:  # a better estimate moved the clock back: keep the order
                shifted = (last, *shifted[1:])
            last = shifted[0]
            if rec[1] == Op.FINAL:
                self.final_ns = last
            out.append(shifted)
        self._last = last
        self._mark = last
        self.records += len(out)
        return out

    @property
    def clocked(self) -> bool:
        return self.clock.offset_ns is not None

    @property
    def watermark(self) -> int:
        return self._mark if self.clocked else -1

    @property
    def ended(self) -> bool:
        return self.feed.ended and not self._held

    def close(self) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        c = self.clock
        estimated = c.rtt_ns is not None
        return {
            "worker": self.node,
            "run": self.run,
            "offset_ms": None if c.offset_ns is None else round(c.offset_ns / 1e6, 3),
            "rtt_ms": round(c.rtt_ns / 1e6, 3) if estimated else None,
            "error_bound_ms": round(max(c.bound_used_ns, c.bound_ns or 0) / 1e6, 3)
            if estimated
            else None,
            "samples": c.samples,
            "batches": self.batches,
            "records": self.records,
            "complete": self.feed.ended,
        }


class MasterJudge:
    """The one oracle of a distributed Locust run (see the module docstring).

    Args:
        report: Locust reporting of the master (violations become failed entries there).
    """

    def __init__(self, report: Report | None = None) -> None:
        self.judge = Judge(MASTER_RUN, report)
        self.judge.oracle.on_latency = self._on_latency
        self.judge.observers.append(self._count_by_worker)
        self._by_worker: dict[str, Counter[str]] = {}
        m = self.judge.metrics
        self.replay = Replay([], origin_ns=m.origin_ns, origin_wall=m.origin_wall,
                             oracle=self.judge.oracle)
        self.replay.slack = self.slack_ns
        self.sources: dict[str, WorkerSource] = {}
        self._by_run: dict[str, WorkerSource] = {}
        self._probes: dict[int, tuple[str, int]] = {}
        self._next_probe = 0
        self._schedule: dict[str, tuple[int, int]] = {}  # node -> (probes sent, next due ns)
        self.finished = False

    def _on_latency(self, kind: str, ns: int) -> None:
        self.judge.metrics.record_ns("delivery" if kind == "delivery" else "ack", ns)

    def _count_by_worker(self, v: Violation, count: int) -> None:
        receiver = v.receiver[0] if isinstance(v.receiver, tuple) else v.receiver
        pair = f"{_worker_of(v.sender)} -> {_worker_of(receiver)}"
        self._by_worker.setdefault(str(v.kind), Counter())[pair] += count

    def violations_by_worker(self) -> dict[str, dict[str, int]]:
        """Per kind, counts by "sender's worker -> receiver's worker" (``w0 -> w1``; ``-``: none)."""
        return {kind: dict(sorted(c.items())) for kind, c in sorted(self._by_worker.items())}

    def slack_ns(self) -> int:
        """How far two workers' corrected times may be off: the two largest error bounds
        of the estimates their records were corrected with, summed."""
        bounds = sorted((s.clock.bound_used_ns for s in self.sources.values()), reverse=True)
        return sum(bounds[:2])

    def _stamp_offset(self, stamp_id: str) -> int:
        source = self._by_run.get(stamp_id.split(".", 1)[0])
        if source is None or source.clock.offset_ns is None:
            return 0
        return source.clock.offset_ns

    # -- messages ----------------------------------------------------------------------

    def journal(self, node: str, run: str, data: bytes, now: int | None = None) -> None:
        """A ``wsbench_journal`` batch from worker ``node`` (run id ``run``)."""
        source = self.sources.get(node)
        if source is None:
            source = WorkerSource(node, run, self._stamp_offset)
            self.sources[node] = source
            self._by_run[run] = source
            self.replay.add_source(source)
            self._schedule[node] = (0, now_ns() if now is None else now)
        source.push(data)

    def due_probes(self, now: int | None = None) -> list[tuple[str, int]]:
        """The probes to send now: (worker node, probe id); their send time is ``now``."""
        now = now_ns() if now is None else now
        out = []
        for node, (sent, due) in list(self._schedule.items()):
            if now < due:
                continue
            self._next_probe += 1
            self._probes[self._next_probe] = (node, now)
            gap = PROBE_BURST_GAP_S if sent + 1 < PROBE_BURST else PROBE_EVERY_S
            self._schedule[node] = (sent + 1, now + int(gap * 1e9))
            out.append((node, self._next_probe))
        for pid, (_, t) in list(self._probes.items()):
            if now - t > _PROBE_TTL_NS:
                del self._probes[pid]
        return out

    def clock_reply(self, probe: int, worker_t: int, now: int | None = None) -> bool:
        """A worker's answer to probe ``probe``; True when its estimate improved."""
        t_recv = now_ns() if now is None else now
        sent = self._probes.pop(probe, None)
        if sent is None:
            return False
        node, t_send = sent
        source = self.sources.get(node)
        return source is not None and source.clock.sample(t_send, worker_t, t_recv)

    def offsets(self) -> dict[str, int]:
        """Run id -> offset (ns) of every estimated worker (sent to the workers)."""
        return {s.run: s.clock.offset_ns for s in self.sources.values()
                if s.clock.offset_ns is not None}

    # -- judging -----------------------------------------------------------------------

    def poll(self) -> int:
        """Replay what every worker's journal holds up to the common watermark."""
        if not self.sources or not all(s.clocked for s in self.sources.values()):
            return 0
        return self.replay.poll()

    @property
    def horizon_ns(self) -> int:
        """Up to where every worker's journal is known (its FINAL, else its last watermark)."""
        marks = [s.final_ns if s.final_ns is not None else s.watermark
                 for s in self.sources.values()]
        return min(marks, default=self.replay.replay_ns)

    def drain(self) -> dict[str, Any]:
        """The master's judge payload (oracle verdict, latencies, fan-out) for the aggregate."""
        now = max(self.replay.replay_ns, self.judge.metrics.origin_ns)
        return self.judge.drain(now)

    def finish(self) -> None:
        """Replay everything received; close emits past their deadline within the horizon."""
        if self.finished:
            return
        self.finished = True
        for source in self.sources.values():
            if not source.clocked:  # never answered a probe: judged on its own clock
                source.clock.assume_zero()
        self.replay.poll(everything=True)
        horizon = self.horizon_ns
        if horizon > 0:
            self.judge.oracle.sweep(horizon)
            self.replay.replay_ns = max(self.replay.replay_ns, horizon)

    def clocks(self) -> list[dict[str, Any]]:
        """Per worker: offset, best RTT, error bound, samples, batches, complete (summary)."""
        return [s.to_dict() for s in self.sources.values()]
