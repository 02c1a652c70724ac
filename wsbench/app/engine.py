"""The semantics engine: what an app file says one event must cause, as data.

Pure and sans-I/O (no sockets, no clock, no randomness). Both consumers call it: the
check generator of ``wsbench conform --app`` and the scenario interpreter.

API
---
:class:`View` is the caller's membership view: the sockets it knows, by namespace, with
their sids and rooms (:class:`Sock`), plus the joins/leaves it asked for but has not
seen confirmed (``pending``). Build one from the oracle's
:class:`~wsbench.oracle.membership.Membership` with :meth:`View.from_membership`, or by
hand. Views are immutable; ``joined``/``left``/``connected``/``disconnected`` return new
ones.

:func:`outcome` ``(app, view, namespace, sid, event, args)`` -> :class:`Outcome`:

- ``declared`` False: the namespace does not list the event (the server ignores it);
- ``refused``: a refusal condition of the file holds (reason given); then ``ack`` and
  ``pushes`` are the app's refusal signal and nothing else happens;
- ``unknown``: the file does not say what happens (a path it reads is not in the
  arguments, a room that is not a string): a caller reports UNIMPLEMENTED, never FAILED;
- ``changes``: the membership changes (:class:`Change`: join/leave, room, how the server
  confirms it: ``ack``, a push name, or ``none``), applied before the pushes, as
  socket.io handlers do; ``view_after`` is the view with them;
- ``pushes``: one :class:`ExpectedPush` per emit and namespace: the event name, the
  sids that MUST receive it (``recipients``, each exactly ``copies`` times; a
  multi-room send is one copy per socket; sender exclusion applied), those that MAY
  (``may``: a pending join/leave of a target room), the payload expectation
  (:class:`~wsbench.app.paths.Expect`, ``mismatch(args)``) and ``carries`` (where the
  client's values land in the copy, to find a stamp or correlate a copy that carries
  none, such as ``user joined`` carrying the joiner's sid);
- ``ack``: the :class:`ExpectedAck` (``None``: the server never acks this event);
- :meth:`Outcome.must_not` ``(namespace, event)``: the sids of the view that must NOT
  receive that event because of this emit (every known socket that is neither a
  recipient nor a may, plus the file's ``never:`` declarations).

The audience of every push is the oracle's :func:`~wsbench.oracle.semantics.audience`
(one computation of "who gets ``io.to(room)``" in wsbench), on a membership built from the
view with each socket's sid as its client key.

:func:`on_connect` and :func:`on_disconnect` give the same :class:`Outcome` for a
connection (``auth`` pushes) and a disconnection (``user left`` pushes).
:func:`expected_connect` says whether a CONNECT is accepted and with which
CONNECT_ERROR message (auth, claims, unknown namespaces).

Bytes: an argument the file declares ``binary:`` is a value like any other, so a push or
ack that copies it expects the sender's bytes, compared byte for byte
(:meth:`~wsbench.app.paths.Expect.mismatch` names the first differing offset); ``$bytes``
matches any blob the server makes up.

"What the file allows": :func:`traits` describes each declared event (joins, leaves,
acked, addressed by a field, announces, carries the client's message, volatile,
cross-namespace, refusals, binary arguments); :func:`find` lists the events with a capability and, when
none has it, the reason a check would give for UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from wsbench.app.model import (
    AckSpec,
    App,
    Condition,
    ConditionKind,
    EventSpec,
    NamespaceSpec,
    PushSpec,
    Who,
)
from wsbench.app.paths import (
    Carry,
    Context,
    Expect,
    Missing,
    Template,
    args_expect,
    carried,
)
from wsbench.oracle.membership import Membership
from wsbench.oracle.semantics import EXCLUDES_SENDER, ROOM_BASED, Semantics, audience

__all__ = [
    "Change",
    "ConnectResult",
    "EventTraits",
    "ExpectedAck",
    "ExpectedPush",
    "Outcome",
    "Sock",
    "View",
    "expected_ack",
    "expected_connect",
    "find",
    "on_connect",
    "on_disconnect",
    "outcome",
    "traits",
]


# -- the membership view ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sock:
    """One socket the caller knows: its namespace, sid, rooms (not its sid room), user."""

    namespace: str
    sid: str
    rooms: frozenset[str] = frozenset()
    user: Any = None


class View:
    """Sockets by namespace with sids and rooms, plus pending joins/leaves (immutable)."""

    __slots__ = ("_socks", "_pending", "_membership")

    def __init__(
        self, sockets: Iterable[Sock] = (), pending: Iterable[tuple[str, str, str]] = ()
    ) -> None:
        self._socks: dict[tuple[str, str], Sock] = {(s.namespace, s.sid): s for s in sockets}
        #: (namespace, sid, room) whose join or leave is unconfirmed
        self._pending = frozenset(pending)
        self._membership: Membership | None = None

    @classmethod
    def from_membership(cls, m: Membership, user_of: Mapping[Any, Any] | None = None) -> View:
        """The oracle's confirmed membership as a view (pending joins/leaves included)."""
        socks, pending = [], []
        for ns in m.namespaces():
            for client, _ in m.sockets(ns):
                sid = m.sid(client, ns)
                if sid is None:
                    continue
                user = (user_of or {}).get(client)
                socks.append(Sock(ns, sid, m.rooms_of(client, ns), user))
        for s in socks:
            client = m.client_by_sid(s.namespace, s.sid)
            for room in sorted(m.pending_rooms((client, s.namespace))):
                pending.append((s.namespace, s.sid, room))
        return cls(socks, pending)

    def sockets(self) -> tuple[Sock, ...]:
        return tuple(self._socks.values())

    @property
    def pending(self) -> frozenset[tuple[str, str, str]]:
        return self._pending

    def get(self, namespace: str, sid: str) -> Sock | None:
        return self._socks.get((namespace, sid))

    def sids(self, namespace: str) -> frozenset[str]:
        return frozenset(sid for ns, sid in self._socks if ns == namespace)

    def namespaces(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(ns for ns, _ in self._socks))

    def namespaces_of_sid(self, sid: str) -> frozenset[str]:
        return frozenset(ns for ns, s in self._socks if s == sid)

    def connected(self, sock: Sock) -> View:
        return View([*self._socks.values(), sock], self._pending)

    def disconnected(self, namespace: str, sid: str) -> View:
        keep = [s for k, s in self._socks.items() if k != (namespace, sid)]
        return View(keep, {p for p in self._pending if p[:2] != (namespace, sid)})

    def joined(self, namespace: str, sid: str, room: str) -> View:
        return self._with_rooms(namespace, sid, lambda r: r | {room}, room)

    def left(self, namespace: str, sid: str, room: str) -> View:
        return self._with_rooms(namespace, sid, lambda r: r - {room}, room)

    def _with_rooms(self, namespace: str, sid: str, change: Any, room: str) -> View:
        socks = dict(self._socks)
        s = socks.get((namespace, sid))
        if s is not None:
            socks[(namespace, sid)] = replace(s, rooms=frozenset(change(s.rooms)))
        return View(socks.values(), self._pending - {(namespace, sid, room)})

    def membership(self) -> Membership:
        """The oracle's model of this view (client key = sid), built once."""
        if self._membership is None:
            m = Membership()
            for s in self._socks.values():
                m.connected(s.sid, s.namespace, s.sid)
                for room in s.rooms:
                    m.joined(s.sid, s.namespace, room)
            for ns, sid, room in self._pending:
                if (ns, sid) in self._socks:
                    m.join_requested(sid, ns, room)
            self._membership = m
        return self._membership


