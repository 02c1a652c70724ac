"""What a check gets: the target, the probe, the limits read from the handshake, and helpers.

Rules every check follows through these helpers (research conformance.md §1.6, §6):

- Limits are read from the target's own handshake (:class:`Limits`), never assumed.
- WebSockets answer Engine.IO pings by default and polling helpers answer a ``2`` with a
  POST ``3``: only the heartbeat checks switch that off. So a server cannot pass a
  "closes the connection" check by letting the heartbeat time out.
- Every wait for a close is bounded by :attr:`CheckContext.close_within`, well under
  pingInterval, and the time to close is recorded.
- Expected wire text is written literally in the checks and compared with ``==``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, NoReturn

from wsbench.client.raw import CLOSED, RawProbe, RawResponse, RawWebSocket, render
from wsbench.conformance.model import CloseVerdict, Finding, Verdict

__all__ = [
    "APP_PING",
    "APP_PONG",
    "CheckContext",
    "Limits",
    "PollingSession",
    "TargetInfo",
    "is_app_ping",
    "parse_open",
]

APP_PING = '42["ping"]'
"""The event contract's app-level heartbeat on ``/`` (docs/events.md "App heartbeat")."""
APP_PONG = '42["pong"]'
"""The answer the contract asks for within one app-heartbeat interval."""


def is_app_ping(frame: object) -> bool:
    """Whether ``frame`` is the app heartbeat: :data:`APP_PING`, or with recovery on the same
    event carrying its offset (``42["ping","<offset>"]``)."""
    return isinstance(frame, str) and (frame == APP_PING or frame.startswith('42["ping",'))


@dataclass(frozen=True, slots=True)
class Limits:
    """Heartbeat and payload limits, in ms and bytes, as the target advertised them."""

    ping_interval: int
    ping_timeout: int
    max_payload: int


@dataclass(frozen=True, slots=True)
class TargetInfo:
    """What the preflight learnt about a target.

    Attributes:
        url: base URL, ``http://host:port``.
        name: the label shown in reports (the URL, or ``embedded``).
        limits: from a ``/socket.io/`` polling handshake.
        eio_echo: whether ``/engine.io/`` answers a handshake (the Engine.IO suite's echo app).
        jwt_secret: the HS256 secret the target verifies, if it has auth on (then every
            CONNECT the checks send carries a token minted with it).
        auth_url: a server with auth on, for the auth checks (None: they are UNIMPLEMENTED).
        auth_secret: the secret of ``auth_url``.
        recovery_url: where the recovery checks run (a server with recovery on; the
            target itself by default, where they are UNIMPLEMENTED without a ``pid``).
        close_within: seconds to wait for a close, derived from pingInterval.
        deliver_within: seconds to wait for an expected delivery (or answer) to arrive,
            derived from the heartbeat (see :func:`~wsbench.conformance.runner.deliver_bound`).
        quiet_window: seconds during which nothing more may arrive, counted only once the
            expected set is complete (stray copies, duplicates, leaks).
        factor: timeout multiplier for slow machines.
        triggers: the trigger capability probes of this run (see
            :func:`wsbench.conformance.peer.offers`), cached per target.
        parser: the Socket.IO parser the target speaks (``default`` or ``msgpack``).
        nodes: the URLs of the cluster's nodes, when the target is a cluster given node by
            node (``--cluster`` with several ``--target``, or an embedded cluster).
        balancer: the URL of a load balancer in front of the cluster (``--cluster`` with one
            ``--target``, or an embedded cluster's HAProxy), if there is one.
    """

    url: str
    name: str
    limits: Limits
    eio_echo: bool = False
    jwt_secret: str | None = None
    auth_url: str | None = None
    auth_secret: str | None = None
    recovery_url: str | None = None
    close_within: float = 0.15
    deliver_within: float = 2.0
    quiet_window: float = 0.15
    factor: float = 1.0
    triggers: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    parser: str = "default"
    nodes: tuple[str, ...] = ()
    balancer: str | None = None

    @property
    def cluster(self) -> bool:
        """Whether the target was given as a cluster (its nodes or its balancer)."""
        return bool(self.nodes) or self.balancer is not None


def parse_open(text: str) -> dict[str, Any] | None:
    """The JSON object of an Engine.IO OPEN packet ``0{...}``, or None."""
    if not isinstance(text, str) or not text.startswith("0"):
        return None
    try:
        value = json.loads(text[1:])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True)
