"""Per-client CONNECT payloads: minted HS256 JWTs and templated static payloads.

Theory of operation
-------------------
With ``auth.jwt`` each client gets its own token: the claims are rendered with the
client's template values (``userId: "user-{client}"``), ``iat`` is now and ``exp``
is ``now + expires_in``. A connect step may ask for a deliberately bad token to
check the server refuses it: ``expired`` (correctly signed, ``exp`` an hour in the
past), ``invalid`` (signed with a secret that is not the scenario's) or ``none``
(no ``token`` key at all). ``auth.static`` is merged in as well (rendered), and a
connect step's own ``auth`` last. Tokens are minted when a client connects (PyJWT,
about 20 µs each), never all up front, so memory does not grow with ``clients``.

:func:`user_id` extracts the user a payload names (``userId`` claim or key), which
the driver needs to know which sockets the server puts in the room ``user:<id>``
(the notifications contract). :func:`admin_token` is the bearer token a ``notify``
step's ``POST /notifications`` carries when the scenario has ``auth.jwt`` (a server with
``--jwt-secret`` accepts posts from admins only).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any

from wsbench.scenario.model import Auth, TokenMode, render_value

__all__ = ["admin_token", "connect_payload", "mint", "user_id"]

_WRONG_SECRET = "wsbench-this-is-not-the-scenario-secret"


def mint(
    secret: str, claims: Mapping[str, Any], expires_in: float, *, now: float | None = None
) -> str:
    """An HS256 JWT with ``claims``, ``iat`` and ``exp`` (seconds from ``now``)."""
    import jwt

    issued = int(time.time() if now is None else now)
    body = dict(claims)
    body.setdefault("iat", issued)
    body["exp"] = issued + int(expires_in)
    with warnings.catch_warnings():  # demo secrets are short on purpose; not our call
        warnings.simplefilter("ignore")
        return jwt.encode(body, secret, algorithm="HS256")


def connect_payload(
    auth: Auth,
    values: Mapping[str, Any],
    token: TokenMode = TokenMode.DEFAULT,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The CONNECT payload of one client for one connect step (None: send none)."""
    payload: dict[str, Any] = {}
    if auth.static:
        payload.update(render_value(dict(auth.static), values))
    if auth.jwt is not None and token is not TokenMode.NONE:
        claims = render_value(dict(auth.jwt.claims), values)
        if token is TokenMode.EXPIRED:
            payload["token"] = mint(auth.jwt.secret, claims, 1, now=time.time() - 3600)
        elif token is TokenMode.INVALID:
            payload["token"] = mint(_WRONG_SECRET, claims, auth.jwt.expires_in)
        else:
            payload["token"] = mint(auth.jwt.secret, claims, auth.jwt.expires_in)
    if extra:
        payload.update(render_value(dict(extra), values))
    return payload or None


def admin_token(auth: Auth, values: Mapping[str, Any]) -> str | None:
    """The token a ``notify`` step sends as ``Authorization: Bearer`` (None: no ``auth.jwt``).

    A server started with ``--jwt-secret`` lets only an admin post notifications: the
    client's own claims (rendered) with ``admin: true``, signed with the scenario's secret.
    """
    if auth.jwt is None:
        return None
    claims = render_value(dict(auth.jwt.claims), values)
    claims["admin"] = True
    return mint(auth.jwt.secret, claims, auth.jwt.expires_in)


def user_id(auth: Auth, values: Mapping[str, Any]) -> str | None:
    """The userId the server will see for this client (string form), or None."""
    uid: Any = None
    if auth.jwt is not None:
        uid = render_value(dict(auth.jwt.claims), values).get("userId")
    if uid is None and auth.static:
        uid = render_value(dict(auth.static), values).get("userId")
    if isinstance(uid, bool) or not isinstance(uid, (str, int)) or uid == "":
        return None
    return str(uid)
