"""Engine.IO v4 packets, polling payloads and the handshake, as values.

Theory of operation
-------------------
An Engine.IO packet is one character naming its type followed by its data::

    0{"sid":...}   OPEN        1   CLOSE      2   PING      3   PONG
    4hello         MESSAGE     5   UPGRADE    6   NOOP

Only MESSAGE packets carry binary data. Over WebSocket a binary message is a
raw binary frame; over HTTP long-polling it is ``b`` followed by base64, and
packets are joined with the record separator ``\\x1e`` (spec §4 "Packet
encoding" and "HTTP long-polling"; since v4 there is no length prefix).

This module never does I/O. :meth:`EioPacket.decode` accepts any ``str`` or
``bytes`` and returns a packet or raises :class:`RemoteProtocolError`, never
another exception: the sessions turn that error into a recorded violation.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from wsbench.exceptions import LocalProtocolError, RemoteProtocolError

__all__ = [
    "PROTOCOL_VERSION",
    "RECORD_SEPARATOR",
    "EioPacketType",
    "EioPacket",
    "OpenInfo",
    "encode_payload",
    "decode_payload",
    "PING",
    "PONG",
    "NOOP",
    "UPGRADE",
    "CLOSE",
    "PING_PROBE",
    "PONG_PROBE",
]

PROTOCOL_VERSION = 4
RECORD_SEPARATOR = "\x1e"

_SPEC = "engine.io-protocol v4"
_KNOWN_OPEN_FIELDS = frozenset(("sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"))


class EioPacketType(IntEnum):
    """Engine.IO packet types, named as in the spec."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


_TYPE_BY_CHAR = {str(t.value): t for t in EioPacketType}


@dataclass(frozen=True, slots=True)
class EioPacket:
    """One Engine.IO packet.

    Attributes:
        type: the packet type.
        data: text, or bytes for a binary MESSAGE. Empty when the packet carries nothing.
    """

    type: EioPacketType
    data: str | bytes = ""

    def __post_init__(self) -> None:
        if isinstance(self.data, bytes | bytearray | memoryview):
            if self.type is not EioPacketType.MESSAGE:
                raise LocalProtocolError(
                    f"only MESSAGE packets carry binary data, not {self.type.name}", _SPEC
                )
            if not isinstance(self.data, bytes):
                object.__setattr__(self, "data", bytes(self.data))
        elif not isinstance(self.data, str):
            raise LocalProtocolError(
                f"packet data must be str or bytes, not {type(self.data).__name__}"
            )

    @property
    def is_binary(self) -> bool:
        return isinstance(self.data, bytes)

    def encode(self) -> str | bytes:
        """Encode for a WebSocket frame: binary MESSAGE as raw bytes, everything else as text."""
        if isinstance(self.data, bytes):
            return self.data
        return _TYPE_CHARS[self.type] + self.data

    def encode_polling(self) -> str:
        """Encode for a long-polling payload: binary MESSAGE as ``b`` + base64.

        Raises:
            LocalProtocolError: text data contains the record separator ``\\x1e``.
        """
        if isinstance(self.data, bytes):
            return "b" + base64.b64encode(self.data).decode("ascii")
        if RECORD_SEPARATOR in self.data:
            # no escaping exists: the receiver would split this packet in two
            raise LocalProtocolError(
                f"text packet containing the record separator cannot be polled: {self.data[:40]!r}",
                _SPEC,
            )
        return _TYPE_CHARS[self.type] + self.data

    @classmethod
    def decode(cls, message: str | bytes) -> EioPacket:
        """Decode one WebSocket frame or one polling record.

        Raises:
            RemoteProtocolError: the input is not an Engine.IO v4 packet.
        """
        if isinstance(message, bytes | bytearray | memoryview):
            return cls(EioPacketType.MESSAGE, bytes(message))
        if not isinstance(message, str):
            raise RemoteProtocolError(f"packet must be str or bytes, not {type(message).__name__}")
        if not message:
            raise RemoteProtocolError("empty packet", _SPEC)
        head = message[0]
        if head == "b":
            try:
                data = base64.b64decode(message[1:], validate=True)
            except (binascii.Error, ValueError):
                raise RemoteProtocolError(
                    f"invalid base64 in binary packet {message[:40]!r}", _SPEC
                ) from None
            return cls(EioPacketType.MESSAGE, data)
        ptype = _TYPE_BY_CHAR.get(head)
        if ptype is None:
            raise RemoteProtocolError(f"unknown packet type {head!r}", _SPEC)
        return cls(ptype, message[1:])


_TYPE_CHARS = {t: str(t.value) for t in EioPacketType}

