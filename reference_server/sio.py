"""The Socket.IO v5 server: namespaces, middleware, sockets, acks, disconnect reasons.

Theory of operation
-------------------
:class:`SocketIOServer` is the event sink of the ``/socket.io/`` Engine.IO endpoint.
Each connection's :class:`~wsbench.protocol.server.ServerSession` reports outcome
values; the server turns them into application calls:

* ``Connected(ns, auth)`` -> unknown namespace: CONNECT_ERROR "Invalid namespace";
  recovery (``pid`` + ``offset`` known and buffered): the missed packets are replayed
  before the CONNECT answer, same sid, middlewares skipped; otherwise the
  namespace's middlewares run (a :class:`ConnectError` becomes CONNECT_ERROR
  ``{message, data}``), then the CONNECT answer, then the namespace's connection
  handler.
* ``EventReceived`` -> the socket's handler for that event, with an ``ack``
  callable when the client asked for one.
* ``AckReceived`` / ``AckTimedOut`` -> the callback given to :meth:`Socket.emit`.
* ``Disconnected(ns, reason)`` -> rooms left, disconnect handlers run with the
  server-side reason name, session saved for recovery when the reason allows it.

Handlers run synchronously inside the connection's pump; what they emit is written
before the pump returns, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from reference_server.adapter import Adapter, SavedSession
from reference_server.config import ServerConfig
from reference_server.engine import new_id
from reference_server.transport import EngineConnection
from wsbench.protocol.events import (
    AckReceived,
    AckTimedOut,
    Connected,
    Disconnected,
    DisconnectReason,
    EventReceived,
    ProtocolViolation,
    SessionEvent,
)
from wsbench.protocol.server import ServerSession, Transport

__all__ = ["ConnectError", "Namespace", "Socket", "SocketIOServer", "Operator"]

log = logging.getLogger(__name__)

AckCallback = Callable[[Exception | None, list[Any]], None]
Handler = Callable[..., Any]
Middleware = Callable[["Socket", dict[str, Any]], None]


class ConnectError(Exception):
    """Raised by a middleware to refuse a CONNECT: CONNECT_ERROR ``{message, data}``."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class Operator:
    """A broadcast target: rooms, excepted rooms, volatile (socket.io ``BroadcastOperator``)."""

    __slots__ = ("nsp", "rooms", "excepts", "volatile_")

    def __init__(
        self,
        nsp: Namespace,
        rooms: tuple[str, ...] = (),
        excepts: tuple[str, ...] = (),
        volatile: bool = False,
    ) -> None:
        self.nsp, self.rooms, self.excepts, self.volatile_ = nsp, rooms, excepts, volatile

    def to(self, *rooms: str) -> Operator:
        return Operator(self.nsp, self.rooms + rooms, self.excepts, self.volatile_)

    def except_(self, *rooms: str) -> Operator:
        return Operator(self.nsp, self.rooms, self.excepts + rooms, self.volatile_)

    @property
    def volatile(self) -> Operator:
        return Operator(self.nsp, self.rooms, self.excepts, True)

    def emit(self, event: str, *args: Any) -> int:
        nsp = self.nsp
        return nsp.adapter.broadcast(
            event, list(args), self.rooms, self.excepts, self.volatile_, nsp.server.now()
        )


class Namespace:
    """One namespace: its sockets (via the adapter), middlewares and connection handler."""

    def __init__(self, server: SocketIOServer, name: str) -> None:
        self.server = server
        self.name = name
        self.adapter: Adapter[Socket] = Adapter(name, server.config)
        self.middlewares: list[Middleware] = []
        self.on_connection: Callable[[Socket], None] = lambda socket: None

    @property
    def sockets(self) -> dict[str, Socket]:
        return self.adapter.sockets

    def use(self, middleware: Middleware) -> None:
        self.middlewares.append(middleware)

    def to(self, *rooms: str) -> Operator:
        return Operator(self, rooms)

    @property
    def volatile(self) -> Operator:
        return Operator(self, volatile=True)

    def emit(self, event: str, *args: Any) -> int:
        return Operator(self).emit(event, *args)


