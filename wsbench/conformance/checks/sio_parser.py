"""Socket.IO v5 malformed-packet checks the official suites lack (research §1.6 #5, §2.2).

Each sends one bad packet on a connected session (pings answered) and expects the server
to close the connection within the close bound, as Node's socket.io-parser does within a
millisecond. Where the rule is the spec's own MUST (an EVENT payload must be a non-empty
array) an open connection is FAILED; where it is socket.io-parser's rule (reserved names,
the 10-attachment limit, placeholder range, DISCONNECT payload, stray binary) it is
NON-STRICT: python-socketio logs these and keeps the connection (research §4).

On the msgpack parser (``--parser msgpack``) the packets are sent as their msgpack
equivalents (:mod:`wsbench.conformance.translate`); the attachment rules have none (binary
values travel in place) and those checks are UNIMPLEMENTED there, with the reason.
"""

from __future__ import annotations

from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check
from wsbench.conformance.sio import literal_session
from wsbench.conformance.translate import no_attachments

SPEC = "socket.io-protocol v5 §Packet encoding"
NODE = "socket.io-parser 4.2.x Decoder rule"


async def _send_expect_close(
    ctx: CheckContext, frames: list[str | bytes], strict: bool, why: str = ""
) -> str:
    ws, _ = await literal_session(ctx)
    for frame in frames:
        await ws.send(frame)
    shown = frames[0][:48] if isinstance(frames[0], str) else "a binary frame"
    extra = f" + {len(frames) - 1} binary frames" if len(frames) > 1 else ""
    if not await ctx.expect_closed(ws, f"after {shown!r}{extra}", strict=strict):
        ctx.non_strict(f"connection kept open after {shown!r}{extra}{why}")
    return f"closed {ctx.time_to_close_ms} ms after {shown!r}{extra}"


def _attachment_rule(ctx: CheckContext, what: str) -> None:
    if ctx.target.parser != "default":
        ctx.unimplemented(no_attachments(what))


@check(
    "sio.parser.empty-event-array-closes",
    "closes the connection upon an EVENT with an empty array '42[]'",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (EVENT payload MUST be a non-empty array, else close)",
    notes="On the msgpack parser NON-STRICT when the connection stays open: the official "
    "socket.io-msgpack-parser 3.0 only requires an array.",
)
async def empty_array(ctx: CheckContext) -> str:
    if ctx.target.parser == "msgpack":
        why = " (socket.io-msgpack-parser 3.0 lets an empty EVENT array through)"
        return await _send_expect_close(ctx, ["42[]"], strict=False, why=why)
    return await _send_expect_close(ctx, ["42[]"], strict=True)


@check(
    "sio.parser.reserved-event-name-closes",
    "closes the connection upon an EVENT named like a reserved event ('42[\"disconnect\"]')",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE} (reserved: connect, connect_error, disconnect, "
    "disconnecting, newListener, removeListener)",
    notes="NON-STRICT when the connection stays open.",
)
async def reserved(ctx: CheckContext) -> str:
    return await _send_expect_close(ctx, ['42["disconnect"]'], strict=False)


@check(
    "sio.parser.disconnect-with-payload-closes",
    "closes the connection upon a DISCONNECT carrying a payload ('41{\"a\":1}')",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE}",
    notes="NON-STRICT when the connection stays open.",
)
async def disconnect_payload(ctx: CheckContext) -> str:
    return await _send_expect_close(ctx, ['41{"a":1}'], strict=False)


@check(
    "sio.parser.too-many-attachments-closes",
    "closes the connection upon a BINARY_EVENT announcing 11 attachments (limit 10)",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE} (maxAttachments 10)",
    notes="NON-STRICT when the connection stays open.",
)
async def too_many(ctx: CheckContext) -> str:
    _attachment_rule(ctx, "the attachment count limit")
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(11))
    frames: list[str | bytes] = [f'4511-["message",{placeholders}]']
    frames += [bytes([i]) for i in range(11)]
    return await _send_expect_close(ctx, frames, strict=False)


@check(
    "sio.parser.bad-placeholder-closes",
    "closes the connection upon a placeholder whose num is out of range",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE} (placeholder num must index an attachment)",
    notes="NON-STRICT when the connection stays open.",
)
async def bad_placeholder(ctx: CheckContext) -> str:
    _attachment_rule(ctx, "a placeholder out of range")
    frames: list[str | bytes] = ['451-["message",{"_placeholder":true,"num":5}]', b"\x01"]
    return await _send_expect_close(ctx, frames, strict=False)


@check(
    "sio.parser.unexpected-binary-closes",
    "closes the connection upon a binary frame when no attachment is expected",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE}",
    notes="NON-STRICT when the connection stays open.",
)
async def stray_binary(ctx: CheckContext) -> str:
    return await _send_expect_close(ctx, [b"\x01\x02\x03"], strict=False)


@check(
    "sio.parser.text-while-awaiting-attachments-closes",
    "closes the connection upon a text packet while attachments are still due",
    tier=Tier.SOCKETIO,
    spec=f"{SPEC}; {NODE}",
    notes="NON-STRICT when the connection stays open.",
)
async def text_while_binary(ctx: CheckContext) -> str:
    _attachment_rule(ctx, "a text packet while attachments are due")
    frames: list[str | bytes] = [
        '451-["message",{"_placeholder":true,"num":0}]',
        '42["message","x"]',
    ]
    return await _send_expect_close(ctx, frames, strict=False)
