"""RFC 6455 framing, sans-I/O: one codec for every runtime that reads a server's frames.

Theory of operation
-------------------
The asyncio transport (:mod:`wsbench.client.wsprotocol`), the Locust transport
(:mod:`wsbench.integrations.wire`) and the conformance probe
(:mod:`wsbench.client.raw`) all read WebSocket frames through
:class:`FrameParser`, so a server is judged by the same rules whichever runtime
talks to it. Nothing here does I/O or reads a clock.

* **Reading** (client role: the peer is a server). :meth:`FrameParser.feed`
  takes whatever one ``read`` returned and runs ONE tight loop over it: parse a
  header, slice the payload, decode, call ``on_message``, next frame. A final
  unfragmented text frame (``0x81``, what Engine.IO sends) costs one branch and
  one ``decode``; everything else goes through a slower method. A frame split
  across reads is kept as a list of chunks and joined once, when the byte count
  its header announced has arrived. No per-frame object is built: measured, the
  per-frame cost stays ~0.35 us (see bench/README.md, "WebSocket codec").
* **Callbacks.** ``on_message(str | bytes)`` gets each whole message (fragments
  reassembled, §5.4); returning ``False`` pauses the parser (a slow consumer):
  the unread bytes are kept and ``feed(b"")`` resumes. ``on_message = None``
  also buffers. ``on_ping(payload)`` gets each PING (the caller answers PONG
  with the same payload; control frames may arrive between fragments).
* **Violations are data** (the peer's, never raised): the parser stops, keeps
  nothing, and sets :attr:`FrameParser.violation` to a :class:`FrameViolation`
  carrying the close code the RFC prescribes and a reason: 1002 for a masked
  server frame (§5.1), reserved bits without an extension (§5.2), an unknown
  opcode, a continuation of nothing or a new message inside a fragmented one
  (§5.4), a control frame that is fragmented or longer than 125 bytes (§5.5),
  a CLOSE body of one byte or with a code no endpoint may send (§7.4); 1007 for
  text (or a CLOSE reason) that is not UTF-8 (§8.1); 1009 for a frame or a
  reassembled message over ``max_size`` (§7.4.1). The caller fails the
  connection (§7.1.7): CLOSE with ``violation.code``, then drop TCP.
* **CLOSE** from the server stops the parser with :attr:`close_code` /
  :attr:`close_reason` set (1005 when the body is empty, §7.1.5); the caller
  echoes it (:func:`close_payload`).
* **Writing.** :func:`frame_encoder` builds ``encode(opcode, payload, fin=True)``.
  The XOR is injected: the client passes aiohttp's compiled ``websocket_mask``
  (0.24 us for a short frame against 0.45 us for :func:`python_mask`, and linear
  growth ~12 us per KiB for the pure-Python one), this module may not import
  aiohttp (it is sans-I/O), and the pure-Python default keeps it usable (and
  testable) alone. ``mask=None`` gives unmasked frames, the server role (tests
  and reference frames). The masking key is drawn from a non-cryptographic
  generator seeded from the OS, like aiohttp's: §5.3 only needs it unpredictable
  to intermediaries.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_INVALID_DATA",
    "CLOSE_NORMAL",
    "CLOSE_NO_STATUS",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "DEFAULT_MAX_SIZE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameParser",
    "FrameViolation",
    "MaskFunction",
    "close_payload",
    "frame_encoder",
    "python_mask",
    "valid_close_code",
]

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005  # §7.1.5: a CLOSE without a body; never sent
CLOSE_ABNORMAL = 1006  # §7.1.5: the TCP connection ended without a CLOSE; never sent
CLOSE_INVALID_DATA = 1007
CLOSE_TOO_BIG = 1009
DEFAULT_MAX_SIZE = 1_000_000  # the Engine.IO default maxPayload
MAX_CONTROL_PAYLOAD = 125

# §7.4.1 codes an endpoint may put in a CLOSE frame, plus 1012-1014 (IANA registry);
# 3000-4999 belong to libraries and applications (§7.4.2).
_SENDABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

MaskFunction = Callable[[bytes, bytearray], None]
"""XOR ``data`` in place with the 4-byte ``key`` repeated (aiohttp's ``websocket_mask``)."""

OnMessage = Callable[[str | bytes], object]


def valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a CLOSE frame (§7.4)."""
    return code in _SENDABLE or 3000 <= code <= 4999


@dataclass(frozen=True, slots=True)
class FrameViolation:
    """The server broke RFC 6455; fail the connection with ``code`` (§7.1.7).

    Attributes:
        code: the close code to send: 1002 protocol error, 1007 invalid data, 1009 too big.
        reason: what was wrong, for people.
        spec_ref: the RFC section.
    """

    code: int
    reason: str
    spec_ref: str = "RFC 6455 §5"

    @property
    def detail(self) -> str:
        """The one-line form both runtimes report: ``<reason> (closed with <code>)``."""
        return f"{self.reason} (closed with {self.code})"


def python_mask(key: bytes, data: bytearray) -> None:
    """The pure-Python :data:`MaskFunction`: one big-integer XOR of the whole payload."""
    n = len(data)
    if n:
        k = int.from_bytes((key * (n // 4 + 1))[:n], "little")
        data[:] = (int.from_bytes(data, "little") ^ k).to_bytes(n, "little")


_getrandbits = random.Random(os.urandom(16)).getrandbits


def frame_encoder(mask: MaskFunction | None = python_mask) -> Callable[..., bytes]:
    """``encode(opcode, payload, fin=True) -> bytes``: one frame (§5.2).

    With a mask function every frame is masked with a fresh key (the client role,
    §5.3); with ``None`` frames go unmasked (the server role).
    """
    getrandbits = _getrandbits

    if mask is None:

        def encode_unmasked(opcode: int, payload: bytes, fin: bool = True) -> bytes:
            b0 = (0x80 | opcode) if fin else opcode
            n = len(payload)
            if n < 126:
                return bytes((b0, n)) + payload
            if n < 65536:
                return bytes((b0, 126)) + n.to_bytes(2, "big") + payload
            return bytes((b0, 127)) + n.to_bytes(8, "big") + payload

        return encode_unmasked

    xor = mask
    # the two header bytes of a final, masked text frame under 126 bytes, prebuilt: the
    # Engine.IO hot path (an acked emit is one such frame; 440 -> 330 ns per frame)
    text_heads = [bytes((0x80 | OP_TEXT, 0x80 | n)) for n in range(126)]

    def encode(opcode: int, payload: bytes, fin: bool = True) -> bytes:
        n = len(payload)
        if n < 126 and opcode == OP_TEXT and fin:
            key = getrandbits(32).to_bytes(4, "big")
            data = bytearray(payload)
            xor(key, data)
            return text_heads[n] + key + data
        b0 = (0x80 | opcode) if fin else opcode
        if n < 126:
            head = bytes((b0, 0x80 | n))
        elif n < 65536:
            head = bytes((b0, 0xFE)) + n.to_bytes(2, "big")
        else:
            head = bytes((b0, 0xFF)) + n.to_bytes(8, "big")
        key = getrandbits(32).to_bytes(4, "big")
        data = bytearray(payload)
        xor(key, data)
        return head + key + data

    return encode


def close_payload(code: int, reason: str = "") -> bytes:
    """The body of a CLOSE frame (§5.5.1): the code, then at most 123 bytes of UTF-8 reason."""
    raw = reason.encode("utf-8")[:123]
    return code.to_bytes(2, "big") + raw.decode("utf-8", "ignore").encode("utf-8")


class FrameParser:
    """Server frames in, messages and control events out (see the module docstring).

    Args:
        on_message: each whole message; returning ``False`` pauses (``feed(b"")`` resumes).
        on_ping: each PING's payload (answer with a PONG of the same payload).
        max_size: the largest frame or reassembled message accepted (1009 beyond).
    """

    __slots__ = (
        "on_message", "on_ping", "max_size", "violation", "close_code", "close_reason",
        "_chunks", "_have", "_need", "_frag_op", "_frag", "_frag_size", "_ended",
    )  # fmt: skip

    def __init__(
        self,
        on_message: OnMessage | None,
        on_ping: Callable[[bytes], object],
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.on_message = on_message
        self.on_ping = on_ping
        self.max_size = max_size
        #: the server's violation; set once, and the parser reads nothing more
        self.violation: FrameViolation | None = None
        #: the server's CLOSE code (1005 for an empty body); the parser reads nothing more
        self.close_code: int | None = None
        self.close_reason = ""
        # () until bytes are kept: 10,000 idle parsers hold no list (issue 14)
        self._chunks: list[bytes] | tuple[()] = ()
        self._have = 0
        self._need = 0
        self._frag_op = -1
        self._frag: list[bytes] | tuple[()] = ()
        self._frag_size = 0
        self._ended = False

    @property
    def done(self) -> bool:
        """True after a CLOSE or a violation: nothing more will be read."""
        return self._ended

    @property
    def buffered(self) -> int:
        """Bytes received but not parsed yet (an incomplete frame, or a paused parser's rest)."""
        return self._have if self._chunks else 0

    def feed(self, data: bytes) -> bool:
        """Parse every whole frame of ``data`` (after what was kept before).

        Returns False when the parser stopped before the end: :attr:`violation` or
        :attr:`close_code` is set, or ``on_message`` returned False (the rest is kept).

        A chunk that is exactly one final unmasked text frame with a 7- or 16-bit length
        (under 64 KiB), with nothing kept and no fragmented message open, is delivered
        before the frame loop: a client that keeps up reads one broadcast copy per ``read``,
        and the loop's set-up and bookkeeping cost ~1,150 more instructions per copy under
        126 bytes and ~1,600 over (callgrind, in-process harness; bench/README.md, "receive,
        wave 2e"). Anything else takes the loop, which judges it.
        """
        feed = self.on_message
        n = len(data)
        # the hot path (see the docstring): one whole text frame, nothing else
        head = 0  # the frame's header length when the chunk is exactly one frame
        if 1 < n < 128:
            if data[1] == n - 2:
                head = 2
        elif 129 < n < 65540 and data[1] == 126 and (data[2] << 8 | data[3]) == n - 4:
            head = 4  # a 16-bit length: a longer copy
        if (
            head
            and data[0] == 0x81
            and feed is not None
            and not self._chunks
            and self._frag_op < 0
            and n - head <= self.max_size
        ):
            try:
                message = data[head:].decode()
            except UnicodeDecodeError:
                return self._fail(1007, "text frame is not valid UTF-8", "§8.1")
            if feed(message) is False:
                if not self._ended:
                    self.stopped()  # paused
                return False
            return True
        if feed is None or self._chunks:  # the slow path: buffering, or a frame to complete
            whole = self._gather(data)
            if whole is None:
                return not self._ended
            data = whole
        n = len(data)
        pos = 0
        need = 0
        max_size = self.max_size
        plain = self._frag_op < 0  # no fragmented message is open (only _frame changes that)
        go = True
        while pos < n:
            if n - pos < 2:
                need = 2
                break
            b0 = data[pos]
            ln = data[pos + 1]
            if ln < 126:
                start = pos + 2
            elif ln == 126:
                start = pos + 4
                if start > n:
                    need = 4
                    break
                ln = (data[pos + 2] << 8) | data[pos + 3]
            elif ln == 127:
                start = pos + 10
                if start > n:
                    need = 10
                    break
                ln = int.from_bytes(data[pos + 2 : start], "big")
                if ln >> 63:
                    return self._fail(1002, "64-bit frame length with the top bit set", "§5.2")
            else:
                return self._fail(1002, "masked frame from the server", "§5.1")
            if ln > max_size:
                if b0 & 0x08:
                    return self._fail(1002, f"control frame of {ln} bytes (at most 125)", "§5.5")
                return self._fail(
                    1009, f"frame of {ln} bytes exceeds the limit of {max_size} bytes", "§7.4.1"
                )
            end = start + ln
            if end > n:
                need = end - pos
                break
            if b0 == 0x81 and plain:  # FIN + TEXT: the Engine.IO hot path
                try:
                    message = data[start:end].decode()
                except UnicodeDecodeError:
                    return self._fail(1007, "text frame is not valid UTF-8", "§8.1")
                pos = end
                if feed(message) is False:  # type: ignore[misc]
                    go = False
                    break
                continue
            pos = end
            if not self._frame(b0, data[start:end]):
                go = False
                break
            plain = self._frag_op < 0
            feed = self.on_message
            if feed is None:
                go = False
                break
        if pos < n and (go or not self._ended):  # an incomplete frame, or a pause: keep the rest
            rest = data[pos:] if pos else data
            self._chunks = [rest]
            self._have = len(rest)
            self._need = need
        if not go and not self._ended:
            self.stopped()  # paused
        return go

    def stopped(self) -> None:
        """Called when :meth:`feed` stops early (a violation, the server's CLOSE, a pause).

        A no-op here: callers read :meth:`feed`'s result. A subclass whose
        ``data_received`` *is* :meth:`feed` (an ``asyncio.Protocol``, where the result
        is dropped and one call per chunk is saved) acts here instead.
        """

    def _gather(self, data: bytes) -> bytes | None:
        """Keep ``data``; the bytes to parse now, or None (not enough yet, nobody feeds, done).

        The slow path of :meth:`feed`; a subclass may take bytes that precede the
        frames here (an HTTP response head) while ``on_message`` is None.
        """
        if self._ended:
            return None
        if data:
            if self._chunks:
                self._chunks.append(data)
            else:
                self._chunks = [data]
            self._have += len(data)
        chunks = self._chunks
        if self.on_message is None or not chunks or self._have < self._need:
            return None
        self._chunks = ()
        self._have = self._need = 0
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _frame(self, b0: int, payload: bytes) -> bool:
        """Everything but a final text frame: binary, fragments, control frames."""
        op = b0 & 0x0F
        fin = b0 & 0x80
        if b0 & 0x70:
            return self._fail(1002, "reserved bits set without a negotiated extension", "§5.2")
        if op >= 8:
            if not fin:
                return self._fail(1002, "fragmented control frame", "§5.5")
            if len(payload) > MAX_CONTROL_PAYLOAD:
                return self._fail(
                    1002, f"control frame of {len(payload)} bytes (at most 125)", "§5.5"
                )
            if op == OP_PING:
                self.on_ping(payload)
                return True
            if op == OP_PONG:
                return True
            if op == OP_CLOSE:
                return self._close(payload)
            return self._fail(1002, f"unknown control opcode {op:#x}", "§5.2")
        if op == OP_CONT:
            if self._frag_op < 0:
                return self._fail(1002, "continuation frame without a message to continue", "§5.4")
            self._frag.append(payload)  # type: ignore[union-attr]
            self._frag_size += len(payload)
            if self._frag_size > self.max_size:
                return self._fail(
                    1009, f"message of {self._frag_size}+ bytes exceeds {self.max_size}", "§7.4.1"
                )
            if not fin:
                return True
            op, self._frag_op = self._frag_op, -1
            parts, self._frag = self._frag, ()
            return self._deliver(op, b"".join(parts))
        if op == OP_TEXT or op == OP_BINARY:
            if self._frag_op >= 0:
                return self._fail(1002, "new data frame inside a fragmented message", "§5.4")
            if fin:
                return self._deliver(op, payload)
            self._frag_op = op
            self._frag = [payload]
            self._frag_size = len(payload)
            return True
        return self._fail(1002, f"unknown data opcode {op:#x}", "§5.2")

    def _deliver(self, op: int, payload: bytes) -> bool:
        message: str | bytes
        if op == OP_TEXT:
            try:
                message = payload.decode()
            except UnicodeDecodeError:
                return self._fail(1007, "text message is not valid UTF-8", "§8.1")
        else:
            message = payload
        feed = self.on_message
        return feed is not None and feed(message) is not False

    def _close(self, payload: bytes) -> bool:
        if not payload:
            code, reason = CLOSE_NO_STATUS, ""
        elif len(payload) == 1:
            return self._fail(1002, "close frame with a 1-byte body", "§5.5.1")
        else:
            code = int.from_bytes(payload[:2], "big")
            if not valid_close_code(code):
                return self._fail(1002, f"close frame with the invalid code {code}", "§7.4")
            try:
                reason = payload[2:].decode()
            except UnicodeDecodeError:
                return self._fail(1007, "close reason is not valid UTF-8", "§5.5.1")
        self.close_code = code
        self.close_reason = reason
        self._stop()
        self.stopped()
        return False

    def _fail(self, code: int, reason: str, section: str) -> bool:
        self.violation = FrameViolation(code, reason, f"RFC 6455 {section}")
        self._stop()
        self.stopped()
        return False

    def _stop(self) -> None:
        self._ended = True
        self.on_message = None  # every later feed takes the slow path, which sees _ended
        self._chunks = ()
        self._frag = ()
        self._have = self._need = 0
