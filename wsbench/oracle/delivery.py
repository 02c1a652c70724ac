"""The delivery oracle: who must receive each stamped emit, and did they.

Theory of operation
-------------------
The driver calls four verbs; the oracle never does I/O and never reads a clock:

- :meth:`DeliveryOracle.expect_emit` when a client sends a stamped emit: the oracle
  computes the *audience* (the sockets that MUST receive it) from the
  :class:`~wsbench.oracle.membership.Membership` at send time and the contract's
  :class:`Semantics`, and opens the emit until ``deadline_ns``.
- :meth:`~DeliveryOracle.observe_delivery` for each stamped event a socket receives.
  The first copy to an audience socket is a delivery (latency from the *intended*
  send time); a second copy is a duplicate; the sender, where the semantics exclude
  it, is ``sender_included``; any other socket is a ``leak`` unless its membership was
  in flux when the audience was computed (an *optional* delivery: the server may
  have applied the join before the broadcast). "When the audience was computed" is
  the caller's clock at registration (``at_ns``), never the stamp's *intended* send
  time, which may lie before it (an open loop running late) or after it (a timer
  that fired early: uvloop's millisecond timers wake up to ~1 ms early). Per (sender, receiver socket) the stamp's sequence
  number must grow: a smaller one is ``out_of_order``.
- :meth:`~DeliveryOracle.expect_ack` / :meth:`~DeliveryOracle.observe_ack` for
  acknowledgements: in time, late, duplicate, unexpected, timed out.
- :meth:`~DeliveryOracle.sweep` with the current time: every emit past its deadline
  closes. Its audience sockets without a copy are ``missing`` (non-volatile), a
  volatile drop (allowed, counted) or lost while away (the socket disconnected after
  the audience was computed). A fan-out record is folded into constant-size aggregates and the emit
  is forgotten but for a bounded ring of recently closed emits, so a late copy is
  told apart from a leak or a duplicate. An emit whose whole audience has it closes
  at once.

Memory is bounded: open emits (bounded by rate x deadline), the recently-closed ring
(``closed_memory``), the per-pair order table (``max_order_pairs``, oldest pairs
forgotten first) and the violation samples.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from wsbench.oracle.fanout import FanoutRecord, FanoutStats
from wsbench.oracle.membership import Membership, SocketKey
from wsbench.oracle.semantics import EXCLUDES_SENDER, ROOM_BASED, Semantics, audience
from wsbench.oracle.stamp import Stamp
from wsbench.oracle.verdict import (
    AckSummary,
    LatencyAccumulator,
    Observation,
    OracleVerdict,
    Outcome,
)
from wsbench.oracle.violations import Violation, ViolationKind, ViolationLog

__all__ = ["Semantics", "Outcome", "Observation", "DeliveryOracle"]


def _short(v: Any, limit: int = 160) -> str:
    """A copy's arguments as evidence: ``repr``, blobs by size, at most ``limit`` chars."""
    text = repr([f"<{len(a)} bytes>" if isinstance(a, (bytes, bytearray)) else a for a in v])
    return text if len(text) <= limit else text[: limit - 3] + "..."


V = ViolationKind
_DELIVERED = Outcome.DELIVERED
#: ``Observation(outcome, latency)`` without NamedTuple's Python-level ``__new__`` (the
#: delivered copy's result, built once per copy: 0.39 -> 0.23 us in-process, timeit)
_tuple_new = tuple.__new__


class _Emit:
    __slots__ = (
        "stamp",
        "sender",
        "sender_sock",
        "namespace",
        "event",
        "semantics",
        "rooms",
        "base",
        "excluded",
        "extra",
        "size",
        "sent_ns",
        "at_ns",
        "deadline_ns",
        "volatile",
        "ordered",
        "delivered",
        "missing",
        "payload",
        "node",
    )
    stamp: Stamp
    sender: Hashable | None
    sender_sock: SocketKey | None
    namespace: str
    event: str
    semantics: Semantics
    rooms: tuple[str, ...]
    base: frozenset[SocketKey]
    excluded: SocketKey | None
    extra: SocketKey | None
    size: int
    sent_ns: int
    at_ns: int
    deadline_ns: int
    volatile: bool
    ordered: bool
    delivered: dict[SocketKey, int]  # socket -> latency, ns
    missing: frozenset[SocketKey]
    payload: Any  # what each copy's argument list must be (``.mismatch(args)``), or None
    node: int | None  # the sender's cluster node, when known

    def in_audience(self, sock: SocketKey) -> bool:
        return (sock in self.base and sock != self.excluded) or sock == self.extra


