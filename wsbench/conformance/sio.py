"""Socket.IO over the raw probe: literal-wire sessions for the protocol tier, and tokens.

:func:`literal_session` opens a WebSocket on ``/socket.io/``, checks the OPEN packet and
connects the main namespace by sending the literal ``40`` (or ``40{"token":...}`` when the
target has auth on), expecting ``40{"sid":...}`` and the harness's ``42["auth",...]``. The
expected text is written out here, not produced by wsbench's own codec, so a codec bug
cannot cancel itself out.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt

from wsbench.client.raw import RawWebSocket
from wsbench.conformance.context import CheckContext

__all__ = ["literal_session", "mint_token", "alg_none_token", "connect_text", "auth_text"]


def mint_token(secret: str, claims: dict[str, Any] | None = None, ttl: float = 3600.0) -> str:
    """An HS256 JWT signed with ``secret``; ``ttl < 0`` gives an expired one."""
    payload = {"iat": int(time.time()) - (3600 if ttl < 0 else 0), **(claims or {})}
    payload["exp"] = int(time.time() + ttl)
    with warnings.catch_warnings():  # short test secrets are the user's business
        warnings.simplefilter("ignore")
        return jwt.encode(payload, secret, algorithm="HS256")


def alg_none_token(claims: dict[str, Any] | None = None) -> str:
    """An unsigned ``alg: none`` JWT (must always be refused)."""

    def part(obj: dict[str, Any]) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    body = {"exp": int(time.time()) + 3600, **(claims or {})}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(body)}."


def session_token(ctx: CheckContext) -> str | None:
    """The token every CONNECT carries when the target verifies JWTs."""
    secret = ctx.target.jwt_secret
    return mint_token(secret, {"userId": "wsbench-conform"}) if secret else None


def connect_text(namespace: str, token: str | None) -> str:
    """The literal CONNECT packet: ``40``, ``40/chat,``, ``40{"token":"..."}``."""
    ns = "" if namespace == "/" else f"{namespace},"
    return f'40{ns}{{"token":"{token}"}}' if token else f"40{ns}"


def auth_text(namespace: str, token: str | None) -> str:
    """The literal ``auth`` event the harness emits on connection."""
    ns = "" if namespace == "/" else f"{namespace},"
    return f'42{ns}["auth",{{"token":"{token}"}}]' if token else f'42{ns}["auth",{{}}]'


async def expect_connect_ack(
    ctx: CheckContext, ws: RawWebSocket, namespace: str, only_sid: bool = False
) -> str:
    """Read the CONNECT answer ``40[ns,]{"sid":...}``; returns the sid.

    ``only_sid`` also requires the object to have no other key (official S17-S20).
    """
    prefix = "40" if namespace == "/" else f"40{namespace},"
    frame = await ctx.recv(ws, f"CONNECT answer on {namespace}")
    ctx.expect(
        isinstance(frame, str) and frame.startswith(prefix),
        f"expected a CONNECT answer starting with {prefix!r}, got {frame!r}",
    )
    try:
        body = json.loads(frame[len(prefix) :])
    except ValueError:
        ctx.fail(f"CONNECT answer is not JSON: {frame!r}")
    ctx.expect(
        isinstance(body, dict) and isinstance(body.get("sid"), str),
        f"CONNECT answer must be an object with a string sid, got {frame!r}",
    )
    if only_sid:
        ctx.expect_eq(sorted(body), ["sid"], "keys of the CONNECT answer")
    return body["sid"]


async def literal_session(
    ctx: CheckContext, namespaces: tuple[str, ...] = ("/",), auth_event: bool = True
) -> tuple[RawWebSocket, dict[str, str]]:
    """A WebSocket session connected to ``namespaces`` with literal packets.

    Returns the socket and the sid of each namespace. ``auth_event`` consumes the
    harness's ``auth`` event (``/`` and ``/custom`` emit one on connection).
    """
    ws, _ = await ctx.ws_open("/socket.io/")
    token = session_token(ctx)
    sids = {}
    for ns in namespaces:
        await ws.send(connect_text(ns, token))
        sids[ns] = await expect_connect_ack(ctx, ws, ns)
        if auth_event:
            await ctx.expect_frame(ws, auth_text(ns, token), f"auth event on {ns}")
    return ws, sids
