"""A small Socket.IO client on the raw probe, for the contract, security and recovery checks.

Those checks are about *who receives what* (docs/events.md), not about the wire spelling, so
:class:`Peer` decodes with :mod:`wsbench.protocol` and records every event it receives, with
its namespace and arrival order, for the checks to compare against the exact recipients the
contract names. Every frame still lands in the check's transcript. A peer answers Engine.IO
pings (through the raw WebSocket) and, unless told otherwise, the contract's app-level
``ping`` event with ``pong``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsbench.client.raw import CLOSED, RawWebSocket
from wsbench.conformance.context import CheckContext
from wsbench.conformance.sio import mint_token
from wsbench.exceptions import ProtocolError
from wsbench.protocol.socketio import SioDecoder, SioPacket, SioPacketType

__all__ = ["Peer", "Received", "offers", "until_any", "BASELINE"]

BASELINE = "message-with-ack"
"""The official harness's acked event, which every target of the gate offers (S28)."""
_BACKGROUND = frozenset({"ping", "auth"})  # events a peer gets unasked (app heartbeat, harness)
_REFUSED_NAMESPACE = ("Invalid namespace", "Unable to connect")
_SILENT_CODES = frozenset({1000, 1005})  # close frames that state no reason (a heartbeat timeout)


@dataclass(frozen=True, slots=True)
class Received:
    """One event a peer received."""

    namespace: str
    name: Any
    args: tuple[Any, ...]
    seq: int
    ack_id: int | None = None
    recv_ns: int = 0

    @property
    def arg(self) -> Any:
        return self.args[0] if self.args else None