class Socket:
    """One client's presence in one namespace."""

    def __init__(
        self, nsp: Namespace, conn: EngineConnection, sid: str, auth: dict[str, Any]
    ) -> None:
        self.nsp = nsp
        self.conn = conn
        self.id = sid
        self.auth = auth
        self.pid: str | None = None
        self.data: dict[str, Any] = {}
        self.connected = False
        self.recovered = False
        self.handlers: dict[str, Handler] = {}
        self.on_disconnect: list[Callable[[DisconnectReason], None]] = []
        self._acks: dict[int, AckCallback] = {}

    @property
    def session(self) -> ServerSession:
        return self.conn.session  # type: ignore[return-value]

    def on(self, event: str, handler: Handler) -> None:
        """Register ``handler(*args, ack=callable|None)`` for a client event."""
        self.handlers[event] = handler

    # -- rooms ----------------------------------------------------------------------------

    @property
    def rooms(self) -> frozenset[str]:
        """The rooms this socket is in (the adapter owns membership; a copy)."""
        return self.nsp.adapter.rooms_of(self.id)

    def join(self, room: str) -> None:
        if self.connected:
            self.nsp.adapter.join(self, room)

    def leave(self, room: str) -> None:
        self.nsp.adapter.leave(self, room)

    # -- emitting -------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        callback: AckCallback | None = None,
        timeout: int | None = None,
    ) -> None:
        """Emit to this socket; ``callback(err, args)`` gets the client's ack (or a timeout)."""
        if not self.connected:
            return
        if callback is None and self.nsp.server.config.recovery:
            # with recovery a direct emit goes through the adapter (room = socket id) for its offset
            self.nsp.adapter.broadcast(event, list(args), (self.id,), (), False, self.conn.now())
            return
        session = self.session
        ack_id = session.emit(
            self.nsp.name, event, *args, ack=callback is not None, timeout=timeout,
            now=self.conn.now(),
        )  # fmt: skip
        if ack_id is not None and callback is not None:
            self._acks[ack_id] = callback
        self.conn.pump()

    def volatile_emit(self, event: str, *args: Any) -> None:
        """socket.volatile.emit: dropped when the transport is not writable."""
        if self.connected:
            self.nsp.adapter.broadcast(event, list(args), (self.id,), (), True, self.conn.now())

    def to(self, *rooms: str) -> Operator:
        """socket.to(room): the room's members except this socket."""
        return Operator(self.nsp, rooms, self._self_except())

    @property
    def broadcast(self) -> Operator:
        return Operator(self.nsp, (), self._self_except())

    def _self_except(self) -> tuple[str, ...]:
        return () if self.nsp.server.config.has_fault("broadcast-to-sender") else (self.id,)

    def send_ack(self, ack_id: int, args: Iterable[Any]) -> None:
        config = self.nsp.server.config
        if config.has_fault("drop-acks") or not self.connected:
            return
        if config.has_fault("drop-some-acks"):  # every 10th ACK of the server, counted
            server = self.nsp.server
            server.acks_counted += 1
            if server.acks_counted % 10 == 0:
                return
        args = list(args)
        if config.has_fault("late-acks"):
            self.conn.loop.call_later(2.0, self._send_ack_now, ack_id, args)
            return
        self._send_ack_now(ack_id, args)

    def _send_ack_now(self, ack_id: int, args: list[Any]) -> None:
        if self.connected and not self.conn.session.closed:
            self.session.ack(self.nsp.name, ack_id, args)
            self.conn.pump()

    def disconnect(self, close: bool = False) -> None:
        """Server-side disconnect (``server namespace disconnect``); ``close`` ends the connection."""
        if not self.connected:
            return
        if close:
            self.conn.close(DisconnectReason.FORCED_SERVER_CLOSE)
            return
        self.session.disconnect(self.nsp.name)
        self.conn.pump()

    # -- driven by the server ---------------------------------------------------------------

    def _dispatch(self, event: str, args: list[Any], ack_id: int | None) -> None:
        handler = self.handlers.get(event)
        if handler is None:
            return  # docs/events.md: events a namespace does not list are ignored
        ack = None
        if ack_id is not None:
            sent = False

            def ack(*values: Any) -> None:
                nonlocal sent
                if not sent:  # an ack may be answered once
                    sent = True
                    self.send_ack(ack_id, values)

        handler(*args, ack=ack)

    def _on_ack(self, ack_id: int, err: Exception | None, args: list[Any]) -> None:
        callback = self._acks.pop(ack_id, None)
        if callback is not None:
            callback(err, args)


