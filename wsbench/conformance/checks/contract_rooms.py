"""Contract tier: rooms and private messages of namespace ``/`` (docs/events.md).

``join room``/``leave room`` notify the *other* members (socket.to), ``join``/``leave``
notify every member (io.to), ``room message`` reaches the members only, a private
message reaches only its target. Room names are nonces, so checks running side by side
never share a room.
"""

from __future__ import annotations

from wsbench.conformance.checks.contract_broadcast import expect_copies, join, nonce, peers
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check

SPEC = "docs/events.md §Chat, rooms and private messages"


@check(
    "contract.rooms.join-room-notifies-others",
    "'join room' answers 'joined' to the joiner and 'user joined' to the other members only",
    tier=Tier.CONTRACT,
    spec=SPEC + " (join room, seed L120-124)",
    needs=("contract",),
    catches=("broadcast-to-sender", "room-leak"),
)
async def join_room(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, b, r, "join room")
    await join(ctx, a, r, "join room")
    await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "joined", r)  # each joiner its own
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "user joined", a.sids["/"])


@check(
    "contract.rooms.leave-room-notifies-remaining",
    "'leave room' tells the remaining members and stops room deliveries to the leaver",
    tier=Tier.CONTRACT,
    spec=SPEC + " (leave room, seed L127-130)",
    needs=("contract",),
    # broadcast-to-sender cannot show here: the leaver is no longer in the room it is told about.
    catches=("ignore-leave",),
)
async def leave_room(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, a, r, "join room")
    await join(ctx, b, r, "join room")
    answer = await a.call("leave room", r)
    ctx.expect_eq(answer, {"ok": True, "room": r}, "ack of 'leave room'")
    await expect_copies(ctx, [a, b, c], {"B": 1}, "user left", a.sids["/"])
    data = nonce()
    ctx.expect_eq(await c.call("broadcast room", {"room": r, "data": data}), {"ok": True}, "ack")
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "event", data)


@check(
    "contract.rooms.join-notifies-all-members",
    "'join' emits 'user joined' to every member of the room, joiner included",
    tier=Tier.CONTRACT,
    spec=SPEC + " (join, seed L299-304)",
    needs=("contract",),
    catches=("room-leak",),
)
async def join_all(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, b, r)
    await join(ctx, a, r)
    return await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "user joined", a.sids["/"])


@check(
    "contract.rooms.room-message-members-only",
    "'room message' reaches the room's members only, with {room, from, message}",
    tier=Tier.CONTRACT,
    spec=SPEC + " (room message, seed L307-313)",
    needs=("contract",),
    catches=("room-leak",),
)
async def room_message(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, a, r)
    await join(ctx, b, r)
    text = nonce()
    ctx.expect_eq(await c.call("room message", {"room": r, "message": text}), {"ok": True}, "ack")
    expected = {"room": r, "from": c.sids["/"], "message": text}
    return await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "message", expected)


@check(
    "contract.rooms.leave-stops-deliveries",
    "'leave' tells the remaining members and the leaver gets no more room messages",
    tier=Tier.CONTRACT,
    spec=SPEC + " (leave, seed L316-319)",
    needs=("contract",),
    catches=("ignore-leave",),
)
async def leave(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, a, r)
    await join(ctx, b, r)
    ctx.expect_eq(await a.call("leave", r), {"ok": True, "room": r}, "ack of 'leave'")
    await expect_copies(ctx, [a, b, c], {"B": 1}, "user left", a.sids["/"])
    text = nonce()
    ctx.expect_eq(await c.call("room message", {"room": r, "message": text}), {"ok": True}, "ack")
    expected = {"room": r, "from": c.sids["/"], "message": text}
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "message", expected)


@check(
    "contract.rooms.isolation",
    "a room's messages never reach the members of another room",
    tier=Tier.CONTRACT,
    spec=SPEC,
    needs=("contract",),
    catches=("room-leak",),
)
async def isolation(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r1, r2 = nonce("r1"), nonce("r2")
    await join(ctx, a, r1)
    await join(ctx, b, r2)
    await join(ctx, c, r2)
    data = nonce()
    ctx.expect_eq(await b.call("broadcast room", {"room": r1, "data": data}), {"ok": True}, "ack")
    return await expect_copies(ctx, [a, b, c], {"A": 1}, "event", data)


@check(
    "contract.rooms.private-message-only-to-target",
    "'private message' reaches only its target socket, with {from, message}",
    tier=Tier.CONTRACT,
    spec=SPEC + " (private message, seed L133-138)",
    needs=("contract",),
    # broadcast-to-sender cannot show here: the sender is never in its target's id room.
    catches=("room-leak",),
)
async def private(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    text = nonce()
    answer = await a.call("private message", {"to": b.sids["/"], "message": text})
    ctx.expect_eq(answer, {"ok": True}, "ack of 'private message'")
    expected = {"from": a.sids["/"], "message": text}
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "private message", expected)


@check(
    "contract.rooms.refusal-shape",
    "refuses a bad room name with ack {ok:false,error} and an 'error' event to the sender",
    tier=Tier.CONTRACT,
    spec="docs/events.md conventions (refusal)",
    needs=("contract",),
)
async def refusal(ctx: CheckContext) -> str:
    (a,) = await peers(ctx, 1)
    answer = await a.call("join", "")
    ctx.expect(
        isinstance(answer, dict)
        and answer.get("ok") is False
        and isinstance(answer.get("error"), str),
        f"ack of a refused 'join' must be {{ok:false,error}}, got {answer!r}",
    )
    errors = await a.wait_for("error")
    ctx.expect(
        errors[-1].arg.get("event") == "join" if isinstance(errors[-1].arg, dict) else False,
        f"'error' event must be {{event:'join',message}}, got {errors[-1].arg!r}",
    )
    return "refusal acked {ok:false,error} with an 'error' event"
