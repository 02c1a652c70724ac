"""The Socket.IO half of the client session: namespaces, events, acks (sans-I/O).

Theory of operation
-------------------
:class:`NamespaceLayer` is the base of :class:`~wsbench.protocol.client.ClientSession`:
everything that happens *inside* an open Engine.IO session, per namespace. It
keeps the :class:`~wsbench.protocol.reconnect.Namespace` records (state, sid,
recovery pid and offset, ack ids, emits buffered until the CONNECT answer),
decodes Socket.IO packets (strictly, through
:class:`~wsbench.protocol.socketio.SioDecoder`) and encodes emits and acks into
the session's outbox. The Engine.IO half (handshake, heartbeat, upgrade, close)
lives in the subclass, which sets :attr:`state` and owns :meth:`_close`.

Hot paths. Plain ``42[...]`` / ``42/nsp,[...]`` EVENTs and ``43[/nsp,]<id>[...]``
ACKs are decoded with one call of the C JSON scanner behind
:data:`~wsbench.protocol.socketio.STRICT_JSON` (no slice of the frame, no
whitespace regex: 2.4 -> 0.8 us for a small event). Anything the scanner does not
accept exactly (leading/trailing whitespace, errors), or that is irregular,
falls back to the strict decoder, so validation is identical on both paths.
:meth:`NamespaceLayer.receive_event` returns a plain EVENT to the caller
instead of queuing an :class:`EventReceived`, and :meth:`NamespaceLayer.receive_ack`
an ACK instead of an :class:`AckReceived`, for I/O layers that dispatch them at
once (the asyncio client's broadcast and acked-emit paths).

Parsers. The layer takes a :class:`~wsbench.protocol.parser.Parser` (the default
JSON one unless told). The hot paths above are the default parser's; with any other
parser they are switched off per instance (``receive_event``/``receive_ack`` answer
``None``), so the default parser pays nothing for the choice. Another parser's
packets are encoded by it and fed to its decoder; when the decoder refuses a message
that the *other* parser reads (:meth:`~wsbench.protocol.parser.Parser.foreign`), the
violation says so in one line ("the server speaks the msgpack parser; run with
--parser msgpack") instead of reporting a malformed frame.

Leaving a namespace. Socket.IO does not acknowledge a client DISCONNECT, so after
:meth:`NamespaceLayer.disconnect` the server may still deliver EVENTs, ACKs and its
own DISCONNECT for that namespace that it sent before it read ours. Those are legal:
the record remembers that the client left (``Namespace.left``) and such packets are
dropped silently and counted in :attr:`NamespaceLayer.dropped_after_leave`. The grace
ends with the answer (CONNECT or CONNECT_ERROR) to the next :meth:`~NamespaceLayer.connect`
of it, not with the call: the server reads our DISCONNECT before that CONNECT, so
everything it sent for the old membership precedes the answer, and a client that
rejoins quickly still gets old copies until then. It also ends with the Engine.IO session.
A packet for a namespace the client never connected (or that the server
disconnected, or that refused it) stays a violation.
"""

from __future__ import annotations

import json.scanner
from collections.abc import Sequence
from enum import Enum
from typing import Any

from wsbench.exceptions import InvalidState, LocalProtocolError, RemoteProtocolError
from wsbench.protocol.events import (
    AckReceived,
    Closed,
    Connected,
    ConnectRefused,
    Disconnected,
    DisconnectReason,
    EventReceived,
    ProtocolViolation,
    SessionEvent,
)
from wsbench.protocol.parser import DEFAULT, Parser, mismatch_message
from wsbench.protocol.reconnect import Namespace, NamespaceState
from wsbench.protocol.socketio import (
    MAX_ACK_ID,
    MAX_JSON_DEPTH,
    RESERVED_EVENTS,
    STRICT_JSON,
    SioPacket,
    SioPacketType,
    dumps,
)

__all__ = ["EioState", "FastEvent", "NamespaceLayer"]


class EioState(Enum):
    """Engine.IO session state, client side."""

    OPENING = "opening"
    OPEN = "open"
    CLOSED = "closed"


