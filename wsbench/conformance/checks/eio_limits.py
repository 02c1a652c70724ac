"""Engine.IO limits the official suites never test: maxPayload on both transports, batches.

The spec only says clients use maxPayload to size batches; server enforcement is
implementation behaviour (research conformance.md §2.1). So a server that does not enforce
its advertised limit is NON-STRICT, never FAILED. The sizes come from the handshake.
"""

from __future__ import annotations

import asyncio

from wsbench.conformance.checks.eio_message import echo_polling
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import CloseVerdict, Tier
from wsbench.conformance.registry import check

SIO = "/socket.io/"
SPEC = "engine.io-protocol v4 §Handshake (maxPayload); Node maxHttpBufferSize"


@check(
    "eio.limits.polling.max-payload",
    "answers 413 to a POST larger than maxPayload and closes the session",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    notes="NON-STRICT when the limit is enforced another way (no answer, other status) or not at all.",
)
async def polling_max_payload(ctx: CheckContext) -> str:
    session = await ctx.polling(SIO)
    size = ctx.limits.max_payload + 1024
    resp = await session.post("4" + "x" * (size - 1), timeout=ctx.t(3.0))
    ctx.details["post_status"] = resp.status
    if resp.status == 200:
        ctx.non_strict(f"accepted a {size}-byte POST (maxPayload {ctx.limits.max_payload})")
    gone = await ctx.probe.request("GET", SIO, session.query, timeout=ctx.t(2.0))
    if resp.status != 413:
        ctx.non_strict(
            f"oversized POST got {f'HTTP {resp.status}' if resp.status else resp.error}, not 413 "
            f"(session then answers {gone.status})"
        )
    ctx.expect_status(gone, 400, "GET after the oversized POST")
    ctx.close_verdict = CloseVerdict.OK
    return f"{size}-byte POST answered 413, session closed"


@check(
    "eio.limits.websocket.max-payload",
    "closes a WebSocket that sends a frame larger than maxPayload (code 1009)",
    tier=Tier.ENGINEIO,
    spec=SPEC + "; RFC 6455 §7.4.1 (1009 message too big)",
    notes="NON-STRICT when closed with another code or not closed.",
)
async def ws_max_payload(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open(SIO)
    size = ctx.limits.max_payload + 1024
    await ws.send("4" + "x" * (size - 1))
    if not await ctx.expect_closed(
        ws, "oversized frame", strict=False, within=max(ctx.close_within, ctx.t(1.0))
    ):
        ctx.non_strict(f"a {size}-byte frame did not close the connection")
    if ws.close_code != 1009:
        ctx.close_verdict = CloseVerdict.WRONG_CODE
        ctx.non_strict(f"closed with code {ws.close_code}, not 1009")
    return f"closed with 1009 {ctx.time_to_close_ms} ms after a {size}-byte frame"


@check(
    "eio.limits.polling.large-batch",
    "accepts and echoes a polling payload of 20 packets",
    tier=Tier.ENGINEIO,
    spec="engine.io-protocol v4 §HTTP long-polling (payload batching)",
    needs=("eio-echo",),
    notes="NON-STRICT when packets of the batch are dropped although the POST answered ok "
    "(python-engineio drops batches of more than 16); INFORMATIONAL when the batch is refused "
    "with an error status.",
)
async def large_batch(ctx: CheckContext) -> str:
    session = await echo_polling(ctx)
    packets = [f"4m{i}" for i in range(20)]
    resp = await session.post("\x1e".join(packets))
    if resp.status != 200:
        ctx.informational(f"a 20-packet batch was refused with HTTP {resp.status}")
    received: list[str] = []
    deadline = asyncio.get_running_loop().time() + ctx.t(1.5)
    while len(received) < len(packets) and asyncio.get_running_loop().time() < deadline:
        got = await session.get(timeout=ctx.t(1.5), answer_pings=False)
        if got.status != 200:
            break
        records = got.text.split("\x1e")
        if "2" in records:
            await session.post("3")
        received.extend(r for r in records if r not in ("2", "6"))
    if not received and resp.text != "ok":
        ctx.informational(f"a 20-packet batch answered {resp.text!r} and nothing was echoed")
    if received != packets:
        ctx.non_strict(f"POST answered {resp.text!r} but {len(received)} of 20 packets came back")
    return "20 packets echoed in order"
