"""What every namespace module shares: refusals, payload checks, the handler wrapper.

docs/events.md "Conventions": a handler's return value is its ack (``{ok: true}`` when
it returns ``None``); a :class:`Refusal` (or any other error, as ``"internal error"``)
answers ``{ok: false, error}`` if an ack was asked and emits ``error``
``{event, message}`` to the sender. A handler may return :data:`DEFERRED` and call
the ack itself later (``request ack`` waits for the client's own ack).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reference_server.sio import Socket

__all__ = [
    "DEFERRED",
    "Refusal",
    "handle",
    "require",
    "require_object",
    "require_room",
    "is_object",
    "is_int",
    "ROOM_MAX_CHARS",
]

log = logging.getLogger(__name__)

ROOM_MAX_CHARS = 128
DEFERRED = object()
"""Returned by a handler that will answer its ack later (it receives ``ack=`` itself)."""


class Refusal(Exception):
    """A contract refusal; the message is a short English sentence."""


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def require(condition: bool, message: str) -> None:
    if not condition:
        raise Refusal(message)


def require_object(value: Any, *keys: str) -> dict[str, Any]:
    require(is_object(value), f"payload must be an object with keys {', '.join(keys)}")
    for key in keys:
        require(key in value, f'payload lacks key "{key}"')
    return value


def require_room(value: Any, what: str = "room") -> str:
    require(
        isinstance(value, str) and 0 < len(value) <= ROOM_MAX_CHARS,
        f"{what} must be a non-empty string of at most {ROOM_MAX_CHARS} characters",
    )
    return value


def handle(socket: Socket, event: str, fn: Callable[..., Any], *, wants_ack: bool = False) -> None:
    """Register ``fn(payload)`` (``fn(payload, ack=...)`` with ``wants_ack``) for ``event``.

    Contract events take one payload argument; extra arguments are ignored, a missing
    one is ``None``.
    """

    def run(*args: Any, ack: Callable[..., None] | None = None) -> None:
        payload = args[0] if args else None
        try:
            result = fn(payload, ack=ack) if wants_ack else fn(payload)
        except Refusal as exc:
            _refuse(socket, event, str(exc), ack)
            return
        except Exception:
            log.exception("! handler %r failed", event)
            _refuse(socket, event, "internal error", ack)
            return
        if result is DEFERRED:
            return
        if ack is not None:
            ack({"ok": True} if result is None else result)

    socket.on(event, run)


def _refuse(socket: Socket, event: str, message: str, ack: Callable[..., None] | None) -> None:
    if ack is not None:
        ack({"ok": False, "error": message})
    socket.emit("error", {"event": event, "message": message})
