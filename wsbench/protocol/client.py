"""The client role of Engine.IO v4 + Socket.IO v5 as a sans-I/O state machine.

Theory of operation
-------------------
A :class:`ClientSession` is one Engine.IO session seen from the client,
multiplexing any number of Socket.IO namespaces. It never does I/O, never
starts a task and never reads a clock: the I/O layer feeds it what arrived
and drains what to do, like websockets' ``Protocol``::

    session.receive_message(frame, now)      # one WebSocket frame / polling record
    session.receive_payload(body, now)       # one polling GET body
    session.receive_closed(now, reason)      # the transport is gone
    session.handle_deadline(now)             # when now >= session.next_deadline()
    for event in session.events_received(): ...      # Opened, Connected, EventReceived...
    for message in session.messages_to_send(): ...   # Engine.IO-encoded, ready to write

Automatic replies live here: a server PING is answered with PONG in the same
call, CONNECT packets are (re)sent when the Engine.IO session opens, and
emits made before a namespace is connected are buffered and flushed on its
CONNECT answer, as socket.io-client does.

States. The Engine.IO session goes ``OPENING -> OPEN -> CLOSED``; after a
close, :meth:`ClientSession.reopen` starts a new Engine.IO session on the same
object so namespaces, recovery data (pid, offset) and ack counters survive a
reconnection. Each namespace is ``CONNECTING``, ``CONNECTED`` or
``DISCONNECTED``; only *active* namespaces (connect() called, not refused, not
disconnected by either side) are connected again on reopen.

Peer errors never raise: they become :class:`ProtocolViolation` events. Fatal
ones also close the session, where socket.io-client closes: an undecodable
Engine.IO packet closes with ``transport error``, an undecodable Socket.IO
packet with ``parse error``. Caller misuse raises :class:`InvalidState` or
:class:`LocalProtocolError` at once.

Layout. This module is the Engine.IO half (handshake, heartbeat, polling
payloads, upgrade, close and reopen); the Socket.IO half (namespaces, events,
acks, and the hot-path decoders of plain EVENT and ACK frames) is the base
class in :mod:`wsbench.protocol.client_namespaces`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wsbench.exceptions import InvalidState, LocalProtocolError, RemoteProtocolError
from wsbench.protocol.client_namespaces import (
    CLOSED,
    CONNECTING,
    EIO_SPEC,
    OPEN,
    OPENING,
    EioState,
    FastEvent,
    NamespaceLayer,
)
from wsbench.protocol.engineio import RECORD_SEPARATOR, EioPacket, OpenInfo
from wsbench.protocol.events import (
    Closed,
    DisconnectReason,
    Opened,
    SessionEvent,
    Upgraded,
)
from wsbench.protocol.parser import DEFAULT, Parser
from wsbench.protocol.reconnect import Namespace, NamespaceState
from wsbench.protocol.socketio import DEFAULT_MAX_ATTACHMENTS

__all__ = [
    "ClientSession",
    "EioState",
    "FastEvent",
    "Namespace",
    "NamespaceState",
    "polling_payloads",
]

WEBSOCKET = "websocket"
POLLING = "polling"


def _b64(data: bytes) -> str:
    import base64

    return "b" + base64.b64encode(data).decode("ascii")


def polling_payloads(messages: Sequence[str], max_payload: int) -> list[str]:
    """Join polling records into POST bodies of at most ``max_payload`` UTF-8 bytes each.

    Spec "HTTP long-polling": records are joined with ``\\x1e``; "clients use
    maxPayload to decide how many packets to batch". A record larger than the
    limit still goes alone (the server will refuse it, which is its call).
    """
    bodies: list[str] = []
    current: list[str] = []
    size = 0
    for record in messages:
        n = len(record) if record.isascii() else len(record.encode("utf-8"))
        if current and size + 1 + n > max_payload:
            bodies.append(RECORD_SEPARATOR.join(current))
            current, size = [], 0
        size += n + (1 if current else 0)
        current.append(record)
    if current:
        bodies.append(RECORD_SEPARATOR.join(current))
    return bodies


@dataclass(slots=True)
class _Upgrade:
    probe_answered: bool = False
    pending: list[str | bytes] = field(default_factory=list)


class ClientSession(NamespaceLayer):
    """One Engine.IO v4 session, client side, with its Socket.IO namespaces.

    The namespace half (connect, emit, ack, events) is
    :class:`~wsbench.protocol.client_namespaces.NamespaceLayer`.

    Args:
        transport: ``"websocket"`` or ``"polling"``: how frames are encoded
            (binary is a raw frame on WebSocket, ``b`` + base64 on polling).
        max_attachments: the strict decoder's attachment limit.
        parser: the Socket.IO parser (:data:`~wsbench.protocol.parser.DEFAULT` or
            :data:`~wsbench.protocol.parser.MSGPACK`, whose packets are all binary).
    """

    def __init__(
        self,
        transport: str = WEBSOCKET,
        *,
        max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
        parser: Parser = DEFAULT,
    ) -> None:
        if transport not in (WEBSOCKET, POLLING):
            raise LocalProtocolError(f"unknown transport {transport!r}")
        super().__init__(max_attachments, parser)
        self.transport = transport
        self.state = OPENING
        self.info: OpenInfo | None = None
        self._ping_deadline: float | None = None
        self._heartbeat = 0.0
        self._upgrade: _Upgrade | None = None

    # -- introspection -----------------------------------------------------------------

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id (not a namespace socket id)."""
        return self.info.sid if self.info is not None else None

    @property
    def upgrading(self) -> bool:
        return self._upgrade is not None

    # -- draining ----------------------------------------------------------------------

    def events_received(self) -> list[SessionEvent]:
        """Drain what happened since the last call, in order."""
        events = self._events
        if not events:
            return []
        self._events = []
        return events

    def messages_to_send(self) -> list[str | bytes]:
        """Drain the Engine.IO-encoded messages to write, in order.

        WebSocket: one item per frame (``str`` text, ``bytes`` binary). Polling:
        every item is a ``str`` record; join them with :func:`polling_payloads`.
        While an upgrade is between probe and :meth:`finish_upgrade`, nothing is
        released (the reference client pauses polling and flushes on the new transport).
        """
        out = self._outbox
        if not out or self._upgrade is not None and self._upgrade.probe_answered:
            return []
        self._outbox = []
        if self.transport == POLLING:
            return [m if type(m) is str else _b64(m) for m in out]  # type: ignore[arg-type]
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_deadline` must be called next (``now`` units), or ``None``."""
        return self._ping_deadline if self.state is OPEN else None

    def handle_deadline(self, now: float) -> None:
        """Act on expired deadlines: no PING within pingInterval + pingTimeout closes.

        Spec "Heartbeat": "the client considers the connection closed if it does not
        receive a ping packet within pingInterval + pingTimeout".
        """
        if self.state is OPEN and self._ping_deadline is not None and now >= self._ping_deadline:
            self._close(DisconnectReason.PING_TIMEOUT, "no ping within pingInterval + pingTimeout")

    # -- receiving ---------------------------------------------------------------------

    def receive_payload(self, body: str | bytes, now: float) -> None:
        """Feed one long-polling response body (records joined with ``\\x1e``)."""
        if not isinstance(body, str):
            try:
                body = bytes(body).decode("utf-8")
            except UnicodeDecodeError as exc:
                self._fail(f"polling payload is not utf-8: {exc}", DisconnectReason.TRANSPORT_ERROR)
                return
        if not body:
            self._fail("empty polling payload", DisconnectReason.TRANSPORT_ERROR, body)
            return
        for record in body.split(RECORD_SEPARATOR):
            if self.state is CLOSED:
                return
            self.receive_message(record, now)

    def receive_message(self, message: str | bytes, now: float) -> None:
        """Feed one Engine.IO packet: a WebSocket frame, or one polling record."""
        if type(message) is str:
            head = message[:2]
            if head == "42":
                if self.state is OPEN and not self._awaiting and self._fast_event(message):
                    return
            elif head == "43":
                if self.state is OPEN and not self._awaiting and self._fast_ack(message):
                    return
            self._receive_text(message, now)
        elif self.state is CLOSED:
            return
        elif self.state is OPENING:
            self._fail("binary message before the handshake", DisconnectReason.TRANSPORT_ERROR)
        elif self.transport == POLLING:
            self._fail("raw binary on polling", DisconnectReason.TRANSPORT_ERROR, message)
        else:
            assert not isinstance(message, str)
            self._receive_sio(bytes(message))

    def receive_closed(
        self,
        now: float,
        reason: DisconnectReason = DisconnectReason.TRANSPORT_CLOSE,
        detail: str = "",
    ) -> None:
        """The transport closed or failed (``transport close`` / ``transport error``)."""
        if self.state is not CLOSED:
            self._close(reason, detail)

    def receive_transport_violation(self, now: float, detail: str, spec_ref: str = "") -> None:
        """The transport caught the server breaking its own protocol (an RFC 6455 rule).

        Queues a fatal :class:`ProtocolViolation` and closes with ``transport error``,
        the same way in every runtime (the asyncio and the Locust transport both call it
        with the shared codec's :class:`~wsbench.protocol.websocket.FrameViolation`).
        """
        if self.state is not CLOSED:
            self._fail(detail, DisconnectReason.TRANSPORT_ERROR, None, spec_ref)

    def _receive_text(self, message: str, now: float) -> None:
        state = self.state
        if state is CLOSED:
            return
        if self.transport == POLLING and message[:1] == "b":
            try:
                packet = EioPacket.decode(message)
            except RemoteProtocolError as exc:
                self._fail(exc.detail, DisconnectReason.TRANSPORT_ERROR, message)
                return
            if state is OPENING:
                self._fail("binary message before the handshake", DisconnectReason.TRANSPORT_ERROR)
            else:
                self._receive_sio(packet.data)
            return
        head = message[:1]
        if state is OPENING:
            if head != "0":
                self._fail(
                    f"expected OPEN, got {message[:40]!r}",
                    DisconnectReason.TRANSPORT_ERROR,
                    message,
                )
                return
            try:
                info = OpenInfo.from_json(message[1:])
            except RemoteProtocolError as exc:
                self._fail(exc.detail, DisconnectReason.TRANSPORT_ERROR, message)
                return
            self._on_open(info, now)
        elif head == "4":
            self._receive_sio(message[1:])
        elif head == "2":
            # Spec "Heartbeat": the server sends a ping, the client answers a pong.
            self._ping_deadline = now + self._heartbeat
            self._outbox.append("3")
        elif head == "6":
            pass  # NOOP: the server released a pending GET (upgrade)
        elif head == "1":
            self._close(DisconnectReason.TRANSPORT_CLOSE, "the server sent CLOSE")
        elif head == "3":
            self._violation("PONG from the server: in v4 heartbeats go server to client", message)
        elif head == "0":
            self._violation("OPEN on an open session", message)
        elif head == "5":
            self._violation("UPGRADE from the server", message)
        else:
            self._fail(f"unknown packet type {head!r}", DisconnectReason.TRANSPORT_ERROR, message)

    def _on_open(self, info: OpenInfo, now: float) -> None:
        self.info = info
        self.state = OPEN
        self._heartbeat = (info.ping_interval + info.ping_timeout) / 1000.0
        self._ping_deadline = now + self._heartbeat
        self._events.append(Opened(info))
        for ns in self._namespaces.values():
            if ns.active:
                ns.state = CONNECTING
                self._outbox.append(self._connect_message(ns))

    # -- closing and reopening ------------------------------------------------------------

    def close(self) -> None:
        """Close everything on purpose (``io client disconnect``): no reconnection.

        Queues DISCONNECT for connected namespaces (and CLOSE on polling); drain
        :meth:`messages_to_send` once more, then close the transport.
        """
        if self.state is CLOSED:
            return
        for ns in self._namespaces.values():
            if ns.active:
                self.disconnect(ns.name)
        if self.state is OPEN and self.transport == POLLING:
            self._outbox.append("1")
        self._upgrade = None
        self.state = CLOSED
        self._events.append(Closed(DisconnectReason.IO_CLIENT_DISCONNECT, "closed by the client"))

    def reopen(self, transport: str | None = None) -> None:
        """Start a new Engine.IO session after a close (reconnection).

        Active namespaces connect again on the handshake, with their pid and last offset.
        """
        if self.state is not CLOSED:
            raise InvalidState(f"cannot reopen a session that is {self.state.value}")
        if transport is not None:
            if transport not in (WEBSOCKET, POLLING):
                raise LocalProtocolError(f"unknown transport {transport!r}")
            self.transport = transport
        self.state = OPENING
        self.info = None
        for ns in self._namespaces.values():
            ns.left = False  # a new Engine.IO session carries nothing of the old one
        self._decoder.reset()
        self._awaiting = False
        self._outbox = []
        self._ping_deadline = None
        self._upgrade = None

    # -- upgrade (polling -> websocket) ---------------------------------------------------

    def start_upgrade(self) -> str:
        """Begin the upgrade; returns the probe ``2probe`` to send on the new WebSocket.

        Spec "Upgrade": the client opens a WebSocket with the same sid, sends
        ``2probe``, waits for ``3probe``, pauses polling, then sends ``5``.
        """
        if self.state is not OPEN or self.transport != POLLING or self._upgrade is not None:
            raise InvalidState("upgrade needs an open polling session not already upgrading")
        if self.info is None or WEBSOCKET not in self.info.upgrades:
            raise InvalidState("the server offers no websocket upgrade")
        self._upgrade = _Upgrade()
        return "2probe"

    def receive_probe(self, message: str | bytes, now: float) -> bool:
        """Feed a frame from the probing WebSocket. True: probe answered, pause polling.

        Anything but ``3probe`` aborts the upgrade (a violation, not fatal:
        socket.io-client reports "probe error" and stays on polling).
        """
        if self._upgrade is None or self.state is not OPEN:
            return False
        if message == "3probe":
            self._upgrade.probe_answered = True
            return True
        self._violation(f"expected 3probe, got {message!r:.60}", message, spec=EIO_SPEC)
        self._upgrade = None
        return False

    def finish_upgrade(self) -> str:
        """Polling is paused: switch to WebSocket; returns ``5`` to send on it first.

        Messages queued meanwhile are released by :meth:`messages_to_send` in
        WebSocket encoding, after the ``5``.
        """
        if self._upgrade is None or not self._upgrade.probe_answered:
            raise InvalidState("finish_upgrade() before the probe was answered")
        self._upgrade = None
        self.transport = WEBSOCKET
        self._events.append(Upgraded(WEBSOCKET))
        return "5"

    def abort_upgrade(self) -> None:
        """The probing WebSocket failed: stay on polling."""
        self._upgrade = None

    # -- failure -------------------------------------------------------------------------

    def _close(self, reason: DisconnectReason, detail: str) -> None:
        self._upgrade = None
        self._ping_deadline = None
        super()._close(reason, detail)
