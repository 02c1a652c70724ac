"""A blocking, green-thread-friendly Engine.IO connection around the sans-I/O session.

Theory of operation
-------------------
One :class:`Connection` is one Engine.IO session of one virtual user. It drives
:class:`~wsbench.protocol.client.ClientSession` over plain blocking sockets:
``websocket-client`` for the WebSocket handshake and writes, the shared sans-I/O
RFC 6455 codec (:class:`~wsbench.protocol.websocket.FrameParser`, the one the
asyncio transport uses) for reads (one ``recv`` of up to 64 KiB then parse every
frame in it, so a burst of broadcasts costs one system call), and ``requests``
for HTTP long-polling. A server that breaks RFC 6455 (a masked frame, bad UTF-8,
a message over maxPayload, ...) is judged as ``wsbench run`` judges it: CLOSE
with the RFC's code, a fatal ``ProtocolViolation`` and ``transport error``.
Under Locust, gevent's monkey patching makes every one of those
calls cooperative; this module never imports gevent itself: the caller passes a
:class:`Runtime` (spawn, sleep, event, lock), which keeps
:mod:`wsbench.integrations.locust` the only module that imports locust or gevent.

The reader feeds every frame to the session, answers Engine.IO pings inline (the
session queues the PONG, the reader writes it before reading again) and hands each
:class:`~wsbench.protocol.events.SessionEvent` to ``on_event(event, recv_ns)`` with
the time the bytes were read. ``on_event`` runs in the reader and must not block.
While it runs, :attr:`Connection.event_size` holds the payload bytes of the packet(s)
that produced the event (a binary event: header plus attachments; 0 for events no
packet caused, like a close), which Locust reports as the response length.
WebSocket connections share the runtime's :class:`~wsbench.integrations.frames.Poller`
when it has one (one green thread for all sockets); otherwise, and for polling, each
connection has its own reader green thread. Writes come from the user's green thread and
from the reader; a lock keeps frames (and polling POSTs, which Engine.IO forbids
to overlap) whole. Each :meth:`Connection.flush` writes from a green thread of its own that
the caller waits for: Locust kills the users' green threads when a run stops, and a write
cut there (a POST still connecting, half a frame) would lose messages the oracle already
counts as sent (their deliveries then "missing", their acks never answered).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from wsbench.exceptions import ConnectFailed, HandshakeRejected
from wsbench.integrations.frames import READ_SIZE
from wsbench.metrics import now_ns
from wsbench.protocol.client import CLOSED, ClientSession, polling_payloads
from wsbench.protocol.engineio import RECORD_SEPARATOR
from wsbench.protocol.events import Closed, DisconnectReason, Opened, SessionEvent
from wsbench.protocol.parser import Parser, get_parser
from wsbench.protocol.websocket import (
    DEFAULT_MAX_SIZE,
    OP_CLOSE,
    FrameParser,
    FrameViolation,
    close_payload,
)

__all__ = ["Runtime", "Connection", "engineio_url"]

_SLACK = 2.0  # seconds of grace on top of pingInterval + pingTimeout before a read gives up


class Runtime(Protocol):
    """How the connection runs concurrently (gevent under Locust, threads in unit tests)."""

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def sleep(self, seconds: float) -> None: ...
    def event(self) -> Any: ...  # set() / clear() / is_set() / wait(timeout) -> bool
    def lock(self) -> Any: ...  # a context manager

    # optional: ``poller``, a :class:`~wsbench.integrations.frames.Poller` all WebSocket
    # connections share (one green thread reads every socket; see frames.py)


def engineio_url(base: str, path: str, transport: str, sid: str | None = None) -> str:
    """The Engine.IO v4 endpoint URL; ``ws(s)://`` for the websocket transport."""
    parts = urlsplit(base if "://" in base else f"http://{base}")
    scheme = parts.scheme
    if transport == "websocket":
        scheme = {"http": "ws", "https": "wss"}.get(scheme, scheme)
    query = f"EIO=4&transport={transport}" + (f"&sid={sid}" if sid else "")
    full_path = "/" + path.strip("/") + "/"
    return urlunsplit((scheme, parts.netloc, full_path, query, ""))


