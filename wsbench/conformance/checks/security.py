"""Security tier: what a hostile client must not achieve (docs/events.md §Security and limits).

A client must not read another socket's private messages by joining a room named like its
id, nor join reserved rooms, nor reach /admin without the admin claim, nor pass with an
expired or ``alg: none`` token; oversized payloads and floods must cost the offender its
connection, never the server: other clients keep being served.
"""

from __future__ import annotations

import asyncio

from wsbench.conformance.checks.contract_auth import auth_ws, refused
from wsbench.conformance.checks.contract_broadcast import copies, nonce, peers, settle_after
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import acked_event
from wsbench.conformance.registry import check
from wsbench.conformance.sio import alg_none_token, mint_token

SEC = "docs/events.md §Security and limits"
AUTH = "docs/events.md §Authentication"


@check(
    "security.auth.expired-token-refused",
    'refuses an expired token with exactly 44{"message":"Invalid token"}',
    tier=Tier.SECURITY,
    spec=AUTH + " (expiry checked)",
    needs=("jwt",),
    catches=("accept-bad-token",),
)
async def expired(ctx: CheckContext) -> str:
    if not ctx.target.auth_secret:
        ctx.unimplemented("needs a server with JWT auth on (--jwt-secret)")
    token = mint_token(ctx.target.auth_secret, {"userId": "u1"}, ttl=-60)
    return await refused(ctx, f'40{{"token":"{token}"}}', '44{"message":"Invalid token"}')


@check(
    "security.auth.alg-none-refused",
    'refuses an unsigned alg:none token with exactly 44{"message":"Invalid token"}',
    tier=Tier.SECURITY,
    spec=AUTH + " (HS256 only)",
    needs=("jwt",),
    catches=("accept-bad-token",),
)
async def alg_none(ctx: CheckContext) -> str:
    token = alg_none_token({"userId": "u1", "admin": True})
    return await refused(ctx, f'40{{"token":"{token}"}}', '44{"message":"Invalid token"}')


@check(
    "security.admin.requires-admin-claim",
    'refuses /admin to a valid token without admin:true (44/admin,{"message":"Not authorized"}) '
    "and accepts it with the claim",
    tier=Tier.SECURITY,
    spec=AUTH + " (/admin requires admin: true)",
    needs=("jwt",),
)
async def admin_claim(ctx: CheckContext) -> str:
    ws, secret = await auth_ws(ctx)
    plain = mint_token(secret, {"userId": "u1", "admin": "true"})
    await ws.send(f'40/admin,{{"token":"{plain}"}}')
    await ctx.expect_frame(
        ws, '44/admin,{"message":"Not authorized"}', "CONNECT_ERROR for a non-admin"
    )
    admin = mint_token(secret, {"userId": "root", "admin": True})
    await ws.send(f'40/admin,{{"token":"{admin}"}}')
    frame = await ctx.recv(ws, "CONNECT answer for an admin")
    ctx.expect(
        isinstance(frame, str) and frame.startswith('40/admin,{"sid":"'),
        f"admin refused: {frame!r}",
    )
    return "non-admin refused with Not authorized, admin accepted"


@check(
    "security.rooms.cannot-join-other-socket-id",
    "refuses to let a socket join a room named like another socket's id (no eavesdropping)",
    tier=Tier.SECURITY,
    spec=SEC + " (rule 2)",
    needs=("contract",),
    catches=("private-room-join",),
)
async def eavesdrop(ctx: CheckContext) -> str:
    spy, victim, sender = await peers(ctx, 3)
    target = victim.sids["/"]
    for event in ("join", "join room"):
        answer = await spy.call(event, target)
        ctx.expect(
            isinstance(answer, dict) and answer.get("ok") is False,
            f"{event} of another socket's id must be refused, got {answer!r}",
        )
    text = nonce("secret")
    ctx.expect_eq(
        await sender.call("private message", {"to": target, "message": text}), {"ok": True}, "ack"
    )
    expected = {"from": sender.sids["/"], "message": text}
    await settle_after(ctx, [(victim, lambda: copies(victim, "private message", expected) > 0)])
    ctx.expect(
        copies(spy, "private message", expected) == 0,
        "the spy received the victim's private message",
    )
    ctx.expect(
        copies(victim, "private message", expected) == 1,
        "the victim did not get its private message",
    )
    return "joining another socket's id refused; private message reached only its target"


