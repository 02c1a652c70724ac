"""Socket.IO parsers: how a packet becomes Engine.IO MESSAGE data, one interface for two formats.

Theory of operation
-------------------
A :class:`Parser` encodes a :class:`~wsbench.protocol.socketio.SioPacket` into the list of
Engine.IO MESSAGE payloads that carry it (``str`` for a text message, ``bytes`` for a binary
one) and makes decoders (:class:`PacketDecoder`): objects fed one MESSAGE payload at a time
that return a complete packet, ``None`` while more is due, or raise
:class:`~wsbench.exceptions.RemoteProtocolError`. Every session state machine takes one
(``parser=``), :data:`DEFAULT` when none is given; :func:`get_parser` resolves the names
users write (``--parser msgpack``, ``parser: msgpack``).

:data:`DEFAULT` is socket.io-parser's text format (:mod:`wsbench.protocol.socketio`: a text
message, then one binary message per attachment). The client's hot paths for plain EVENT and
ACK text frames (:mod:`wsbench.protocol.client_namespaces`) only run with it.

:data:`MSGPACK` is the wire format of the official ``socket.io-msgpack-parser`` 3.0.x (on
notepack.io): the whole packet ``{"type", "data", "nsp", "id"}`` is ONE msgpack map in ONE
binary message, binary values are msgpack ``bin`` in place (no attachments, no
BINARY_EVENT/BINARY_ACK on the wire: types are 0-4), ``undefined`` is the fixext 1 of type 0
(read as absent / ``None``). Its decoder refuses what the official one refuses (type not an
integer 0-4, ``nsp`` not a string, data invalid for the type, id not an integer, trailing
bytes) and, like the default parser here, also what Socket.IO v5 forbids but the official
parser lets through (see :class:`MsgpackDecoder`).

A parser mismatch (a client with one parser, a server with the other) is named by
:meth:`Parser.foreign`: given a message this parser cannot read, the name of the parser
that can, so the caller reports one line instead of a pile of malformed frames.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import msgpack  # ships no type hints: ignore_missing_imports in pyproject's [tool.mypy]

from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol.socketio import (
    DEFAULT_MAX_ATTACHMENTS,
    MAX_ACK_ID,
    MAX_JSON_DEPTH,
    RESERVED_EVENTS,
    SioDecoder,
    SioPacket,
    SioPacketType,
    json_depth_exceeds,
)

__all__ = [
    "PacketDecoder",
    "Parser",
    "JsonParser",
    "MsgpackParser",
    "MsgpackDecoder",
    "DEFAULT",
    "MSGPACK",
    "PARSERS",
    "PARSER_NAMES",
    "get_parser",
    "mismatch_message",
]

_SPEC = "socket.io-msgpack-parser 3.0"


class PacketDecoder(Protocol):
    """Stateful decoder of one connection's Socket.IO packets (see the module docstring)."""

    @property
    def awaiting_attachments(self) -> int:
        """How many more binary messages the current packet needs (0: none pending)."""
        ...

    def feed(self, message: str | bytes) -> SioPacket | None:
        """One Engine.IO MESSAGE payload in; a complete packet out, or ``None`` while one is due.

        Raises:
            RemoteProtocolError: the message is invalid here; the decoder has been reset.
        """
        ...

    def reset(self) -> None:
        """Forget a partly received packet (a new Engine.IO session starts)."""
        ...


