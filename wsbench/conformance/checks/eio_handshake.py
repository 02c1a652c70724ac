"""Engine.IO v4 handshake checks (official E1-E7 / S1-S7, plus EIO=3, unknown sid, error bodies).

They run on ``/socket.io/``, the path every Socket.IO target serves; the official
Engine.IO suite runs the same cases on ``/engine.io/``. Expected values are the ones the
target advertises, never the suite's fixed 300/200/1e6 (research conformance.md §1.6 #1):
what is checked is the *shape* and that the values are usable (a sub-second pingInterval
advertised as 0 is FAILED, research §1.4).
"""

from __future__ import annotations

import json
from typing import Any

from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.registry import check

SIO = "/socket.io/"
OPEN_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
SPEC = "engine.io-protocol v4 §Handshake"


def _check_open(ctx: CheckContext, info: dict[str, Any], upgrades: list[str]) -> str:
    ctx.expect_eq(set(info), OPEN_KEYS, "keys of the OPEN packet")
    ctx.expect(
        isinstance(info["sid"], str) and info["sid"] != "",
        f"sid must be a non-empty string, got {info['sid']!r}",
    )
    ctx.expect_eq(info["upgrades"], upgrades, "upgrades")
    for key in ("pingInterval", "pingTimeout", "maxPayload"):
        value = info[key]
        ctx.expect(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"{key} must be a positive integer (ms/bytes), got {value!r}",
        )
    lim = ctx.limits
    got = (info["pingInterval"], info["pingTimeout"], info["maxPayload"])
    ctx.expect_eq(
        got,
        (lim.ping_interval, lim.ping_timeout, lim.max_payload),
        "pingInterval/pingTimeout/maxPayload differ from the preflight handshake",
    )
    return f"pingInterval {got[0]} ms, pingTimeout {got[1]} ms, maxPayload {got[2]} bytes"


@check(
    "eio.handshake.polling.opens-session",
    "opens a session over HTTP long-polling with sid, upgrades and usable limits",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E1", "S1"),
    official_name="successfully opens a session",
)
async def polling_opens(ctx: CheckContext) -> str:
    resp = await ctx.probe.request("GET", SIO, "EIO=4&transport=polling")
    ctx.expect_status(resp, 200, "handshake")
    ctx.expect(resp.text.startswith("0"), f"body must start with '0', got {resp.text[:40]!r}")
    try:
        info = json.loads(resp.text[1:])
    except ValueError:
        ctx.fail(f"OPEN data is not JSON: {resp.text[:60]!r}")
    ctx.expect(isinstance(info, dict), "OPEN data must be a JSON object")
    return _check_open(ctx, info, ["websocket"])


async def _polling_400(
    ctx: CheckContext, queries: list[str], what: str, method: str = "GET"
) -> str:
    for query in queries:
        resp = await ctx.probe.request(method, SIO, query, body="" if method != "GET" else None)
        ctx.expect_status(resp, 400, f"{method} ?{query}")
    return f"{what}: every request answered 400"


@check(
    "eio.handshake.polling.rejects-invalid-eio",
    "answers 400 to a polling handshake without EIO or with EIO=abc",
    tier=Tier.ENGINEIO,
    spec=SPEC + " (EIO is mandatory)",
    official=("E2", "S2"),
    official_name="fails with an invalid 'EIO' query parameter",
)
async def polling_bad_eio(ctx: CheckContext) -> str:
    return await _polling_400(ctx, ["transport=polling", "EIO=abc&transport=polling"], "bad EIO")


@check(
    "eio.handshake.polling.rejects-invalid-transport",
    "answers 400 to a handshake without transport or with transport=abc",
    tier=Tier.ENGINEIO,
    spec=SPEC + " (transport is mandatory)",
    official=("E3", "S3"),
    official_name="fails with an invalid 'transport' query parameter",
)
async def polling_bad_transport(ctx: CheckContext) -> str:
    return await _polling_400(ctx, ["EIO=4", "EIO=4&transport=abc"], "bad transport")


@check(
    "eio.handshake.polling.rejects-invalid-method",
    "answers 400 to a handshake attempted with POST or PUT",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E4", "S4"),
    official_name="fails with an invalid request method",
)
async def polling_bad_method(ctx: CheckContext) -> str:
    for method in ("POST", "PUT"):
        resp = await ctx.probe.request(method, SIO, "EIO=4&transport=polling", body="")
        ctx.expect_status(resp, 400, f"{method} handshake")
    return "POST and PUT handshakes answered 400"


@check(
    "eio.handshake.websocket.opens-session",
    "opens a WebSocket-only session whose first frame is the OPEN packet",
    tier=Tier.ENGINEIO,
    spec=SPEC,
    official=("E5", "S5"),
    official_name="successfully opens a session",
)
async def websocket_opens(ctx: CheckContext) -> str:
    _, info = await ctx.ws_open(SIO)
    return _check_open(ctx, info, [])


