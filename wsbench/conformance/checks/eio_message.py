"""Engine.IO v4 message checks (official E8-E16) plus UTF-8 and binary Content-Type gaps.

These need the Engine.IO suite's harness: a pure echo endpoint at ``/engine.io/`` (every
message sent back as is). Targets without it get UNIMPLEMENTED. The literal payloads are
the official ones: ``4hello``, ``4test1\\x1e4test2\\x1e4test3``, ``4hello\\x1ebAQIDBA==``.
"""

from __future__ import annotations

import asyncio

from wsbench.conformance.context import CheckContext, PollingSession
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check

EIO = "/engine.io/"
SPEC_POLL = "engine.io-protocol v4 §HTTP long-polling, §Packet encoding"
SPEC_WS = "engine.io-protocol v4 §WebSocket"
NEEDS_ECHO = "needs the Engine.IO echo endpoint /engine.io/ (official Engine.IO suite harness)"


async def echo_polling(ctx: CheckContext) -> PollingSession:
    if not ctx.target.eio_echo:
        ctx.unimplemented(NEEDS_ECHO)
    return await ctx.polling(EIO)


async def _round_trip(ctx: CheckContext, body: str) -> str:
    session = await echo_polling(ctx)
    resp = await session.post(body)
    ctx.expect_status(resp, 200, "POST")
    ctx.expect_eq(resp.text, "ok", "POST answer body")
    resp = await session.get()
    ctx.expect_status(resp, 200, "GET after POST")
    ctx.expect_eq(resp.text, body, "echoed payload")
    return "posted payload echoed identically"


@check(
    "eio.message.polling.one-text-packet",
    "answers a POST with 'ok' and echoes one text packet on the next GET",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL,
    official=("E8",),
    needs=("eio-echo",),
    official_name="sends and receives a payload containing one plain text packet",
)
async def one_text(ctx: CheckContext) -> str:
    return await _round_trip(ctx, "4hello")


@check(
    "eio.message.polling.several-text-packets",
    "echoes a payload of three text packets joined by \\x1e",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL,
    official=("E9",),
    needs=("eio-echo",),
    official_name="sends and receives a payload containing several plain text packets",
)
async def several_text(ctx: CheckContext) -> str:
    return await _round_trip(ctx, "4test1\x1e4test2\x1e4test3")


@check(
    "eio.message.polling.text-and-binary",
    "echoes a payload mixing text and base64 binary (b-prefixed) packets",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL,
    official=("E10",),
    needs=("eio-echo",),
    official_name="sends and receives a payload containing plain text and binary packets",
)
async def text_and_binary(ctx: CheckContext) -> str:
    return await _round_trip(ctx, "4hello\x1ebAQIDBA==")


@check(
    "eio.message.polling.utf8-multibyte",
    "echoes multibyte UTF-8 text in a polling payload byte for byte",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL + " (text is UTF-8; v4 has no length prefix)",
    needs=("eio-echo",),
)
async def utf8(ctx: CheckContext) -> str:
    return await _round_trip(ctx, "4h\u00e9llo \u20ac \U0001d11e\x1e4\u65e5\u672c")


@check(
    "eio.message.polling.invalid-packet-closes",
    "closes the session when a POST carries an undecodable packet",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL,
    official=("E11",),
    needs=("eio-echo",),
    official_name="closes the session upon invalid packet format",
    notes="The POST's own status is spec-open (Node answers 200 ok, then closes): it is "
    "reported, not judged (the official assertion on it is swallowed by try/catch).",
)
async def polling_invalid(ctx: CheckContext) -> str:
    session = await echo_polling(ctx)
    resp = await session.post("abc")
    await session.expect_gone("after POST 'abc'")
    return f"session closed (the POST itself answered HTTP {resp.status} {resp.text[:20]!r})"


