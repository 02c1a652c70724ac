"""The wire tiers on the msgpack parser: literal JSON packets re-encoded on the way out and back.

The socketio-tier checks state what they send and expect as the default parser's literal text
(``42["message",1]``), so a codec bug cannot cancel itself out. Against a target on the msgpack
parser (``wsbench conform --parser msgpack``) the raw probe runs them through a
:class:`MsgpackTranslator`, one per connection (:class:`~wsbench.client.raw.WireTranslator`):

- **Out**: an Engine.IO MESSAGE written as text (``4`` + a Socket.IO packet in the default
  format) is parsed *leniently* and re-encoded as the one msgpack map the official
  ``socket.io-msgpack-parser`` sends, in one binary message. A BINARY_EVENT/BINARY_ACK header is
  held until its attachments have been written, then goes as one map with the attachments as
  msgpack ``bin`` in place of their placeholders. What the check wrote is kept malformed in the
  same way: an unknown type stays unknown (``4abc`` -> ``{"type": "a", ...}``), ``42{}`` keeps its
  object payload, ``42abc[...]`` becomes ``"id": "abc"``, ``41{"a":1}`` a DISCONNECT with data,
  ``42[]`` an empty EVENT array. What cannot be read even leniently (no JSON after the header) is
  sent as the text it is, which the msgpack parser refuses as well (every packet is binary), and
  a binary frame with no attachment due goes as is (not a msgpack packet).
- **In**: a binary message that is a msgpack packet is rendered as the default parser's frames
  (the text packet, then one binary frame per attachment), so the literal expectations hold. A
  binary message that is not a msgpack packet is handed over as it came; a text MESSAGE (which a
  msgpack server must never send) is handed over prefixed with :data:`TEXT_UNDER_MSGPACK`, so no
  literal expectation can match it.

Transcripts show what really went over the wire (``>``/``<``) and, on a ``~`` line next to it,
the JSON text the check wrote or reads. Checks whose subject has no msgpack equivalent (the
attachment rules: counts, placeholders, text while attachments are due) are UNIMPLEMENTED under
msgpack, with the reason (:func:`no_attachments`); they never FAIL for it.

Engine.IO tier checks are not translated: Engine.IO is below the parser (an oversized ``4xxx``
must stay the size it is).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

import msgpack  # type: ignore[import-untyped]  # msgpack ships no type hints

from wsbench.exceptions import LocalProtocolError, RemoteProtocolError
from wsbench.protocol.parser import decode_msgpack
from wsbench.protocol.socketio import SioPacket, reconstruct

__all__ = [
    "MsgpackTranslator",
    "TEXT_UNDER_MSGPACK",
    "lenient_packet",
    "translator_factory",
    "no_attachments",
]

TEXT_UNDER_MSGPACK: Final = "<text message under the msgpack parser> "
"""Prefix of a text MESSAGE received from a msgpack target (it matches no expectation)."""

_BINARY_TYPES = (5, 6)
_PLAIN = {5: 2, 6: 3}


def no_attachments(what: str) -> str:
    """The UNIMPLEMENTED reason of an attachment-rule check under the msgpack parser."""
    return (
        f"the msgpack parser has no attachments (binary values travel in place, one message "
        f"per packet): {what} has no msgpack equivalent"
    )


def lenient_packet(text: str) -> dict[str, Any] | None:
    """The msgpack map for a default-format packet ``text`` (after the Engine.IO ``4``).

    Lenient: keeps what is wrong with it (see the module docstring). ``None`` when even a
    lenient reading finds no packet (the text is then sent as it is). The map may carry an
    ``attachments`` key (int) for BINARY_EVENT/BINARY_ACK; the caller removes it.
    """
    if not text:
        return None
    head = text[0]
    rest = text[1:]
    ptype: Any = int(head) if head.isdigit() else head
    obj: dict[str, Any] = {}
    attachments = 0
    if ptype in _BINARY_TYPES:
        count, dash, after = rest.partition("-")
        if not dash or not count.isdigit():
            return None
        attachments = int(count)
        rest = after
    nsp = "/"
    if rest.startswith("/"):
        end = rest.find(",")
        if end < 0:
            nsp, rest = rest, ""
        else:
            nsp, rest = rest[:end], rest[end + 1 :]
    ack: Any = None
    cut = 0
    while cut < len(rest) and rest[cut] not in "[{\"":
        cut += 1
    if cut:
        raw_id = rest[:cut]
        ack = int(raw_id) if raw_id.isdigit() else raw_id
        rest = rest[cut:]
    data: Any = None
    if rest:
        try:
            data = json.loads(rest)
        except ValueError:
            return None
    obj["type"] = _PLAIN.get(ptype, ptype) if isinstance(ptype, int) else ptype
    if data is not None:
        obj["data"] = data
    obj["nsp"] = nsp
    if ack is not None:
        obj["id"] = ack
    if attachments:
        obj["attachments"] = attachments
    return obj


def _pack(obj: dict[str, Any]) -> bytes:
    return bytes(msgpack.packb(obj, use_bin_type=True))


class _Undefined:
    __slots__ = ()


_UNDEFINED: Final = _Undefined()


def _ext(code: int, body: bytes) -> Any:
    return _UNDEFINED if code == 0 and len(body) == 1 else msgpack.ExtType(code, body)


def _as_json(value: Any) -> Any:
    """JavaScript ``undefined`` as ``JSON.stringify`` writes it: a key left out, ``null`` in
    an array. What the same server would have sent on the default parser."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items() if v is not _UNDEFINED}
    if isinstance(value, list):
        return [None if v is _UNDEFINED else _as_json(v) for v in value]
    return value


