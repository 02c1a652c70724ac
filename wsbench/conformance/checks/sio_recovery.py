"""Connection state recovery (socket.io >= 4.6; research conformance.md §2.3).

With recovery on, the CONNECT answer carries a ``pid``, every server EVENT without an ack
id carries an offset as its last argument, and a client that lost its transport reconnects
with ``{pid, offset}`` to get the missed packets replayed *before* the CONNECT answer, under
the same sid. A server whose CONNECT answer has no ``pid`` does not offer recovery: every
check here is then UNIMPLEMENTED (python-socketio, socketioxide have none).

They run on the target's recovery server (the embedded target starts one; for a URL
target, the target itself). Targeted emits use ``broadcast socket`` so no other check's
socket on the same server receives anything.
"""

from __future__ import annotations

import json
from typing import Any

from wsbench.client.raw import RawWebSocket
from wsbench.conformance.checks.contract_broadcast import nonce
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import Tier
from wsbench.conformance.peer import Peer
from wsbench.conformance.registry import check
from wsbench.conformance.sio import mint_token

SPEC = "socket.io connection state recovery (socket.io >= 4.6.0)"


def _secret(ctx: CheckContext, url: str) -> str | None:
    if url == ctx.target.auth_url:
        return ctx.target.auth_secret
    return ctx.target.jwt_secret if url == ctx.target.url else None


async def _recoverable(ctx: CheckContext) -> tuple[Peer, Peer, str, str | None]:
    url = ctx.target.recovery_url or ctx.target.url
    secret = _secret(ctx, url)
    a = await Peer.open(ctx, url=url, label="A", secret=secret)
    pid = a.connect_answers.get("/", {}).get("pid")
    if not isinstance(pid, str) or not pid:
        ctx.unimplemented("the CONNECT answer has no pid: connection state recovery is off")
    b = await Peer.open(ctx, url=url, label="B", secret=secret)
    return a, b, url, secret


async def _send_to(ctx: CheckContext, sender: Peer, target: Peer, data: str) -> None:
    answer = await sender.call("broadcast socket", {"to": target.sids["/"], "data": data})
    ctx.expect(
        isinstance(answer, dict) and answer.get("ok") is True,
        f"ack of broadcast socket: {answer!r}",
    )


async def _reconnect(ctx: CheckContext, url: str, payload: dict[str, Any]) -> RawWebSocket:
    probe = await ctx.probe_for(url)
    ws = await probe.websocket("/socket.io/", "EIO=4&transport=websocket", timeout=ctx.t(5.0))
    first = await ctx.recv(ws, "OPEN packet")
    ctx.expect(isinstance(first, str) and first.startswith("0{"), f"no OPEN packet: {first!r}")
    await ws.send("40" + json.dumps(payload, separators=(",", ":")))
    return ws


@check(
    "sio.recovery.pid-in-connect-answer",
    "answers CONNECT with {sid, pid} when recovery is on",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (CONNECT answer)",
    needs=("recovery",),
    notes="UNIMPLEMENTED when the CONNECT answer has no pid (recovery off or unsupported).",
)
async def pid(ctx: CheckContext) -> str:
    a, _, _, _ = await _recoverable(ctx)
    return f"CONNECT answer {a.connect_answers['/']!r}"


@check(
    "sio.recovery.offset-appended",
    "appends an offset string to every server EVENT without an ack id",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (offsets)",
    needs=("recovery",),
    notes="UNIMPLEMENTED when the CONNECT answer has no pid.",
)
async def offset(ctx: CheckContext) -> str:
    a, b, _, _ = await _recoverable(ctx)
    data = nonce()
    await _send_to(ctx, b, a, data)
    got = await a.wait_for("event")
    args = got[-1].args
    ctx.expect(
        len(args) == 2 and args[0] == data and isinstance(args[1], str) and args[1],
        f'expected ["event",{data!r},<offset>], got {list(args)!r}',
    )
    return f"event carried offset {args[1]!r}"


