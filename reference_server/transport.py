"""One Engine.IO connection's I/O: the sans-I/O session plus the transport it is on.

Theory of operation
-------------------
:class:`EngineConnection` owns a server-role session (``EioServerSession`` or
``ServerSession``) and shuttles bytes for it. After *every* call into the session
it runs :meth:`EngineConnection.pump`: write what the session queued, hand the
session's events to the owner (the Socket.IO server or the echo app), repeat
until both are empty, then re-arm the one timer at ``session.next_deadline()``.
Because every write happens synchronously right after the call that caused it,
packets leave in the order the application produced them, including packets
written by the fan-out fast path (:meth:`write_prebuilt`), which bypasses the
session.

WebSocket: aiohttp does the HTTP upgrade and reads frames; writes bypass aiohttp's
writer: the connection builds the (unmasked, uncompressed) frame itself and calls
``transport.write`` on the request's transport. A broadcast builds its frame bytes
once and writes the same object to every recipient (:func:`fan_out`, one loop over the
adapter's cached recipient connections): when nothing waits in a recipient's transport
(its write buffer is empty, it is not closing) the frame goes to the socket with one
``os.write`` on its descriptor, the syscall the transport's own write would make, without
its bookkeeping; what the kernel does not take, and every frame after it until the
transport drained, goes through ``transport.write``, so order and back-pressure stay the
transport's. Compression is never negotiated (``compress=False``), so raw frames are valid.

Long-polling: packets are kept as encoded polling records until a GET is pending;
the GET's future receives the joined payload of at most ``maxPayload`` bytes (one record
larger than that goes alone), the rest waits for the next GET. So one drain costs at most
one ``maxPayload`` of joining and writing, never the whole backlog (issue 9 #2: a 1.5 GB
drain once blocked the event loop for 6.8 s).

Back-pressure: a connection whose unsent bytes exceed ``write_buffer_limit`` is a
slow consumer and is closed (``transport error``): on WebSocket the transport's write
buffer, on polling the queued records (counted in UTF-8 bytes), so a client that POSTs and
never GETs cannot grow its queue without bound. A volatile packet is dropped when the
transport is not writable (above ``volatile_high_water`` unsent bytes on WebSocket, no GET
pending on polling).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from wsbench.protocol.engineio import NOOP, RECORD_SEPARATOR, EioPacket
from wsbench.protocol.events import Closed, DisconnectReason, SessionEvent, Upgraded
from wsbench.protocol.server import EioServerSession, ServerSession, Transport

if TYPE_CHECKING:
    from aiohttp import web

    from reference_server.config import ServerConfig

__all__ = ["EngineConnection", "EventSink", "Prebuilt", "fan_out", "ws_frame"]

log = logging.getLogger(__name__)


def ws_frame(data: str | bytes) -> bytes:
    """One final, unmasked server WebSocket frame (RFC 6455 §5.2): text for str, binary for bytes."""
    if isinstance(data, str):
        payload, head = data.encode("utf-8"), 0x81
    else:
        payload, head = data, 0x82
    n = len(payload)
    if n < 126:
        return bytes((head, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", head, 126, n) + payload
    return struct.pack("!BBQ", head, 127, n) + payload


class Prebuilt:
    """A Socket.IO packet encoded once for every recipient: WebSocket frames and polling text."""

    __slots__ = ("parts", "ws", "_polling")

    def __init__(self, parts: list[str | bytes]) -> None:
        self.parts = parts
        self.ws = b"".join(ws_frame("4" + p) if isinstance(p, str) else ws_frame(p) for p in parts)
        self._polling: list[str] | None = None

    @property
    def polling(self) -> list[str]:
        if self._polling is None:
            self._polling = [
                "4" + p if isinstance(p, str) else "b" + base64.b64encode(p).decode("ascii")
                for p in self.parts
            ]
        return self._polling


def fan_out(conns: Sequence[EngineConnection], packet: Prebuilt, volatile: bool = False) -> int:
    """Write ``packet`` to every connection of ``conns``; returns how many were written.

    A broadcast's loop: :meth:`EngineConnection.write_prebuilt` inlined for its common case, a
    connection on the fast path with nothing queued (not inside its pump, nothing in the
    transport's buffer): one ``write(2)`` of the frame bytes to its socket, no call per
    recipient. Every other case (volatile, polling, faults, a closing transport, a partial
    write, a connection whose pump is running) takes the general path, with the same result.

    Hand-written hot path (bench/README.md "Server fan-out, wave 2e"): per recipient it reads
    the connection's own slots and asks its transport two questions, nothing else. Session
    output can only be waiting while that connection's :meth:`EngineConnection.pump` runs
    (every call into a session is followed by a pump, which drains it; a call made inside a
    pump, e.g. a handler's ``socket.emit`` before it broadcasts to its own room, is drained
    by that pump's next turn), so ``_pumping`` stands in for reading the session's outbox:
    one slot of the connection instead of three objects more per recipient (the session,
    its ``__dict__``, the list).
    """
    if volatile:
        return sum(1 for conn in conns if conn.write_prebuilt(packet, True))
    data = packet.ws
    size = len(data)
    write = os.write
    dropped = 0
    for conn in conns:
        fd = conn._fast_fd
        if fd >= 0 and not conn._pumping:
            wt = conn._fast_wt  # set whenever _fast_fd >= 0 (_set_fast, _slow_consumer, _finish)
            if (
                not wt.is_closing()  # type: ignore[union-attr]  # first: its fd may be closed
                and not wt.get_write_buffer_size()  # type: ignore[union-attr]
            ):
                try:
                    n = write(fd, data)
                except OSError:  # full (EAGAIN) or broken: the transport's write handles it
                    n = 0
                if n != size:
                    conn._write_tail(data[n:])
                continue
        if not conn.write_prebuilt(packet, False):
            dropped += 1
    return len(conns) - dropped


class EventSink(Protocol):
    """What a connection reports its session's events to."""

    def on_event(self, conn: EngineConnection, event: SessionEvent) -> None: ...


class EngineConnection:
    """I/O side of one Engine.IO session (see module docstring)."""

    # slots: a broadcast reads a few attributes of every recipient (fan_out); a slot is a fixed
    # offset in a smaller object instead of a lookup in a per-instance dict
    __slots__ = (
        "session", "sid", "sink", "config", "registry", "loop", "ws", "wt", "probe_ws",
        "probe_wt", "poll_buffer", "poll_bytes", "pending_get", "posting", "finished", "sockets",
        "_timer", "_timer_at", "_pumping", "_reorder", "_drop", "_held", "_eio", "_fast_wt",
        "_fast_fd", "_plain", "_limit",
    )  # fmt: skip

    def __init__(
        self,
        session: EioServerSession | ServerSession,
        sink: EventSink,
        config: ServerConfig,
        registry: dict[str, EngineConnection],
    ) -> None:
        self.session = session
        self.sid = session.sid
        self.sink = sink
        self.config = config
        self.registry = registry
        self.loop = asyncio.get_running_loop()
        self.ws: web.WebSocketResponse | None = None
        self.wt: asyncio.Transport | None = None
        self.probe_ws: web.WebSocketResponse | None = None
        self.probe_wt: asyncio.Transport | None = None
        self.poll_buffer: list[str] = []
        self.poll_bytes = 0  # UTF-8 size of poll_buffer's records
        self.pending_get: asyncio.Future[str] | None = None
        self.posting = False
        self.finished = False
        self.sockets: dict[str, Any] = {}  # namespace -> Socket (Socket.IO layer)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pumping = False
        self._reorder = config.has_fault("reorder")
        self._drop = config.has_fault("drop-deliveries")
        self._held: bytes | list[str] | None = None
        self._eio = session.eio if isinstance(session, ServerSession) else session
        # the fan-out fast path: set while on an open WebSocket with no fault configured
        self._fast_wt: asyncio.Transport | None = None
        self._fast_fd = -1  # its socket's descriptor, for direct writes (-1: none)
        self._plain = not (self._reorder or self._drop)
        self._limit = config.write_buffer_limit
        registry[self.sid] = self

    # -- attach transports ----------------------------------------------------------------

    def attach_ws(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws, self.wt = ws, transport
        self._set_fast(transport)

    def _set_fast(self, transport: asyncio.Transport | None) -> None:
        self._fast_wt = transport if self._plain else None
        self._fast_fd = _direct_fd(transport) if self._fast_wt is not None else -1

    def now(self) -> float:
        return self.loop.time()

    # -- the pump -------------------------------------------------------------------------

    def pump(self) -> None:
        """Write queued output, dispatch events until quiet, then re-arm the timer."""
        if self._pumping:
            return
        self._pumping = True
        try:
            session = self.session
            while True:
                self.flush()
                events = session.events_received()
                if not events:
                    break
                for event in events:
                    if isinstance(event, Upgraded):
                        self._complete_upgrade()
                    try:
                        self.sink.on_event(self, event)
                    except Exception:  # a boundary: an app bug must not kill the connection loop
                        log.exception("! event handler failed for %r", event)
            if session.closed:
                self._finish()
            else:
                self._arm_timer()
        finally:
            self._pumping = False

    def flush(self) -> None:
        """Write what the session queued (the fan-out path calls this before writing)."""
        session = self.session
        out = session.messages_to_send()
        if out:
            if session.transport is Transport.WEBSOCKET and self.wt is not None:
                self._write(b"".join(ws_frame(p.encode()) for p in out))
            else:
                self.queue_records([p.encode_polling() for p in out])
        if self.probe_wt is not None:
            for p in session.probe_messages_to_send():
                self.probe_wt.write(ws_frame(p.encode()))

    def _arm_timer(self) -> None:
        deadline = self.session.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = None if deadline is None else self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.session.handle_deadline(self.now())
        self.pump()

    # -- writing --------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        wt = self.wt
        if wt is None or wt.is_closing():
            return
        wt.write(data)
        if wt.get_write_buffer_size() > self.config.write_buffer_limit:
            self._slow_consumer()

    def queue_records(self, records: list[str]) -> None:
        """Queue polling records; past ``write_buffer_limit`` bytes the client is a slow consumer."""
        if self.finished:
            return
        self.poll_buffer.extend(records)
        self.poll_bytes += sum(len(r) if r.isascii() else len(r.encode()) for r in records)
        if self.poll_bytes > self._limit:
            self._slow_consumer()
            return
        self._answer_get()

    def take_poll_body(self) -> str:
        """Remove and join the queued records that fit in one ``maxPayload`` (at least one)."""
        buffer = self.poll_buffer
        limit = self.config.max_payload
        size = 0
        k = 0
        for record in buffer:
            n = (len(record) if record.isascii() else len(record.encode())) + (1 if k else 0)
            if k and size + n > limit:
                break
            size += n
            k += 1
        taken = buffer if k == len(buffer) else buffer[:k]
        self.poll_buffer = [] if k == len(buffer) else buffer[k:]
        self.poll_bytes = 0 if not self.poll_buffer else self.poll_bytes - (size - (k - 1))
        return RECORD_SEPARATOR.join(taken)

    def _answer_get(self) -> None:
        fut = self.pending_get
        if fut is not None and not fut.done() and self.poll_buffer:
            fut.set_result(self.take_poll_body())

    def writable(self) -> bool:
        """Whether a volatile packet would be written now (socket.io ``transport.writable``)."""
        if self.session.transport is Transport.WEBSOCKET:
            wt = self.wt
            return (
                wt is not None
                and not wt.is_closing()
                and wt.get_write_buffer_size() <= self.config.volatile_high_water
            )
        fut = self.pending_get
        return fut is not None and not fut.done()

    def write_prebuilt(self, packet: Prebuilt, volatile: bool = False) -> bool:
        """Fan-out fast path: write a packet encoded once for many recipients.

        Returns whether it was written (volatile drops, faults).
        """
        if self._eio.outbox:
            self.flush()  # what the session queued earlier goes first
        wt = self._fast_wt
        if wt is not None and not volatile:
            if wt.is_closing():
                return False  # checked first: a closing transport's descriptor may be closed
            frame = packet.ws
            if self._fast_fd >= 0 and not wt.get_write_buffer_size():
                # nothing waits in the transport: one write(2) straight to the socket (what the
                # transport's write does first, without its bookkeeping); what the kernel does
                # not take goes to the transport after it, in order, back-pressure counted
                try:
                    n = os.write(self._fast_fd, frame)
                except OSError:  # full (EAGAIN) or broken: the transport's write handles it
                    n = 0
                if n == len(frame):
                    return True
                frame = frame[n:]
            self._write_tail(frame)
            return True
        session = self.session
        if session.closed:
            return False
        if volatile and not self.writable():
            return False
        if self._drop and not volatile and random.random() < 0.01:
            return False
        if session.transport is Transport.WEBSOCKET and self.wt is not None:
            data: bytes | list[str] = packet.ws
        else:
            data = packet.polling
        if self._reorder:
            swapped = self._maybe_swap(data)
            if swapped is None:
                return True
            data = swapped
        self._write_data(data)
        return True

    def _write_tail(self, data: bytes) -> None:
        """The part of a fast-path frame the socket did not take: queued in the transport."""
        wt = self._fast_wt
        if wt is not None:
            wt.write(data)
            if wt.get_write_buffer_size() > self._limit:
                self._slow_consumer()

    def _write_data(self, data: bytes | list[str]) -> None:
        if isinstance(data, bytes):
            if self.session.transport is Transport.WEBSOCKET:
                self._write(data)
            return
        self.queue_records(data)

    def _maybe_swap(self, data: bytes | list[str]) -> bytes | list[str] | None:
        # fault "reorder": hold one delivery now and then, write it after the next one
        if self._held is not None:
            held, self._held = self._held, None
            self._write_data(data)
            return held
        if random.random() < 0.05:
            self._held = data
            self.loop.call_later(0.05, self._release_held)
            return None
        return data

    def _release_held(self) -> None:
        if self._held is not None and not self.session.closed:
            held, self._held = self._held, None
            self._write_data(held)

    def _slow_consumer(self) -> None:
        log.warning("x closing slow consumer %s", self.sid)
        self._fast_wt, self._fast_fd = None, -1
        self.poll_buffer, self.poll_bytes = [], 0  # nobody will read them: free the memory now
        self.session.close(DisconnectReason.TRANSPORT_ERROR, "slow consumer")
        if self.wt is not None:
            self.wt.abort()
        self.loop.call_soon(self.pump)

    # -- upgrade --------------------------------------------------------------------------

    def _complete_upgrade(self) -> None:
        # spec "Upgrade": after "5" everything goes on the WebSocket; polling records move over
        self.ws, self.wt = self.probe_ws, self.probe_wt
        self._set_fast(self.wt)
        self.probe_ws = self.probe_wt = None
        records, self.poll_buffer = self.poll_buffer, []
        self.poll_bytes = 0
        if self.pending_get is not None and not self.pending_get.done():
            self.pending_get.set_result(NOOP.encode_polling())
        frames = []
        for record in records:
            packet = EioPacket.decode(record)
            if packet.type is not NOOP.type:
                frames.append(ws_frame(packet.encode()))
        if frames:
            self._write(b"".join(frames))

    # -- closing --------------------------------------------------------------------------

    def close(self, reason: DisconnectReason = DisconnectReason.FORCED_CLOSE) -> None:
        """Server-initiated close of the whole connection."""
        self.session.close(reason)
        self.pump()

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self._fast_wt, self._fast_fd = None, -1
        self.registry.pop(self.sid, None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fut = self.pending_get
        if fut is not None and not fut.done():
            # the session queued its last packet (NOOP or CLOSE) for the pending GET
            body = self.take_poll_body() if self.poll_buffer else "1"
            fut.set_result(body)
        self.poll_buffer, self.poll_bytes = [], 0
        for ws in (self.ws, self.probe_ws):
            if ws is not None and not ws.closed:
                self.loop.create_task(_close_ws(ws))

    def on_transport_gone(self, reason: DisconnectReason, detail: str = "") -> None:
        """The current transport went away under the session."""
        if not self.session.closed:
            self.session.close(reason, detail)
            self.pump()


def _direct_fd(transport: asyncio.Transport | None) -> int:
    """The descriptor of a plain TCP transport's socket, or -1 (TLS, no socket: write via it)."""
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


async def _close_ws(ws: web.WebSocketResponse) -> None:
    try:
        await asyncio.wait_for(ws.close(), 2.0)
    except (TimeoutError, ConnectionError, RuntimeError):
        pass


def closed_reason(events: list[SessionEvent]) -> DisconnectReason | None:
    for event in events:
        if isinstance(event, Closed):
            return event.reason
    return None