# -- outcomes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExpectedPush:
    """One emit the event causes, in one namespace."""

    event: str
    namespace: str
    to: Semantics
    recipients: frozenset[str]  #: sids that must receive it, each exactly ``copies`` times
    may: frozenset[str]  #: sids that may or may not (pending membership of a target room)
    payload: Expect  #: the pushed argument list
    copies: int = 1
    volatile: bool = False  #: copies may be dropped, never duplicated or leaked
    wants_ack: bool = False
    carries: tuple[Carry, ...] = ()
    rooms: tuple[str, ...] = ()  #: the target rooms, for room-based sends
    line: int = 0

    def mismatch(self, args: list[Any] | tuple[Any, ...]) -> str | None:
        """``None`` when a received copy's arguments are what the file says."""
        return self.payload.mismatch(list(args))


@dataclass(frozen=True, slots=True)
class ExpectedAck:
    payload: Expect  #: the ack's argument list
    after_pushes: bool = False  #: arrives after every push of the event to the sender
    line: int = 0

    def mismatch(self, args: list[Any] | tuple[Any, ...]) -> str | None:
        return self.payload.mismatch(list(args))


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  #: join or leave
    namespace: str
    sid: str
    room: str
    confirmed_by: str  #: ack, none, or the name of the push that confirms it


