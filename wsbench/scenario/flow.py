"""The asyncio shell of one virtual user: carries the interpreter's actions over ``wsbench.client``.

Theory of operation
-------------------
The scenario's semantics live in :mod:`wsbench.scenario.interpreter`: a
:class:`~wsbench.scenario.interpreter.UserMachine` walks the group's flow and yields
actions. A :class:`VirtualUser` is one coroutine (:meth:`VirtualUser.run`) that performs
each action on its :class:`~wsbench.client.Connection` (open and CONNECT, emit, call,
wait for a push, pause reading, abort, write a raw packet, ask the driver to restart the
server or post a notification), sends the reply back with the time, and forwards what
happens outside any step: each socket's ``connect`` / ``disconnect`` lifecycle (automatic
reconnections included: the connection applies the machine's
:attr:`~wsbench.scenario.interpreter.UserMachine.policy`) and ack callbacks. A
:class:`~wsbench.scenario.interpreter.Wait` action waits on one event the lifecycle
forwards set, bounded by the action's deadline: no verdict rests on a fixed sleep.

Receiving costs one listener call per event (:meth:`Driver.receiver`): events no
expectation names are only counted by the client; the machine is consulted only for
:meth:`~wsbench.scenario.interpreter.UserMachine.replayed`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from wsbench.client import Connection
from wsbench.exceptions import (
    ConnectFailed,
    ConnectRefused,
    InvalidState,
    ResourceLimit,
    TransportError,
)
from wsbench.metrics import now_ns
from wsbench.scenario import interpreter as i

if TYPE_CHECKING:
    from wsbench.client import Socket
    from wsbench.scenario import model as m

__all__ = ["Process", "VirtualUser"]

_S = 1_000_000_000


class Process(Protocol):
    """What the shell needs of its process (the :class:`~wsbench.scenario.driver.Driver`)."""

    scenario: m.Scenario
    url: str
    connect_timeout: float
    grace_s: float
    started: int
    stopping: bool
    stop_ramping: bool
    open_connections: int
    connected_sockets: int  #: namespace sockets connected now (the connections gauge, the peak)
    pending_acks: int

    def http_for(self, index: int) -> Any: ...
    def check_capacity(self) -> None: ...
    def closed(self, reason: str, detail: str) -> None: ...
    def receiver(self, client: int, ns: str) -> Callable[..., None]: ...
    async def restart_server(self, downtime: float) -> int | None: ...
    async def restart_redis(self, downtime: float) -> tuple[int, int, int | None] | None: ...
    async def post_notification(
        self, client: int, body: dict[str, Any], timeout: float
    ) -> i.CallReply: ...


class VirtualUser:
    """One client of the scenario on asyncio; see the module docstring."""

    def __init__(self, driver: Process, machine: i.UserMachine) -> None:
        self.d = driver
        self.machine = machine
        self.index = machine.index
        self.group = machine.group
        self.conn: Connection | None = None
        self.sockets: dict[str, Socket] = {}
        self._wake: asyncio.Event | None = None

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, start_ns: int) -> None:
        d, machine = self.d, self.machine
        delay = (start_ns - now_ns()) / _S
        if delay > 0:
            await asyncio.sleep(delay)
        if d.stop_ramping or d.stopping:
            return
        d.started += 1
        perform = self._perform
        try:
            action = machine.start(now_ns())
            while action is not None:
                reply = await perform(action)
                action = machine.resume(reply, now_ns())
        except asyncio.CancelledError:
            machine.end(now_ns(), d.grace_s)
            raise

    async def _perform(self, a: Any) -> Any:  # noqa: C901 - the dispatch
        cls = type(a)
        if cls is i.Emit:
            self._emit(a)
            return None
        if cls is i.Sleep:
            while (wait := a.until_ns - now_ns()) > 0:  # never early: timers may fire ~1 ms early
                await asyncio.sleep(wait / _S)
            if a.until_ns <= now_ns():
                await asyncio.sleep(0)
            return None
        if cls is i.Open:
            return await self._open(a)
        if cls is i.Call:
            return await self._call(a)
        if cls is i.Wait:
            await self._wait(a.deadline_ns)
            return None
        if cls is i.WaitPush:
            return await self._wait_push(a)
        if cls is i.Disconnect:
            if a.namespace is None:
                await self.close()
            elif a.namespace in self.sockets:
                await self.sockets[a.namespace].disconnect()
            return None
        if cls is i.Abort:
            if self.conn is not None:
                self.conn.abort()
            return None
        if cls is i.SendRaw:
            try:
                if self.conn is None:
                    return False
                self.conn.send_raw(a.message)
            except InvalidState:
                return False
            return True
        if cls is i.Stall:
            await self._stall(a.until_ns)
            return None
        if cls is i.RestartServer:
            return await self.d.restart_server(a.downtime)
        if cls is i.RestartRedis:
            return await self.d.restart_redis(a.downtime)
        if cls is i.PostNotification:
            return await self.d.post_notification(self.index, a.body, a.timeout, a.token)
        raise TypeError(f"the asyncio shell cannot perform {cls.__name__}")

    # -- actions ------------------------------------------------------------------------------

    def _new_connection(self) -> Connection:
        d = self.d
        d.check_capacity()
        conn = Connection(
            d.scenario.url_for(self.index, d.url),  # a cluster: this client's node
            d.http_for(self.index),
            transports=d.scenario.transport.value,
            path=d.scenario.path,
            reconnection=self.machine.policy,
            rng=self.machine.rng,
            timeout=d.connect_timeout,
            parser=d.scenario.parser,
        )
        conn.on_close = d.closed
        return conn

    async def _open(self, a: i.Open) -> i.ConnectReply:
        d = self.d
        if a.fresh and self.conn is not None:
            await self.close()
        try:
            if self.conn is None or (a.fresh and not self.conn.open):
                self.sockets = {}
                self.conn = self._new_connection()
                d.open_connections += 1
                await self.conn.start()
            waits = [self._socket(ns, a.auth).wait_connected(a.timeout) for ns in a.namespaces]
            results = await asyncio.gather(*waits, return_exceptions=True)
        except ResourceLimit as exc:
            return i.ConnectReply(error=str(exc), limit=True)
        except (ConnectFailed, TransportError, OSError) as exc:
            if _is_limit(exc):
                return i.ConnectReply(
                    error=f"local limit reached while connecting: {exc}", limit=True
                )
            return i.ConnectReply(error=f"{type(exc).__name__}: {exc}")
        outcomes = []
        for ns, res in zip(a.namespaces, results, strict=True):
            if isinstance(res, ConnectRefused):
                outcomes.append((ns, "refused", res.message))
            elif isinstance(res, TimeoutError):
                outcomes.append((ns, "timeout", ""))
            elif isinstance(res, BaseException):
                outcomes.append((ns, "error", f"{type(res).__name__} {res}"))
            else:
                outcomes.append((ns, "connected", ""))
        return i.ConnectReply(tuple(outcomes))

    def _connected(self, sock: Socket, ns: str) -> None:
        self.d.connected_sockets += 1
        self._lifecycle(self.machine.on_connected(ns, sock.sid or "", sock.recovered, now_ns()))

    def _disconnected(self, ns: str, reason: str) -> None:
        self.d.connected_sockets -= 1
        self._lifecycle(self.machine.on_disconnected(ns, reason, now_ns()))

    def _socket(self, ns: str, auth: dict[str, Any] | None) -> Socket:
        assert self.conn is not None
        known = ns in self.sockets
        sock = self.conn.socket(ns, auth)
        if not known:
            self.sockets[ns] = sock
            sock.on_any(self.d.receiver(self.index, ns))
            sock.on("connect", lambda: self._connected(sock, ns))
            sock.on("disconnect", lambda reason: self._disconnected(ns, reason))
            if ns == "/":
                group = self.group
                if group.answer_acks:  # answered with its data, after answer_acks.delay
                    sock.on("ack request", _answer_later(group.ack_delay)
                            if group.ack_delay > 0 else _first_arg)
                sock.on("ping", lambda *_: sock.emit("pong"))
        return sock

    def _lifecycle(self, wake: bool) -> None:
        if wake and self._wake is not None:
            self._wake.set()

    def _emit(self, a: i.Emit) -> None:
        sock = self.sockets.get(a.namespace)
        if sock is None:
            return
        if a.ack is None:
            sock.emit(a.event, *a.args)
            return
        key, on_ack = a.ack, self.machine.on_ack
        d = self.d

        def callback(args: list[Any] | None) -> None:
            d.pending_acks -= 1
            on_ack(key, args, now_ns())

        d.pending_acks += 1
        if a.retries:  # at-least-once: socket.io-client's retries + ackTimeout
            machine = self.machine

            def settled(args: list[Any] | None, tries: int) -> None:
                d.pending_acks -= 1
                machine.on_ack(key, args, now_ns(), tries)

            sock.emit_with_retries(
                a.event, *a.args, retries=a.retries, timeout=a.ack_timeout, callback=settled,
                on_try=lambda attempt: machine.on_try(key, attempt),
            )
            return
        sock.emit_with_ack_callback(
            a.event, *a.args, callback=callback, timeout=a.ack_timeout * 2 + 1
        )

    async def _call(self, a: i.Call) -> i.CallReply:
        sock = self.sockets.get(a.namespace)
        if sock is None:
            return i.CallReply(None, "not connected")
        try:
            reply = await sock.call(a.event, *a.args, timeout=a.timeout)
        except Exception as exc:  # AckTimeout, ConnectionClosed: no answer, and why
            return i.CallReply(None, f"{type(exc).__name__} {exc}")
        return i.CallReply([reply])

    async def _wait(self, deadline_ns: int) -> None:
        machine = self.machine
        wake = self._wake = self._wake or asyncio.Event()
        while not machine.ready():
            remaining = (deadline_ns - now_ns()) / _S
            if remaining <= 0:
                return
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), remaining)
            except TimeoutError:
                return

    async def _wait_push(self, a: i.WaitPush) -> int:
        sock = self.sockets.get(a.namespace)
        if sock is None:
            return 0
        if a.send is not None:
            # sent before the first wait_for arms its waiter, with no await in between: a push
            # is dispatched only by the loop's read callback, which cannot run before it
            self._emit(a.send)
        end = now_ns() + int(a.timeout * _S)
        for got in range(a.count):
            try:
                await sock.wait_for(a.event, timeout=max(0.0, (end - now_ns()) / _S))
            except TimeoutError:
                return got
        return a.count

    async def _stall(self, until_ns: int) -> None:
        """Stop reading until ``until_ns``; reading resumes even if cancelled."""
        conn = self.conn
        if conn is None:
            return
        conn.pause_reading()
        try:
            while (wait := until_ns - now_ns()) > 0:
                await asyncio.sleep(wait / _S)
        finally:
            if self.conn is conn:
                conn.resume_reading()

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()
            self.d.open_connections -= 1


def _first_arg(*args: Any) -> Any:
    return args[0] if args else None


def _answer_later(delay: float) -> Callable[..., Any]:
    """An ``ack request`` listener that answers after ``delay`` s (the group's
    ``answer_acks.delay``: a slow recipient of a broadcast with ack)."""

    async def answer(*args: Any) -> Any:
        await asyncio.sleep(delay)
        return args[0] if args else None

    return answer


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
