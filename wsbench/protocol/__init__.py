"""Sans-I/O Engine.IO v4 + Socket.IO v5: codecs and session state machines for both roles.

Nothing here does I/O, starts a task or reads a clock: the caller passes time
in and carries bytes out. The asyncio client (:mod:`wsbench.client`), the
Locust integration and the reference server all drive these same objects.
"""

from wsbench.protocol.engineio import (
    PROTOCOL_VERSION,
    RECORD_SEPARATOR,
    EioPacket,
    EioPacketType,
    OpenInfo,
    batch_for_payload,
    decode_payload,
    encode_payload,
)
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
from wsbench.protocol.socketio import (
    DEFAULT_MAX_ATTACHMENTS,
    RESERVED_EVENTS,
    SioDecoder,
    SioPacket,
    SioPacketType,
)

__all__ = [
    "PROTOCOL_VERSION",
    "RECORD_SEPARATOR",
    "EioPacket",
    "EioPacketType",
    "OpenInfo",
    "batch_for_payload",
    "decode_payload",
    "encode_payload",
    "AckReceived",
    "Closed",
    "ConnectRefused",
    "Connected",
    "DisconnectReason",
    "Disconnected",
    "EventReceived",
    "Opened",
    "ProtocolViolation",
    "SessionEvent",
    "Upgraded",
    "DEFAULT_MAX_ATTACHMENTS",
    "RESERVED_EVENTS",
    "SioDecoder",
    "SioPacket",
    "SioPacketType",
]