class Parser(Protocol):
    """A Socket.IO parser: the encoder and the decoder factory of one wire format."""

    @property
    def name(self) -> str:
        """The name users select it by (``default``, ``msgpack``)."""
        ...

    @property
    def binary(self) -> bool:
        """Whether every packet travels as a binary message."""
        ...

    def encode(self, packet: SioPacket) -> list[str | bytes]:
        """The Engine.IO MESSAGE payloads that carry ``packet``, in order.

        Raises:
            LocalProtocolError: the packet is not one the protocol allows us to send.
        """
        ...

    def decoder(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> PacketDecoder:
        """A fresh decoder for one connection."""
        ...

    def foreign(self, message: str | bytes) -> str | None:
        """The name of the other parser if ``message`` is one of its packets, else ``None``."""
        ...


class JsonParser:
    """socket.io-parser's default text format (:class:`SioPacket` / :class:`SioDecoder`)."""

    name: Final = "default"
    binary: Final = False

    def encode(self, packet: SioPacket) -> list[str | bytes]:
        return packet.encode()

    def decoder(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> PacketDecoder:
        return SioDecoder(max_attachments)

    def foreign(self, message: str | bytes) -> str | None:
        if isinstance(message, str):
            return None
        try:
            decode_msgpack(bytes(message))
        except RemoteProtocolError:
            return None
        return MSGPACK.name

    def __repr__(self) -> str:
        return "JsonParser()"


_PLAIN = {
    SioPacketType.BINARY_EVENT: SioPacketType.EVENT,
    SioPacketType.BINARY_ACK: SioPacketType.ACK,
}
_TYPES = {t.value: t for t in SioPacketType if t.value <= SioPacketType.CONNECT_ERROR.value}


class _Undefined:
    """JavaScript ``undefined`` as notepack.io writes it (fixext 1, type 0)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


class _ExtSeen:
    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen = False


def _valid_name(name: Any) -> bool:
    if isinstance(name, str):
        return name not in RESERVED_EVENTS
    return isinstance(name, int | float) and not isinstance(name, bool)


def _fail(detail: str) -> RemoteProtocolError:
    return RemoteProtocolError(detail, _SPEC)


def _unpack(data: bytes) -> Any:
    seen = _ExtSeen()

    def ext_hook(code: int, body: bytes) -> Any:
        if code == 0 and len(body) == 1:
            seen.seen = True
            return UNDEFINED
        raise ValueError(f"msgpack extension type {code} ({len(body)} bytes) is not allowed")

    try:
        value = msgpack.unpackb(
            data, raw=False, strict_map_key=True, ext_hook=ext_hook, use_list=True
        )
    except Exception as exc:  # msgpack raises ValueError, ExtraData, FormatError, StackError...
        name = type(exc).__name__
        raise _fail(f"invalid msgpack ({name}): {str(exc)[:80]}") from None
    if seen.seen or b"\xff" in data:  # undefined to replace, maybe a timestamp (ext -1)
        value = _clean(value)
    if len(data) > MAX_JSON_DEPTH and json_depth_exceeds(value):
        raise _fail(f"payload nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _clean(value: Any) -> Any:
    """``undefined`` -> ``None`` (as JSON.stringify writes it in arrays); refuse timestamps."""
    if value is UNDEFINED:
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, msgpack.Timestamp):
        raise _fail("msgpack timestamp extension is not allowed")
    return value


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_msgpack(data: bytes) -> SioPacket:
    """Decode one binary message of the msgpack parser.

    Raises:
        RemoteProtocolError: the message is not a valid packet (see :class:`MsgpackDecoder`).
    """
    try:
        obj = _unpack(data)
    except RecursionError:
        raise _fail("payload nested too deeply") from None
    if not isinstance(obj, dict):
        raise _fail(f"packet must be a msgpack map, got {type(obj).__name__}")
    raw_type = obj.get("type")
    ptype = _TYPES.get(raw_type) if isinstance(raw_type, int) and _integer(raw_type) else None
    if ptype is None:
        raise _fail(f"invalid packet type {raw_type!r:.40}")
    nsp = obj.get("nsp")
    if not isinstance(nsp, str):
        raise _fail(f"invalid namespace {nsp!r:.40}")
    if not nsp.startswith("/"):
        raise _fail(f"namespace must start with '/', got {nsp!r:.40}")
    payload = obj.get("data")
    if ptype is SioPacketType.CONNECT:
        ok = payload is None or isinstance(payload, dict)
    elif ptype is SioPacketType.DISCONNECT:
        ok = payload is None
    elif ptype is SioPacketType.CONNECT_ERROR:
        ok = isinstance(payload, str | dict)
    elif ptype is SioPacketType.EVENT:
        ok = isinstance(payload, list) and len(payload) > 0 and _valid_name(payload[0])
    else:
        ok = isinstance(payload, list)
    if not ok:
        raise _fail(f"invalid payload for {ptype.name}: {payload!r:.60}")
    ack_id = obj.get("id")
    if ack_id is not None:
        if not _integer(ack_id):
            raise _fail(f"invalid packet id {ack_id!r:.40}")
        if not 0 <= ack_id <= MAX_ACK_ID:
            raise _fail(f"ack id {ack_id} is not in 0..{MAX_ACK_ID}")
        if ptype is not SioPacketType.EVENT and ptype is not SioPacketType.ACK:
            raise _fail(f"{ptype.name} cannot carry an ack id")
    elif ptype is SioPacketType.ACK:
        raise _fail("ACK without an ack id")
    return SioPacket(ptype, nsp, payload, ack_id)


class MsgpackDecoder:
    """Decoder of the msgpack parser: one binary message is one packet.

    Refused like the official decoder: not a map, ``type`` not an integer 0-4, ``nsp`` not a
    string, CONNECT data neither absent nor a map, DISCONNECT with data, CONNECT_ERROR data
    neither string nor map, EVENT/ACK data not an array, ``id`` not an integer, trailing
    bytes, truncated input. Refused on top (Socket.IO v5 rules the official parser leaves to
    the server, or values it reads loosely): text messages, namespaces not starting with
    ``/``, an EVENT without a valid non-reserved name first, an ACK without an id, an id on
    anything but EVENT/ACK or outside 0..2**53-1, ``type``/``id`` written as floats, map keys
    that are not strings, invalid UTF-8, extension types other than ``undefined``
    (ArrayBuffer, Date, timestamp), nesting deeper than 100.
    """

    __slots__ = ()

    awaiting_attachments: Final = 0

    def feed(self, message: str | bytes) -> SioPacket | None:
        if isinstance(message, str):
            raise _fail("got a text message: the msgpack parser sends every packet as binary")
        if not isinstance(message, bytes | bytearray | memoryview):
            raise _fail(f"message must be str or bytes, got {type(message).__name__}")
        return decode_msgpack(bytes(message))

    def reset(self) -> None:
        pass


def _validate_outgoing(packet: SioPacket) -> SioPacketType:
    ptype = _PLAIN.get(packet.type, packet.type)
    data = packet.data
    if ptype is SioPacketType.EVENT or ptype is SioPacketType.ACK:
        if not isinstance(data, list | tuple):
            raise LocalProtocolError(f"{ptype.name} payload must be an array, got {data!r}", _SPEC)
        if ptype is SioPacketType.EVENT and (not data or not _valid_name(data[0])):
            raise LocalProtocolError(
                f"EVENT needs a non-reserved name first, got {list(data[:1])!r}", _SPEC
            )
        if ptype is SioPacketType.ACK and packet.id is None:
            raise LocalProtocolError("ACK needs an id", _SPEC)
    elif ptype is SioPacketType.CONNECT:
        if data is not None and not isinstance(data, dict):
            raise LocalProtocolError(f"CONNECT payload must be an object, got {data!r}", _SPEC)
    elif ptype is SioPacketType.DISCONNECT:
        if data is not None:
            raise LocalProtocolError("DISCONNECT carries no payload", _SPEC)
    elif not isinstance(data, dict | str):
        raise LocalProtocolError(
            f"CONNECT_ERROR payload must be an object or string, got {data!r}", _SPEC
        )
    if not packet.namespace.startswith("/"):
        raise LocalProtocolError(f"namespace must start with '/', got {packet.namespace!r}")
    if packet.id is not None:
        if ptype is not SioPacketType.EVENT and ptype is not SioPacketType.ACK:
            raise LocalProtocolError(f"{ptype.name} cannot carry an ack id", _SPEC)
        if not _integer(packet.id) or not 0 <= packet.id <= MAX_ACK_ID:
            raise LocalProtocolError(
                f"ack id must be a non-negative integer up to {MAX_ACK_ID}, got {packet.id!r}"
            )
    return ptype


def encode_msgpack(packet: SioPacket) -> bytes:
    """The one binary message of ``packet`` in the msgpack parser's format.

    Keys in the order socket.io writes them (``type``, ``data``, ``nsp``, then ``id``);
    ``data`` and ``id`` are left out when ``None``.

    Raises:
        LocalProtocolError: the packet is not allowed, or a value msgpack cannot carry.
    """
    ptype = _validate_outgoing(packet)
    obj: dict[str, Any] = {"type": ptype.value}
    if packet.data is not None:
        obj["data"] = packet.data
    obj["nsp"] = packet.namespace
    if packet.id is not None:
        obj["id"] = packet.id
    try:
        return bytes(msgpack.packb(obj, use_bin_type=True))
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError, RecursionError) as exc:
        raise LocalProtocolError(f"payload is not msgpack-serializable: {exc}") from None


class MsgpackParser:
    """The official ``socket.io-msgpack-parser`` wire format (see the module docstring)."""

    name: Final = "msgpack"
    binary: Final = True

    def encode(self, packet: SioPacket) -> list[str | bytes]:
        return [encode_msgpack(packet)]

    def decoder(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> PacketDecoder:
        return MsgpackDecoder()

    def foreign(self, message: str | bytes) -> str | None:
        if not isinstance(message, str):
            return None
        try:
            SioDecoder().feed(message)
        except RemoteProtocolError:
            return None
        return DEFAULT.name

    def __repr__(self) -> str:
        return "MsgpackParser()"


DEFAULT: Final[Parser] = JsonParser()
"""The default parser (socket.io-parser's text format)."""
MSGPACK: Final[Parser] = MsgpackParser()
"""The msgpack parser (socket.io-msgpack-parser's format)."""
PARSERS: Final[dict[str, Parser]] = {DEFAULT.name: DEFAULT, MSGPACK.name: MSGPACK}
PARSER_NAMES: Final = tuple(PARSERS)
"""The names :func:`get_parser` accepts, default first."""


def get_parser(name: str | Parser | None) -> Parser:
    """The parser called ``name`` (``None``: the default; a parser is returned as is).

    Raises:
        LocalProtocolError: no parser has that name.
    """
    if name is None:
        return DEFAULT
    if not isinstance(name, str):
        return name
    try:
        return PARSERS[name]
    except KeyError:
        raise LocalProtocolError(
            f"unknown parser {name!r}: expected one of {', '.join(PARSER_NAMES)}"
        ) from None


def mismatch_message(server: str) -> str:
    """The one line that names a parser mismatch, ``server`` being the parser it speaks."""
    return f"the server speaks the {server} parser; run with --parser {server}"
