"""Socket.IO v5 packets, binary attachments and the strict decoder, as values.

Theory of operation
-------------------
A Socket.IO packet rides in one Engine.IO MESSAGE. Its text form is::

    <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]

with the namespace omitted when it is ``/`` (spec "Packet encoding")::

    0                      CONNECT to /
    0/admin,{"sid":"x"}    CONNECT answer on /admin
    4{"message":"no"}      CONNECT_ERROR
    212["foo"]             EVENT with ack id 12
    3/admin,13["bar"]      ACK 13 on /admin
    51-["baz",{"_placeholder":true,"num":0}]   BINARY_EVENT + one binary message

Binary values inside a payload are replaced by placeholders
(``{"_placeholder":true,"num":N}``) and sent as N separate binary Engine.IO
messages right after the text; :class:`SioDecoder` collects them and puts the
bytes back.

Validation follows what the reference implementation (socket.io-parser 4.2.x)
closes the connection on: unknown type, non-numeric or excessive attachment
count, CONNECT payload not an object, DISCONNECT with a payload, EVENT payload
not a non-empty array whose first element is a non-reserved string or a
number, ACK payload not an array, CONNECT_ERROR payload neither object nor
string, bad placeholders, text while attachments are awaited, binary when
none are. Decoding never raises anything but :class:`RemoteProtocolError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from wsbench.exceptions import LocalProtocolError, RemoteProtocolError

__all__ = [
    "SioPacketType",
    "SioPacket",
    "SioDecoder",
    "RESERVED_EVENTS",
    "DEFAULT_MAX_ATTACHMENTS",
    "MAX_ACK_ID",
    "parse_ack_id",
    "has_binary",
    "deconstruct",
    "reconstruct",
    "dumps",
    "STRICT_JSON",
    "MAX_JSON_DEPTH",
    "loads",
    "json_depth_exceeds",
]

_SPEC = "socket.io-protocol v5"

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names a peer may not use (socket.io-parser ``RESERVED_EVENTS``)."""

DEFAULT_MAX_ATTACHMENTS = 10
"""socket.io-parser's ``maxAttachments`` default (added in 4.2.6)."""

MAX_ACK_ID = 2**53 - 1
"""The largest ack id a peer may send (JavaScript ``Number.MAX_SAFE_INTEGER``): a longer digit
run would be a different number in Node, and past 4,300 digits ``int()`` refuses it."""
MAX_ACK_ID_DIGITS = len(str(MAX_ACK_ID))


class SioPacketType(IntEnum):
    """Socket.IO packet types, named as in the spec."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_TYPE_BY_CHAR = {str(t.value): t for t in SioPacketType}
_BINARY_TYPES = (SioPacketType.BINARY_EVENT, SioPacketType.BINARY_ACK)
_ACK_TYPES = (SioPacketType.ACK, SioPacketType.BINARY_ACK)
_ACKABLE = (SioPacketType.EVENT, SioPacketType.BINARY_EVENT, *_ACK_TYPES)


def _reject_constant(name: str) -> Any:
    # JSON.parse refuses NaN and Infinity; so do we, to judge as the reference does.
    raise ValueError(f"invalid JSON constant {name}")


def _finite_float(text: str) -> float:
    # JSON.parse makes 1e400 Infinity, which JSON.stringify writes as null and Python cannot
    # write at all: a payload holding one would be stored but never answered (issue 9 #4).
    value = float(text)
    if value - value != 0.0:  # inf - inf is nan
        raise ValueError(f"number {text[:40]} is not finite")
    return value


MAX_JSON_DEPTH = 100
"""Deepest nesting of arrays and objects a peer's JSON payload may have. Deeper values are
refused at decode: every later walk (encode, reconstruct, an app handler) recurses on them."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
STRICT_JSON = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
"""The JSON decoder every Socket.IO payload goes through (``JSON.parse`` strictness, plus: no
number that is not finite)."""
_decode_json = STRICT_JSON.decode


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if ``value`` nests arrays/objects deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list | dict):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return False