@dataclass(frozen=True, slots=True)
class Outcome:
    namespace: str
    sid: str | None
    event: str
    declared: bool = True
    refused: str | None = None
    unknown: str | None = None
    pushes: tuple[ExpectedPush, ...] = ()
    ack: ExpectedAck | None = None
    changes: tuple[Change, ...] = ()
    view_after: View | None = None
    _must_not: tuple[tuple[str, str, frozenset[str]], ...] = field(default=(), repr=False)

    def must_not(self, namespace: str, event: str) -> frozenset[str]:
        """Sids of the view that must not receive ``event`` in ``namespace`` from this emit."""
        for ns, ev, sids in self._must_not:
            if (ns, ev) == (namespace, event):
                return sids
        return frozenset()

    def must_not_all(self) -> tuple[tuple[str, str, frozenset[str]], ...]:
        """Every (namespace, event, sids) must-not set of this outcome."""
        return self._must_not


def _ctx(view: View, namespace: str, sid: str | None, event: str, args: Any, user: Any,
         connect: Any = None) -> Context:
    sock = view.get(namespace, sid) if sid is not None else None
    if user is None and sock is not None:
        user = sock.user
    return Context(tuple(args), sid, namespace, user, connect, event)


def outcome(
    app: App,
    view: View,
    namespace: str,
    sid: str,
    event: str,
    args: Iterable[Any] = (),
    *,
    user: Any = None,
) -> Outcome:
    """What ``event(*args)`` sent by socket ``sid`` of ``namespace`` must cause."""
    args = tuple(args)
    spec = app.event(namespace, event)
    if spec is None:
        return Outcome(namespace, sid, event, declared=False, view_after=view)
    ctx = _ctx(view, namespace, sid, event, args, user)
    for cond in spec.refuse:
        reason = _violated(cond, ctx, view, app)
        if reason is not None:
            return _refused(app, view, namespace, sid, event, ctx, reason)
    changes: list[Change] = []
    after = view
    for kind, t in (("join", spec.join), ("leave", spec.leave)):
        if t is None:
            continue
        room = t.resolve(ctx)
        if isinstance(room, Missing):
            return Outcome(namespace, sid, event, unknown=f"{kind}: {room}", view_after=view)
        if not isinstance(room.value, str):
            return Outcome(namespace, sid, event, view_after=view,
                           unknown=f"{kind}: the room is {room.value!r}, not a string")
        changes.append(Change(kind, namespace, sid, room.value, spec.confirmed_by))
        after = (after.joined if kind == "join" else after.left)(namespace, sid, room.value)
    pushes: list[ExpectedPush] = []
    for p in spec.push:
        made = _push(app, p, ctx, after, namespace, sid)
        if isinstance(made, str):
            return Outcome(namespace, sid, event, unknown=made, view_after=view)
        pushes.extend(made)
    ack = None
    if spec.ack is not None:
        ack_or = _ack(spec.ack, ctx)
        if isinstance(ack_or, str):
            return Outcome(namespace, sid, event, unknown=ack_or, view_after=view)
        ack = ack_or
    return Outcome(
        namespace, sid, event,
        pushes=tuple(pushes),
        ack=ack,
        changes=tuple(changes),
        view_after=after,
        _must_not=_must_not(pushes, spec, after, namespace, sid),
    )


