"""The delivery judge of one load-generating process, and the merge of several.

Theory of operation
-------------------
Every Locust process (the local runner, or each worker) owns one :class:`Judge`.
It wraps the same :class:`~wsbench.oracle.DeliveryOracle` that ``wsbench run``
uses, so a Locust run and a ``wsbench run`` judge a server by identical rules,
and it records latencies in wsbench's HDR histograms (µs resolution, where
Locust's own stats keep whole milliseconds).

The judge never imports locust: what Locust should see goes through the
``report`` callback, one call per Locust *request entry*:

- ``sio-connect`` / namespace: time from CONNECT sent to the server's answer;
- ``sio-ack`` / event: emit to acknowledgement;
- ``sio-recv`` / event: a server push. Stamped pushes carry their latency from
  the sender's *intended* send time; unstamped ones are counted with no time;
- violations are the same entries *failed*, with an error that names the kind
  (``leak: ...``, ``missing: ...``, ``ack_timeout: ...``).

Alone (the local runner), a judge judges every client of its process. On a
distributed Locust worker it is in *recording mode* (``journal=`` given): it does
not judge at all but records the oracle's verbs (a
:class:`~wsbench.scenario.journal.RecordingOracle`) into a journal the master
replays through the run's ONE oracle (:mod:`wsbench.integrations.distributed`),
so deliveries of emits another worker sent are judged like any other. The worker
still answers its clients' queries (sids, ``peer:`` choices: its own clients) and
measures what needs only its own clock (ack and connect times, for Locust's
entries); the violations, delivery latencies and fan-out come from the master.
Client indices start at ``client_base`` (worker index × 1,000,000 on a worker),
so client keys and stamp senders are unique across workers.

Shipping. :meth:`Judge.drain` hands out everything measured since the last
drain (a :class:`~wsbench.metrics.Metrics` snapshot plus new violation samples)
and starts an empty store on the same time origin. An :class:`Aggregate` (on
the Locust master, or the local runner itself) merges drained payloads with
:meth:`Metrics.merge`, which adds histograms of equal seconds exactly, so the
merged percentiles are those of one histogram fed every sample.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable, Hashable
from typing import Any

from wsbench.metrics import Metrics, now_ns
from wsbench.oracle import (
    DeliveryOracle,
    FanoutRecord,
    Observation,
    Outcome,
    Stamp,
    Violation,
    ViolationKind,
    ViolationLog,
    bucket_label,
    find_stamp,
)
from wsbench.scenario.journal import JournalWriter, Op, RecordingOracle
from wsbench.scenario.judge import NODE_HISTOGRAMS, Secondary
from wsbench.scenario.walk import by_receiver, correlation_key, origin_key

__all__ = ["Report", "Judge", "WorkerOracle", "PAYLOAD_FORMAT", "KIND_TEXT", "MASTER_RUN",
           "CLIENTS_PER_WORKER"]

#: report(request_type, name, response_time_ms or None, response_length, error or None)
Report = Callable[[str, str, "float | None", int, "str | None"], None]

PAYLOAD_FORMAT = 1
#: the run id of the distributed master's judge (its payloads are not a load process's)
MASTER_RUN = "master"
#: worker k's client indices start at k * this (client keys unique across workers)
CLIENTS_PER_WORKER = 1_000_000
SAMPLES_PER_KIND = 10

#: One line per violation kind, used as the Locust failure text (stable, so failures group).
KIND_TEXT: dict[str, str] = {
    "missing": "an expected recipient never got the emit",
    "duplicate": "a recipient got the same emit twice",
    "leak": "a socket outside the audience got the emit (room leak)",
    "sender_included": "the sender got an emit that excludes the sender",
    "out_of_order": "a sender's emits arrived out of order",
    "late": "a copy arrived after the emit's deadline",
    "unknown_stamp": "a stamped delivery of an emit never sent",
    "ack_timeout": "no acknowledgement within the timeout",
    "ack_late": "the acknowledgement came after its timeout",
    "ack_duplicate": "the acknowledgement came twice",
    "ack_unexpected": "an acknowledgement nobody asked for",
    "ack_mismatch": "the acknowledgement does not say what the contract says",
    "unexpected_event": "an event the scenario did not expect",
    "payload_mismatch": "a payload without the contract's shape",
    "malformed_frame": "a frame the codec could not decode",
    "connect_failed": "a connect or reconnect failed",
}
_ACK_KINDS = frozenset(k for k in KIND_TEXT if k.startswith("ack_"))
_OK = (Outcome.DELIVERED, Outcome.OPTIONAL)
#: OracleVerdict fields mirrored as counters (deltas per drain), so they merge by addition.
_VERDICT_COUNTERS = (
    "emits",
    "expected",
    "delivered",
    "missing",
    "volatile_expected",
    "volatile_delivered",
    "volatile_drops",
    "lost_while_away",
    "optional_deliveries",
    "left_in_flight",  # copies not owed: the recipient asked to leave after the emit
    "retry_duplicates",
    "nodes",  # cluster nodes the sockets were on: only grows, so its deltas add up to it
    "lost_during_outage",  # restart_redis: other-node copies lost while Redis was down
    "resumed_other_node",  # ... and other-node copies of emits sent after the last window
)


def _no_report(*_: Any) -> None:
    return None


def entry_name(namespace: str, event: str) -> str:
    """The Locust entry name of ``event``: prefixed by its namespace unless it is ``/``."""
    return event if namespace in ("/", "") else f"{namespace} {event}"


def request_type_of(kind: str) -> str:
    """The Locust request type a violation kind is reported under."""
    if kind in _ACK_KINDS:
        return "sio-ack"
    if kind == "connect_failed":
        return "sio-connect"
    return "sio-recv"


class _HookedLog(ViolationLog):
    """A ViolationLog that also tells the judge about every violation as it happens."""

    def __init__(self, hook: Callable[[Violation, int], None], samples_per_kind: int) -> None:
        super().__init__(samples_per_kind)
        self._hook = hook

    def add(self, violation: Violation, count: int = 1) -> None:
        super().add(violation, count)
        self._hook(violation, count)


class WorkerOracle(RecordingOracle):
    """A worker's oracle: every verb journaled for the master; acks also timed locally.

    ``observe_ack`` returns the local observation (on time or not, from this
    process's clock) so the worker can give Locust's ``sio-ack`` entry its time; the
    verdict on the ack (late, duplicate, mismatch) is the master's.
    """

    def __init__(self, journal: JournalWriter) -> None:
        super().__init__(journal)
        self._acks: dict[Hashable, tuple[int, int]] = {}  # key -> (sent, deadline)

    def expect_ack(
        self,
        key: Hashable,
        client: Hashable,
        namespace: str,
        sent_ns: int,
        timeout_ns: int,
        event: str = "",
    ) -> None:
        super().expect_ack(key, client, namespace, sent_ns, timeout_ns, event)
        self._acks[key] = (sent_ns, sent_ns + timeout_ns)

    def observe_ack(  # type: ignore[override]
        self, key: Hashable, recv_ns: int, ok: bool = True, detail: str = ""
    ) -> Observation:
        super().observe_ack(key, recv_ns, ok, detail)
        sent = self._acks.pop(key, None)
        if sent is None or recv_ns > sent[1]:
            return Observation(Outcome.ACK_LATE)
        return Observation(Outcome.ACK_OK if ok else Outcome.ACK_MISMATCH, recv_ns - sent[0])

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    def forget_before(self, now: int) -> None:
        """Drop acks past their deadline (the master judges them; this is only timing)."""
        if self._acks:
            for key in [k for k, (_, deadline) in self._acks.items() if deadline < now]:
                del self._acks[key]


def cpu_ns() -> int:
    """CPU time (user + system) this process has used, in ns."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


class Judge:
    """The oracle, the metrics outbox and the Locust reporting of one process.

    Args:
        run_id: this process's stamp prefix (no ``.``, ``:`` or ``~``); unique per process.
        report: where Locust request entries go (see the module docstring).
        journal: recording mode (a distributed worker): the journal the master replays.
        client_base: the first client index.
    """

    def __init__(
        self,
        run_id: str | None = None,
        report: Report | None = None,
        *,
        journal: JournalWriter | None = None,
        client_base: int = 0,
    ) -> None:
        self.run_id = run_id or f"p{os.getpid():x}{now_ns() % 0xFFFFF:x}"
        self.report: Report = report or _no_report
        self.oracle: Any
        self.journal: JournalWriter | None = None
        if journal is not None:
            self.new_journal(journal)
        else:
            self.oracle = DeliveryOracle(on_fanout=self._on_fanout,
                                         on_node_latency=self._on_node_latency)
            self.oracle.violations = _HookedLog(self._on_violation, SAMPLES_PER_KIND)
        self.metrics = Metrics()
        self._prefix = self.run_id + "."
        self._next_client = client_base
        #: recording mode: run id -> that worker's clock minus the master's (from the master)
        self.offsets: dict[str, int] = {}
        #: also told about every violation (the distributed master counts them by worker)
        self.observers: list[Callable[[Violation, int], None]] = []
        self._sent_verdict = dict.fromkeys(_VERDICT_COUNTERS, 0)
        self._samples: list[dict[str, Any]] = []
        self._kept: dict[str, int] = {}
        self._cpu_mark = cpu_ns()
        self._secondary = Secondary()
        #: the delivery histogram's recorder and the store it belongs to (bound on first use)
        self._recorder_of: Metrics | None = None
        self._record: Callable[[int], None] = _no_report
        #: now -> up to when the process's sockets have been read (the shared poller's
        #: :meth:`~wsbench.integrations.frames.Poller.read_horizon`); None: now
        self.read_horizon: Callable[[int], int] | None = None
        #: events some emit's ``expect`` names; other stamped pushes (e.g. /chat ``user left``,
        #: which echoes the username a ``join`` stamped) are counted, not judged
        self.judged_events: set[str] = set()
        #: (namespace, event) -> where its unstamped copies carry a correlation key
        #: (:mod:`wsbench.scenario.derive`; set from the scenario's app file)
        self.correlations: dict[tuple[str, str], tuple[int | str, ...]] = {}
        #: set at FINAL: pushes the teardown causes (``user left`` of clients closing) are
        #: counted, not judged (the asyncio driver's ``judged`` horizon)
        self.judged = False
        #: the scenario names an app file: app-derived emits check each copy's payload, so a
        #: worker journals the copies' args for the master (a plain scenario's journal does not
        #: grow)
        self.app = False
        #: (namespace, event) of disconnect pushes matched by the stamp their copies carry
        #: from the gone socket's earlier emit (:func:`~wsbench.scenario.walk.disconnect_keyed`)
        self.by_origin: frozenset[tuple[str, str]] = frozenset()

    @property
    def recording(self) -> bool:
        """True on a distributed worker: the master judges (see the module docstring)."""
        return self.journal is not None

    def new_journal(self, journal: JournalWriter) -> None:
        """Record into ``journal`` from now on (a worker's next test)."""
        self.journal = journal
        self.oracle = WorkerOracle(journal)

    def mark(self, op: int) -> None:
        """Journal a run boundary (``Op.STOPPED``, ``Op.FINAL``)."""
        if op == Op.FINAL:
            self.judged = True
        if self.journal is not None:
            self.journal.add(op)

    # -- identities -----------------------------------------------------------------

    def new_client(self) -> int:
        """A fresh client index (the oracle's client key and the stamps' sender)."""
        self._next_client += 1
        return self._next_client - 1

    def alias(self, stamp: Stamp, event: str) -> Stamp:
        """The oracle key of a second ``expect`` of one emit: the stamp id plus ``|event``.

        One payload carries one stamp; an emit that expects two events registers each
        under its own key, and :meth:`delivery` maps a copy to the key of its event (the
        same keying as the ``--processes`` judge's :class:`~wsbench.scenario.judge.Secondary`,
        bounded; in recording mode the master's judge does the mapping).
        """
        if self.journal is None:
            self._secondary.register(stamp.id, event)
        return Stamp(f"{stamp.id}|{event}", stamp.sender, stamp.seq, stamp.sent_ns)

    # -- observations -----------------------------------------------------------------

    def delivery(
        self, client: Hashable, namespace: str, event: str, args: Any, recv_ns: int, size: int
    ) -> None:
        """A server push arrived at ``client``'s socket in ``namespace``."""
        metrics = self.metrics
        metrics.incr("deliveries")
        if self.judged:  # after FINAL: the teardown's own pushes are not the run's verdict
            return
        stamp = find_stamp(args, self.app)
        if self.correlations and event in self.judged_events:
            place = self.correlations.get((namespace, event))
            # an unstamped push the app file correlates (user joined), or a push to the
            # sender keyed by the value it copies and its receiver (document state)
            key = correlation_key(place, namespace, event, args, client) if place is not None \
                and (stamp is None or by_receiver(place)) else None
            if key is not None:
                self.oracle.observe_correlated(key, client, namespace, recv_ns, event, args)
                self.report("sio-recv", entry_name(namespace, event), None, size, None)
                return
        if stamp is not None and self.by_origin and (namespace, event) in self.by_origin:
            self.oracle.observe_correlated(origin_key(namespace, event, stamp.id), client,
                                           namespace, recv_ns, event, args)
            self.report("sio-recv", entry_name(namespace, event), None, size, None)
            return
        if stamp is None or event not in self.judged_events:
            metrics.incr("recv.unstamped")
            self.report("sio-recv", entry_name(namespace, event), None, size, None)
            return
        if self.journal is not None:  # the copy's args travel only where a payload is checked
            self.oracle.observe_delivery(stamp, client, namespace, recv_ns, event,
                                         args if self.app else None)
            latency = self._latency(stamp, recv_ns)
            ms = latency / 1e6 if latency is not None else None
            self.report("sio-recv", entry_name(namespace, event), ms, size, None)
            return
        if self._secondary:
            stamp = self._secondary.key(stamp, event)
        if not stamp.id.startswith(self._prefix):
            metrics.incr("recv.foreign")
            self.report("sio-recv", entry_name(namespace, event), None, size, None)
            return
        outcome, latency = self.oracle.observe_delivery(stamp, client, namespace, recv_ns, event,
                                                        args)
        if latency >= 0:
            if metrics is not self._recorder_of:  # a fresh store since (drain): bind again
                self._recorder_of, self._record = metrics, metrics.recorder("delivery")
            self._record(latency)
        if outcome in _OK:
            ms = latency / 1e6 if latency >= 0 else None
            self.report("sio-recv", entry_name(namespace, event), ms, size, None)
        # anything else is a violation, already reported by _on_violation

    def _latency(self, stamp: Stamp, recv_ns: int) -> int | None:
        """A worker's estimate of a delivery's latency on the master's clock, if it has one."""
        if stamp.id.startswith(self._prefix):
            return recv_ns - stamp.sent_ns
        mine = self.offsets.get(self.run_id)
        theirs = self.offsets.get(stamp.id.split(".", 1)[0])
        if mine is None or theirs is None:
            return None
        return (recv_ns - mine) - (stamp.sent_ns - theirs)

    def ack(
        self,
        key: Hashable,
        namespace: str,
        event: str,
        recv_ns: int,
        ok: bool = True,
        detail: str = "",
        size: int = 0,
    ) -> None:
        """The acknowledgement ``key`` (registered with ``oracle.expect_ack``) arrived.

        ``size``: the ACK packet's payload bytes (Locust's response length).
        """
        outcome, latency = self.oracle.observe_ack(key, recv_ns, ok, detail)
        if latency >= 0 and self.journal is None:  # recording mode: the master's histogram
            self.metrics.record_ns("ack", latency)
        if outcome is Outcome.ACK_OK:
            self.metrics.incr("acks")
            self.report("sio-ack", entry_name(namespace, event), latency / 1e6, size, None)

    def connected(self, namespace: str, latency_ns: int) -> None:
        self.metrics.record_ns("connect", latency_ns)
        self.report("sio-connect", namespace, latency_ns / 1e6, 0, None)

    def reconnected(self, latency_ns: int) -> None:
        self.metrics.record_ns("reconnect", latency_ns)
        self.metrics.incr("reconnects")
        self.report("sio-reconnect", "reconnect", latency_ns / 1e6, 0, None)

    def emitted(self, namespace: str, event: str) -> None:
        """A fire-and-forget emit went out (counted, no time: there is nothing to wait for)."""
        self.metrics.incr("emits")
        self.report("sio-emit", entry_name(namespace, event), None, 0, None)

    def violation(self, kind: ViolationKind, **evidence: Any) -> None:
        """Record a violation the driver saw itself (connect refused, expected event absent...)."""
        if self.journal is not None:
            self.oracle.violations.add(Violation(kind, **evidence))
        else:
            self.oracle.record(kind, **evidence)

    def _on_violation(self, v: Violation, count: int) -> None:
        kind = str(v.kind)
        self.metrics.incr(f"violations.{kind}", count)
        self.metrics.incr("violations", count)
        if kind == "connect_failed":
            self.metrics.incr("connect_errors", count)
        if self._kept.get(kind, 0) < SAMPLES_PER_KIND:
            self._kept[kind] = self._kept.get(kind, 0) + 1
            self._samples.append(v.to_dict())
        name = entry_name(v.namespace, v.event) if v.event else (v.namespace or kind)
        error = f"{kind}: {KIND_TEXT.get(kind, kind)}"
        for _ in range(count):
            self.report(request_type_of(kind), name, None, 0, error)
        for observer in self.observers:
            observer(v, count)

    def _on_node_latency(self, same_node: bool, ns: int) -> None:
        """A cluster run's delivery latency, split by the recipient's node (NODE_HISTOGRAMS)."""
        self.metrics.record_ns(NODE_HISTOGRAMS[0] if same_node else NODE_HISTOGRAMS[1], ns)

    def _on_fanout(self, record: FanoutRecord) -> None:
        if record.audience == 0:
            return
        label = bucket_label(record.audience)
        m = self.metrics
        m.incr(f"fanout.emits.{label}")
        m.incr(f"fanout.expected.{label}", record.audience)
        m.incr(f"fanout.delivered.{label}", record.delivered)
        if record.delivered >= record.audience:
            m.incr(f"fanout.complete.{label}")
        if record.delivered:
            m.record_ns(f"fanout.last.{label}", record.last_ns)
            m.record_ns(f"fanout.first.{label}", record.first_ns)
            m.record_ns(f"fanout.median.{label}", record.median_ns)

    # -- time and shipping ----------------------------------------------------------------

    def tick(self, now: int | None = None) -> None:
        """Close emits and acks past their deadline; roll the per-second series.

        Deadlines are closed only up to :attr:`read_horizon` (when set): up to when this
        process has read what reached its sockets. A copy still in a socket's buffer after
        a stall of the process is then read and judged at the next tick, not taken for
        missing.
        """
        now = now_ns() if now is None else now
        due = now if self.read_horizon is None else min(now, self.read_horizon(now))
        if self.journal is not None:
            self.oracle.forget_before(due)
        else:
            self.oracle.sweep(due)
        self.metrics.tick(now)

    def settled(self) -> bool:
        """True when no emit or ack is waiting for its deadline (recording: no own ack)."""
        if self.journal is not None:
            return self.oracle.pending_acks == 0
        return self.oracle.next_deadline() is None

    def finish(self, now: int | None = None) -> None:
        """End of the run: close what is past its deadline.

        Emits and acks still within their deadline when the run was cut stay open
        (``open_emits`` / ``pending_acks`` in the payload), never violations: the run
        ended, the server did not fail them.
        """
        self.tick(now)

    def drain(self, now: int | None = None, *, encode: bool = True) -> dict[str, Any]:
        """Everything measured since the last drain, as a JSON-ready payload.

        ``encode=False``: for an :class:`~wsbench.integrations.aggregate.Aggregate` of this
        same process (the local runner): ``metrics`` is the drained
        :class:`~wsbench.metrics.Metrics` store itself, not its snapshot, so no histogram is
        encoded here and decoded again by the merge (:meth:`Metrics.merge_store`)."""
        now = now_ns() if now is None else now
        self.tick(now)
        m = self.metrics
        open_emits = pending_acks = 0
        outages: dict[str, Any] | None = None
        if self.journal is None:
            verdict = self.oracle.verdict()
            for name in _VERDICT_COUNTERS:
                value = getattr(verdict, name)
                delta = value - self._sent_verdict[name]
                if delta:
                    m.incr(f"oracle.{name}", delta)
                self._sent_verdict[name] = value
            open_emits, pending_acks = verdict.open_emits, verdict.acks.pending
            if verdict.outages:  # restart_redis: the windows so far (the whole state)
                outages = {"outages": list(verdict.outages),
                           "samples": list(verdict.outage_samples),
                           "first_resumed_ns": verdict.first_resumed_ns}
        else:
            pending_acks = self.oracle.pending_acks
        cpu = cpu_ns()
        m.incr("process.cpu_ns", cpu - self._cpu_mark)
        self._cpu_mark = cpu
        m.flush(now)
        fresh = Metrics(origin_ns=m.origin_ns, origin_wall=m.origin_wall)
        fresh.tick(now)
        self.metrics = fresh
        samples, self._samples = self._samples, []
        return {
            "format": PAYLOAD_FORMAT,
            "run": self.run_id,
            "metrics": m.snapshot() if encode else m,
            "samples": samples,
            "open_emits": open_emits,
            "pending_acks": pending_acks,
            **({"redis_restart": outages} if outages is not None else {}),
        }