def loads(text: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a peer's JSON strictly: no NaN/Infinity, finite numbers, at most ``max_depth`` deep.

    Raises:
        ValueError: the text is not such JSON (RecursionError is reported as ValueError).
    """
    try:
        value = _decode_json(text)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None
    # a value this deep needs more than max_depth opening brackets: count them first (fast)
    if text.count("[") + text.count("{") > max_depth and json_depth_exceeds(value, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return value


_loads = loads
_iterencode: Any = None  # the C encoder, when CPython has it (dumps joins its chunks inline)
_encode: Callable[[Any], str] = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
try:  # the C encoder JSONEncoder.encode builds on every call, built once (1.8 -> 0.5 us)
    from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]

    def _not_serializable(o: Any) -> Any:
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    if c_make_encoder is not None and c_encode_basestring is not None:
        _iterencode = c_make_encoder(
            None, _not_serializable, c_encode_basestring, None, ":", ",", False, False, False
        )  # markers=None: a cycle ends in RecursionError, which dumps() reports

        def _encode_fast(value: Any) -> str:
            return "".join(_iterencode(value, 0))

        _encode = _encode_fast  # the fast path replaces the fallback
except ImportError:  # pragma: no cover - CPython always has the C accelerator
    pass


def dumps(value: Any) -> str:
    """Serialize like ``JSON.stringify``: compact, UTF-8 kept, NaN refused.

    Raises:
        LocalProtocolError: the value is not JSON-serializable.
    """
    try:  # the C encoder inline when present (no _encode frame: every emit comes here)
        text = _encode(value) if _iterencode is None else "".join(_iterencode(value, 0))
    except (TypeError, ValueError, RecursionError) as exc:
        raise LocalProtocolError(f"payload is not JSON-serializable: {exc}") from None
    if not text.isascii() and _LONE_SURROGATE.search(text):
        # JSON.stringify escapes lone surrogates (ES2019); raw ones cannot be sent as UTF-8
        text = _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def has_binary(value: Any) -> bool:
    """True if ``value`` holds bytes anywhere (lists, tuples and dicts are searched)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    if isinstance(value, list | tuple):
        return any(has_binary(v) for v in value)
    if isinstance(value, dict):
        return any(has_binary(v) for v in value.values())
    return False


def deconstruct(value: Any, buffers: list[bytes]) -> Any:
    """Replace every binary value with a placeholder, appending the bytes to ``buffers``."""
    if isinstance(value, bytes | bytearray | memoryview):
        buffers.append(bytes(value))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(value, list | tuple):
        return [deconstruct(v, buffers) for v in value]
    if isinstance(value, dict):
        return {k: deconstruct(v, buffers) for k, v in value.items()}
    return value


def reconstruct(value: Any, buffers: Sequence[bytes]) -> Any:
    """Put binary attachments back in place of their placeholders.

    Raises:
        RemoteProtocolError: a placeholder's ``num`` is not a valid attachment index.
    """
    if isinstance(value, list):
        return [reconstruct(v, buffers) for v in value]
    if isinstance(value, dict):
        if value.get("_placeholder") is True:
            num = value.get("num")
            if isinstance(num, int) and not isinstance(num, bool) and 0 <= num < len(buffers):
                return buffers[num]
            raise RemoteProtocolError(f"illegal attachment placeholder {value!r}", _SPEC)
        return {k: reconstruct(v, buffers) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class SioPacket:
    """One Socket.IO packet.

    Attributes:
        type: the packet type. EVENT and ACK whose data holds bytes are sent as
            BINARY_EVENT and BINARY_ACK; decoded binary packets keep their binary type.
        namespace: the namespace, ``/`` by default.
        data: the decoded JSON payload (binary values as ``bytes``); ``None`` when absent.
        id: the ack id, or ``None``.
    """

    type: SioPacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def connect(cls, namespace: str = "/", auth: dict[str, Any] | None = None) -> SioPacket:
        return cls(SioPacketType.CONNECT, namespace, auth)

    @classmethod
    def disconnect(cls, namespace: str = "/") -> SioPacket:
        return cls(SioPacketType.DISCONNECT, namespace)

    @classmethod
    def event(
        cls, event: str, *args: Any, namespace: str = "/", id: int | None = None
    ) -> SioPacket:
        return cls(SioPacketType.EVENT, namespace, [event, *args], id)

    @classmethod
    def ack(cls, id: int, args: Sequence[Any] = (), namespace: str = "/") -> SioPacket:
        return cls(SioPacketType.ACK, namespace, list(args), id)

    @classmethod
    def connect_error(cls, message: str, data: Any = None, namespace: str = "/") -> SioPacket:
        payload: dict[str, Any] = {"message": message}
        if data is not None:
            payload["data"] = data
        return cls(SioPacketType.CONNECT_ERROR, namespace, payload)

    # -- accessors ---------------------------------------------------------------------

    @property
    def is_event(self) -> bool:
        return self.type is SioPacketType.EVENT or self.type is SioPacketType.BINARY_EVENT

    @property
    def is_ack(self) -> bool:
        return self.type is SioPacketType.ACK or self.type is SioPacketType.BINARY_ACK

    @property
    def event_name(self) -> Any:
        """The event name of an EVENT packet (a string, or a number as Node allows)."""
        return self.data[0] if self.is_event and self.data else None

    @property
    def args(self) -> list[Any]:
        """The arguments of an EVENT (after the name) or an ACK."""
        if self.is_event:
            return list(self.data[1:]) if self.data else []
        if self.is_ack:
            return list(self.data) if self.data is not None else []
        return []

    # -- encoding ----------------------------------------------------------------------

    def encode(self) -> list[str | bytes]:
        """Encode as Engine.IO MESSAGE data: the text packet, then binary attachments.

        Raises:
            LocalProtocolError: the packet is not one the protocol allows us to send.
        """
        ptype = self.type
        data = self.data
        buffers: list[bytes] = []
        if ptype in (SioPacketType.EVENT, SioPacketType.ACK, *_BINARY_TYPES):
            if data is None or not isinstance(data, list | tuple):
                raise LocalProtocolError(
                    f"{ptype.name} payload must be an array, got {data!r}", _SPEC
                )
            if self.is_event and (not data or not _valid_event_name(data[0])):
                raise LocalProtocolError(
                    f"EVENT needs a non-reserved name first, got {list(data[:1])!r}", _SPEC
                )
            if self.is_ack and self.id is None:
                raise LocalProtocolError("ACK needs an id", _SPEC)
            if has_binary(data):
                data = deconstruct(data, buffers)
                ptype = SioPacketType.BINARY_EVENT if self.is_event else SioPacketType.BINARY_ACK
            elif ptype in _BINARY_TYPES:
                ptype = SioPacketType.EVENT if self.is_event else SioPacketType.ACK
        elif ptype is SioPacketType.CONNECT:
            if data is not None and not isinstance(data, dict):
                raise LocalProtocolError(f"CONNECT payload must be an object, got {data!r}", _SPEC)
        elif ptype is SioPacketType.DISCONNECT:
            if data is not None:
                raise LocalProtocolError("DISCONNECT carries no payload", _SPEC)
        elif ptype is SioPacketType.CONNECT_ERROR:
            if not isinstance(data, dict | str):
                raise LocalProtocolError(
                    f"CONNECT_ERROR payload must be an object or string, got {data!r}", _SPEC
                )
        parts = [str(ptype.value)]
        if buffers:
            parts.append(f"{len(buffers)}-")
        if self.namespace != "/":
            if not self.namespace.startswith("/"):
                raise LocalProtocolError(f"namespace must start with '/', got {self.namespace!r}")
            if "," in self.namespace:
                # the decoder ends the namespace at the first ','
                raise LocalProtocolError(f"namespace must not contain ',', got {self.namespace!r}")
            parts.append(self.namespace + ",")
        if self.id is not None:
            if ptype not in _ACKABLE:
                raise LocalProtocolError(f"{ptype.name} cannot carry an ack id", _SPEC)
            if (
                isinstance(self.id, bool)
                or not isinstance(self.id, int)
                or not 0 <= self.id <= MAX_ACK_ID
            ):
                raise LocalProtocolError(
                    f"ack id must be a non-negative integer up to {MAX_ACK_ID}, got {self.id!r}"
                )
            parts.append(str(self.id))
        if data is not None:
            parts.append(dumps(data))
        return ["".join(parts), *buffers]

    @classmethod
    def decode(
        cls, text: str, max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    ) -> tuple[SioPacket, int]:
        """Decode one text packet. Returns the packet and its attachment count.

        A binary packet's data still holds placeholders; :class:`SioDecoder` replaces them.

        Raises:
            RemoteProtocolError: the text is not a valid Socket.IO v5 packet.
        """
        if not isinstance(text, str):
            raise RemoteProtocolError(f"packet must be text, got {type(text).__name__}", _SPEC)
        if not text:
            raise RemoteProtocolError("empty packet", _SPEC)
        ptype = _TYPE_BY_CHAR.get(text[0])
        if ptype is None:
            raise RemoteProtocolError(f"unknown packet type {text[:1]!r}", _SPEC)
        n = len(text)
        i = 1
        attachments = 0
        if ptype in _BINARY_TYPES:
            dash = text.find("-", 1)
            count = text[1:dash] if dash > 0 else ""
            if not count.isdigit() or not count.isascii():
                raise RemoteProtocolError(f"illegal attachments in {text[:40]!r}", _SPEC)
            if len(count) > MAX_ACK_ID_DIGITS:  # before int(): it refuses 4,300+ digits
                raise RemoteProtocolError(
                    f"too many attachments: {len(count)}-digit count > {max_attachments}", _SPEC
                )
            attachments = int(count)
            if attachments < 1:
                # socket.io-parser: `n < 1` is "Illegal attachments"
                raise RemoteProtocolError(f"illegal attachments in {text[:40]!r}", _SPEC)
            if attachments > max_attachments:
                raise RemoteProtocolError(
                    f"too many attachments: {attachments} > {max_attachments}", _SPEC
                )
            i = dash + 1
        namespace = "/"
        if i < n and text[i] == "/":
            comma = text.find(",", i)
            end = n if comma < 0 else comma
            namespace = text[i:end]
            i = end + 1 if comma >= 0 else n
        ack_id: int | None = None
        j = i
        while j < n and "0" <= text[j] <= "9":
            j += 1
        if j > i:
            ack_id = parse_ack_id(text[i:j])
            i = j
        data: Any = None
        if i < n and text[i] in " \t\n\r":
            # socket.io-parser reads leading whitespace as ack-id digits (Number(" ") == 0),
            # json.loads skips it: refuse rather than decode a different packet than Node.
            raise RemoteProtocolError(f"whitespace before payload in {text[:60]!r}", _SPEC)
        if i < n:
            try:
                data = _loads(text[i:])
            except (ValueError, RecursionError) as exc:
                raise RemoteProtocolError(
                    f"invalid JSON payload in {text[:60]!r}: {str(exc)[:80]}", _SPEC
                ) from None
            _check_payload(ptype, data, text)
        elif ptype is not SioPacketType.CONNECT and ptype is not SioPacketType.DISCONNECT:
            # spec: EVENT needs a non-empty array, ACK an array, CONNECT_ERROR an object
            raise RemoteProtocolError(f"{ptype.name} without payload: {text[:60]!r}", _SPEC)
        if ack_id is not None and ptype not in _ACKABLE:
            raise RemoteProtocolError(f"{ptype.name} cannot carry an ack id: {text[:60]!r}", _SPEC)
        if ack_id is None and ptype in _ACK_TYPES:
            raise RemoteProtocolError(f"{ptype.name} without an ack id: {text[:60]!r}", _SPEC)
        return cls(ptype, namespace, data, ack_id), attachments


def parse_ack_id(digits: str) -> int:
    """The ack id of an ASCII digit run, bounded by :data:`MAX_ACK_ID`.

    Raises:
        RemoteProtocolError: the id is larger than :data:`MAX_ACK_ID`.
    """
    if len(digits) > MAX_ACK_ID_DIGITS or int(digits) > MAX_ACK_ID:
        raise RemoteProtocolError(
            f"ack id of {len(digits)} digits {digits[:20]!r}... exceeds {MAX_ACK_ID}", _SPEC
        )
    return int(digits)


def _valid_event_name(name: Any) -> bool:
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


def _check_payload(ptype: SioPacketType, data: Any, text: str) -> None:
    # socket.io-parser Decoder.isPayloadValid
    if ptype is SioPacketType.CONNECT:
        ok = isinstance(data, dict)
    elif ptype is SioPacketType.DISCONNECT:
        ok = False
    elif ptype is SioPacketType.CONNECT_ERROR:
        ok = isinstance(data, dict | str)
    elif ptype is SioPacketType.EVENT or ptype is SioPacketType.BINARY_EVENT:
        ok = isinstance(data, list) and len(data) > 0 and _valid_event_name(data[0])
    else:
        ok = isinstance(data, list)
    if not ok:
        raise RemoteProtocolError(f"invalid payload for {ptype.name}: {text[:60]!r}", _SPEC)


class SioDecoder:
    """Stateful decoder: feed Engine.IO MESSAGE data, get complete packets.

    Text starts a packet; a binary packet then waits for its attachments, one
    binary message each. After an error the decoder is reset and the caller is
    expected to close the connection, as the reference implementation does.
    """

    __slots__ = ("max_attachments", "_pending", "_expected", "_buffers")

    def __init__(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> None:
        self.max_attachments = max_attachments
        self._pending: SioPacket | None = None
        self._expected = 0
        self._buffers: list[bytes] = []

    @property
    def awaiting_attachments(self) -> int:
        """How many binary messages the current packet still needs."""
        return self._expected - len(self._buffers) if self._pending is not None else 0

    def reset(self) -> None:
        self._pending = None
        self._expected = 0
        self._buffers = []

    def feed(self, message: str | bytes) -> SioPacket | None:
        """Feed one message. Returns a complete packet, or ``None`` while attachments are due.

        Raises:
            RemoteProtocolError: the message is invalid here; the decoder has been reset.
        """
        if isinstance(message, str):
            if self._pending is not None:
                self.reset()
                raise RemoteProtocolError("got text while reconstructing a binary packet", _SPEC)
            packet, attachments = SioPacket.decode(message, self.max_attachments)
            if attachments == 0:
                if packet.type in _BINARY_TYPES:
                    return self._finish(packet, [])
                return packet
            self._pending = packet
            self._expected = attachments
            self._buffers = []
            return None
        if isinstance(message, bytes | bytearray | memoryview):
            if self._pending is None:
                raise RemoteProtocolError("got binary data when no attachment was expected", _SPEC)
            self._buffers.append(bytes(message))
            if len(self._buffers) < self._expected:
                return None
            packet, buffers = self._pending, self._buffers
            self.reset()
            return self._finish(packet, buffers)
        raise RemoteProtocolError(f"message must be str or bytes, got {type(message).__name__}")

    def _finish(self, packet: SioPacket, buffers: list[bytes]) -> SioPacket:
        try:
            data = reconstruct(packet.data, buffers) if packet.data is not None else None
        except RecursionError:
            raise RemoteProtocolError("binary packet nested too deeply", _SPEC) from None
        return SioPacket(packet.type, packet.namespace, data, packet.id)
