"""Engine.IO v4 close and upgrade checks (official E21-E25 / S12-S16).

Upgrade checks run on the ``/engine.io/`` echo endpoint when the target has one (then they
also prove the upgraded WebSocket carries messages, as E23-E25 do), else on ``/socket.io/``
with the probe/upgrade part only (what S14-S16 check).
"""

from __future__ import annotations

import asyncio

from wsbench.client.raw import CLOSED, RawWebSocket
from wsbench.conformance.context import CheckContext, PollingSession
from wsbench.conformance.model import CloseVerdict, Tier
from wsbench.conformance.registry import check

SIO = "/socket.io/"
EIO = "/engine.io/"
SPEC_CLOSE = "engine.io-protocol v4 §Packet types (close)"
SPEC_UP = "engine.io-protocol v4 §Upgrade"


@check(
    "eio.close.polling.forced-close",
    "closes a polling session on a POSTed '1', releasing the pending GET with a noop '6'",
    tier=Tier.ENGINEIO,
    spec=SPEC_CLOSE,
    official=("E21", "S12"),
    official_name="forcefully closes the session",
)
async def polling_close(ctx: CheckContext) -> str:
    session = await ctx.polling(SIO)
    pending = await session.pending_get()  # on the wire before the '1' is sent
    post = await session.post("1")
    resp = await pending
    ctx.expect_status(resp, 200, "pending GET")
    ctx.expect_eq(resp.text, "6", "pending GET body")
    ctx.expect_status(post, 200, "POST '1'")
    await session.expect_gone("after POST '1'")
    return "pending GET released with '6', session closed"


@check(
    "eio.close.websocket.forced-close",
    "closes the WebSocket session when the client sends a close packet '1'",
    tier=Tier.ENGINEIO,
    spec=SPEC_CLOSE,
    official=("E22", "S13"),
    official_name="forcefully closes the session",
    notes="NON-STRICT when the server ignores '1' on a WebSocket (Node does; the official test "
    "passes it only through the heartbeat timeout, research §1.4).",
)
async def ws_close(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO)
    await ws.send("1")
    if not await ctx.expect_closed(ws, "after '1'", strict=False):
        ctx.non_strict("ignores a close packet '1' on a WebSocket (closes only on transport close)")
    return f"closed {ctx.time_to_close_ms} ms after '1'"


async def _probe_upgrade(ctx: CheckContext) -> tuple[PollingSession, RawWebSocket, str]:
    path = EIO if ctx.target.eio_echo else SIO
    session = await ctx.polling(path)
    ws = await ctx.ws(path, f"EIO=4&transport=websocket&sid={session.sid}")
    ctx.expect(
        not ws.closed, f"websocket with the polling sid refused (HTTP {ws.handshake_status})"
    )
    await ws.send("2probe")
    await ctx.expect_frame(ws, "3probe", "probe answer")
    return session, ws, path


async def _upgraded(ctx: CheckContext, ws: RawWebSocket, path: str) -> None:
    """After ``5``: wait until a packet sent over the WebSocket is answered over it, which
    proves the server has processed the upgrade (bounded; no verdict of its own)."""
    probe, answer = ("4sync", "4sync") if path == EIO else ("40", "40")
    await ws.send(probe)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.deliver_within
    while (remaining := deadline - loop.time()) > 0:
        frame = await ws.recv(remaining)
        if frame is None or frame is CLOSED:
            return
        if isinstance(frame, str) and frame.startswith(answer):
            return


async def _still_echoes(ctx: CheckContext, ws: RawWebSocket, path: str) -> str:
    if path != EIO:
        return " (no /engine.io/ echo endpoint: message part not checked)"
    await ws.send("4hello")
    await ctx.expect_frame(ws, "4hello", "echo over the upgraded WebSocket")
    return ", WebSocket echoes 4hello"


@check(
    "eio.upgrade.polling-to-websocket",
    "upgrades polling to WebSocket: 2probe -> 3probe, pending GET gets '6', then 5 and messages flow",
    tier=Tier.ENGINEIO,
    spec=SPEC_UP,
    official=("E23", "S14"),
    official_name="successfully upgrades from HTTP long-polling to WebSocket",
)
async def upgrade(ctx: CheckContext) -> str:
    session, ws, path = await _probe_upgrade(ctx)
    resp = await session.get(answer_pings=False)
    ctx.expect_status(resp, 200, "GET during the upgrade")
    # A ping that fell due meanwhile may share the payload: it is answered after the upgrade.
    records = resp.text.split("\x1e")
    pinged = "2" in records
    ctx.expect_eq(
        "\x1e".join(r for r in records if r != "2") if pinged else resp.text,
        "6",
        "GET during the upgrade (noop)",
    )
    await ws.send("5")
    if pinged:
        await ws.send("3")
    return "probe answered, GET released with '6'" + await _still_echoes(ctx, ws, path)


@check(
    "eio.upgrade.ignores-polling-after-upgrade",
    "answers 400 to polling requests on a sid that was upgraded",
    tier=Tier.ENGINEIO,
    spec=SPEC_UP,
    official=("E24", "S15"),
    official_name="ignores HTTP requests with same sid after upgrade",
)
async def polling_after_upgrade(ctx: CheckContext) -> str:
    session, ws, path = await _probe_upgrade(ctx)
    await ws.send("5")
    await _upgraded(ctx, ws, path)
    resp = await session.get(answer_pings=False, timeout=ctx.t(2.0))
    ctx.expect_status(resp, 400, "GET after the upgrade")
    return "GET after upgrade answered 400" + await _still_echoes(ctx, ws, path)


@check(
    "eio.upgrade.ignores-second-websocket",
    "closes a second WebSocket opened with an already upgraded sid",
    tier=Tier.ENGINEIO,
    spec=SPEC_UP + " (a second WebSocket for a session MUST be closed)",
    official=("E25", "S16"),
    official_name="ignores WebSocket connection with same sid after upgrade",
    notes="NON-STRICT when the second WebSocket is refused at the HTTP upgrade instead of being "
    "accepted then closed (python-engineio; the official test errors on it).",
)
async def second_ws(ctx: CheckContext) -> str:
    session, ws, path = await _probe_upgrade(ctx)
    await ws.send("5")
    await _upgraded(ctx, ws, path)
    second = await ctx.ws(path, f"EIO=4&transport=websocket&sid={session.sid}")
    await ctx.expect_closed(second, "second WebSocket")
    tail = await _still_echoes(ctx, ws, path)
    if second.handshake_status != 101:
        ctx.close_verdict = CloseVerdict.WRONG_CODE
        ctx.non_strict(
            f"second WebSocket refused with HTTP {second.handshake_status} instead of accepted and closed{tail}"
        )
    return f"second WebSocket closed (code {second.close_code}){tail}"