class SocketIOServer:
    """The Socket.IO layer over the ``/socket.io/`` endpoint (the endpoint's event sink)."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.namespaces: dict[str, Namespace] = {}
        self.loop_time: Callable[[], float] = lambda: 0.0
        self.acks_counted = 0  #: ACKs to client events so far (the drop-some-acks fault)

    def now(self) -> float:
        return self.loop_time()

    def of(self, name: str) -> Namespace:
        nsp = self.namespaces.get(name)
        if nsp is None:
            nsp = self.namespaces[name] = Namespace(self, name)
        return nsp

    def session_factory(self, sid: str, transport: Transport, now: float) -> ServerSession:
        c = self.config
        return ServerSession(
            sid,
            transport,
            now,
            ping_interval=c.ping_interval,
            ping_timeout=c.ping_timeout,
            max_payload=c.max_payload,
            connect_timeout=c.connect_timeout,
            upgrade_timeout=c.upgrade_timeout,
            parser=c.sio_parser,
        )

    # -- the sink ---------------------------------------------------------------------------

    def on_event(self, conn: EngineConnection, event: SessionEvent) -> None:
        if isinstance(event, EventReceived):
            socket = conn.sockets.get(event.namespace)
            if socket is not None:
                socket._dispatch(event.event, event.args, event.ack_id)
        elif isinstance(event, AckReceived):
            socket = conn.sockets.get(event.namespace)
            if socket is not None:
                socket._on_ack(event.id, None, event.args)
        elif isinstance(event, AckTimedOut):
            socket = conn.sockets.get(event.namespace)
            if socket is not None:
                socket._on_ack(event.id, TimeoutError("operation has timed out"), [])
        elif isinstance(event, Connected):
            self._on_connect(conn, event)
        elif isinstance(event, Disconnected):
            self._on_disconnect(conn, event)
        elif isinstance(event, ProtocolViolation):
            log.debug("< violation from %s: %s", conn.sid, event.detail)

    def _on_connect(self, conn: EngineConnection, event: Connected) -> None:
        session: ServerSession = conn.session  # type: ignore[assignment]
        if session.closed:
            # the CONNECT and the end of the connection arrived together (e.g. one polling
            # payload "40\x1e1", or a client gone right after CONNECT): nobody to answer
            log.debug("< CONNECT %s on %s after the connection closed", event.namespace, conn.sid)
            return
        name = event.namespace
        nsp = self.namespaces.get(name)
        if nsp is None:
            session.refuse(name, "Invalid namespace")
            return
        auth = event.auth if isinstance(event.auth, dict) else {}
        if self.config.recovery:
            pid, offset = auth.get("pid"), auth.get("offset")
            if isinstance(pid, str) and isinstance(offset, str):
                restored = nsp.adapter.restore(pid, offset, conn.now())
                if restored is not None:
                    saved, missed = restored
                    socket = Socket(nsp, conn, saved.sid, auth)
                    socket.pid, socket.recovered = pid, True
                    socket.data.update(saved.data)
                    session.accept(name, saved.sid, pid=pid, replay=missed)
                    self._connected(conn, socket, saved.rooms)
                    return
        socket = Socket(nsp, conn, new_id(), auth)
        for middleware in nsp.middlewares:
            try:
                middleware(socket, auth)
            except ConnectError as exc:
                session.refuse(name, exc.message, exc.data)
                return
            except Exception:
                log.exception("! middleware failed")
                session.refuse(name, "internal error")
                return
        if self.config.recovery:
            socket.pid = new_id()
        session.accept(name, socket.id, pid=socket.pid)
        self._connected(conn, socket, ())

    def _connected(self, conn: EngineConnection, socket: Socket, rooms: Iterable[str]) -> None:
        conn.sockets[socket.nsp.name] = socket
        socket.connected = True
        socket.nsp.adapter.add(socket, rooms)
        conn.flush()  # the CONNECT answer goes before anything the handler emits
        socket.nsp.on_connection(socket)

    def _on_disconnect(self, conn: EngineConnection, event: Disconnected) -> None:
        socket = conn.sockets.pop(event.namespace, None)
        if socket is None:
            return
        rooms = socket.nsp.adapter.remove(socket)
        socket.connected = False
        for err_callback in list(socket._acks):
            socket._on_ack(err_callback, ConnectionError(event.reason.value), [])
        for callback in socket.on_disconnect:
            try:
                callback(event.reason)
            except Exception:
                log.exception("! disconnect handler failed")
        if self.config.recovery and socket.pid is not None and event.reason.recoverable:
            socket.nsp.adapter.save(
                SavedSession(socket.id, socket.pid, rooms, dict(socket.data), 0, conn.now())
            )

    def close_all(self, connections: Iterable[EngineConnection]) -> None:
        for conn in list(connections):
            conn.close(DisconnectReason.SERVER_SHUTTING_DOWN)
