"""Server-role sans-I/O Engine.IO v4 session (:class:`EioServerSession`).

Theory of operation
-------------------
The session never does I/O and never reads a clock. The I/O layer feeds it what
arrived and when (``receive_message(msg, now)`` for one WebSocket frame,
``receive_payload(body, now)`` for one polling POST body), then drains
``messages_to_send()`` (Engine.IO packets for the current transport, in order)
and ``events_received()``; ``next_deadline()`` says when ``handle_deadline(now)``
must run next. :mod:`wsbench.protocol.server` puts Socket.IO on top.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum, StrEnum

from wsbench.exceptions import RemoteProtocolError
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
    Closed,
    DisconnectReason,
    MessageReceived,
    ProtocolViolation,
    SessionEvent,
    Upgraded,
)

__all__ = ["Transport", "EioState", "EioServerSession", "earliest", "clip"]

_EIO_SPEC = "engine.io-protocol v4"


class Transport(StrEnum):
    """Engine.IO transport names, as in the ``transport`` query parameter."""

    POLLING = "polling"
    WEBSOCKET = "websocket"


class EioState(Enum):
    OPEN = "open"
    UPGRADING = "upgrading"
    CLOSED = "closed"


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
        self._events.append(ProtocolViolation(exc.detail, exc.spec_ref, clip(raw)))
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
        return earliest((self._next_ping, self._pong_deadline, self._upgrade_deadline))

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


def earliest(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def clip(raw: str | bytes | None) -> str | bytes | None:
    return raw[:200] if raw is not None else None
