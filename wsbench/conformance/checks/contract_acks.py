"""Contract tier: ``broadcast with ack`` (socket.io 4.5+ ``io.to(room).timeout(ms).emit`` with
one answer per recipient, docs/events.md §Broadcasting triggers).

Each recipient peer answers the server's ``ack request`` itself, with its own label, once it
has the request (a bounded wait on the condition, no sleep); the sender's ack is then
compared with the contract: ``{ok: true, recipients, responses, timedOut, missing}``, the
responses as a multiset (their order is the order the answers arrived). In the timeout case
one recipient never answers, so the only wait is the server's own timeout, which the check
chooses (scaled by WSBENCH_TIMEOUT_FACTOR) and bounds.

``contract.acks.retried-emit-acked`` emulates socket.io-client's at-least-once retry
(``retries`` + ``ackTimeout``): the same EVENT payload twice under two ack ids, the second
sent before the first try's ack is read. Both ids must be acked and the trigger's effect (a
room broadcast) must happen per try.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wsbench.conformance.checks.contract_broadcast import copies, join, nonce, peers, settle_after
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer, require
from wsbench.conformance.registry import check

SPEC = "docs/events.md §Broadcasting triggers ('broadcast with ack')"
EVENT = "broadcast with ack"


async def _answer(ctx: CheckContext, peer: Peer, data: str) -> None:
    """Wait for the server's ``ack request`` carrying ``data`` and answer it with the label."""
    ok = await peer.until(
        lambda: any(e.arg == data for e in peer.got("ack request")), ctx.deliver_within
    )
    ctx.expect(ok, f"{peer.label}: no 'ack request' {data!r} within {ctx.deliver_within:.1f} s")
    received = next(e for e in peer.got("ack request") if e.arg == data)
    ctx.expect(received.ack_id is not None, f"{peer.label}: the 'ack request' has no ack id")
    await peer.ack(received, peer.label)


async def _result(ctx: CheckContext, fut: asyncio.Future[list[Any]], within: float) -> Any:
    try:
        async with asyncio.timeout(within):
            values = await fut
    except TimeoutError:
        await require(ctx, EVENT, ({"data": "probe", "timeout": 1},))
        ctx.fail(f"no ack for {EVENT!r} within {within:.1f} s")
    return values[0] if values else None


def _compare(ctx: CheckContext, got: Any, want: dict[str, Any], answers: list[str]) -> str:
    ctx.expect(isinstance(got, dict), f"the ack of {EVENT!r} is not an object: {got!r}")
    responses = got.get("responses")
    ctx.expect(
        isinstance(responses, list) and sorted(map(str, responses)) == sorted(answers),
        f"responses {responses!r}, expected one answer per recipient: {sorted(answers)}",
    )
    rest = {k: v for k, v in got.items() if k != "responses"}
    ctx.expect_eq(rest, want, f"ack of {EVENT!r}")
    return f"{want['recipients']} recipients, answers {sorted(answers)}, timedOut {want['timedOut']}"


@check(
    "contract.broadcast.with-ack",
    "'broadcast with ack' collects one answer from every recipient of the room, then acks",
    tier=Tier.CONTRACT,
    spec=SPEC + " (io.to(room).timeout(ms).emit with (err, responses))",
    needs=("contract",),
)
async def with_ack(ctx: CheckContext) -> str:
    a, b, c, d = await peers(ctx, 4)
    r = nonce("room")
    for p in (a, b, c):
        await join(ctx, p, r)
    data = nonce()
    timeout_ms = int(ctx.t(10.0) * 1000)
    fut = await a.ask(EVENT, {"room": r, "data": data, "timeout": min(timeout_ms, 60000)})
    for p in (a, b, c):
        await _answer(ctx, p, data)
    got = await _result(ctx, fut, ctx.deliver_within + ctx.t(1.0))
    await ctx.quiet()
    ctx.expect(
        not any(e.arg == data for e in d.got("ack request")),
        "D is not in the room but got the 'ack request'",
    )
    want = {"ok": True, "recipients": 3, "timedOut": False, "missing": 0}
    return _compare(ctx, got, want, ["A", "B", "C"])