def on_connect(
    app: App, view: View, namespace: str, sid: str, connect: Any = None, *, user: Any = None
) -> Outcome:
    """What a socket connecting ``namespace`` with CONNECT payload ``connect`` must get."""
    ns = app.namespace(namespace)
    if ns is None:
        return Outcome(namespace, sid, "(connect)", declared=False, view_after=view)
    after = view.connected(Sock(namespace, sid, frozenset(), user))
    ctx = Context((), sid, namespace, user, connect, "(connect)")
    return _lifecycle(app, ns.on_connect, ctx, after, namespace, sid, "(connect)")


def on_disconnect(
    app: App, view: View, namespace: str, sid: str, sent: Iterable[str] = ()
) -> Outcome:
    """What the others must get when socket ``sid`` leaves; ``sent``: events it had sent."""
    ns = app.namespace(namespace)
    if ns is None:
        return Outcome(namespace, sid, "(disconnect)", declared=False, view_after=view)
    ctx = _ctx(view, namespace, sid, "(disconnect)", (), None)
    after = view.disconnected(namespace, sid)
    sent = set(sent)
    specs = tuple(p for p in ns.on_disconnect if p.if_sent is None or p.if_sent in sent)
    return _lifecycle(app, specs, ctx, after, namespace, None, "(disconnect)")


def _lifecycle(app: App, specs: tuple[PushSpec, ...], ctx: Context, after: View,
               namespace: str, sid: str | None, name: str) -> Outcome:
    pushes: list[ExpectedPush] = []
    for p in specs:
        made = _push(app, p, ctx, after, namespace, sid)
        if isinstance(made, str):
            return Outcome(namespace, ctx.sid, name, unknown=made, view_after=after)
        pushes.extend(made)
    return Outcome(namespace, ctx.sid, name, pushes=tuple(pushes), view_after=after,
                   _must_not=_must_not(pushes, None, after, namespace, sid))


def _refused(app: App, view: View, namespace: str, sid: str, event: str, ctx: Context,
             reason: str) -> Outcome:
    signal = app.refusal
    ack, pushes = None, []
    if signal is not None and signal.ack is not None:
        ack = _ack(AckSpec(signal.ack, line=signal.line), ctx)
        ack = None if isinstance(ack, str) else ack
    if signal is not None and signal.push is not None:
        made = _push(app, signal.push, ctx, view, namespace, sid)
        pushes = [] if isinstance(made, str) else made
    return Outcome(namespace, sid, event, refused=reason, ack=ack, pushes=tuple(pushes),
                   view_after=view, _must_not=_must_not(pushes, None, view, namespace, sid))


def _violated(c: Condition, ctx: Context, view: View, app: App) -> str | None:
    v = c.path.resolve(ctx)
    missing = isinstance(v, Missing)
    k = c.kind
    if k is ConditionKind.NOT_ROOM:
        if missing or not _room(v, c.max or app.room_max):
            return f"{c.path} is not a room name (a non-empty string of at most {c.max} chars)"
        return None
    if k is ConditionKind.NOT_ROOMS:
        ok = (not missing and isinstance(v, list) and 1 <= len(v) <= (c.max or 100)
              and all(_room(r, app.room_max) for r in v))
        return None if ok else f"{c.path} is not a list of 1 to {c.max} room names"
    if k is ConditionKind.NOT_OBJECT:
        ok = not missing and isinstance(v, dict) and all(key in v for key in c.keys)
        keys = f" with {', '.join(c.keys)}" if c.keys else ""
        return None if ok else f"{c.path} is not an object{keys}"
    if missing or not isinstance(v, str):
        return None
    if k is ConditionKind.OWN_SID:
        return f"{c.path} is the sender's own id" if v == ctx.sid else None
    if k is ConditionKind.OTHER_SID:
        others = {s.sid for s in view.sockets() if not (s.namespace == ctx.namespace and s.sid == ctx.sid)}
        others.discard(ctx.sid or "")
        return f"{c.path} is the id of another connected socket" if v in others else None
    if k is ConditionKind.FOREIGN_SID:
        where = view.namespaces_of_sid(v)
        return (f"{c.path} is the id of a socket in another namespace only"
                if where and ctx.namespace not in where else None)
    hit = next((p for p in c.prefixes if v.startswith(p)), None)
    return f"{c.path} uses the reserved prefix {hit!r}" if hit is not None else None


