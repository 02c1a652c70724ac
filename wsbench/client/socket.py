"""The user's view of one namespace: emit, call, listeners, waiting for events.

Theory of operation
-------------------
A :class:`Socket` is a thin handle on a :class:`SessionHost` (in practice the
:class:`~wsbench.client.connection.Connection` that creates it) and its namespace. The
host is all a socket sees of its connection: the sans-I/O session, the event loop,
``flush()`` after a session verb and ``pump()`` to dispatch what the session queued.
The socket never imports the connection; the connection calls back into the socket
through the ``_on_*`` methods only. Sending calls the sans-I/O session and flushes inline; no
task is created per emit. Receiving is push: the connection's reader task
calls :meth:`Socket._on_event` for each EVENT, which runs the listeners
registered with :meth:`Socket.on` synchronously (an ``async def`` listener is
awaited in a task of its own, the only per-message task, and only if the user
asks for it).

Acknowledgements, both ways:

* ours: :meth:`Socket.call` awaits a future resolved by the ACK;
  :meth:`Socket.emit_with_ack_callback` stores a plain callback instead
  (cheap, for load generation). Timeouts are one lazy timer per socket over a
  heap of deadlines (:mod:`wsbench.client.acks`), not a timer per emit.
  Timed-out ids are given back to the session (``cancel_ack``) so a late ACK
  is counted, not reported as a violation;
* the server's: when an EVENT carries an ack id, the first listener's return
  value is sent back (``None`` -> no arguments, a tuple -> several).

The reserved names ``connect``, ``disconnect`` and ``connect_error`` can be
listened to as lifecycle hooks, as in socket.io-client.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from wsbench.client.acks import AckDeadlines
from wsbench.exceptions import AckTimeout, ConnectionClosed, InvalidState
from wsbench.exceptions import ConnectRefused as ConnectRefusedError
from wsbench.protocol.client import ClientSession
from wsbench.protocol.events import (
    Connected,
    ConnectRefused,
    Disconnected,
)
from wsbench.protocol.retry import RetryAction, RetryQueue, SendTry

__all__ = ["SessionHost", "Socket"]

logger = logging.getLogger(__name__)

Handler = Callable[..., Any]
AckCallback = Callable[[list[Any] | None], Any]
RetryCallback = Callable[[list[Any] | None, int], Any]
TryCallback = Callable[[int], Any]


class SessionHost(Protocol):
    """What a :class:`Socket` needs of the connection it belongs to (and nothing more)."""

    @property
    def session(self) -> ClientSession:
        """The sans-I/O session the socket's namespace lives in."""
        ...

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the connection's reader runs on."""
        ...

    def flush(self) -> None:
        """Write whatever the session queued (called after every session verb)."""
        ...

    def pump(self) -> None:
        """Dispatch the events the session queued, then flush."""
        ...


class _Detached:
    """A :class:`Socket`'s host once its connection is gone for good (see ``_detach``):
    writes nothing, as the closed connection's ``flush`` did (its transport was closed)."""

    __slots__ = ()

    def flush(self) -> None:
        return None

    def pump(self) -> None:
        return None


_DETACHED: Any = _Detached()