@check(
    "eio.message.polling.duplicate-poll-closes",
    "ends the session when two GETs are pending: the first gets '1', the second 400 or 500",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL + " (at most one GET in flight)",
    official=("E12",),
    needs=("eio-echo",),
    official_name="closes the session upon duplicate poll requests",
)
async def duplicate_poll(ctx: CheckContext) -> str:
    session = await echo_polling(ctx)
    first = await session.pending_get()  # on the wire before the second is sent
    second = await session.get(answer_pings=False)
    resp = await first
    ctx.expect_status(resp, 200, "first GET")
    ctx.expect_eq(resp.text, "1", "first GET body")
    ctx.expect_status(second, (400, 500), "second GET")
    await session.expect_gone("after duplicate GETs")
    return f"first GET got '1', second HTTP {second.status}, session closed"


@check(
    "eio.message.polling.cancelled-poll-closes",
    "closes the session when the client aborts a pending GET",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL,
    official=("E13",),
    needs=("eio-echo",),
    official_name="closes the session upon cancelled polling request",
)
async def cancelled_poll(ctx: CheckContext) -> str:
    session = await echo_polling(ctx)
    pending = await session.pending_get()  # on the wire before it is aborted
    pending.cancel()
    try:
        await pending
    except asyncio.CancelledError:
        ctx.probe.transcript.add("check", "=", "aborted the pending GET")
    if not await session.wait_gone(ctx.close_within):
        await session.expect_gone("after an aborted GET")
    return "session closed after the aborted GET"


@check(
    "eio.message.polling.rejects-binary-content-type",
    "refuses a raw binary POST body (application/octet-stream is protocol v3)",
    tier=Tier.ENGINEIO,
    spec=SPEC_POLL + " (binary is b+base64 in v4)",
    needs=("eio-echo",),
    notes="NON-STRICT when the server accepts the raw binary body.",
)
async def binary_content_type(ctx: CheckContext) -> str:
    session = await echo_polling(ctx)
    resp = await session.post(b"\x04\x01\x02\x03", content_type="application/octet-stream")
    if resp.status == 200:
        ctx.non_strict(f"accepted a raw binary POST body (answered {resp.text[:20]!r})")
    ctx.expect_status(resp, (400, 415), "octet-stream POST")
    return f"octet-stream POST refused with HTTP {resp.status}"


async def echo_ws(ctx: CheckContext):  # type: ignore[no-untyped-def]
    if not ctx.target.eio_echo:
        ctx.unimplemented(NEEDS_ECHO)
    ws, _ = await ctx.ws_open(EIO)
    return ws


@check(
    "eio.message.websocket.text",
    "echoes a text packet over WebSocket",
    tier=Tier.ENGINEIO,
    spec=SPEC_WS,
    official=("E14",),
    needs=("eio-echo",),
    official_name="sends and receives a plain text packet",
)
async def ws_text(ctx: CheckContext) -> str:
    ws = await echo_ws(ctx)
    await ws.send("4hello")
    await ctx.expect_frame(ws, "4hello", "echo")
    return "4hello echoed"


@check(
    "eio.message.websocket.binary",
    "echoes a binary frame over WebSocket as a binary frame",
    tier=Tier.ENGINEIO,
    spec=SPEC_WS,
    official=("E15",),
    needs=("eio-echo",),
    official_name="sends and receives a binary packet",
)
async def ws_binary(ctx: CheckContext) -> str:
    ws = await echo_ws(ctx)
    await ws.send(b"\x01\x02\x03\x04")
    await ctx.expect_frame(ws, b"\x01\x02\x03\x04", "binary echo")
    return "binary frame 01 02 03 04 echoed"


@check(
    "eio.message.websocket.invalid-packet-closes",
    "closes the WebSocket upon an undecodable packet",
    tier=Tier.ENGINEIO,
    spec=SPEC_WS,
    official=("E16",),
    needs=("eio-echo",),
    official_name="closes the session upon invalid packet format",
)
async def ws_invalid(ctx: CheckContext) -> str:
    ws = await echo_ws(ctx)
    await ws.send("abc")
    await ctx.expect_closed(ws, "after 'abc'")
    return f"closed {ctx.time_to_close_ms} ms after 'abc'"