def _room(v: Any, limit: int) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit


def _value(t: Template, ctx: Context, what: str) -> Any:
    e = t.resolve(ctx)
    if isinstance(e, Missing):
        return f"{what}: {e}"
    if e.kind != "value":
        return f"{what}: the file gives a pattern, not a value"
    return ("ok", e.value)


def _push(app: App, p: PushSpec, ctx: Context, view: View, namespace: str,
          sid: str | None) -> list[ExpectedPush] | str:
    if p.present is not None and isinstance(p.present.resolve(ctx), Missing):
        return []
    if p.absent is not None and not isinstance(p.absent.resolve(ctx), Missing):
        return []
    if p.spread:
        payload = args_expect(ctx.args)
    else:
        items = []
        for i, t in enumerate(p.args or ()):
            e = t.resolve(ctx)
            if isinstance(e, Missing):
                return f"push {p.event!r}: {e}"
            items.append((i, e))
        payload = Expect("array", None, tuple(items))
    copies = p.repeat_default
    if p.repeat is not None:
        r = p.repeat.resolve(ctx)
        if not isinstance(r, Missing):
            if not isinstance(r.value, int) or isinstance(r.value, bool) or r.value < 0:
                return f"push {p.event!r}: repeat is {r.value!r}, not a count"
            copies = r.value
    rooms: tuple[str, ...] = ()
    to_sid = None
    for key, t in (("room", p.room), ("rooms", p.rooms), ("socket", p.socket)):
        if t is None:
            continue
        got = _value(t, ctx, f"push {p.event!r} {key}")
        if isinstance(got, str):
            return got
        value = got[1]
        if key == "rooms":
            if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
                return f"push {p.event!r}: rooms is {value!r}, not a list of room names"
            rooms = tuple(dict.fromkeys(value))
        elif not isinstance(value, str):
            return f"push {p.event!r}: {key} is {value!r}, not a string"
        elif key == "room":
            rooms = (value,)
        else:
            to_sid = value
    m = view.membership()
    home = p.namespace or namespace
    out = []
    if p.to is Semantics.ALL_NAMESPACES:
        targets = [(ns, Semantics.NAMESPACE_ALL) for ns in _declared_or_seen(app, view)]
    elif home != namespace and p.to in (Semantics.ALL, Semantics.OTHERS):
        targets = [(home, Semantics.NAMESPACE_ALL)]
    else:
        targets = [(home, p.to)]
    carries = carried(p.args, p.spread)
    for ns, sem in targets:
        sender = sid if ns == namespace else None
        got = audience(m, sem, ns, rooms, to_sid, sender)
        recips = frozenset(c for c, _ in got)
        if sem in EXCLUDES_SENDER and sender is not None:
            recips -= {sender}
        may: frozenset[str] = frozenset()
        if sem in ROOM_BASED:
            may = frozenset(s for pns, s, r in view.pending if pns == ns and r in rooms) - recips
            if sem in EXCLUDES_SENDER and sender is not None:
                may -= {sender}
        out.append(ExpectedPush(
            event=p.event, namespace=ns, to=p.to, recipients=recips, may=may, payload=payload,
            copies=copies, volatile=p.volatile, wants_ack=p.wants_ack, carries=carries,
            rooms=rooms, line=p.line,
        ))
    return out


def _declared_or_seen(app: App, view: View) -> list[str]:
    return list(dict.fromkeys([*(ns.name for ns in app.namespaces), *view.namespaces()]))


