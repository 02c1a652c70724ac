"""One Engine.IO connection: a ClientSession driven over a transport, with reconnection.

Theory of operation
-------------------
A :class:`Connection` owns one sans-I/O :class:`~wsbench.protocol.client.ClientSession`
and the transport it currently speaks over. It runs exactly **one task**, the
reader (:meth:`Connection._run`), which for the lifetime of the connection:

1. runs the transport's read loop, feeding each frame (or polling body) to the
   session, dispatching the session's events to the namespace
   :class:`~wsbench.client.socket.Socket` objects and writing what the session
   wants sent, inline, in the same call (a server ``2`` is answered ``3``
   before the next frame is read). A plain EVENT (ACK) frame takes
   ``ClientSession.receive_event`` (``receive_ack``) and goes straight to its
   socket: no event object, no event list, no clock read;
2. when the transport ends, closes the session with the reason and, if the
   :class:`~wsbench.protocol.reconnect.ReconnectPolicy` allows it and some
   namespace still wants to be connected, sleeps the backoff delay, reopens
   the session and opens a new transport (same task, no new one).

Deadlines (the missing-ping check) use one ``loop.call_at`` timer that is
*lazily* re-armed: when it fires early because pings moved the deadline, it
re-arms for the new one, so receiving a ping costs no timer operation.

The polling+upgrade option adds a short-lived second task for the upgrade
(:meth:`Connection._upgrade`: :func:`~wsbench.client.upgrade.probe` on a new
WebSocket, then pause polling, ``5``, switch); the reader waits for the switch and
continues on the WebSocket.

Layers inside :mod:`wsbench.client` (an import-linter contract, pyproject.toml): the
connection stands on the sockets it creates, the upgrade probe, the transports and
:mod:`~wsbench.client.http`; none of them imports it. A socket sees its connection only
as a :class:`~wsbench.client.socket.SessionHost` (``session``, ``loop``, ``flush()``,
``pump()``); the probe sees the session and a callable that opens the WebSocket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wsbench.client.http import source_address
from wsbench.client.loop import settled
from wsbench.client.socket import Socket
from wsbench.client.transport import (
    ProbingTransport,
    ReadResult,
    Transport,
    TransportOption,
    engineio_url,
    parse_transports,
)
from wsbench.client.upgrade import probe
from wsbench.client.wsprotocol import ProtocolTransport
from wsbench.exceptions import (
    ConfigError,
    ConnectFailed,
    ConnectionClosed,
    InvalidState,
    LocalProtocolError,
    TransportError,
)
from wsbench.protocol.client import ClientSession, EioState
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
)
from wsbench.protocol.parser import Parser, get_parser
from wsbench.protocol.reconnect import RandomSource, ReconnectPolicy

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Connection"]

logger = logging.getLogger(__name__)
_CLOSED = EioState.CLOSED
_OUR_CLOSE = DisconnectReason.IO_CLIENT_DISCONNECT.value  # an Enum's .value is a Python property
_MAX_VIOLATIONS_KEPT = 32
WEBSOCKET_IMPLS = ("asyncio", "aiohttp")
# The backoff jitter of every connection not given an ``rng``: a Random is 2.5 KB of
# Mersenne Twister state, a quarter of an idle connection if each had its own (issue 14).
_JITTER = random.Random()
_NO_VIOLATIONS: tuple[ProtocolViolation, ...] = ()


class Connection:
    """One Engine.IO session over websocket or polling, multiplexing namespaces.

    Args:
        url: the server, ``http://host:port`` (``ws://`` works too).
        http: the shared aiohttp session to open sockets with.
        transports: ``websocket``, ``polling`` or ``polling+upgrade``.
        path: the Engine.IO path (``/socket.io/``).
        reconnection: the policy, or ``None`` to never reconnect.
        rng: randomness for the backoff jitter.
        timeout: seconds allowed for each transport handshake.
        websocket_impl: ``"asyncio"`` (default: :mod:`wsbench.client.wsprotocol`, RFC 6455
            on a bare ``asyncio.Protocol``) or ``"aiohttp"`` (``ws_connect``, for comparison).
            Polling always runs on aiohttp.
        local_addr: the source address for WebSocket connections (``(host, 0)``); by
            default the one ``http`` was made with (``new_http_session(local_addr=...)``).
        parser: the Socket.IO parser, ``"default"`` or ``"msgpack"`` (or a
            :class:`~wsbench.protocol.parser.Parser`).
    """

    # slots: 10,000 idle connections in one process (a __dict__ each was ~1.5 KB)
    __slots__ = (
        "url", "http", "option", "path", "policy", "rng", "headers", "query", "timeout",
        "websocket_impl", "local_addr", "parser", "session", "sockets", "close_reason",
        "close_detail", "on_close", "_violations", "violation_count", "reconnects",
        "_transport", "_reader", "_upgrader", "_switch", "_opened", "_timer", "_closing",
        "_sleeping", "_paused", "_loop", "_time", "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        url: str,
        http: aiohttp.ClientSession | None,
        *,
        transports: str | TransportOption = TransportOption.WEBSOCKET,
        path: str = "/socket.io/",
        reconnection: ReconnectPolicy | None = None,
        rng: RandomSource | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        timeout: float = 20.0,
        websocket_impl: str = "asyncio",
        local_addr: tuple[str, int] | None = None,
        parser: str | Parser | None = None,
    ) -> None:
        if websocket_impl not in WEBSOCKET_IMPLS:
            raise ConfigError(f"websocket_impl must be asyncio or aiohttp, not {websocket_impl!r}")
        self.url = url
        self.http = http
        self.option = parse_transports(transports)
        self.path = path
        self.policy = reconnection
        self.rng = rng or _JITTER
        self.headers = headers
        self.query = query
        self.timeout = timeout
        self.websocket_impl = websocket_impl
        if local_addr is None:
            local_addr = source_address(http)
        self.local_addr = local_addr
        try:
            self.parser = get_parser(parser)
        except LocalProtocolError as exc:
            raise ConfigError(exc.detail) from None
        self.session = ClientSession(self.option.first, parser=self.parser)
        self.sockets: dict[str, Socket] = {}
        self.close_reason: DisconnectReason | None = None
        self.close_detail = ""
        #: called as ``on_close(reason, detail)`` each time a transport ends (before any
        #: reconnection): ``"ping timeout"``, ``"transport close"`` with ``"websocket closed
        #: (1009)"``, ``"io client disconnect"`` for our own close...
        self.on_close: Callable[[str, str], None] | None = None
        self._violations: deque[ProtocolViolation] | None = None  # made by the first one
        self.violation_count = 0
        self.reconnects = 0
        self._transport: Transport | None = None
        self._reader: asyncio.Task[None] | None = None
        self._upgrader: asyncio.Task[None] | None = None
        self._switch: asyncio.Future[None] | None = None
        self._opened: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._sleeping = False
        self._paused = False
        self._loop = asyncio.get_running_loop()
        self._time = self._loop.time

    # -- public ------------------------------------------------------------------------

    @property
    def transport(self) -> str:
        """The Engine.IO transport in use now."""
        return self.session.transport

    @property
    def sid(self) -> str | None:
        return self.session.sid

    @property
    def open(self) -> bool:
        return self.session.state is EioState.OPEN

    @property
    def violations(self) -> Sequence[ProtocolViolation]:
        """The last 32 peer violations this connection saw (``violation_count``: all of them)."""
        return self._violations if self._violations is not None else _NO_VIOLATIONS

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the reader runs on (the loop the connection was made in)."""
        return self._loop

    def socket(self, namespace: str = "/", auth: dict[str, Any] | None = None) -> Socket:
        """The socket of ``namespace``, connecting it now if it is new or inactive."""
        sock = self.sockets.get(namespace)
        if sock is None:
            sock = self.sockets[namespace] = Socket(self, namespace)
        if not self.session.is_active(namespace):
            sock._start_connect()
            self.session.connect(namespace, auth)
            self.flush()
        return sock

    async def start(self) -> None:
        """Open the first transport and wait for the Engine.IO handshake.

        Raises:
            ConnectFailed, HandshakeRejected, ResourceLimit: the target refused or is unreachable.
        """
        opened = self._opened = self._loop.create_future()
        await self._open_transport()
        self._reader = self._loop.create_task(self._run())
        try:
            done = await settled(opened, self.timeout)  # no asyncio.timeout's frames
        except BaseException:
            opened.cancel()  # cancelled: nobody will read what the reader sets
            raise
        if not done:
            opened.cancel()
            await self.close()
            raise ConnectFailed(self.url, f"no Engine.IO handshake within {self.timeout:g} s")
        opened.result()  # ConnectionClosed: the transport ended before the OPEN

    def flush(self) -> None:
        """Write whatever the session queued (called after every session verb)."""
        transport = self._transport
        if transport is not None:
            out = self.session.messages_to_send()
            if out:
                transport.send(out)

    async def close(self) -> None:
        """Close on purpose (``io client disconnect``); never reconnects. Idempotent."""
        if self._closing:
            return
        self._closing = True
        self.session.close()
        self.flush()
        self.pump()
        if self._upgrader is not None:
            self._upgrader.cancel()
        transport = self._transport
        if transport is not None:
            await transport.close()
            transport.abort()
        reader = self._reader
        if reader is not None and not reader.done():
            if self._sleeping:
                reader.cancel()
            # asyncio.wait_for(reader, 5.0) without its frames; as there, a late reader is
            # cancelled, its exception suppressed and so is a cancellation of this close
            try:
                if not await settled(reader, 5.0):
                    reader.cancel()
                    await asyncio.wait({reader})
                if not reader.cancelled():
                    reader.exception()  # retrieved: never "Task exception was never retrieved"
            except asyncio.CancelledError:
                reader.cancel()
        self._cancel_timer()
        self._release()

    def _release(self) -> None:
        """Gone for good (closed, or the policy gave up): break the reference cycles.

        The sockets let go of this connection (:meth:`Socket._detach`) and the ended tasks
        and futures are dropped, so a closed connection nobody references is freed by
        reference counting alone: the driver runs without full collections
        (:func:`~wsbench.client.loop.young_gc_only`), and a cycle that outlived two young
        collections would stay until the run ends. ``sockets``, ``close_reason``,
        ``violations`` and the counters stay readable.
        """
        for sock in self.sockets.values():
            sock._detach()
        reader = self._reader
        if reader is not None and reader.done():
            self._reader = None
        upgrader = self._upgrader
        if upgrader is not None and upgrader.done():
            self._upgrader = None
        self._switch = None
        self._opened = None
        self.on_close = None

    def abort(self) -> None:
        """Drop the transport abruptly, as a network failure would (no CLOSE, no DISCONNECT).

        The session then closes with ``transport close`` and, if the policy allows,
        reconnects, exactly as after a real failure. No-op without a transport.
        """
        transport = self._transport
        if transport is not None and not self._closing:
            transport.abort()

    def send_raw(self, message: str | bytes) -> None:
        """Write one raw Engine.IO-level message as is (fault injection), bypassing the session.

        On WebSocket it is one frame (``str`` text, ``bytes`` binary); on polling one
        record of the next POST (``str`` only).

        Raises:
            InvalidState: no transport is open.
        """
        transport = self._transport
        if transport is None or self.session.state is _CLOSED:
            raise InvalidState("no open transport to write to")
        transport.send([message])

    def pause_reading(self) -> None:
        """Stop reading the socket (a slow consumer): the server's write buffer fills.

        Nothing is received meanwhile, server pings included: a pause longer than
        pingInterval + pingTimeout ends in ``ping timeout`` on either side. Polling stops
        issuing GETs. Lasts across a reconnection until :meth:`resume_reading`.
        """
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        self._paused = False
        if self._transport is not None:
            self._transport.resume_reading()

    @property
    def reading_paused(self) -> bool:
        return self._paused

    # -- the reader task ---------------------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        attempt = 0
        while True:
            transport = self._transport
            assert transport is not None
            if self._paused:
                transport.pause_reading()
            feed = self._on_message if transport.name == "websocket" else self._on_payload
            try:
                result = await transport.read_loop(feed)
            except Exception as exc:  # a transport bug must not kill the connection silently
                logger.exception("read loop failed")
                result = ReadResult(DisconnectReason.TRANSPORT_ERROR, repr(exc))
            if result.reason is None and self._switch is not None:
                await self._switch  # polling paused for an upgrade: continue on the WebSocket
                self._switch = None
                if self._transport is not transport and session.state is not _CLOSED:
                    continue
            if session.state is not _CLOSED:
                if result.violation is not None:  # RFC 6455 broken: a violation, then closed
                    session.receive_transport_violation(
                        self._time(), result.detail, result.violation.spec_ref
                    )
                else:
                    session.receive_closed(
                        self._time(),
                        result.reason or DisconnectReason.TRANSPORT_CLOSE,
                        result.detail,
                    )
                self.pump()
            transport.abort()
            if self.on_close is not None:
                if self._closing:
                    self.on_close(_OUR_CLOSE, "")
                else:
                    why = self.close_reason or result.reason or DisconnectReason.TRANSPORT_CLOSE
                    self.on_close(why.value, self.close_detail or result.detail)
            if self._closing:
                for sock in self.sockets.values():
                    sock._gone(_OUR_CLOSE)
                self._release()
                return
            reason = self.close_reason or DisconnectReason.TRANSPORT_CLOSE
            # reconnect until a new transport is open (or the policy gives up)
            while True:
                policy = self.policy
                if (
                    policy is None
                    or not policy.should_reconnect(reason, attempt)
                    or not session.active_namespaces
                ):
                    self._fail_opened(ConnectionClosed(reason.value))
                    for sock in self.sockets.values():
                        sock._gone(reason.value)
                    self._release()
                    return
                delay = policy.next_delay(attempt, self.rng)
                attempt += 1
                self._sleeping = True
                try:
                    await asyncio.sleep(delay)
                finally:
                    self._sleeping = False
                if self._closing:
                    self._release()
                    return
                session.reopen(self.option.first)
                try:
                    await self._open_transport()
                except TransportError as exc:
                    logger.debug("reconnect attempt %d failed: %s", attempt, exc)
                    session.receive_closed(self._time(), DisconnectReason.TRANSPORT_ERROR, str(exc))
                    session.events_received()
                    continue
                self.reconnects += 1
                attempt = 0
                break

    async def _open_transport(self) -> None:
        session = self.session
        if session.transport == "websocket":
            url = engineio_url(self.url, self.path, "websocket", query=self.query)
            max_size = max(1_000_000, session.info.max_payload if session.info else 0)
            self._transport = await self._open_websocket(url, max_size)
            return
        assert self.http is not None, "polling needs an aiohttp session"
        from wsbench.client.polling import PollingTransport, handshake  # aiohttp: only here

        url = engineio_url(self.url, self.path, "polling", query=self.query)
        body = await handshake(self.http, url, headers=self.headers, timeout=self.timeout)
        self._transport = None
        session.receive_payload(body, self._time())
        if session.state is not EioState.OPEN or session.info is None:
            self.pump()
            raise ConnectFailed(self.url, f"invalid polling handshake {body[:80]!r}")
        sid_url = engineio_url(self.url, self.path, "polling", session.info.sid, self.query)
        self._transport = PollingTransport(
            self.http, sid_url, session.info.max_payload, self.headers
        )
        self.pump()
        self.flush()

    async def _open_websocket(self, url: str, max_size: int) -> ProbingTransport:
        if self.websocket_impl == "asyncio":
            return await ProtocolTransport.open(
                url, max_msg_size=max_size, headers=self.headers, timeout=self.timeout,
                local_addr=self.local_addr,
            )  # fmt: skip
        assert self.http is not None, "websocket_impl='aiohttp' needs an aiohttp session"
        from wsbench.client.websocket import WebSocketTransport

        return await WebSocketTransport.open(
            self.http, url, max_msg_size=max_size, headers=self.headers, timeout=self.timeout
        )

    # -- feeding -------------------------------------------------------------------------

    def _on_message(self, message: str | bytes) -> bool:
        session = self.session
        if type(message) is str:
            head = message[:2]
            if head == "42":  # a plain EVENT: the broadcast hot path
                fast = session.receive_event(message)
                if fast is not None:
                    sock = self.sockets.get(fast[0])
                    if sock is not None:
                        sock._on_event(fast[1], fast[2], fast[3])
                    return session.state is not _CLOSED
            elif head == "43":  # a plain ACK: the acked-emit hot path (no receive_event call)
                ack = session.receive_ack(message)
                if ack is not None:
                    sock = self.sockets.get(ack[0])
                    if sock is not None:
                        sock._on_ack(ack[1], ack[2])
                    return session.state is not _CLOSED
        session.receive_message(message, self._time())
        events = session.events_received()
        if events:
            self._dispatch(events)
        out = session.messages_to_send()
        if out:
            self._transport.send(out)  # type: ignore[union-attr]
        return session.state is not _CLOSED

    def _on_payload(self, body: str | bytes) -> bool:
        session = self.session
        session.receive_payload(body, self._time())
        self.pump()
        self.flush()
        return session.state is not _CLOSED

    def pump(self) -> None:
        """Dispatch the events the session queued (to the sockets, or here), then flush."""
        events = self.session.events_received()
        if events:
            self._dispatch(events)
            self.flush()

    def _dispatch(self, events: list[SessionEvent]) -> None:
        sockets = self.sockets
        for ev in events:
            cls = ev.__class__
            if cls is EventReceived:
                sock = sockets.get(ev.namespace)  # type: ignore[union-attr]
                if sock is not None:
                    sock._on_event(ev.event, ev.args, ev.ack_id)  # type: ignore[union-attr]
            elif cls is AckReceived:
                sock = sockets.get(ev.namespace)  # type: ignore[union-attr]
                if sock is not None:
                    sock._on_ack(ev.id, ev.args)  # type: ignore[union-attr]
            elif cls is Connected or cls is ConnectRefused or cls is Disconnected:
                sock = sockets.get(ev.namespace)  # type: ignore[union-attr]
                if sock is not None:
                    sock._on_state(ev)  # type: ignore[arg-type]
            elif cls is Opened:
                self._on_opened()
            elif cls is Closed:
                self.close_reason = ev.reason  # type: ignore[union-attr]
                self.close_detail = ev.detail  # type: ignore[union-attr]
                self._cancel_timer()
                if self._transport is not None:
                    self._transport.abort()
            elif cls is ProtocolViolation:
                self.violation_count += 1
                if self._violations is None:
                    self._violations = deque(maxlen=_MAX_VIOLATIONS_KEPT)
                self._violations.append(ev)  # type: ignore[arg-type]
                logger.debug("! %s", ev)

    def _on_opened(self) -> None:
        self.close_reason = None
        if self._opened is not None and not self._opened.done():
            self._opened.set_result(None)
        self._arm()
        if (
            self.option is TransportOption.POLLING_UPGRADE
            and self.session.transport == "polling"
            and self.session.info is not None
            and "websocket" in self.session.info.upgrades
        ):
            self._upgrader = self._loop.create_task(self._upgrade())

    async def _upgrade(self) -> None:
        """Polling -> WebSocket: the probe, then pause polling, ``5`` and switch transports.

        The reader's read loop returns once polling paused and waits on ``_switch``;
        it continues on ``_transport``, the WebSocket if the switch happened.
        """
        from wsbench.client.polling import PollingTransport  # imported by _open_transport

        session = self.session
        polling = self._transport
        assert isinstance(polling, PollingTransport) and session.sid is not None
        url = engineio_url(self.url, self.path, "websocket", session.sid, self.query)
        max_size = max(1_000_000, polling.max_payload)
        ws = await probe(
            session, lambda: self._open_websocket(url, max_size), self.timeout, self._time
        )
        if ws is None:
            self.pump()  # a wrong answer is a violation; the session stays on polling
            return
        self._switch = switch = self._loop.create_future()
        await polling.pause()
        if session.state is not EioState.OPEN:
            await ws.close()
            switch.set_result(None)
            return
        ws.send([session.finish_upgrade()])
        self._transport = ws
        self.flush()
        self.pump()
        switch.set_result(None)

    def _fail_opened(self, exc: Exception) -> None:
        if self._opened is not None and not self._opened.done():
            self._opened.set_exception(exc)

    # -- heartbeat deadline --------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is not None and self._timer is None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        session = self.session
        deadline = session.next_deadline()
        if deadline is None:
            return
        now = self._time()
        if now < deadline:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            return
        session.handle_deadline(now)
        self.pump()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
