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

Hot path. ``42[...]`` and ``42/nsp,[...]`` frames take :meth:`_fast_event`,
which parses with one ``json`` call and builds only the
:class:`EventReceived`; anything irregular falls back to the strict decoder,
so validation is identical on both paths.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from wsbench.exceptions import InvalidState, LocalProtocolError, RemoteProtocolError
from wsbench.protocol.engineio import RECORD_SEPARATOR, EioPacket, OpenInfo
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    DisconnectReason,
    EventReceived,
    Opened,
    ProtocolViolation,
    SessionEvent,
    Upgraded,
)
from wsbench.protocol.reconnect import Namespace, NamespaceState, dumps_compact
from wsbench.protocol.socketio import (
    DEFAULT_MAX_ATTACHMENTS,
    RESERVED_EVENTS,
    SioDecoder,
    SioPacket,
    SioPacketType,
)

__all__ = ["ClientSession", "EioState", "Namespace", "NamespaceState", "polling_payloads"]

_EIO = "engine.io-protocol v4"
_SIO = "socket.io-protocol v5"
WEBSOCKET = "websocket"
POLLING = "polling"


class EioState(Enum):
    """Engine.IO session state, client side."""

    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


OPENING, OPEN, CLOSED = EioState.OPENING, EioState.OPEN, EioState.CLOSED
CONNECTING = NamespaceState.CONNECTING
CONNECTED = NamespaceState.CONNECTED


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


# Same strictness as wsbench.protocol.socketio (JSON.parse refuses NaN/Infinity).
_decoder = json.JSONDecoder(parse_constant=_reject_constant)
# The C scanner behind JSONDecoder.decode, called directly: no slice of the frame and no
# two whitespace regex matches per message (2.4 -> 0.8 us for a small event). Anything it
# does not accept exactly (leading/trailing whitespace, errors) goes to the strict path.
_scan = json.scanner.make_scanner(_decoder)  # type: ignore[attr-defined]
_SCAN_ERRORS = (StopIteration, ValueError, RecursionError)
_dumps = dumps_compact


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