async def _ws_refused(ctx: CheckContext, queries: list[str]) -> str:
    codes = []
    for query in queries:
        ws = await ctx.ws(SIO, query)
        await ctx.expect_closed(ws, f"websocket ?{query}")
        codes.append(
            f"HTTP {ws.handshake_status}"
            if ws.handshake_status != 101
            else f"close {ws.close_code}"
        )
    return "closed: " + ", ".join(codes)


@check(
    "eio.handshake.websocket.rejects-invalid-eio",
    "closes a WebSocket opened without EIO or with EIO=abc",
    tier=Tier.ENGINEIO,
    spec=SPEC + " (EIO is mandatory)",
    official=("E6", "S6"),
    official_name="fails with an invalid 'EIO' query parameter",
)
async def websocket_bad_eio(ctx: CheckContext) -> str:
    return await _ws_refused(ctx, ["transport=websocket", "EIO=abc&transport=websocket"])


@check(
    "eio.handshake.websocket.rejects-invalid-transport",
    "closes a WebSocket opened without transport or with transport=abc",
    tier=Tier.ENGINEIO,
    spec=SPEC + " (transport is mandatory)",
    official=("E7", "S7"),
    official_name="fails with an invalid 'transport' query parameter",
)
async def websocket_bad_transport(ctx: CheckContext) -> str:
    return await _ws_refused(ctx, ["EIO=4", "EIO=4&transport=abc"])


@check(
    "eio.handshake.polling.rejects-eio3",
    "refuses an EIO=3 handshake (protocol v3 is not v4)",
    tier=Tier.ENGINEIO,
    spec=SPEC + "; Node error code 5 'Unsupported protocol version'",
    notes="INFORMATIONAL when the server accepts EIO=3 (Node's allowEIO3 option serves v3 clients).",
)
async def polling_eio3(ctx: CheckContext) -> str:
    resp = await ctx.probe.request("GET", SIO, "EIO=3&transport=polling")
    if resp.status == 200:
        ctx.informational("accepts EIO=3 (serves protocol v3 clients)")
    ctx.expect_status(resp, (400, 403), "EIO=3 handshake")
    return f"EIO=3 refused with HTTP {resp.status} {resp.text[:60]}"


@check(
    "eio.handshake.polling.rejects-unknown-sid",
    "answers 400 to a polling request with an unknown sid",
    tier=Tier.ENGINEIO,
    spec="engine.io-protocol v4 §HTTP long-polling (unknown sid -> 400)",
)
async def polling_unknown_sid(ctx: CheckContext) -> str:
    resp = await ctx.probe.request("GET", SIO, "EIO=4&transport=polling&sid=wsbench-unknown-sid")
    ctx.expect_status(resp, 400, "GET with an unknown sid")
    resp = await ctx.probe.request(
        "POST", SIO, "EIO=4&transport=polling&sid=wsbench-unknown-sid", body="4x"
    )
    ctx.expect_status(resp, 400, "POST with an unknown sid")
    return "GET and POST with an unknown sid answered 400"


@check(
    "eio.handshake.websocket.rejects-unknown-sid",
    "closes a WebSocket opened with an unknown sid",
    tier=Tier.ENGINEIO,
    spec="engine.io-protocol v4 §Upgrade",
)
async def websocket_unknown_sid(ctx: CheckContext) -> str:
    return await _ws_refused(ctx, ["EIO=4&transport=websocket&sid=wsbench-unknown-sid"])


@check(
    "eio.handshake.polling.error-body",
    "explains a refused request with a JSON body {code, message}",
    tier=Tier.ENGINEIO,
    spec="engine.io server errors (Node: 0 Transport unknown, 1 Session ID unknown, 2 Bad handshake method, 5 Unsupported protocol version)",
    notes="INFORMATIONAL: the spec leaves the error body open (research §2.4); OK when it matches Node's {code,message}.",
)
async def error_body(ctx: CheckContext) -> str:
    cases = [
        ("GET", "EIO=4&transport=abc", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=polling&sid=wsbench-unknown-sid", 1, "Session ID unknown"),
        ("PUT", "EIO=4&transport=polling", 2, "Bad handshake method"),
    ]
    differences = []
    for method, query, code, message in cases:
        resp = await ctx.probe.request(method, SIO, query, body="" if method != "GET" else None)
        expected = json.dumps({"code": code, "message": message}, separators=(",", ":"))
        if resp.text != expected:
            differences.append(f"{method} ?{query}: {resp.status} {resp.text[:60]!r}")
    if differences:
        ctx.informational(
            "error bodies differ from Node's {code,message}: " + "; ".join(differences)
        )
    return "error bodies are {code, message} as in Node"
