"""Socket.IO v5 connect and disconnect checks (official S17-S25) plus client-state gaps.

The official harness app is assumed for the ``auth`` event: on connection to ``/`` and
``/custom`` the server emits ``auth`` with the CONNECT payload.
"""

from __future__ import annotations

from wsbench.client.raw import CLOSED
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check
from wsbench.conformance.sio import (
    connect_text,
    expect_connect_ack,
    literal_session,
    session_token,
)

SPEC = "socket.io-protocol v5 §Connection to a namespace"
SPEC_DISC = "socket.io-protocol v5 §Disconnection from a namespace"


async def _connect(ctx: CheckContext, sent: str, ns: str, auth: str) -> str:
    if ctx.target.jwt_secret:
        ctx.unimplemented("the target requires a token on every CONNECT (--jwt-secret)")
    ws, _ = await ctx.ws_open("/socket.io/")
    await ws.send(sent)
    sid = await expect_connect_ack(ctx, ws, ns, only_sid=True)
    await ctx.expect_frame(ws, auth, "auth event")
    return f"connected with sid {sid}, got {auth}"


@check(
    "sio.connect.main-namespace",
    "accepts '40' with '40{\"sid\":...}' and emits auth {} on the main namespace",
    tier=Tier.SOCKETIO,
    spec=SPEC,
    official=("S17",),
    needs=("harness",),
    official_name="should allow connection to the main namespace",
)
async def main_ns(ctx: CheckContext) -> str:
    return await _connect(ctx, "40", "/", '42["auth",{}]')


@check(
    "sio.connect.main-namespace-with-payload",
    "passes the CONNECT payload to the main namespace's handler",
    tier=Tier.SOCKETIO,
    spec=SPEC,
    official=("S18",),
    needs=("harness",),
    official_name="should allow connection to the main namespace with a payload",
)
async def main_ns_payload(ctx: CheckContext) -> str:
    return await _connect(ctx, '40{"token":"123"}', "/", '42["auth",{"token":"123"}]')


@check(
    "sio.connect.custom-namespace",
    "accepts '40/custom,' with '40/custom,{\"sid\":...}'",
    tier=Tier.SOCKETIO,
    spec=SPEC,
    official=("S19",),
    needs=("harness",),
    official_name="should allow connection to a custom namespace",
)
async def custom_ns(ctx: CheckContext) -> str:
    return await _connect(ctx, "40/custom,", "/custom", '42/custom,["auth",{}]')


@check(
    "sio.connect.custom-namespace-with-payload",
    "passes the CONNECT payload to a custom namespace's handler",
    tier=Tier.SOCKETIO,
    spec=SPEC,
    official=("S20",),
    needs=("harness",),
    official_name="should allow connection to a custom namespace with a payload",
)
async def custom_ns_payload(ctx: CheckContext) -> str:
    return await _connect(
        ctx, '40/custom,{"token":"abc"}', "/custom", '42/custom,["auth",{"token":"abc"}]'
    )


