"""One virtual user executing one scenario group's flow, in blocking style.

Theory of operation
-------------------
A :class:`ClientFlow` is what a Locust user runs: it walks its group's steps
(``docs/scenarios.md``) one after the other on a
:class:`~wsbench.integrations.wire.Connection`, sleeping and waiting through the
injected :class:`~wsbench.integrations.wire.Runtime` (gevent under Locust). It is
the blocking twin of the asyncio runner and feeds the same judge: it keeps the
oracle's membership exact (connect requested / confirmed, join and leave
requested / acknowledged, disconnects), stamps every emit with its *intended*
send time (open-loop ``every`` iterations keep their schedule even when a step
overruns, so a slow server cannot hide behind a slow client) and registers each
``expect`` with the oracle before the emit leaves.

Received packets are handled in the connection's reader (:meth:`_on_event`):
each push goes to the judge, acks settle their waiter, server ack requests
(``ack request``) are answered, app-level ``ping`` gets ``pong``. Waiting steps
check their condition, clear the client's wake event and wait on it: under
gevent nothing runs between the check and the wait, so no wake-up is lost.

Not available under Locust (logged once, skipped): ``fault: server_disconnect``
and ``fault: restart_server`` need control of the server, which only
``wsbench run`` has; ``notify`` posts the notification but its delivery is
counted, not judged (the oracle would need every user's userId).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from wsbench.exceptions import TransportError, WsbenchError
from wsbench.integrations.judge import Judge
from wsbench.integrations.wire import Connection, Runtime
from wsbench.metrics import now_ns
from wsbench.oracle import Semantics, Stamp, ViolationKind, embed_stamp
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    EventReceived,
    ProtocolViolation,
)
from wsbench.scenario import model as m

__all__ = ["ClientFlow", "StopFlow"]

log = logging.getLogger(__name__)
_warned: set[str] = set()
V = ViolationKind


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
        peers: the process's clients by index (for ``peer:`` emits); this one is added.
    """

    def __init__(
        self,
        scenario: m.Scenario,
        group: m.Group,
        judge: Judge,
        runtime: Runtime,
        base_url: str,
        peers: dict[int, ClientFlow] | None = None,
    ) -> None:
        self.scenario = scenario
        self.group = group
        self.judge = judge
        self.runtime = runtime
        self.base_url = base_url
        self.index = judge.new_client()
        self.peers = peers if peers is not None else {}
        self.peers[self.index] = self
        self.rng = random.Random(scenario.seed * 1_000_003 + self.index)
        self.conn: Connection | None = None
        self.seq = 0
        self.rooms: dict[str, str] = {}
        self.stopped = False
        self._wake = runtime.event()
        self._acks: dict[tuple[str, int], list[Any]] = {}  # -> [event, ok, data, room]
        self._connects: dict[str, list[Any]] = {}  # ns -> [t0_ns, outcome or None, message]
        self._arrivals: dict[tuple[str, str], int] = {}
        self._start_ns = now_ns()

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        """Run the flow, then hold or disconnect (``on_finish``)."""
        try:
            self._steps(self.group.flow, None)
        except StopFlow:
            return
        if self.group.on_finish == "disconnect":
            self.stop()

    def stop(self) -> None:
        """Leave: close the connection (DISCONNECT + close frame)."""
        self.stopped = True
        self.peers.pop(self.index, None)
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
            self.judge.oracle.membership.disconnected(self.index, None, now_ns())

    @property
    def pending_acks(self) -> int:
        """Acks this client still waits for."""
        return len(self._acks)

    def _steps(self, steps: tuple[m.Step, ...], intended_ns: int | None) -> None:
        for step in steps:
            if self.stopped:
                raise StopFlow
            self._step(step, intended_ns)

    def _step(self, step: m.Step, intended_ns: int | None) -> None:
        kind = type(step)
        if kind is m.Emit:
            self._emit(step, intended_ns)  # type: ignore[arg-type]
        elif kind is m.Think:
            self._think(step)  # type: ignore[arg-type]
        elif kind is m.Every:
            self._every(step)  # type: ignore[arg-type]
        elif kind is m.Loop:
            self._loop(step)  # type: ignore[arg-type]
        elif kind is m.Connect:
            self._connect(step)  # type: ignore[arg-type]
        elif kind in (m.Join, m.Leave):
            self._membership(step)  # type: ignore[arg-type]
        elif kind is m.Listen:
            self._listen(step)  # type: ignore[arg-type]
        elif kind is m.Disconnect:
            self._disconnect(step)  # type: ignore[arg-type]
        elif kind is m.Reconnect:
            self.runtime.sleep(step.after)  # type: ignore[union-attr]
            self._reconnect(step.within)  # type: ignore[union-attr]
        elif kind is m.Fault:
            self._fault(step)  # type: ignore[arg-type]
        elif kind.__name__ == "Notify":
            self._notify(step)
        else:  # pragma: no cover - the loader knows every step
            _warn_once(kind.__name__, f"wsbench locust: step {kind.__name__} is not supported")

    # -- templates ------------------------------------------------------------------------

    def _values(self, namespace: str, peer: int | None) -> dict[str, Any]:
        sid = self._sid(self.index, namespace)
        values: dict[str, Any] = {
            "client": self.index,
            "group": self.group.name,
            "seq": self.seq,
            "room": self.rooms.get(namespace, ""),
            "sid": sid or "",
        }
        if peer is not None:
            values["peer"] = peer
            values["peer_sid"] = self._sid(peer, namespace) or ""
        return values

    def _sid(self, client: int, namespace: str) -> str | None:
        return self.judge.oracle.membership.sid(client, namespace)

    def _rand(self) -> Callable[[int], int]:
        drawn: dict[int, int] = {}

        def rand(n: int) -> int:
            if n not in drawn:
                drawn[n] = self.rng.randrange(n)
            return drawn[n]

        return rand

    def _pick_peer(self, how: str, namespace: str) -> int | None:
        sockets = self.judge.oracle.membership.sockets(namespace)
        others = sorted(c for c, _ in sockets if c != self.index)
        if not others:
            return None
        if how == "random":
            return self.rng.choice(others)
        later = [c for c in others if c > self.index]
        earlier = [c for c in others if c < self.index]
        if how == "next":
            return (later or earlier)[0]
        return (earlier or later)[-1]

    # -- steps ----------------------------------------------------------------------------

    def _connect(self, step: m.Connect) -> None:
        t0 = now_ns()
        if self.conn is None or not self.conn.is_open:
            self.conn = Connection(
                self.base_url,
                path=self.scenario.path,
                transport=str(self.scenario.transport),
                runtime=self.runtime,
                on_event=self._on_event,
                timeout=step.timeout,
            )
            try:
                self.conn.open()
            except (TransportError, WsbenchError) as exc:
                self.conn = None
                self.judge.violation(
                    V.CONNECT_FAILED,
                    namespace=step.namespaces[0],
                    event="connect",
                    detail=str(exc),
                    at_ns=now_ns(),
                )
                raise StopFlow from exc
        membership = self.judge.oracle.membership
        for ns in step.namespaces:
            membership.connect_requested(self.index, ns, now_ns())
            self._connects[ns] = [t0, None, ""]
            self.conn.session.connect(ns, self._auth(step))
        self.conn.flush()
        deadline = time.monotonic() + step.timeout
        self._wait(
            lambda: all(self._connects[ns][1] is not None for ns in step.namespaces), deadline
        )
        for ns in step.namespaces:
            _, outcome, message = self._connects[ns]
            if step.refused is not None:
                if outcome == "refused" and message == step.refused:
                    self.judge.report(
                        "sio-connect", f"{ns} refused", (now_ns() - t0) / 1e6, 0, None
                    )
                else:
                    self.judge.violation(
                        V.CONNECT_FAILED,
                        namespace=ns,
                        event="connect",
                        detail=f"expected refusal {step.refused!r}, got {outcome}",
                    )
            elif outcome != "connected":
                membership.cancel_pending(self.index, ns, None)
                detail = f"refused: {message}" if outcome == "refused" else "no answer in time"
                self.judge.violation(V.CONNECT_FAILED, namespace=ns, event="connect", detail=detail)

    def _auth(self, step: m.Connect) -> dict[str, Any] | None:
        rand = self._rand()
        values = self._values("/", None)
        payload: dict[str, Any] = {}
        auth = self.scenario.auth
        if auth.static is not None:
            payload.update(m.render_value(dict(auth.static), values, rand))
        if step.auth is not None:
            payload.update(m.render_value(dict(step.auth), values, rand))
        if auth.jwt is not None and step.token is not m.TokenMode.NONE:
            import jwt

            claims = m.render_value(dict(auth.jwt.claims), values, rand)
            now = int(time.time())
            expired = step.token is m.TokenMode.EXPIRED
            claims["iat"] = now - (7200 if expired else 0)
            claims["exp"] = now - 3600 if expired else now + int(auth.jwt.expires_in)
            secret = auth.jwt.secret + ("-wrong" if step.token is m.TokenMode.INVALID else "")
            payload["token"] = jwt.encode(claims, secret, algorithm="HS256")
        return payload or None

    def _emit(self, step: m.Emit, intended_ns: int | None) -> None:
        conn = self.conn
        if conn is None:
            _warn_once("emit-before-connect", "wsbench locust: emit before connect; skipped")
            return
        ns = step.namespace
        peer = self._pick_peer(step.peer, ns) if step.peer else None
        rand = self._rand()
        values = self._values(ns, peer)
        if step.args is not None:
            args = [m.render_value(a, values, rand) for a in step.args]
        else:
            data = m.render_value(step.data, values, rand)
            args = [] if data is None and not step.expect else [data]
        self.seq += 1
        sent_ns = intended_ns if intended_ns is not None else now_ns()
        judge, oracle = self.judge, self.judge.oracle
        if step.expect and step.stamp is not None:
            stamp = Stamp.new(judge.run_id, self.index, self.seq, sent_ns)
            args[0] = embed_stamp(args[0], stamp, step.stamp)
            for exp in step.expect:
                judge.judged_events.add(exp.event)
                s = stamp if len(step.expect) == 1 else judge.alias(stamp, exp.event)
                rooms = [m.render_value(r, values, rand) for r in exp.rooms]
                oracle.expect_emit(
                    s,
                    self.index,
                    exp.namespace or ns,
                    exp.to,
                    rooms=rooms,
                    to=peer if exp.to is Semantics.SOCKET else None,
                    at_ns=now_ns(),  # the stamp carries sent_ns; the audience is computed now
                    deadline_ns=sent_ns + int(exp.within * 1e9),
                    volatile=exp.volatile,
                    event=exp.event,
                )
        try:
            ack_id = conn.session.emit(ns, step.event, *args, ack=step.ack)
        except WsbenchError as exc:
            judge.violation(V.PAYLOAD_MISMATCH, namespace=ns, event=step.event, detail=str(exc))
            return
        if ack_id is None:
            conn.flush()
            judge.emitted(ns, step.event)
            return
        judge.metrics.incr("emits")
        self._await_ack(ns, ack_id, step.event, sent_ns, step.ack_timeout)

    def _await_ack(
        self, ns: str, ack_id: int, event: str, sent_ns: int, timeout: float
    ) -> list[Any]:
        """Register, send and wait for an ack; returns its waiter [event, ok, data, done]."""
        key = (self.index, ns, ack_id)
        self.judge.oracle.expect_ack(key, self.index, ns, sent_ns, int(timeout * 1e9), event)
        waiter = self._acks[(ns, ack_id)] = [event, False, None, False]
        assert self.conn is not None
        self.conn.flush()
        deadline = time.monotonic() + timeout - (now_ns() - sent_ns) / 1e9
        self._wait(lambda: waiter[3], deadline)
        if not waiter[3]:
            self._acks.pop((ns, ack_id), None)
            if self.conn is not None:
                self.conn.session.cancel_ack(ns, ack_id)
        return waiter

    def _membership(self, step: m.Join | m.Leave) -> None:
        conn = self.conn
        if conn is None:
            return
        ns, joining = step.namespace, type(step) is m.Join
        room = m.render_value(step.room, self._values(ns, None), self._rand())
        membership = self.judge.oracle.membership
        membership.join_requested(self.index, ns, room, now_ns())
        try:
            ack_id = conn.session.emit(ns, step.event, room, ack=True)
        except WsbenchError:
            membership.cancel_pending(self.index, ns, room)
            return
        assert ack_id is not None
        waiter = self._await_ack(ns, ack_id, step.event, now_ns(), step.ack_timeout)
        reply = waiter[2][0] if waiter[3] and waiter[2] else None
        confirmed = isinstance(reply, dict) and reply.get("ok") is True
        if isinstance(reply, dict) and isinstance(reply.get("room"), str):
            membership.cancel_pending(self.index, ns, room)
            room = reply["room"]
        if not confirmed:
            membership.cancel_pending(self.index, ns, room)
        elif joining:
            membership.joined(self.index, ns, room, now_ns())
            self.rooms[ns] = room
        else:
            membership.left(self.index, ns, room, now_ns())
            if self.rooms.get(ns) == room:
                del self.rooms[ns]

    def _listen(self, step: m.Listen) -> None:
        if not step.wait:
            return  # every push is counted anyway (sio-recv)
        key = (step.namespace, step.event)
        within = step.within if step.within is not None else 2.0
        self._wait(lambda: self._arrivals.get(key, 0) >= step.count, time.monotonic() + within)
        got = self._arrivals.get(key, 0)
        if got >= step.count:
            self._arrivals[key] = got - step.count
        else:
            self._arrivals[key] = 0
            self.judge.violation(
                V.MISSING,
                namespace=step.namespace,
                event=step.event,
                detail=f"{got} of {step.count} within {within:g}s",
            )

    def _think(self, step: m.Think) -> None:
        if step.kind is m.ThinkKind.UNIFORM:
            seconds = self.rng.uniform(step.a, step.b)
        elif step.kind is m.ThinkKind.POISSON:
            seconds = self.rng.expovariate(1.0 / step.a) if step.a > 0 else 0.0
        else:
            seconds = step.a
        self.runtime.sleep(seconds)

    def _loop(self, step: m.Loop) -> None:
        end = time.monotonic() + step.duration if step.duration is not None else None
        k = 0
        while (step.count is None or k < step.count) and (end is None or time.monotonic() < end):
            self._steps(step.steps, None)
            k += 1
            if not step.steps:
                self.runtime.sleep(1.0)

    def _every(self, step: m.Every) -> None:
        start = now_ns()
        interval = int(step.interval * 1e9)
        end = start + int(step.duration * 1e9) if step.duration is not None else None
        k = 0
        while step.count is None or k < step.count:
            intended = start + k * interval
            if end is not None and intended >= end:
                return
            delay = (intended - now_ns()) / 1e9
            if delay > 0:
                self.runtime.sleep(delay)
            self._steps(step.steps, intended)
            k += 1

    def _disconnect(self, step: m.Disconnect) -> None:
        conn = self.conn
        if conn is None:
            return
        membership = self.judge.oracle.membership
        if step.namespace is None:
            conn.close()
            membership.disconnected(self.index, None, now_ns())
        else:
            conn.session.disconnect(step.namespace)
            conn.flush()
            membership.disconnected(self.index, step.namespace, now_ns())

    def _reconnect(self, within: float) -> None:
        conn = self.conn
        if conn is None:
            return
        t0 = now_ns()
        namespaces = conn.session.active_namespaces
        membership = self.judge.oracle.membership
        for ns in namespaces:
            membership.connect_requested(self.index, ns, t0)
            self._connects[ns] = [t0, None, ""]
        try:
            conn.reopen()
        except (TransportError, WsbenchError) as exc:
            self.judge.violation(V.CONNECT_FAILED, event="reconnect", detail=str(exc))
            return
        deadline = time.monotonic() + within
        self._wait(lambda: all(self._connects[ns][1] is not None for ns in namespaces), deadline)
        if all(self._connects[ns][1] == "connected" for ns in namespaces):
            self.judge.reconnected(now_ns() - t0)
        else:
            self.judge.violation(
                V.CONNECT_FAILED, event="reconnect", detail=f"not reconnected within {within:g}s"
            )

    def _fault(self, step: m.Fault) -> None:
        if step.kind is not m.FaultKind.DROP_TRANSPORT or self.conn is None:
            _warn_once(
                str(step.kind), f"wsbench locust: fault {step.kind} needs `wsbench run`; skipped"
            )
            return
        self.conn.abort()
        self.judge.oracle.membership.disconnected(self.index, None, now_ns())
        self._reconnect(step.reconnect_within)

    def _notify(self, step: Any) -> None:
        import requests

        values = self._values("/", None)
        user = m.render_value(step.user, values, self._rand())
        body = {"userId": user, "type": step.type, "message": step.message}
        t0 = now_ns()
        try:
            reply = requests.post(f"{self.base_url}/notifications", json=body, timeout=step.within)
            error = None if reply.status_code == 201 else f"HTTP {reply.status_code}"
        except requests.RequestException as exc:
            error = str(exc)
        self.judge.report("http", "POST /notifications", (now_ns() - t0) / 1e6, 0, error)

    # -- waiting and receiving -----------------------------------------------------------

    def _wait(self, done: Callable[[], bool], deadline: float) -> None:
        wake = self._wake
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopped:
                return
            wake.clear()
            wake.wait(min(remaining, 0.5))

    def _on_event(self, event: Any, recv_ns: int) -> None:
        kind = type(event)
        if kind is EventReceived:
            ns, name = event.namespace, event.event
            size = self.conn.event_size if self.conn is not None else 0
            self.judge.delivery(self.index, ns, name, event.args, recv_ns, size)
            key = (ns, name)
            self._arrivals[key] = self._arrivals.get(key, 0) + 1
            if event.ack_id is not None and self.conn is not None:
                reply = event.args[:1] if event.args else []
                self.conn.session.ack(ns, event.ack_id, reply)
            elif name == "ping" and ns == "/" and self.conn is not None:
                self.conn.session.emit("/", "pong")
            self._wake.set()
        elif kind is AckReceived:
            waiter = self._acks.pop((event.namespace, event.id), None)
            data = event.args
            first = data[0] if data else None
            ok = not (isinstance(first, dict) and first.get("ok") is False)
            detail = "" if ok else f"refused: {first.get('error')}"  # type: ignore[union-attr]
            name = waiter[0] if waiter else ""
            self.judge.ack(
                (self.index, event.namespace, event.id), event.namespace, name, recv_ns, ok, detail,
                size=self.conn.event_size if self.conn is not None else 0,
            )
            if waiter is not None:
                waiter[1], waiter[2], waiter[3] = ok, data, True
                self._wake.set()
        elif kind is Connected:
            self.judge.oracle.membership.connected(self.index, event.namespace, event.sid, recv_ns)
            pending = self._connects.get(event.namespace)
            if pending is not None and pending[1] is None:
                pending[1] = "connected"
                self.judge.connected(event.namespace, recv_ns - pending[0])
            self._wake.set()
        elif kind is ConnectRefused:
            self.judge.oracle.membership.cancel_pending(self.index, event.namespace, None)
            pending = self._connects.get(event.namespace)
            if pending is not None:
                pending[1], pending[2] = "refused", event.message
            self._wake.set()
        elif kind is Disconnected:
            self.judge.oracle.membership.disconnected(self.index, event.namespace, recv_ns)
        elif kind is Closed:
            self.judge.oracle.membership.disconnected(self.index, None, recv_ns)
            self._wake.set()
        elif kind is ProtocolViolation:
            self.judge.violation(V.MALFORMED_FRAME, detail=event.detail[:200], at_ns=recv_ns)
