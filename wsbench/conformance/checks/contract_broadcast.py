"""Contract tier: the "Broadcasting" triggers of namespace ``/`` reach exactly their recipients.

Every check connects three or four peers, sends one trigger of docs/events.md with a unique
nonce as data and waits for the trigger's ack (sent after the broadcast was handed to every
transport). Then, per peer, it waits on the condition "every expected copy arrived"
(bounded by :attr:`~wsbench.conformance.context.CheckContext.deliver_within`, derived from
the target's heartbeat), and only once that set is complete keeps a short quiet window for
stray copies, before comparing the number of copies received with the contract's
recipients: exactly one for a recipient, none for anyone else. No verdict rests on a fixed
sleep. Broadcasts to all of ``/`` reach other checks' peers too, hence the nonces.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer, Received
from wsbench.conformance.registry import check

SPEC = "docs/events.md §Broadcasting triggers"


def nonce(prefix: str = "n") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def peers(ctx: CheckContext, n: int, **kw: Any) -> list[Peer]:
    names = "ABCDEFGH"
    return [await Peer.open(ctx, label=names[i], **kw) for i in range(n)]


def copies(peer: Peer, event: str, match: Any, ns: str = "/") -> int:
    return sum(1 for e in peer.got(event, ns) if e.arg == match)


async def arrivals(ctx: CheckContext, waits: list[tuple[Peer, Callable[[], bool]]]) -> list[str]:
    """Wait until each peer's condition holds, all within one :attr:`deliver_within`.

    Returns the labels of the peers whose condition still fails at the deadline (the
    caller's comparison then says what is missing). Does not sleep once all hold.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.deliver_within
    late = []
    for peer, condition in waits:
        if not await peer.until(condition, max(0.0, deadline - loop.time())):
            late.append(peer.label)
    return late


async def settle_after(ctx: CheckContext, waits: list[tuple[Peer, Callable[[], bool]]]) -> None:
    """The expected set arrives (bounded wait on the condition), then the quiet window."""
    await arrivals(ctx, waits)
    await ctx.quiet()


def matching(peer: Peer, event: str, predicate: Callable[[Received], bool], ns: str = "/") -> int:
    return sum(1 for e in peer.got(event, ns) if predicate(e))


async def expect_copies(
    ctx: CheckContext,
    group: list[Peer],
    expected: dict[str, int],
    event: str,
    match: Any,
    ns: str = "/",
) -> str:
    """FAILED unless each peer got exactly ``expected[label]`` copies (0 when absent).

    Waits until every expected copy is in (bounded), then the quiet window, then compares.
    """
    waits = [
        (p, lambda p=p, want=want: copies(p, event, match, ns) >= want)
        for p in group
        if (want := expected.get(p.label, 0))
    ]
    await settle_after(ctx, waits)
    got = {p.label: copies(p, event, match, ns) for p in group}
    want = {p.label: expected.get(p.label, 0) for p in group}
    ctx.details[f"copies:{event}"] = got
    if got != want:
        wrong = [
            f"{label} got {got[label]} (expected {want[label]})"
            for label in got
            if got[label] != want[label]
        ]
        ctx.fail(
            f"{event!r} recipients wrong: "
            + ", ".join(wrong)
            + f" (waited up to {ctx.deliver_within:.1f} s for the expected copies)"
        )
    return ", ".join(f"{k}={v}" for k, v in got.items())


async def join(ctx: CheckContext, peer: Peer, room: str, event: str = "join") -> None:
    answer = await peer.call(event, room)
    ctx.expect_eq(answer, {"ok": True, "room": room}, f"{peer.label}: ack of {event} {room!r}")


async def _trigger(ctx: CheckContext, sender: Peer, event: str, payload: dict[str, Any]) -> None:
    answer = await sender.call(event, payload)
    ctx.expect_eq(answer, {"ok": True}, f"ack of {event!r}")


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
    return await expect_copies(ctx, group, {"A": 1, "B": 1, "C": 1}, "event", data)


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
    return await expect_copies(ctx, group, {"B": 1, "C": 1}, "event", data)


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
    await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "event", data + "-2")
    return await expect_copies(ctx, [a, b, c], {"A": 1, "B": 1}, "event", data)


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
    return await expect_copies(ctx, [a, b, c, d], {"A": 1, "B": 1}, "event", data)


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
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "event", data)


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
    await expect_copies(ctx, [a, b, c], {}, "event", data + "-x")
    return await expect_copies(ctx, [a, b, c], {"B": 1}, "event", data)


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
    return await expect_copies(ctx, group, {"A": 1, "B": 1, "C": 1}, "chat message", msg)


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

    def tagged(peer: Peer) -> list[int]:
        return [
            e.arg[1] for e in peer.got("event") if isinstance(e.arg, list) and e.arg[:1] == [tag]
        ]

    for i in range(count):
        await a.emit("broadcast others", {"data": [tag, i]})
    answer = await a.call("broadcast others", {"data": [tag, count]}, timeout=5.0)
    ctx.expect_eq(answer, {"ok": True}, "ack of the last 'broadcast others'")
    # Wait for the last one (in order, it comes last), then keep the quiet window for extras.
    await settle_after(ctx, [(p, lambda p=p: count in tagged(p)) for p in (b, c)])
    for peer in (b, c):
        seq = tagged(peer)
        if len(seq) != count + 1 or seq != sorted(seq) or len(set(seq)) != len(seq):
            missing = sorted(set(range(count + 1)) - set(seq))[:5]
            swapped = next(
                (f"{x} before {y}" for x, y in zip(seq, seq[1:], strict=False) if x > y), "none"
            )
            ctx.fail(
                f"{peer.label} got {len(seq)} of {count + 1} within {ctx.deliver_within:.1f} s: "
                f"missing {missing}, first inversion {swapped}"
            )
    mine = tagged(a)
    ctx.expect(not mine, f"the sender got {len(mine)} of its own 'broadcast others'")
    return f"{count + 1} broadcasts, exactly once each, in order, to B and C"