@check(
    "sio.connect.unknown-namespace",
    'refuses an unknown namespace with exactly 44/random,{"message":"Invalid namespace"}',
    tier=Tier.SOCKETIO,
    spec=SPEC + " (CONNECT_ERROR payload is an object in v5)",
    official=("S21",),
    official_name="should disallow connection to an unknown namespace",
)
async def unknown_ns(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open("/socket.io/")
    await ws.send("40/random")
    await ctx.expect_frame(ws, '44/random,{"message":"Invalid namespace"}', "CONNECT_ERROR")
    return '44/random,{"message":"Invalid namespace"}'


@check(
    "sio.connect.invalid-handshake-closes",
    "closes the connection when the first packet is not a CONNECT ('4abc')",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (the client MUST send CONNECT first)",
    official=("S22",),
    official_name="should disallow connection with an invalid handshake",
)
async def invalid_handshake(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open("/socket.io/")
    await ws.send("4abc")
    await ctx.expect_closed(ws, "after '4abc' before CONNECT")
    return f"closed {ctx.time_to_close_ms} ms after '4abc'"


@check(
    "sio.connect.no-handshake-closes",
    "closes a connection that never sends CONNECT (connect timeout), although it answers pings",
    tier=Tier.SOCKETIO,
    spec="socket.io server option connectTimeout (Node default 45 s)",
    official=("S23",),
    official_name="should close the connection if no handshake is received",
    notes="Waits up to 3 s (pings answered). NON-STRICT when still open: the spec has no connect "
    "timeout; the official test passes any server through the heartbeat (research §1.4).",
)
async def no_handshake(ctx: CheckContext) -> str:
    ws, _ = await ctx.ws_open("/socket.io/")
    if not await ctx.expect_closed(ws, "no CONNECT sent", strict=False, within=ctx.t(3.0)):
        ctx.non_strict("no connect timeout: still open 3 s after the handshake with pings answered")
    return f"closed {ctx.time_to_close_ms} ms after the handshake (connect timeout)"


@check(
    "sio.disconnect.main-namespace",
    "keeps the transport up after '41': the next frame is the ping '2'",
    tier=Tier.SOCKETIO,
    spec=SPEC_DISC,
    official=("S24",),
    needs=("harness",),
    official_name="should disconnect from the main namespace",
    timeout=15.0,
)
async def disconnect_main(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    await ws.send("41")
    lim = ctx.limits
    # an app ping the server emitted before it handled '41' is skipped, not answered (the
    # socket has left '/': a pong there would be an event on a namespace it is not in)
    frame = await ctx.next_frame(
        ws,
        (lim.ping_interval + lim.ping_timeout) / 1000 + ctx.t(0.5),
        skip_pings=False,
        answer_app_pings=False,
    )
    ctx.expect(frame is not CLOSED, "the transport closed after '41'")
    ctx.expect_eq(frame, "2", "next frame after '41'")
    return "transport stayed up; next frame was the ping"


@check(
    "sio.disconnect.custom-namespace",
    "leaves the main namespace working after connecting then disconnecting /custom",
    tier=Tier.SOCKETIO,
    spec=SPEC_DISC + " (one connection multiplexes namespaces)",
    official=("S25",),
    needs=("harness",),
    official_name="should connect then disconnect from a custom namespace",
)
async def disconnect_custom(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx)
    token = session_token(ctx)
    await ws.send(connect_text("/custom", token) if token else "40/custom")
    await expect_connect_ack(ctx, ws, "/custom")
    await ctx.recv(ws, "auth event on /custom")
    await ws.send("41/custom")
    await ws.send('42["message","message to main namespace"]')
    await ctx.expect_frame(
        ws, '42["message-back","message to main namespace"]', "message-back on /"
    )
    return "main namespace unaffected by /custom's disconnect"


@check(
    "sio.connect.socket-id-differs-from-engine-sid",
    "gives the socket an id that is not the Engine.IO sid",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (the socket id is not the Engine.IO sid: the sid is a polling credential)",
)
async def sid_differs(ctx: CheckContext) -> str:
    ws, info = await ctx.ws_open("/socket.io/")
    await ws.send(connect_text("/", session_token(ctx)))
    sid = await expect_connect_ack(ctx, ws, "/")
    ctx.expect(sid != info["sid"], f"socket id equals the Engine.IO sid {sid!r}")
    return "socket id differs from the Engine.IO sid"


@check(
    "sio.connect.double-connect-closes",
    "closes the connection on a second CONNECT to an already connected namespace",
    tier=Tier.SOCKETIO,
    spec=SPEC + "; Node client-state rule (research §2.2)",
    notes="NON-STRICT when the server answers or ignores it and keeps the connection "
    "(python-socketio answers 44 'Unable to connect').",
)
async def double_connect(ctx: CheckContext) -> str:
    ws, _ = await literal_session(ctx, auth_event=False)
    token = session_token(ctx)
    await ws.send(connect_text("/", token))
    if not await ctx.expect_closed(ws, "second CONNECT", strict=False):
        ctx.non_strict("a second CONNECT to / did not close the connection")
    return f"closed {ctx.time_to_close_ms} ms after the second CONNECT"


@check(
    "sio.connect.event-before-connect-ack",
    "handles an EVENT batched with its CONNECT before the CONNECT answer ('40\\x1e42[...]')",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (clients must wait for the CONNECT answer)",
    notes="INFORMATIONAL: Node closes the session, python-socketio accepts (spec-open, research §2.4).",
)
async def event_before_ack(ctx: CheckContext) -> str:
    session = await ctx.polling("/socket.io/")
    token = session_token(ctx)
    first = connect_text("/", token)
    resp = await session.post(f'{first}\x1e42["message","early"]')  # answered once handled
    after = await session.get(timeout=ctx.t(1.0))
    if after.status == 400 or "1" in after.text.split("\x1e"):
        ctx.informational(f"closes the session (POST answered {resp.status} {resp.text!r})")
    ctx.informational(f"accepts it: next GET {after.status} {after.text[:80]!r}")