class _Forbid:
    """Sockets a negative expectation protects, as a rule checked at delivery time: the
    sockets of ``scope`` (a snapshot: the membership's cached frozensets are immutable)
    but those ``spared``, those of a ``pending`` client and those in a positive audience. Registering one is O(rooms),
    not O(namespace): ``must_not: {to: non_members}`` on every room emit of 1,800 sockets
    cost 43 % of the main job's generator CPU when it built the set (bench/README.md).

    A membership rule (``non_members``) registered at ``at_ns`` also spares a socket whose
    membership changed at or after ``at_ns`` (``changed``: the membership's
    ``last_change_ns``): the server may have applied that join before it computed the
    emit's audience (the emit in flight, the join sent later on another connection), the
    same may-receive as a leak's judgement. Looked up only for a copy that would
    otherwise be forbidden, so the receive path costs nothing more."""

    __slots__ = ("scope", "spared", "pending", "audiences", "at_ns", "changed")

    def __init__(self, scope: frozenset[SocketKey], spared: frozenset[SocketKey],
                 pending: frozenset[Hashable],
                 audiences: tuple[tuple[frozenset[SocketKey], SocketKey | None,
                                        SocketKey | None], ...],
                 at_ns: int | None = None,
                 changed: Callable[[SocketKey], int | None] | None = None) -> None:
        self.scope, self.spared, self.pending = scope, spared, pending
        self.audiences = audiences
        self.at_ns, self.changed = at_ns, changed

    def __contains__(self, sock: SocketKey) -> bool:
        if sock not in self.scope or sock in self.spared or sock[0] in self.pending:
            return False
        for base, excluded, extra in self.audiences:  # a positive expectation's audience
            if (sock in base and sock != excluded) or sock == extra:
                return False
        if self.changed is not None and self.at_ns is not None:
            change = self.changed(sock)
            if change is not None and change >= self.at_ns:
                return False  # its membership was in flux when the server fanned out
        return True


class _Ack:
    __slots__ = ("client", "namespace", "event", "sent_ns", "deadline_ns")
    client: Hashable
    namespace: str
    event: str
    sent_ns: int
    deadline_ns: int


