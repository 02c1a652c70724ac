"""A raw-wire probe: HTTP requests and a WebSocket that send exactly what they are told.

The conformance gate must be able to send what a well-behaved client never would
(a PUT handshake, a missing ``transport``, the text ``abc``, a binary POST body, an
oversized frame) and to observe exactly what comes back: status, body, every frame,
the close code and *when* the close happened. Nothing here encodes or decodes
Engine.IO or Socket.IO: bytes in, bytes out, each one recorded in a
:class:`Transcript` with the websockets log prefixes (``>`` sent, ``<`` received,
``=`` state, ``x`` close, ``!`` error, ``%`` automatic pong).

One :class:`RawProbe` owns one aiohttp ``ClientSession`` for HTTP
(``TCPConnector(limit=0)``, research conformance.md §4) and closes every socket it
opened on exit. A :class:`RawWebSocket` is wsbench's own RFC 6455 transport
(:class:`~wsbench.client.wsprotocol.ProtocolTransport`), so its frames are parsed
by the shared sans-I/O codec (:mod:`wsbench.protocol.websocket`) that ``wsbench
run`` and ``wsbench locust`` use: a server that sends a masked frame, bad UTF-8 or
a bad close code is judged by the same rules everywhere (the socket closes with
the RFC's code and the transcript says why). Frames are handed over as they are
parsed, without an await each, so the probe answers Engine.IO pings (``2`` ->
``3``) while the caller is busy: a server must never be able to pass a check just
because the probe went silent and the heartbeat timed out (conformance.md §1.6 #2).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from yarl import URL

from wsbench.client.wsprotocol import ProtocolTransport
from wsbench.exceptions import ConnectFailed, HandshakeRejected

__all__ = [
    "CLOSED",
    "DEFAULT_CONTENT_TYPE",
    "MAX_FRAME",
    "RawProbe",
    "RawResponse",
    "RawWebSocket",
    "Transcript",
    "WireRecord",
    "WireTranslator",
    "render",
]

DEFAULT_CONTENT_TYPE = "text/plain;charset=UTF-8"
"""What a browser's ``fetch(url, {body: "..."})`` sends; aiohttp would send octet-stream."""

_PREVIEW = 300
# The probe reads any frame a check could meet (checks judge sizes themselves); the bound
# only keeps a hostile server from making it buffer without end (1009 beyond, like run/locust).
MAX_FRAME = 64 * 1024 * 1024


class _Closed:
    """Sentinel returned by :meth:`RawWebSocket.recv` once the connection is gone."""

    def __repr__(self) -> str:
        return "CLOSED"


CLOSED: Any = _Closed()