class Connection:
    """One Engine.IO session of one virtual user, over ``websocket`` or ``polling``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:3000``.
        path: the Engine.IO path (``/socket.io/``).
        transport: ``websocket``, ``polling`` or ``polling+upgrade``.
        runtime: concurrency primitives (see :class:`Runtime`).
        on_event: called in the reader with each session event and its receive time (ns).
        timeout: seconds for the handshake and for each HTTP request.
        parser: the Socket.IO parser (``default`` or ``msgpack``: the scenario's ``parser``).
    """

    def __init__(
        self,
        base_url: str,
        *,
        path: str = "/socket.io/",
        transport: str = "websocket",
        runtime: Runtime,
        on_event: Callable[[SessionEvent, int], None],
        timeout: float = 10.0,
        parser: str | Parser | None = None,
    ) -> None:
        self.base_url = base_url
        self.path = path
        self.mode = transport
        self.runtime = runtime
        self.on_event = on_event
        self.timeout = timeout
        first = "polling" if transport.startswith("polling") else "websocket"
        self.session = ClientSession(first, parser=get_parser(parser))
        self._ws: Any = None
        self._http: Any = None
        self._write_lock = runtime.lock()
        self._opened = runtime.event()
        self._paused = runtime.event()
        self._reader: Any = None
        self._closing = False
        self._poll_fd: int | None = None
        self._frames: FrameParser | None = None
        self._now = 0.0
        self.closed_reason: str | None = None
        #: payload bytes of the packet behind the event being handed to ``on_event`` (0: none)
        self.event_size = 0
        self._ready: list[tuple[SessionEvent, int]] = []  # events from packets, with their bytes
        self._unclaimed = 0  # bytes of packets that produced no event yet (binary attachments)
        self._poll_cb: Callable[[bytes], bool] | None = None
        self._reading = runtime.event()  # set: read; clear: paused (a slow consumer)
        self._reading.set()

    # -- opening ------------------------------------------------------------------------

    def open(self) -> None:
        """Engine.IO handshake (blocking, bounded by ``timeout``); then the reader runs.

        Raises:
            ConnectFailed: the server cannot be reached or did not open a session in time.
            HandshakeRejected: the server answered the handshake with an HTTP error.
        """
        self._closing = False
        self._opened.clear()
        if self.session.transport == "websocket":
            self._ws = self._ws_connect(engineio_url(self.base_url, self.path, "websocket"))
            self._start_ws_reader(self._ws)
        else:
            import requests

            self._http = requests.Session()
            url = engineio_url(self.base_url, self.path, "polling")
            try:
                reply = self._http.get(url, timeout=self.timeout)
            except requests.RequestException as exc:
                raise ConnectFailed(url, str(exc)) from exc
            if reply.status_code != 200:
                raise HandshakeRejected(url, reply.status_code, reply.text[:200])
            self._feed_payload(reply.content, now_ns())
            self._reader = self.runtime.spawn(self._read_polling)
        if not self._opened.wait(self.timeout) or self.session.info is None:
            self.abort()
            raise ConnectFailed(self.base_url, f"no Engine.IO OPEN within {self.timeout:g}s")
        if self.mode == "polling+upgrade" and "websocket" in self.session.info.upgrades:
            self._upgrade()

    def _ws_connect(self, url: str) -> Any:
        import websocket

        try:
            ws = websocket.create_connection(
                url, timeout=self.timeout, skip_utf8_validation=True, enable_multithread=True
            )
        except websocket.WebSocketBadStatusException as exc:
            raise HandshakeRejected(url, exc.status_code, str(exc)[:200]) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise ConnectFailed(url, str(exc) or type(exc).__name__) from exc
        ws.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ws

    def _upgrade(self) -> None:
        """polling -> websocket: probe, pause polling, ``5``, switch (spec "Upgrade")."""
        info = self.session.info
        assert info is not None
        probe = self.session.start_upgrade()
        try:
            ws = self._ws_connect(engineio_url(self.base_url, self.path, "websocket", info.sid))
            ws.send(probe)
            ws.sock.settimeout(self.timeout)
            answer = ws.recv()
        except Exception:  # noqa: BLE001 - any failure keeps the session on polling
            self.session.abort_upgrade()
            return
        if not self.session.receive_probe(answer, time.monotonic()):
            self.session.abort_upgrade()
            ws.close()
            return
        self._paused.wait(self.timeout)  # the polling reader stops after its current GET
        self._ws = ws
        with self._write_lock:
            ws.send(self.session.finish_upgrade())
        self._dispatch(now_ns())
        self._start_ws_reader(ws)

    # -- writing --------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything the session queued (call after any session method that sends)."""
        messages = self.session.messages_to_send()
        if not messages:
            return
        done = self.runtime.event()
        self.runtime.spawn(self._write, messages, done)
        done.wait(None)  # a kill of the caller here leaves the write running to its end

    def _write(self, messages: list[Any], done: Any) -> None:
        try:
            with self._write_lock:
                if self.session.transport == "websocket" and self._ws is not None:
                    ws = self._ws
                    for m in messages:
                        if type(m) is str:
                            ws.send(m)
                        else:
                            ws.send_binary(m)
                else:
                    self._post(messages)
        except Exception as exc:  # noqa: BLE001 - a dead transport is an event, not a crash
            self._lost(f"write failed: {exc}")
        finally:
            done.set()

    def _post(self, messages: list[Any]) -> None:
        info = self.session.info
        limit = info.max_payload if info is not None else 1_000_000
        url = engineio_url(self.base_url, self.path, "polling", self.session.sid)
        for body in polling_payloads(messages, limit):
            reply = self._http.post(
                url,
                data=body.encode("utf-8"),
                timeout=self.timeout,
                headers={"Content-Type": "text/plain;charset=UTF-8"},
            )
            if reply.status_code != 200:
                raise ConnectionError(f"POST {reply.status_code}")

    # -- reading --------------------------------------------------------------------------

    def _dispatch(self, recv_ns: int) -> None:
        ready = self._ready
        more = self.session.events_received()  # events no packet caused (a close, ...)
        if ready:
            self._ready = []
            if more:
                ready.extend([(event, 0) for event in more])
        elif more:
            ready = [(event, 0) for event in more]
        for event, size in ready:
            if type(event) is Opened:
                self._opened.set()
            self.event_size = size
            self.on_event(event, recv_ns)
        self.event_size = 0
        self.flush()

    def _feed_payload(self, body: bytes, recv_ns: int) -> None:
        self._now = time.monotonic()
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if not text:  # the session names what is wrong with it
            self.session.receive_payload(body, self._now)
        else:  # as receive_payload does, one record at a time, to know each one's bytes
            for record in text.split(RECORD_SEPARATOR):
                if self.session.state.value == "closed":
                    break
                self._on_message(record)
        self._dispatch(recv_ns)

    def _lost(self, detail: str, violation: FrameViolation | None = None) -> None:
        if self._closing:
            return
        self._closing = True
        self.closed_reason = detail
        if violation is not None:
            self.session.receive_transport_violation(time.monotonic(), detail, violation.spec_ref)
        else:
            self.session.receive_closed(time.monotonic(), DisconnectReason.TRANSPORT_CLOSE, detail)
        for event in self.session.events_received():
            self.on_event(event, now_ns())
        self._close_sockets()

    def _read_polling(self) -> None:
        import requests

        session = self.session
        while session.state.value != "closed" and not self._closing:
            if session.upgrading:
                self._paused.set()
                return
            self._reading.wait()
            url = engineio_url(self.base_url, self.path, "polling", session.sid)
            info = session.info
            wait = (
                (info.ping_interval + info.ping_timeout) / 1000.0 + _SLACK if info else self.timeout
            )
            try:
                reply = self._http.get(url, timeout=wait)
            except requests.RequestException as exc:
                self._lost(f"poll failed: {exc}")
                return
            if reply.status_code != 200:
                self._lost(f"poll answered {reply.status_code}")
                return
            self._feed_payload(reply.content, now_ns())

    def _start_ws_reader(self, ws: Any) -> None:
        """Read ``ws`` with the runtime's shared poller if it has one, else a green thread."""
        info = self.session.info
        max_size = max(DEFAULT_MAX_SIZE, info.max_payload if info else 0)  # as the asyncio client
        frames = FrameParser(self._on_message, lambda payload: self._pong(ws, payload), max_size)
        self._frames = frames
        ws.sock.settimeout(None)  # no per-read timer: check_deadline() watches the heartbeat
        poller = getattr(self.runtime, "poller", None)
        if poller is not None:
            self._poll_fd = ws.sock.fileno()
            self._poll_cb = lambda data: self._on_data(frames, data)
            if self._reading.is_set():
                poller.add(self._poll_fd, self._poll_cb)
        else:
            self._reader = self.runtime.spawn(self._read_ws, ws, frames)

    def _on_message(self, message: Any) -> None:
        session = self.session
        session.receive_message(message, self._now)
        size = len(message) if type(message) is not str or message.isascii() else len(
            message.encode("utf-8")
        )
        events = session.events_received()
        if not events:
            self._unclaimed += size
            return
        size, self._unclaimed = size + self._unclaimed, 0
        for event in events:
            self._ready.append((event, size))

    def _pong(self, ws: Any, payload: bytes) -> None:
        with self._write_lock:
            ws.pong(payload)

    def _on_data(self, frames: FrameParser, data: bytes) -> bool:
        """Bytes read from the WebSocket; False when the connection is over."""
        if not data:
            self._lost("websocket closed (1006)")
            return False
        recv_ns = now_ns()
        self._now = time.monotonic()
        frames.feed(data)
        self._dispatch(recv_ns)
        if frames.done:
            self._ws_stopped(frames)
            return False
        if self.session.state is CLOSED:
            self._close_sockets()
            return False
        return True

    def _ws_stopped(self, frames: FrameParser) -> None:
        """The codec stopped: fail the connection (a violation) or echo the server's CLOSE."""
        violation = frames.violation
        code = violation.code if violation is not None else frames.close_code or 1005
        ws = self._ws
        if ws is not None and not self._closing:
            try:
                with self._write_lock:  # §7.1.7 / §5.5.1: CLOSE with the code, then drop TCP
                    ws.send(close_payload(code) if code != 1005 else b"", OP_CLOSE)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
        if violation is not None:
            self._lost(violation.detail, violation)
        else:
            reason = frames.close_reason
            self._lost(f"websocket closed ({code})" + (f": {reason}" if reason else ""))

    def _read_ws(self, ws: Any, frames: FrameParser) -> None:
        """The green-thread reader (a runtime without a poller)."""
        sock = ws.sock
        while True:
            self._reading.wait()
            try:
                data = sock.recv(READ_SIZE)
            except (OSError, AttributeError) as exc:
                self._lost(f"read failed: {exc}")
                return
            if not self._on_data(frames, data):
                return

    def check_deadline(self, now: float | None = None) -> bool:
        """Close the session if the server's pings stopped (call about once a second).

        Readers block without a timer (one timer per read costs more than the read), so
        a watchdog calls this for every connection. Returns False once closed.
        """
        session = self.session
        if self._closing or session.state.value != "open":
            return not self._closing
        session.handle_deadline(time.monotonic() if now is None else now)
        if session.state.value == "closed":
            self._dispatch(now_ns())
            self._closing = True
            self._close_sockets()
            return False
        return True

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close on purpose: DISCONNECT every namespace, then the transport."""
        if self._closing:
            return
        self.session.close()
        self.flush()
        self._closing = True
        for event in self.session.events_received():
            self.on_event(event, now_ns())
        if self._ws is not None:
            try:
                with self._write_lock:
                    self._ws.send_close()
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
        self._close_sockets()

    def abort(self) -> None:
        """Drop the transport without a goodbye (no DISCONNECT, no close frame).

        As after a real network failure, the session closes with ``transport close``
        (its events reach ``on_event``), so a reconnection policy applies.
        """
        self._lost("transport aborted by the client")
        self._closing = True
        self._close_sockets()

    def send_raw(self, message: str) -> bool:
        """Write one raw Engine.IO message, bypassing the session (fault injection).

        One text frame on WebSocket, one record of a POST on polling. False: no transport.
        """
        if self._closing or self.session.state.value != "open":
            return False
        try:
            with self._write_lock:
                if self.session.transport == "websocket" and self._ws is not None:
                    self._ws.send(message)
                else:
                    self._post([message])
        except Exception as exc:  # noqa: BLE001 - a dead transport is an event, not a crash
            self._lost(f"write failed: {exc}")
            return False
        return True

    def pause_reading(self) -> None:
        """Stop reading (a slow consumer): the server's buffer fills; pings go unread too."""
        self._reading.clear()
        if self._poll_fd is not None:
            self.runtime.poller.remove(self._poll_fd)  # type: ignore[attr-defined]

    def resume_reading(self) -> None:
        """Undo :meth:`pause_reading`."""
        if self._reading.is_set():
            return
        self._reading.set()
        if self._poll_fd is not None and self._poll_cb is not None:
            self.runtime.poller.add(self._poll_fd, self._poll_cb)  # type: ignore[attr-defined]

    def _close_sockets(self) -> None:
        self._reading.set()  # a paused reader wakes up to see the end
        if self._poll_fd is not None:
            self.runtime.poller.remove(self._poll_fd)  # type: ignore[attr-defined]
            self._poll_fd = None
        # the codec and the poller's callback hold our bound methods: reference cycles that
        # would keep a closed connection until a full collection (tests/integrations/
        # test_wire_freed.py); a reader still running keeps its own ``frames``
        self._frames = None
        self._poll_cb = None
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
            try:
                ws.shutdown()
            except Exception:  # noqa: BLE001, S110
                pass
        http, self._http = self._http, None
        if http is not None:
            http.close()

    @property
    def is_open(self) -> bool:
        return not self._closing and self.session.state.value == "open"

    def reopen(self) -> None:
        """A new Engine.IO session on the same session object (reconnection)."""
        if self.session.state.value != "closed":
            self.session.receive_closed(time.monotonic(), DisconnectReason.TRANSPORT_CLOSE)
            for event in self.session.events_received():
                if type(event) is not Closed:
                    self.on_event(event, now_ns())
        self._close_sockets()
        first = "polling" if self.mode.startswith("polling") else "websocket"
        self.session.reopen(first)
        self.open()