PING = EioPacket(EioPacketType.PING)
PONG = EioPacket(EioPacketType.PONG)
NOOP = EioPacket(EioPacketType.NOOP)
UPGRADE = EioPacket(EioPacketType.UPGRADE)
CLOSE = EioPacket(EioPacketType.CLOSE)
PING_PROBE = EioPacket(EioPacketType.PING, "probe")
PONG_PROBE = EioPacket(EioPacketType.PONG, "probe")


def encode_payload(packets: Iterable[EioPacket]) -> str:
    """Join packets into one long-polling payload (spec: "HTTP long-polling", v4 framing)."""
    return RECORD_SEPARATOR.join(p.encode_polling() for p in packets)


def decode_payload(body: str | bytes) -> list[EioPacket]:
    """Split a long-polling payload into packets.

    Raises:
        RemoteProtocolError: the body is not UTF-8, is empty, or holds an invalid packet.
    """
    if isinstance(body, bytes | bytearray | memoryview):
        try:
            body = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RemoteProtocolError(f"polling payload is not utf-8: {exc}", _SPEC) from None
    if not body:
        raise RemoteProtocolError("empty polling payload", _SPEC)
    return [EioPacket.decode(record) for record in body.split(RECORD_SEPARATOR)]


@dataclass(frozen=True, slots=True)
class OpenInfo:
    """The handshake data of an OPEN packet (spec: "Handshake").

    Times are in milliseconds, as on the wire.
    """

    sid: str
    upgrades: tuple[str, ...] = ()
    ping_interval: int = 25000
    ping_timeout: int = 20000
    max_payload: int = 1_000_000
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> str:
        return json.dumps(
            {
                "sid": self.sid,
                "upgrades": list(self.upgrades),
                "pingInterval": self.ping_interval,
                "pingTimeout": self.ping_timeout,
                "maxPayload": self.max_payload,
                **self.extra,
            },
            separators=(",", ":"),
        )

    def to_packet(self) -> EioPacket:
        return EioPacket(EioPacketType.OPEN, self.to_json())

    @classmethod
    def from_json(cls, text: str) -> OpenInfo:
        """Parse OPEN packet data strictly.

        Raises:
            RemoteProtocolError: not a JSON object with the four mandatory fields well typed.
        """
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            raise RemoteProtocolError(f"handshake is not JSON: {text[:80]!r}", _SPEC) from None
        if not isinstance(obj, dict):
            raise RemoteProtocolError(f"handshake is not a JSON object: {text[:80]!r}", _SPEC)
        sid = obj.get("sid")
        if not isinstance(sid, str) or not sid:
            raise RemoteProtocolError(
                f"handshake sid must be a non-empty string, got {sid!r}", _SPEC
            )
        upgrades = obj.get("upgrades", [])
        if type(upgrades) is not list:
            upgrades = None
        else:
            for u in upgrades:  # a loop, not all() over a generator: once per connect
                if type(u) is not str:
                    upgrades = None
                    break
        if upgrades is None:
            raise RemoteProtocolError(
                f"handshake upgrades must be a list of strings, got {obj.get('upgrades')!r}",
                _SPEC,
            )
        interval: Any = obj.get("pingInterval")  # ints once checked below
        timeout: Any = obj.get("pingTimeout")
        max_payload: Any = obj.get("maxPayload")
        # JSON integers are exactly int (type() is never bool here); one test for the three
        if not (
            type(interval) is int
            and type(timeout) is int
            and type(max_payload) is int
            and interval >= 0
            and timeout >= 0
            and max_payload >= 0
        ):
            for key in ("pingInterval", "pingTimeout", "maxPayload"):
                value = obj.get(key)
                if type(value) is not int or value < 0:
                    raise RemoteProtocolError(
                        f"handshake {key} must be a non-negative integer, got {value!r}", _SPEC
                    )
        if len(obj) == 5 and "upgrades" in obj:
            extra: dict[str, Any] = {}  # the five known fields and nothing else
        else:
            extra = {k: v for k, v in obj.items() if k not in _KNOWN_OPEN_FIELDS}
        return cls(
            sid=sid,
            upgrades=tuple(upgrades),
            ping_interval=interval,
            ping_timeout=timeout,
            max_payload=max_payload,
            extra=extra,
        )


def batch_for_payload(packets: Sequence[EioPacket], max_payload: int) -> list[list[EioPacket]]:
    """Split packets into polling payloads that each stay within ``max_payload`` bytes.

    The spec says clients use maxPayload to decide how many packets to batch. A single
    packet larger than the limit still goes alone (the server will refuse it).
    """
    batches: list[list[EioPacket]] = []
    current: list[EioPacket] = []
    size = 0
    for packet in packets:
        n = len(packet.encode_polling().encode("utf-8")) + (1 if current else 0)
        if current and size + n > max_payload:
            batches.append(current)
            current, size = [], 0
            n -= 1
        current.append(packet)
        size += n
    if current:
        batches.append(current)
    return batches


__all__.append("batch_for_payload")
