"""Server-role sans-I/O sessions: Engine.IO v4 (:class:`EioServerSession`) and Socket.IO v5
on top of it (:class:`ServerSession`).

Theory of operation
-------------------
A session never does I/O and never reads a clock. The I/O layer feeds it what
arrived and when (``receive_message(msg, now)`` for one WebSocket frame,
``receive_payload(body, now)`` for one polling POST body), then drains

* ``messages_to_send()`` -> Engine.IO packets for the *current* transport, in
  order (the I/O layer writes them as WebSocket frames, or buffers them as
  polling records until a GET is pending), and
* ``events_received()`` -> outcome values (:mod:`wsbench.protocol.events`).

Timers are deadlines: ``next_deadline()`` says when ``handle_deadline(now)``
must be called next (ping due, pong overdue, upgrade or connect timeout, a
server->client ack timing out).

Rules (Engine.IO v4):

1. The server pings every ``pingInterval``; the client must answer within
   ``pingTimeout`` or the session closes with ``ping timeout``. The next ping is
   scheduled ``pingInterval`` after the pong.
2. A PING from the client closes the session ("invalid heartbeat direction").
3. Anything undecodable closes the session with ``parse error``.
4. Upgrade: on the probing WebSocket the client sends ``2probe`` (answered
   ``3probe``, state UPGRADING; while upgrading the I/O layer answers a GET that
   has nothing to carry with NOOP), then ``5``: the session switches transport
   and the I/O layer moves its buffered polling records onto the WebSocket.
5. A CLOSE from the client closes with ``transport close``. On polling the
   session queues a last packet for a pending GET: NOOP when the client closed,
   CLOSE otherwise.

Rules (Socket.IO v5, as socket.io 4.x ``Client.ondecoded`` enforces them):

1. CONNECT for a namespace opens it in state PENDING and reports
   :class:`Connected` with the auth payload; the server answers with
   :meth:`ServerSession.accept` or :meth:`ServerSession.refuse`.
2. Any other packet for a namespace that is not CONNECTED, a CONNECT for a
   namespace that is PENDING or CONNECTED, or a CONNECT_ERROR from the client
   closes the connection (``forced server close``, "invalid state").
3. DISCONNECT for a connected namespace reports ``client namespace disconnect``;
   the connection stays open for the other namespaces.
4. No namespace connected within ``connect_timeout``: ``forced server close``.
5. Server->client acks: :meth:`ServerSession.emit` with ``ack=True`` allocates a
   per-namespace id; the ACK is reported once (:class:`AckReceived`), or
   :class:`AckTimedOut` at its deadline after which a late ACK is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum, StrEnum
from typing import Any

from wsbench.exceptions import InvalidState, RemoteProtocolError
from wsbench.protocol.engineio import (
    CLOSE,
    NOOP,
    PING,
    PONG_PROBE,
    EioPacket,
    EioPacketType,
    OpenInfo,
    decode_payload,
)
from wsbench.protocol.events import (
    AckReceived,
    AckTimedOut,
    Closed,
    Connected,
    Disconnected,
    DisconnectReason,
    EventReceived,
    MessageReceived,
    ProtocolViolation,
    SessionEvent,
    Upgraded,
)
from wsbench.protocol.socketio import SioDecoder, SioPacket, SioPacketType

__all__ = ["Transport", "EioState", "NamespaceState", "EioServerSession", "ServerSession"]

_EIO_SPEC = "engine.io-protocol v4"
_SIO_SPEC = "socket.io-protocol v5"


class Transport(StrEnum):
    """Engine.IO transport names, as in the ``transport`` query parameter."""

    POLLING = "polling"
    WEBSOCKET = "websocket"


class EioState(Enum):
    OPEN = "open"
    UPGRADING = "upgrading"
    CLOSED = "closed"


class NamespaceState(Enum):
    PENDING = "pending"  # CONNECT received, not answered yet
    CONNECTED = "connected"


OPEN, UPGRADING, CLOSED = EioState.OPEN, EioState.UPGRADING, EioState.CLOSED


class EioServerSession:
    """The server side of one Engine.IO v4 session.

    Args:
        sid: the session id (the I/O layer generates it).
        transport: the transport the handshake came on.
        now: the time of the handshake, seconds on a monotonic clock.
        ping_interval, ping_timeout: milliseconds, as advertised.
        max_payload: bytes, as advertised; a longer polling body closes the session.
        upgrade_timeout: ms between ``2probe`` and ``5`` before the upgrade is dropped.
    """

    def __init__(
        self,
        sid: str,
        transport: Transport | str,
        now: float,
        *,
        ping_interval: int = 25000,
        ping_timeout: int = 20000,
        max_payload: int = 1_000_000,
        upgrade_timeout: int = 10000,
    ) -> None:
        self.sid = sid
        self.transport = Transport(transport)
        self.state = OPEN
        self.ping_interval = ping_interval / 1000
        self.ping_timeout = ping_timeout / 1000
        self.max_payload = max_payload
        self.upgrade_timeout = upgrade_timeout / 1000
        self.close_reason: DisconnectReason | None = None
        self.info = OpenInfo(
            sid=sid,
            # spec "Handshake": upgrades lists the transports the client may upgrade to
            upgrades=("websocket",) if self.transport is Transport.POLLING else (),
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_payload,
        )
        self.outbox: list[EioPacket] = [self.info.to_packet()]
        """Queued packets; read-only for the I/O layer (non-empty: drain with messages_to_send)."""
        self._probe_out: list[EioPacket] = []
        self._events: list[SessionEvent] = []
        self._next_ping: float | None = now + self.ping_interval
        self._pong_deadline: float | None = None
        self._upgrade_deadline: float | None = None

    # -- input -------------------------------------------------------------------------

    def receive_message(self, message: str | bytes, now: float) -> None:
        """Feed one WebSocket frame received on the current transport."""
        if self.state is CLOSED:
            return
        try:
            packet = EioPacket.decode(message)
        except RemoteProtocolError as exc:
            self._violation(exc, message)
            return
        self._receive_packet(packet, now)

    def receive_payload(self, body: str | bytes, now: float) -> None:
        """Feed one polling POST body (``\\x1e``-separated packets)."""
        if self.state is CLOSED:
            return
        if len(body) > self.max_payload:
            # engine.io: "payload too large" ends the session (the I/O layer answers 413)
            self.close(DisconnectReason.TRANSPORT_ERROR, "payload too large")
            return
        try:
            packets = decode_payload(body)
        except RemoteProtocolError as exc:
            self._violation(exc, body)
            return
        for packet in packets:
            if self.state is CLOSED:
                break
            self._receive_packet(packet, now)

    def receive_probe(self, message: str | bytes, now: float) -> None:
        """Feed one frame from the WebSocket that is probing an upgrade.

        Spec "Upgrade": ``2probe`` is answered ``3probe`` on that WebSocket (drain it
        with :meth:`probe_messages_to_send`), then ``5`` completes the upgrade.
        Anything else aborts the upgrade (the I/O layer closes the probe when
        :attr:`upgrading` is false and the transport is still polling).
        """
        if self.state is CLOSED:
            return
        try:
            packet = EioPacket.decode(message)
        except RemoteProtocolError:
            self.abort_upgrade()
            return
        if packet == EioPacket(EioPacketType.PING, "probe") and self.state is OPEN:
            self.state = UPGRADING
            self._upgrade_deadline = now + self.upgrade_timeout
            self._probe_out.append(PONG_PROBE)
            # spec: the server answers a pending GET with a noop to release it
            self.outbox.append(NOOP)
        elif packet.type is EioPacketType.UPGRADE and self.state is UPGRADING:
            self.state = OPEN
            self.transport = Transport.WEBSOCKET
            self._upgrade_deadline = None
            self.outbox = [p for p in self.outbox if p.type is not EioPacketType.NOOP]
            self._events.append(Upgraded(Transport.WEBSOCKET.value))
        else:
            self.abort_upgrade()

    def abort_upgrade(self) -> None:
        """The probing WebSocket went away (or misbehaved): stay on polling."""
        if self.state is UPGRADING:
            self.state = OPEN
        self._upgrade_deadline = None
        self._probe_out.clear()

    def can_upgrade(self) -> bool:
        return self.state is OPEN and self.transport is Transport.POLLING

    @property
    def upgrading(self) -> bool:
        return self.state is UPGRADING

    @property
    def closed(self) -> bool:
        return self.state is CLOSED

    def _receive_packet(self, packet: EioPacket, now: float) -> None:
        ptype = packet.type
        if ptype is EioPacketType.MESSAGE:
            self._events.append(MessageReceived(packet.data))
        elif ptype is EioPacketType.PONG:
            if self._pong_deadline is not None:
                self._pong_deadline = None
                self._next_ping = now + self.ping_interval
        elif ptype is EioPacketType.PING:
            # v4 reversed the heartbeat: "the server sends a ping ... the client answers"
            self.close(DisconnectReason.TRANSPORT_ERROR, "invalid heartbeat direction")
        elif ptype is EioPacketType.CLOSE:
            self.close(DisconnectReason.TRANSPORT_CLOSE, "client sent close")
        elif ptype is EioPacketType.NOOP:
            pass
        else:
            self._violation(RemoteProtocolError(f"unexpected {ptype.name} packet", _EIO_SPEC), None)

    def _violation(self, exc: RemoteProtocolError, raw: str | bytes | None) -> None:
        self._events.append(ProtocolViolation(exc.detail, exc.spec_ref, _clip(raw)))
        self.close(DisconnectReason.PARSE_ERROR, exc.detail)

    # -- output ------------------------------------------------------------------------

    def send(self, packet: EioPacket) -> None:
        """Queue a packet for the client (dropped once closed)."""
        if self.state is not CLOSED:
            self.outbox.append(packet)

    def send_message(self, data: str | bytes) -> None:
        self.send(EioPacket(EioPacketType.MESSAGE, data))

    def messages_to_send(self) -> list[EioPacket]:
        """Drain the packets for the current transport, in order."""
        out, self.outbox = self.outbox, []
        return out

    def probe_messages_to_send(self) -> list[EioPacket]:
        out, self._probe_out = self._probe_out, []
        return out

    def events_received(self) -> list[SessionEvent]:
        events, self._events = self._events, []
        return events

    # -- time --------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        if self.state is CLOSED:
            return None
        return _earliest((self._next_ping, self._pong_deadline, self._upgrade_deadline))

    def handle_deadline(self, now: float) -> None:
        if self.state is CLOSED:
            return
        if self._pong_deadline is not None and now >= self._pong_deadline:
            # spec "Heartbeat": no pong within pingTimeout -> the connection is closed
            self.close(DisconnectReason.PING_TIMEOUT, "no pong within pingTimeout")
            return
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self.abort_upgrade()
        if self._next_ping is not None and now >= self._next_ping:
            self._next_ping = None
            self._pong_deadline = now + self.ping_timeout
            self.outbox.append(PING)

    # -- closing -----------------------------------------------------------------------

    def close(self, reason: DisconnectReason, detail: str = "") -> None:
        """Close the session. Idempotent; reports :class:`Closed` once."""
        if self.state is CLOSED:
            return
        self.state = CLOSED
        self.close_reason = reason
        self._probe_out.clear()
        if self.transport is Transport.POLLING:
            # a pending GET ends with a noop when the client closed, else with a close packet
            last = NOOP if reason is DisconnectReason.TRANSPORT_CLOSE else CLOSE
            self.outbox = [p for p in self.outbox if p.type is EioPacketType.MESSAGE]
            self.outbox.append(last)
        self._events.append(Closed(reason, detail))


class ServerSession:
    """The server side of one Socket.IO v5 connection (over an :class:`EioServerSession`).

    Args:
        connect_timeout: ms a client has after the handshake to connect one namespace.
        max_attachments: binary attachments allowed per packet.
        Other arguments: see :class:`EioServerSession`.
    """

    def __init__(
        self,
        sid: str,
        transport: Transport | str,
        now: float,
        *,
        ping_interval: int = 25000,
        ping_timeout: int = 20000,
        max_payload: int = 1_000_000,
        connect_timeout: int = 45000,
        upgrade_timeout: int = 10000,
        max_attachments: int = 10,
    ) -> None:
        self.eio = EioServerSession(
            sid,
            transport,
            now,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_payload,
            upgrade_timeout=upgrade_timeout,
        )
        self.namespaces: dict[str, NamespaceState] = {}
        self._decoder = SioDecoder(max_attachments)
        self._events: list[SessionEvent] = []
        self._connect_deadline: float | None = now + connect_timeout / 1000
        self._ack_ids: dict[str, int] = {}
        # (namespace, id) -> deadline or None (no timeout)
        self._acks: dict[tuple[str, int], float | None] = {}

    # -- delegation to the Engine.IO session -------------------------------------------

    @property
    def sid(self) -> str:
        return self.eio.sid

    @property
    def transport(self) -> Transport:
        return self.eio.transport

    @property
    def closed(self) -> bool:
        return self.eio.closed

    @property
    def upgrading(self) -> bool:
        return self.eio.upgrading

    def can_upgrade(self) -> bool:
        return self.eio.can_upgrade()

    def receive_message(self, message: str | bytes, now: float) -> None:
        self.eio.receive_message(message, now)
        self._process(now)

    def receive_payload(self, body: str | bytes, now: float) -> None:
        self.eio.receive_payload(body, now)
        self._process(now)

    def receive_probe(self, message: str | bytes, now: float) -> None:
        self.eio.receive_probe(message, now)
        self._process(now)

    def abort_upgrade(self) -> None:
        self.eio.abort_upgrade()

    def messages_to_send(self) -> list[EioPacket]:
        return self.eio.messages_to_send()

    def probe_messages_to_send(self) -> list[EioPacket]:
        return self.eio.probe_messages_to_send()

    def events_received(self) -> list[SessionEvent]:
        self._process(None)
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        if self.eio.closed:
            return None
        acks = (d for d in self._acks.values() if d is not None)
        return _earliest((self.eio.next_deadline(), self._connect_deadline, *acks))

    def handle_deadline(self, now: float) -> None:
        if self.eio.closed:
            return
        self.eio.handle_deadline(now)
        if self._connect_deadline is not None and now >= self._connect_deadline:
            self._connect_deadline = None
            if not any(s is NamespaceState.CONNECTED for s in self.namespaces.values()):
                # socket.io Client: no namespace joined within connectTimeout -> close()
                self.close(DisconnectReason.FORCED_SERVER_CLOSE, "connect timeout")
        for key, deadline in list(self._acks.items()):
            if deadline is not None and now >= deadline:
                del self._acks[key]
                self._events.append(AckTimedOut(*key))
        self._process(now)

    # -- Engine.IO events -> Socket.IO packets -----------------------------------------

    def _process(self, now: float | None) -> None:
        for event in self.eio.events_received():
            if isinstance(event, MessageReceived):
                if self.eio.closed:
                    continue
                try:
                    packet = self._decoder.feed(event.data)
                except RemoteProtocolError as exc:
                    self._events.append(
                        ProtocolViolation(exc.detail, exc.spec_ref, _clip(event.data))
                    )
                    self.close(DisconnectReason.PARSE_ERROR, exc.detail)
                    continue
                if packet is not None:
                    self._receive_packet(packet)
            elif isinstance(event, Closed):
                for namespace, state in list(self.namespaces.items()):
                    if state is NamespaceState.CONNECTED:
                        self._events.append(Disconnected(namespace, event.reason))
                self.namespaces.clear()
                self._acks.clear()
                self._connect_deadline = None
                self._events.append(event)
            else:
                self._events.append(event)

    def _receive_packet(self, packet: SioPacket) -> None:
        namespace, ptype = packet.namespace, packet.type
        state = self.namespaces.get(namespace)
        if ptype is SioPacketType.CONNECT and state is None:
            self.namespaces[namespace] = NamespaceState.PENDING
            self._events.append(Connected(namespace, auth=packet.data))
            return
        if state is not NamespaceState.CONNECTED or ptype in (
            SioPacketType.CONNECT,
            SioPacketType.CONNECT_ERROR,
        ):
            # socket.io Client.ondecoded: "invalid state (packet type: N)" -> close()
            self._events.append(
                ProtocolViolation(f"invalid state for {ptype.name} in {namespace}", _SIO_SPEC)
            )
            self.close(DisconnectReason.FORCED_SERVER_CLOSE, "invalid state")
            return
        if ptype is SioPacketType.DISCONNECT:
            del self.namespaces[namespace]
            self._events.append(
                Disconnected(namespace, DisconnectReason.CLIENT_NAMESPACE_DISCONNECT)
            )
        elif packet.is_event:
            self._events.append(
                EventReceived(namespace, packet.data[0], list(packet.data[1:]), packet.id)
            )
        else:  # ACK / BINARY_ACK
            key = (namespace, packet.id)
            if key in self._acks:
                del self._acks[key]
                self._events.append(AckReceived(namespace, packet.id, list(packet.data)))
            # socket.io Socket.onack: an unknown (or timed-out) id is ignored

    # -- answers and emits -------------------------------------------------------------

    def accept(
        self,
        namespace: str,
        sid: str,
        *,
        pid: str | None = None,
        replay: Iterable[SioPacket] = (),
    ) -> None:
        """Answer a pending CONNECT: ``0[nsp,]{"sid":...[,"pid":...]}``.

        ``replay`` (connection state recovery) is sent *before* the CONNECT packet,
        as socket.io does: "the server replays the missed packets ... before the CONNECT".
        """
        self._require_state(namespace, NamespaceState.PENDING)
        self.namespaces[namespace] = NamespaceState.CONNECTED
        for packet in replay:
            self._send_packet(packet)
        payload: dict[str, Any] = {"sid": sid}
        if pid is not None:
            payload["pid"] = pid
        self._send_packet(SioPacket(SioPacketType.CONNECT, namespace, payload))

    def refuse(self, namespace: str, message: str, data: Any = None) -> None:
        """Answer a pending CONNECT with CONNECT_ERROR ``{"message", "data"?}``."""
        self._require_state(namespace, NamespaceState.PENDING)
        del self.namespaces[namespace]
        self._send_packet(SioPacket.connect_error(message, data, namespace))

    def emit(
        self,
        namespace: str,
        event: str,
        *args: Any,
        ack: bool = False,
        timeout: int | None = None,
        now: float | None = None,
    ) -> int | None:
        """Send an EVENT. With ``ack`` returns the allocated id; ``timeout`` (ms) needs ``now``."""
        self._require_state(namespace, NamespaceState.CONNECTED)
        ack_id = None
        if ack:
            # socket.io Namespace: ack ids are per namespace, from 0
            ack_id = self._ack_ids.get(namespace, 0)
            self._ack_ids[namespace] = ack_id + 1
            deadline = None
            if timeout is not None:
                if now is None:
                    raise InvalidState("an ack timeout needs the current time")
                deadline = now + timeout / 1000
            self._acks[(namespace, ack_id)] = deadline
        self._send_packet(SioPacket(SioPacketType.EVENT, namespace, [event, *args], ack_id))
        return ack_id

    def ack(self, namespace: str, ack_id: int, args: Sequence[Any] = ()) -> None:
        """Answer the client's ack id with ACK (BINARY_ACK when ``args`` hold bytes)."""
        self._require_state(namespace, NamespaceState.CONNECTED)
        self._send_packet(SioPacket.ack(ack_id, args, namespace))

    def send_packet(self, packet: SioPacket) -> None:
        """Send a ready packet (e.g. a broadcast's) on a connected namespace."""
        self._require_state(packet.namespace, NamespaceState.CONNECTED)
        self._send_packet(packet)

    def disconnect(self, namespace: str) -> None:
        """Server-side namespace disconnect: DISCONNECT ``1[nsp,]`` and forget the namespace."""
        self._require_state(namespace, NamespaceState.CONNECTED)
        del self.namespaces[namespace]
        self._acks = {k: v for k, v in self._acks.items() if k[0] != namespace}
        self._send_packet(SioPacket.disconnect(namespace))
        self._events.append(Disconnected(namespace, DisconnectReason.SERVER_NAMESPACE_DISCONNECT))

    def close(self, reason: DisconnectReason, detail: str = "") -> None:
        """Close the whole connection; every connected namespace reports ``reason``."""
        self.eio.close(reason, detail)
        self._process(None)

    def _send_packet(self, packet: SioPacket) -> None:
        if self.eio.closed:
            return
        for part in packet.encode():
            self.eio.send(EioPacket(EioPacketType.MESSAGE, part))

    def _require_state(self, namespace: str, state: NamespaceState) -> None:
        if self.eio.closed:
            raise InvalidState(f"connection {self.sid} is closed")
        if self.namespaces.get(namespace) is not state:
            raise InvalidState(f"namespace {namespace!r} is not {state.value}")


def _earliest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _clip(raw: str | bytes | None) -> str | bytes | None:
    return raw[:200] if raw is not None else None