class CheckContext:
    """Per-check state: a fresh probe and transcript, the target info, and verdict helpers."""

    target: TargetInfo
    probe: RawProbe
    close_verdict: CloseVerdict = CloseVerdict.NONE
    close_code: int | None = None
    time_to_close_ms: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    extra_probes: dict[str, RawProbe] = field(default_factory=dict)
    #: app-level pings skipped (and answered) while waiting for the frames a check expects
    app_pings: int = 0
    #: the check's :class:`~wsbench.conformance.peer.Peer` objects (each registers itself),
    #: for the runner's inconclusive-close rule (:func:`~wsbench.conformance.runner.run_target`)
    peers: list[Any] = field(default_factory=list)

    async def probe_for(self, url: str) -> RawProbe:
        """A probe on another server (auth/recovery twin) recording into this transcript."""
        if url == self.probe.base_url:
            return self.probe
        if url not in self.extra_probes:
            probe = RawProbe(
                url,
                self.probe.transcript,
                timeout=self.probe.timeout,
                translator=self.probe.translator,
            )
            await probe.__aenter__()
            self.extra_probes[url] = probe
        return self.extra_probes[url]

    async def aclose(self) -> None:
        for probe in self.extra_probes.values():
            await probe.aclose()
        self.extra_probes.clear()

    # -- convenience ------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return self.target.limits

    @property
    def close_within(self) -> float:
        return self.target.close_within

    @property
    def deliver_within(self) -> float:
        return self.target.deliver_within

    def t(self, seconds: float) -> float:
        """A timeout scaled by the run's factor."""
        return seconds * self.target.factor

    async def quiet(self) -> None:
        """The "nothing else may arrive" window (:attr:`TargetInfo.quiet_window`).

        Only for after the expected deliveries are all in (waited for on the condition):
        what it can still catch is an extra copy, never a late expected one.
        """
        await asyncio.sleep(self.target.quiet_window)

    def note(self, text: str) -> None:
        self.probe.transcript.add("check", "#", text)

    # -- verdicts ---------------------------------------------------------------------

    def fail(self, reason: str) -> NoReturn:
        raise Finding(Verdict.FAILED, reason)

    def non_strict(self, reason: str) -> NoReturn:
        raise Finding(Verdict.NON_STRICT, reason)

    def informational(self, reason: str) -> NoReturn:
        raise Finding(Verdict.INFORMATIONAL, reason)

    def unimplemented(self, reason: str) -> NoReturn:
        raise Finding(Verdict.UNIMPLEMENTED, reason)

    def expect(self, condition: bool, reason: str) -> None:
        if not condition:
            self.fail(reason)

    def expect_eq(self, actual: Any, expected: Any, what: str) -> None:
        """FAILED unless ``actual == expected``; the reason quotes both literally."""
        if actual != expected:
            shown = render(actual) if isinstance(actual, str | bytes) else repr(actual)
            wanted = render(expected) if isinstance(expected, str | bytes) else repr(expected)
            self.fail(f"{what}: expected {wanted}, got {shown}")

    def expect_status(self, resp: RawResponse, expected: int | tuple[int, ...], what: str) -> None:
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if resp.status not in allowed:
            got = f"HTTP {resp.status}" if resp.status else f"no HTTP answer ({resp.error})"
            want = " or ".join(str(s) for s in allowed)
            self.fail(f"{what}: expected HTTP {want}, got {got}")

    # -- websockets -------------------------------------------------------------------

    async def ws(
        self,
        path: str = "/socket.io/",
        query: str = "EIO=4&transport=websocket",
        auto_pong: bool = True,
    ) -> RawWebSocket:
        return await self.probe.websocket(path, query, auto_pong=auto_pong, timeout=self.t(5.0))

    async def ws_open(
        self,
        path: str = "/socket.io/",
        auto_pong: bool = True,
        query: str = "EIO=4&transport=websocket",
    ) -> tuple[RawWebSocket, dict[str, Any]]:
        """Open a WebSocket session and read its OPEN packet (FAILED if there is none)."""
        ws = await self.ws(path, query, auto_pong)
        if ws.closed:
            self.fail(f"websocket session refused: HTTP {ws.handshake_status}")
        first = await ws.recv(self.t(3.0), skip_pings=False)
        if first is CLOSED or first is None:
            self.fail("no OPEN packet on the websocket")
        info = parse_open(first)
        if info is None:
            self.fail(f"first frame is not an OPEN packet: {render(first)}")
        return ws, info

    async def next_frame(
        self,
        ws: RawWebSocket,
        within: float,
        *,
        skip_pings: bool = True,
        answer_app_pings: bool = True,
    ) -> str | bytes | None:
        """The next frame but the contract's app heartbeat, as :meth:`RawWebSocket.recv` gives it.

        The app-level ``ping`` (:func:`is_app_ping`, docs/events.md "App heartbeat") comes on the
        server's own clock, so it can land between any request and its answer: it is never the
        frame a check waits for. It is skipped, and answered with :data:`APP_PONG` as the
        contract asks unless ``answer_app_pings`` is False (a socket that left ``/``).
        ``within`` (seconds, already scaled) bounds the whole wait, skipped frames included.
        Returns :data:`~wsbench.client.raw.CLOSED` once closed, None if nothing came in time.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            frame = await ws.recv(max(0.0, deadline - loop.time()), skip_pings=skip_pings)
            if not is_app_ping(frame):
                return frame
            self.app_pings += 1
            if answer_app_pings:
                await ws.send(APP_PONG)

    async def recv(self, ws: RawWebSocket, what: str, timeout: float = 2.0) -> str | bytes:
        """The next frame but Engine.IO pings and app pings (:meth:`next_frame`), FAILED if the
        socket closes or nothing comes in time."""
        frame = await self.next_frame(ws, self.t(timeout))
        if frame is CLOSED:
            self.fail(f"connection closed while waiting for {what}")
        if frame is None:
            self.fail(
                f"nothing received within {self.t(timeout) * 1000:.0f} ms while waiting for {what}"
            )
        return frame

    async def expect_frame(
        self, ws: RawWebSocket, expected: str | bytes, what: str, timeout: float = 2.0
    ) -> None:
        self.expect_eq(await self.recv(ws, what, timeout), expected, what)

    async def expect_closed(
        self, ws: RawWebSocket, what: str, *, strict: bool = True, within: float | None = None
    ) -> bool:
        """Wait (bounded, pings answered) for the server to close ``ws``.

        Records close verdict, code and time to close. When still open at the bound:
        FAILED if ``strict`` (the default), else returns False so the check can decide.
        """
        bound = within if within is not None else self.close_within
        ms = await ws.wait_closed(bound)
        self.close_code = ws.close_code
        if ms is None:
            self.close_verdict = CloseVerdict.NOT_CLOSED
            if strict:
                self.fail(
                    f"{what}: connection still open {bound * 1000:.0f} ms later "
                    f"(pings answered, so no heartbeat timeout can explain a close)"
                )
            return False
        self.time_to_close_ms = round(ms, 1)
        self.close_verdict = CloseVerdict.OK
        return True

    # -- polling ----------------------------------------------------------------------

    async def polling(self, path: str = "/socket.io/") -> PollingSession:
        """Open an HTTP long-polling session (FAILED if the handshake fails)."""
        resp = await self.probe.request("GET", path, "EIO=4&transport=polling", timeout=self.t(5))
        self.expect_status(resp, 200, "polling handshake")
        info = parse_open(resp.text)
        if info is None or not isinstance(info.get("sid"), str):
            self.fail(f"polling handshake body is not an OPEN packet: {render(resp.text)}")
        return PollingSession(self, path, info["sid"], info)


@dataclass(slots=True)
class PollingSession:
    """One Engine.IO long-polling session driven by hand."""

    ctx: CheckContext
    path: str
    sid: str
    info: dict[str, Any]

    @property
    def query(self) -> str:
        return f"EIO=4&transport=polling&sid={self.sid}"

    async def get(
        self,
        timeout: float | None = None,
        answer_pings: bool = True,
        sent: asyncio.Event | None = None,
    ) -> RawResponse:
        """One GET; if it returns just a ping and ``answer_pings``, POST ``3`` and GET again.

        ``sent`` is set once the (first) GET is on the wire.
        """
        wait = timeout if timeout is not None else self.ctx.t(3.0)
        while True:
            resp = await self.ctx.probe.request(
                "GET", self.path, self.query, timeout=wait, sent=sent
            )
            if not answer_pings or resp.status != 200:
                return resp
            records = resp.text.split("\x1e")
            if "2" not in records:
                return resp
            await self.post("3")
            rest = [r for r in records if r != "2"]
            if rest:
                body = "\x1e".join(rest).encode("utf-8")
                return RawResponse(resp.status, body, resp.headers, "", resp.elapsed_ms)

    async def post(
        self,
        body: str | bytes,
        content_type: str | None = "text/plain;charset=UTF-8",
        timeout: float | None = None,
    ) -> RawResponse:
        wait = timeout if timeout is not None else self.ctx.t(3.0)
        return await self.ctx.probe.request(
            "POST", self.path, self.query, body=body, content_type=content_type, timeout=wait
        )

    async def pending_get(self) -> asyncio.Task[RawResponse]:
        """A GET (pings not answered) that is on the wire when this returns.

        Bounded by the probe's request timeout; the task is returned either way.
        """
        sent = asyncio.Event()
        task = asyncio.ensure_future(self.get(answer_pings=False, sent=sent))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sent.wait(), self.ctx.t(5.0))
        return task

    async def wait_gone(self, within: float) -> bool:
        """Wait (GETs, pings not answered) until a GET with this sid answers 400; False at ``within``.

        A live session answers a GET with its queued packets (or holds it), so each
        GET is bounded by what is left of ``within``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (remaining := deadline - loop.time()) > 0:
            resp = await self.ctx.probe.request(
                "GET", self.path, self.query, timeout=max(remaining, 0.01)
            )
            if resp.status == 400:
                return True
            if resp.status != 200:
                return False
        return False

    async def expect_gone(self, what: str) -> None:
        """The session must be closed: a GET with its sid answers 400."""
        resp = await self.ctx.probe.request("GET", self.path, self.query, timeout=self.ctx.t(2.0))
        if resp.status == 200:
            self.ctx.close_verdict = CloseVerdict.NOT_CLOSED
        self.ctx.expect_status(resp, 400, f"{what}: GET with the old sid")
        self.ctx.close_verdict = CloseVerdict.OK