class DeliveryOracle:
    """Exactly-once, no-leak, order and ack verdicts for stamped emits.

    Args:
        membership: the model the driver keeps up to date (a fresh one by default).
        samples_per_kind: evidence kept per violation kind.
        closed_memory: how many closed emits are remembered to classify late copies.
        max_order_pairs: bound of the (sender, receiver socket) order table.
        on_latency: called with ("delivery" | "ack", ns) for every measured latency.
        on_fanout: called with each closed emit's :class:`FanoutRecord`.
        on_node_latency: called with (same_node, ns) for every measured delivery whose
            sender's and recipient's cluster nodes the membership knows: ``True`` when
            both sockets are on one node, ``False`` when the copy crossed the adapter.
    """

    def __init__(
        self,
        membership: Membership | None = None,
        *,
        samples_per_kind: int = 20,
        closed_memory: int = 10_000,
        max_order_pairs: int = 500_000,
        on_latency: Callable[[str, int], None] | None = None,
        on_fanout: Callable[[FanoutRecord], None] | None = None,
        on_node_latency: Callable[[bool, int], None] | None = None,
    ) -> None:
        self.membership = membership if membership is not None else Membership()
        self.violations = ViolationLog(samples_per_kind)
        self.fanout = FanoutStats()
        self.closed_memory = closed_memory
        #: while observe_correlated observes a copy: the stamps its key names (_guessed_room)
        self._inferred: deque[Stamp] | None = None
        self.max_order_pairs = max_order_pairs
        self.on_latency = on_latency
        self.on_fanout = on_fanout
        self.on_node_latency = on_node_latency
        #: measured deliveries whose sender and recipient were on one node / on two nodes
        self.same_node_deliveries = self.other_node_deliveries = 0
        self._open: dict[str, _Emit] = {}
        self._heap: list[tuple[int, int, str]] = []
        self._closed: dict[str, _Emit] = {}
        self._forgotten_until_ns = -1
        self._order: dict[tuple[int, SocketKey], int] = {}
        self._acks: dict[Hashable, _Ack] = {}
        self._ack_heap: list[tuple[int, int, Hashable]] = []
        self._acks_settled: dict[Hashable, bool] = {}  # True: answered, False: timed out
        self._counter = 0
        #: stamp id (primary) -> tries beyond the first the sender reported (``retried``)
        self._retried: dict[str, int] = {}
        #: (stamp id, socket) -> duplicate copies accepted as retries
        self._retry_copies: dict[tuple[str, SocketKey], int] = {}
        self.retries = self.retry_duplicates = 0
        #: (stamp id, event) -> sockets that must not get that copy (``forbid``)
        self._forbidden: OrderedDict[tuple[str, str], _Forbid] = OrderedDict()
        #: correlation key -> the stamps of the emits a push carrying that key may be a copy of
        self._corr: OrderedDict[str, deque[Stamp]] = OrderedDict()
        self.forbidden_registered = self.correlated = 0
        #: stamp id -> (client, namespace, room, join): a change nothing else confirms, taken
        #: as applied when the first copy of that emit (a push the change causes) arrives
        self._confirm_by: OrderedDict[str, tuple[Hashable, str, str, bool]] = OrderedDict()
        #: (client, namespace, room) -> (stamp id, join) of its newest unconfirmed change
        self._change_of: OrderedDict[tuple[Hashable, str, str], tuple[str, bool]] = OrderedDict()
        #: changes confirmed by an effect (a copy that proves the server applied them)
        self.confirmed_by_effect = 0
        self.emits = self.closed_emits = 0
        self.expected = self.delivered = self.missing = 0
        self.volatile_expected = self.volatile_delivered = self.volatile_drops = 0
        self.lost_while_away = self.optional_deliveries = 0
        #: copies owed to a socket that asked to leave the emit's room(s) after the emit was
        #: registered and never got it: not owed (the leave may have been applied first)
        self.left_in_flight = 0
        self.acks_expected = self.acks_ok = self.ack_timeouts = self.acks_late = 0
        self._latency = LatencyAccumulator()
        self._ack_latency = LatencyAccumulator()
        #: Redis outages of a cluster (``restart_redis``): [window start, window end or None
        #: while it lasts, when Redis went down, when it was back, resubscribed or not]
        self._outages: list[list[Any]] = []
        self._outages_end = -1  # the latest end of a finished window; -1: none yet
        #: other-node copies of in-window emits that never arrived (pub/sub has no replay)
        self.lost_during_outage = 0
        self.outage_samples: list[dict[str, Any]] = []
        #: measured other-node copies of emits sent after the last window, the first's time
        self.resumed_other_node = 0
        self.first_resumed_ns: int | None = None

    # -- emits -------------------------------------------------------------------

    def expect_emit(
        self,
        stamp: Stamp,
        sender: Hashable | None,
        namespace: str,
        semantics: Semantics,
        *,
        rooms: Iterable[str] = (),
        to: Hashable | None = None,
        sent_ns: int | None = None,
        at_ns: int | None = None,
        deadline_ns: int,
        volatile: bool = False,
        ordered: bool = True,
        include_sender: bool = False,
        event: str = "",
        payload: Any = None,
    ) -> int:
        """Register a stamped emit; return the size of its audience.

        Args:
            stamp: the emit's stamp (its id is the key; ``sent_ns`` defaults to stamp.sent_ns).
            at_ns: when the audience is computed, i.e. now on the caller's clock (default:
                the send time). A membership change at or after it may or may not have
                reached the server before the emit, so it excuses a copy outside the
                audience, and a recipient that went down at or after it is "lost while
                away". It must not be the *intended* send time: an open-loop schedule
                can send later than intended, and a timer can fire early.
            sender: the sending client, or None for pushes not sent by a socket.
            namespace: the namespace the sender emitted on / the target namespace.
            semantics: who receives, see :class:`Semantics`.
            rooms: target rooms for the room semantics (a sid names one socket).
            to: target client for ``SOCKET``.
            deadline_ns: when missing copies become drops.
            volatile: copies may be dropped (counted, not violations).
            ordered: check per-sender order for this emit.
            include_sender: the sender must receive it whatever its membership (the
                contract's ``join``: the joiner is told too).
            event: the event name the recipients get (evidence only).
            payload: what every copy's argument list must be: an object whose
                ``mismatch(args)`` is None for a right copy, else where and how it differs
                (the app engine's :class:`~wsbench.app.paths.Expect`). A copy that differs
                is a ``payload_mismatch`` (when :meth:`observe_delivery` is given its args).
        """
        sender_sock = (sender, namespace) if sender is not None else None
        rooms = tuple(rooms)
        base = audience(self.membership, semantics, namespace, rooms, to, sender)
        e = _Emit()
        e.stamp, e.sender, e.sender_sock, e.namespace, e.event = (
            stamp,
            sender,
            sender_sock,
            namespace,
            event,
        )
        e.semantics, e.rooms, e.base = semantics, rooms, base
        e.excluded = sender_sock if semantics in EXCLUDES_SENDER else None
        e.extra = sender_sock if include_sender and sender_sock not in base else None
        e.size = len(base) - (e.excluded in base) + (e.extra is not None)
        e.sent_ns = stamp.sent_ns if sent_ns is None else sent_ns
        e.at_ns = e.sent_ns if at_ns is None else at_ns
        e.deadline_ns, e.volatile, e.ordered = deadline_ns, volatile, ordered
        e.delivered, e.missing = {}, frozenset()
        e.payload = payload
        e.node = self.membership.node_of(sender, namespace) if sender is not None else None
        self.emits += 1
        self._open[stamp.id] = e
        self._counter += 1
        heapq.heappush(self._heap, (deadline_ns, self._counter, stamp.id))
        if e.size == 0:
            self._close(e)
        return e.size

    def observe_delivery(
        self,
        stamp: Stamp,
        receiver: Hashable,
        namespace: str,
        recv_ns: int,
        event: str = "",
        args: Any = None,
    ) -> Observation:
        """Classify one stamped copy received by ``receiver``'s socket in ``namespace``;
        ``args``: the copy's argument list, checked against the emit's ``payload``
        expectation if it has one (one ``mismatch`` walk per expected copy)."""
        sock = (receiver, namespace)
        if self._confirm_by:
            self._confirm_effect(stamp.id.partition("|")[0], recv_ns)
        e = self._open.get(stamp.id)
        if self._forbidden:
            bad = self._forbidden.get((stamp.id.partition("|")[0], event))
            if bad is not None:
                if sock in bad:
                    self._record(V.FORBIDDEN_DELIVERY, stamp, sock, recv_ns, event,
                                 "a negative expectation forbids this socket the event")
                    return Observation(Outcome.FORBIDDEN)
                known = e if e is not None else self._closed.get(stamp.id)
                if known is None or known.event != event:
                    self.optional_deliveries += 1  # not forbidden, and no positive expectation
                    return Observation(Outcome.OPTIONAL)
        if e is None:
            return self._observe_closed(stamp, sock, recv_ns, event)
        if sock in e.delivered:
            if self._retry_copy(stamp.id, sock):
                return Observation(Outcome.RETRY_DUPLICATE)
            self._violate(V.DUPLICATE, e, sock, recv_ns, event, "copy received twice")
            return Observation(Outcome.DUPLICATE)
        if not e.in_audience(sock):
            return self._outside(e, sock, recv_ns, event)
        latency = recv_ns - e.sent_ns
        e.delivered[sock] = latency
        outcome = _DELIVERED
        if e.payload is not None and args is not None:
            wrong = e.payload.mismatch(list(args))
            if wrong is not None:
                where = "args" if wrong.startswith("[") else ""
                self._violate(V.PAYLOAD_MISMATCH, e, sock, recv_ns, event,
                              f"{where}{wrong} (copy: {_short(args)})")
        if e.ordered and not self._in_order(stamp, sock):
            self._violate(
                V.OUT_OF_ORDER, e, sock, recv_ns, event, f"seq {stamp.seq} after a later one"
            )
            outcome = Outcome.OUT_OF_ORDER
        self._latency.add(latency)
        if self.on_latency is not None:
            self.on_latency("delivery", latency)
        if e.node is not None:
            self._node_latency(e.node, sock, latency)
            if self._outages_end >= 0 and e.sent_ns > self._outages_end and self._crosses(e, sock):
                self.resumed_other_node += 1
                if self.first_resumed_ns is None or recv_ns < self.first_resumed_ns:
                    self.first_resumed_ns = recv_ns
        if len(e.delivered) >= e.size:
            self._close(e)
        return _tuple_new(Observation, (outcome, latency))

    def _node_latency(self, sender_node: int, sock: SocketKey, latency: int) -> None:
        node = self.membership.node_of(*sock)
        if node is None:
            return
        same = node == sender_node
        if same:
            self.same_node_deliveries += 1
        else:
            self.other_node_deliveries += 1
        if self.on_node_latency is not None:
            self.on_node_latency(same, latency)

    # -- Redis outages (a cluster's restart_redis fault) ----------------------------------

    def outage_begin(self, at_ns: int) -> None:
        """A Redis outage starts (called just before Redis is stopped): from ``at_ns`` on,
        until :meth:`outage_end`, a copy to a socket on another node than the sender's (or
        on an unknown node) that never arrives is ``lost_during_outage``, not ``missing``.
        So is such a copy of an emit still open at ``at_ns`` (its copies were in flight)."""
        self._outages.append([at_ns, None, at_ns, None, False])

    def outage_end(self, down_ns: int, back_ns: int, resubscribed_ns: int | None) -> None:
        """The oldest running outage ended: Redis went down at ``down_ns``, was back at
        ``back_ns`` and every node had re-subscribed at ``resubscribed_ns`` (None: not by
        the launcher's deadline; the window then ends at ``back_ns``). An emit sent after
        the window is judged normally: a missing other-node copy is ``missing``."""
        for w in self._outages:
            if w[1] is None:
                end = back_ns if resubscribed_ns is None else resubscribed_ns
                w[0], w[1], w[2], w[3], w[4] = (min(w[0], down_ns), max(end, w[0]), down_ns,
                                                back_ns, resubscribed_ns is not None)
                break
        else:
            return
        if all(w[1] is not None for w in self._outages):
            self._outages_end = max(w[1] for w in self._outages)

    def _in_outage(self, e: _Emit) -> bool:
        for start, end, *_ in self._outages:
            if e.deadline_ns >= start and (end is None or e.sent_ns <= end):
                return True
        return False

    def _crosses(self, e: _Emit, sock: SocketKey) -> bool:
        """True unless the recipient is known to be on the sender's node (needs no Redis)."""
        node = self.membership.node_of(*sock)
        return e.node is None or node is None or node != e.node

    def _owed_because(self, e: _Emit, sock: SocketKey) -> str:
        """Why ``sock`` was owed a copy of ``e`` (a missing copy's evidence): its last
        change of membership of the emit's rooms before the send, and on a cluster the
        nodes, e.g. `` (in r1 since 812 ms before the send; node 1, as the sender)``."""
        m, facts = self.membership, []
        changes = [(t, r) for r in e.rooms if (t := m.room_changed_ns(sock, r)) is not None]
        if changes:
            t, room = max(changes)
            ms = (e.at_ns - t) / 1e6
            facts.append(f"in {room} since {ms:.0f} ms before the send" if ms >= 0
                         else f"its membership of {room} changed {-ms:.0f} ms after the send")
        node = m.node_of(*sock)
        if node is not None:
            facts.append(f"node {node}" if e.node is None else f"node {node}, as the sender"
                         if node == e.node else f"node {node}, the sender on {e.node}")
        if self._outages and self._in_outage(e):
            facts.append("during a Redis outage, owed: it needs no other node")
        late = (e.at_ns - e.sent_ns) / 1e6
        if late >= 100:  # the generator fell behind its schedule: less time was left
            facts.append(f"registered {late:.0f} ms after its intended send")
        return f" ({'; '.join(facts)})" if facts else ""

    def outages(self) -> tuple[dict[str, Any], ...]:
        """Each outage: ``down_ns``, ``back_ns``, ``resubscribed_ns`` (None: not seen)."""
        return tuple({"down_ns": w[2], "back_ns": w[3],
                      "resubscribed_ns": w[1] if w[4] else None}
                     for w in self._outages if w[1] is not None)

    def _outside(self, e: _Emit, sock: SocketKey, recv_ns: int, event: str) -> Observation:
        if sock == e.sender_sock and e.excluded is not None:
            self._violate(
                V.SENDER_INCLUDED, e, sock, recv_ns, event, f"{e.semantics} excludes the sender"
            )
            return Observation(Outcome.SENDER_INCLUDED)
        if self._may_receive(e, sock):
            self.optional_deliveries += 1
            if e.ordered:
                self._in_order(e.stamp, sock)
            if e.semantics in ROOM_BASED and not self._guessed_room():
                self._joined_by_copy(e, sock, recv_ns)
            return Observation(Outcome.OPTIONAL)
        self._violate(V.LEAK, e, sock, recv_ns, event, f"not in the {e.semantics} audience")
        return Observation(Outcome.LEAK)

    def _guessed_room(self) -> bool:
        """Whether the copy being observed was matched to its emit by a correlation key whose
        emits went to different rooms (a joiner's ``user joined`` for each room it joined):
        its room is then a guess and must not confirm a pending join of it
        (:meth:`_joined_by_copy`), which the server may apply later. Worked out only here,
        on the rare optional copy, not for every correlated one."""
        q = self._inferred
        if q is None:
            return False
        rooms = {e.rooms for st in q
                 if (e := self._open.get(st.id) or self._closed.get(st.id)) is not None}
        return len(rooms) > 1

    def _may_receive(self, e: _Emit, sock: SocketKey) -> bool:
        m = self.membership
        client, ns = sock
        if e.semantics in ROOM_BASED:
            if m.is_pending(client, ns, None) or any(m.is_pending(client, ns, r) for r in e.rooms):
                return True
        elif m.has_pending(sock):
            return True
        changed = m.last_change_ns(sock)
        return changed is not None and changed >= e.at_ns

    def _left_since(self, e: _Emit, sock: SocketKey) -> bool:
        """True when the socket is owed ``e`` through no target room whose membership it
        kept since ``e`` was registered: it asked to leave them at or after ``e.at_ns``
        (pending or confirmed), so the server, or on a cluster the socket's node, may have
        applied the leave before it fanned ``e`` out. A pending leave *at* registration
        already took it out of the must set (:func:`~wsbench.oracle.semantics.audience`)."""
        m = self.membership
        sid = m.sid(*sock)
        mine = m.rooms_of(*sock)
        changed = False
        for r in e.rooms:
            if r == sid:
                return False  # its own sid room: it cannot leave it
            at = m.room_changed_ns(sock, r)
            if at is not None and at >= e.at_ns:
                changed = True
            elif r in mine:
                return False  # a member throughout: owed
        return changed

    def _observe_closed(
        self, stamp: Stamp, sock: SocketKey, recv_ns: int, event: str
    ) -> Observation:
        e = self._closed.get(stamp.id)
        if e is None:
            if stamp.sent_ns <= self._forgotten_until_ns:
                self._record(V.LATE, stamp, sock, recv_ns, event, "emit closed and forgotten")
                return Observation(Outcome.LATE)
            self._record(V.UNKNOWN_STAMP, stamp, sock, recv_ns, event, "never registered")
            return Observation(Outcome.UNKNOWN_STAMP)
        if sock in e.missing:
            e.missing = e.missing - {sock}
            self._violate(
                V.LATE, e, sock, recv_ns, event, f"{(recv_ns - e.sent_ns) / 1e6:.1f} ms after send"
            )
            return Observation(Outcome.LATE, recv_ns - e.sent_ns)
        if e.in_audience(sock):
            if self._retry_copy(stamp.id, sock):
                return Observation(Outcome.RETRY_DUPLICATE)
            self._violate(V.DUPLICATE, e, sock, recv_ns, event, "copy received after close")
            return Observation(Outcome.DUPLICATE)
        return self._outside(e, sock, recv_ns, event)

    def _in_order(self, stamp: Stamp, sock: SocketKey) -> bool:
        key = (stamp.sender, sock)
        last = self._order.get(key)
        if last is not None and stamp.seq < last:
            return False
        if last is None and len(self._order) >= self.max_order_pairs:
            for old in list(self._order)[: max(1, self.max_order_pairs // 10)]:
                del self._order[old]
        self._order[key] = stamp.seq
        return True

    # -- membership confirmed by an effect ---------------------------------------

    def confirm_by_copy(
        self, stamp_id: str, client: Hashable, namespace: str, room: str, join: bool
    ) -> None:
        """A join (``join``) or leave of ``room`` that nothing confirms directly (the app
        file's ``confirmed_by: none``) stays *pending* in the membership (copies to the
        socket are optional, none required) until an effect shows the server applied it:
        the first copy of the emit registered under ``stamp_id`` (a push the change
        causes, e.g. ``user left`` to the room's other members) that anyone receives.
        A pending join is also confirmed by the first copy of a push to that room the
        socket receives (:meth:`observe_delivery`). Neither waits on a clock."""
        self._confirm_by[stamp_id] = (client, namespace, room, join)
        key = (client, namespace, room)
        self._change_of.pop(key, None)
        self._change_of[key] = (stamp_id, join)  # the newest change of the room wins
        while len(self._confirm_by) > self.closed_memory:
            self._confirm_by.popitem(last=False)
        while len(self._change_of) > self.closed_memory:
            self._change_of.popitem(last=False)

    def _confirm_effect(self, stamp_id: str, recv_ns: int) -> None:
        change = self._confirm_by.pop(stamp_id, None)
        if change is None:
            return
        client, ns, room, join = change
        m = self.membership
        if self._change_of.get((client, ns, room)) != (stamp_id, join):
            return  # a later change of that room superseded this one
        del self._change_of[(client, ns, room)]
        if not m.is_pending(client, ns, room):
            return  # already confirmed, withdrawn, or the socket is gone
        if join:
            m.joined(client, ns, room, recv_ns)
        else:
            m.left(client, ns, room, recv_ns)
        self.confirmed_by_effect += 1

    def _joined_by_copy(self, e: _Emit, sock: SocketKey, recv_ns: int) -> None:
        """A socket with a pending join of one of the emit's rooms got a copy of a push
        to that room: the server has applied the join (a pending *leave*, a socket
        still a confirmed member, proves nothing)."""
        m = self.membership
        client, ns = sock
        mine = m.rooms_of(client, ns)
        for r in e.rooms:
            if r not in mine and m.is_pending(client, ns, r):
                change = self._change_of.get((client, ns, r))
                if change is not None:
                    if not change[1]:
                        continue  # its newest change is a leave
                    del self._change_of[(client, ns, r)]
                m.joined(client, ns, r, recv_ns)
                self.confirmed_by_effect += 1
                return

    # -- negative expectations and correlation -----------------------------------

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
        """Copies of ``event`` carrying stamp ``stamp_id`` must not reach ``who`` in
        ``namespace``, as of the membership now: ``sender``, ``others`` (every socket of
        the namespace but the sender), ``all``, or ``non_members`` (of ``rooms``; a socket
        whose membership of them is pending is spared, and so, when ``at_ns`` says when
        the rule is registered on the caller's clock, is one whose membership changed at
        or after ``at_ns``: a join the server may have applied before it computed the
        emit's audience, as :meth:`expect_emit`'s ``at_ns``). The audience of an emit already
        registered for this stamp and event is never protected (``others`` of a private
        message: everyone but the sender and its addressee). A copy to a protected socket
        is a ``forbidden_delivery``. The protected sockets are kept as a rule over the
        membership's snapshot (:class:`_Forbid`), never enumerated: returns -1 (not
        counted, as the journal's :meth:`forbid` of a child process)."""
        m = self.membership
        sender_sock = (sender, namespace) if sender is not None else None
        none: frozenset[Any] = frozenset()
        pending = none
        changed = None
        if who == "sender":
            scope = frozenset({sender_sock}) if sender_sock is not None else none
            spared = none
        elif who in ("others", "all"):
            scope = m.sockets(namespace)  # cached, immutable: a snapshot
            spared = frozenset({sender_sock}) if who == "others" and sender_sock else none
        elif who == "non_members":
            rooms = tuple(rooms)
            scope = m.sockets(namespace)
            spared = audience(m, Semantics.ROOMS, namespace, rooms, None, sender)
            pending = m.pending_clients(namespace, None).union(
                *(m.pending_clients(namespace, r) for r in rooms))  # C-level, no tuples
            changed = m.last_change_ns
        else:
            raise ValueError(f"forbid: who is sender, others, all or non_members, not {who!r}")
        audiences = tuple(
            (positive.base, positive.excluded, positive.extra)
            for positive in (self._open.get(stamp_id), self._open.get(f"{stamp_id}|{event}"))
            if positive is not None and positive.event == event  # its audience may have it
        )
        self._forbidden[(stamp_id, event)] = _Forbid(scope, spared, pending, audiences,
                                                     at_ns, changed)
        self.forbidden_registered += 1
        while len(self._forbidden) > self.closed_memory:
            self._forbidden.popitem(last=False)
        return -1

    def correlate(self, key: str, stamp: Stamp) -> None:
        """A push that carries no stamp but ``key`` (e.g. ``user joined`` carrying the
        joiner's sid) is a copy of the emit registered under ``stamp`` (see
        :meth:`observe_correlated`)."""
        q = self._corr.get(key)
        if q is None:
            q = self._corr[key] = deque(maxlen=32)
            while len(self._corr) > self.closed_memory:
                self._corr.popitem(last=False)
        q.append(stamp)
        self.correlated += 1

    def correlates(self, key: str) -> bool:
        """Whether an emit was correlated with ``key`` (:meth:`correlate`)."""
        return bool(self._corr.get(key))

    def expects_copy(self, stamp_id: str, event: str = "") -> bool:
        """Whether a copy stamped ``stamp_id`` has something to be judged by: an emit
        registered under that id (open or closed) or a negative expectation of ``event``
        (a replay of clock-corrected journals holds a copy until then, bounded)."""
        return (stamp_id in self._open or stamp_id in self._closed
                or (stamp_id.partition("|")[0], event) in self._forbidden)

    def observe_correlated(
        self,
        key: str,
        receiver: Hashable,
        namespace: str,
        recv_ns: int,
        event: str = "",
        args: Any = None,
    ) -> Observation:
        """An unstamped copy carrying ``key``: matched to the oldest open emit correlated
        with ``key`` whose audience has this socket without a copy yet, else to the oldest
        emit, open or closed, that this socket may receive (its membership was in flux: a
        join pending when the emit was registered), else to a closed one that missed it (a
        late copy), else judged as a copy of the newest (a duplicate, a leak, the sender
        included)."""
        sock = (receiver, namespace)
        q = self._corr.get(key)
        if not q:
            self.violations.add(Violation(
                V.UNEXPECTED_EVENT, key, None, sock, namespace, event, None,
                "an unstamped push that no emit of the scenario explains", recv_ns))
            return Observation(Outcome.UNCORRELATED)
        chosen = None
        for st in q:
            e = self._open.get(st.id)
            if e is not None and sock not in e.delivered and e.in_audience(sock):
                chosen = st
                break
        if chosen is None:
            # a copy the membership in flux allows, of an open emit or of one already
            # closed because every socket it owed had its copy: a socket whose join was
            # pending when it was registered may still get one (on a cluster it crosses
            # the adapter later), and judged as a copy of the newest emit it would be a
            # leak (another room) or a duplicate (the copy it already matched)
            for st in q:
                e = self._open.get(st.id) or self._closed.get(st.id)
                if (e is not None and sock != e.sender_sock and not e.in_audience(sock)
                        and self._may_receive(e, sock)):
                    chosen = st
                    break
        if chosen is None:
            for st in q:  # a late copy of a closed emit that missed this socket
                e = self._closed.get(st.id)
                if e is not None and sock in e.missing:
                    chosen = st
                    break
        self._inferred = q  # the emit is inferred from the key: see _guessed_room
        try:
            return self.observe_delivery(chosen or q[-1], receiver, namespace, recv_ns, event,
                                         args)
        finally:
            self._inferred = None

    # -- at-least-once retries ----------------------------------------------------

    def retried(self, stamp_id: str, attempt: int) -> None:
        """The sender re-sent the emit stamped ``stamp_id`` (try ``attempt``, 2 = the first
        retry) with the same payload, as socket.io-client's ``retries`` do. Each retry
        lets every audience socket receive one more copy (a *retry duplicate*, counted, not
        a violation), as every expectation registered under the stamp (``id|event`` too);
        a copy beyond the tries is a ``duplicate``, as is any copy of an emit never retried.
        """
        if attempt < 2:
            return
        self.retries += 1
        key = stamp_id.partition("|")[0]
        self._retried[key] = max(self._retried.get(key, 0), attempt - 1)
        while len(self._retried) > self.closed_memory:
            del self._retried[next(iter(self._retried))]

    def _retry_copy(self, stamp_id: str, sock: SocketKey) -> bool:
        allowed = self._retried.get(stamp_id.partition("|")[0], 0)
        if not allowed:
            return False
        key = (stamp_id, sock)
        used = self._retry_copies.get(key, 0)
        if used >= allowed:
            return False
        self._retry_copies[key] = used + 1
        while len(self._retry_copies) > self.closed_memory * 4:
            del self._retry_copies[next(iter(self._retry_copies))]
        self.retry_duplicates += 1
        return True

    # -- acks --------------------------------------------------------------------

    def expect_ack(
        self,
        key: Hashable,
        client: Hashable,
        namespace: str,
        sent_ns: int,
        timeout_ns: int,
        event: str = "",
    ) -> None:
        """The client asked for an ack (``key``: any unique id, e.g. (client, ns, ack id))."""
        a = _Ack()
        a.client, a.namespace, a.event = client, namespace, event
        a.sent_ns, a.deadline_ns = sent_ns, sent_ns + timeout_ns
        self._acks[key] = a
        self.acks_expected += 1
        self._counter += 1
        heapq.heappush(self._ack_heap, (a.deadline_ns, self._counter, key))

    def observe_ack(
        self, key: Hashable, recv_ns: int, ok: bool = True, detail: str = ""
    ) -> Observation:
        """An ack arrived; ``ok=False`` when its content breaks the contract (``detail`` says how)."""
        a = self._acks.pop(key, None)
        if a is None:
            settled = self._acks_settled.get(key)
            if settled is None:
                self._ack_violation(V.ACK_UNEXPECTED, key, None, recv_ns, "no such ack pending")
                return Observation(Outcome.ACK_UNEXPECTED)
            if settled:
                self._ack_violation(V.ACK_DUPLICATE, key, None, recv_ns, "ack received twice")
                return Observation(Outcome.ACK_DUPLICATE)
            self._acks_settled[key] = True
            self.acks_late += 1
            self._ack_violation(V.ACK_LATE, key, None, recv_ns, "after its timeout")
            return Observation(Outcome.ACK_LATE)
        self._remember_ack(key, True)
        latency = recv_ns - a.sent_ns
        if recv_ns > a.deadline_ns:
            self.acks_late += 1
            self._ack_violation(V.ACK_LATE, key, a, recv_ns, f"{latency / 1e6:.1f} ms")
            return Observation(Outcome.ACK_LATE, latency)
        self._ack_latency.add(latency)
        if self.on_latency is not None:
            self.on_latency("ack", latency)
        if not ok:
            self._ack_violation(V.ACK_MISMATCH, key, a, recv_ns, detail)
            return Observation(Outcome.ACK_MISMATCH, latency)
        self.acks_ok += 1
        return Observation(Outcome.ACK_OK, latency)

    def _remember_ack(self, key: Hashable, answered: bool) -> None:
        self._acks_settled[key] = answered
        if len(self._acks_settled) > self.closed_memory:
            del self._acks_settled[next(iter(self._acks_settled))]

    # -- time --------------------------------------------------------------------

    def sweep(self, now_ns: int | None = None) -> int:
        """Close every emit and ack whose deadline is at or before ``now_ns`` (None: all).

        Returns how many emits were closed.
        """
        closed = 0
        heap = self._heap
        while heap and (now_ns is None or heap[0][0] <= now_ns):
            _, _, sid = heapq.heappop(heap)
            e = self._open.get(sid)
            if e is not None:
                self._close(e)
                closed += 1
        ack_heap = self._ack_heap
        while ack_heap and (now_ns is None or ack_heap[0][0] <= now_ns):
            _, _, key = heapq.heappop(ack_heap)
            a = self._acks.pop(key, None)
            if a is not None:
                self.ack_timeouts += 1
                self._remember_ack(key, False)
                self._ack_violation(
                    V.ACK_TIMEOUT, key, a, a.deadline_ns, "no ack before the timeout"
                )
        return closed

    def next_deadline(self) -> int | None:
        """The earliest open deadline (emit or ack), for the driver's timer."""
        times = [h[0][0] for h in (self._heap, self._ack_heap) if h]
        return min(times) if times else None

    @property
    def open_emits(self) -> int:
        return len(self._open)

    @property
    def open_acks(self) -> int:
        return len(self._acks)

    def _close(self, e: _Emit) -> None:
        del self._open[e.stamp.id]
        self.closed_emits += 1
        got = len(e.delivered)
        missing = [s for s in e.base if s not in e.delivered and s != e.excluded]
        if e.extra is not None and e.extra not in e.delivered:
            missing.append(e.extra)
        away = lost = left = 0
        outage = bool(self._outages) and self._in_outage(e)
        for sock in missing:
            down = self.membership.down_since_ns(sock)
            if down is not None and down >= e.at_ns:
                away += 1
            elif e.semantics in ROOM_BASED and self._left_since(e, sock):
                left += 1  # it asked to leave after the emit: the server may have applied it first
            elif outage and self._crosses(e, sock):
                lost += 1  # not owed: Redis pub/sub has no replay
                if len(self.outage_samples) < 10:
                    self.outage_samples.append({
                        "stamp": e.stamp.id, "event": e.event, "sender": e.sender,
                        "recipient": sock[0], "namespace": sock[1], "sender_node": e.node,
                        "recipient_node": self.membership.node_of(*sock)})
            elif not e.volatile:
                self._violate(V.MISSING, e, sock, e.deadline_ns, e.event,
                              "no copy before the deadline" + self._owed_because(e, sock))
        self.lost_while_away += away
        self.lost_during_outage += lost
        self.left_in_flight += left
        away += lost + left
        if e.volatile:
            self.volatile_expected += e.size - away
            self.volatile_delivered += got
            self.volatile_drops += len(missing) - away
        else:
            self.expected += e.size - away
            self.delivered += got
            self.missing += len(missing) - away
        record = FanoutRecord.build(e.stamp.id, e.event, e.size, list(e.delivered.values()))
        self.fanout.add(record)
        if self.on_fanout is not None:
            self.on_fanout(record)
        e.missing = frozenset(missing)
        e.delivered = {}
        self._closed[e.stamp.id] = e
        if len(self._closed) > self.closed_memory:
            old = self._closed.pop(next(iter(self._closed)))
            self._forgotten_until_ns = max(self._forgotten_until_ns, old.deadline_ns)

    # -- violations and verdict --------------------------------------------------

    def record(self, kind: ViolationKind, **evidence: object) -> None:
        """Record a violation the driver saw itself (malformed frame, unexpected event...)."""
        self.violations.add(Violation(kind, **evidence))  # type: ignore[arg-type]

    def _violate(
        self, kind: V, e: _Emit, sock: SocketKey, at_ns: int, event: str, detail: str
    ) -> None:
        self.violations.add(
            Violation(
                kind, e.stamp.id, e.sender, sock, sock[1], event or e.event, e.size, detail, at_ns
            )
        )

    def _record(
        self, kind: V, stamp: Stamp, sock: SocketKey, at_ns: int, event: str, detail: str
    ) -> None:
        self.violations.add(
            Violation(kind, stamp.id, stamp.sender, sock, sock[1], event, None, detail, at_ns)
        )

    def _ack_violation(
        self, kind: V, key: Hashable, a: _Ack | None, at_ns: int, detail: str
    ) -> None:
        self.violations.add(
            Violation(
                kind,
                str(key),
                a.client if a else None,
                None,
                a.namespace if a else "",
                a.event if a else "",
                None,
                detail,
                at_ns,
            )
        )

    def verdict(self) -> OracleVerdict:
        """Frozen counts, ratios, violations and fan-out aggregates, as of now."""
        ratio = self.delivered / self.expected if self.expected else 1.0
        acks = AckSummary(
            self.acks_expected,
            self.acks_ok,
            self.ack_timeouts,
            self.acks_late,
            len(self._acks),
            self._ack_latency.summary(),
        )
        return OracleVerdict(
            self.emits,
            len(self._open),
            self.closed_emits,
            self.expected,
            self.delivered,
            self.missing,
            ratio,
            self.volatile_expected,
            self.volatile_delivered,
            self.volatile_drops,
            self.lost_while_away,
            self.optional_deliveries,
            self._latency.summary(),
            acks,
            self.violations.summary(),
            self.fanout.buckets(),
            retries=self.retries,
            retry_duplicates=self.retry_duplicates,
            nodes=self.membership.node_count(),
            same_node_deliveries=self.same_node_deliveries,
            other_node_deliveries=self.other_node_deliveries,
            outages=self.outages(),
            lost_during_outage=self.lost_during_outage,
            outage_samples=tuple(self.outage_samples),
            resumed_other_node=self.resumed_other_node,
            first_resumed_ns=self.first_resumed_ns,
            left_in_flight=self.left_in_flight,
        )
