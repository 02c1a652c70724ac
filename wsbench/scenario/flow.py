"""One virtual user: a client running its group's flow, step by step.

Theory of operation
-------------------
A :class:`VirtualUser` is one coroutine (:meth:`VirtualUser.run`) plus the
listeners it installs on its sockets; nothing else runs per client. It starts at
its arrival offset, executes the steps of its group, then holds its connection
until the run ends (``on_finish: hold``) or closes it (``disconnect``).

Everything the oracle needs passes through the :class:`~wsbench.scenario.driver.Driver`:

* *membership* — every CONNECT answer, disconnect, join/leave ack is reported
  (the lifecycle hooks :meth:`_on_connect`/:meth:`_on_disconnect` see automatic
  reconnections too, and restore the rooms the server kept when the session was
  *recovered*);
* *emits* — each emit is stamped (unique id, sender, sequence number and the
  **intended** send time), its expectations registered before the frame is written,
  and its ack expected with its timeout;
* *deliveries* — one ``on_any`` listener per socket hands events named by some
  expectation of the scenario to :meth:`Driver.observe`.

Open-loop pacing: in ``every`` the k-th iteration is *intended* at start + k·interval;
when the loop falls behind it runs late but keeps the intended time, and every emit
of the iteration carries it, so latency includes the time the load generator (or a
stalled server) made it wait: no coordinated omission.

Faults, stalls and waiting for reconnection live in :mod:`wsbench.scenario.disruptions`.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

from wsbench.client import Connection
from wsbench.exceptions import (
    ConnectFailed,
    ConnectRefused,
    ResourceLimit,
    TransportError,
)
from wsbench.metrics import now_ns
from wsbench.oracle import Semantics, Stamp, ViolationKind, embed_stamp
from wsbench.protocol.reconnect import ReconnectPolicy
from wsbench.scenario import disruptions
from wsbench.scenario import model as m
from wsbench.scenario.model import render_value
from wsbench.scenario.tokens import connect_payload, user_id

if TYPE_CHECKING:
    from wsbench.client import Socket
    from wsbench.scenario.driver import Driver

__all__ = ["VirtualUser"]

_S = 1_000_000_000
_ROOM_SEMANTICS = {Semantics.ROOM, Semantics.ROOMS, Semantics.ROOM_OTHERS, Semantics.ROOMS_OTHERS}


class Stop(Exception):
    """The run is ending: leave the flow."""


class VirtualUser:
    """One client of the scenario; see the module docstring."""

    def __init__(self, driver: Driver, index: int, group_index: int) -> None:
        self.d = driver
        self.index = index
        self.group = driver.scenario.groups[group_index]
        self.rng = random.Random(driver.scenario.seed * 1_000_003 + index)
        self.conn: Connection | None = None
        self.sockets: dict[str, Socket] = {}
        self.rooms: dict[str, list[str]] = {}
        self.down_since: dict[str, int] = {}
        self.replay: dict[str, tuple[int, int]] = {}
        self.seq = 0
        self.acks = 0
        self.values: dict[str, Any] = {
            "client": index,
            "group": self.group.name,
            "seq": 0,
            "room": "",
            "sid": "",
            "peer": "",
            "peer_sid": "",
        }
        self.user = user_id(driver.scenario.auth, self.values)

    # -- the flow ---------------------------------------------------------------------

    async def run(self, start_ns: int) -> None:
        d = self.d
        delay = (start_ns - now_ns()) / _S
        if delay > 0:
            await asyncio.sleep(delay)
        if d.stop_ramping or d.stopping:
            return
        d.started += 1
        try:
            await self.steps(self.group.flow, None)
        except Stop:
            return
        if self.group.on_finish == "disconnect" and self.conn is not None:
            await self.close()

    async def steps(self, steps: tuple[Any, ...], intended: int | None) -> None:
        for step in steps:
            if self.d.stopping:
                raise Stop
            await self.step(step, intended)

    async def step(self, step: Any, intended: int | None) -> None:  # noqa: C901 - a dispatch
        cls = type(step)
        if cls is m.Emit:
            self.emit(step, intended)
        elif cls is m.Think:
            await asyncio.sleep(self.think(step))
        elif cls is m.Every:
            await self.every(step)
        elif cls is m.Loop:
            await self.loop(step)
        elif cls is m.Connect:
            await self.connect(step)
        elif cls is m.Join or cls is m.Leave:
            await self.join_leave(step, cls is m.Join)
        elif cls is m.Listen:
            if step.wait:
                await self.expect_push(step)
        elif cls.__name__ == "Notify":
            await self.d.notify(self, step, intended)
        elif cls is m.Disconnect:
            await self.disconnect(step.namespace)
        elif cls is m.Reconnect:
            await asyncio.sleep(step.after)
            await self.reconnect(step.within, explicit=True)
        elif cls is m.Fault:
            await self.fault(step)
        elif cls is m.Stall:
            await self.stall(step)

    def think(self, step: m.Think) -> float:
        if step.kind is m.ThinkKind.UNIFORM:
            return self.rng.uniform(step.a, step.b)
        if step.kind is m.ThinkKind.POISSON:
            return self.rng.expovariate(1.0 / step.a) if step.a > 0 else 0.0
        return step.a

    async def loop(self, step: m.Loop) -> None:
        end = now_ns() + int(step.duration * _S) if step.duration is not None else None
        i = 0
        while (step.count is None or i < step.count) and (end is None or now_ns() < end):
            await self.steps(step.steps, None)
            i += 1
            await asyncio.sleep(0)

    async def every(self, step: m.Every) -> None:
        start = now_ns()
        interval = int(step.interval * _S)
        k = 0
        while step.count is None or k < step.count:
            if step.duration is not None and k * interval >= step.duration * _S:
                break
            intended = start + k * interval
            while (wait := intended - now_ns()) > 0:  # never early: timers may fire ~1 ms early
                await asyncio.sleep(wait / _S)
            await self.steps(step.steps, intended)
            k += 1

    # -- connecting -------------------------------------------------------------------------

    def _new_connection(self) -> Connection:
        d = self.d
        d.check_capacity()
        conn = Connection(
            d.url,
            d.http_for(self.index),
            transports=d.scenario.transport.value,
            path=d.scenario.path,
            reconnection=ReconnectPolicy(),
            rng=self.rng,
            timeout=d.connect_timeout,
        )
        conn.on_close = d.closed
        return conn

    async def connect(self, step: m.Connect) -> None:
        d = self.d
        t0 = now_ns()
        try:
            if self.conn is None:
                self.conn = self._new_connection()
                d.open_connections += 1
                await self.conn.start()
            auth = connect_payload(d.scenario.auth, self.values, step.token, step.auth)
            waits = []
            for ns in step.namespaces:
                d.membership.connect_requested(self.index, ns, now_ns())
                waits.append(self._socket(ns, auth).wait_connected(step.timeout))
            results = await asyncio.gather(*waits, return_exceptions=True)
        except asyncio.CancelledError:
            # The run ended while this client was still connecting: after as long a wait
            # as in-flight emits get to complete (the drain grace), that is a failure;
            # a connect asked for just before the end is only counted.
            waited = (now_ns() - t0) / _S
            if d.stopping:
                pending = [
                    ns
                    for ns in step.namespaces
                    if not (ns in self.sockets and self.sockets[ns].connected)
                ]
                for ns in pending:
                    if waited >= min(step.timeout, d.grace_s):
                        d.connect_error(
                            f"connect to {ns}: no CONNECT answer when the run ended "
                            f"({waited:.1f} s after asking)",
                            self.index,
                            ns,
                        )
                    else:
                        d.metrics.incr("connects_pending_at_end")
            raise
        except ResourceLimit as exc:
            d.limit_reached(str(exc))
            raise Stop from None
        except (ConnectFailed, TransportError, OSError) as exc:
            if _is_limit(exc):
                d.limit_reached(f"local limit reached while connecting: {exc}")
                raise Stop from None
            d.connect_error(f"{type(exc).__name__}: {exc}", self.index, step.namespaces[0])
            raise Stop from None
        ok = True
        for ns, res in zip(step.namespaces, results, strict=True):
            if isinstance(res, ConnectRefused):
                d.membership.cancel_pending(self.index, ns, None)
                if step.refused is None:
                    ok = False
                    d.connect_error(f"connect to {ns} refused: {res.message}", self.index, ns)
                elif res.message != step.refused:
                    ok = False
                    d.violation(
                        ViolationKind.CONNECT_FAILED,
                        self.index,
                        ns,
                        "",
                        f"refused with {res.message!r}, expected {step.refused!r}",
                    )
                else:
                    d.metrics.incr("connects_refused_as_expected")
            elif isinstance(res, TimeoutError):
                ok = False
                d.membership.cancel_pending(self.index, ns, None)
                d.connect_error(
                    f"connect to {ns}: no CONNECT answer within {step.timeout:g} s", self.index, ns
                )
            elif isinstance(res, BaseException):
                ok = False
                d.membership.cancel_pending(self.index, ns, None)
                d.connect_error(
                    f"connect to {ns}: {type(res).__name__} {res}".strip(), self.index, ns
                )
            elif step.refused is not None:
                d.violation(
                    ViolationKind.CONNECT_FAILED,
                    self.index,
                    ns,
                    "",
                    f"connected, but the server should refuse it with {step.refused!r}",
                )
        if ok and step.refused is None:
            d.connect_recorder(now_ns() - t0)
        if not ok:
            raise Stop

    def _socket(self, ns: str, auth: dict[str, Any] | None) -> Socket:
        assert self.conn is not None
        known = ns in self.sockets
        sock = self.conn.socket(ns, auth)
        if not known:
            self.sockets[ns] = sock
            sock.on_any(self.d.receiver(self.index, ns))
            sock.on("connect", lambda: self._on_connect(ns))
            sock.on("disconnect", lambda reason: self._on_disconnect(ns, reason))
            if ns == "/":
                sock.on("ack request", _first_arg)
                sock.on("ping", lambda *_: sock.emit("pong"))
        return sock

    def _on_connect(self, ns: str) -> None:
        d = self.d
        now = now_ns()
        sock = self.sockets[ns]
        d.membership.connected(self.index, ns, sock.sid or "", now)
        d.connected_sockets += 1
        if ns == "/":
            self.values["sid"] = sock.sid or ""
            if self.user is not None:
                d.membership.joined(self.index, "/", f"user:{self.user}", now)
        down = self.down_since.pop(ns, None)
        if sock.recovered:
            for room in self.rooms.get(ns, ()):
                d.membership.joined(self.index, ns, room, now)
            if down is not None:
                self.replay[ns] = (down, now)
        else:
            self.rooms.pop(ns, None)
        if down is not None:
            d.reconnected(now - down, now)

    def _on_disconnect(self, ns: str, reason: str) -> None:
        d = self.d
        now = now_ns()
        d.membership.disconnected(self.index, ns, now)
        d.connected_sockets -= 1
        d.metrics.incr("disconnects")
        if reason != "io client disconnect" and not d.stopping:
            self.down_since[ns] = now

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()
            self.d.open_connections -= 1

    async def disconnect(self, ns: str | None) -> None:
        if ns is None:
            await self.close()
        elif ns in self.sockets:
            await self.sockets[ns].disconnect()

    async def reconnect(self, within: float, *, explicit: bool = False) -> None:
        await disruptions.reconnect(self, within, explicit=explicit)

    async def fault(self, step: m.Fault) -> None:
        await disruptions.fault(self, step)

    async def stall(self, step: m.Stall) -> None:
        await disruptions.stall(self, step)

    # -- rooms and pushes -----------------------------------------------------------------

    async def join_leave(self, step: m.Join | m.Leave, join: bool) -> None:
        d = self.d
        ns = step.namespace
        sock = self.sockets.get(ns)
        if sock is None or not sock.connected:
            d.metrics.incr("steps_skipped_disconnected")
            return
        rand: dict[int, int] = {}
        room = render_value(
            step.room, self.values, lambda n: rand.setdefault(n, self.rng.randrange(n))
        )
        target = (
            f"doc:{room}" if step.event in ("subscribe document", "unsubscribe document") else room
        )
        d.membership.join_requested(self.index, ns, target, now_ns())
        try:
            reply = await sock.call(step.event, room, timeout=step.ack_timeout)
        except Exception as exc:  # AckTimeout, ConnectionClosed: the request's fate is unknown,
            # so the room stays *pending*: deliveries to it are neither required nor leaks
            d.violation(
                ViolationKind.ACK_TIMEOUT,
                self.index,
                ns,
                step.event,
                f"{step.event} {room!r}: {type(exc).__name__} {exc}",
            )
            return
        if isinstance(reply, dict) and reply.get("ok") is False:
            d.membership.cancel_pending(self.index, ns, target)
            d.violation(
                ViolationKind.ACK_MISMATCH,
                self.index,
                ns,
                step.event,
                f"{step.event} {room!r} refused: {reply.get('error')}",
            )
            return
        if isinstance(reply, dict) and isinstance(reply.get("room"), str):
            target = reply["room"]
        now = now_ns()
        rooms = self.rooms.setdefault(ns, [])
        if join:
            d.membership.joined(self.index, ns, target, now)
            if target not in rooms:
                rooms.append(target)
            self.values["room"] = target
        else:
            d.membership.left(self.index, ns, target, now)
            if target in rooms:
                rooms.remove(target)
            self.values["room"] = rooms[-1] if rooms else ""

    async def expect_push(self, step: m.Listen) -> None:
        sock = self.sockets.get(step.namespace)
        if sock is None:
            return
        for _ in range(step.count):
            try:
                await sock.wait_for(step.event, timeout=step.within)
            except TimeoutError:
                self.d.violation(
                    ViolationKind.MISSING,
                    self.index,
                    step.namespace,
                    step.event,
                    f"no {step.event!r} push within {step.within:g} s",
                )
                return

    # -- emitting ---------------------------------------------------------------------------

    def pick_peer(self, how: str, ns: str) -> int | None:
        n = len(self.d.vus)
        member = self.d.membership.is_connected
        if how in ("next", "previous"):
            step = 1 if how == "next" else -1
            for k in range(1, n):
                peer = self.d.client_ids[(self.d.position[self.index] + step * k) % n]
                if member(peer, ns):
                    return peer
            return None
        for _ in range(32):
            peer = self.d.client_ids[self.rng.randrange(n)]
            if peer != self.index and member(peer, ns):
                return peer
        return None

    def emit(self, step: m.Emit, intended: int | None) -> None:
        d = self.d
        ns = step.namespace
        sock = self.sockets.get(ns)
        if sock is None or not sock.connected:
            d.metrics.incr("emits_skipped_disconnected")
            return
        values = self.values
        peer = None
        if step.peer is not None:
            peer = self.pick_peer(step.peer, ns)
            if peer is None:
                d.metrics.incr("emits_skipped_no_peer")
                return
            values["peer"] = peer
            values["peer_sid"] = d.membership.sid(peer, ns) or ""
        self.seq += 1
        values["seq"] = self.seq
        rand: dict[int, int] = {}
        pick = lambda n: rand.setdefault(n, self.rng.randrange(n))  # noqa: E731
        if step.args is not None:
            args = [render_value(a, values, pick) for a in step.args]
        else:
            data = render_value(step.data, values, pick)
            args = [] if data is None and step.stamp is None else [data]
        sent = intended if intended is not None else now_ns()
        stamp = None
        if step.stamp is not None:
            stamp = Stamp.new(d.run_id, self.index, self.seq, sent)
            key = "auto" if step.stamp == "auto" else step.stamp
            args[0] = embed_stamp(args[0] if args else None, stamp, key)
            for k, exp in enumerate(step.expect):
                d.expect(stamp, k, exp, self.index, ns, peer, values, pick)
        d.metrics.incr("emits")
        if step.ack:
            self.acks += 1
            ack_key = (self.index, ns, self.acks)
            d.pending_acks += 1
            d.oracle.expect_ack(
                ack_key, self.index, ns, sent, int(step.ack_timeout * _S), step.event
            )
            sock.emit_with_ack_callback(
                step.event,
                *args,
                callback=d.ack_callback(ack_key),
                timeout=step.ack_timeout * 2 + 1,
            )
        else:
            sock.emit(step.event, *args)


def _first_arg(*args: Any) -> Any:
    return args[0] if args else None


def _is_limit(exc: BaseException) -> bool:
    """EMFILE / ENFILE (descriptors) or EADDRNOTAVAIL (ephemeral ports) anywhere in the chain."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OSError) and exc.errno in (23, 24, 99):
            return True
        text = str(exc)
        if "Too many open files" in text or "Cannot assign requested address" in text:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        seen += 1
    return False
