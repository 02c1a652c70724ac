"""Load tier: the contract's delivery semantics with a few hundred clients for a few seconds.

A handful of checks cannot catch a server that loses 1% of deliveries or swaps two of them
once in a while; a few thousand deliveries do. Each check connects :data:`CLIENTS` peers,
puts them in rooms, lets senders emit stamped payloads (``wsbench.oracle`` stamps) for
:data:`SECONDS`, and feeds every send, join, delivery and ack to the
:class:`~wsbench.oracle.DeliveryOracle`, which knows the exact audience of each emit. Any
violation (missing, duplicate, leak, sender included, out of order, ack timeout/late) is
FAILED, with the oracle's counts and samples in the result details.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from wsbench.conformance.checks.contract_broadcast import nonce
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer, acked_event
from wsbench.conformance.registry import check
from wsbench.oracle import DeliveryOracle, Semantics, Stamp, embed_stamp, find_stamp

CLIENTS = 200
ROOMS = 10
SECONDS = 2.0
SPEC = "docs/events.md §Broadcasting triggers; DESIGN.md §Scenarios and the delivery oracle"

_TRIGGERS = {
    "broadcast room": Semantics.ROOM,
    "broadcast room others": Semantics.ROOM_OTHERS,
    "broadcast rooms": Semantics.ROOMS,
}


async def _crowd(ctx: CheckContext, n: int) -> list[Peer]:
    gate = asyncio.Semaphore(25)

    async def one(i: int) -> Peer:
        async with gate:
            return await Peer.open(ctx, label=f"c{i}")

    ctx.probe.transcript.limit = 400
    return list(await asyncio.gather(*(one(i) for i in range(n))))


def _judge(ctx: CheckContext, oracle: DeliveryOracle, what: str) -> str:
    oracle.sweep(None)
    v = oracle.verdict()
    counts = {k: c for k, c in v.violations.counts.items() if c}
    ctx.details.update(
        emits=v.emits,
        expected=v.expected,
        delivered=v.delivered,
        missing=v.missing,
        acks_expected=v.acks.expected if hasattr(v.acks, "expected") else None,
        violations=counts,
        samples=[str(s) for s in v.violations.samples[:10]],
    )
    if counts:
        ctx.fail(f"{what}: violations {counts} over {v.expected} expected deliveries")
    ctx.expect(v.expected > 0, "no delivery was expected: the load did not run")
    return f"{what}: {v.emits} emits, {v.delivered}/{v.expected} deliveries exactly once, in order, no leak"


@check(
    "load.rooms.exactly-once-no-leak",
    "with 200 clients in 10 rooms, room broadcasts reach every member exactly once, in each "
    "sender's order, never a non-member, never the sender when excluded",
    tier=Tier.LOAD,
    spec=SPEC,
    needs=("contract",),
    exclusive=True,
    timeout=60.0,
    catches=("room-leak", "broadcast-to-sender", "multi-room-duplicate", "drop-deliveries"),
)
async def rooms(ctx: CheckContext) -> str:
    crowd = await _crowd(ctx, CLIENTS)
    oracle = DeliveryOracle()
    m = oracle.membership
    run = uuid.uuid4().hex[:8]
    names = [nonce(f"load{r}") for r in range(ROOMS)]
    for i, peer in enumerate(crowd):
        m.connected(i, "/", peer.sids["/"])
    joins = []
    for i, peer in enumerate(crowd):
        joins.append(peer.call("join", names[i % ROOMS], timeout=10.0))
        if i % 3 == 0:  # a third of the clients are in a second room: multi-room de-duplication
            joins.append(peer.call("join", names[(i + 1) % ROOMS], timeout=10.0))
    for answer in await asyncio.gather(*joins):
        ctx.expect(
            isinstance(answer, dict) and answer.get("ok") is True, f"join refused: {answer!r}"
        )
    for i in range(len(crowd)):
        m.joined(i, "/", names[i % ROOMS])
        if i % 3 == 0:
            m.joined(i, "/", names[(i + 1) % ROOMS])
    # every join is acked, so the membership is confirmed: no settling time needed
    senders = range(0, len(crowd), 10)
    stop = time.monotonic() + SECONDS
    events = list(_TRIGGERS)

    async def send(i: int) -> None:
        seq = 0
        while time.monotonic() < stop:
            event = events[seq % len(events)]
            stamp = Stamp.new(run, i, seq, time.monotonic_ns())
            room = names[i % ROOMS]
            payload: dict[str, Any] = {"data": {"n": seq}}
            rooms_ = [room, names[(i + 1) % ROOMS]] if event == "broadcast rooms" else [room]
            payload["rooms" if event == "broadcast rooms" else "room"] = (
                rooms_ if event == "broadcast rooms" else room
            )
            payload = embed_stamp(payload, stamp)
            oracle.expect_emit(
                stamp,
                i,
                "/",
                _TRIGGERS[event],
                rooms=rooms_,
                deadline_ns=stamp.sent_ns + int(ctx.t(3.0) * 1e9),
                event="event",
            )
            oracle.expect_ack((i, seq), i, "/", stamp.sent_ns, int(ctx.t(3.0) * 1e9), event)
            answer = await crowd[i].call(event, payload, timeout=5.0)
            oracle.observe_ack(
                (i, seq), time.monotonic_ns(), ok=answer == {"ok": True}, detail=repr(answer)
            )
            seq += 1
            await asyncio.sleep(0.05)  # pacing the sender: the load shape, not a wait

    await asyncio.gather(*(send(i) for i in senders))
    seen = [0] * len(crowd)

    def observe() -> None:
        for i, peer in enumerate(crowd):
            new = peer.events[seen[i] :]
            seen[i] += len(new)
            for e in new:
                if e.name != "event":
                    continue
                stamp = find_stamp(list(e.args))
                if stamp is not None and stamp.id.startswith(run):
                    oracle.observe_delivery(stamp, i, "/", e.recv_ns, "event")

    # Wait on the condition "every emit reached its whole audience" (an emit closes when
    # its last expected copy is observed), bounded; only then the quiet window for extras.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.deliver_within
    observe()
    while oracle.open_emits and loop.time() < deadline:
        await asyncio.sleep(0.01)  # polling the condition, not a grace
        observe()
    await ctx.quiet()
    observe()
    return _judge(ctx, oracle, f"{len(crowd)} clients, {ROOMS} rooms, {SECONDS:g} s")


@check(
    "load.acks.within-timeout",
    "with 200 clients each calling an acked event in a loop ('echo', else the harness's "
    "'message-with-ack'), every ack arrives once, intact and within 1 s",
    tier=Tier.LOAD,
    spec="docs/events.md §Harness (echo); socket.io acknowledgements",
    needs=("contract",),
    exclusive=True,
    timeout=60.0,
    catches=("drop-acks", "late-acks"),
)
async def acks(ctx: CheckContext) -> str:
    crowd = await _crowd(ctx, CLIENTS)
    event = await acked_event(ctx)
    oracle = DeliveryOracle()
    stop = time.monotonic() + SECONDS
    sent = 0

    async def loop(i: int) -> None:
        nonlocal sent
        seq = 0
        while time.monotonic() < stop:
            key = (i, seq)
            now = time.monotonic_ns()
            oracle.expect_ack(key, i, "/", now, int(ctx.t(1.0) * 1e9), event)
            sent += 1
            try:
                answer = await asyncio.wait_for(
                    crowd[i].call(event, [i, seq], timeout=3.0), ctx.t(3.0)
                )
            except Exception:  # a missing ack is the oracle's ACK_TIMEOUT, not a crash
                return
            oracle.observe_ack(key, time.monotonic_ns(), ok=answer == [i, seq], detail=repr(answer))
            seq += 1
            await asyncio.sleep(0.05)  # pacing the sender: the load shape, not a wait

    await asyncio.gather(*(loop(i) for i in range(len(crowd))))
    oracle.sweep(None)
    v = oracle.verdict()
    counts = {k: c for k, c in v.violations.counts.items() if c}
    ctx.details.update(
        acks=sent, violations=counts, samples=[str(s) for s in v.violations.samples[:10]]
    )
    if counts:
        ctx.fail(f"{sent} acked emits: violations {counts}")
    ctx.expect(sent > 0, "no ack was requested: the load did not run")
    return f"{sent} acked {event!r} emits from {len(crowd)} clients, all acked within 1 s"