class Socket:
    """One namespace of a connection (see the module docstring)."""

    __slots__ = (
        "namespace", "sid", "connected", "recovered", "refused", "received",
        "_host", "_session", "_loop", "_handlers", "_any", "_waiters", "_acks", "_deadlines",
        "_connect_waiter", "_retry", "retried", "__weakref__",
    )  # fmt: skip

    def __init__(self, host: SessionHost, namespace: str) -> None:
        self.namespace = namespace
        self.sid: str | None = None
        self.connected = False
        self.recovered = False
        self.refused: ConnectRefusedError | None = None
        self.received = 0
        self._host = host
        self._session = host.session
        self._loop = host.loop  # the connection's, fixed for its life (no property per call)
        self._handlers: dict[Any, list[Handler]] = {}
        self._any: list[Handler] | tuple[()] = ()  # a list from the first on_any
        self._waiters: dict[Any, list[asyncio.Future[list[Any]]]] = {}
        self._acks: dict[int, Any] = {}  # ack id -> Future (call) or callback
        self._deadlines: AckDeadlines | None = None  # made by the first emit with a timeout
        self._connect_waiter: asyncio.Future[None] | None = None
        self._retry: RetryQueue | None = None  # created by the first emit_with_retries
        self.retried = 0  #: tries beyond the first of emit_with_retries

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<Socket {self.namespace} sid={self.sid} {state}>"

    # -- sending ---------------------------------------------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Send ``event`` with ``args`` (buffered until connected, as socket.io-client does)."""
        self._session.emit(self.namespace, event, *args)
        self._host.flush()

    def emit_with_ack_callback(
        self, event: str, *args: Any, callback: AckCallback, timeout: float | None = None
    ) -> int:
        """Send with an ack; ``callback(args)`` on the ACK, ``callback(None)`` on timeout.

        Returns the ack id. Costs one dict entry (plus one heap entry with ``timeout``).
        """
        ack_id: int = self._session.emit(self.namespace, event, *args, ack=True)  # type: ignore[assignment]
        self._acks[ack_id] = callback
        if timeout is not None:
            self._ack_deadlines().add(ack_id, timeout, event)
        self._host.flush()
        return ack_id

    def emit_with_retries(
        self,
        event: str,
        *args: Any,
        retries: int,
        timeout: float,
        callback: RetryCallback | None = None,
        on_try: TryCallback | None = None,
    ) -> None:
        """At-least-once, as socket.io-client's ``retries`` + ``ackTimeout`` (see
        :mod:`wsbench.protocol.retry`): queued behind this socket's earlier such emits, sent
        with an ack, re-sent (same arguments, new ack id) when no ACK came within
        ``timeout`` s, at most ``retries`` times more. ``callback(args, tries)`` gets the
        settling ACK's arguments, or None after the last try (or when the socket is gone);
        ``on_try(try_number)`` is called as each try leaves (1 = the first).
        """
        if self._retry is None:
            self._retry = RetryQueue(connected=self.connected)
        self._run_retry(
            self._retry.push(event, list(args), retries, timeout, (callback, on_try))
        )

    def _run_retry(self, actions: list[RetryAction]) -> None:
        for action in actions:
            if isinstance(action, SendTry):
                entry, attempt = action.entry, action.attempt
                if attempt > 1:
                    self.retried += 1
                on_try = entry.token[1]  # type: ignore[index]
                if on_try is not None:
                    self._call(on_try, [attempt])
                self.emit_with_ack_callback(
                    entry.event,
                    *entry.args,
                    callback=partial(self._retry_outcome, entry.seq, attempt),
                    timeout=entry.timeout,
                )
            else:
                callback = action.token[0]  # type: ignore[index]
                if callback is not None:
                    self._call(callback, [action.args, action.attempts])

    def _retry_outcome(self, seq: int, attempt: int, args: list[Any] | None) -> None:
        queue = self._retry
        if queue is None:
            return
        if args is None:
            why = "operation has timed out" if self.connected else "socket has been disconnected"
            self._run_retry(queue.failed(seq, attempt, why))
        else:
            self._run_retry(queue.answered(seq, attempt, args))

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Send with an ack and wait for it; returns the ACK's first argument (``emitWithAck``).

        One future and one heap entry per call: no task, no timer of its own
        (:mod:`wsbench.client.acks`).

        Raises:
            AckTimeout: no ACK within ``timeout`` seconds.
            ConnectionClosed: the namespace disconnected first.
        """
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        ack_id: int = self._session.emit(self.namespace, event, *args, ack=True)  # type: ignore[assignment]
        self._acks[ack_id] = future
        if timeout is not None:
            deadlines = self._deadlines  # not ``or``: AckDeadlines has __len__ (a frame per call)
            if deadlines is None:
                deadlines = self._ack_deadlines()
            deadlines.add(ack_id, timeout, event)
        self._host.flush()
        try:
            result = await future
        except asyncio.CancelledError:
            if self._acks.pop(ack_id, None) is not None:
                self._session.cancel_ack(self.namespace, ack_id)
            raise
        return result[0] if result else None

    async def disconnect(self) -> None:
        """Leave the namespace (``io client disconnect``); it will not reconnect."""
        self._session.disconnect(self.namespace)
        self._host.flush()
        self._host.pump()

    # -- listening -------------------------------------------------------------------------

    def on(self, event: str, handler: Handler | None = None) -> Any:
        """Call ``handler(*args)`` for every ``event``; usable as a decorator.

        If the server asked for an ack, the return value of the first handler is sent back.
        """

        def register(fn: Handler) -> Handler:
            self._handlers.setdefault(event, []).append(fn)
            return fn

        return register(handler) if handler is not None else register

    def off(self, event: str, handler: Handler | None = None) -> None:
        if handler is None:
            self._handlers.pop(event, None)
        elif handler in self._handlers.get(event, ()):
            self._handlers[event].remove(handler)

    def on_any(self, handler: Handler) -> Handler:
        """Call ``handler(event, *args)`` for every event."""
        if not self._any:
            self._any = []
        self._any.append(handler)  # type: ignore[union-attr]
        return handler

    async def wait_for(self, event: str, timeout: float | None = None) -> list[Any]:
        """Wait for the next ``event`` and return its arguments.

        Raises:
            TimeoutError: it did not come within ``timeout`` seconds.
        """
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(event, [])
        waiters.append(future)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            if not future.done() and future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(event, None)

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait for the CONNECT answer.

        Raises:
            ConnectRefused: the server answered CONNECT_ERROR.
            ConnectionClosed: the connection closed first.
            TimeoutError: no answer within ``timeout``.
        """
        if self.connected:
            return
        if self.refused is not None:
            raise self.refused
        if self._connect_waiter is None or self._connect_waiter.done():
            self._start_connect()
        assert self._connect_waiter is not None
        async with asyncio.timeout(timeout):
            await asyncio.shield(self._connect_waiter)

    def _connect_future(self) -> asyncio.Future[None] | None:
        """``None`` once connected, else the future of the CONNECT answer (not a copy).

        For :func:`wsbench.client.connect`, which waits on it with a callback (no task, no
        shield). Raises the refusal if the server refused already.
        """
        if self.connected:
            return None
        if self.refused is not None:
            raise self.refused
        if self._connect_waiter is None:
            self._start_connect()
        return self._connect_waiter

    # -- called by the connection ------------------------------------------------------------

    def _start_connect(self) -> None:
        self.refused = None
        if self._connect_waiter is None or self._connect_waiter.done():
            self._connect_waiter = self._loop.create_future()  # no get_running_loop (a getpid)

    def _on_event(self, event: Any, args: list[Any], ack_id: int | None) -> None:
        self.received += 1
        handlers = self._handlers.get(event)
        result: Any = None
        if handlers:
            try:  # the common case, one listener, without the _call frame
                result = handlers[0](*args)
            except Exception:  # documented boundary: a listener bug must not kill the reader
                logger.exception("listener %r failed", handlers[0])
            if len(handlers) > 1:
                for handler in handlers[1:]:
                    self._call(handler, args)
        if self._any:
            for handler in self._any:
                self._call(handler, [event, *args])
        waiters = self._waiters.pop(event, None) if self._waiters else None
        if waiters:
            for future in waiters:
                if not future.done():
                    future.set_result(args)
        if ack_id is not None and handlers:
            if inspect.isawaitable(result):
                asyncio.ensure_future(self._ack_later(ack_id, result))
            else:
                self._send_ack(ack_id, result)

    def _call(self, handler: Handler, args: list[Any]) -> Any:
        try:
            return handler(*args)
        except Exception:  # documented boundary: a listener bug must not kill the reader
            logger.exception("listener %r failed", handler)
            return None

    async def _ack_later(self, ack_id: int, awaitable: Any) -> None:
        try:
            value = await awaitable
        except Exception:
            logger.exception("async listener failed")
            return
        self._send_ack(ack_id, value)

    def _send_ack(self, ack_id: int, value: Any) -> None:
        args = [] if value is None else list(value) if isinstance(value, tuple) else [value]
        try:
            self._session.ack(self.namespace, ack_id, args)
        except InvalidState:
            return  # disconnected meanwhile
        self._host.flush()

    def _on_ack(self, ack_id: int, args: list[Any]) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry is None:
            return
        if isinstance(entry, asyncio.Future):
            if not entry.done():
                entry.set_result(args)
            return
        self._call(entry, [args])

    def _expire(self, ack_id: int, event: str, timeout: float) -> None:
        entry = self._acks.pop(ack_id, None)
        if entry is None:
            return
        self._session.cancel_ack(self.namespace, ack_id)
        if isinstance(entry, asyncio.Future):
            if not entry.done():
                entry.set_exception(AckTimeout(event, timeout))
        else:
            self._call(entry, [None])

    def _on_state(self, ev: Connected | ConnectRefused | Disconnected) -> None:
        waiter = self._connect_waiter
        if isinstance(ev, Connected):
            self.connected = True
            self.sid = ev.sid
            self.recovered = ev.recovered
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if self._retry is not None:
                self._run_retry(self._retry.connected())
            self._lifecycle("connect")
        elif isinstance(ev, ConnectRefused):
            self.connected = False
            self.refused = ConnectRefusedError(ev.namespace, ev.message, ev.data)
            if waiter is not None and not waiter.done():
                waiter.set_exception(self.refused)
                waiter.exception()  # mark retrieved: nobody may be waiting
            self._lifecycle("connect_error", self.refused)
        else:
            self.connected = False
            if self._retry is not None:
                self._retry.disconnected()
            self._fail_acks(ev.reason.value)
            if self._retry is not None and not ev.reason.reconnects:
                self._run_retry(self._retry.clear(ev.reason.value))
            if not ev.reason.reconnects and waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionClosed(ev.reason.value))
                waiter.exception()
            self._lifecycle("disconnect", ev.reason.value)

    def _gone(self, reason: str) -> None:
        """The connection gave up (no reconnection): fail whoever waits for a CONNECT."""
        waiter = self._connect_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionClosed(reason))
            waiter.exception()
        if self._retry is not None:
            self._retry.disconnected()
        self._fail_acks(reason)
        if self._retry is not None:
            self._run_retry(self._retry.clear(reason))

    def _detach(self) -> None:
        """The connection is gone for good (closed, or it gave up reconnecting): let go of it.

        Breaks the reference cycles a socket is part of, so that a closed connection the
        program no longer references is freed by reference counting alone, with no full
        collection (none runs inside :func:`~wsbench.client.loop.young_gc_only`, the
        driver's policy): the connection (``_host``, which holds this socket in its
        ``sockets``), the ack deadlines (they hold our bound ``_expire``) and the listeners
        (a closure that names its socket, as ``sock.on("ping", lambda: sock.emit("pong"))``
        does, is a cycle): nothing can call them any more. What users read after a close
        stays (``connected``, ``sid``, ``refused``, ``received``, ``retried``); the verbs
        behave as on a closed connection before (the session raises ``InvalidState`` for a
        namespace that is not active; what it buffers is never sent).
        """
        self._host = _DETACHED
        self._deadlines = None
        self._handlers = {}
        self._any = ()

    def _ack_deadlines(self) -> AckDeadlines:
        deadlines = self._deadlines
        if deadlines is None:
            deadlines = self._deadlines = AckDeadlines(self._loop, self._acks, self._expire)
        return deadlines

    def _fail_acks(self, reason: str) -> None:
        entries = list(self._acks.values())
        self._acks.clear()
        if self._deadlines is not None:
            self._deadlines.clear()
        for entry in entries:
            if isinstance(entry, asyncio.Future):
                if not entry.done():
                    entry.set_exception(ConnectionClosed(reason))
                    entry.exception()
            else:
                self._call(entry, [None])

    def _lifecycle(self, name: str, *args: Any) -> None:
        for handler in self._handlers.get(name, ()):
            self._call(handler, list(args))
