"""Contract tier: the "Broadcasting" triggers of namespace ``/`` reach exactly their recipients.

Every check connects three or four peers, sends one trigger of docs/events.md with a unique
nonce as data, waits for the trigger's ack (sent after the broadcast was handed to every
transport), allows a short grace for stray copies, and then compares, per peer, the number
of copies received with the contract's recipients: exactly one for a recipient, none for
anyone else. Broadcasts to all of ``/`` reach other checks' peers too, hence the nonces.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer
from wsbench.conformance.registry import check

SPEC = "docs/events.md §Broadcasting triggers"
GRACE = 0.15


def nonce(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def peers(ctx: CheckContext, n: int, **kw: Any) -> list[Peer]:
    names = "ABCDEFGH"
    return [await Peer.open(ctx, label=names[i], **kw) for i in range(n)]


async def settle(ctx: CheckContext) -> None:
    await asyncio.sleep(ctx.t(GRACE))


def copies(peer: Peer, event: str, match: Any, ns: str = "/") -> int:
    return sum(1 for e in peer.got(event, ns) if e.arg == match)


def expect_copies(
    ctx: CheckContext,
    group: list[Peer],
    expected: dict[str, int],
    event: str,
    match: Any,
    ns: str = "/",
) -> str:
    """FAILED unless each peer got exactly ``expected[label]`` copies (0 when absent)."""
    got = {p.label: copies(p, event, match, ns) for p in group}
    want = {p.label: expected.get(p.label, 0) for p in group}
    ctx.details[f"copies:{event}"] = got
    if got != want:
        wrong = [
            f"{label} got {got[label]} (expected {want[label]})"
            for label in got
            if got[label] != want[label]
        ]
        ctx.fail(f"{event!r} recipients wrong: " + ", ".join(wrong))
    return ", ".join(f"{k}={v}" for k, v in got.items())


async def join(ctx: CheckContext, peer: Peer, room: str, event: str = "join") -> None:
    answer = await peer.call(event, room)
    ctx.expect_eq(answer, {"ok": True, "room": room}, f"{peer.label}: ack of {event} {room!r}")


async def _trigger(ctx: CheckContext, sender: Peer, event: str, payload: dict[str, Any]) -> None:
    answer = await sender.call(event, payload)
    ctx.expect_eq(answer, {"ok": True}, f"ack of {event!r}")
    await settle(ctx)


@check(
    "contract.broadcast.all",
    "'broadcast all' reaches every socket of /, sender included",
    tier=Tier.CONTRACT,
    spec=SPEC + " (io.emit)",
    needs=("contract",),
)
async def all_(ctx: CheckContext) -> str:
    group = await peers(ctx, 3)
    data = nonce()
    await _trigger(ctx, group[0], "broadcast all", {"data": data})
    return expect_copies(ctx, group, {"A": 1, "B": 1, "C": 1}, "event", data)


@check(
    "contract.broadcast.others",
    "'broadcast others' reaches every socket of / but the sender",
    tier=Tier.CONTRACT,
    spec=SPEC + " (socket.broadcast.emit)",
    needs=("contract",),
    catches=("broadcast-to-sender",),
)
async def others(ctx: CheckContext) -> str:
    group = await peers(ctx, 3)
    data = nonce()
    await _trigger(ctx, group[0], "broadcast others", {"data": data})
    return expect_copies(ctx, group, {"B": 1, "C": 1}, "event", data)


@check(
    "contract.broadcast.room",
    "'broadcast room' reaches the room's members only, sender included if member",
    tier=Tier.CONTRACT,
    spec=SPEC + " (io.to(room).emit)",
    needs=("contract",),
    catches=("room-leak",),
)
async def room(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, a, r)
    await join(ctx, b, r)
    data = nonce()
    await _trigger(ctx, c, "broadcast room", {"room": r, "data": data})
    await _trigger(ctx, a, "broadcast room", {"room": r, "data": data + "-2"})
    expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "event", data + "-2")
    return expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "event", data)


@check(
    "contract.broadcast.rooms-one-copy",
    "'broadcast rooms' gives a socket in several target rooms exactly one copy",
    tier=Tier.CONTRACT,
    spec=SPEC + " (io.to(r1).to(r2).emit de-duplicates)",
    needs=("contract",),
    catches=("multi-room-duplicate", "room-leak"),
)
async def rooms(ctx: CheckContext) -> str:
    a, b, c, d = await peers(ctx, 4)
    r1, r2 = nonce("r1"), nonce("r2")
    await join(ctx, a, r1)
    await join(ctx, a, r2)
    await join(ctx, b, r2)
    data = nonce()
    await _trigger(ctx, d, "broadcast rooms", {"rooms": [r1, r2, r1], "data": data})
    return expect_copies(ctx, [a, b, c, d], {"A": 1, "B": 1}, "event", data)


@check(
    "contract.broadcast.room-others",
    "'broadcast room others' reaches the room's members but the sender",
    tier=Tier.CONTRACT,
    spec=SPEC + " (socket.to(room).emit)",
    needs=("contract",),
    catches=("broadcast-to-sender", "room-leak"),
)
async def room_others(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    r = nonce("room")
    await join(ctx, a, r)
    await join(ctx, b, r)
    data = nonce()
    await _trigger(ctx, a, "broadcast room others", {"room": r, "data": data})
    return expect_copies(ctx, [a, b, c], {"B": 1}, "event", data)


@check(
    "contract.broadcast.socket",
    "'broadcast socket' reaches exactly the socket with that id",
    tier=Tier.CONTRACT,
    spec=SPEC + " (io.to(socketId).emit)",
    needs=("contract",),
    catches=("room-leak",),
)
async def to_socket(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    data = nonce()
    await _trigger(ctx, a, "broadcast socket", {"to": b.sids["/"], "data": data})
    await _trigger(
        ctx, a, "broadcast socket", {"to": "no-such-socket-" + data, "data": data + "-x"}
    )
    expect_copies(ctx, [a, b, c], {}, "event", data + "-x")
    return expect_copies(ctx, [a, b, c], {"B": 1}, "event", data)


@check(
    "contract.broadcast.chat-message",
    "'chat message' reaches every socket of /, sender included",
    tier=Tier.CONTRACT,
    spec="docs/events.md §Chat, rooms and private messages (seed L112-117)",
    needs=("contract",),
)
async def chat_message(ctx: CheckContext) -> str:
    group = await peers(ctx, 3)
    msg = {"text": nonce()}
    answer = await group[1].call("chat message", msg)
    ctx.expect_eq(answer, {"ok": True}, "ack of 'chat message'")
    await settle(ctx)
    return expect_copies(ctx, group, {"A": 1, "B": 1, "C": 1}, "chat message", msg)


@check(
    "contract.broadcast.exactly-once-in-order",
    "delivers 300 broadcasts to each recipient exactly once and in the sender's order",
    tier=Tier.CONTRACT,
    spec=SPEC + "; one connection is ordered (Engine.IO over one transport)",
    needs=("contract",),
    catches=("drop-deliveries", "reorder", "broadcast-to-sender"),
    timeout=20.0,
)
async def in_order(ctx: CheckContext) -> str:
    a, b, c = await peers(ctx, 3)
    tag = nonce()
    count = 300
    for i in range(count):
        await a.emit("broadcast others", {"data": [tag, i]})
    answer = await a.call("broadcast others", {"data": [tag, count]}, timeout=5.0)
    ctx.expect_eq(answer, {"ok": True}, "ack of the last 'broadcast others'")
    await settle(ctx)
    for peer in (b, c):
        seq = [
            e.arg[1] for e in peer.got("event") if isinstance(e.arg, list) and e.arg[:1] == [tag]
        ]
        if len(seq) != count + 1 or seq != sorted(seq) or len(set(seq)) != len(seq):
            missing = sorted(set(range(count + 1)) - set(seq))[:5]
            swapped = next(
                (f"{x} before {y}" for x, y in zip(seq, seq[1:], strict=False) if x > y), "none"
            )
            ctx.fail(
                f"{peer.label} got {len(seq)} of {count + 1}: missing {missing}, first inversion {swapped}"
            )
    mine = [e for e in a.got("event") if isinstance(e.arg, list) and e.arg[:1] == [tag]]
    ctx.expect(not mine, f"the sender got {len(mine)} of its own 'broadcast others'")
    return f"{count + 1} broadcasts, exactly once each, in order, to B and C"