class ClientSession:
    """One Engine.IO v4 session, client side, with its Socket.IO namespaces.

    Args:
        transport: ``"websocket"`` or ``"polling"``: how frames are encoded
            (binary is a raw frame on WebSocket, ``b`` + base64 on polling).
        max_attachments: the strict decoder's attachment limit.
    """

    def __init__(
        self, transport: str = WEBSOCKET, *, max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    ) -> None:
        if transport not in (WEBSOCKET, POLLING):
            raise LocalProtocolError(f"unknown transport {transport!r}")
        self.transport = transport
        self.state = OPENING
        self.info: OpenInfo | None = None
        self.max_attachments = max_attachments
        self._decoder = SioDecoder(max_attachments)
        self._awaiting = False  # the decoder holds a binary packet awaiting attachments
        self._namespaces: dict[str, Namespace] = {}
        self._root: Namespace | None = None
        self._events: list[SessionEvent] = []
        self._outbox: list[str | bytes] = []
        self._ping_deadline: float | None = None
        self._heartbeat = 0.0
        self._upgrade: _Upgrade | None = None
        self.late_acks = 0

    # -- introspection -----------------------------------------------------------------

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id (not a namespace socket id)."""
        return self.info.sid if self.info is not None else None

    def namespace(self, name: str) -> Namespace:
        """The client-side record of namespace ``name`` (sid, pid, offset, state).

        Raises:
            InvalidState: :meth:`connect` was never called for it.
        """
        try:
            return self._namespaces[name]
        except KeyError:
            raise InvalidState(f"namespace {name!r} was never connected") from None

    @property
    def active_namespaces(self) -> list[str]:
        """Namespaces that want to be connected (and will be again after a reopen)."""
        return [ns.name for ns in self._namespaces.values() if ns.active]

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
            if (
                message[:2] == "42"
                and self.state is OPEN
                and not self._awaiting
                and self._fast_event(message)
            ):
                return
            self._receive_text(message, now)  # type: ignore[arg-type]
        elif self.state is CLOSED:
            return
        elif self.state is OPENING:
            self._fail("binary message before the handshake", DisconnectReason.TRANSPORT_ERROR)
        elif self.transport == POLLING:
            self._fail("raw binary on polling", DisconnectReason.TRANSPORT_ERROR, message)
        else:
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
                self._outbox.append("4" + ns.connect_text())

    # -- Socket.IO -----------------------------------------------------------------------

    def _fast_event(self, message: str) -> bool:
        """Decode ``42[nsp,][id][...]`` with one json call; False means "use the strict path"."""
        n = len(message)
        if n < 4:
            return False
        c = message[2]
        if c != "[":
            i = 2
            if c == "/":
                comma = message.find(",", 3)
                if comma < 0:
                    return False
                ns = self._namespaces.get(message[2:comma])
                i = comma + 1
                if i >= n:
                    return False
            else:
                ns = self._root
            j = i
            while j < n and "0" <= message[j] <= "9":
                j += 1
            if j == i:
                if message[i] != "[":
                    return False
                ack_id = None
            else:
                ack_id = int(message[i:j])
                i = j
                if i >= n or message[i] != "[":
                    return False
            try:
                data, end = _scan(message, i)
            except _SCAN_ERRORS:
                return False
            if end != n or type(data) is not list or not data or not _valid_name(data[0]):
                return False
            self._on_event(ns, data, ack_id, message)
            return True
        try:
            data, end = _scan(message, 2)
        except _SCAN_ERRORS:
            return False
        if end != n or type(data) is not list or not data or not _valid_name(data[0]):
            return False
        self._on_event(self._root, data, None, message)
        return True

    def _on_event(
        self, ns: Namespace | None, data: list[Any], ack_id: int | None, raw: Any
    ) -> None:
        if ns is None or ns.state is not CONNECTED:
            # Recovery replays missed EVENTs *before* the CONNECT answer (our notes §2.3).
            if ns is None or ns.state is not CONNECTING or ns.pid is None:
                self._violation("EVENT for a namespace that is not connected", raw)
                return
        args = data[1:]
        offset = None
        # socket.io-client: with a pid, the last string argument is the recovery offset
        # (the server appends it to every non-volatile event without an ack id).
        if ns.pid is not None and ack_id is None and args and type(args[-1]) is str:
            offset = args.pop()
            ns.offset = offset
        self._events.append(EventReceived(ns.name, data[0], args, ack_id, offset))

    def _receive_sio(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.feed(data)
        except RemoteProtocolError as exc:
            self._awaiting = False
            self._fail(exc.detail, DisconnectReason.PARSE_ERROR, data, _SIO)
            return
        if packet is None:
            self._awaiting = True
            return
        self._awaiting = False
        ptype = packet.type
        ns = self._namespaces.get(packet.namespace)
        if ptype is SioPacketType.EVENT or ptype is SioPacketType.BINARY_EVENT:
            self._on_event(ns, packet.data, packet.id, data)
        elif ptype is SioPacketType.ACK or ptype is SioPacketType.BINARY_ACK:
            self._on_ack(ns, packet, data)
        elif ptype is SioPacketType.CONNECT:
            self._on_connect(ns, packet, data)
        elif ptype is SioPacketType.CONNECT_ERROR:
            self._on_connect_error(ns, packet, data)
        else:  # DISCONNECT
            if ns is None or ns.state is not CONNECTED:
                self._violation("DISCONNECT for a namespace that is not connected", data)
                return
            ns.disconnected()
            self._events.append(Disconnected(ns.name, DisconnectReason.IO_SERVER_DISCONNECT))

    def _on_ack(self, ns: Namespace | None, packet: SioPacket, raw: Any) -> None:
        ack_id = packet.id
        assert ack_id is not None  # the decoder guarantees it
        if ns is None or ack_id not in ns.pending:
            if ns is not None and ack_id in ns.expired:
                del ns.expired[ack_id]
                self.late_acks += 1
                return
            self._violation(f"ACK with unknown id {ack_id}", raw)
            return
        ns.pending.discard(ack_id)
        self._events.append(AckReceived(ns.name, ack_id, packet.data))

    def _on_connect(self, ns: Namespace | None, packet: SioPacket, raw: Any) -> None:
        if ns is None or ns.state is not CONNECTING:
            self._violation("CONNECT answer for a namespace that is not connecting", raw)
            return
        data = packet.data
        sid = data.get("sid") if isinstance(data, dict) else None
        if not isinstance(sid, str) or not sid:
            # socket.io-client: "It seems you are trying to reach a Socket.IO server in v2.x"
            self._violation("CONNECT answer without a sid", raw, fatal=False)
            ns.disconnected()
            self._events.append(ConnectRefused(ns.name, "invalid CONNECT answer", data))
            return
        pid = data.get("pid")
        pid = pid if isinstance(pid, str) else None
        recovered = pid is not None and pid == ns.pid and sid == ns.sid
        ns.state = CONNECTED
        ns.sid = sid
        if pid != ns.pid:
            ns.offset = None
        ns.pid = pid
        self._events.append(Connected(ns.name, sid, pid, recovered))
        if ns.buffer:
            self._outbox.extend(ns.buffer)
            ns.buffer.clear()

    def _on_connect_error(self, ns: Namespace | None, packet: SioPacket, raw: Any) -> None:
        if ns is None or ns.state is not CONNECTING:
            self._violation("CONNECT_ERROR for a namespace that is not connecting", raw)
            return
        data = packet.data
        if isinstance(data, dict):
            message = data.get("message")
            message = message if isinstance(message, str) else str(message)
            extra = data.get("data")
        else:  # protocol v4 used a plain string
            message, extra = str(data), None
        ns.disconnected()
        self._events.append(ConnectRefused(ns.name, message, extra))

    # -- sending -------------------------------------------------------------------------

    def connect(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> None:
        """Connect ``namespace``; CONNECT goes out now if open, else on the handshake.

        Raises:
            InvalidState: the namespace is already active.
            LocalProtocolError: bad namespace name or auth.
        """
        if not namespace.startswith("/") or "," in namespace:
            raise LocalProtocolError(
                f"namespace must start with '/' and hold no ',': {namespace!r}"
            )
        if auth is not None and not isinstance(auth, dict):
            raise LocalProtocolError(f"auth must be a dict, got {type(auth).__name__}", _SIO)
        if auth is not None:
            try:
                _dumps(auth)
            except (TypeError, ValueError) as exc:
                raise LocalProtocolError(f"auth is not JSON-serializable: {exc}") from None
        ns = self._namespaces.get(namespace)
        if ns is None:
            ns = self._namespaces[namespace] = Namespace(namespace)
            if namespace == "/":
                self._root = ns
        elif ns.active:
            raise InvalidState(f"namespace {namespace!r} is already {ns.state.value}")
        ns.auth = auth
        ns.active = True
        ns.state = CONNECTING
        if self.state is OPEN:
            self._outbox.append("4" + ns.connect_text())

    def emit(self, namespace: str, event: str, *args: Any, ack: bool = False) -> int | None:
        """Send EVENT ``event`` with ``args``; returns the ack id when ``ack`` is set.

        Emits on a namespace that is still connecting (or reconnecting) are buffered
        and sent after its CONNECT answer.

        Raises:
            InvalidState: the namespace is not active.
            LocalProtocolError: reserved event name or a payload JSON cannot carry.
        """
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active:
            raise InvalidState(f"namespace {namespace!r} is not connected")
        if not _valid_name(event):
            raise LocalProtocolError(f"invalid event name {event!r}", _SIO)
        ack_id = None
        if ack:
            ack_id = ns.next_id
            ns.next_id += 1
        try:
            body = _dumps([event, *args])
        except (TypeError, ValueError):
            # bytes inside (or a genuinely bad payload): the general encoder decides.
            messages = SioPacket(SioPacketType.EVENT, namespace, [event, *args], ack_id).encode()
            messages[0] = "4" + messages[0]  # type: ignore[operator]
        else:
            if ack_id is None:
                messages = ["42" + ns.prefix + body]
            else:
                messages = ["42" + ns.prefix + str(ack_id) + body]
        if ack_id is not None:
            ns.pending.add(ack_id)
        if ns.state is CONNECTED and self.state is OPEN:
            self._outbox.extend(messages)
        else:
            ns.buffer.extend(messages)
        return ack_id

    def ack(self, namespace: str, ack_id: int, args: Sequence[Any] = ()) -> None:
        """Answer the server's EVENT ``ack_id`` with ``args`` (ACK, or BINARY_ACK if bytes)."""
        ns = self._namespaces.get(namespace)
        if ns is None or ns.state is not CONNECTED or self.state is not OPEN:
            raise InvalidState(f"namespace {namespace!r} is not connected")
        messages = SioPacket(SioPacketType.ACK, namespace, list(args), ack_id).encode()
        messages[0] = "4" + messages[0]  # type: ignore[operator]
        self._outbox.extend(messages)

    def cancel_ack(self, namespace: str, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (timed out); a late ACK is then counted, not a violation."""
        ns = self._namespaces.get(namespace)
        if ns is not None and ack_id in ns.pending:
            ns.pending.discard(ack_id)
            ns.expire(ack_id)

    def disconnect(self, namespace: str = "/") -> None:
        """Leave ``namespace``: DISCONNECT is sent and it will not reconnect."""
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active:
            return
        was_connected = ns.state is CONNECTED
        if was_connected and self.state is OPEN:
            self._outbox.append("41" + ns.prefix)
        ns.disconnected()
        if was_connected:
            self._events.append(Disconnected(namespace, DisconnectReason.IO_CLIENT_DISCONNECT))

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
        self._violation(f"expected 3probe, got {message!r:.60}", message, spec=_EIO)
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

    def _violation(self, detail: str, raw: Any, *, fatal: bool = False, spec: str = _SIO) -> None:
        self._events.append(ProtocolViolation(detail, spec, _raw(raw), fatal))

    def _fail(
        self, detail: str, reason: DisconnectReason, raw: Any = None, spec: str = _EIO
    ) -> None:
        self._events.append(ProtocolViolation(detail, spec, _raw(raw), True))
        self._close(reason, detail)

    def _close(self, reason: DisconnectReason, detail: str) -> None:
        reconnects = reason.reconnects
        for ns in self._namespaces.values():
            was_connected = ns.state is CONNECTED
            ns.transport_closed(keep=reconnects)
            if was_connected:
                self._events.append(Disconnected(ns.name, reason))
        self.state = CLOSED
        self._outbox = []
        self._upgrade = None
        self._ping_deadline = None
        self._events.append(Closed(reason, detail))


def _valid_name(name: Any) -> bool:
    if type(name) is str:
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


def _raw(raw: Any) -> str | bytes | None:
    if raw is None or isinstance(raw, str | bytes):
        return raw
    return bytes(raw)