@check(
    "security.rooms.reserved-prefixes-refused",
    "refuses joins of reserved rooms (doc:, user:, #) and leaving the socket's own id room",
    tier=Tier.SECURITY,
    spec=SEC + " (rules 1, 3)",
    needs=("contract",),
)
async def reserved(ctx: CheckContext) -> str:
    (a,) = await peers(ctx, 1)
    for room in ("doc:x", "user:42", "#admin", "x" * 129):
        answer = await a.call("join", room)
        ctx.expect(
            isinstance(answer, dict) and answer.get("ok") is False,
            f"join {room[:20]!r} must be refused, got {answer!r}",
        )
    answer = await a.call("leave", a.sids["/"])
    ctx.expect(
        isinstance(answer, dict) and answer.get("ok") is False,
        f"leaving the own id room must be refused, got {answer!r}",
    )
    return "reserved, over-long and own-id rooms refused"


async def _still_serves(ctx: CheckContext, bystander) -> None:  # type: ignore[no-untyped-def]
    probe = nonce("alive")
    event = await acked_event(ctx)
    answer = await bystander.call(event, probe, timeout=3.0)
    ctx.expect_eq(answer, probe, f"a bystander's {event!r} ack after the attack")


@check(
    "security.limits.oversized-payload-contained",
    "closes a connection that sends more than maxPayload and keeps serving everyone else",
    tier=Tier.SECURITY,
    spec=SEC + "; engine.io maxPayload",
    needs=("contract",),
)
async def oversized(ctx: CheckContext) -> str:
    (bystander,) = await peers(ctx, 1)
    ws, _ = await ctx.ws_open("/socket.io/")
    await ws.send("40")
    await ws.send('42["message","' + "x" * (ctx.limits.max_payload + 10) + '"]')
    closed = await ctx.expect_closed(ws, "oversized frame", strict=False, within=ctx.t(2.0))
    session = await ctx.polling("/socket.io/")
    resp = await session.post("4" + "y" * (ctx.limits.max_payload + 10), timeout=ctx.t(3.0))
    await _still_serves(ctx, bystander)
    if not closed:
        ctx.non_strict(
            "an oversized frame did not close the offending connection (server still serves others)"
        )
    return f"offender closed, oversized POST answered {resp.status or resp.error}; bystander still served"


@check(
    "security.limits.flood-contained",
    "survives a flood of events and malformed packets and keeps serving other clients promptly",
    tier=Tier.SECURITY,
    spec=SEC + " (errors never crash the server)",
    needs=("contract",),
    timeout=20.0,
)
async def flood(ctx: CheckContext) -> str:
    (bystander,) = await peers(ctx, 1)
    attacker = (await peers(ctx, 1))[0]
    event = await acked_event(ctx)
    for i in range(3000):
        await attacker.emit(event, i)
        if i % 500 == 0:
            await asyncio.sleep(0)
    bad = []
    for text in ("4abc", "42{}", '42["disconnect"]', "451-[", "41{}", "9", "\x00"):
        ws, _ = await ctx.ws_open("/socket.io/")
        await ws.send("40")
        await ws.send(text)
        bad.append(ws)
    await _still_serves(ctx, bystander)
    resp = await ctx.probe.request("GET", "/socket.io/", "EIO=4&transport=polling")
    ctx.expect_status(resp, 200, "a new handshake after the flood")
    return "3000-event flood and 7 malformed sessions; bystander served, new handshakes accepted"
