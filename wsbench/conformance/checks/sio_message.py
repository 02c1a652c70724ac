"""Socket.IO v5 message checks (official S26-S32), server-initiated acks, volatile.

Official cases use the harness's ``message`` -> ``message-back`` and ``message-with-ack``.
The server-initiated ack cases (socketioxide's extension, research §1.5) and volatile use
the event contract's triggers ``request ack`` and ``broadcast volatile`` (docs/events.md).
"""

from __future__ import annotations

from wsbench.client.raw import CLOSED, RawWebSocket
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import require
from wsbench.conformance.registry import check
from wsbench.conformance.sio import literal_session

SPEC = "socket.io-protocol v5 §Sending and receiving data"
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


@check(
    "sio.message.plain-event",
    "delivers a plain-text EVENT to the handler and emits its reply",
    tier=Tier.SOCKETIO,
    spec=SPEC,
    official=("S26",),
    needs=("harness",),
    official_name="should send a plain-text packet",
)
async def plain(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send('42["message",1,"2",{"3":[true]}]')
    await ctx.expect_frame(ws, '42["message-back",1,"2",{"3":[true]}]', "message-back")
    return "message-back received"


@check(
    "sio.message.binary-event",
    "reassembles a BINARY_EVENT with two attachments and emits it back with both",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (binary attachments)",
    official=("S27",),
    needs=("harness",),
    official_name="should send a packet with binary attachments",
)
async def binary(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send(f'452-["message",{PH0},{PH1}]')
    await ws.send(b"\x01\x02\x03")
    await ws.send(b"\x04\x05\x06")
    await ctx.expect_frame(ws, f'452-["message-back",{PH0},{PH1}]', "BINARY_EVENT header")
    await ctx.expect_frame(ws, b"\x01\x02\x03", "attachment 0")
    await ctx.expect_frame(ws, b"\x04\x05\x06", "attachment 1")
    return "binary event echoed with both attachments"


@check(
    "sio.message.ack",
    "answers an EVENT with ack id 456 with the ACK 43456[...]",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (acknowledgement)",
    official=("S28",),
    needs=("harness",),
    official_name="should send a plain-text packet with an ack",
    catches=("drop-acks", "late-acks"),
)
async def ack(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    await ctx.expect_frame(ws, '43456[1,"2",{"3":[false]}]', "ACK", timeout=1.0)
    return "43456 received"


@check(
    "sio.message.binary-ack",
    "answers a BINARY_EVENT with ack id 789 with a BINARY_ACK carrying both attachments",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (acknowledgement)",
    official=("S29",),
    needs=("harness",),
    official_name="should send a packet with binary attachments and an ack",
)
async def binary_ack(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send(f'452-789["message-with-ack",{PH0},{PH1}]')
    await ws.send(b"\x01\x02\x03")
    await ws.send(b"\x04\x05\x06")
    await ctx.expect_frame(ws, f"462-789[{PH0},{PH1}]", "BINARY_ACK header")
    await ctx.expect_frame(ws, b"\x01\x02\x03", "attachment 0")
    await ctx.expect_frame(ws, b"\x04\x05\x06", "attachment 1")
    return "462-789 received with both attachments"


async def _closes(ctx: CheckContext, text: str) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send(text)
    await ctx.expect_closed(ws, f"after {text!r}")
    return f"closed {ctx.time_to_close_ms} ms after {text!r}"


@check(
    "sio.message.unknown-type-closes",
    "closes the connection upon a packet of unknown type ('4abc' after connect)",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (packet encoding)",
    official=("S30",),
    needs=("harness",),
    official_name="should close the connection upon invalid format (unknown packet type)",
)
async def unknown_type(ctx: CheckContext) -> str:
    return await _closes(ctx, "4abc")


@check(
    "sio.message.invalid-payload-closes",
    "closes the connection upon an EVENT whose payload is not an array ('42{}')",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (the payload MUST be a non-empty array)",
    official=("S31",),
    needs=("harness",),
    official_name="should close the connection upon invalid format (invalid payload format)",
)
async def invalid_payload(ctx: CheckContext) -> str:
    return await _closes(ctx, "42{}")


@check(
    "sio.message.invalid-ack-id-closes",
    "closes the connection upon an EVENT with a non-numeric ack id ('42abc[...]')",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (packet encoding)",
    official=("S32",),
    needs=("harness",),
    official_name="should close the connection upon invalid format (invalid ack id)",
)
async def invalid_ack_id(ctx: CheckContext) -> str:
    return await _closes(ctx, '42abc["message-with-ack",1,"2",{"3":[false]}]')


async def _first_answer(ctx: CheckContext, ws: RawWebSocket, what: str) -> str | bytes:
    """The server's first frame after a trigger (app pings skipped and answered, as in every
    wait of these checks); UNIMPLEMENTED if the target lacks it."""
    frame = await ctx.next_frame(ws, ctx.t(2.0))
    if frame is None:
        await require(ctx, "request ack", ({"data": "probe"},))
    ctx.expect(frame is not CLOSED, f"connection closed while waiting for {what}")
    ctx.expect(frame is not None, f"nothing received within {ctx.t(2.0):.1f} s: {what}")
    return frame  # type: ignore[return-value]


async def _server_ack(ctx: CheckContext, binary: bool) -> str:
    ws, _ = await literal_session(ctx)
    if binary:
        await ws.send(f'451-1["request ack",{{"data":{PH0}}}]')
        await ws.send(b"\x07\x08")
        header = await _first_answer(ctx, ws, "the server's BINARY_EVENT with an ack id")
        ctx.expect(
            isinstance(header, str)
            and header.startswith("451-")
            and header.endswith(f'["ack request",{PH0}]'),
            f'expected 451-<id>["ack request",{PH0}], got {header!r}',
        )
        ack_id = header[len("451-") : header.index("[")]
        ctx.expect(ack_id.isdigit(), f"the server's event carries no ack id: {header!r}")
        await ctx.expect_frame(ws, b"\x07\x08", "the event's attachment")
        await ws.send(f"461-{ack_id}[{PH0}]")
        await ws.send(b"\x09\x0a")
        await ctx.expect_frame(
            ws, f'461-1[{{"ok":true,"response":{PH0}}}]', "ack of request ack", 1.0
        )
        await ctx.expect_frame(ws, b"\x09\x0a", "the client's ack data echoed")
        return f"server event 451-{ack_id} acked with a BINARY_ACK, response relayed"
    await ws.send('421["request ack",{"data":"from-server"}]')
    header = await _first_answer(ctx, ws, "the server's EVENT with an ack id")
    ctx.expect(
        isinstance(header, str)
        and header.startswith("42")
        and header.endswith('["ack request","from-server"]'),
        f'expected 42<id>["ack request","from-server"], got {header!r}',
    )
    ack_id = header[2 : header.index("[")]
    ctx.expect(ack_id.isdigit(), f"the server's event carries no ack id: {header!r}")
    await ws.send(f'43{ack_id}["client-answer"]')
    await ctx.expect_frame(
        ws, '431[{"ok":true,"response":"client-answer"}]', "ack of request ack", 1.0
    )
    return f"server event 42{ack_id} acked by the client, response relayed"


@check(
    "sio.message.server-ack",
    "emits an EVENT with an ack id and receives the client's ACK",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (acknowledgement); socketioxide e2e 'emit-with-ack'",
    needs=("contract",),
    catches=("drop-acks", "late-acks", "ack-wrong-payload"),
)
async def server_ack(ctx: CheckContext) -> str:
    return await _server_ack(ctx, binary=False)


@check(
    "sio.message.server-binary-ack",
    "emits a BINARY_EVENT with an ack id and receives the client's BINARY_ACK",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (acknowledgement); socketioxide e2e binary 'emit-with-ack'",
    needs=("contract",),
)
async def server_binary_ack(ctx: CheckContext) -> str:
    return await _server_ack(ctx, binary=True)


@check(
    "sio.message.volatile",
    "may drop volatile events when the transport is busy, but never duplicates them",
    tier=Tier.SOCKETIO,
    spec="socket.io volatile emits (drop policy is implementation-defined)",
    needs=("contract",),
    notes="INFORMATIONAL: reports how many of 1000 synchronous volatile emits arrived "
    "(Node delivers about 1); FAILED only for duplicates; UNIMPLEMENTED without the trigger.",
    exclusive=True,
)
async def volatile(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send('421["broadcast volatile",{"data":"v","count":1000}]')
    delivered = 0
    while True:
        frame = await ctx.next_frame(ws, ctx.t(2.0))
        if frame is None:
            await require(ctx, "broadcast volatile", ({"data": "probe", "count": 1},))
            ctx.fail(f"no ack for 'broadcast volatile' within {ctx.t(2.0):.1f} s")
        ctx.expect(frame is not CLOSED, "connection closed during volatile emits")
        if frame == '42["event","v"]':
            delivered += 1
        elif frame == '431[{"ok":true}]':
            break
        else:
            ctx.fail(f"unexpected frame during volatile emits: {frame!r}")
    ctx.details["delivered"] = delivered
    ctx.expect(delivered <= 1000, f"{delivered} deliveries for 1000 volatile emits (duplicates)")
    ctx.informational(f"{delivered} of 1000 synchronous volatile emits delivered")
