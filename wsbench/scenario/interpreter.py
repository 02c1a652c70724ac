"""The ONE interpreter of a scenario's flows: sans-I/O, events in, actions out, time passed in.

Theory of operation
-------------------
A :class:`UserMachine` is one virtual user of a scenario group. It holds everything the
scenario's semantics need (template values, the stamp sequence, rooms joined, which
namespaces are up, when they went down, what a recovered session may replay) and walks
the group's flow in :meth:`UserMachine.program`, a generator that **yields actions**
(:class:`Sleep`, :class:`Open`, :class:`Emit`, :class:`Call`, :class:`WaitPush`,
:class:`Wait`, :class:`Disconnect`, :class:`Abort`, :class:`SendRaw`, :class:`Stall`,
:class:`RestartServer`, :class:`RestartRedis`, :class:`PostNotification`) and is **sent** each action's reply.
It never sleeps, opens a socket, or reads a clock: a shell sets :attr:`UserMachine.now`
before resuming it (:meth:`UserMachine.resume` does both).

Two shells run it: :mod:`wsbench.scenario.flow` (asyncio, ``wsbench run``) and
:mod:`wsbench.integrations.flow` (gevent, ``wsbench locust``). A shell performs each
action with its own I/O and sends back exactly one reply (``None`` where the action
has nothing to say). Things that happen outside any step come in as plain method calls
that return nothing to do but "wake the step that waits" (``True``):
:meth:`~UserMachine.on_connected`, :meth:`~UserMachine.on_disconnected` (automatic
reconnections included) and :meth:`~UserMachine.on_ack`.

What the interpreter does itself, so both runtimes judge alike:

* *membership* — connect requested / confirmed, disconnects, join and leave requested,
  acknowledged or refused, the ``user:<id>`` room of the notifications contract, and the
  rooms a *recovered* session keeps;
* *stamping* — each emit gets a :class:`~wsbench.oracle.Stamp` with its **intended** send
  time (``every`` is open-loop: iteration k is intended at start + k·interval); every
  ``expect`` is registered with the oracle before the frame leaves, the first under the
  stamp's id, further ones under ``id|event`` (:mod:`wsbench.scenario.stampkeys`, the one
  keying every runtime and judge uses); acks are expected with their timeout;
* *peer choice* through :class:`PeerIndex` (a small query over the client order and
  the membership);
* *faults, stalls and reconnection* — ``drop_transport`` is :class:`Abort`,
  ``server_disconnect`` one malformed packet (:class:`SendRaw`), ``restart_server``
  :class:`RestartServer` (``restart_redis``: :class:`RestartRedis`, the cluster's Redis; the
  oracle's outage window, see :meth:`DeliveryOracle.outage_begin`); each then waits (:class:`Wait`, woken by ``on_connected``) until
  every wanted namespace is back, bounded by ``reconnect_within``. When to reconnect is
  :attr:`UserMachine.policy` (socket.io-client's backoff, :mod:`wsbench.protocol.reconnect`)
  for every runtime: the asyncio client applies it inside its connection; the gevent shell
  asks :meth:`UserMachine.reconnect_delay` after each unplanned close. Who restarts the
  server is the shell's business (``wsbench run``: the parent owning the embedded server;
  ``wsbench locust``: the process that started it, over a control channel);
* *notifications* — a ``notify`` step's expectation on the ``user:<id>`` room, and
  :class:`PostNotification` carries an admin bearer token
  (:func:`~wsbench.scenario.tokens.admin_token`) when the scenario has ``auth.jwt``.

The per-delivery path stays out of the generator: a shell's listener hands a stamped push
straight to the oracle, consulting only :meth:`UserMachine.replayed` (a recovering session
gets the packets it missed; those are counted, not judged).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wsbench.app import Sock, View
from wsbench.app import expected_ack as app_expected_ack
from wsbench.app import on_disconnect as app_on_disconnect
from wsbench.app import outcome as app_outcome
from wsbench.app.paths import short
from wsbench.oracle import Semantics, Stamp, ViolationKind, embed_stamp
from wsbench.oracle.stamp import find_stamp
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.reconnect import ReconnectPolicy
from wsbench.scenario import model as m
from wsbench.scenario.model import render_value
from wsbench.scenario.stampkeys import Secondary, secondary_stamp
from wsbench.scenario.tokens import admin_token, connect_payload, user_id
from wsbench.scenario.walk import correlation_key, correlations, origin_key

__all__ = [
    "Abort",
    "Call",
    "CallReply",
    "ConnectReply",
    "Disconnect",
    "Emit",
    "Host",
    "Open",
    "PeerIndex",
    "PostNotification",
    "RestartServer",
    "RestartRedis",
    "ROOM_SEMANTICS",
    "Secondary",
    "SendRaw",
    "Sleep",
    "Stall",
    "UserMachine",
    "Wait",
    "WaitPush",
    "secondary_stamp",
]

_S = 1_000_000_000
ROOM_SEMANTICS = frozenset(
    {Semantics.ROOM, Semantics.ROOMS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS}
)
V = ViolationKind
_WITHOUT_SENDER = {Semantics.ROOM: Semantics.ROOM_OTHERS, Semantics.ROOMS: Semantics.ROOMS_OTHERS}


# -- actions (out) and replies (in) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sleep:
    """Resume at ``until_ns`` (never earlier: timers may fire early, wait again). Reply: None."""

    until_ns: int


@dataclass(frozen=True, slots=True)
class Open:
    """Open the transport if there is none, CONNECT ``namespaces`` with ``auth``, wait
    for every answer within ``timeout`` s. Reply: :class:`ConnectReply`."""

    namespaces: tuple[str, ...]
    auth: dict[str, Any] | None
    timeout: float
    fresh: bool = False  #: drop any old connection first (an explicit ``reconnect``)


@dataclass(frozen=True, slots=True)
class ConnectReply:
    """``outcomes``: per namespace ``(ns, "connected" | "refused" | "timeout" | "error", text)``;
    or the transport could not be opened: ``error`` (``limit``: a local resource limit)."""

    outcomes: tuple[tuple[str, str, str], ...] = ()
    error: str | None = None
    limit: bool = False


@dataclass(frozen=True, slots=True)
class Emit:
    """Send ``event`` with ``args`` on ``namespace``; with ``ack`` ask for an acknowledgement,
    to be handed to :meth:`UserMachine.on_ack` (``None`` after ``ack_timeout`` s or a
    disconnect). Reply: None.

    With ``retries`` the emit is at-least-once (socket.io-client's ``retries`` +
    ``ackTimeout``, :mod:`wsbench.protocol.retry`): the shell queues it on the socket's
    :class:`~wsbench.protocol.retry.RetryQueue`, reports each try to
    :meth:`UserMachine.on_try` and the settling ACK (or None after the last try) to
    :meth:`UserMachine.on_ack` with the number of tries."""

    namespace: str
    event: str
    args: list[Any]
    ack: tuple[Hashable, ...] | None = None
    ack_timeout: float = 0.0
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Call:
    """Emit with an ack and wait for it up to ``timeout`` s. Reply: :class:`CallReply`."""

    namespace: str
    event: str
    args: list[Any]
    timeout: float


@dataclass(frozen=True, slots=True)
class CallReply:
    args: list[Any] | None  #: None: no answer (``error`` says why)
    error: str = ""


@dataclass(frozen=True, slots=True)
class WaitPush:
    """Wait for ``count`` pushes of ``event`` on ``namespace`` arriving from now on, up to
    ``timeout`` s. Reply: how many arrived (int).

    With ``send`` the shell arms the wait first, then sends that emit: the push it causes
    (a ``joined`` confirming a join) may be read before the send returns (the gevent
    shell's write yields to the hub, whose poller reads and dispatches it), so a wait armed
    after the send could miss it."""

    namespace: str
    event: str
    count: int
    timeout: float
    send: Emit | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait until a lifecycle call returns True (wake) or ``deadline_ns``. Reply: None."""

    deadline_ns: int


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Leave ``namespace`` (None: close the whole connection, on purpose). Reply: None."""

    namespace: str | None


@dataclass(frozen=True, slots=True)
class Abort:
    """Drop the transport without a goodbye (no DISCONNECT, no close frame). Reply: None."""


@dataclass(frozen=True, slots=True)
class SendRaw:
    """Write one raw Engine.IO message, bypassing the session. Reply: True if written."""

    message: str


@dataclass(frozen=True, slots=True)
class Stall:
    """Stop reading the socket until ``until_ns`` (a slow consumer); reading resumes when it
    ends, even if the run cancels it. Reply: None."""

    until_ns: int


@dataclass(frozen=True, slots=True)
class RestartServer:
    """Stop the embedded server, keep it down ``downtime`` s, start it again.
    Reply: the monotonic ns it was up again, or None if this runtime cannot (not embedded)."""

    downtime: float


@dataclass(frozen=True, slots=True)
class RestartRedis:
    """Stop the embedded cluster's Redis, keep it down ``downtime`` s, start it again, and
    wait until every node has re-subscribed. The shell tells the oracle the outage began
    (``outage_begin``) before stopping Redis. Reply: ``(down_ns, back_ns, resubscribed_ns
    or None)``, or None if this runtime cannot (the target is not an embedded cluster)."""

    downtime: float


@dataclass(frozen=True, slots=True)
class PostNotification:
    """``POST /notifications`` with ``body`` (JSON), with ``Authorization: Bearer token``
    when ``token`` is set (the scenario has ``auth.jwt``: an admin token). Reply:
    :class:`CallReply` (``args`` = [HTTP status] or None with ``error``)."""

    body: dict[str, Any]
    timeout: float
    token: str | None = None


# -- the process side ------------------------------------------------------------------------


class Host(Protocol):
    """What a runtime's process offers its users (the asyncio driver, the Locust judge)."""

    run_id: str
    oracle: Any  #: DeliveryOracle or RecordingOracle: expect_emit, expect_ack, membership
    stopping: bool

    def count(self, name: str, n: int = 1) -> None: ...
    def violation(self, kind: ViolationKind, client: int, ns: str, event: str, detail: str) -> None: ...
    def connect_error(self, message: str, client: int | None = None, ns: str = "") -> None: ...
    def connect_time(self, namespaces: Sequence[str], latency_ns: int) -> None: ...
    def reconnected(self, latency_ns: int, now: int) -> None: ...
    def reconnect_failed(self) -> None: ...
    def emitted(self, ns: str, event: str, acked: bool) -> None: ...
    def record(self, name: str, latency_ns: int) -> None: ...
    def ack_observed(self, key: Hashable, ns: str, event: str, now: int, ok: bool,
                     detail: str) -> None: ...
    def limit_reached(self, message: str) -> None: ...
    def restarted(self, up_ns: int | None) -> None: ...
    def redis_restarted(self, window: tuple[int, int, int | None] | None) -> None: ...


class PeerIndex:
    """``peer:`` choices: ``next`` / ``previous`` connected client in the run's client order,
    or a ``random`` connected one (32 draws, then none)."""

    __slots__ = ("clients", "position", "_member")

    def __init__(self, clients: Sequence[int], is_connected: Callable[[int, str], bool]) -> None:
        self.clients = list(clients)
        self.position = {c: i for i, c in enumerate(self.clients)}
        self._member = is_connected

    def add(self, client: int) -> None:
        if client not in self.position:
            self.position[client] = len(self.clients)
            self.clients.append(client)

    def pick(self, how: str, me: int, ns: str, rng: random.Random) -> int | None:
        clients, n, member = self.clients, len(self.clients), self._member
        if n == 0:
            return None
        if how in ("next", "previous"):
            step = 1 if how == "next" else -1
            at = self.position[me]
            for k in range(1, n):
                peer = clients[(at + step * k) % n]
                if member(peer, ns):
                    return peer
            return None
        for _ in range(32):
            peer = clients[rng.randrange(n)]
            if peer != me and member(peer, ns):
                return peer
        return None


# -- one user -----------------------------------------------------------------------------------


class Stop(Exception):
    """The flow cannot go on (connect failed, limit reached): the user stops."""


Program = Generator[Any, Any, None]


class UserMachine:
    """One client of the scenario; see the module docstring.

    Args:
        scenario: the loaded scenario.
        group: the group this client runs.
        index: the client's id (the oracle's client key and the stamps' sender).
        host: the process side (oracle, counters, Locust reporting).
        peers: the ``peer:`` query.
        secondary: where further expectations are registered for receivers (None: the
            host keys them itself, as a ``--processes`` child's judge does).
    """

    def __init__(
        self,
        scenario: m.Scenario,
        group: m.Group,
        index: int,
        host: Host,
        peers: PeerIndex,
        secondary: Secondary | None = None,
    ) -> None:
        self.scenario = scenario
        self.group = group
        self.index = index
        self.host = host
        self.peers = peers
        self.secondary = secondary
        self.rng = random.Random(scenario.seed * 1_000_003 + index)
        self.policy = ReconnectPolicy()
        self.membership = host.oracle.membership
        self.now = 0
        self.seq = 0
        self.acks = 0
        self.wanted: list[str] = []  #: namespaces the flow connected (and did not leave)
        self.up: set[str] = set()
        self.rooms: dict[str, list[str]] = {}
        self.down_since: dict[str, int] = {}
        self.replay: dict[str, tuple[int, int]] = {}
        self.connection = False  #: whether the flow holds a connection (opened, not closed)
        #: key -> (ns, event, what the ack is judged by: :meth:`ack_checks`)
        self.acks_pending: dict[Hashable, tuple[str, str, tuple[Any, ...]]] = {}
        #: key of an at-least-once emit -> (its stamp id or None, when it was first sent)
        self.retrying: dict[Hashable, tuple[str | None, int]] = {}
        self.app = scenario.app
        self.correlations = correlations(scenario.app) if scenario.app is not None else {}
        #: the stamp ids the pushes of the last :meth:`derived` call are judged by
        self.carriers: tuple[str, ...] = ()
        #: app file: ns -> event -> (its last stamp or None, its within) of what this socket
        #: sent, for the pushes its disconnection causes (``if_sent``, keyed by that stamp)
        self.sent: dict[str, dict[str, tuple[Stamp | None, float]]] = {}
        self.values: dict[str, Any] = {
            "client": index,
            "group": group.name,
            "seq": 0,
            "room": "",
            "sid": "",
            "peer": "",
            "peer_sid": "",
        }
        self.user = user_id(scenario.auth, self.values)
        self._waking: Callable[[], bool] | None = None
        self._connecting: tuple[m.Connect, int] | None = None
        self._gen: Program | None = None
        self._attempt = 0

    # -- driving ---------------------------------------------------------------------------

    def start(self, now: int) -> Any:
        """The first action (None: nothing to do)."""
        self._gen = self.program()
        return self.resume(None, now)

    def resume(self, reply: Any, now: int) -> Any:
        """Send the last action's ``reply`` at ``now``; the next action, or None at the end."""
        self.now = now
        gen = self._gen
        if gen is None:
            return None
        try:
            return gen.send(reply)
        except StopIteration:
            self._gen = None
            return None

    def end(self, now: int, grace_s: float) -> None:
        """The run ended while this user was inside a step: close the books on it."""
        self.now = now
        self._gen = None
        pending = self._connecting
        if pending is None:
            return
        step, t0 = pending
        waited = (now - t0) / _S
        for ns in step.namespaces:
            if ns in self.up:
                continue
            if waited >= min(step.timeout, grace_s):
                self.host.connect_error(
                    f"connect to {ns}: no CONNECT answer when the run ended "
                    f"({waited:.1f} s after asking)",
                    self.index,
                    ns,
                )
            else:
                self.host.count("connects_pending_at_end")

    # -- lifecycle (events in, outside any step) -------------------------------------------

    def on_connected(self, ns: str, sid: str, recovered: bool, now: int) -> bool:
        host, membership = self.host, self.membership
        node = self.scenario.node_of(self.index) if isinstance(self.index, int) else None
        membership.connected(self.index, ns, sid, now, node)
        self.up.add(ns)
        self._attempt = 0
        if ns == "/":
            self.values["sid"] = sid
            if self.user is not None:
                membership.joined(self.index, "/", f"user:{self.user}", now)
        down = self.down_since.pop(ns, None)
        if recovered:
            for room in self.rooms.get(ns, ()):
                membership.joined(self.index, ns, room, now)
            if down is not None:
                self.replay[ns] = (down, now)
        else:
            self.rooms.pop(ns, None)
        if down is not None:
            host.reconnected(now - down, now)
        return self._wake()

    def on_disconnected(self, ns: str, reason: str, now: int) -> bool:
        if ns not in self.up:
            return False
        if self.app is not None and not self.host.stopping:
            self.derived_disconnect(ns, now)  # while the membership still has the socket
        self.up.discard(ns)
        self.membership.disconnected(self.index, ns, now)
        self.host.count("disconnects")
        if reason != DisconnectReason.IO_CLIENT_DISCONNECT.value and not self.host.stopping:
            self.down_since[ns] = now
        return self._wake()

    def on_try(self, key: Hashable, attempt: int) -> None:
        """Try ``attempt`` of the at-least-once emit ``key`` leaves (1 = the first send):
        each retry is told to the oracle, which then accepts one more copy per recipient."""
        if attempt < 2:
            return
        self.host.count("retries")
        if attempt == 2:
            self.host.count("emits_retried")
        retry = self.retrying.get(key)
        if retry is not None and retry[0] is not None:
            self.host.oracle.retried(retry[0], attempt)

    def on_ack(self, key: Hashable, args: list[Any] | None, now: int, tries: int = 0) -> None:
        """An acknowledgement asked for by :class:`Emit` arrived (None: none will); ``tries``:
        how many sends an at-least-once emit took (its latency, from the first send to the
        settling ACK, goes to ``ack_first_try`` or ``ack_retried``)."""
        retry = self.retrying.pop(key, None)
        if retry is not None and args is not None:
            self.host.record("ack_first_try" if tries <= 1 else "ack_retried", now - retry[1])
        elif retry is not None:
            self.host.count("emits_retries_exhausted")
        pending = self.acks_pending.pop(key, None)
        if pending is None or args is None:
            return  # timed out or disconnected: the oracle's sweep judges it
        ns, event, expected = pending
        first = args[0] if args else None
        if expected:  # the app file or expect_ack says what the ack carries
            wrong = next((w for c in expected if (w := c.mismatch(args)) is not None), None)
            if wrong is not None:
                self.host.ack_observed(key, ns, event, now, False,
                                       f"ack of {event!r}: {wrong} (ack: {short(args)})")
            else:
                self.host.ack_observed(key, ns, event, now, True, "")
        elif isinstance(first, dict) and first.get("ok") is False:
            self.host.ack_observed(key, ns, event, now, False, f"refused: {first.get('error')}")
        else:
            self.host.ack_observed(key, ns, event, now, True, "")

    def replayed(self, ns: str, sent_ns: int) -> bool:
        """True for a copy sent while this socket was away (replayed by recovery)."""
        if ns in self.down_since:
            return True
        replay = self.replay.get(ns)
        return replay is not None and replay[0] <= sent_ns <= replay[1]

    def reconnect_delay(self, reason: str) -> float | None:
        """After an unplanned close (for a runtime that reconnects itself): seconds until the
        next attempt, or None not to reconnect (the policy, a close on purpose, the end)."""
        if self.host.stopping or not self.connection or not self.wanted:
            return None
        try:
            why = DisconnectReason(reason)
        except ValueError:
            why = DisconnectReason.TRANSPORT_CLOSE
        if not self.policy.should_reconnect(why, self._attempt):
            return None
        delay = self.policy.next_delay(self._attempt, self.rng)
        self._attempt += 1
        return delay

    def _wake(self) -> bool:
        until = self._waking
        if until is not None and until():
            self._waking = None
            return True
        return False

    # -- the flow ---------------------------------------------------------------------------

    def program(self) -> Program:
        """The group's flow; then ``on_finish``."""
        try:
            yield from self.steps(self.group.flow, None)
        except Stop:
            return
        if self.group.on_finish == "disconnect" and self.connection:
            yield from self.close()

    def steps(self, steps: tuple[Any, ...], intended: int | None) -> Program:
        for step in steps:
            if self.host.stopping:
                raise Stop
            yield from self.step(step, intended)

    def step(self, step: Any, intended: int | None) -> Program:  # noqa: C901 - the dispatch
        cls = type(step)
        if cls is m.Emit:
            action = self.emit(step, intended)
            if action is not None:
                yield action
        elif cls is m.Think:
            yield Sleep(self.now + int(self.think(step) * _S))
        elif cls is m.Every:
            yield from self.every(step)
        elif cls is m.Loop:
            yield from self.loop(step)
        elif cls is m.Connect:
            yield from self.connect(step)
        elif cls is m.Join or cls is m.Leave:
            yield from self.join_leave(step, cls is m.Join)
        elif cls is m.Listen:
            if step.wait:
                yield from self.expect_push(step)
        elif cls is m.Notify:
            yield from self.notify(step, intended)
        elif cls is m.Disconnect:
            yield from self.disconnect(step.namespace)
        elif cls is m.Reconnect:
            if step.after > 0:
                yield Sleep(self.now + int(step.after * _S))
            yield from self.reconnect(step.within, explicit=True)
        elif cls is m.Fault:
            yield from self.fault(step)
        elif cls is m.Stall:
            yield from self.stall(step)
        else:  # the loader reads no other step; a new kind must be added here
            raise TypeError(f"the interpreter has no step {cls.__name__}")

    def think(self, step: m.Think) -> float:
        if step.kind is m.ThinkKind.UNIFORM:
            return self.rng.uniform(step.a, step.b)
        if step.kind is m.ThinkKind.POISSON:
            return self.rng.expovariate(1.0 / step.a) if step.a > 0 else 0.0
        return step.a

    def loop(self, step: m.Loop) -> Program:
        end = self.now + int(step.duration * _S) if step.duration is not None else None
        i = 0
        while (step.count is None or i < step.count) and (end is None or self.now < end):
            yield from self.steps(step.steps, None)
            i += 1
            yield Sleep(self.now)  # one turn of the runtime's loop per iteration

    def every(self, step: m.Every) -> Program:
        start = self.now
        interval = int(step.interval * _S)
        k = 0
        while step.count is None or k < step.count:
            if step.duration is not None and k * interval >= step.duration * _S:
                break
            intended = start + k * interval
            while self.now < intended:  # never early
                yield Sleep(intended)
            yield from self.steps(step.steps, intended)
            k += 1

    # -- connecting --------------------------------------------------------------------------

    def connect(self, step: m.Connect, fresh: bool = False) -> Program:
        host, index = self.host, self.index
        t0 = self.now
        auth = connect_payload(self.scenario.auth, self.values, step.token, step.auth)
        for ns in step.namespaces:
            self.membership.connect_requested(index, ns, self.now)
        self._connecting = (step, t0)
        reply: ConnectReply = yield Open(step.namespaces, auth, step.timeout, fresh)
        self._connecting = None
        if reply.error is not None:
            for ns in step.namespaces:
                self.membership.cancel_pending(index, ns, None)
            if reply.limit:
                host.limit_reached(reply.error)
            else:
                host.connect_error(reply.error, index, step.namespaces[0])
            raise Stop
        self.connection = True
        for ns in step.namespaces:
            if ns not in self.wanted:
                self.wanted.append(ns)
        ok = True
        for ns, outcome, text in reply.outcomes:
            if outcome == "refused":
                self.membership.cancel_pending(index, ns, None)
                if step.refused is None:
                    ok = False
                    host.connect_error(f"connect to {ns} refused: {text}", index, ns)
                elif text != step.refused:
                    ok = False
                    host.violation(
                        V.CONNECT_FAILED, index, ns, "",
                        f"refused with {text!r}, expected {step.refused!r}",
                    )
                else:
                    host.count("connects_refused_as_expected")
            elif outcome == "timeout":
                ok = False
                self.membership.cancel_pending(index, ns, None)
                host.connect_error(
                    f"connect to {ns}: no CONNECT answer within {step.timeout:g} s", index, ns
                )
            elif outcome != "connected":
                ok = False
                self.membership.cancel_pending(index, ns, None)
                host.connect_error(f"connect to {ns}: {text}".strip(), index, ns)
            elif step.refused is not None:
                host.violation(
                    V.CONNECT_FAILED, index, ns, "",
                    f"connected, but the server should refuse it with {step.refused!r}",
                )
        if ok and step.refused is None:
            host.connect_time(step.namespaces, self.now - t0)
        if not ok:
            raise Stop

    def close(self) -> Program:
        if self.connection:
            self.connection = False
            yield Disconnect(None)

    def disconnect(self, ns: str | None) -> Program:
        if ns is None:
            yield from self.close()
        elif ns in self.wanted:
            self.wanted.remove(ns)
            yield Disconnect(ns)

    def reconnect(self, within: float, *, explicit: bool = False) -> Program:
        """Wait until every wanted namespace is connected again (reconnecting if asked)."""
        t0 = self.now
        wanted = list(self.wanted)
        if explicit and not self.up.intersection(wanted):
            for ns in wanted:
                self.down_since.setdefault(ns, t0)
            self.wanted = []
            self.connection = False
            yield from self.connect(m.Connect(namespaces=tuple(wanted), timeout=within), True)
            return
        deadline = t0 + int(within * _S)
        back = lambda: all(ns in self.up for ns in wanted)  # noqa: E731
        yield from self.wait_until(back, deadline)
        if not back():
            self.host.reconnect_failed()
            for ns in wanted:
                if ns not in self.up:
                    self.host.violation(
                        V.CONNECT_FAILED, self.index, ns, "", f"not reconnected within {within:g} s"
                    )

    def fault(self, step: m.Fault) -> Program:
        if step.kind is m.FaultKind.RESTART_SERVER:
            up = yield RestartServer(step.downtime)
            self.host.restarted(up)
            return
        if step.kind is m.FaultKind.RESTART_REDIS:
            window = yield RestartRedis(step.downtime)
            self.host.redis_restarted(window)
            return
        if not self.connection or not self.up:
            return
        self.host.count(f"faults.{step.kind.value}")
        down = lambda: not self.up  # noqa: E731
        if step.kind is m.FaultKind.DROP_TRANSPORT:
            yield Abort()
        else:  # SERVER_DISCONNECT: a malformed Socket.IO packet; a strict server closes
            sent = yield SendRaw("4~wsbench-fault: not a socket.io packet")
            if not sent:
                return
        # the transport goes down first (a strict server closes it), then comes back, all
        # within reconnect_within of the fault
        t0 = self.now
        deadline = t0 + int(step.reconnect_within * _S)
        yield from self.wait_until(down, deadline)
        if not down():  # the server kept the session: nothing to reconnect
            self.host.count(f"faults.{step.kind.value}.not_disconnected")
            return
        yield from self.reconnect(max(0.0, (deadline - self.now) / _S))

    def wait_until(self, done: Callable[[], bool], deadline: int) -> Program:
        """Wait (woken by lifecycle calls) until ``done()`` or ``deadline``."""
        while not done() and self.now < deadline:
            self._waking = done
            yield Wait(deadline)
        self._waking = None

    def ready(self) -> bool:
        """For a shell performing :class:`Wait`: True once the waited-for condition holds."""
        until = self._waking
        return until is None or until()

    def stall(self, step: m.Stall) -> Program:
        if not self.connection:
            return
        self.host.count("stalls")
        yield Stall(self.now + int(step.duration * _S))

    # -- rooms, pushes, notifications ------------------------------------------------------

    def _picker(self) -> Callable[[int], int]:
        rand: dict[int, int] = {}
        rng = self.rng
        return lambda n: rand[n] if n in rand else rand.setdefault(n, rng.randrange(n))

    def join_leave(self, step: m.Join | m.Leave, join: bool) -> Program:
        host, index = self.host, self.index
        ns = step.namespace
        if ns not in self.up:
            host.count("steps_skipped_disconnected")
            return
        room = render_value(step.room, self.values, self._picker())
        if self.app is not None:
            yield from self.app_join_leave(step, join, room)
            return
        target = (
            f"doc:{room}" if step.event in ("subscribe document", "unsubscribe document") else room
        )
        self.membership.join_requested(index, ns, target, self.now)
        reply: CallReply = yield Call(ns, step.event, [room], step.ack_timeout)
        if reply.args is None:
            # the request's fate is unknown, so the room stays *pending*: deliveries to it
            # are neither required nor leaks
            host.violation(V.ACK_TIMEOUT, index, ns, step.event,
                           f"{step.event} {room!r}: {reply.error}")
            return
        answer = reply.args[0] if reply.args else None
        if isinstance(answer, dict) and answer.get("ok") is False:
            self.membership.cancel_pending(index, ns, target)
            host.violation(V.ACK_MISMATCH, index, ns, step.event,
                           f"{step.event} {room!r} refused: {answer.get('error')}")
            return
        if isinstance(answer, dict) and isinstance(answer.get("room"), str):
            if answer["room"] != target:
                self.membership.cancel_pending(index, ns, target)
            target = answer["room"]
        rooms = self.rooms.setdefault(ns, [])
        if join:
            self.membership.joined(index, ns, target, self.now)
            if target not in rooms:
                rooms.append(target)
            self.values["room"] = target
        else:
            self.membership.left(index, ns, target, self.now)
            if target in rooms:
                rooms.remove(target)
            self.values["room"] = rooms[-1] if rooms else ""

    def app_join_leave(self, step: m.Join | m.Leave, join: bool, room: Any) -> Program:
        """A join/leave as the app file says: the room it changes, the pushes it causes
        (``user joined`` correlated by the joiner's sid), how it is confirmed: an ack (its
        payload checked), a push to the sender (``joined``, waited for), or nothing: then
        the change stays *pending* in the oracle's membership (copies to the socket are
        optional, none required) until an effect confirms it, without waiting on a clock
        (:meth:`~wsbench.oracle.DeliveryOracle.confirm_by_copy`: the first copy of a push the
        change causes, e.g. ``user left`` reaching the room's other members, or for a join
        the first copy of a push to the room reaching the joiner)."""
        host, index, ns = self.host, self.index, step.namespace
        args = [room]
        self.seq += 1
        oc = self.derived(ns, step.event, args, None, self.now, step.ack_timeout, None)
        effects = self.carriers
        if oc is None or oc.refused is not None:
            host.violation(V.ACK_MISMATCH, index, ns, step.event,
                           f"{step.event} {room!r}: the app file says "
                           + (f"the server refuses it ({oc.refused})" if oc is not None
                              else "nothing it can judge"))
            return
        change = next((c for c in oc.changes if c.kind == ("join" if join else "leave")), None)
        target = change.room if change is not None else str(room)
        how = change.confirmed_by if change is not None else "none"
        self.membership.join_requested(index, ns, target, self.now)  # or leave: pending
        if how == "ack":
            reply: CallReply = yield Call(ns, step.event, args, step.ack_timeout)
            if reply.args is None:
                host.violation(V.ACK_TIMEOUT, index, ns, step.event,
                               f"{step.event} {room!r}: {reply.error}")
                return  # its fate is unknown: the room stays pending
            wrong = oc.ack.mismatch(reply.args) if oc.ack is not None else None
            if wrong is not None:
                host.violation(V.ACK_MISMATCH, index, ns, step.event,
                               f"{step.event} {room!r}: ack {wrong}")
        elif how != "none":  # a push to the sender confirms it: the wait armed before the send
            got = yield WaitPush(ns, how, 1, step.ack_timeout, Emit(ns, step.event, args))
            if got < 1:
                host.violation(V.MISSING, index, ns, how,
                               f"{step.event} {room!r}: no {how!r} confirming it within "
                               f"{step.ack_timeout:g} s")
                return  # unconfirmed: the room stays pending
        else:  # nothing answers it: pending until an effect confirms it
            yield Emit(ns, step.event, args)
            for stamp_id in effects:
                host.oracle.confirm_by_copy(stamp_id, index, ns, target, join)
            host.count("joins_pending_until_effect")
        host.emitted(ns, step.event, how == "ack")
        self.sent.setdefault(ns, {})[step.event] = (None, step.ack_timeout)
        rooms = self.rooms.setdefault(ns, [])
        if join:
            if how != "none":
                self.membership.joined(index, ns, target, self.now)
            if target not in rooms:
                rooms.append(target)
            self.values["room"] = target
        else:
            if how != "none":
                self.membership.left(index, ns, target, self.now)
            if target in rooms:
                rooms.remove(target)
            self.values["room"] = rooms[-1] if rooms else ""

    def expect_push(self, step: m.Listen) -> Program:
        if step.namespace not in self.wanted:
            return
        within = step.within if step.within is not None else 2.0
        got = yield WaitPush(step.namespace, step.event, step.count, within)
        if got < step.count:
            self.host.violation(
                V.MISSING, self.index, step.namespace, step.event,
                f"no {step.event!r} push within {within:g} s"
                + (f" ({got} of {step.count})" if step.count > 1 else ""),
            )

    def notify(self, step: m.Notify, intended: int | None) -> Program:
        host = self.host
        pick = self._picker()
        user = str(render_value(step.user, self.values, pick))
        self.seq += 1
        sent = intended if intended is not None else self.now
        stamp = Stamp.new(host.run_id, self.index, self.seq, sent)
        message = render_value(step.message, self.values, pick)
        body = {
            "userId": user,
            "type": step.type,
            "message": message if message is not None else "",
            "_wsb": stamp.to_json(),
        }
        host.oracle.expect_emit(
            stamp, None, "/", Semantics.ROOM,
            rooms=(f"user:{user}",), at_ns=self.now,
            deadline_ns=max(sent, self.now) + int(step.within * _S), event="notification",
        )
        host.emitted("/", "notification", False)
        token = admin_token(self.scenario.auth, self.values)
        reply: CallReply = yield PostNotification(body, step.within + 5.0, token)
        if reply.args is None:
            host.connect_error(f"POST /notifications: {reply.error}")
        elif reply.args[0] != 201:
            host.violation(V.ACK_MISMATCH, self.index, "/", "notification",
                           f"POST /notifications answered {reply.args[0]}")

    # -- emitting -----------------------------------------------------------------------------

    def emit(self, step: m.Emit, intended: int | None) -> Emit | None:
        """Stamp ``step``, register its expectations and ack; the :class:`Emit` to send."""
        host = self.host
        ns = step.namespace
        if ns not in self.up:
            host.count("emits_skipped_disconnected")
            return None
        values = self.values
        peer = None
        if step.peer is not None:
            peer = self.peers.pick(step.peer, self.index, ns, self.rng)
            if peer is None:
                host.count("emits_skipped_no_peer")
                return None
            values["peer"] = peer
            values["peer_sid"] = self.membership.sid(peer, ns) or ""
        self.seq += 1
        values["seq"] = self.seq
        pick = self._picker()
        if step.args is not None:
            args = [render_value(a, values, pick) for a in step.args]
        else:
            data = render_value(step.data, values, pick)
            args = [] if data is None and step.stamp is None else [data]
        sent = intended if intended is not None else self.now
        derive = self.app is not None and not step.expect
        want_ack, expected_ack = step.ack, None
        if step.stamp is not None:
            stamp = Stamp.new(host.run_id, self.index, self.seq, sent)
            args[0] = embed_stamp(args[0] if args else None, stamp, step.stamp)
            for k, exp in enumerate(step.expect):
                self.expect(stamp, k, exp, ns, peer, pick)
            if derive:
                result = self.derived(ns, step.event, args, stamp, sent, step.within, peer)
                if result is not None:
                    want_ack, expected_ack = result.ack is not None, result.ack
            for mn in step.must_not:
                rooms = tuple(str(render_value(r, values, pick)) for r in mn.rooms)
                host.oracle.forbid(stamp.id, mn.namespace or ns, mn.event, mn.to,
                                   sender=self.index, rooms=rooms or tuple(self.rooms.get(ns, ())),
                                   at_ns=self.now)
        ack = None
        if want_ack:
            self.acks += 1
            ack = (self.index, ns, self.acks)
            self.acks_pending[ack] = (ns, step.event,
                                      self.ack_checks(step, args, expected_ack))
            # at-least-once: the ack may come after every try's timeout
            tries = step.retries + 1
            if step.retries:
                self.retrying[ack] = (stamp.id if step.stamp is not None else None, sent)
                host.count("emits_at_least_once")
            host.oracle.expect_ack(
                ack, self.index, ns, sent, int(step.ack_timeout * tries * _S), step.event
            )
        host.emitted(ns, step.event, want_ack)
        if self.app is not None:
            self.sent.setdefault(ns, {})[step.event] = (
                stamp if step.stamp is not None else None, step.within)
        return Emit(ns, step.event, args, ack, step.ack_timeout, step.retries if want_ack else 0)

    def ack_checks(self, step: m.Emit, args: list[Any], derived: Any) -> tuple[Any, ...]:
        """What the ack of ``step`` (sent with ``args``) is judged by, each ``mismatch(args)``:
        the app file's declared ack, ``expect_ack``'s ``payload``/``args`` resolved with the
        arguments sent (stamp included), its broadcast ``answers``; empty: only a refusal
        (``ok: false``) is judged."""
        checks: list[Any] = [derived] if derived is not None else []
        want = step.expect_ack
        if want is not None and want.ack is not None:
            ns = step.namespace
            sid = self.membership.sid(self.index, ns) or self.values.get("sid") or ""
            got = app_expected_ack(want.ack, ns, sid, step.event, args, user=self.user)
            if isinstance(got, str):  # a path the sent arguments lack: nothing to compare
                self.host.violation(V.ACK_MISMATCH, self.index, ns, step.event,
                                    f"expect_ack of {step.event!r}: {got}")
            else:
                checks.append(got)
        if want is not None and want.broadcast:
            checks.append(want)
        return tuple(checks)

    # -- expectations derived from the app file ----------------------------------------------

    def view(self, ns: str) -> View:
        """The engine's view: this socket (sid, rooms); the audience is the oracle's."""
        sid = self.membership.sid(self.index, ns) or self.values.get("sid") or ""
        return View([Sock(ns, sid, frozenset(self.rooms.get(ns, ())), self.user)])

    def derived(self, ns: str, event: str, args: list[Any], stamp: Stamp | None, sent: int,
                within: float, peer: int | None) -> Any:
        """Register what the app file says ``event(*args)`` causes: each push judged by the
        stamp it carries, or correlated (``user joined`` carrying the sender's sid; a push
        to the sender that copies a client value but no stamp, ``document state`` with its
        ``docId``, by that value and this socket), the ``never:`` declarations. Returns the
        engine's outcome (None: not derivable)."""
        host = self.host
        app = self.app
        assert app is not None
        view = self.view(ns)
        sid = next(iter(view.sids(ns)), "")
        oc = app_outcome(app, view, ns, sid, event, args, user=self.user)
        if not oc.declared or oc.unknown is not None:
            host.count("derived.not_derivable")
            return None
        deadline = max(sent, self.now) + int(within * _S)  # from the actual send, as expect's
        done: set[tuple[str, str]] = set()
        first = True
        carrier: dict[str, str] = {}  #: event -> the stamp id its copies are judged by
        self.carriers = ()
        for p in oc.pushes:
            home = ns if p.to is Semantics.ALL_NAMESPACES else p.namespace
            if (home, p.event) in done:
                continue
            if p.copies != 1:
                host.count("derived.repeated_not_judged")
                continue
            to = None
            if p.to is Semantics.SOCKET:  # addressed by sid: the peer the step chose
                to = peer
                if to is None:
                    continue
            sem = Semantics.NAMESPACE_ALL if (home != ns and p.to in (
                Semantics.ALL, Semantics.OTHERS)) else p.to
            sender = self.index if sem is not Semantics.NAMESPACE_ALL else None
            # the sender's own copy of a room push follows the engine (the membership
            # *after* the event): a joiner of ``join`` gets its ``user joined`` (it is in the
            # room when the server emits), a leaver of ``leave`` does not get its ``user
            # left`` (io.to(room) after socket.leave): then the sender is excluded
            include_sender = False
            if home == ns and sem in (Semantics.ROOM, Semantics.ROOMS):
                if sid in p.recipients or sid in p.may:
                    include_sender = True
                else:
                    sem = _WITHOUT_SENDER[sem]
            example = p.payload.example()
            key_stamp: Stamp | None = None
            corr_key: str | None = None
            corr = self.correlations.get((home, p.event))
            if stamp is not None and find_stamp(example) is not None:
                key_stamp = stamp if first else secondary_stamp(stamp, p.event)
                if not first and self.secondary is not None:
                    self.secondary.register(stamp.id, p.event)
                first = False
            elif corr is not None:  # the sid it carries, or (to: sender) its value and me
                corr_key = correlation_key(corr, home, p.event, example, self.index)
                if corr_key is None:
                    host.count("derived.unstamped_not_judged")
                    continue
                self.seq += 1
                key_stamp = Stamp.new(host.run_id, self.index, self.seq, sent)
            else:
                host.count("derived.unstamped_not_judged")
                continue
            host.oracle.expect_emit(
                key_stamp, sender, home, sem, rooms=p.rooms, to=to, at_ns=self.now,
                deadline_ns=deadline, volatile=p.volatile, event=p.event,
                include_sender=include_sender, payload=p.payload,
            )
            if corr_key is not None:
                host.oracle.correlate(corr_key, key_stamp)
            carrier[p.event] = key_stamp.id.partition("|")[0]
            done.add((home, p.event))
        spec = app.event(ns, event)
        for n in spec.never if spec is not None else ():
            stamp_id = carrier.get(n.event) or (stamp.id if stamp is not None else None)
            if stamp_id is not None:
                host.oracle.forbid(stamp_id, ns, n.event, str(n.who), sender=self.index,
                                   rooms=tuple(r for p in oc.pushes for r in p.rooms),
                                   at_ns=self.now)
        self.carriers = tuple(carrier.values())
        return oc

    def derived_disconnect(self, ns: str, now: int) -> None:
        """Register the pushes the app file says this socket's disconnection causes (the
        namespace's ``disconnect:``, ``if_sent`` as this socket sent): each correlated like
        ``user joined``, by the gone socket's sid where its copies carry it, else by the stamp
        its copies carry from the socket's ``if_sent`` emit (/chat's ``user left`` echoes the
        username its ``join`` stamped; :func:`~wsbench.scenario.walk.origin_key`)."""
        app, host = self.app, self.host
        assert app is not None
        sent = self.sent.pop(ns, {})
        spec = app.namespace(ns)
        if spec is None or not spec.on_disconnect:
            return
        sid = self.membership.sid(self.index, ns) or ""
        oc = app_on_disconnect(app, self.view(ns), ns, sid, sent=sent.keys())
        if not oc.declared or oc.unknown is not None:
            host.count("derived.not_derivable")
            return
        within = max((w for _, w in sent.values()), default=0.0)
        for p in oc.pushes:
            home = p.namespace
            if p.copies != 1 or not within:
                host.count("derived.disconnect_not_judged")
                continue
            corr = self.correlations.get((home, p.event))
            if corr is not None:
                key = correlation_key(corr, home, p.event, p.payload.example())
            else:
                origin = next((sent[d.if_sent][0] for d in spec.on_disconnect
                               if d.event == p.event and d.if_sent in sent
                               and sent[d.if_sent][0] is not None), None)
                key = origin_key(home, p.event, origin.id) if origin is not None else None
            if key is None:
                host.count("derived.disconnect_not_judged")
                continue
            sem = Semantics.NAMESPACE_ALL if (home != ns and p.to in (
                Semantics.ALL, Semantics.OTHERS)) else p.to
            self.seq += 1
            stamp = Stamp.new(host.run_id, self.index, self.seq, now)
            host.oracle.expect_emit(
                stamp, self.index if sem is not Semantics.NAMESPACE_ALL else None, home, sem,
                rooms=p.rooms, at_ns=now, deadline_ns=now + int(within * _S),
                volatile=p.volatile, event=p.event, payload=p.payload,
            )
            host.oracle.correlate(key, stamp)
            host.count("derived.disconnect_pushes")

    def expect(
        self,
        stamp: Stamp,
        k: int,
        exp: m.Expect,
        ns: str,
        peer: int | None,
        pick: Callable[[int], int],
    ) -> None:
        values = self.values
        rooms: tuple[str, ...] = ()
        if exp.to in ROOM_SEMANTICS:
            rooms = tuple(str(render_value(r, values, pick)) for r in exp.rooms) or (
                (values["room"],) if values["room"] else ()
            )
            if not rooms:
                return
        if k:
            if self.secondary is not None:
                self.secondary.register(stamp.id, exp.event)
            stamp = secondary_stamp(stamp, exp.event)
        sender = self.index if exp.to is not Semantics.NAMESPACE_ALL else None
        self.host.oracle.expect_emit(
            stamp,
            sender,
            exp.namespace or ns,
            exp.to,
            rooms=rooms,
            to=peer,
            at_ns=self.now,
            # within counts from the actual send: a generator behind its schedule (a loaded
            # machine) must not spend the server's time; latency still counts from intended
            deadline_ns=max(stamp.sent_ns, self.now) + int(exp.within * _S),
            volatile=exp.volatile,
            event=exp.event,
        )
