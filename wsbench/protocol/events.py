"""What the sans-I/O sessions report to the I/O layer: frozen outcome values.

The sessions (client role and server role) never call back into the I/O
layer. They queue these values; the I/O layer drains them with
``events_received()`` and acts. Names are past-tense outcomes so that they do
not collide with the Socket.IO EVENT packet type.

Peer violations are reported as :class:`ProtocolViolation` values, never
raised: for a conformance tool and a load generator they are findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wsbench.protocol.engineio import OpenInfo

__all__ = [
    "DisconnectReason",
    "CloseReason",
    "Opened",
    "Upgraded",
    "Closed",
    "Connected",
    "ConnectRefused",
    "Disconnected",
    "EventReceived",
    "AckReceived",
    "ProtocolViolation",
    "MessageReceived",
    "AckTimedOut",
    "SessionEvent",
]


class DisconnectReason(StrEnum):
    """Why a namespace socket disconnected, with the reference implementation's names.

    The first six are what socket.io-client reports; the rest are the server side's.
    """

    IO_SERVER_DISCONNECT = "io server disconnect"
    IO_CLIENT_DISCONNECT = "io client disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    PARSE_ERROR = "parse error"
    FORCED_CLOSE = "forced close"
    SERVER_SHUTTING_DOWN = "server shutting down"
    FORCED_SERVER_CLOSE = "forced server close"
    CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
    SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"

    @property
    def recoverable(self) -> bool:
        """Whether connection state recovery may restore the session (spec §2.3 of our notes)."""
        return self in _RECOVERABLE

    @property
    def reconnects(self) -> bool:
        """Whether socket.io-client reconnects automatically after this reason."""
        return self not in (
            DisconnectReason.IO_SERVER_DISCONNECT,
            DisconnectReason.IO_CLIENT_DISCONNECT,
        )


_RECOVERABLE = frozenset(
    {
        DisconnectReason.TRANSPORT_ERROR,
        DisconnectReason.TRANSPORT_CLOSE,
        DisconnectReason.FORCED_CLOSE,
        DisconnectReason.PING_TIMEOUT,
        DisconnectReason.SERVER_SHUTTING_DOWN,
        DisconnectReason.FORCED_SERVER_CLOSE,
    }
)

CloseReason = DisconnectReason
"""Engine.IO-level close reasons use the same vocabulary."""


@dataclass(frozen=True, slots=True)
class Opened:
    """The Engine.IO handshake completed."""

    info: OpenInfo


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The session moved from polling to ``transport`` (client: after sending UPGRADE)."""

    transport: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The Engine.IO session is closed; every namespace is disconnected with ``reason``."""

    reason: DisconnectReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Connected:
    """A namespace is connected.

    Client role: the server's CONNECT answer. Server role: a client asked to
    connect (``auth`` holds its CONNECT payload); the server decides with
    ``accept``/``refuse``.
    """

    namespace: str
    sid: str = ""
    pid: str | None = None
    recovered: bool = False
    auth: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """The server answered CONNECT with CONNECT_ERROR."""

    namespace: str
    message: str
    data: Any = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A namespace socket is disconnected."""

    namespace: str
    reason: DisconnectReason


@dataclass(frozen=True, slots=True)
class EventReceived:
    """An EVENT arrived. ``ack_id`` is set when the sender wants an acknowledgement."""

    namespace: str
    event: str
    args: list[Any] = field(default_factory=list)
    ack_id: int | None = None
    offset: str | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK arrived for one of our emits."""

    namespace: str
    id: int
    args: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke the protocol. Recorded as data; ``fatal`` says whether the session closed."""

    detail: str
    spec_ref: str = ""
    raw: str | bytes | None = None
    fatal: bool = True


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """Server role, Engine.IO level: one MESSAGE packet's data (text or bytes)."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """Server role: the client did not answer ack ``id`` in ``namespace`` in time."""

    namespace: str
    id: int


SessionEvent = (
    Opened
    | Upgraded
    | Closed
    | Connected
    | ConnectRefused
    | Disconnected
    | EventReceived
    | AckReceived
    | ProtocolViolation
    | MessageReceived
    | AckTimedOut
)
