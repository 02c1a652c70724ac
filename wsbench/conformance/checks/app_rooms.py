"""Rooms an app file names by a template, as the app checks reach them (``conform --app``).

A room is often not an argument itself but built from one: reference.yaml's ``subscribe
document`` joins ``doc:{$args[0]}`` and ``update document`` pushes to
``doc:{$args[0].docId}``. The experiment of
:mod:`~wsbench.conformance.checks.app_traffic` takes every room name from the semantics
engine (the template resolved with the arguments it sends: :func:`pushed_rooms`,
:func:`changed_room`) and reaches a room through whichever event of the file can: the
file's join event whose template, run backwards (:func:`invert`), gives an argument that
the engine says joins exactly that room and is not refused (``join room`` refuses the
``doc:`` prefix, so ``doc:X`` is joined with ``subscribe document`` ``X``); the same for
the leave and for the room probe that shows whether a join took. Nothing here guesses
from names: every candidate is confirmed by :func:`~wsbench.app.engine.outcome`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from wsbench.app.engine import Outcome, View, outcome
from wsbench.app.model import App, EventSpec, Semantics
from wsbench.app.paths import Path, Template
from wsbench.oracle.semantics import ROOM_BASED

__all__ = ["Edits", "address", "apply", "changed_room", "first", "invert", "is_room_push",
           "pushed_rooms"]

#: (argument path steps, value) to set in an event's arguments
Edits = tuple[tuple[tuple[str | int, ...], Any], ...]
Setter = Callable[[list[Any], tuple[str | int, ...], Any], None]

_NOBODY = "wsb-nobody"  # the sender's sid while only room names are derived


def invert(t: Template | None, room: str) -> tuple[Path, Any] | None:
    """The argument path and value for which template ``t`` resolves to ``room``.

    A path template (``$args[0]``) takes the room as is; a splice with one path
    (``doc:{$args[0]}``) the part between its literal prefix and suffix. None when ``t``
    cannot give ``room`` (another prefix, several paths, a literal).
    """
    if t is None:
        return None
    if t.kind == "ref":
        return t.value, room
    if t.kind != "splice":
        return None
    paths = [i for i, part in enumerate(t.value) if isinstance(part, Path)]
    if len(paths) != 1:
        return None
    head = "".join(t.value[: paths[0]])
    tail = "".join(t.value[paths[0] + 1:])
    if len(room) <= len(head) + len(tail) or not room.startswith(head) or not room.endswith(tail):
        return None
    return t.value[paths[0]], room[len(head): len(room) - len(tail)]


def _outcome(app: App, spec: EventSpec, args: list[Any], view: View | None) -> Outcome:
    return outcome(app, view or View([]), spec.namespace, _NOBODY, spec.name, args)


def pushed_rooms(app: App, spec: EventSpec, args: list[Any]) -> tuple[str, ...]:
    """The rooms the engine says ``spec(*args)`` pushes to in its own namespace (a push
    addressed to a socket id, ``socket:``, names no room)."""
    o = _outcome(app, spec, args, None)
    if o.unknown or o.refused:
        return ()
    return tuple(dict.fromkeys(r for p in o.pushes if p.namespace == spec.namespace
                               and p.to in ROOM_BASED for r in p.rooms))


def changed_room(app: App, spec: EventSpec, args: list[Any]) -> str | None:
    """The room the engine says ``spec(*args)`` joins or leaves (None: refused, unknown)."""
    o = _outcome(app, spec, args, None)
    return None if o.unknown or o.refused or not o.changes else o.changes[0].room


def address(app: App, spec: EventSpec, room: str, base: list[Any], put: Setter,
            kind: str = "any", view: View | None = None) -> Edits | None:
    """The edits to ``base`` (``spec``'s arguments as the plan builds them) after which the
    engine says ``spec`` does ``kind`` to ``room``: ``join``, ``leave``, ``push`` (a copy
    to the room's members) or ``any``. ``()`` when ``base`` already does; None when no
    argument of ``spec`` can (a refusal, another prefix, a room the file does not build
    from the arguments)."""

    def hits(args: list[Any]) -> bool:
        o = _outcome(app, spec, args, view)
        if o.unknown or o.refused:
            return False
        changes = {c.room for c in o.changes if kind in ("any", c.kind)}
        pushed = {r for p in o.pushes if p.to in ROOM_BASED and p.namespace == spec.namespace
                  for r in p.rooms} if kind in ("any", "push") else set()
        return room in changes | pushed

    if hits(base):
        return ()
    candidates: list[Template | None] = []
    if kind in ("any", "join"):
        candidates.append(spec.join)
    if kind in ("any", "leave"):
        candidates.append(spec.leave)
    if kind in ("any", "push"):
        candidates += [p.room for p in spec.push if p.to in ROOM_BASED and p.socket is None]
    for t in candidates:
        found = invert(t, room)
        if found is None or found[0].root != "args" or not found[0].steps:
            continue
        path, value = found
        args = copy.deepcopy(base)
        try:
            put(args, path.steps, value)
        except Exception:  # noqa: BLE001 - the plan's own shape does not fit: not this one
            continue
        if hits(args):
            return ((path.steps, value),)
    return None


def apply(args: list[Any], edits: Edits, put: Setter) -> list[Any]:
    """``args`` with ``edits`` set (in place; returned for chaining)."""
    for steps, value in edits:
        put(args, steps, value)
    return args


def first(app: App, events: Iterable[EventSpec], room: str, build: Callable[[EventSpec], list[Any]],
          put: Setter, kind: str) -> tuple[EventSpec, Edits] | None:
    """The first of ``events`` that can do ``kind`` to ``room``, with its edits."""
    for e in events:
        edits = address(app, e, room, build(e), put, kind)
        if edits is not None:
            return e, edits
    return None


def is_room_push(spec: EventSpec) -> bool:
    """``spec`` sends a copy to every member of a room (the sender included if a member)."""
    return spec.join is None and spec.leave is None and any(
        p.to is Semantics.ROOM and p.room is not None for p in spec.push)
