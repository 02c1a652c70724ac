"""The gevent shell of one virtual user: carries the interpreter's actions over the wire Connection.

Theory of operation
-------------------
The scenario's semantics live in :mod:`wsbench.scenario.interpreter`, the same
:class:`~wsbench.scenario.interpreter.UserMachine` ``wsbench run`` uses: it walks the
group's flow, stamps, registers expectations, reports membership, picks peers, and
yields actions. A :class:`ClientFlow` (what a Locust user runs) performs each action in
blocking style on a :class:`~wsbench.integrations.wire.Connection`, sleeping and waiting
through the injected :class:`~wsbench.integrations.wire.Runtime` (gevent under Locust),
and sends the reply back with the time. It is also the machine's
:class:`~wsbench.scenario.interpreter.Host`, forwarding to the process's
:class:`~wsbench.integrations.judge.Judge` (oracle, metrics, Locust's request entries).

Every step kind runs here as under ``wsbench run``: ``stall`` pauses reading the socket,
``fault: drop_transport`` aborts it, ``fault: server_disconnect`` writes the malformed
packet, and after an unplanned close the shell reconnects on the machine's backoff
(:meth:`~wsbench.scenario.interpreter.UserMachine.reconnect_delay`) as the asyncio client
does; ``fault: restart_server`` calls the ``restart`` hook the Locust integration gives
(the control channel to ``wsbench locust``, which owns the embedded server, or on a worker
a request to the master: :mod:`wsbench.integrations.control`; absent: counted and warned,
as ``wsbench run`` does for a target it did not start). ``notify`` posts with the admin
bearer token the machine minted when the scenario has ``auth.jwt``.

Received packets are handled in the connection's reader (:meth:`_on_event`): each push
goes to the judge (unless the machine says a recovered session replays it), acks go to
the machine, server ack requests are answered, app-level ``ping`` gets ``pong``. Waiting
actions check their condition, clear the client's wake event and wait on it: under gevent
nothing runs between the check and the wait, so no wake-up is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from wsbench.exceptions import TransportError, WsbenchError
from wsbench.integrations.judge import Judge, entry_name
from wsbench.integrations.wire import Connection, Runtime
from wsbench.metrics import now_ns
from wsbench.oracle import ViolationKind, find_stamp
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    EventReceived,
    ProtocolViolation,
)
from wsbench.protocol.retry import RetryAction, RetryQueue, SendTry
from wsbench.scenario import interpreter as i
from wsbench.scenario import model as m
from wsbench.scenario.walk import correlations, disconnect_keyed, expected_events

__all__ = ["ClientFlow", "StopFlow"]

log = logging.getLogger(__name__)
_warned: set[str] = set()
_judged: dict[str, frozenset[str]] = {}
V = ViolationKind
_S = 1_000_000_000


class StopFlow(Exception):
    """The flow cannot go on (the server is unreachable); the user stops."""


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


class ClientFlow:
    """One client of ``scenario`` running ``group``; see the module docstring.

    Args:
        scenario: the loaded scenario.
        group: the group this client runs.
        judge: the process's judge (oracle, metrics, Locust reporting).
        runtime: concurrency primitives.
        base_url: the server (``http://host:port``).
        peers: the process's clients by index; this one is added.
        peer_index: the process's ``peer:`` query (one per process; a private one if None).
        restart: restarts the embedded server (``downtime`` s) and returns when it was up
            again (monotonic ns); None where this process cannot.
        restart_redis: restarts the embedded cluster's Redis (``downtime`` s), opening and
            closing the judging oracle's outage window itself; returns ``(down_ns, back_ns,
            resubscribed_ns or None)``, or None where this run cannot (not a cluster).
    """

    def __init__(
        self,
        scenario: m.Scenario,
        group: m.Group,
        judge: Judge,
        runtime: Runtime,
        base_url: str,
        peers: dict[int, ClientFlow] | None = None,
        peer_index: i.PeerIndex | None = None,
        restart: Callable[[float], int | None] | None = None,
        restart_redis: Callable[[float], tuple[int, int, int | None] | None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.group = group
        self.judge = judge
        self.runtime = runtime
        self.base_url = base_url
        self.index = judge.new_client()
        self.peers = peers if peers is not None else {}
        self.peers[self.index] = self
        if peer_index is None:
            peer_index = i.PeerIndex(
                [], lambda c, ns: self.judge.oracle.membership.is_connected(c, ns)
            )
        peer_index.add(self.index)
        self._restart = restart
        self._restart_redis = restart_redis
        self.run_id = judge.run_id
        self.stopping = False
        self.conn: Connection | None = None
        self.stopped = False
        self._wake = runtime.event()
        self._acks: dict[tuple[str, int], Hashable] = {}  # (ns, ack id) -> the machine's key
        self._calls: dict[tuple[str, int], list[Any]] = {}  # (ns, ack id) -> [args or None]
        #: at-least-once emits (``retries``): one socket.io-client retry queue per namespace,
        #: and (ns, ack id) -> (queue entry, try) of each try in flight
        self._retry: dict[str, RetryQueue] = {}
        self._tries: dict[tuple[str, int], tuple[int, int]] = {}
        self._connects: dict[str, tuple[str, str] | None] = {}
        self._arrivals: dict[tuple[str, str], int] = {}
        if scenario.name not in _judged:  # events some expectation names: only those are judged
            _judged[scenario.name] = frozenset().union(*expected_events(scenario).values())
        judge.judged_events.update(_judged[scenario.name])
        if scenario.app is not None and not judge.correlations:
            judge.correlations.update(correlations(scenario.app))
        judge.app = judge.app or scenario.app is not None
        if scenario.app is not None and not judge.by_origin:
            judge.by_origin = disconnect_keyed(scenario.app)
        secondary = None if judge.recording else judge._secondary
        self.machine = i.UserMachine(scenario, group, self.index, self, peer_index, secondary)

    @property
    def oracle(self) -> Any:
        return self.judge.oracle

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Run the flow, then hold or disconnect (``on_finish``)."""
        machine = self.machine
        action = machine.start(now_ns())
        while action is not None and not self.stopped:
            reply = self._perform(action)
            action = machine.resume(reply, now_ns())
        if self.stopped:
            machine.end(now_ns(), 0.0)

    def stop(self) -> None:
        """Leave: close the connection (DISCONNECT + close frame)."""
        self.stopped = self.stopping = True
        self.peers.pop(self.index, None)
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        self._wake.set()

    @property
    def pending_acks(self) -> int:
        """Acks this client still waits for."""
        return len(self._acks) + len(self._calls) + sum(len(q) for q in self._retry.values())

    def _perform(self, a: Any) -> Any:  # noqa: C901 - the dispatch
        cls = type(a)
        if cls is i.Emit:
            self._emit(a)
            return None
        if cls is i.Sleep or cls is i.Stall:
            conn = self.conn if cls is i.Stall else None
            if conn is not None:
                conn.pause_reading()
            try:
                while (wait := a.until_ns - now_ns()) > 0 and not self.stopped:
                    self.runtime.sleep(wait / _S)
                if wait <= 0 and cls is i.Sleep:
                    self.runtime.sleep(0)
            finally:
                if conn is not None:
                    conn.resume_reading()
            return None
        if cls is i.Open:
            return self._open(a)
        if cls is i.Call:
            return self._call(a)
        if cls is i.Wait:
            self._wait(self.machine.ready, a.deadline_ns)
            return None
        if cls is i.WaitPush:
            key = (a.namespace, a.event)
            base = self._arrivals.get(key, 0)
            got = lambda: self._arrivals.get(key, 0) - base  # noqa: E731
            if a.send is not None:  # counted from base: its push may be read while it is sent
                self._emit(a.send)
            self._wait(lambda: got() >= a.count, now_ns() + int(a.timeout * _S))
            return min(got(), a.count)
        if cls is i.Disconnect:
            conn = self.conn
            if conn is not None:
                if a.namespace is None:
                    self.conn = None
                    conn.close()
                else:
                    conn.session.disconnect(a.namespace)
                    conn.flush()
                    self.machine.on_disconnected(a.namespace, "io client disconnect", now_ns())
            return None
        if cls is i.Abort:
            if self.conn is not None:
                self.conn.abort()
            return None
        if cls is i.SendRaw:
            return self.conn is not None and self.conn.send_raw(a.message)
        if cls is i.RestartServer:
            if self._restart is None:
                return None
            return self._restart(a.downtime)
        if cls is i.RestartRedis:
            if self._restart_redis is None:
                return None
            return self._restart_redis(a.downtime)
        if cls is i.PostNotification:
            return self._post(a)
        raise TypeError(f"the gevent shell cannot perform {cls.__name__}")

    # -- actions ------------------------------------------------------------------------

    def _new_connection(self, timeout: float) -> Connection:
        return Connection(
            self.scenario.url_for(self.index, self.base_url),  # a cluster: this client's node
            path=self.scenario.path,
            transport=str(self.scenario.transport),
            runtime=self.runtime,
            on_event=self._on_event,
            timeout=timeout,
            parser=self.scenario.parser,
        )

    def _open(self, a: i.Open) -> i.ConnectReply:
        if a.fresh and self.conn is not None:
            conn, self.conn = self.conn, None
            conn.close()
        if self.conn is None or not self.conn.is_open:
            self.conn = self._new_connection(a.timeout)
            try:
                self.conn.open()
            except (TransportError, WsbenchError) as exc:
                self.conn = None
                return i.ConnectReply(error=str(exc))
        conn = self.conn
        for ns in a.namespaces:
            self._connects[ns] = None
            conn.session.connect(ns, a.auth)
        conn.flush()
        self._wait(
            lambda: all(self._connects.get(ns) is not None for ns in a.namespaces),
            now_ns() + int(a.timeout * _S),
        )
        outcomes = []
        for ns in a.namespaces:
            got = self._connects.pop(ns, None)
            outcomes.append((ns, *got) if got is not None else (ns, "timeout", ""))
        return i.ConnectReply(tuple(outcomes))

    def _emit(self, a: i.Emit) -> None:
        conn = self.conn
        if conn is None:
            return
        if a.retries and a.ack is not None:
            queue = self._retry.get(a.namespace)
            if queue is None:
                queue = self._retry[a.namespace] = RetryQueue(a.namespace in self.machine.up)
            self._run_retry(a.namespace, queue.push(a.event, a.args, a.retries, a.ack_timeout,
                                                    a.ack))
            return
        try:
            ack_id = conn.session.emit(a.namespace, a.event, *a.args, ack=a.ack is not None)
        except WsbenchError as exc:
            self.violation(V.PAYLOAD_MISMATCH, self.index, a.namespace, a.event, str(exc))
            return
        if ack_id is not None and a.ack is not None:
            self._acks[(a.namespace, ack_id)] = a.ack
        conn.flush()

    def _run_retry(self, ns: str, actions: list[RetryAction]) -> None:
        """Perform the retry queue's actions: send a try (with its ack timeout), or settle."""
        machine = self.machine
        for action in actions:
            if isinstance(action, SendTry):
                entry, attempt = action.entry, action.attempt
                machine.on_try(entry.token, attempt)
                conn = self.conn
                if conn is None:
                    continue
                try:
                    ack_id = conn.session.emit(ns, entry.event, *entry.args, ack=True)
                except WsbenchError as exc:
                    self.violation(V.PAYLOAD_MISMATCH, self.index, ns, entry.event, str(exc))
                    continue
                assert ack_id is not None
                self._tries[(ns, ack_id)] = (entry.seq, attempt)
                conn.flush()
                self.runtime.spawn(self._try_expired, ns, ack_id, entry.timeout)
            else:
                machine.on_ack(action.token, action.args, now_ns(), action.attempts)

    def _try_expired(self, ns: str, ack_id: int, timeout: float) -> None:
        self.runtime.sleep(timeout)
        try_ = self._tries.pop((ns, ack_id), None)
        queue = self._retry.get(ns)
        if try_ is None or queue is None or self.stopped:
            return
        conn = self.conn
        if conn is not None:
            conn.session.cancel_ack(ns, ack_id)
        why = "operation has timed out" if ns in self.machine.up else "socket has been disconnected"
        self._run_retry(ns, queue.failed(*try_, why))

    def _call(self, a: i.Call) -> i.CallReply:
        conn = self.conn
        if conn is None:
            return i.CallReply(None, "not connected")
        try:
            ack_id = conn.session.emit(a.namespace, a.event, *a.args, ack=True)
        except WsbenchError as exc:
            return i.CallReply(None, str(exc))
        assert ack_id is not None
        waiter: list[Any] = [None, False]
        self._calls[(a.namespace, ack_id)] = waiter
        conn.flush()
        t0 = now_ns()
        self._wait(lambda: waiter[1], t0 + int(a.timeout * _S))
        self._calls.pop((a.namespace, ack_id), None)
        if waiter[1] and waiter[0] is not None:  # Locust's entry for the round trip
            self.judge.report("sio-ack", entry_name(a.namespace, a.event), (now_ns() - t0) / 1e6,
                              0, None)
        if waiter[1]:
            return i.CallReply(waiter[0], "" if waiter[0] is not None else "ConnectionClosed")
        if self.conn is not None:
            self.conn.session.cancel_ack(a.namespace, ack_id)
            return i.CallReply(None, f"AckTimeout no ack within {a.timeout:g} s")
        return i.CallReply(None, "ConnectionClosed")

    def _post(self, a: i.PostNotification) -> i.CallReply:
        import requests

        t0 = now_ns()
        try:
            headers = {"Authorization": f"Bearer {a.token}"} if a.token else None
            reply = requests.post(f"{self.base_url}/notifications", json=a.body,
                                  headers=headers, timeout=a.timeout)
        except requests.RequestException as exc:
            self.judge.report("http", "POST /notifications", None, 0, str(exc))
            return i.CallReply(None, f"{type(exc).__name__} {exc}")
        error = None if reply.status_code == 201 else f"HTTP {reply.status_code}"
        self.judge.report("http", "POST /notifications", (now_ns() - t0) / 1e6, 0, error)
        return i.CallReply([reply.status_code])

    def _wait(self, done: Callable[[], bool], deadline_ns: int) -> None:
        wake = self._wake
        while not done():
            remaining = (deadline_ns - now_ns()) / _S
            if remaining <= 0 or self.stopped:
                return
            wake.clear()
            wake.wait(min(remaining, 0.5))

    def _answer_later(self, conn: Connection, ns: str, ack_id: int, reply: list[Any],
                      delay: float) -> None:
        """Answer a server ack request after the group's ``answer_acks.delay``."""
        self.runtime.sleep(delay)
        if self.conn is conn and conn.is_open and ns in self.machine.up:
            conn.session.ack(ns, ack_id, reply)
            conn.flush()

    def _reconnect_later(self, reason: str) -> None:
        """An unplanned close: reconnect on the machine's backoff, like the asyncio client."""
        delay = self.machine.reconnect_delay(reason)
        if delay is None or self.stopped:
            return
        self.runtime.spawn(self._reconnect, delay)

    def _reconnect(self, delay: float) -> None:
        self.runtime.sleep(delay)
        conn = self.conn
        if conn is None or self.stopped or conn.is_open:
            return
        try:
            conn.reopen()  # the session CONNECTs its namespaces again (with recovery)
        except (TransportError, WsbenchError) as exc:
            log.debug("reconnect failed: %s", exc)
            self._reconnect_later("transport error")

    # -- the Host of the machine -------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        self.judge.metrics.incr(name, n)

    def violation(self, kind: ViolationKind, client: int, ns: str, event: str, detail: str) -> None:
        self.judge.violation(
            kind, sender=client, receiver=(client, ns), namespace=ns, event=event,
            detail=detail, at_ns=now_ns(),
        )

    def connect_error(self, message: str, client: int | None = None, ns: str = "") -> None:
        if client is not None:
            self.violation(V.CONNECT_FAILED, client, ns, "connect", message)
        else:
            self.judge.metrics.incr("connect_errors")

    def connect_time(self, namespaces: Sequence[str], latency_ns: int) -> None:
        for ns in namespaces:
            self.judge.connected(ns, latency_ns)

    def reconnected(self, latency_ns: int, now: int) -> None:
        self.judge.reconnected(latency_ns)

    def reconnect_failed(self) -> None:
        self.judge.metrics.incr("reconnects_failed")

    def record(self, name: str, latency_ns: int) -> None:
        self.judge.metrics.record_ns(name, latency_ns)

    def emitted(self, ns: str, event: str, acked: bool) -> None:
        if acked:
            self.judge.metrics.incr("emits")
        else:
            self.judge.emitted(ns, event)

    def ack_observed(
        self, key: Hashable, ns: str, event: str, now: int, ok: bool, detail: str
    ) -> None:
        size = self.conn.event_size if self.conn is not None else 0
        self.judge.ack(key, ns, event, now, ok, detail, size=size)

    def limit_reached(self, message: str) -> None:
        _warn_once("limit", f"wsbench locust: {message}")
        self.violation(V.CONNECT_FAILED, self.index, "/", "connect", message)

    def restarted(self, up_ns: int | None) -> None:
        if up_ns is None:
            _warn_once("restart", "wsbench locust: restart_server skipped: no embedded server "
                       "this run can restart (a --host target, or the restart failed)")
            self.judge.metrics.incr("restarts_skipped")
        else:
            self.judge.metrics.incr("server_restarts")

    def redis_restarted(self, window: tuple[int, int, int | None] | None) -> None:
        """The outage window is the restarter's business (it judges, or the master does)."""
        if window is None:
            _warn_once("restart_redis", "wsbench locust: restart_redis skipped: the target is "
                       "not an embedded cluster this run can restart (or the restart failed)")
            self.judge.metrics.incr("faults.restart_redis.skipped")
        else:
            self.judge.metrics.incr("redis_restarts")
            if window[2] is None:
                _warn_once("resubscribe", "wsbench locust: restart_redis: the nodes had not "
                           "re-subscribed by the launcher's deadline")

    # -- receiving (the reader) --------------------------------------------------------

    def _on_event(self, event: Any, recv_ns: int) -> None:  # noqa: C901 - the dispatch
        kind = type(event)
        machine = self.machine
        if kind is EventReceived:
            ns, name = event.namespace, event.event
            conn = self.conn
            size = conn.event_size if conn is not None else 0
            if machine.down_since or machine.replay:  # rare: only around a recovery
                stamp = find_stamp(event.args)
                if stamp is not None and machine.replayed(ns, stamp.sent_ns):
                    self.judge.metrics.incr("replayed")
                    key = (ns, name)
                    self._arrivals[key] = self._arrivals.get(key, 0) + 1
                    self._wake.set()
                    return
            self.judge.delivery(self.index, ns, name, event.args, recv_ns, size)
            key = (ns, name)
            self._arrivals[key] = self._arrivals.get(key, 0) + 1
            if event.ack_id is not None and conn is not None:
                reply = event.args[:1] if event.args else []
                group = self.group
                if not group.answer_acks:
                    pass  # answer_acks: false, a recipient that never answers
                elif group.ack_delay > 0:
                    self.runtime.spawn(self._answer_later, conn, ns, event.ack_id, reply,
                                       group.ack_delay)
                else:
                    conn.session.ack(ns, event.ack_id, reply)
            elif name == "ping" and ns == "/" and conn is not None:
                conn.session.emit("/", "pong")
            self._wake.set()
        elif kind is AckReceived:
            ident = (event.namespace, event.id)
            try_ = self._tries.pop(ident, None) if self._tries else None
            if try_ is not None:
                queue = self._retry[event.namespace]
                self._run_retry(event.namespace, queue.answered(*try_, event.args))
                return
            call = self._calls.get(ident)
            if call is not None:
                call[0], call[1] = event.args, True
                self._wake.set()
                return
            key = self._acks.pop(ident, None)
            if key is not None:
                machine.on_ack(key, event.args, recv_ns)
        elif kind is Connected:
            if machine.on_connected(event.namespace, event.sid, event.recovered, recv_ns):
                self._wake.set()
            queue = self._retry.get(event.namespace)
            if queue is not None:  # socket.io-client re-sends the head on (re)connect
                self._run_retry(event.namespace, queue.connected())
            if event.namespace in self._connects:
                self._connects[event.namespace] = ("connected", "")
            self._wake.set()
        elif kind is ConnectRefused:
            if event.namespace in self._connects:
                self._connects[event.namespace] = ("refused", event.message)
            self._wake.set()
        elif kind is Disconnected:
            machine.on_disconnected(event.namespace, str(event.reason), recv_ns)
            if event.namespace in self._retry:
                self._retry[event.namespace].disconnected()
            self._wake.set()
        elif kind is Closed:
            reason = str(event.reason)
            for ns in list(machine.up):
                machine.on_disconnected(ns, reason, recv_ns)
            for queue in self._retry.values():
                queue.disconnected()
            for waiter in self._calls.values():
                waiter[0], waiter[1] = None, True  # answered: the connection closed
            self._acks.clear()  # lost with the transport: the oracle's sweep judges them
            self._wake.set()
            if self.conn is not None and not self.stopped:
                self._reconnect_later(reason)
        elif kind is ProtocolViolation:
            self.judge.violation(
                V.MALFORMED_FRAME, receiver=(self.index, "*"), detail=event.detail[:200],
                at_ns=recv_ns,
            )
