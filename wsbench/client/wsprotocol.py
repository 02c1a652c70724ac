"""The default WebSocket transport: RFC 6455 on a bare :class:`asyncio.Protocol`.

Theory of operation
-------------------
One object is both the event loop's protocol for the TCP socket and the
Engine.IO transport the :class:`~wsbench.client.connection.Connection` talks to.

* **Handshake.** :meth:`ProtocolTransport.open` connects (``local_addr`` for
  the pool's source-address spreading, TLS for ``wss``), writes the upgrade
  request built by :mod:`wsbench.client.frames` and waits for the 101 answer,
  checked byte for byte (``Sec-WebSocket-Accept``). Bytes that follow the
  answer's head in the same segment (the Engine.IO OPEN often does) are kept.
* **Reading without awaits.** ``data_received`` hands the chunk to the shared
  sans-I/O codec (:class:`~wsbench.protocol.websocket.FrameParser`, also used
  by the Locust transport and the conformance probe): one tight loop that
  parses a header, slices the payload, decodes and calls the connection's
  ``feed`` (the sans-I/O session, synchronously), next frame. Many frames per
  chunk cost one Python call each and no future, no queue, no task. A frame
  split across chunks is kept by the codec and joined once, when the bytes it
  needs (known from its header) have arrived. The connection's single reader
  task only awaits :meth:`read_loop`'s end (close or error).
* **Control frames** (§5.5): PING is answered PONG with the same payload;
  CLOSE is echoed with its code and ends the loop with ``transport close``
  and ``websocket closed (<code>)``. Fragmented messages (§5.4) are
  reassembled, control frames may come in between. Violations (the codec's
  :class:`~wsbench.protocol.websocket.FrameViolation`) fail the connection with
  the RFC's codes: 1002 (masked server frame, reserved bits, bad opcode or
  continuation, bad control frame, bad CLOSE code), 1007 (text or a CLOSE
  reason that is not UTF-8), 1009 (message over ``max_size``, the Engine.IO
  maxPayload); the read loop ends with ``transport error`` and the violation,
  which the connection records as a ``ProtocolViolation`` (the scenario's
  ``malformed_frame``), as the Locust transport does.
* **Flow control.** Writes are synchronous (``transport.write`` of a masked
  frame). ``pause_writing``/``resume_writing`` track the kernel-side backlog;
  while paused, a backlog over ``max_write_buffer`` fails the connection
  (``transport error``) instead of buffering without bound. Reading stops
  (``transport.pause_reading``) while nobody feeds (between the handshake and
  :meth:`read_loop`, after ``feed`` returned False) and while the user asked
  for it (:meth:`pause_reading`, a slow consumer whose server-side buffer fills).

Why a hand-written reader, measured (bench/client_receive.py, 1,000 clients,
50 broadcasts/s to the Node twin, 20 s, ONE run, same server and load; deliveries
per client CPU-second): this transport 74,650; ``websocket_impl="aiohttp"``
54,374 (1.37x less); websockets 17's sans-I/O ``ClientProtocol`` on the same
``asyncio.Protocol`` shape (bench/ws_sansio.py) 53,274 (1.40x less); Node
socket.io-client 51,205. aiohttp's ``receive()`` costs an await, a future and a
message object per frame; websockets parses with generator coroutines and builds
a ``Frame`` and an event list per frame. Here a frame costs ~0.35 us of parsing
(the JSON scan of the Socket.IO payload, ~0.9 us, is now the largest item), and
what remains is the kernel's (one ``read`` per message when the client keeps up).

picows (2.3, Cython frame parsing for asyncio; bench/ws_picows.py puts it under the same
Connection and session) was measured against this transport in issue 14: three alternating
pairs of ``client_receive.py --clients 1000 --rate 50 --duration 10`` on a busy 2-core
machine gave this transport 1.04x, 1.18x and 2.22x its deliveries per CPU-second (median
1.18x), and picows held 30 MB more RSS for the 1,000 connections (a 16 KB read buffer
each, against the <= 8 KB per idle connection goal). Per frame picows still crosses into
Python once (``on_ws_frame``) and builds a frame object, then the payload is decoded
exactly as here, so the Cython parse saves nothing that this loop spends. Kept the
hand-written transport; picows is not a dependency (bench/README.md, "picows").
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from collections.abc import Callable
from typing import Any

from wsbench.client.frames import (
    MAX_RESPONSE_HEAD,
    HandshakeError,
    check_upgrade,
    encode_frame,
    handshake_request,
    parse_response,
)
from wsbench.client.loop import settled
from wsbench.client.transport import ReadResult, open_error
from wsbench.exceptions import ConnectFailed, HandshakeRejected
from wsbench.protocol.events import DisconnectReason
from wsbench.protocol.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    FrameViolation,
    close_payload,
)

__all__ = ["ProtocolTransport"]

DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024
_HANDSHAKE, _OPEN, _CLOSING, _CLOSED = 0, 1, 2, 3  # _CLOSING: our CLOSE is sent
_ERROR = DisconnectReason.TRANSPORT_ERROR
_CLOSE = DisconnectReason.TRANSPORT_CLOSE

Feed = Callable[[str | bytes], bool]


def _ignore_ping(payload: bytes) -> None:
    """``on_ping`` once the TCP connection is lost (no bound method: no reference cycle)."""


class ProtocolTransport(FrameParser, asyncio.Protocol):
    """An open Engine.IO WebSocket transport (see the module docstring).

    It *is* the shared codec's :class:`~wsbench.protocol.websocket.FrameParser`
    (``data_received`` is its ``feed``: one Python call per chunk, not two), with
    the opening handshake in the parser's slow path and :meth:`stopped` acting on
    violations, the server's CLOSE and pauses. ``close_code`` is the server's CLOSE
    code, or the code we failed the connection with.
    """

    name = "websocket"
    __slots__ = (
        "url", "max_write_buffer", "_tr", "_state", "_key", "_opening", "_head", "_done",
        "_result", "_write_paused", "_user_paused", "__weakref__",
    )  # fmt: skip

    def __init__(self, url: str, max_size: int, max_write_buffer: int) -> None:
        # on_message is the connection's feed while read_loop() runs (None: bytes are kept)
        FrameParser.__init__(self, None, self._pong, max_size)
        self.url = url
        self.max_write_buffer = max_write_buffer
        self._tr: Any = None
        self._state = _HANDSHAKE
        self._key = b""
        self._opening: asyncio.Future[None] | None = None
        self._head = bytearray()
        self._done: asyncio.Future[ReadResult] | None = None
        self._result: ReadResult | None = None
        self._write_paused = False
        self._user_paused = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        max_msg_size: int = 1_000_000,
        headers: dict[str, str] | None = None,
        timeout: float = 20.0,
        local_addr: tuple[str, int] | None = None,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    ) -> ProtocolTransport:
        """Connect and complete the opening handshake within ``timeout`` seconds.

        Raises:
            HandshakeRejected, ConnectFailed, ResourceLimit.
        """
        request, key, host, port, secure = handshake_request(url, headers)
        self = cls(url, max_msg_size, max_write_buffer)
        self._key = key
        loop = asyncio.get_running_loop()
        self._opening = loop.create_future()
        ssl = ssl_module.create_default_context() if secure else None
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: self, host, port, ssl=ssl, local_addr=local_addr,
                    server_hostname=host if secure else None,
                )  # fmt: skip
                self._tr.write(request)
                await self._opening
        except HandshakeError as exc:
            self._abort_quietly()
            raise HandshakeRejected(url, exc.status, exc.reason) from None
        except (TimeoutError, OSError) as exc:
            self._abort_quietly()
            raise open_error(url, exc) from exc
        except BaseException:
            self._abort_quietly()
            raise
        self._opening = None
        return self

    def _abort_quietly(self) -> None:
        self._state = _CLOSED
        if self._tr is not None:
            self._tr.abort()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._tr = transport

    def connection_lost(self, exc: Exception | None) -> None:
        # The TCP transport is gone: drop the two references that made this object a
        # reference cycle (``_tr`` <-> the loop's transport, which keeps its protocol, and
        # ``on_ping``, our own bound ``_pong``), so a closed connection is freed by
        # reference counting alone, without a full collection (young_gc_only: none runs
        # during a run). Every use of ``_tr`` below is behind a state that is not _CLOSED.
        self._tr = None
        self.on_ping = _ignore_ping
        opening = self._opening
        if opening is not None and not opening.done():
            opening.set_exception(ConnectFailed(self.url, f"connection lost: {exc or 'EOF'}"))
        self._state = _CLOSED
        if exc is None:
            self._finish(ReadResult(_CLOSE, f"websocket closed ({self.close_code or 1006})"))
        else:
            self._finish(ReadResult(_ERROR, f"{type(exc).__name__}: {exc}"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False

    # every complete frame of the chunk; the rest is kept (asyncio ignores feed's bool result)
    data_received = FrameParser.feed  # type: ignore[assignment]

    def _gather(self, data: bytes) -> bytes | None:
        """The codec's slow path; before the frames, the 101 answer is read here."""
        state = self._state
        if state == _OPEN or state == _CLOSING:
            return FrameParser._gather(self, data)
        if state == _HANDSHAKE:
            self._handshake_data(data)
        return None

    def stopped(self) -> None:
        """The codec stopped before the end: a violation, the server's CLOSE, or a pause."""
        if self._state == _CLOSED:
            return
        violation = self.violation
        if violation is not None:
            self._fail_connection(violation)
        elif self.close_code is not None:
            code = self.close_code
            if self._state == _OPEN:
                # §5.5.1: echo the status code (then close: Engine.IO has nothing
                # left to say, and a server that waits for our FIN is not wrong)
                echo = close_payload(code) if code != 1005 else b""
                self._tr.write(encode_frame(OP_CLOSE, echo))
            self._state = _CLOSED
            self._tr.close()
            reason = self.close_reason
            detail = f"websocket closed ({code})" + (f": {reason}" if reason else "")
            self._finish(ReadResult(_CLOSE, detail))
        elif self.on_message is not None:
            self._stop_feeding()

    def _pong(self, payload: bytes) -> None:
        if self._state == _OPEN or self._state == _CLOSING:
            self._tr.write(encode_frame(OP_PONG, payload))

    # -- handshake ---------------------------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        head = self._head
        head += data
        end = head.find(b"\r\n\r\n")
        opening = self._opening
        if end < 0:
            if len(head) > MAX_RESPONSE_HEAD and opening is not None and not opening.done():
                opening.set_exception(HandshakeError(0, "response head too large"))
            return
        rest = bytes(head[end + 4 :])
        self._head = bytearray()
        if opening is None or opening.done():
            return
        try:
            status, reason, headers = parse_response(bytes(head[:end]))
            if status != 101:
                body = rest[: int(headers.get("content-length", "0") or 0)]
                reason = f"{reason} {body.decode('utf-8', 'replace')}".strip()
            check_upgrade(status, reason, headers, self._key)
        except HandshakeError as exc:
            self._state = _CLOSED
            opening.set_exception(exc)
            return
        self._state = _OPEN
        self._tr.pause_reading()  # until read_loop() gives us a feed
        if rest:
            FrameParser._gather(self, rest)  # nobody feeds yet: kept until read_loop()
        opening.set_result(None)

    def _fail_connection(self, violation: FrameViolation) -> None:
        """Fail the connection (§7.1.7): CLOSE with the violation's code, then drop TCP."""
        code = self.close_code = violation.code
        if self._state == _OPEN or self._state == _CLOSING:
            self._tr.write(encode_frame(OP_CLOSE, close_payload(code)))
            self._state = _CLOSED
            self._tr.close()
        self._finish(ReadResult(_ERROR, violation.detail, violation))

    def _finish(self, result: ReadResult) -> None:
        self.on_message = None
        if self._result is None:
            self._result = result
        done = self._done
        if done is not None and not done.done():
            done.set_result(self._result)

    def _stop_feeding(self) -> None:
        self.on_message = None
        if self._state == _OPEN:
            self._tr.pause_reading()
        done = self._done
        if done is not None and not done.done():
            done.set_result(ReadResult(None))

    # -- the Transport interface -----------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._state == _CLOSED

    def send(self, messages: list[str | bytes]) -> None:
        if self._state != _OPEN:
            return
        tr = self._tr
        if len(messages) == 1:
            m = messages[0]
            if isinstance(m, str):
                tr.write(encode_frame(OP_TEXT, m.encode()))
            else:
                tr.write(encode_frame(OP_BINARY, bytes(m)))
        else:
            tr.write(
                b"".join(
                    encode_frame(OP_TEXT, m.encode())
                    if type(m) is str
                    else encode_frame(OP_BINARY, bytes(m))  # type: ignore[arg-type]
                    for m in messages
                )
            )
        if self._write_paused and tr.get_write_buffer_size() > self.max_write_buffer:
            self._state = _CLOSED
            tr.abort()
            self._finish(
                ReadResult(
                    _ERROR, f"write buffer over {self.max_write_buffer} bytes: peer not reading"
                )
            )

    async def read_loop(self, feed: Feed) -> ReadResult:
        if self._result is not None:
            return self._result
        done = self._done = asyncio.get_running_loop().create_future()
        self.on_message = feed
        try:
            if self.buffered:  # bytes that came while nobody was feeding
                self.feed(b"")
            if self.on_message is not None and not self._user_paused and self._state != _CLOSED:
                self._tr.resume_reading()
            return await done
        finally:
            self._done = None
            if self.on_message is feed:  # cancelled (receive_one's timeout): stop feeding
                self._stop_feeding()

    async def receive_one(self, timeout: float) -> str | bytes | None:
        """Read one data message (the upgrade probe answer); ``None`` on close or timeout."""
        got: list[str | bytes] = []

        def one(message: str | bytes) -> bool:
            got.append(message)
            return False

        try:
            await asyncio.wait_for(self.read_loop(one), timeout)
        except TimeoutError:
            return None
        return got[0] if got else None

    def pause_reading(self) -> None:
        """Stop reading the socket (a slow consumer); the server's write buffer fills."""
        self._user_paused = True
        if self._state == _OPEN:
            self._tr.pause_reading()

    def resume_reading(self) -> None:
        self._user_paused = False
        if self._state == _OPEN and self.on_message is not None:
            self._tr.resume_reading()

    def abort(self) -> None:
        self._state = _CLOSED
        if self._tr is not None:
            self._tr.abort()

    async def close(self) -> None:
        """CLOSE 1000 and wait (2 s at most) for the server's answer or EOF."""
        if self._state != _OPEN:
            return
        self._state = _CLOSING
        self._tr.write(encode_frame(OP_CLOSE, close_payload(1000)))
        if self._result is None and self._done is not None:
            await settled(self._done, 2.0)  # wait_for(shield(done), 2.0) without their frames
        self._state = _CLOSED
        if self._tr is not None:  # None: the connection was lost meanwhile
            self._tr.close()