OPENING, OPEN, CLOSED = EioState.OPENING, EioState.OPEN, EioState.CLOSED
CONNECTING = NamespaceState.CONNECTING
CONNECTED = NamespaceState.CONNECTED
EIO_SPEC = "engine.io-protocol v4"
SIO_SPEC = "socket.io-protocol v5"

# typeshed types make_scanner's argument as a make_scanner; it is the decoder whose options it reads
_scan = json.scanner.make_scanner(STRICT_JSON)  # type: ignore[arg-type]
_SCAN_ERRORS = (StopIteration, ValueError, RecursionError)

FastEvent = tuple[str, Any, list[Any], "int | None"]
"""``(namespace, event, args, ack_id)`` as :meth:`NamespaceLayer.receive_event` returns it."""

_ACK_ID_DIGITS = len(str(MAX_ACK_ID))


def _ack_id(message: str, i: int, j: int) -> int:
    """The ack id in ``message[i:j]`` (ASCII digits), or -1 when above :data:`MAX_ACK_ID`
    (``int()`` raises past 4,300 digits: never call it on an unbounded run)."""
    if j - i > _ACK_ID_DIGITS:
        return -1
    value = int(message[i:j])
    return value if value <= MAX_ACK_ID else -1


def _deep(message: str) -> bool:
    """Whether the strict path must judge the nesting depth (more brackets than the limit)."""
    return message.count("[") + message.count("{") > MAX_JSON_DEPTH


_SHALLOW = 2 * MAX_JSON_DEPTH + 3
"""No message of at most this many characters that the scanner read whole nests deeper than
the limit: that takes MAX_JSON_DEPTH + 1 opening brackets and as many closing ones after the
2-character packet type. The hot paths call :func:`_deep` (two ``str.count``, ~3,400
instructions under callgrind) only for longer messages: a broadcast copy is shorter (issue 14)."""