def render_incoming(frame: bytes) -> list[str | bytes] | None:
    """The default parser's frames for one msgpack packet, or ``None`` if it is none.

    The packet is validated by the msgpack decoder, then its data re-read keeping
    ``undefined`` apart from ``null`` (a CONNECT answer ``{sid, pid: undefined}`` from a Node
    server without recovery is ``40{"sid":...}`` on the default parser).
    """
    try:
        packet = decode_msgpack(frame)
    except RemoteProtocolError:
        return None
    data = packet.data
    if data is not None:
        raw = msgpack.unpackb(frame, raw=False, ext_hook=_ext, strict_map_key=False)
        data = _as_json(raw.get("data"))
    try:
        parts = SioPacket(packet.type, packet.namespace, data, packet.id).encode()
    except LocalProtocolError:
        return None
    return [("4" + p) if isinstance(p, str) else p for p in parts]


class MsgpackTranslator:
    """Per-connection translation between literal JSON frames and the msgpack parser."""

    name: Final = "msgpack"

    def __init__(self) -> None:
        self._header: dict[str, Any] | None = None
        self._due = 0
        self._buffers: list[bytes] = []

    # -- out -------------------------------------------------------------------------

    def outgoing(self, frame: str | bytes) -> list[str | bytes] | None:
        """What goes on the wire for ``frame``: ``None`` as is, ``[]`` held, else the frames."""
        if isinstance(frame, bytes | bytearray | memoryview):
            if self._header is None:
                return None  # a binary frame with no attachment due: not a msgpack packet
            self._buffers.append(bytes(frame))
            if len(self._buffers) < self._due:
                return []
            return [self._complete()]
        if self._header is not None:  # text while attachments are due: the header goes alone
            pending = self._complete()
            rest = self.outgoing(frame)
            return [pending, *(rest if rest is not None else [frame])]
        if not frame.startswith("4"):
            return None  # an Engine.IO packet other than MESSAGE
        obj = lenient_packet(frame[1:])
        if obj is None:
            return None
        due = obj.pop("attachments", 0)
        if due:
            self._header, self._due, self._buffers = obj, due, []
            return []
        return [_pack(obj)]

    def _complete(self) -> bytes:
        header = self._header
        assert header is not None
        buffers, self._header, self._due, self._buffers = self._buffers, None, 0, []
        if "data" in header:
            try:
                header["data"] = reconstruct(header["data"], buffers)
            except (RemoteProtocolError, LocalProtocolError, IndexError, KeyError, TypeError):
                pass  # a bad placeholder stays as it was written
        return _pack(header)

    # -- in --------------------------------------------------------------------------

    def incoming(self, frame: str | bytes) -> list[str | bytes]:
        """The frames a check reads for one received ``frame``."""
        if isinstance(frame, str):
            if frame.startswith("4"):
                return [TEXT_UNDER_MSGPACK + frame]
            return [frame]
        rendered = render_incoming(bytes(frame))
        return rendered if rendered is not None else [frame]

    # -- polling payloads ------------------------------------------------------------

    def outgoing_payload(self, body: str) -> str:
        """A polling POST body: each translated record as a base64 ``b`` record."""
        out: list[str] = []
        for record in body.split("\x1e"):
            wire = self.outgoing(record)
            if wire is None:
                out.append(record)
                continue
            for item in wire:
                if isinstance(item, str):
                    out.append(item)
                else:
                    out.append("b" + base64.b64encode(item).decode("ascii"))
        return "\x1e".join(out)

    def incoming_payload(self, body: str) -> str:
        """A polling GET body: each ``b`` record that is a msgpack packet rendered as JSON text."""
        out: list[str] = []
        for record in body.split("\x1e"):
            if record.startswith("b"):
                try:
                    raw = base64.b64decode(record[1:], validate=True)
                except ValueError:
                    out.append(record)
                    continue
                rendered = render_incoming(raw)
                if rendered is None:
                    out.append(record)
                    continue
                for item in rendered:
                    if isinstance(item, str):
                        out.append(item)
                    else:
                        out.append("b" + base64.b64encode(item).decode("ascii"))
            elif record.startswith("4"):
                out.append(TEXT_UNDER_MSGPACK + record)
            else:
                out.append(record)
        return "\x1e".join(out)


def translator_factory(parser: str) -> type[MsgpackTranslator] | None:
    """The translator class for a target on ``parser`` (``None``: the default parser)."""
    return MsgpackTranslator if parser == "msgpack" else None