async def _lose_and_recover(ctx: CheckContext) -> tuple[str, str, str, RawWebSocket, str]:
    a, b, url, secret = await _recoverable(ctx)
    seen = nonce("seen")
    await _send_to(ctx, b, a, seen)
    got = await a.wait_for("event")
    last_offset = got[-1].args[-1]
    sid, pid_ = a.sids["/"], a.connect_answers["/"]["pid"]
    # Transport close: recoverable. close() returns once the server answered the close
    # frame (bounded), i.e. it has seen the transport end: no settling sleep before "missed".
    await a.close()
    missed = nonce("missed")
    await _send_to(ctx, b, a, missed)
    payload: dict[str, Any] = {"pid": pid_, "offset": last_offset}
    if secret:
        payload["token"] = mint_token(secret, {"userId": "A"})
    ws = await _reconnect(ctx, url, payload)
    return sid, pid_, missed, ws, last_offset


async def _next_not_app_ping(ctx: CheckContext, ws: RawWebSocket, what: str) -> str | bytes:
    """The next frame but the contract's app-level heartbeat (:meth:`CheckContext.recv` skips
    it): an app ``ping`` emitted while the socket was away is a missed packet too, and may be
    replayed before or after ours (with its offset: ``42["ping","<offset>"]``)."""
    while True:
        frame = await ctx.recv(ws, what)
        if not (isinstance(frame, str) and frame.startswith('42["ping"')):
            return frame


@check(
    "sio.recovery.replays-missed-before-connect",
    "replays the packets missed while disconnected before the CONNECT answer",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (replay)",
    needs=("recovery",),
    notes="UNIMPLEMENTED when the CONNECT answer has no pid.",
)
async def replay(ctx: CheckContext) -> str:
    _, _, missed, ws, _ = await _lose_and_recover(ctx)
    frame = await _next_not_app_ping(ctx, ws, "the replayed event")
    ctx.expect(
        isinstance(frame, str) and frame.startswith(f'42["event","{missed}","'),
        f'expected the missed 42["event","{missed}",<offset>] first, got {frame!r}',
    )
    answer = await _next_not_app_ping(ctx, ws, "CONNECT answer")
    ctx.expect(
        isinstance(answer, str) and answer.startswith("40{"),
        f"expected the CONNECT answer next, got {answer!r}",
    )
    return "missed event replayed before the CONNECT answer"


@check(
    "sio.recovery.same-sid",
    "restores the same sid and pid on a recovered connection",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (same sid)",
    needs=("recovery",),
    notes="UNIMPLEMENTED when the CONNECT answer has no pid.",
)
async def same_sid(ctx: CheckContext) -> str:
    sid, pid_, _, ws, _ = await _lose_and_recover(ctx)
    expected = f'40{{"sid":"{sid}","pid":"{pid_}"}}'
    for _ in range(5):
        frame = await ctx.recv(ws, "CONNECT answer")
        if isinstance(frame, str) and frame.startswith("40"):
            ctx.expect_eq(frame, expected, "CONNECT answer of the recovered session")
            return "recovered with the same sid and pid"
    ctx.fail("no CONNECT answer among the first frames after reconnecting")


@check(
    "sio.recovery.unknown-pid-fresh-session",
    "answers an unknown pid with a fresh session (new sid and pid), not an error",
    tier=Tier.SOCKETIO,
    spec=SPEC + " (unknown session)",
    needs=("recovery",),
    notes="UNIMPLEMENTED when the CONNECT answer has no pid.",
)
async def unknown_pid(ctx: CheckContext) -> str:
    a, _, url, secret = await _recoverable(ctx)
    payload: dict[str, Any] = {"pid": "wsbench-unknown-pid", "offset": "wsbench-unknown-offset"}
    if secret:
        payload["token"] = mint_token(secret, {"userId": "A"})
    ws = await _reconnect(ctx, url, payload)
    frame = await ctx.recv(ws, "CONNECT answer")
    ctx.expect(
        isinstance(frame, str) and frame.startswith("40{"),
        f"expected a CONNECT answer, got {frame!r}",
    )
    body = json.loads(frame[2:])
    ctx.expect(
        isinstance(body.get("pid"), str) and body["pid"] != "wsbench-unknown-pid",
        f"a fresh session needs a new pid, got {frame!r}",
    )
    ctx.expect(body.get("sid") != a.sids["/"], "the fresh session reused another socket's sid")
    return "unknown pid answered with a fresh sid and pid"
