"""Engine.IO v4 heartbeat checks (official E17-E20 / S8-S11) plus timing accuracy.

These are the only checks that do not answer pings automatically. Every wait is derived
from the pingInterval and pingTimeout the target advertised, never from the suites'
300/200. Timing checks are ``exclusive``: they run alone, so other checks' traffic does
not disturb the measurement.
"""

from __future__ import annotations

import asyncio
import time

from wsbench.client.raw import CLOSED
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import CloseVerdict, Tier
from wsbench.conformance.registry import check

SIO = "/socket.io/"
SPEC = "engine.io-protocol v4 §Heartbeat (server pings every pingInterval, client answers within pingTimeout)"


ATTEMPTS = 3
"""Ping/pong rounds on fresh sessions before a close counts: a session the server closed
although every pong was sent on time is a server fault only if it happens every time
(on an overloaded machine a correct server may read a timely pong too late, once)."""


async def _attempts(ctx: CheckContext, one) -> str:  # type: ignore[no-untyped-def]
    """Run ``one`` (three ping/pong rounds) until it passes; FAILED with every reason if the
    session is closed in each of :data:`ATTEMPTS` tries. Any other finding stands at once."""
    reasons = []
    for attempt in range(ATTEMPTS):
        closed = await one()
        if closed is None:
            ctx.details["attempts"] = attempt + 1
            return "three ping/pong rounds" + (f" (attempt {attempt + 1})" if attempt else "")
        reasons.append(closed)
        ctx.note(f"attempt {attempt + 1}: {closed}")
    ctx.details["attempts"] = ATTEMPTS
    ctx.fail(f"closed with pongs answered, {ATTEMPTS} times: " + "; ".join(reasons))


def _cycle(ctx: CheckContext) -> float:
    """Seconds of one full heartbeat cycle, plus slack for a busy machine."""
    lim = ctx.limits
    return (lim.ping_interval + lim.ping_timeout) / 1000.0 + ctx.t(0.3)


@check(
    "eio.heartbeat.polling.ping-pong",
    "sends a ping '2' on the pending GET every pingInterval and accepts the pong '3'",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E17", "S8"),
    official_name="sends ping/pong packets",
    notes="A session the server closes although every pong was sent (a GET answered '1', a POST "
    "pong answered 400 'Session ID unknown') is retried on a fresh session; FAILED only when "
    "all 3 attempts close (a correct server on an overloaded machine may read a pong late once).",
    timeout=30.0,
)
async def polling_ping_pong(ctx: CheckContext) -> str:
    async def one() -> str | None:
        session = await ctx.polling(SIO)
        for i in range(3):
            resp = await session.get(timeout=_cycle(ctx), answer_pings=False)
            ctx.expect_status(resp, 200, f"GET #{i + 1}")
            if resp.text == "1":
                return f"GET #{i + 1} answered '1' (session closed)"
            ctx.expect_eq(resp.text, "2", f"GET #{i + 1} body")
            resp = await session.post("3")
            if resp.status == 400 and "Session ID unknown" in resp.text:
                # the server closed the session between its ping and our pong: a pong it
                # judged late (an overloaded machine) counts as a close, as a GET's '1' does
                return f"POST pong #{i + 1} answered HTTP 400 'Session ID unknown' (session closed)"
            ctx.expect_status(resp, 200, f"POST pong #{i + 1}")
        return None

    return await _attempts(ctx, one) + " over polling"


@check(
    "eio.heartbeat.polling.timeout-closes",
    "closes a polling session whose client never polls or pongs within pingInterval + pingTimeout",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E18", "S9"),
    official_name="closes the session upon ping timeout",
    timeout=15.0,
)
async def polling_timeout(ctx: CheckContext) -> str:
    session = await ctx.polling(SIO)
    lim = ctx.limits
    wait = (lim.ping_interval + lim.ping_timeout) / 1000.0 + ctx.t(0.1)
    await asyncio.sleep(wait)  # the behaviour under test: silence past the deadline
    if not await session.wait_gone(ctx.close_within):
        await session.expect_gone(f"{wait * 1000:.0f} ms without a pong")
    return f"session gone {wait * 1000:.0f} ms after the handshake"


