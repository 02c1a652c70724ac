"""Contract tier: JWT authentication on CONNECT (docs/events.md §Authentication).

These run against a server with auth on: the target itself when ``--jwt-secret`` is given,
or the auth twin the embedded target starts. Without one they are UNIMPLEMENTED. The
CONNECT_ERROR answers are compared literally.
"""

from __future__ import annotations

from wsbench.client.raw import RawWebSocket
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check
from wsbench.conformance.sio import mint_token

SPEC = "docs/events.md §Authentication (seed L358-401)"
NEEDS = "needs a server with JWT auth on (--jwt-secret)"


async def auth_ws(ctx: CheckContext) -> tuple[RawWebSocket, str]:
    """A raw WebSocket session on the auth server; returns it and the server's secret."""
    if not ctx.target.auth_url or not ctx.target.auth_secret:
        ctx.unimplemented(NEEDS)
    probe = await ctx.probe_for(ctx.target.auth_url)
    ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket", timeout=ctx.t(5.0))
    ctx.expect(not ws.closed, f"websocket refused: HTTP {ws.handshake_status}")
    first = await ctx.recv(ws, "OPEN packet")
    ctx.expect(isinstance(first, str) and first.startswith("0{"), f"no OPEN packet: {first!r}")
    return ws, ctx.target.auth_secret


async def refused(ctx: CheckContext, connect: str, expected: str) -> str:
    ws, _ = await auth_ws(ctx)
    await ws.send(connect)
    await ctx.expect_frame(ws, expected, "CONNECT_ERROR")
    return expected


@check(
    "contract.auth.valid-token-accepted",
    "accepts a CONNECT carrying a valid HS256 token and passes the payload to the handler",
    tier=Tier.CONTRACT,
    spec=SPEC,
    needs=("jwt",),
)
async def valid(ctx: CheckContext) -> str:
    ws, secret = await auth_ws(ctx)
    token = mint_token(secret, {"userId": "u1"})
    await ws.send(f'40{{"token":"{token}"}}')
    frame = await ctx.recv(ws, "CONNECT answer")
    ctx.expect(
        isinstance(frame, str) and frame.startswith('40{"sid":"'),
        f'expected 40{{"sid":...}}, got {frame!r}',
    )
    auth = await ctx.recv(ws, "auth event")
    ctx.expect(
        isinstance(auth, str) and auth.startswith(f'42["auth",{{"token":"{token}"}}'),
        f'expected 42["auth",{{"token":...}}], got {auth!r}',
    )
    return "valid token accepted"


@check(
    "contract.auth.missing-token-refused",
    'refuses a CONNECT without a token with exactly 44{"message":"Authentication error"}',
    tier=Tier.CONTRACT,
    spec=SPEC + "; socket.io-protocol v5 §CONNECT_ERROR",
    needs=("jwt",),
)
async def missing(ctx: CheckContext) -> str:
    return await refused(ctx, "40", '44{"message":"Authentication error"}')


@check(
    "contract.auth.bad-signature-refused",
    'refuses a token signed with another secret with exactly 44{"message":"Invalid token"}',
    tier=Tier.CONTRACT,
    spec=SPEC,
    needs=("jwt",),
    catches=("accept-bad-token",),
)
async def bad_signature(ctx: CheckContext) -> str:
    token = mint_token("not-the-secret", {"userId": "u1"})
    return await refused(ctx, f'40{{"token":"{token}"}}', '44{"message":"Invalid token"}')


@check(
    "contract.auth.refused-on-every-namespace",
    'applies the middleware to /chat too: 44/chat,{"message":"Authentication error"}',
    tier=Tier.CONTRACT,
    spec=SPEC + " (every namespace)",
    needs=("jwt",),
)
async def every_namespace(ctx: CheckContext) -> str:
    return await refused(ctx, "40/chat,", '44/chat,{"message":"Authentication error"}')


@check(
    "contract.auth.unknown-namespace-first",
    "refuses an unknown namespace with 'Invalid namespace' before running the middleware",
    tier=Tier.CONTRACT,
    spec=SPEC + "; docs/events.md §Other namespaces",
    needs=("jwt",),
)
async def unknown_first(ctx: CheckContext) -> str:
    return await refused(ctx, "40/random,", '44/random,{"message":"Invalid namespace"}')
