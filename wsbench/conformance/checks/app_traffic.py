"""The traffic experiment behind the app-generated checks (``wsbench conform --app FILE``).

One experiment per declared event: four peers in the event's namespace (``A`` the sender,
``B`` a recipient that is in every target room, ``C`` in another room, ``D`` in no room),
rooms joined through the file's own join events and confirmed the way the file says
(an ack, a push to the joiner, or by effect: the joiner sends a probe through the room and
it arrives), then :data:`MESSAGES` sends of the event, concurrently, each with a unique
stamp wherever the file says a client value lands in the pushed copy. What each send must
cause is the semantics engine's :func:`~wsbench.app.engine.outcome` (recipients through the
oracle's audience, payload expectations, acks, must-not sets); nothing is computed a second
way. The experiment waits on "every expected copy and ack arrived" (bounded by the target's
delivery bound from its handshake, scaled), then the quiet window, and records per peer and
send what arrived. Copies that carry no stamp (``user joined`` carrying the joiner's sid)
are correlated with the engine's payload expectations. The behaviour checks of
:mod:`wsbench.conformance.checks.app_family` judge one experiment from different sides.

Power: a fault that hits one message in 100 escapes 460 independent sends with probability
0.99**460 < 1 %, so :data:`MESSAGES` is 460.

Bytes: an event whose file declares ``binary:`` arguments gets a blob there on every send
(:func:`blob`: the stamp as its first bytes, then seeded filler of every byte value but
``~``), :data:`BLOB_SMALL` bytes, every :data:`BLOB_LARGE_EVERY`-th send :data:`BLOB_LARGE`
bytes. The Peer sends them as attachments on the default parser (the msgpack translation
puts them in place), and a copy that must carry them is compared byte for byte by the
engine's expectation. Stamps are found in a copy's text (:func:`text`), in which a blob
stands for its first :data:`_BLOB_HEAD` bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from wsbench.app.engine import ExpectedAck, ExpectedPush, Outcome, Sock, View, outcome
from wsbench.app.model import App, ConditionKind, EventSpec, Semantics
from wsbench.app.paths import Path, Template
from wsbench.conformance.checks import app_rooms as rooms_
from wsbench.conformance.checks.app_rooms import Edits, apply
from wsbench.conformance.context import CheckContext
from wsbench.conformance.peer import Peer, until_any
from wsbench.oracle.semantics import ROOM_BASED

__all__ = ["BLOB_LARGE", "BLOB_LARGE_EVERY", "BLOB_SMALL", "MESSAGES", "Experiment",
           "Unrunnable", "blob", "experiment", "plan_args", "ROLES", "text"]

MESSAGES = 460
"""Sends per behaviour: 1 - 0.99**460 > 0.99, a 1-in-100 fault is caught with 99 %."""

ROLES = ("A", "B", "C", "D")
WINDOW = 128
"""Sends in flight at most (the sender waits, bounded, for the effects of older ones)."""
_SLICE = 0.005
"""Seconds of computing (the engine's outcomes) between two turns of the event loop."""
_TICK = 0.02
_TOKEN = re.compile(r"wsb~([0-9a-f]{8})~(\d+)")
BLOB_SMALL = 100
"""Bytes of a binary argument on most sends."""
BLOB_LARGE = 64 * 1024
"""Bytes of a binary argument on every :data:`BLOB_LARGE_EVERY`-th send."""
BLOB_LARGE_EVERY = 8
_BLOB_HEAD = 32  # a blob's stamp is in its first bytes


def blob(stamp: str, i: int) -> bytes:
    """Send ``i``'s blob: ``stamp~`` then filler seeded by ``i`` (no ``~`` in it, so the
    stamp's digits end where they should), :data:`BLOB_SMALL` or :data:`BLOB_LARGE` bytes."""
    size = BLOB_LARGE if i % BLOB_LARGE_EVERY == BLOB_LARGE_EVERY - 1 else BLOB_SMALL
    head = f"{stamp}~".encode()
    return head + random.Random(i).randbytes(max(0, size - len(head))).replace(b"~", b"}")


def _blob_text(o: Any) -> str:
    if isinstance(o, (bytes, bytearray)):
        return bytes(o[:_BLOB_HEAD]).decode("latin-1")
    raise TypeError(f"{type(o).__name__} is not JSON")


def text(value: Any) -> str:
    """JSON text of a received value to look for stamps in (a blob: its first bytes)."""
    return json.dumps(value, default=_blob_text)


class Unrunnable(Exception):
    """The file does not give enough to run this experiment (UNIMPLEMENTED, with reason)."""


# -- arguments from the file's paths --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArgPlan:
    """Which path of an event's arguments plays which part."""

    roles: dict[str, str]  #: path text -> room, rooms, sid, key, stamp, object, blob
    paths: dict[str, Path]
    spread: bool = False  #: the event echoes its whole argument list

    @property
    def binary(self) -> bool:
        """Some argument carries bytes (the file's ``binary:``)."""
        return "blob" in self.roles.values()


def _ref(t: Template | None) -> Path | None:
    return t.value if t is not None and t.kind == "ref" else None


def plan_args(spec: EventSpec) -> ArgPlan:
    roles: dict[str, str] = {}
    paths: dict[str, Path] = {}

    def put(p: Path, role: str) -> None:
        if p.root != "args":
            return
        paths.setdefault(str(p), p)
        roles.setdefault(str(p), role)

    for t in (spec.join, spec.leave):
        if t is not None:
            for _, p in t.refs():
                put(p, "room" if t.kind == "ref" else "key")
    spread = False
    for push in spec.push:
        if push.socket is not None:
            for _, p in push.socket.refs():
                put(p, "sid")
        if push.room is not None:
            # a room push addressed to a socket's id room declares it with socket: (above)
            for _, p in push.room.refs():
                put(p, "room" if push.room.kind == "ref" else "key")
        if push.rooms is not None:
            for _, p in push.rooms.refs():
                put(p, "rooms")
        if push.present is not None:
            put(push.present, "stamp")
        spread = spread or push.spread
        for t in push.args or ():
            for _, p in t.refs():
                put(p, "stamp")
    if spec.ack is not None:
        spread = spread or spec.ack.spread
        for t in spec.ack.args or ():
            for _, p in t.refs():
                put(p, "stamp")
    for c in spec.refuse:
        if c.kind is ConditionKind.NOT_OBJECT:
            put(c.path, "object")
            # an object whatever else copies it whole (update document's changes): with no
            # declared key the check's stamp goes in a key of its own, so the copy carries it
            roles[str(c.path)] = "object"
            for k in c.keys or ("wsb",):
                put(Path(c.path.root, (*c.path.steps, k)), "stamp")
        elif c.kind is ConditionKind.NOT_ROOM:
            put(c.path, "stamp")
    for p in spec.binary:  # the file says these carry bytes: a stamped blob goes there
        put(p, "blob")
        roles[str(p)] = "blob"
    return ArgPlan(roles, paths, spread)


def build_args(plan: ArgPlan, values: dict[str, Any]) -> list[Any]:
    """The argument list with every planned path set (``values`` by role)."""
    args: list[Any] = []
    for text in sorted(plan.paths, key=lambda s: (len(plan.paths[s].steps), s)):
        p, role = plan.paths[text], plan.roles[text]
        if not p.steps:
            continue
        value: Any
        if role == "object":
            value = {}
        elif role == "blob" and "blob" not in values:
            value = f"{values['stamp']}~".encode()  # a caller that sizes no blob: the stamp
        else:
            value = values[role]
        if role == "object" and _get(args, p.steps) is not None:
            continue
        _set(args, p.steps, value)
    if (plan.spread or "$args" in plan.paths) and not args:
        args = [values["stamp"]]
    return args


def _get(root: Any, steps: tuple[str | int, ...]) -> Any:
    cur = root
    for s in steps:
        if isinstance(s, int) and isinstance(cur, list) and s < len(cur):
            cur = cur[s]
        elif isinstance(s, str) and isinstance(cur, dict) and s in cur:
            cur = cur[s]
        else:
            return None
    return cur


def _set(root: list[Any], steps: tuple[str | int, ...], value: Any) -> None:
    cur: Any = root
    for i, s in enumerate(steps):
        last = i == len(steps) - 1
        nxt: Any = value if last else ({} if isinstance(steps[i + 1], str) else [])
        if isinstance(s, int):
            if not isinstance(cur, list):
                raise Unrunnable(f"the file reads {s} of a non-list")
            while len(cur) <= s:
                cur.append(None)
            if last or not isinstance(cur[s], (dict, list)):
                cur[s] = nxt
            cur = cur[s]
        else:
            if not isinstance(cur, dict):
                raise Unrunnable(f"the file reads .{s} of a value it also uses whole")
            if last or not isinstance(cur.get(s), (dict, list)):
                cur[s] = nxt
            cur = cur[s]


# -- the experiment -------------------------------------------------------------------


@dataclass(slots=True)
class Copy:
    """One received copy matched to a send (``index``) or not (``None``)."""

    peer: str
    event: str
    namespace: str
    index: int | None
    args: tuple[Any, ...]
    verdict: str  # expected, duplicate, leak, may, mismatch
    detail: str = ""


@dataclass(slots=True)
class Experiment:
    """What one event's :data:`MESSAGES` sends caused, per peer (the checks judge it)."""

    event: str
    namespace: str
    sent: int = 0
    sids: dict[str, str] = field(default_factory=dict)  # role -> sid
    #: sid -> role for the peers' sockets in the other namespaces a push reaches
    other_sids: dict[str, str] = field(default_factory=dict)
    rooms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> rooms
    outcomes: list[Outcome] = field(default_factory=list)
    #: per send: the event's name, or ``after EVENT`` for a room probe sent after a join/leave
    tags: list[str] = field(default_factory=list)
    #: (role, index, push position) -> copies received (each must be ExpectedPush.copies)
    got: dict[tuple[str, int, int], int] = field(default_factory=dict)
    copies: list[Copy] = field(default_factory=list)
    acks: dict[int, list[Any] | None] = field(default_factory=dict)
    order: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (role, event)
    stamped: bool = False
    #: blob size -> sends that carried one (the file's ``binary:`` arguments)
    blobs: dict[int, int] = field(default_factory=dict)
    waited: float = 0.0
    complete: bool = True
    note: str = ""
    #: how the server ended connections during the run (role -> Peer.close_reason), empty
    #: when every peer stayed connected
    closed: dict[str, str] = field(default_factory=dict)
    #: the longest the probe's own event loop was held (ms) during the run: a close after a
    #: stall longer than the target's pingTimeout may be the probe's, not the target's
    stall_ms: float = 0.0
    _events: set[tuple[str, str]] | None = None
    _filled: int = 0
    _tasks: list[Any] = field(default_factory=list)
    _cursor: dict[str, int] = field(default_factory=dict)
    _stampless: dict[tuple[str, str, Any], Any] = field(default_factory=dict)

    def role_of(self, sid: str) -> str:
        return next((r for r, s in self.sids.items() if s == sid), self.other_sids.get(sid, sid))

    def pushes(self, i: int) -> tuple[ExpectedPush, ...]:
        return self.outcomes[i].pushes

    def ack(self, i: int) -> ExpectedAck | None:
        return self.outcomes[i].ack


async def experiment(ctx: CheckContext, app: App, spec: EventSpec) -> Experiment:
    """Run (once per target and event, shared by the event's checks) the experiment."""
    key = f"app-experiment {ctx.target.url} {app.source} {spec.namespace} {spec.name}"
    known = ctx.target.triggers.get(key)
    if known is None:
        known = ctx.target.triggers[key] = asyncio.ensure_future(_run(ctx, app, spec))
        first = True
    else:
        first = False
    try:
        result: Experiment = await asyncio.shield(known)
    except Unrunnable:
        raise
    if not first:
        ctx.note(f"judged on the shared experiment of {spec.name!r} (its first check has the wire)")
    return result


def _room_probe(app: App, ns: str) -> EventSpec | None:
    """An event that sends a stamped copy to every member of a room named by an argument."""
    for e in app.namespace(ns).events if app.namespace(ns) else ():
        if e.join is None and e.leave is None:
            hits = [p for p in e.push if p.to is Semantics.ROOM and _ref(p.room) is not None]
            if hits and plan_args(e).roles.get(str(_ref(hits[0].room))) == "room":
                return e
    return None


def _leave_for(app: App, spec: EventSpec) -> EventSpec | None:
    for e in app.namespace(spec.namespace).events:
        if e.leave is not None and _ref(e.leave) is not None:
            return e
    return None


def _join_for(app: App, spec: EventSpec) -> EventSpec | None:
    for e in app.namespace(spec.namespace).events:
        if e.join is not None and _ref(e.join) is not None:
            return e
    return None


def _builder(values: dict[str, Any], stamp: str) -> Any:
    return lambda e: build_args(plan_args(e), {**values, "stamp": stamp})


def room_probe(app: App, ns: str, room: str,
               values: dict[str, Any] | None = None) -> tuple[EventSpec, Edits] | None:
    """An event of ``ns`` that sends a stamped copy to every member of ``room`` (the
    engine says so for the arguments it is given), with the edits that address it."""
    space = app.namespace(ns)
    events = [e for e in (space.events if space else ()) if rooms_.is_room_push(e)]
    vals = values or {"room": room, "rooms": [room], "sid": room, "key": room}
    return rooms_.first(app, events, room, _builder(vals, "wsb~probe~0"), _set, "push")


def membership_plan(app: App, spec: EventSpec, room: str, values: dict[str, Any]
                    ) -> tuple[EventSpec, EventSpec, EventSpec, dict[str, Edits]]:
    """(join, leave, probe, edits by event) for a membership experiment on ``room`` (the
    room the engine says ``spec`` joins or leaves; a template's room included), or
    Unrunnable. The other two events are the first of the file that the engine says join,
    leave and push to that very room."""
    build = _builder(values, "wsb~probe~0")
    events = app.namespace(spec.namespace).events
    found: dict[str, tuple[EventSpec, Edits] | None] = {}
    for kind in ("join", "leave"):
        own = spec.join if kind == "join" else spec.leave
        pool = [spec] if own is not None else [e for e in events if getattr(e, kind) is not None]
        found[kind] = rooms_.first(app, pool, room, build, _set, kind)
    if found["join"] is None or found["leave"] is None:
        missing = "leave" if found["leave"] is None else "join"
        raise Unrunnable(f"repeating {spec.name!r} {MESSAGES} times needs both a join and a "
                         f"leave of its room {room!r}: no event of {spec.namespace} {missing}s "
                         "it (the engine refuses or names another room for every one)")
    probe = room_probe(app, spec.namespace, room, values)
    if probe is None:
        raise Unrunnable(f"no event of {spec.namespace} sends a stamped copy to the members of "
                         f"{room!r}, so whether the sender is in the room cannot be observed")
    (join, jedits), (leave, ledits) = found["join"], found["leave"]  # type: ignore[misc]
    edits = {join.name: jedits, leave.name: ledits, probe[0].name: probe[1]}
    return join, leave, probe[0], edits


def derive_rooms(app: App, spec: EventSpec, run: str, multi: bool
                 ) -> tuple[dict[str, Any], tuple[str, ...], str]:
    """(argument values by role, the rooms ``spec`` targets, a room of the same kind it
    does not target), every room name as the engine resolves the file's template with the
    arguments the check sends (``doc:{$args[0].docId}`` -> ``doc:k-RUN``). Sockets'
    ids are filled in later (``values["sid"]``)."""
    r1, r2, rx = f"r1-{run}", f"r2-{run}", f"rx-{run}"
    values: dict[str, Any] = {"room": r1, "rooms": [r1, r2] if multi else [r1], "sid": "",
                              "key": f"k-{run}"}
    other: dict[str, Any] = {"room": rx, "rooms": [rx], "sid": "", "key": f"kx-{run}"}
    build = _builder(values, f"wsb~{run}~0")
    build_other = _builder(other, f"wsb~{run}~0")
    if spec.join is not None or spec.leave is not None:
        room = rooms_.changed_room(app, spec, build(spec))
        targets: tuple[str, ...] = (room,) if room else (r1,)
        elsewhere = rooms_.changed_room(app, spec, build_other(spec))
    else:
        targets = rooms_.pushed_rooms(app, spec, build(spec)) or ((r1, r2) if multi else (r1,))
        elsewhere = next(iter(rooms_.pushed_rooms(app, spec, build_other(spec))), None)
    return values, targets, elsewhere if elsewhere and elsewhere not in targets else rx


async def _run(ctx: CheckContext, app: App, spec: EventSpec) -> Experiment:
    membership = spec.join is not None or spec.leave is not None
    if not spec.push and spec.ack is None and not membership:
        raise Unrunnable(f"the file declares nothing observable for {spec.name!r} (no push, no ack)")
    ns = spec.namespace
    cycle: tuple[EventSpec, ...] = (spec,)
    run = uuid.uuid4().hex[:8]
    multi = any(p.to in (Semantics.ROOMS, Semantics.ROOMS_OTHERS) for p in spec.push)
    values, targets, elsewhere = derive_rooms(app, spec, run, multi)
    edits: dict[str, Edits] = {}
    if membership:
        join, leave, probe, edits = membership_plan(app, spec, targets[0], values)
        cycle = (join, probe, leave, probe)
    specs = {e.name: e for e in cycle}
    namespaces = tuple(dict.fromkeys(
        [ns, *(p.namespace for e in cycle for p in e.push if p.namespace)]))
    plans = {e.name: plan_args(e) for e in cycle}
    needs_rooms = membership or any(p.to in ROOM_BASED for p in spec.push)
    exp = Experiment(spec.name, ns)
    stalls = _Stalls()
    peers: list[Peer] = []
    try:
        for r in ROLES:
            peers.append(await Peer.open(ctx, namespaces, label=r))
        for r, p in zip(ROLES, peers, strict=True):
            exp.sids[r] = p.sids[ns]
            exp.other_sids.update({p.sids[n]: r for n in namespaces if n != ns})
        # B is in every room the event targets, A in the first (or in none, to join it),
        # C in another room of the same kind (doc:kx-RUN beside doc:k-RUN), D in none
        rooms: dict[str, tuple[str, ...]] = {r: () for r in ROLES}
        if needs_rooms:
            rooms["A"] = () if membership else targets[:1]
            rooms["B"] = targets
            rooms["C"] = (elsewhere,)
            await _setup_rooms(ctx, app, ns, dict(zip(ROLES, peers, strict=True)), rooms)
        exp.rooms = rooms
        view = View([Sock(ns, exp.sids[r], frozenset(rooms[r])) for r in ROLES]
                    + [Sock(n, p.sids[n]) for n in namespaces if n != ns for p in peers])
        values = {**values, "sid": exp.sids["B"]}
        sends: list[tuple[str, list[Any]]] = []
        after = ""
        loop = asyncio.get_running_loop()
        budget = loop.time() + _SLICE
        for i in range(MESSAGES * len(cycle)):
            e = cycle[i % len(cycle)]
            if loop.time() >= budget:
                # the readers run (and the pings are answered) between slices
                await asyncio.sleep(0)
                budget = loop.time() + _SLICE
            stamp = f"wsb~{run}~{i}"
            plan = plans[e.name]
            extra = {"stamp": stamp}
            if plan.binary:
                extra["blob"] = b = blob(stamp, i)
                exp.blobs[len(b)] = exp.blobs.get(len(b), 0) + 1
            args = build_args(plan, {**values, **extra})
            apply(args, edits.get(e.name, ()), _set)
            o = outcome(app, view, ns, exp.sids["A"], e.name, args)
            if o.unknown:
                raise Unrunnable(f"the file does not say what {e.name}{args!r} does: {o.unknown}")
            if o.refused:
                raise Unrunnable(f"the arguments built from the file are refused by it: {o.refused}")
            view = o.view_after or view
            sends.append((e.name, args))
            exp.outcomes.append(o)
            tag = e.name if not membership or e is not cycle[1] else f"after {after}"
            exp.tags.append(tag)
            if e.join is not None or e.leave is not None:
                after = e.name
        exp.stamped = any(f"wsb~{run}~0" in text(p.payload.example()) for p in exp.pushes(0))
        before = {p.label: len(p.events) for p in peers}
        sender = peers[0]
        futures: dict[int, asyncio.Future[list[Any]]] = {}
        exp.sent = len(sends)
        upto, total = [], 0  # expected copies of sends 0..i
        for o in exp.outcomes:
            total += sum(p.copies * len(p.recipients) for p in o.pushes if not p.volatile)
            upto.append(total)
        needed = total

        def gone() -> bool:
            # a connection the server closed decides the verdict (app_family._closed):
            # nothing more to wait for
            return any(p.closed for p in peers)

        def caught_up(j: int) -> bool:
            _match(exp, peers, before, run)
            return gone() or exp._filled >= upto[j] and all(
                f.done() for i, f in futures.items() if i <= j)

        stalled = False
        handed = 0
        for i, (name, args) in enumerate(sends):
            if gone():
                break
            handed = i + 1
            # at most WINDOW sends in flight: wait (bounded) until the effects of send
            # i - WINDOW are in, so neither side's buffers decide the verdict
            if i % 16 == 0:
                await asyncio.sleep(0)  # let the readers run (and answer the heartbeat)
                if i >= WINDOW and not stalled:
                    # one bound for the whole run: what has not come by then is lost, and
                    # waiting again per window would only stretch the run
                    stalled = not await until_any(
                        peers, lambda j=i - WINDOW: caught_up(j), ctx.deliver_within)
            if exp.outcomes[i].ack is not None:
                futures[i] = await sender.ask(name, *args, ns=ns)
            else:
                await sender.emit(name, *args, ns=ns)
        del specs
        started = loop.time()

        def complete() -> bool:
            _match(exp, peers, before, run)
            return gone() or exp._filled >= needed and all(f.done() for f in futures.values())

        exp.complete = await until_any(peers, complete, ctx.deliver_within)
        exp.waited = round(loop.time() - started, 3)
        await ctx.quiet()
        _match(exp, peers, before, run)
        for i, f in futures.items():
            exp.acks[i] = f.result() if f.done() else None
        exp.closed = {p.label: p.close_reason() for p in peers if p.closed}
        if exp.closed:
            exp.note = "the server closed the connection of " + "; ".join(
                f"{r} ({why})" for r, why in exp.closed.items()) + (
                f" after {handed} of {exp.sent} sends")
        return exp
    finally:
        exp.stall_ms = round(stalls.worst * 1000, 1)
        stalls.stop()
        for p in peers:
            await p.close()


class _Stalls:
    """The probe's own event-loop stalls: a ticker that records its worst lateness."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(_TICK)
            self.worst = max(self.worst, loop.time() - t - _TICK)

    def stop(self) -> None:
        self._task.cancel()


async def _setup_rooms(ctx: CheckContext, app: App, ns: str, peers: dict[str, Peer],
                       rooms: dict[str, tuple[str, ...]]) -> None:
    """Join each peer to its rooms through the file's join events, confirmed as it says:
    for each room the first join event the engine says joins that very room (``doc:X``
    through ``subscribe document`` ``X`` where ``join room`` refuses the prefix)."""
    joins = [e for e in app.namespace(ns).events if e.join is not None]
    if not joins:
        raise Unrunnable(f"no event of {ns} joins a room, so the rooms this event sends to "
                         "cannot be set up")
    view = View([Sock(ns, p.sids[ns]) for p in peers.values()])
    pending: list[tuple[Peer, str, Any, EventSpec]] = []
    for role, names in rooms.items():
        peer = peers[role]
        for room in names:
            found = rooms_.first(app, joins, room, _builder(
                {"room": room, "rooms": [room], "sid": room, "key": room}, room), _set, "join")
            if found is None:
                raise Unrunnable(f"no join event of {ns} joins {room!r} (the engine refuses "
                                 f"or names another room for {', '.join(e.name for e in joins)})")
            spec, jedits = found
            jplan = plan_args(spec)
            args = build_args(jplan, {"room": room, "rooms": [room], "sid": room, "key": room,
                                      "stamp": room, "blob": room.encode()})
            apply(args, jedits, _set)
            o = outcome(app, view, ns, peer.sids[ns], spec.name, args)
            if o.unknown or o.refused or not o.changes:
                raise Unrunnable(f"cannot join {room!r} with {spec.name!r}: "
                                 f"{o.unknown or o.refused or 'no membership change'}")
            how = spec.confirmed_by
            if how == "ack":
                pending.append((peer, room, await peer.ask(spec.name, *args, ns=ns), spec))
            else:
                n = len(peer.got(how, ns)) if how != "none" else 0
                await peer.emit(spec.name, *args, ns=ns)
                pending.append((peer, room, n, spec))
            view = o.view_after or view
    for peer, room, token, spec in pending:
        how = spec.confirmed_by
        if how == "ack":
            ok = await peer.until(lambda t=token: t.done(), ctx.deliver_within)
        elif how != "none":
            ok = await peer.until(lambda p=peer, n=token, h=how: len(p.got(h, ns)) > n,
                                  ctx.deliver_within)
        else:
            ok = await _confirm_by_effect(ctx, app, ns, peer, room)
        if not ok:
            ctx.fail(f"{peer.label}: join of {room!r} with {spec.name!r} not confirmed "
                     f"({how}) within {ctx.deliver_within:.1f} s")


async def _confirm_by_effect(ctx: CheckContext, app: App, ns: str, peer: Peer, room: str) -> bool:
    """A join confirmed by nothing: the joiner sends a probe through the room (handled after
    its join on the same connection) and waits until it comes back to it."""
    found = room_probe(app, ns, room)
    if found is None:
        raise Unrunnable(f"joins of {ns} are confirmed by nothing and no event sends to a room "
                         "the joiner is in, so a join cannot be confirmed by its effect")
    e, edits = found
    push = next(p for p in e.push if p.to is Semantics.ROOM)
    probe = f"wsb~probe~{uuid.uuid4().hex[:6]}"
    args = build_args(plan_args(e), {"room": room, "rooms": [room], "sid": room, "key": room,
                                     "stamp": probe, "blob": probe.encode()})
    apply(args, edits, _set)
    await peer.emit(e.name, *args, ns=ns)
    return await peer.until(
        lambda: any(probe in text(list(r.args)) for r in peer.got(push.event, ns)),
        ctx.deliver_within)


def _match(exp: Experiment, peers: Iterable[Peer], before: dict[str, int], run: str) -> None:
    """Place every copy received since the last call (incremental: a cursor per peer)."""
    events = exp._events
    if events is None:
        events = exp._events = {(p.namespace, p.event) for o in exp.outcomes for p in o.pushes}
    for peer in peers:
        role = peer.label
        sid = exp.sids[role]
        start = exp._cursor.get(role, before[role])
        new = peer.events[start:]
        exp._cursor[role] = start + len(new)
        for r in new:
            if r.ack_id is not None and (r.namespace, r.name) in events:
                # the file says the server asks for this ack (wants_ack): answer it
                exp._tasks.append(asyncio.ensure_future(peer.ack(r, "wsbench")))
            if (r.namespace, r.name) not in events:
                continue
            # a push into another namespace (/admin's io.emit reaches /) lands on that
            # namespace's socket of the peer: judge it by that socket's id
            rsid = peer.sids.get(r.namespace, sid)
            tokens = _TOKEN.findall(text(list(r.args)))
            mine = [int(i) for t, i in tokens if t == run]
            if tokens and not mine:
                continue  # another experiment's copy
            if len(set(mine)) > 1:
                # several sends' stamps (e.g. chat's users list carries every joiner's name):
                # none of them says which send this copy answers; placed as a stampless one
                mine = []
            if mine:
                i = mine[0]
                if i >= exp.sent:
                    continue
                cands = [(i, k) for k, p in enumerate(exp.pushes(i))
                         if (p.namespace, p.event) == (r.namespace, r.name)]
                _place(exp, role, rsid, r, cands, cands)
                continue
            key = (role, r.namespace, r.name)
            if key not in exp._stampless:
                every = [(i, k) for i in range(exp.sent) for k, p in enumerate(exp.pushes(i))
                         if (p.namespace, p.event) == (r.namespace, r.name)]
                exp._stampless[key] = ([c for c in every
                                        if rsid in exp.pushes(c[0])[c[1]].recipients], every)
            remaining, every = exp._stampless[key]
            _place(exp, role, rsid, r, remaining, every, stampless=True)


def _place(exp: Experiment, role: str, sid: str, r: Any, remaining: list[tuple[int, int]],
           every: list[tuple[int, int]], stampless: bool = False) -> None:
    for i, k in remaining:
        p = exp.pushes(i)[k]
        if exp.got.get((role, i, k), 0) >= p.copies or sid not in p.recipients:
            continue
        if p.mismatch(r.args) is None:
            exp.got[(role, i, k)] = exp.got.get((role, i, k), 0) + 1
            exp._filled += 0 if p.volatile else 1
            exp.copies.append(Copy(role, r.name, r.namespace, i, r.args, "expected"))
            exp.order.setdefault((role, r.name), []).append(i)
            if stampless and exp.got[(role, i, k)] >= p.copies:
                remaining.remove((i, k))
            return
    fits = [(i, k) for i, k in every if exp.pushes(i)[k].mismatch(r.args) is None]
    if not fits:
        if stampless:
            return  # nothing of this experiment looks like it: another check's traffic
        i, k = every[0] if every else (None, None)
        why = exp.pushes(i)[k].mismatch(r.args) if i is not None and k is not None else None
        exp.copies.append(Copy(role, r.name, r.namespace, i, r.args, "mismatch",
                               why or "no such push"))
        return
    i, k = fits[0]
    p = exp.pushes(i)[k]
    if sid in p.recipients:
        verdict = "duplicate"
    elif sid in p.may:
        verdict = "may"
    else:
        verdict = "leak"
    exp.copies.append(Copy(role, r.name, r.namespace, i, r.args, verdict))