@check(
    "contract.broadcast.with-ack-timeout",
    "'broadcast with ack' reports the answers that came when a recipient stays silent",
    tier=Tier.CONTRACT,
    spec=SPEC + " (the timeout: err set, the partial responses)",
    needs=("contract",),
)
async def with_ack_timeout(ctx: CheckContext) -> str:
    a, b, silent = await peers(ctx, 3)
    r = nonce("room")
    for p in (a, b, silent):
        await join(ctx, p, r)
    data = nonce()
    timeout = ctx.t(0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    fut = await a.ask(EVENT, {"room": r, "data": data, "timeout": int(timeout * 1000)})
    for p in (a, b):
        await _answer(ctx, p, data)
    got = await _result(ctx, fut, timeout + ctx.deliver_within + ctx.t(1.0))
    took = loop.time() - started
    ctx.expect(
        any(e.arg == data for e in silent.got("ack request")),
        "the silent recipient C never got the 'ack request'",
    )
    ctx.expect(
        took >= timeout * 0.9,
        f"acked after {took * 1000:.0f} ms, before the {timeout * 1000:.0f} ms timeout",
    )
    want = {"ok": True, "recipients": 3, "timedOut": True, "missing": 1}
    return _compare(ctx, got, want, ["A", "B"])


RETRY_SPEC = (
    "socket.io-client docs, Socket options 'retries' and 'ackTimeout' (4.6+, at-least-once: "
    "after ackTimeout the packet is emitted again under a new ack id)"
)
RETRIED = "broadcast room"


@check(
    "contract.acks.retried-emit-acked",
    "A retried emit (the same payload again under a fresh ack id) is acked under the retry's "
    "id and takes effect again",
    tier=Tier.CONTRACT,
    spec=RETRY_SPEC + "; docs/events.md §Broadcasting triggers ('broadcast room')",
    notes="Emulates socket.io-client's retry: the second try goes out while the first try's "
    "ack is still outstanding, as after an ackTimeout. Each try is a fresh request, so "
    "deduplicating by payload would strand an at-least-once client; the duplicate "
    "broadcast is the client's to accept.",
    needs=("contract",),
)
async def retried_emit_acked(ctx: CheckContext) -> str:
    await require(ctx, RETRIED, ({"room": nonce("probe"), "data": "probe"},))
    a, b = await peers(ctx, 2)
    r = nonce("room")
    await join(ctx, b, r)
    data = nonce()
    payload = {"room": r, "data": data}
    first = await a.ask(RETRIED, payload)  # the first try; its ack is not waited for
    retry = await a.ask(RETRIED, payload)  # the retry: same EVENT payload, the next ack id
    within = ctx.deliver_within + ctx.t(1.0)
    answers: dict[str, Any] = {}
    for name, fut in (("retry", retry), ("first try", first)):
        try:
            async with asyncio.timeout(within):
                values = await fut
        except TimeoutError:
            ctx.fail(
                f"no ack for the {name} of {RETRIED!r} (same payload, its own ack id) within "
                f"{within:.1f} s"
                + (": an at-least-once client's retry is left unanswered" if name == "retry"
                   else "")
            )
        answers[name] = values[0] if values else None
        ctx.expect_eq(answers[name], {"ok": True}, f"ack of the {name} of {RETRIED!r}")
    await settle_after(ctx, [(b, lambda: copies(b, "event", data) >= 2)])
    got = copies(b, "event", data)
    ctx.details["copies:event"] = {"B": got}
    ctx.expect(
        got == 2,
        f"the room member B got {got} copies of the twice-sent broadcast, expected 2 (one per "
        f"try: at-least-once, waited up to {ctx.deliver_within:.1f} s)",
    )
    return "both tries acked under their own ack ids; the room member got 2 copies (one per try)"
