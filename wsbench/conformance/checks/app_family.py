"""Checks generated from an app file: ``wsbench conform --target URL --app FILE``.

With ``--app``, the contract, security and load tiers come from the file instead of the
built-in contract of docs/events.md (the wire tiers stay as they are). :func:`generate`
makes, for every declared event and every behaviour of :data:`BEHAVIOURS`, one check with
the stable id ``app.<namespace>.<event>.<behaviour>`` (namespace ``/`` is ``root``; spaces
become ``-``), so the HTML matrix groups the rows per event. A behaviour the file does not
give enough to run (no ack declared, no push that excludes the sender, no join event to set
up the rooms...) is UNIMPLEMENTED with that reason, never FAILED.

Every behaviour of one event is judged on one shared experiment
(:func:`~wsbench.conformance.checks.app_traffic.experiment`: 460 sends, so a fault on one
message in 100 is caught with 99 % probability); each check's detail states the number
sent. Membership events (``join:``/``leave:``) are exercised as 460 join/leave cycles of the
sender with a member already in the room and a stamped room probe after each change.

Security probes derived from the file: ``app.security.sid-room-hijack`` (a socket that
joins a room named like another socket's id must not thereby read that socket's private
messages; judged by what it receives, whatever the join answered),
``app.security.unknown-namespace``, ``app.security.payload-size``, ``app.security.auth-refusals``
and ``app.security.malformed-payloads`` (:mod:`.app_robustness`: every event with payloads of
the wrong shape must leave the server alive; it runs after every other check).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wsbench.app.engine import Sock, View, expected_connect, outcome
from wsbench.app.model import App, EventSpec, Semantics
from wsbench.conformance.checks import app_order as order
from wsbench.conformance.checks import app_robustness as robustness
from wsbench.conformance.checks import app_traffic as traffic
from wsbench.conformance.checks.app_traffic import MESSAGES, Experiment, Unrunnable
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import CheckSpec, Tier
from wsbench.conformance.peer import Peer, until_any
from wsbench.conformance.registry import Check
from wsbench.conformance.sio import mint_token
from wsbench.oracle.semantics import EXCLUDES_SENDER, ROOM_BASED
from wsbench.protocol.socketio import SioPacketType

__all__ = ["BEHAVIOURS", "Behaviour", "generate", "event_id"]

Judge = Callable[[CheckContext, Experiment, EventSpec], str]


@dataclass(frozen=True, slots=True)
class Behaviour:
    name: str
    tier: Tier
    title: str  #: a sentence with {event}
    applies: Callable[[App, EventSpec], str | None]  #: None: runnable; else why not
    judge: Judge
    #: a behaviour with its own traffic instead of the event's shared experiment
    runs: Callable[[CheckContext, App, EventSpec], Awaitable[str]] | None = None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-") or "_"


def event_id(spec: EventSpec) -> str:
    ns = "root" if spec.namespace == "/" else _slug(spec.namespace)
    return f"app.{ns}.{_slug(spec.name)}"


def _own(exp: Experiment, spec: EventSpec) -> list[int]:
    return [i for i, t in enumerate(exp.tags) if t == spec.name]


def _sent(exp: Experiment, spec: EventSpec) -> str:
    n = len(_own(exp, spec))
    extra = f" (of {exp.sent} sends with the join/leave cycle)" if exp.sent != n else ""
    blobs = ", ".join(f"{k} of {size} bytes" for size, k in sorted(exp.blobs.items()))
    return f"{n} sent{extra}" + (f", binary: {blobs}" if blobs else "")


def _record(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> None:
    ctx.details["sent"] = len(_own(exp, spec))
    ctx.details["sends_total"] = exp.sent
    if exp.blobs:
        ctx.details["blobs"] = {str(size): k for size, k in sorted(exp.blobs.items())}
    ctx.details["waited_s"] = exp.waited
    ctx.details["sids"] = exp.sids
    ctx.details["rooms"] = {k: list(v) for k, v in exp.rooms.items()}
    if exp.note:
        ctx.details["note"] = exp.note


# -- applicability ----------------------------------------------------------------------


def _pushes(app: App, spec: EventSpec) -> str | None:
    if spec.join is not None or spec.leave is not None:
        return None if spec.push else f"{spec.name!r} pushes nothing"
    return None if spec.push else f"the file declares no push for {spec.name!r}"


def _excl(app: App, spec: EventSpec) -> str | None:
    if any(p.to in EXCLUDES_SENDER and p.namespace in (None, spec.namespace) for p in spec.push):
        return None
    return f"no push of {spec.name!r} excludes the sender (others, room_others, rooms_others)"


def _outsider(app: App, spec: EventSpec) -> str | None:
    narrow = (Semantics.SENDER, Semantics.SOCKET, *ROOM_BASED)
    if any(p.to in narrow and p.namespace in (None, spec.namespace) for p in spec.push):
        return None
    return f"every push of {spec.name!r} goes to the whole namespace: nobody may be left out"


def _rooms(app: App, spec: EventSpec) -> str | None:
    plan = traffic.plan_args(spec)
    for p in spec.push:
        if p.to in ROOM_BASED and (p.rooms is not None or (
                p.room is not None and traffic._ref(p.room) is not None
                and plan.roles.get(str(traffic._ref(p.room))) == "room")):
            return None
        if p.to in ROOM_BASED and p.room is not None and p.room.kind == "splice" and any(
                x.root == "args" for _, x in p.room.refs()):
            return None  # a room built from an argument (doc:{$args[0].docId})
    return f"no push of {spec.name!r} goes to a room named by its arguments"


def _multi(app: App, spec: EventSpec) -> str | None:
    if any(p.to in (Semantics.ROOMS, Semantics.ROOMS_OTHERS) for p in spec.push):
        return None
    return f"no push of {spec.name!r} goes to several rooms at once"


def _acked(app: App, spec: EventSpec) -> str | None:
    return None if spec.ack is not None else (
        f"{spec.name!r} is fire-and-forget: the file declares no ack")


def _stamped(app: App, spec: EventSpec) -> str | None:
    if any(p.spread or any(path.root == "args" for t in p.args or () for _, path in t.refs())
           for p in spec.push):
        return None
    return f"no push of {spec.name!r} carries a value the client sent (no stamp to order by)"


def _refusable(app: App, spec: EventSpec) -> str | None:
    if not spec.refuse:
        return f"the file declares no refusal condition for {spec.name!r}"
    if app.refusal is None:
        return (f"{spec.name!r} has refusal conditions, but the file does not say how a refusal "
                "is signalled (top-level refusal: ack and/or push)")
    return None


def _joins(app: App, spec: EventSpec) -> str | None:
    return None if spec.join is not None else f"{spec.name!r} joins no room"


def _leaves(app: App, spec: EventSpec) -> str | None:
    return None if spec.leave is not None else f"{spec.name!r} leaves no room"


# -- judges -----------------------------------------------------------------------------


def _exactly_once(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
    short: dict[str, int] = {}
    want = 0
    for i in _own(exp, spec):
        for k, p in enumerate(exp.pushes(i)):
            if p.volatile:
                continue
            for sid in p.recipients:
                role = exp.role_of(sid)
                want += p.copies
                got = exp.got.get((role, i, k), 0)
                if got < p.copies:
                    short[f"{role} {p.event!r}"] = short.get(f"{role} {p.event!r}", 0) + p.copies - got
    dups = [c for c in exp.copies if c.verdict == "duplicate" and exp.tags[c.index or 0] == spec.name]
    ctx.details["expected_copies"] = want
    ctx.details["missing"] = short
    ctx.details["duplicates"] = len(dups)
    if want == 0:
        ctx.unimplemented(f"no declared recipient among the check's sockets for {spec.name!r}")
    if short or dups:
        parts = [f"{k} missing {n}" for k, n in sorted(short.items())]
        if dups:
            parts.append(f"{len(dups)} duplicate(s), first to {dups[0].peer}")
        ctx.fail(f"{', '.join(parts)} ({_sent(exp, spec)}, {want} copies expected, waited "
                 f"{exp.waited:.1f} s{'; ' + exp.note if exp.note else ''})")
    return f"{want} expected copies each arrived exactly once ({_sent(exp, spec)})"


def _leaks_at(roles: tuple[str, ...], what: str) -> Judge:
    def judge(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
        bad = [c for c in exp.copies if c.verdict == "leak" and c.peer in roles
               and exp.tags[c.index or 0] == spec.name]
        ctx.details["leaks"] = len(bad)
        if bad:
            c = bad[0]
            ctx.fail(f"{len(bad)} copies of {c.event!r} reached {what} ({c.peer}, first from "
                     f"send #{c.index}: {list(c.args)!r:.120}); {_sent(exp, spec)}")
        return f"{what} got none ({_sent(exp, spec)})"
    return judge


def _payload(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
    bad = [c for c in exp.copies if c.verdict == "mismatch" and exp.tags[c.index or 0] == spec.name]
    ctx.details["mismatches"] = len(bad)
    if bad:
        c = bad[0]
        ctx.fail(f"{len(bad)} copies of {c.event!r} differ from the file's payload "
                 f"({c.peer}: {c.detail}); {_sent(exp, spec)}")
    n = sum(1 for c in exp.copies if c.verdict == "expected" and exp.tags[c.index or 0] == spec.name)
    if n == 0:
        ctx.unimplemented(f"no copy of {spec.name!r}'s pushes reached the check's sockets")
    return f"{n} copies match the file's payload ({_sent(exp, spec)})"


def _one_copy(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
    dups = [c for c in exp.copies if c.verdict == "duplicate" and c.peer == "B"]
    if dups:
        ctx.fail(f"B, in every target room, got {len(dups)} extra copies of {dups[0].event!r} "
                 f"(one per room instead of one); {_sent(exp, spec)}")
    return f"B, in {len(exp.rooms.get('B', ()))} target rooms, got one copy each ({_sent(exp, spec)})"


def _ack(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
    own = [i for i in _own(exp, spec) if exp.ack(i) is not None]
    missing = [i for i in own if exp.acks.get(i) is None]
    wrong = [(i, exp.ack(i).mismatch(exp.acks[i])) for i in own  # type: ignore[union-attr]
             if exp.acks.get(i) is not None and exp.ack(i).mismatch(exp.acks[i])]  # type: ignore[union-attr,arg-type]
    ctx.details["acks_missing"] = len(missing)
    ctx.details["acks_wrong"] = len(wrong)
    if missing:
        ctx.fail(f"{len(missing)} of {len(own)} acks of {spec.name!r} never came (first: send "
                 f"#{missing[0]}), waited {exp.waited:.1f} s{'; ' + exp.note if exp.note else ''}")
    if wrong:
        ctx.fail(f"{len(wrong)} acks of {spec.name!r} differ from the file: {wrong[0][1]}")
    return f"{len(own)} acks, each with the declared payload ({_sent(exp, spec)})"


def _membership(kind: str) -> Judge:
    def judge(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> str:
        probes = [i for i, t in enumerate(exp.tags) if t == f"after {spec.name}"]
        if kind == "join":
            short = sum(1 for i in probes for k, p in enumerate(exp.pushes(i))
                        if exp.sids["A"] in p.recipients and exp.got.get(("A", i, k), 0) < 1)
            if short:
                ctx.fail(f"the joiner missed {short} of {len(probes)} room probes sent right "
                         f"after {spec.name!r} on its own connection: the join did not take")
            return f"after each of {len(probes)} {spec.name!r}, the room's probe reached the joiner"
        leaks = [c for c in exp.copies if c.peer == "A" and c.verdict == "leak"
                 and c.index in set(probes)]
        if leaks:
            ctx.fail(f"the leaver still got {len(leaks)} of {len(probes)} room probes sent right "
                     f"after {spec.name!r}: the leave did not take")
        return f"after each of {len(probes)} {spec.name!r}, the room's probe no longer reached the leaver"
    return judge


def _violate(cond: Any, args: list[Any], sids: dict[str, str], stamp: str) -> list[Any] | None:
    """``args`` changed so that ``cond`` holds (None: the check cannot make it hold)."""
    from wsbench.app.model import ConditionKind as K

    steps = cond.path.steps
    if cond.path.root != "args" or not steps:
        return None
    bad: Any
    if cond.kind is K.NOT_ROOM:
        bad = "" if len(stamp) % 2 else "r" * ((cond.max or 128) + 1)
    elif cond.kind is K.NOT_ROOMS:
        bad = []
    elif cond.kind is K.NOT_OBJECT:
        bad = f"not-an-object {stamp}"
    elif cond.kind is K.RESERVED and cond.prefixes:
        bad = f"{cond.prefixes[0]}{stamp}"
    elif cond.kind is K.OTHER_SID:
        bad = sids["B"]
    elif cond.kind is K.OWN_SID:
        bad = sids["A"]
    else:
        return None  # foreign_sid needs a socket of another namespace only
    out = copy.deepcopy(args)
    try:
        traffic._set(out, steps, bad)
    except Unrunnable:
        return None
    return out


async def _refusals(ctx: CheckContext, app: App, spec: EventSpec) -> str:
    """Send the event :data:`MESSAGES` times with each declared condition made to hold in
    turn (the conditions the check can make hold; one it cannot, ``foreign_sid``, is
    skipped and the others fill its turns, so the sends still number :data:`MESSAGES`);
    every send must get the file's refusal signal (its ack, its push to the sender) and
    cause nothing the event does otherwise (none of its pushes reaches anyone)."""
    ns = spec.namespace
    peers = [await Peer.open(ctx, (ns,), label=r) for r in "AB"]
    a, b = peers
    try:
        sids = {"A": a.sids[ns], "B": b.sids[ns]}
        view = View([Sock(ns, s) for s in sids.values()])
        plan = traffic.plan_args(spec)
        run = uuid.uuid4().hex[:8]
        values = {"room": f"r-{run}", "rooms": [f"r-{run}"], "sid": sids["B"], "key": f"k-{run}"}
        sends: list[tuple[list[Any], Any, str]] = []
        skipped: set[str] = set()
        for i in range(MESSAGES * len(spec.refuse)):
            if len(sends) == MESSAGES:
                break
            cond = spec.refuse[i % len(spec.refuse)]
            stamp = f"wsb~{run}~{i}"
            args = _violate(cond, traffic.build_args(plan, {**values, "stamp": stamp}), sids, stamp)
            o = None if args is None else outcome(app, view, ns, sids["A"], spec.name, args)
            if o is None or not o.refused:
                skipped.add(f"{cond.kind} {cond.path}")
                continue
            sends.append((args, o, str(cond.kind)))
        if not sends:
            ctx.unimplemented(f"none of {spec.name!r}'s refusal conditions can be made to hold "
                              f"by the check ({', '.join(sorted(skipped))})")
        normal = {p.event for p in spec.push} - {p.event for o in (sends[0][1],) for p in o.pushes}
        before = {p.label: len(p.events) for p in peers}
        futures = []
        for args, o, _ in sends:
            if o.ack is not None:
                futures.append((o, await a.ask(spec.name, *args, ns=ns)))
            else:
                await a.emit(spec.name, *args, ns=ns)
        want = sum(len(o.pushes) for _, o, _ in sends)
        signal = {p.event for _, o, _ in sends for p in o.pushes}

        def signals() -> list[Any]:
            return [e for e in a.events[before["A"]:] if e.name in signal and e.namespace == ns]

        def done() -> bool:
            return len(signals()) >= want and all(f.done() for _, f in futures)

        await until_any(peers, done, ctx.deliver_within)
        await ctx.quiet()
        kinds = sorted({k for _, _, k in sends})
        ctx.details.update(sent=len(sends), conditions=kinds, skipped=sorted(skipped))
        if any(p.closed for p in peers):
            ctx.fail("the server closed the connection of " + "; ".join(
                f"{p.label} ({p.close_reason()})" for p in peers if p.closed)
                + f" during {len(sends)} refused {spec.name!r}")
        did = [(p.label, e.name) for p in peers for e in p.events[before[p.label]:]
               if e.name in normal and e.namespace == ns]
        if did:
            ctx.fail(f"{len(did)} copies of {did[0][1]!r} reached {did[0][0]} after refused "
                     f"{spec.name!r} ({len(sends)} sent, conditions {', '.join(kinds)}): the "
                     "server did what the event does instead of refusing it")
        missing = [o for o, f in futures if not f.done()]
        if missing:
            ctx.fail(f"{len(missing)} of {len(futures)} refused {spec.name!r} got no ack "
                     f"(the file's refusal ack), waited {ctx.deliver_within:.1f} s")
        wrong = [(o.ack.mismatch(f.result())) for o, f in futures  # type: ignore[union-attr]
                 if o.ack.mismatch(f.result())]  # type: ignore[union-attr]
        if wrong:
            ctx.fail(f"{len(wrong)} refusal acks of {spec.name!r} differ from the file: {wrong[0]}")
        got = signals()
        if len(got) < want:
            ctx.fail(f"the sender got {len(got)} of {want} refusal pushes "
                     f"({', '.join(sorted(signal))}) for {len(sends)} refused {spec.name!r}")
        bad = [e for e in got if all(p.mismatch(e.args) for _, o, _ in sends[:1] for p in o.pushes)]
        if bad:
            ctx.fail(f"a refusal push differs from the file: {bad[0].name!r} {list(bad[0].args)!r:.120}")
        return (f"{len(sends)} sends with a refusal condition holding ({', '.join(kinds)}): each "
                f"refused as the file declares, none did what {spec.name!r} does")
    finally:
        for p in peers:
            await p.close()


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("exactly-once", Tier.CONTRACT,
              "'{event}' reaches each declared recipient exactly once", _pushes, _exactly_once),
    Behaviour("payload", Tier.CONTRACT,
              "every copy '{event}' causes carries the file's payload", _pushes, _payload),
    Behaviour("sender-exclusion", Tier.CONTRACT,
              "'{event}' does not reach its sender where the file excludes it", _excl,
              _leaks_at(("A",), "the sender")),
    Behaviour("no-leak", Tier.CONTRACT,
              "'{event}' reaches no socket outside its audience", _outsider,
              _leaks_at(("D",), "a socket in no room")),
    Behaviour("room-isolation", Tier.CONTRACT,
              "'{event}' to a room does not reach a member of another room", _rooms,
              _leaks_at(("C",), "a member of another room")),
    Behaviour("one-copy", Tier.CONTRACT,
              "'{event}' to several rooms gives a member of all of them one copy", _multi,
              _one_copy),
    Behaviour("ack", Tier.CONTRACT,
              "'{event}' is acked once per send with the file's ack payload", _acked, _ack),
    Behaviour("joins", Tier.CONTRACT,
              "after '{event}' the sender gets the room's messages", _joins, _membership("join")),
    Behaviour("leaves", Tier.CONTRACT,
              "after '{event}' the sender no longer gets the room's messages", _leaves,
              _membership("leave")),
    Behaviour("refusal", Tier.CONTRACT,
              "'{event}' under each declared refusal condition is refused as the file says "
              "and does nothing else", _refusable, lambda ctx, exp, spec: "", _refusals),
    Behaviour("order", Tier.LOAD,
              "'{event}' copies from concurrent senders reach each recipient in each sender's "
              "order", _stamped, lambda ctx, exp, spec: "", order.run),
)


def _closed(ctx: CheckContext, exp: Experiment, spec: EventSpec) -> None:
    """A connection the server closed mid-run is reported as that, not as missing copies.

    The probe answers every Engine.IO ping on arrival (``details.closed`` says how long
    before the close it got the last one). Only when the probe's own event loop was held
    longer than the target's pingTimeout is the close possibly the probe's doing: then the
    verdict is INFORMATIONAL (inconclusive), never FAILED.
    """
    if not exp.closed:
        return
    ctx.details["closed"] = exp.closed
    ctx.details["probe_stall_ms"] = exp.stall_ms
    timeout = ctx.limits.ping_timeout
    if exp.stall_ms >= timeout:
        ctx.informational(
            f"inconclusive: {exp.note}, but the probe's event loop stalled {exp.stall_ms:.0f} "
            f"ms (pingTimeout {timeout} ms), so the close may be the probe's")
    ctx.fail(f"{exp.note} of {spec.name!r} (the probe's event loop stalled at most "
             f"{exp.stall_ms:.0f} ms, pingTimeout {timeout} ms)")


def _event_check(app: App, spec: EventSpec, b: Behaviour) -> Check:
    cid = f"{event_id(spec)}.{b.name}"
    reason = b.applies(app, spec)

    async def run(ctx: CheckContext) -> str:
        if reason is not None:
            ctx.unimplemented(reason)
        if b.runs is not None:
            return await b.runs(ctx, app, spec)
        try:
            exp = await traffic.experiment(ctx, app, spec)
        except Unrunnable as why:
            ctx.unimplemented(str(why))
        _record(ctx, exp, spec)
        _closed(ctx, exp, spec)
        return b.judge(ctx, exp, spec)

    title = b.title.format(event=spec.name)
    where = f"{app.source}:{spec.line} ({spec.namespace} {spec.name!r})"
    return Check(CheckSpec(cid, title, b.tier, where, notes=f"{MESSAGES} sends per behaviour",
                           timeout=60.0, exclusive=True), run)


# -- security probes --------------------------------------------------------------------


def _private(app: App) -> tuple[EventSpec, EventSpec] | None:
    """(private event, join event): an event addressed to a socket by a payload field, and a
    join event whose room is an argument."""
    for spec in app.events():
        plan = traffic.plan_args(spec)
        if "sid" in plan.roles.values() and spec.join is None and spec.leave is None:
            join = traffic._join_for(app, spec)
            if join is not None:
                return spec, join
    return None


async def _hijack(app: App, ctx: CheckContext) -> str:
    found = _private(app)
    if found is None:
        ctx.unimplemented(f"{app.name}: no event is addressed to a socket by a payload field "
                          "together with a join event of its namespace")
    spec, join = found
    ns = spec.namespace
    peers = [await Peer.open(ctx, (ns,), label=r) for r in "ABC"]
    a, b, c = peers
    try:
        jplan = traffic.plan_args(join)
        jargs = traffic.build_args(jplan, {"room": b.sids[ns], "rooms": [b.sids[ns]],
                                           "sid": b.sids[ns], "key": b.sids[ns], "stamp": "x"})
        before = len(c.events)
        if join.confirmed_by == "ack":
            fut = await c.ask(join.name, *jargs, ns=ns)
            await c.until(fut.done, ctx.deliver_within)
            answer: Any = fut.result() if fut.done() else "(no ack)"
        else:
            await c.emit(join.name, *jargs, ns=ns)
            answer = "(not acked)"
            if join.confirmed_by != "none":
                await c.until(lambda: len(c.events) > before, ctx.deliver_within)
                answer = [(e.name, list(e.args)) for e in c.events[before:]][:2]
        # whatever the answer, C's own probe through B's id room (handled after C's join on
        # C's connection) reaching B proves the server handled the join before A sends
        probe = traffic._room_probe(app, ns)
        if probe is not None:
            mark = f"wsb~hijack~{uuid.uuid4().hex[:6]}"
            pargs = traffic.build_args(traffic.plan_args(probe), {
                "room": b.sids[ns], "rooms": [b.sids[ns]], "sid": b.sids[ns], "key": mark,
                "stamp": mark})
            await c.emit(probe.name, *pargs, ns=ns)
            await b.until(lambda: any(mark in repr(e.args) for e in b.events), ctx.deliver_within)
        view = View([Sock(ns, p.sids[ns]) for p in peers])
        plan = traffic.plan_args(spec)
        run = uuid.uuid4().hex[:8]
        n = MESSAGES
        expect_b = 0
        for i in range(n):
            args = traffic.build_args(plan, {"room": b.sids[ns], "rooms": [b.sids[ns]],
                                             "sid": b.sids[ns], "key": run,
                                             "stamp": f"wsb~{run}~{i}"})
            o = outcome(app, view, ns, a.sids[ns], spec.name, args)
            if o.unknown or o.refused:
                ctx.unimplemented(f"cannot send {spec.name!r} to B: {o.unknown or o.refused}")
            if any(c.sids[ns] in p.recipients for p in o.pushes):
                ctx.unimplemented(f"the file says {spec.name!r} to B also reaches C")
            expect_b += sum(1 for p in o.pushes if b.sids[ns] in p.recipients)
            await a.emit(spec.name, *args, ns=ns)

        def mine(peer: Peer) -> int:
            return sum(1 for e in peer.events if f"wsb~{run}~" in repr(e.args))

        await b.until(lambda: mine(b) >= expect_b, ctx.deliver_within)
        await ctx.quiet()
        ctx.details.update(sent=n, join_answer=repr(answer), b_got=mine(b), c_got=mine(c))
        if mine(c):
            ctx.fail(f"C joined a room named like B's id with {join.name!r} (answer "
                     f"{answer!r:.60}) and then read {mine(c)} of {n} of B's {spec.name!r}")
        if mine(b) < expect_b:
            ctx.fail(f"B got {mine(b)} of its {expect_b} {spec.name!r} copies")
        return (f"C asked to join B's id room ({answer!r:.60}) and read none of {n} "
                f"{spec.name!r} to B")
    finally:
        for p in peers:
            await p.close()


async def _unknown_namespace(app: App, ctx: CheckContext) -> str:
    ns = f"/wsbench-undeclared-{uuid.uuid4().hex[:6]}"
    want = expected_connect(app, ns)
    if want.unknown:
        ctx.unimplemented(f"{app.name}: {want.unknown}")
    peer = await Peer.open(ctx, ("/",) if app.namespace("/") else (), label="A")
    try:
        kind, data = await peer.connect(ns)
    finally:
        await peer.close()
    if kind is SioPacketType.CONNECT:
        ctx.fail(f"CONNECT to the undeclared {ns} was accepted")
    message = data.get("message") if isinstance(data, dict) else data
    if message != want.message:
        ctx.non_strict(f"refused, but with {message!r} instead of the file's {want.message!r}")
    return f"CONNECT to {ns} refused with {message!r}"


async def _auth_refusals(app: App, ctx: CheckContext) -> str:
    """Every namespace the file puts behind ``auth``: no token and a bad one are refused."""
    guarded = [ns.name for ns in app.namespaces if ns.auth]
    if app.auth is None or not guarded:
        ctx.unimplemented(f"{app.name}: the file declares no auth on any namespace")
    if not ctx.target.jwt_secret:
        ctx.unimplemented(f"{app.name}: the file declares auth; give --jwt-secret to check it")
    bad = mint_token(ctx.target.jwt_secret + "-not", {"userId": "wsbench-bad-signature"})
    said = []
    for ns in guarded:
        for token, auth in (("missing", None), ("invalid", {"token": bad})):
            want = expected_connect(app, ns, secret=True, token=token)
            peer = await Peer.open(ctx, (), label=f"{token}-token")
            try:
                kind, data = await peer.connect(ns, auth)
            finally:
                await peer.close()
            if kind is SioPacketType.CONNECT:
                ctx.fail(f"CONNECT to {ns} with a {token} token was accepted "
                         f"(the file says: refused with {want.message!r})")
            message = data.get("message") if isinstance(data, dict) else data
            if message != want.message:
                ctx.non_strict(f"{ns}, {token} token: refused with {message!r} instead of the "
                               f"file's {want.message!r}")
            said.append(f"{ns} {token}: {message!r}")
    return "refused: " + ", ".join(said)


async def _payload_size(app: App, ctx: CheckContext) -> str:
    ns, event = None, None
    for spec in app.events():
        if spec.ack is not None and spec.ack.spread:
            ns, event = spec.namespace, spec.name
            break
    if event is None:
        ctx.unimplemented(f"{app.name}: no event acks its own arguments to measure with")
    big = "x" * (ctx.limits.max_payload + 1)
    victim = await Peer.open(ctx, (ns,), label="big")
    other = await Peer.open(ctx, (ns,), label="other")
    try:
        await victim.emit(event, big, ns=ns)
        closed = await victim.until(lambda: victim.closed, ctx.close_within)
        fut = await other.ask(event, "still-served", ns=ns)
        served = await other.until(fut.done, ctx.deliver_within)
    finally:
        await victim.close()
        await other.close()
    ctx.details.update(bytes=len(big), closed=closed, others_served=served)
    if not served:
        ctx.fail(f"after a {len(big)}-byte frame, another socket's {event!r} went unanswered")
    if not closed:
        ctx.fail(f"a {len(big)}-byte frame (maxPayload {ctx.limits.max_payload}) did not close "
                 f"the connection within {ctx.close_within:.2f} s")
    return "a frame over maxPayload closed its connection; others still served"


SECURITY: tuple[tuple[str, str, Callable[[App, CheckContext], Awaitable[str]]], ...] = (
    ("sid-room-hijack",
     "a socket that joins a room named like another socket's id reads none of its private "
     "messages", _hijack),
    ("unknown-namespace", "a CONNECT to a namespace the file does not declare is refused",
     _unknown_namespace),
    ("payload-size", "a frame over maxPayload closes that connection and nobody else's",
     _payload_size),
    ("auth-refusals", "a CONNECT without a token, or with a badly signed one, is refused as "
     "the file's auth says", _auth_refusals),
)


def generate(app: App) -> list[Check]:
    """Every app check for ``app``: per declared event x behaviour, then the security probes."""
    out: list[Check] = []
    seen: set[str] = set()
    for spec in app.events():
        for b in BEHAVIOURS:
            chk = _event_check(app, spec, b)
            if chk.spec.id in seen:
                continue
            seen.add(chk.spec.id)
            out.append(chk)
    for name, title, fn in SECURITY:
        async def run(ctx: CheckContext, fn: Any = fn) -> str:
            return await fn(app, ctx)

        out.append(Check(CheckSpec(f"app.security.{name}", title, Tier.SECURITY,
                                   f"{app.source} (derived)", timeout=30.0, exclusive=True), run))
    out.append(robustness.check(app))  # last: the runner runs it after every other check
    return out



def catalog_markdown() -> str:
    """The app-generated family for docs/conformance.md (the behaviours and probes)."""
    out = [
        "## App checks (`--app FILE`)\n",
        "`wsbench conform --target URL --app FILE` replaces the `contract`, `security` and "
        "`load` tiers with checks generated from an app file ([apps.md](apps.md)); the wire "
        "tiers stay. Per declared event and behaviour one check `app.<namespace>.<event>."
        "<behaviour>` (namespace `/` is `root`, other characters `-`); the HTML matrix groups "
        "them per event and shows, for each UNIMPLEMENTED one, why it did not run (no ack "
        "declared, no push that excludes the sender, no join event to set the rooms up...). "
        f"Every behaviour of an event is judged on one experiment of {MESSAGES} sends (a fault "
        "hitting 1 message in 100 escapes with probability 0.99^460 < 1 %; each check's reason "
        "and `details.sent` state the number): four sockets (A the sender, B in every target "
        "room, C in another room, D in none), rooms joined through the file's own join event "
        "and confirmed as the file says (its ack, its push to the joiner, or by effect: a "
        "probe the joiner sends through the room comes back), sends pipelined (at most 128 in "
        "flight), each stamped where the file says a client value lands in the copy. What each "
        "send must cause is the semantics engine's outcome; copies without a stamp (`user "
        "joined` carrying the joiner's sid) are matched by the engine's payload expectation. "
        "The run waits on \"every expected copy and ack arrived\" (one delivery bound from the "
        "handshake), then the quiet window. Membership events are sent as join / probe / leave "
        "/ probe cycles of the sender with B already in the room. A room the file builds with a "
        "template (`doc:{$args[0].docId}`) is named by the engine from the arguments sent and "
        "joined through the first join event the engine says joins it (`subscribe document`). "
        "`order` has its own run: 3 senders at once, each sender's copies in its order at "
        "every recipient (interleaving free), sent in rounds until at least 459 adjacent "
        "same-sender deliveries with no ack between them were seen at any socket (a 1-in-100 "
        "swap escapes with < 1 %): a first round of 462 sends (924 when a copy reaches one "
        "socket), then rounds sized by the rate seen, at most 4 x the first round's sends and "
        "none that would end after 30 s (scaled); OK only with the 459, else INFORMATIONAL "
        "saying which bound stopped it (`details.rounds`: sends per round).\n",
        "| behaviour | tier | sentence | runs when the file declares |",
        "| --- | --- | --- | --- |",
    ]
    needs = {
        "exactly-once": "a push", "payload": "a push",
        "sender-exclusion": "a push to others / room_others / rooms_others",
        "no-leak": "a push narrower than the namespace (sender, socket, room...)",
        "room-isolation": "a push to a room named by an argument",
        "one-copy": "a push to rooms / rooms_others", "ack": "an ack",
        "joins": "join: (and a leave and a room push of the namespace)",
        "leaves": "leave: (and a join and a room push of the namespace)",
        "order": "a push carrying a client value (3 concurrent senders)",
        "refusal": "refuse: conditions and the top-level refusal signal",
    }
    for b in BEHAVIOURS:
        out.append(f"| `{b.name}` | {b.tier} | {b.title.format(event='EVENT')} | "
                   f"{needs.get(b.name, '-')} |")
    out.append("")
    out.append("| probe | sentence |")
    out.append("| --- | --- |")
    for name, title, _ in SECURITY:
        out.append(f"| `app.security.{name}` | {title} |")
    out.append(f"| `{robustness.CHECK_ID}` | {robustness.TITLE} (runs last) |")
    out.append("")
    out.append(
        "`app.security.sid-room-hijack` is judged by outcome: whatever the join answered, the "
        "socket that asked to join a room named like another socket's id must receive none of "
        f"{MESSAGES} private messages to that socket (the engine's audience before the join). "
        "`--app scenarios/apps/reference.yaml` against the reference server or its Node twin: "
        "0 FAILED, and each `--fault` of the table below is caught by the app check naming "
        "the behaviour (tests/conformance/test_app.py).\n")
    out.append(
        f"`{robustness.CHECK_ID}` sends every declared event with payloads of the wrong shape "
        "and judges each send by outcome: a fresh socket must connect and round-trip the file's "
        "echo within the delivery bound, and a bystander must stay connected; a dead server "
        "or a dropped bystander is FAILED naming the event and payload. A crash kills the "
        "target for every later check, so this check runs LAST, after every tier "
        "(`CheckSpec.last`); the seed's own server fails it (tests/targets/README.md).\n")
    return "\n".join(out)