@check(
    "eio.heartbeat.websocket.ping-pong",
    "sends a ping '2' over WebSocket every pingInterval and accepts the pong '3'",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E19", "S10"),
    official_name="sends ping/pong packets",
    timeout=30.0,
)
async def ws_ping_pong(ctx: CheckContext) -> str:
    async def one() -> str | None:
        ws, _ = await ctx.ws_open(SIO, auto_pong=False)
        for i in range(3):
            frame = await ws.recv(_cycle(ctx), skip_pings=False)
            if frame is CLOSED:
                return f"closed before ping #{i + 1}"
            ctx.expect_eq(frame, "2", f"frame #{i + 1}")
            await ws.send("3")
        await ws.close()
        return None

    return await _attempts(ctx, one) + " over WebSocket"


@check(
    "eio.heartbeat.websocket.timeout-closes",
    "closes a WebSocket whose client never answers the ping",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E20", "S11"),
    official_name="closes the session upon ping timeout",
    timeout=15.0,
)
async def ws_timeout(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO, auto_pong=False)
    await ctx.expect_closed(ws, "no pong sent", within=_cycle(ctx) + ctx.t(0.2))
    return f"closed {ctx.time_to_close_ms} ms after the handshake (no pong sent)"


@check(
    "eio.heartbeat.websocket.interval-accuracy",
    "pings at the advertised pingInterval (within 20% + 30 ms)",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    notes="NON-STRICT when the measured interval deviates more than 20% + 30 ms.",
    timeout=20.0,
    exclusive=True,
)
async def interval_accuracy(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO, auto_pong=False)
    opened = time.monotonic()
    stamps = []
    for i in range(3):
        frame = await ws.recv(_cycle(ctx), skip_pings=False)
        ctx.expect(frame == "2", f"expected ping #{i + 1}, got {frame!r}")
        stamps.append(time.monotonic())
        await ws.send("3")
    gaps = [(b - a) * 1000 for a, b in zip([opened, *stamps], stamps, strict=False)]
    ctx.details["intervals_ms"] = [round(g, 1) for g in gaps]
    expected = ctx.limits.ping_interval
    worst = max(abs(g - expected) for g in gaps)
    if worst > expected * 0.2 + 30:
        ctx.non_strict(
            f"ping intervals {ctx.details['intervals_ms']} ms vs advertised {expected} ms"
        )
    return f"ping intervals {ctx.details['intervals_ms']} ms (advertised {expected})"


@check(
    "eio.heartbeat.websocket.timeout-accuracy",
    "closes pingTimeout after an unanswered ping (within 50% + 100 ms)",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    notes="NON-STRICT when the close comes much earlier or later than pingTimeout after the ping.",
    timeout=20.0,
    exclusive=True,
)
async def timeout_accuracy(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO, auto_pong=False)
    frame = await ws.recv(_cycle(ctx), skip_pings=False)
    ctx.expect(frame == "2", f"expected a ping, got {frame!r}")
    pinged = ws.transcript.elapsed_ms()
    closed = await ctx.expect_closed(ws, "unanswered ping", within=_cycle(ctx))
    assert closed and ws.closed_at_ms is not None
    after = ws.closed_at_ms - pinged
    ctx.details["close_after_ping_ms"] = round(after, 1)
    expected = ctx.limits.ping_timeout
    if after < expected * 0.5 - 20 or after > expected * 1.5 + 100:
        ctx.non_strict(
            f"closed {after:.0f} ms after the unanswered ping; pingTimeout is {expected} ms"
        )
    return f"closed {after:.0f} ms after the unanswered ping (pingTimeout {expected} ms)"


@check(
    "eio.heartbeat.websocket.client-ping",
    "handles a ping '2' sent by a v4 client (heartbeat direction is server to client)",
    tier=Tier.ENGINEIO,
    spec=SPEC + "; Node closes with 'invalid heartbeat direction'",
    notes="INFORMATIONAL: records whether the server closes or ignores it (spec-open).",
)
async def client_ping(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO)
    await ws.send("2")
    closed = await ctx.expect_closed(ws, "client ping", strict=False)
    if closed:
        ctx.close_verdict = CloseVerdict.INFORMATIONAL
        ctx.informational(f"closes the session on a client ping ({ctx.time_to_close_ms} ms)")
    ctx.close_verdict = CloseVerdict.INFORMATIONAL
    ctx.informational("ignores a client ping")