def render(data: str | bytes, limit: int = _PREVIEW) -> str:
    """A one-line, unambiguous rendering of a frame or body for transcripts."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        head = raw[: limit // 3].hex(" ")
        more = f" ... ({len(raw)} bytes)" if len(raw) > limit // 3 else ""
        return f"<binary {head}{more}>"
    text = data.encode("unicode_escape").decode("ascii").replace("\\\\", "\\")
    if len(text) > limit:
        return f"{text[:limit]}... ({len(data)} chars)"
    return text


@dataclass(frozen=True, slots=True)
class WireRecord:
    """One line of a transcript.

    Attributes:
        at_ms: milliseconds since the transcript started.
        channel: which connection, e.g. ``GET#3`` or ``ws#1``.
        direction: ``>`` sent, ``<`` received, ``=`` state, ``x`` close, ``!`` error, ``%`` pong.
        text: the data, rendered by :func:`render`.
    """

    at_ms: float
    channel: str
    direction: str
    text: str

    def line(self) -> str:
        return f"{self.at_ms:9.1f} ms {self.channel:<8} {self.direction} {self.text}"


@dataclass(slots=True)
class Transcript:
    """Every byte a probe exchanged, in order, with a monotonic time stamp."""

    records: list[WireRecord] = field(default_factory=list)
    started_ns: int = field(default_factory=time.monotonic_ns)
    limit: int = 3000
    dropped: int = 0
    _counter: int = 0

    def elapsed_ms(self) -> float:
        return (time.monotonic_ns() - self.started_ns) / 1e6

    def add(self, channel: str, direction: str, text: str) -> None:
        """Record one line; beyond ``limit`` records only a count is kept (load checks)."""
        if len(self.records) >= self.limit:
            self.dropped += 1
            return
        self.records.append(WireRecord(round(self.elapsed_ms(), 1), channel, direction, text))

    def add_frame(self, channel: str, direction: str, data: str | bytes) -> None:
        """:meth:`add` of ``render(data)``, rendered only if the record is kept (load checks
        receive thousands of frames past the limit)."""
        if len(self.records) >= self.limit:
            self.dropped += 1
            return
        self.add(channel, direction, render(data))

    def channel(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}#{self._counter}"

    def lines(self) -> list[str]:
        lines = [r.line() for r in self.records]
        if self.dropped:
            lines.append(f"... {self.dropped} more records not kept (limit {self.limit})")
        return lines


@dataclass(frozen=True, slots=True)
class RawResponse:
    """An HTTP answer, or ``status == 0`` when the server answered nothing usable.

    Attributes:
        status: the HTTP status, 0 if the connection dropped or the request timed out.
        body: the raw body bytes.
        headers: response headers (case-insensitive lookups through :meth:`header`).
        error: why there is no status, when ``status == 0``.
        elapsed_ms: time from sending to the end of the body.
    """

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str = ""
    elapsed_ms: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


class WireTranslator(Protocol):
    """Re-encodes the default parser's literal packets for a target on another parser.

    One per connection (it may hold a packet until its attachments are written); see
    :mod:`wsbench.conformance.translate`. ``outgoing`` returns ``None`` to send a frame as
    it is, ``[]`` to hold it, else the frames to send; ``incoming`` the frames a reader
    gets for one received frame; the ``*_payload`` pair does the same for polling bodies.
    """

    @property
    def name(self) -> str: ...  # read-only: a translator names its parser

    def outgoing(self, frame: str | bytes) -> list[str | bytes] | None: ...

    def incoming(self, frame: str | bytes) -> list[str | bytes]: ...

    def outgoing_payload(self, body: str) -> str: ...

    def incoming_payload(self, body: str) -> str: ...


class RawWebSocket:
    """One raw WebSocket: send any frame, read frames, see the close code and its time.

    Use :meth:`RawProbe.websocket` to open one. If the server refused the upgrade
    the socket starts closed, with :attr:`handshake_status` set. With a ``translator``
    the frames a caller sends and reads are translated (the transcript shows both the
    wire, ``>``/``<``, and the caller's side, ``~``).
    """

    def __init__(
        self,
        transcript: Transcript,
        channel: str,
        auto_pong: bool,
        translator: WireTranslator | None = None,
    ) -> None:
        self.transcript = transcript
        self.channel = channel
        self.auto_pong = auto_pong
        self.translator = translator
        self.handshake_status: int | None = None
        self.close_code: int | None = None
        self.closed_at_ms: float | None = None
        self.pings = 0
        #: transcript time (ms) of the last Engine.IO ping received, None before the first
        self.last_ping_ms: float | None = None
        self._closing = False
        self._server_closed = False
        self._ws: ProtocolTransport | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at_ms is not None

    @property
    def closed_by_server(self) -> bool:
        """Closed by the server's close frame (not by :meth:`close`, not a lost connection or
        an RFC 6455 violation), also after a later :meth:`close` of the closed socket."""
        return self._server_closed

    def _start(self, ws: ProtocolTransport) -> None:
        self._ws = ws
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def _mark_closed(self, how: str) -> None:
        if self.closed_at_ms is None:
            self.closed_at_ms = self.transcript.elapsed_ms()
            self.transcript.add(self.channel, "x", how)
            self._queue.put_nowait(CLOSED)

    def _on_frame(self, data: str | bytes) -> bool:
        """Each message, as the codec parses it (no await between frames of one read)."""
        self.transcript.add_frame(self.channel, "<", data)
        if data == "2":
            self.pings += 1
            self.last_ping_ms = self.transcript.elapsed_ms()
            if self.auto_pong and self._ws is not None:
                self._ws.send(["3"])
                self.transcript.add(self.channel, "%", "3")
        self._queue.put_nowait(data)
        return True

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        result = await ws.read_loop(self._on_frame if self.translator is None else self._on_wire)
        self.close_code = ws.close_code if ws.close_code is not None else 1006
        if result.violation is not None:
            self._mark_closed(f"server broke RFC 6455: {result.detail}")
        elif result.detail.startswith("websocket closed"):
            who = "closed by probe" if self._closing else "closed by server"
            self._server_closed = not self._closing and self.closed_at_ms is None
            reason = result.detail.partition("): ")[2]
            self._mark_closed(f"{who}, code {self.close_code} {reason}".rstrip())
        else:
            self._mark_closed(f"connection lost: {result.detail}")

    def _on_wire(self, data: str | bytes) -> bool:
        """:meth:`_on_frame` through the translator: the wire frame, then what callers read."""
        assert self.translator is not None
        frames = self.translator.incoming(data)
        if frames == [data]:
            return self._on_frame(data)
        self.transcript.add(self.channel, "<", render(data))
        for frame in frames:
            self.transcript.add(self.channel, "~", f"read as {render(frame)}")
            self._queue.put_nowait(frame)
        return True

    def _wire(self, data: str | bytes) -> list[str | bytes]:
        """The frames ``data`` goes out as: itself, or with a translator its re-encoding
        (none while attachments are due: held for the next)."""
        wire = self.translator.outgoing(data) if self.translator is not None else None
        if wire is None:
            return [data if isinstance(data, str) else bytes(data)]
        how = "held for the next" if not wire else "sent as"
        self.transcript.add(
            self.channel, "~", f"{render(data)} {how} {self.translator.name} packet"  # type: ignore[union-attr]
        )
        return [item if isinstance(item, str) else bytes(item) for item in wire]

    async def send(self, data: str | bytes) -> bool:
        """Send one text or binary frame. Returns False (and records it) if already closed.

        With a translator the frame is re-encoded first (held while attachments are due).
        """
        sent = True
        for item in self._wire(data):
            sent = await self._send_frame(item) and sent
        return sent

    async def send_many(self, frames: list[str | bytes]) -> bool:
        """Send ``frames`` in one write (one TCP segment where they fit), then one turn of the
        loop: a peer reads them together, as a client's burst. Returns False if closed."""
        wire = [item for data in frames for item in self._wire(data)]
        if self._ws is None or self.closed or self._ws.closed:
            self.transcript.add(self.channel, "!", f"not sent (closed): {len(frames)} frames")
            return False
        if wire:
            self._ws.send(wire)
        await asyncio.sleep(0)
        for item in wire:
            self.transcript.add(self.channel, ">", render(item))
        return True

    async def _send_frame(self, data: str | bytes) -> bool:
        if self._ws is None or self.closed or self._ws.closed:
            self.transcript.add(self.channel, "!", f"not sent (closed): {render(data)}")
            return False
        self._ws.send([data])
        await asyncio.sleep(0)  # a turn of the loop, as an awaited write gave
        self.transcript.add(self.channel, ">", render(data))
        return True

    def recv_nowait(self, skip_pings: bool = True) -> str | bytes | None:
        """The next frame already received, :data:`CLOSED` once closed, or ``None`` if none is queued.

        Never yields to the event loop: a reader that drains with it handles every frame
        of one network read (aiohttp parses them all at once) in one step.
        """
        while True:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
            if item is CLOSED:
                self._queue.put_nowait(CLOSED)  # stays closed for every later call
                return CLOSED
            if skip_pings and item == "2":
                continue
            return item

    async def recv(self, timeout: float, skip_pings: bool = True) -> str | bytes | None:
        """The next frame, :data:`CLOSED` once closed, or ``None`` if nothing came in time.

        A frame already queued is returned without suspending (no task, no loop turn per
        frame), so a burst is consumed as fast as it was read.
        """
        deadline = time.monotonic() + timeout
        while True:
            ready = self.recv_nowait(skip_pings)
            if ready is not None:
                return ready
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the item and
                # swallows a cancellation that lands as the item arrives (the reader would
                # then never stop); get() awaited in this task loses neither.
                async with asyncio.timeout(remaining):
                    item = await self._queue.get()
            except TimeoutError:
                return None
            if item is CLOSED:
                self._queue.put_nowait(CLOSED)  # stays closed for every later call
                return CLOSED
            if skip_pings and item == "2":
                continue
            return item

    async def wait_closed(self, timeout: float) -> float | None:
        """Wait for the server to close; frames are consumed (and logged) meanwhile.

        Returns:
            milliseconds from the call to the close, or ``None`` if still open.
        """
        start = self.transcript.elapsed_ms()
        if self.closed:
            return 0.0
        deadline = time.monotonic() + timeout
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.transcript.add(self.channel, "-", f"still open after {timeout * 1000:.0f} ms")
                return None
            await self.recv(remaining, skip_pings=True)
        assert self.closed_at_ms is not None
        return max(0.0, self.closed_at_ms - start)

    async def close(self) -> None:
        """Close from our side (no-op if closed) and stop the reader."""
        self._closing = True
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 1.0)
            self._ws.abort()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        if self.closed_at_ms is None:
            self.closed_at_ms = self.transcript.elapsed_ms()
            self.transcript.add(self.channel, "=", "closed by probe")
            self._queue.put_nowait(CLOSED)  # a reader waiting in recv() sees the end


