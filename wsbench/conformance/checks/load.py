"""Load tier: the contract's delivery semantics with a few hundred clients for a few seconds.

A handful of checks cannot catch a server that loses 1% of deliveries or swaps two of them
once in a while; a few thousand deliveries do. Each check connects :data:`CLIENTS` peers,
puts them in rooms, lets senders emit stamped payloads (``wsbench.oracle`` stamps) for
:data:`SECONDS`, and feeds every send, join, delivery and ack to the
:class:`~wsbench.oracle.DeliveryOracle`, which knows the exact audience of each emit. Any
violation (missing, duplicate, leak, sender included, out of order, ack timeout/late) is
FAILED, with the oracle's counts and samples in the result details.

The checker must keep up with what it measures, or a timing verdict would be its own:
senders are paced (:data:`PACE`) so a few thousand deliveries leave the checker idle most
of the time, and a :class:`LoopLag` monitor records how long its own event loop stalled.
When the checker stalled longer than the bound in question (pingTimeout, for connections
the server's heartbeat closed; a quarter of the ack timeout, for a minority of late acks)
the run cannot tell a slow server from a starved checker: INFORMATIONAL, with the numbers.
Leaks, duplicates, order and a server late on most acks are never excused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

from wsbench.conformance.checks.contract_broadcast import nonce
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Finding, Tier
from wsbench.conformance.peer import Peer, acked_event
from wsbench.conformance.registry import check
from wsbench.oracle import DeliveryOracle, Semantics, Stamp, embed_stamp, find_stamp

CLIENTS = 200
ROOMS = 10
SECONDS = 2.0
PACE = 0.2
"""Seconds between one sender's emits (each also waits for its ack)."""
SPEC = "docs/events.md §Broadcasting triggers; DESIGN.md §Scenarios and the delivery oracle"

_TRIGGERS = {
    "broadcast room": Semantics.ROOM,
    "broadcast room others": Semantics.ROOM_OTHERS,
    "broadcast rooms": Semantics.ROOMS,
}


class LoopLag:
    """The longest stall of this event loop while in use (10 ms ticks, overshoot kept)."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(0.01)  # the probe of the loop, not a wait for anything
            self.max_s = max(self.max_s, time.monotonic() - t0 - 0.01)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


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


def _judge_closes(ctx: CheckContext, closed: list[Peer], total: int, lag: LoopLag) -> None:
    """Connections the server closed during the load: reported, never judged.

    A server closes a connection without a DISCONNECT when its heartbeat times out, and on
    an overloaded machine it does so for a starved checker's late pongs or for pongs it was
    itself too starved to read (300 + 200 ms heartbeats leave no slack). Availability under
    overload is not what this tier measures, so such a run is INFORMATIONAL, with the numbers.
    """
    kicked = [p.label for p in closed if "/" in p.disconnected]
    ctx.expect(
        not kicked, f"the server disconnected {len(kicked)} sockets during the load: {kicked[:5]}"
    )
    after_ping = [
        p.ws.closed_at_ms - p.ws.last_ping_ms
        for p in closed
        if p.ws.closed_at_ms is not None and p.ws.last_ping_ms is not None
    ]
    ctx.details.update(
        closed_by_server=len(closed),
        close_codes=sorted({p.ws.close_code for p in closed if p.ws.close_code is not None}),
        close_ms_after_last_ping=[round(x, 1) for x in after_ping[:10]],
    )
    ctx.informational(
        f"the server closed {len(closed)} of {total} connections during the load, without a "
        f"DISCONNECT (heartbeat {ctx.limits.ping_interval}/{ctx.limits.ping_timeout} ms; this "
        f"checker's loop stalled at most {lag.max_s * 1000:.0f} ms): an overloaded machine, "
        "delivery not judged this run"
    )


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

    async def join(peer: Peer, room: str) -> Any:
        try:
            return await peer.call("join", room, timeout=10.0)
        except Finding:
            if peer.closed:  # the server closed it: reported below, not a refusal
                return {"ok": True}
            raise

    joins = []
    for i, peer in enumerate(crowd):
        joins.append(join(peer, names[i % ROOMS]))
        if i % 3 == 0:  # a third of the clients are in a second room: multi-room de-duplication
            joins.append(join(peer, names[(i + 1) % ROOMS]))
    async with LoopLag() as lag:
        answers = await asyncio.gather(*joins)
    for answer in answers:
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
        while time.monotonic() < stop and not crowd[i].closed:
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
            try:
                answer = await crowd[i].call(event, payload, timeout=5.0)
            except Finding:
                if crowd[i].closed:  # the server closed this sender: judged below
                    return
                raise
            oracle.observe_ack(
                (i, seq), time.monotonic_ns(), ok=answer == {"ok": True}, detail=repr(answer)
            )
            seq += 1
            await asyncio.sleep(PACE)  # pacing the sender: the load shape, not a wait

    async with lag:
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
    closed = [p for p in crowd if p.closed]
    ctx.details.update(checker_stall_ms=round(lag.max_s * 1000, 1), closed_by_server=len(closed))
    if closed:
        _judge_closes(ctx, closed, len(crowd), lag)
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
    catches=("drop-acks", "drop-some-acks", "late-acks"),
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
            await asyncio.sleep(PACE)  # pacing the sender: the load shape, not a wait

    async with LoopLag() as lag:
        await asyncio.gather(*(loop(i) for i in range(len(crowd))))
    oracle.sweep(None)
    v = oracle.verdict()
    counts = {k: c for k, c in v.violations.counts.items() if c}
    ctx.details["checker_stall_ms"] = round(lag.max_s * 1000, 1)
    closed = [p for p in crowd if p.closed]
    if closed:
        _judge_closes(ctx, closed, len(crowd), lag)
    timing = {k: c for k, c in counts.items() if k in ("ack_timeout", "ack_late")}
    # a stall of this checker delays acks, it never loses one: an ack_timeout is an ack that
    # did not come in the call's 3 s, which only a stall of 2 s or more (3 s less the 1 s
    # deadline) could explain; a late one, a stall of a quarter of the deadline
    stall_explains = lag.max_s > (ctx.t(2.0) if "ack_timeout" in timing else ctx.t(1.0) / 4)
    if counts and timing == counts and sum(timing.values()) * 2 < sent:
        if stall_explains:
            ctx.informational(
                f"{sum(timing.values())} of {sent} acks later than 1 s while this checker's event "
                f"loop stalled {lag.max_s * 1000:.0f} ms: the run cannot tell a slow server "
                "from a starved checker"
            )
    ctx.details.update(
        acks=sent, violations=counts, samples=[str(s) for s in v.violations.samples[:10]]
    )
    if counts:
        ctx.fail(f"{sent} acked emits: violations {counts}")
    ctx.expect(sent > 0, "no ack was requested: the load did not run")
    return f"{sent} acked {event!r} emits from {len(crowd)} clients, all acked within 1 s"