class NamespaceLayer:
    """Socket.IO namespaces of one client session (see the module docstring)."""

    state: EioState

    def __init__(self, max_attachments: int, parser: Parser = DEFAULT) -> None:
        self.max_attachments = max_attachments
        self.parser = parser
        self._json = parser is DEFAULT
        self._decoder = parser.decoder(max_attachments)
        if not self._json:  # the hot paths read the default parser's text only
            self.receive_event = _not_that  # type: ignore[method-assign]
            self.receive_ack = _not_that  # type: ignore[method-assign]
            self._fast_event = _not_handled  # type: ignore[method-assign]
            self._fast_ack = _not_handled  # type: ignore[method-assign]
        self._awaiting = False  # the decoder holds a binary packet awaiting attachments
        self._namespaces: dict[str, Namespace] = {}
        self._root: Namespace | None = None
        self._events: list[SessionEvent] = []
        self._outbox: list[str | bytes] = []
        self.late_acks = 0
        self.dropped_after_leave = 0  # packets for a namespace the client had just left

    # -- introspection -----------------------------------------------------------------

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

    def is_active(self, name: str) -> bool:
        """Whether ``name`` is among :attr:`active_namespaces` (without building the list)."""
        ns = self._namespaces.get(name)
        return ns is not None and ns.active

    # -- receiving: hot paths ------------------------------------------------------------

    def receive_event(self, message: str) -> FastEvent | None:
        """Decode a WebSocket text frame holding a plain, valid EVENT and return it.

        ``None`` means "not that": nothing was consumed, feed the frame to
        ``receive_message``. A returned event is not queued in
        ``events_received``; its recovery offset is recorded as usual.
        """
        if message[:2] != "42" or self.state is not OPEN or self._awaiting:
            return None
        if message[2:3] == "[":  # "/" without an ack id: inlined, the broadcast case
            ns = self._root
            ack_id = None
            try:
                data, end = _scan(message, 2)
            except _SCAN_ERRORS:
                return None
            if (
                end != len(message)
                or type(data) is not list
                or not data
                or (end > _SHALLOW and _deep(message))
            ):
                return None
            name = data[0]
            if type(name) is str:
                if name in RESERVED_EVENTS:
                    return None
            elif not _valid_name(name):
                return None
        else:
            decoded = self._decode_event(message)
            if decoded is None:
                return None
            ns, data, ack_id = decoded
        if ns is None or ns.state is not CONNECTED:
            return None  # the strict path reports it (or accepts a recovery replay)
        name = data[0]
        del data[0]  # the scanner's fresh list becomes the arguments (no second list)
        if ns.pid is not None and ack_id is None and data and type(data[-1]) is str:
            ns.offset = data.pop()  # see _on_event
        return ns.name, name, data, ack_id

    def _fast_event(self, message: str) -> bool:
        """``42...`` through the scanner; False means "use the strict path"."""
        decoded = self._decode_event(message)
        if decoded is None:
            return False
        self._on_event(decoded[0], decoded[1], decoded[2], message)
        return True

    def _decode_event(self, message: str) -> tuple[Namespace | None, list[Any], int | None] | None:
        n = len(message)
        if n < 4:
            return None
        if message[2] == "[":
            try:
                data, end = _scan(message, 2)
            except _SCAN_ERRORS:
                return None
            if end != n or type(data) is not list or not data or not _valid_name(data[0]):
                return None
            if n > _SHALLOW and _deep(message):
                return None
            return self._root, data, None
        i = 2
        if message[2] == "/":
            comma = message.find(",", 3)
            if comma < 0:
                return None
            ns = self._namespaces.get(message[2:comma])
            i = comma + 1
            if i >= n:
                return None
        else:
            ns = self._root
        j = i
        while j < n and "0" <= message[j] <= "9":
            j += 1
        if j >= n or message[j] != "[":
            return None
        ack_id = _ack_id(message, i, j) if j > i else None
        if ack_id == -1:
            return None  # out of range: the strict path refuses it
        try:
            data, end = _scan(message, j)
        except _SCAN_ERRORS:
            return None
        if end != n or type(data) is not list or not data or not _valid_name(data[0]):
            return None
        if n > _SHALLOW and _deep(message):
            return None
        return ns, data, ack_id

    def receive_ack(self, message: str) -> tuple[str, int, list[Any]] | None:
        """Decode a WebSocket text frame holding a plain ACK we wait for and return it.

        Returns ``(namespace, ack_id, args)`` and forgets the id, or ``None``
        ("not that": nothing consumed, feed it to ``receive_message``, which
        also reports unknown and late ids).

        ``43[/nsp,]<id>[...]`` is read here, inline (the acked-emit hot path: no decode
        frame of its own; bench/README.md "Acked emits, wave 2e"): the id is the ASCII
        digits up to the first ``[`` (one ``find`` and two C checks, not a Python loop per
        digit), the arguments one call of the C scanner; anything irregular is left to
        the strict path.
        """
        if message[:2] != "43" or self.state is not OPEN or self._awaiting:
            return None
        n = len(message)
        i = 2
        if message[2:3] == "/":
            comma = message.find(",", 3)
            if comma < 0:
                return None
            ns = self._namespaces.get(message[2:comma])
            i = comma + 1
        else:
            ns = self._root
        if ns is None:
            return None
        j = message.find("[", i)
        if j <= i or j - i > _ACK_ID_DIGITS:
            return None
        digits = message[i:j]
        if not (digits.isascii() and digits.isdigit()):
            return None
        ack_id = int(digits)
        pending = ns.pending
        if ack_id > MAX_ACK_ID or ack_id not in pending:  # unknown, late: the strict path
            return None
        try:
            data, end = _scan(message, j)
        except _SCAN_ERRORS:
            return None
        # _deep inlined; a message shorter than the depth limit cannot hold more brackets
        if (
            end != n
            or type(data) is not list
            or n > MAX_JSON_DEPTH
            and message.count("[") + message.count("{") > MAX_JSON_DEPTH
        ):
            return None
        del pending[ack_id]
        return ns.name, ack_id, data

    def _fast_ack(self, message: str) -> bool:
        """An ACK we wait for, through :meth:`receive_ack`; False: "use the strict path"
        (which also counts late ids and reports unknown ones)."""
        got = self.receive_ack(message)
        if got is None:
            return False
        self._events.append(AckReceived(*got))
        return True

    # -- receiving: the strict path ------------------------------------------------------

    def _receive_sio(self, data: str | bytes) -> None:
        try:
            packet = self._decoder.feed(data)
        except RemoteProtocolError as exc:
            self._awaiting = False
            other = self.parser.foreign(data)
            detail = exc.detail if other is None else mismatch_message(other)
            self._fail(detail, DisconnectReason.PARSE_ERROR, data, SIO_SPEC)
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
            assert packet.id is not None  # the decoder guarantees it
            self._on_ack(ns, packet.id, packet.data, data)
        elif ptype is SioPacketType.CONNECT:
            self._on_connect(ns, packet, data)
        elif ptype is SioPacketType.CONNECT_ERROR:
            self._on_connect_error(ns, packet, data)
        else:  # DISCONNECT
            if ns is None or ns.state is not CONNECTED:
                if ns is not None and ns.left:  # both sides left at once
                    self.dropped_after_leave += 1
                    return
                self._violation("DISCONNECT for a namespace that is not connected", data)
                return
            ns.disconnected()
            self._events.append(Disconnected(ns.name, DisconnectReason.IO_SERVER_DISCONNECT))

    def _on_event(
        self, ns: Namespace | None, data: list[Any], ack_id: int | None, raw: Any
    ) -> None:
        if ns is None or ns.state is not CONNECTED:
            if ns is not None and ns.left:  # sent before the server read our DISCONNECT
                self.dropped_after_leave += 1  # (a server replays nothing after a client leave)
                return
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

    def _on_ack(self, ns: Namespace | None, ack_id: int, args: Any, raw: Any) -> None:
        if ns is None or ack_id not in ns.pending:
            if ns is not None and ack_id in ns.expired:
                del ns.expired[ack_id]
                self.late_acks += 1
                return
            if ns is not None and ns.left:  # answered before the server read our DISCONNECT
                self.dropped_after_leave += 1
                return
            self._violation(f"ACK with unknown id {ack_id}", raw)
            return
        ns.pending.pop(ack_id, None)
        self._events.append(AckReceived(ns.name, ack_id, args))

    def _on_connect(self, ns: Namespace | None, packet: SioPacket, raw: Any) -> None:
        if ns is None or ns.state is not CONNECTING:
            self._violation("CONNECT answer for a namespace that is not connecting", raw)
            return
        ns.left = False  # everything of the membership we left came before this answer
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
        ns.left = False  # the server read our CONNECT: nothing older can follow
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
            raise LocalProtocolError(f"auth must be a dict, got {type(auth).__name__}", SIO_SPEC)
        if auth is not None:
            try:
                dumps(auth)
            except LocalProtocolError as exc:
                raise LocalProtocolError(f"auth is not JSON-serializable: {exc.detail}") from None
        ns = self._namespaces.get(namespace)
        if ns is None:
            ns = self._namespaces[namespace] = Namespace(namespace)
            if namespace == "/":
                self._root = ns
        elif ns.active:
            raise InvalidState(f"namespace {namespace!r} is already {ns.state.value}")
        ns.auth = auth
        ns.active = True
        ns.state = CONNECTING  # ns.left stays until the answer: old copies may precede it
        if self.state is OPEN:
            self._outbox.append(self._connect_message(ns))

    def _connect_message(self, ns: Namespace) -> str | bytes:
        """The CONNECT of ``ns`` as an Engine.IO message, in this session's parser."""
        if self._json:
            return "4" + ns.connect_text()
        return self._encode(SioPacket(SioPacketType.CONNECT, ns.name, ns.connect_data()))[0]

    def _encode(self, packet: SioPacket) -> list[str | bytes]:
        """``packet`` as Engine.IO messages (text gets the MESSAGE ``4``, binary goes as is)."""
        return ["4" + m if type(m) is str else m for m in self.parser.encode(packet)]

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
        # _valid_name inlined for a str (the emit hot path: one frame less)
        if event in RESERVED_EVENTS if type(event) is str else not _valid_name(event):
            raise LocalProtocolError(f"invalid event name {event!r}", SIO_SPEC)
        ack_id = None
        if ack:
            ack_id = ns.next_id
            ns.next_id += 1
        body = None
        if self._json:
            try:
                body = dumps([event, *args])
            except LocalProtocolError:
                pass  # bytes inside (or a genuinely bad payload): the general encoder decides
        # encoded before the id is pending: a payload the encoder refuses leaves no ack waiting
        messages = (
            None if body is not None
            else self._encode(SioPacket(SioPacketType.EVENT, namespace, [event, *args], ack_id))
        )  # fmt: skip
        if ack_id is not None:
            ns.pending[ack_id] = None
        queue = self._outbox if ns.state is CONNECTED and self.state is OPEN else ns.buffer
        if messages is None:  # one f-string (one allocation), appended as is: the emit hot path
            queue.append(
                f"42{ns.prefix}{body}" if ack_id is None else f"42{ns.prefix}{ack_id}{body}"
            )
        else:
            queue.extend(messages)
        return ack_id

    def ack(self, namespace: str, ack_id: int, args: Sequence[Any] = ()) -> None:
        """Answer the server's EVENT ``ack_id`` with ``args`` (ACK, or BINARY_ACK if bytes)."""
        ns = self._namespaces.get(namespace)
        if ns is None or ns.state is not CONNECTED or self.state is not OPEN:
            raise InvalidState(f"namespace {namespace!r} is not connected")
        self._outbox.extend(self._encode(SioPacket(SioPacketType.ACK, namespace, list(args), ack_id)))

    def cancel_ack(self, namespace: str, ack_id: int) -> None:
        """Stop waiting for ``ack_id`` (timed out); a late ACK is then counted, not a violation."""
        ns = self._namespaces.get(namespace)
        if ns is not None and ack_id in ns.pending:
            ns.pending.pop(ack_id, None)
            ns.expire(ack_id)

    def disconnect(self, namespace: str = "/") -> None:
        """Leave ``namespace``: DISCONNECT is sent and it will not reconnect."""
        ns = self._namespaces.get(namespace)
        if ns is None or not ns.active:
            return
        was_connected = ns.state is CONNECTED
        if was_connected and self.state is OPEN:
            if self._json:
                self._outbox.append("41" + ns.prefix)
            else:
                self._outbox.extend(self._encode(SioPacket(SioPacketType.DISCONNECT, namespace)))
        ns.disconnected()
        if was_connected:
            ns.left = True  # packets the server sent before reading our DISCONNECT are legal
            self._events.append(Disconnected(namespace, DisconnectReason.IO_CLIENT_DISCONNECT))

    # -- failure -------------------------------------------------------------------------

    def _violation(
        self, detail: str, raw: Any, *, fatal: bool = False, spec: str = SIO_SPEC
    ) -> None:
        self._events.append(ProtocolViolation(detail, spec, _raw(raw), fatal))

    def _fail(
        self, detail: str, reason: DisconnectReason, raw: Any = None, spec: str = EIO_SPEC
    ) -> None:
        self._events.append(ProtocolViolation(detail, spec, _raw(raw), True))
        self._close(reason, detail)

    def _close(self, reason: DisconnectReason, detail: str) -> None:
        """Every namespace learns that the Engine.IO session closed (the subclass adds more)."""
        reconnects = reason.reconnects
        for ns in self._namespaces.values():
            was_connected = ns.state is CONNECTED
            ns.left = False  # nothing of this Engine.IO session can arrive any more
            ns.transport_closed(keep=reconnects)
            if was_connected:
                self._events.append(Disconnected(ns.name, reason))
        self.state = CLOSED
        self._outbox = []
        self._events.append(Closed(reason, detail))


def _not_that(message: str) -> None:
    return None  # the hot paths' "not that: use receive_message"


def _not_handled(message: str) -> bool:
    return False


def _valid_name(name: Any) -> bool:
    if type(name) is str:
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


def _raw(raw: Any) -> str | bytes | None:
    if raw is None or isinstance(raw, str | bytes):
        return raw
    return bytes(raw)
