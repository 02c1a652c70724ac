"""Server-role sans-I/O Socket.IO v5 session (:class:`ServerSession`), on top of the
Engine.IO session of :mod:`wsbench.protocol.server_engineio`.

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
from enum import Enum
from typing import Any

from wsbench.exceptions import InvalidState, RemoteProtocolError
from wsbench.protocol.engineio import EioPacket, EioPacketType
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
)
from wsbench.protocol.parser import DEFAULT, Parser
from wsbench.protocol.server_engineio import EioServerSession, EioState, Transport
from wsbench.protocol.server_engineio import clip as _clip
from wsbench.protocol.server_engineio import earliest as _earliest
from wsbench.protocol.socketio import SioPacket, SioPacketType

__all__ = ["Transport", "EioState", "NamespaceState", "EioServerSession", "ServerSession"]

_SIO_SPEC = "socket.io-protocol v5"


class NamespaceState(Enum):
    PENDING = "pending"  # CONNECT received, not answered yet
    CONNECTED = "connected"


class ServerSession:
    """The server side of one Socket.IO v5 connection (over an :class:`EioServerSession`).

    Args:
        connect_timeout: ms a client has after the handshake to connect one namespace.
        max_attachments: binary attachments allowed per packet.
        parser: the Socket.IO parser (:mod:`wsbench.protocol.parser`); a client speaking
            another one is closed with ``parse error``, the violation naming its parser.
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
        parser: Parser = DEFAULT,
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
        self.parser = parser
        self._decoder = parser.decoder(max_attachments)
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
                    detail = exc.detail
                    other = self.parser.foreign(event.data)
                    if other is not None:
                        detail = (
                            f"the client speaks the {other} parser, "
                            f"this server the {self.parser.name} one"
                        )
                    self._events.append(ProtocolViolation(detail, exc.spec_ref, _clip(event.data)))
                    self.close(DisconnectReason.PARSE_ERROR, detail)
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
            ack_id = packet.id
            key = (namespace, ack_id)
            if ack_id is not None and key in self._acks:
                del self._acks[key]
                self._events.append(AckReceived(namespace, ack_id, list(packet.data)))
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
        for part in self.parser.encode(packet):
            self.eio.send(EioPacket(EioPacketType.MESSAGE, part))

    def _require_state(self, namespace: str, state: NamespaceState) -> None:
        if self.eio.closed:
            raise InvalidState(f"connection {self.sid} is closed")
        if self.namespaces.get(namespace) is not state:
            raise InvalidState(f"namespace {namespace!r} is not {state.value}")