class Peer:
    """One Engine.IO connection with any number of namespaces. Create with :meth:`open`."""

    def __init__(
        self, ctx: CheckContext, ws: RawWebSocket, label: str, answer_app_ping: bool
    ) -> None:
        self.ctx = ctx
        self.ws = ws
        self.label = label
        self.answer_app_ping = answer_app_ping
        self.sids: dict[str, str] = {}
        self.connect_answers: dict[str, Any] = {}
        self.events: list[Received] = []
        #: per ack received, the ``seq`` of the last event received before it (0: none yet):
        #: where acks sat between the events
        self.ack_after: list[int] = []
        self.disconnected: list[str] = []
        #: the server sent an Engine.IO CLOSE packet (``1``) before closing
        self.eio_close = False
        self.pings = 0  #: Engine.IO pings received (the raw WebSocket answered each on arrival)
        self.last_ping_ms: float | None = None  #: transcript time of the last one
        self.violations: list[str] = []
        self._decoder = SioDecoder()
        self._acks: dict[tuple[str, int], asyncio.Future[list[Any]]] = {}
        self._connects: dict[str, asyncio.Future[tuple[SioPacketType, Any]]] = {}
        self._next_id = 1
        self._seq = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())
        self.closed = False
        ctx.peers.append(self)

    @classmethod
    async def open(
        cls,
        ctx: CheckContext,
        namespaces: tuple[str, ...] = ("/",),
        auth: dict[str, Any] | None = None,
        url: str | None = None,
        label: str = "",
        answer_app_ping: bool = True,
        secret: str | None = None,
    ) -> Peer:
        """Open a WebSocket session and connect ``namespaces`` (FAILED if one is refused).

        ``auth`` is the CONNECT payload; when the server verifies JWTs (``secret``, or the
        target's own secret for its URL) a valid token is added unless ``auth`` has one.
        """
        probe = await ctx.probe_for(url) if url else ctx.probe
        ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket", timeout=ctx.t(5.0))
        ctx.expect(not ws.closed, f"websocket refused: HTTP {ws.handshake_status}")
        first = await ws.recv(ctx.t(3.0), skip_pings=False)
        ctx.expect(isinstance(first, str) and first.startswith("0"), f"no OPEN packet: {first!r}")
        peer = cls(ctx, ws, label or ws.channel, answer_app_ping)
        if secret is None and (url is None or url == ctx.target.url):
            secret = ctx.target.jwt_secret
        payload = dict(auth or {})
        if secret and "token" not in payload:
            payload["token"] = mint_token(
                secret, {"userId": payload.pop("userId", None) or peer.label}
            )
        for ns in namespaces:
            kind, data = await peer.connect(ns, payload or None)
            if kind is not SioPacketType.CONNECT:
                message = data.get("message") if isinstance(data, dict) else data
                if ns != "/" and message in _REFUSED_NAMESPACE:
                    ctx.unimplemented(f"the target does not offer namespace {ns} ({data!r})")
                ctx.fail(f"{peer.label}: CONNECT to {ns} refused: {data!r}")
        return peer

    # -- sending ----------------------------------------------------------------------

    @staticmethod
    def _frames(packet: SioPacket) -> list[str | bytes]:
        """``packet`` as WebSocket frames: the Engine.IO message, then its attachments."""
        text, *buffers = packet.encode()
        return ["4" + text, *buffers]

    def _new_ack(self, ns: str) -> tuple[int, asyncio.Future[list[Any]]]:
        """A fresh ack id in ``ns`` and the future its ack resolves."""
        ack_id = self._next_id
        self._next_id += 1
        fut: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[(ns, ack_id)] = fut
        return ack_id, fut

    async def send_packet(self, packet: SioPacket) -> None:
        for frame in self._frames(packet):
            await self.ws.send(frame)  # type: ignore[operator]

    async def connect(
        self, ns: str, auth: dict[str, Any] | None = None, timeout: float = 3.0
    ) -> tuple[SioPacketType, Any]:
        """Send CONNECT; returns (CONNECT, data) or (CONNECT_ERROR, data)."""
        fut = asyncio.get_running_loop().create_future()
        self._connects[ns] = fut
        await self.send_packet(SioPacket.connect(ns, auth))
        try:
            async with asyncio.timeout(self.ctx.t(timeout)):
                return await fut
        except TimeoutError:
            self.ctx.fail(
                f"{self.label}: no answer to CONNECT {ns} within {self.ctx.t(timeout):.1f} s"
            )

    async def emit(self, event: str, *args: Any, ns: str = "/") -> None:
        await self.send_packet(SioPacket.event(event, *args, namespace=ns))

    async def ask(self, event: str, *args: Any, ns: str = "/") -> asyncio.Future[list[Any]]:
        """Emit with an ack id; returns the future of the ack's arguments (not awaited)."""
        ack_id, fut = self._new_ack(ns)
        await self.send_packet(SioPacket.event(event, *args, namespace=ns, id=ack_id))
        return fut

    async def burst(
        self, event: str, sends: list[tuple[list[Any], bool]], ns: str = "/"
    ) -> list[asyncio.Future[list[Any]] | None]:
        """Emit ``event`` once per ``(args, acked)`` in ``sends``, every frame in one write (a
        client's burst: the server reads them together); the ack futures (``None`` for an
        unacked send), not awaited."""
        frames: list[str | bytes] = []
        futures: list[asyncio.Future[list[Any]] | None] = []
        for args, acked in sends:
            ack_id, fut = self._new_ack(ns) if acked else (None, None)
            frames += self._frames(SioPacket.event(event, *args, namespace=ns, id=ack_id))
            futures.append(fut)
        await self.ws.send_many(frames)  # type: ignore[attr-defined]
        return futures

    async def call(self, event: str, *args: Any, ns: str = "/", timeout: float = 2.0) -> Any:
        """Emit with an ack id; returns the ack's first argument.

        No ack in time: UNIMPLEMENTED if the target does not offer ``event`` at all
        (:func:`offers`), else FAILED.
        """
        fut = await self.ask(event, *args, ns=ns)
        try:
            async with asyncio.timeout(self.ctx.t(timeout)):
                values = await fut
        except TimeoutError:
            if self.closed:  # say why: the server closed this connection (code, heartbeat?)
                self.ctx.fail(
                    f"{self.label}: no ack for {event!r}: the server closed the connection "
                    f"(code {self.ws.close_code}, {self.ws.pings} pings answered"
                    f"{', none DISCONNECT' if ns not in self.disconnected else ', after DISCONNECT'})"
                )
            await require(self.ctx, event, args, ns)
            self.ctx.fail(f"{self.label}: no ack for {event!r} within {self.ctx.t(timeout):.1f} s")
        return values[0] if values else None

    async def ack(self, received: Received, *args: Any) -> None:
        assert received.ack_id is not None
        await self.send_packet(SioPacket.ack(received.ack_id, args, received.namespace))

    # -- receiving --------------------------------------------------------------------

    def got(self, name: str, ns: str = "/") -> list[Received]:
        return [e for e in self.events if e.name == name and e.namespace == ns]

    async def wait_for(
        self, name: str, ns: str = "/", count: int = 1, timeout: float = 2.0
    ) -> list[Received]:
        """Wait until ``count`` events ``name`` arrived (FAILED otherwise); returns them all."""
        deadline = asyncio.get_running_loop().time() + self.ctx.t(timeout)
        while len(self.got(name, ns)) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self.closed:
                have = len(self.got(name, ns))
                why = "connection closed" if self.closed else f"{self.ctx.t(timeout):.1f} s passed"
                self.ctx.fail(f"{self.label}: got {have} of {count} {name!r} on {ns} ({why})")
            await self._next_change(remaining)
        return self.got(name, ns)

    async def until(self, condition: Callable[[], bool], within: float) -> bool:
        """Wait until ``condition()`` holds, re-testing after every frame; False at ``within`` s.

        ``within`` is already scaled (e.g. :attr:`CheckContext.deliver_within`). Also
        returns (with the condition's value) once the connection is closed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                return condition()
            await self._next_change(remaining)
        return True

    async def _next_change(self, within: float) -> None:
        """Until the next frame is handled (or ``within`` s). asyncio.timeout, not wait_for:
        Python 3.11's wait_for can swallow a cancellation of the check."""
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._changed.wait()

    async def wait_disconnect(self, ns: str = "/", timeout: float = 2.0) -> bool:
        deadline = asyncio.get_running_loop().time() + self.ctx.t(timeout)
        while ns not in self.disconnected and not self.closed:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            await self._next_change(remaining)
        return True

    async def _read(self) -> None:
        while True:
            frame = await self.ws.recv(3600.0, skip_pings=False)
            if frame is CLOSED:
                self.closed = True
                self._changed.set()
                return
            if frame is None:
                continue
            if isinstance(frame, str):
                if not frame.startswith("4"):
                    if frame == "2":
                        self.pings += 1
                        self.last_ping_ms = self.ws.transcript.elapsed_ms()
                    elif frame == "1":
                        self.eio_close = True
                    continue
                frame = frame[1:]
            try:
                packet = self._decoder.feed(frame)
            except ProtocolError as exc:
                self.violations.append(str(exc))
                continue
            if packet is not None:
                await self._dispatch(packet)
            self._changed.set()

    async def _dispatch(self, p: SioPacket) -> None:
        if p.type in (SioPacketType.CONNECT, SioPacketType.CONNECT_ERROR):
            if p.type is SioPacketType.CONNECT and isinstance(p.data, dict):
                self.sids[p.namespace] = p.data.get("sid", "")
                self.connect_answers[p.namespace] = p.data
            fut = self._connects.pop(p.namespace, None)
            if fut is not None and not fut.done():
                fut.set_result((p.type, p.data))
        elif p.is_event:
            self._seq += 1
            self.events.append(
                Received(
                    p.namespace, p.event_name, tuple(p.args), self._seq, p.id, time.monotonic_ns()
                )
            )
            if self.answer_app_ping and p.event_name == "ping" and p.namespace == "/":
                await self.emit("pong")
        elif p.is_ack:
            self.ack_after.append(self._seq)
            fut = self._acks.pop((p.namespace, p.id or 0), None)
            if fut is not None and not fut.done():
                fut.set_result(p.args)
        elif p.type is SioPacketType.DISCONNECT:
            self.disconnected.append(p.namespace)

    def close_reason(self) -> str:
        """How the server ended this connection, for a check's reason (empty while open).

        Names the WebSocket close code, whether an Engine.IO CLOSE packet or a Socket.IO
        DISCONNECT came first, and how long before the close the probe got (and answered
        at once, :class:`~wsbench.client.raw.RawWebSocket`'s auto-pong) its last ping.
        """
        if not self.closed:
            return ""
        ws = self.ws
        parts = [f"close code {ws.close_code}"]
        if self.eio_close:
            parts.append("after an Engine.IO CLOSE packet")
        elif self.disconnected:
            parts.append(f"after a DISCONNECT of {', '.join(self.disconnected)}")
        else:
            parts.append("no Engine.IO CLOSE packet")
        if self.last_ping_ms is not None and ws.closed_at_ms is not None:
            parts.append(
                f"{ws.closed_at_ms - self.last_ping_ms:.0f} ms after the last of "
                f"{self.pings} pings, answered on arrival"
            )
        return ", ".join(parts)

    def silent_close(self) -> str:
        """The close reason when the server ended this connection without a word: a close
        frame stating no reason (1000 or none, 1005), no Engine.IO CLOSE packet, no
        DISCONNECT, while the probe had answered every ping on arrival (a heartbeat timeout
        of a starved machine looks exactly so); else empty. A lost connection (a crash), an
        RFC 6455 violation or a close with a reason code (1009 too big, ...) is not silent."""
        if (not self.ws.closed_by_server or self.ws.close_code not in _SILENT_CODES
                or self.eio_close or self.disconnected):
            return ""
        return f"{self.label}: {self.close_reason()}"

    async def close(self) -> None:
        """Close the WebSocket first (the reader then sees CLOSED and ends), then the reader."""
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