def _ack(spec: AckSpec, ctx: Context) -> ExpectedAck | str:
    if spec.spread:
        return ExpectedAck(args_expect(ctx.args), spec.after_pushes, spec.line)
    items = []
    for i, t in enumerate(spec.args or ()):
        e = t.resolve(ctx)
        if isinstance(e, Missing):
            return f"ack: {e}"
        items.append((i, e))
    return ExpectedAck(Expect("array", None, tuple(items)), spec.after_pushes, spec.line)


def expected_ack(
    spec: AckSpec,
    namespace: str,
    sid: str | None,
    event: str,
    args: Iterable[Any] = (),
    *,
    user: Any = None,
) -> ExpectedAck | str:
    """The ack ``spec`` says ``event(*args)`` sent by ``sid`` is answered with (a
    scenario's ``expect_ack: {payload}``, resolved with the arguments really sent);
    a str: a path of ``spec`` that is not in the arguments."""
    return _ack(spec, Context(tuple(args), sid, namespace, user, None, event))


def _must_not(pushes: list[ExpectedPush], spec: EventSpec | None, view: View, namespace: str,
              sid: str | None) -> tuple[tuple[str, str, frozenset[str]], ...]:
    out: dict[tuple[str, str], set[str]] = {}
    allowed: dict[tuple[str, str], set[str]] = {}
    for p in pushes:
        key = (p.namespace, p.event)
        allowed.setdefault(key, set()).update(p.recipients | p.may)
    for key, ok in allowed.items():
        out[key] = set(view.sids(key[0])) - ok
    for n in spec.never if spec is not None else ():
        key = (namespace, n.event)
        bad = out.setdefault(key, set())
        everyone = set(view.sids(namespace))
        if n.who is Who.SENDER and sid is not None:
            bad.add(sid)
        elif n.who is Who.OTHERS:
            bad |= everyone - {sid}
        elif n.who is Who.ALL:
            bad |= everyone
        elif n.who is Who.NON_MEMBERS:
            rooms = {r for p in pushes if p.namespace == namespace for r in p.rooms}
            m = view.membership()
            members = {c for c, _ in m.members_of_any(namespace, rooms)} if rooms else set()
            bad |= everyone - members
        bad -= {s for p in pushes if p.namespace == namespace and p.event == n.event
                for s in p.may}
    return tuple((ns, ev, frozenset(s)) for (ns, ev), s in out.items())


# -- connect --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectResult:
    accepted: bool
    message: str | None = None  #: the CONNECT_ERROR ``message`` when refused
    unknown: str | None = None  #: the file does not say


def expected_connect(
    app: App,
    namespace: str,
    *,
    secret: bool = False,
    token: str = "missing",
    claims: Mapping[str, Any] | None = None,
) -> ConnectResult:
    """The CONNECT answer for a token that is ``missing``, ``invalid`` or ``valid``.

    ``secret``: the server runs with a JWT secret (auth on); ``claims`` of a valid token.
    """
    ns = app.namespace(namespace)
    if ns is None:
        if app.unknown_namespace is None:
            return ConnectResult(False, unknown="the file declares no unknown_namespace refusal")
        return ConnectResult(False, app.unknown_namespace)
    if not secret or not ns.auth or app.auth is None:
        return ConnectResult(True)
    if token == "missing":
        return ConnectResult(False, app.auth.missing)
    if token == "invalid":
        return ConnectResult(False, app.auth.invalid)
    have = claims or {}
    for key, want in ns.require_claims:
        if have.get(key) != want or type(have.get(key)) is not type(want):
            if ns.unauthorized is None:
                return ConnectResult(False, unknown="the file declares no 'unauthorized' message")
            return ConnectResult(False, ns.unauthorized)
    return ConnectResult(True)