async def _headers_sent(
    session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    event = (ctx.trace_request_ctx or {}).get("sent")
    if event is not None:
        event.set()


class RawProbe:
    """Raw access to one server. Use as ``async with RawProbe(url) as probe``.

    Args:
        base_url: ``http://host:port`` (a path prefix is kept).
        transcript: where to record; a new one by default.
        timeout: default seconds for one HTTP request or WebSocket opening handshake.
        translator: makes one :class:`WireTranslator` per WebSocket and per request (the
            target speaks another parser than the literal frames the caller writes).
    """

    def __init__(
        self,
        base_url: str,
        transcript: Transcript | None = None,
        timeout: float = 5.0,
        translator: Callable[[], WireTranslator] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transcript = transcript if transcript is not None else Transcript()
        self.timeout = timeout
        self.translator = translator
        self._session: aiohttp.ClientSession | None = None
        self._sockets: list[RawWebSocket] = []

    async def __aenter__(self) -> RawProbe:
        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(_headers_sent)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Content-Type"),
            trace_configs=[trace],
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for ws in self._sockets:
            await ws.close()
        self._sockets.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def url(self, path: str, query: str = "", scheme: str = "http") -> URL:
        base = self.base_url
        if scheme == "ws":
            base = "ws" + base[4:] if base.startswith("http") else base
        text = f"{base}{path}" + (f"?{query}" if query else "")
        return URL(text, encoded=True)

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("RawProbe used outside 'async with'")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        query: str = "",
        body: str | bytes | None = None,
        content_type: str | None = DEFAULT_CONTENT_TYPE,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        sent: asyncio.Event | None = None,
    ) -> RawResponse:
        """Send one HTTP request exactly as given; never raises for a bad answer.

        ``sent`` is set once the request line and headers are written to the connection
        (a caller can wait for "this GET is on the wire" instead of sleeping).

        Raises:
            ConnectFailed: nothing listens at the address (connection refused, bad host).
        """
        session = self._require_session()
        url = self.url(path, query)
        channel = self.transcript.channel(method.upper())
        translator = self.translator() if self.translator is not None else None
        if translator is not None and isinstance(body, str):
            wire_body = translator.outgoing_payload(body)
            if wire_body != body:
                self.transcript.add(channel, "~", f"{render(body)} sent as {translator.name}")
                body = wire_body
        data = body.encode("utf-8") if isinstance(body, str) else body
        sent_headers = dict(headers or {})
        if data is not None and content_type is not None:
            sent_headers.setdefault("Content-Type", content_type)
        shown = f"{method.upper()} {url.raw_path_qs}"
        if data is not None:
            shown += (
                f" [{sent_headers.get('Content-Type', 'no content-type')}] {render(body or b'')}"
            )
        self.transcript.add(channel, ">", shown)
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout if timeout is not None else self.timeout):
                async with session.request(
                    method,
                    url,
                    data=data,
                    headers=sent_headers,
                    allow_redirects=False,
                    trace_request_ctx={"sent": sent},
                ) as resp:
                    raw = await resp.read()
                    elapsed = (time.monotonic() - started) * 1000
                    ctype = resp.headers.get("Content-Type", "")
                    self.transcript.add(
                        channel,
                        "<",
                        f"HTTP {resp.status} [{ctype}] {render(raw.decode('utf-8', 'replace'))}",
                    )
                    if translator is not None and resp.status == 200:
                        read = translator.incoming_payload(raw.decode("utf-8", "replace"))
                        if read != raw.decode("utf-8", "replace"):
                            self.transcript.add(channel, "~", f"read as {render(read)}")
                            raw = read.encode("utf-8")
                    return RawResponse(resp.status, raw, dict(resp.headers), "", elapsed)
        except aiohttp.ClientConnectorError as exc:
            self.transcript.add(channel, "!", f"cannot connect: {exc}")
            raise ConnectFailed(self.base_url, str(exc.os_error or exc)) from None
        except TimeoutError:
            elapsed = (time.monotonic() - started) * 1000
            self.transcript.add(channel, "-", f"no answer within {elapsed:.0f} ms")
            return RawResponse(0, error=f"no answer within {elapsed:.0f} ms", elapsed_ms=elapsed)
        except (aiohttp.ClientError, ConnectionError) as exc:
            elapsed = (time.monotonic() - started) * 1000
            self.transcript.add(channel, "!", f"connection dropped: {exc!r}")
            return RawResponse(0, error=f"connection dropped: {exc!r}", elapsed_ms=elapsed)

    async def websocket(
        self, path: str, query: str = "", auto_pong: bool = True, timeout: float | None = None
    ) -> RawWebSocket:
        """Open a WebSocket exactly as given; a refused upgrade gives a closed socket.

        Raises:
            ConnectFailed: nothing listens at the address.
        """
        self._require_session()  # sockets belong to an open probe (closed on exit)
        url = self.url(path, query, scheme="ws")
        channel = self.transcript.channel("ws")
        sock = RawWebSocket(
            self.transcript,
            channel,
            auto_pong,
            self.translator() if self.translator is not None else None,
        )
        self._sockets.append(sock)
        self.transcript.add(channel, "=", f"open {url.raw_path_qs}")
        budget = timeout if timeout is not None else self.timeout
        try:
            async with asyncio.timeout(budget):
                ws = await ProtocolTransport.open(
                    str(url), max_msg_size=MAX_FRAME, timeout=budget + 1.0
                )
        except HandshakeRejected as exc:
            sock.handshake_status = exc.status
            sock._mark_closed(f"upgrade refused: HTTP {exc.status}")
            return sock
        except TimeoutError:
            sock._mark_closed("no upgrade answer in time")
            return sock
        except ConnectFailed as exc:
            if "connection lost" in str(exc):  # connected, then dropped during the upgrade
                sock._mark_closed(f"upgrade failed: {exc}")
                return sock
            self.transcript.add(channel, "!", f"cannot connect: {exc}")
            raise ConnectFailed(self.base_url, str(exc)) from None
        sock.handshake_status = 101
        self.transcript.add(channel, "=", "HTTP 101 upgraded")
        sock._start(ws)
        return sock