async def until_any(peers: list[Peer], condition: Callable[[], bool], within: float) -> bool:
    """Wait until ``condition()`` holds, re-testing after any peer's frame; False at ``within``.

    Like :meth:`Peer.until` over several peers (``within`` already scaled); returns the
    condition's value early once every peer is closed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0 or all(p.closed for p in peers):
            return condition()
        waits = []
        for p in peers:
            p._changed.clear()
            waits.append(asyncio.ensure_future(p._changed.wait()))
        if condition():
            for w in waits:
                w.cancel()
            return True
        _, rest = await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        for w in rest:
            w.cancel()
    return True


async def offers(ctx: CheckContext, event: str, args: tuple[Any, ...] = (), ns: str = "/") -> bool:
    """Whether the target offers the trigger ``event`` on ``ns``; probed once per run.

    A Socket.IO server ignores an event it has no handler for: no ack, no answer. So a
    fresh peer sends ``event`` (with ``args``, the trigger's own payload) with an ack id,
    then the harness's :data:`BASELINE` call, and waits up to
    :attr:`CheckContext.deliver_within` for an answer to ``event``: its ack, or any event
    the server pushes to the peer (a trigger like ``request ack`` answers with an event).
    An answer: offered. None, while the baseline was acked: the target answers the acks of
    events it knows and ignored this one, so it does not offer it. No answer to the
    baseline either: the target answers nothing, which says nothing about the trigger,
    so it counts as offered and the check measures (and FAILs) as usual.
    """
    key = f"{ctx.target.url} {ns} {event}"
    known = ctx.target.triggers.get(key)
    if isinstance(known, bool):
        return known
    if known is None:
        known = ctx.target.triggers[key] = asyncio.ensure_future(_probe(ctx, event, args, ns))
    try:
        result = await asyncio.shield(known)
    except Exception:  # the probe could not run (e.g. the connection was refused)
        return True
    ctx.target.triggers[key] = result
    ctx.note(f"trigger {event!r} on {ns}: {'offered' if result else 'not offered'}")
    return result


async def acked_event(ctx: CheckContext) -> str:
    """The event to measure "is it still served / how fast are acks" with: the contract's
    ``echo`` when the target offers it, else the harness's :data:`BASELINE`. Both ack
    with exactly their arguments, so a check measures what it is named for either way."""
    return "echo" if await offers(ctx, "echo", ("probe",)) else BASELINE


async def require(ctx: CheckContext, event: str, args: tuple[Any, ...] = (), ns: str = "/") -> None:
    """UNIMPLEMENTED unless the target offers the trigger ``event`` (:func:`offers`)."""
    if not await offers(ctx, event, args, ns):
        ctx.unimplemented(
            f"the target does not offer {event!r} on {ns}: no answer to it within "
            f"{ctx.deliver_within:.1f} s, while it acks {BASELINE!r}"
        )


async def _probe(ctx: CheckContext, event: str, args: tuple[Any, ...], ns: str) -> bool:
    namespaces = ("/",) if ns == "/" else ("/", ns)
    peer = await Peer.open(ctx, namespaces, label="trigger-probe", answer_app_ping=True)
    try:
        before = len(peer.events)
        asked = await peer.ask(event, *args, ns=ns)
        baseline = await peer.ask(BASELINE, "probe")

        def answered() -> bool:
            pushed = [e for e in peer.events[before:] if e.name not in _BACKGROUND]
            return asked.done() or bool(pushed)

        if await peer.until(answered, ctx.deliver_within):
            return True
        return not baseline.done()
    finally:
        await peer.close()