# -- what the file allows -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventTraits:
    namespace: str
    event: str
    joins: bool
    leaves: bool
    confirmed_by: str
    acked: bool
    ack_exact: bool  #: the ack's payload has no wildcard: its value can be checked
    pushes: tuple[tuple[str, Semantics], ...]
    addressed_by_field: bool  #: a push's room/rooms/socket comes from the arguments
    announces: bool  #: joins/leaves and pushes to that room a copy carrying the sender's sid
    carries_message: bool  #: a push copies a client-supplied value (a stamp can ride it)
    excludes_sender: bool
    multi_room: bool
    volatile: bool
    cross_namespace: bool
    refusals: tuple[ConditionKind, ...]
    binary: bool = False  #: some arguments carry bytes (``binary:``)


def traits(app: App) -> tuple[EventTraits, ...]:
    """Every declared event with what the file lets a check do with it."""
    return tuple(_traits(ns, e) for ns in app.namespaces for e in ns.events)


def _traits(ns: NamespaceSpec, e: EventSpec) -> EventTraits:
    def from_args(t: Template | None) -> bool:
        return t is not None and any(path.root == "args" for _, path in t.refs())

    change = e.join or e.leave
    change_refs = {str(p) for _, p in change.refs()} if change is not None else set()

    def announces(p: PushSpec) -> bool:
        if change is None or p.room is None:
            return False
        same_room = {str(x) for _, x in p.room.refs()} == change_refs and bool(change_refs)
        sid_carried = any(path.root == "sender" and path.steps == ("sid",)
                          for t in p.args or () for _, path in t.refs())
        return same_room and sid_carried

    return EventTraits(
        namespace=ns.name,
        event=e.name,
        joins=e.join is not None,
        leaves=e.leave is not None,
        confirmed_by=e.confirmed_by,
        acked=e.ack is not None,
        ack_exact=e.ack is not None and (e.ack.spread or not any(
            _has_wild(t) for t in e.ack.args or ())),
        pushes=tuple((p.event, p.to) for p in e.push),
        addressed_by_field=any(from_args(p.room) or from_args(p.rooms) or from_args(p.socket)
                               for p in e.push),
        announces=any(announces(p) for p in e.push),
        carries_message=any(carried(p.args, p.spread) for p in e.push),
        excludes_sender=any(p.to in EXCLUDES_SENDER for p in e.push),
        multi_room=any(p.to in (Semantics.ROOMS, Semantics.ROOMS_OTHERS) for p in e.push),
        volatile=any(p.volatile for p in e.push),
        cross_namespace=any(p.namespace not in (None, ns.name)
                            or p.to is Semantics.ALL_NAMESPACES for p in e.push),
        refusals=tuple(c.kind for c in e.refuse),
        binary=bool(e.binary),
    )


def _has_wild(t: Template) -> bool:
    return t.kind == "wild" or any(_has_wild(x) for _, x in t.items)


_REASONS = {
    "joins": "no event of the app joins a room (no 'join:')",
    "leaves": "no event of the app leaves a room (no 'leave:')",
    "acked": "no event of the app is acked (every one is fire-and-forget)",
    "ack_exact": "no event's ack has an exact payload (all use wildcards)",
    "addressed_by_field": "no push is addressed by a payload field (room, rooms or socket)",
    "announces": "no join/leave announces the sender's sid to the room",
    "carries_message": "no push carries a value the client sent (a stamp cannot ride it)",
    "excludes_sender": "no push excludes the sender (others, room_others, rooms_others)",
    "multi_room": "no push goes to several rooms at once (rooms, rooms_others)",
    "volatile": "no push is volatile",
    "cross_namespace": "no push reaches another namespace",
    "binary": "no event of the app declares arguments that carry bytes ('binary:')",
}


def find(app: App, capability: str) -> tuple[tuple[EventTraits, ...], str | None]:
    """The events with ``capability`` (an :class:`EventTraits` flag) and, when there are
    none, the reason for UNIMPLEMENTED."""
    if capability not in _REASONS:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(_REASONS)}")
    hits = tuple(t for t in traits(app) if getattr(t, capability))
    return hits, None if hits else f"{app.name}: {_REASONS[capability]}"
