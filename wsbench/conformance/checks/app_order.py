"""``app.<ns>.<event>.order``: per-sender order with concurrent senders (``conform --app``).

:data:`SENDERS` sockets send the event at the same time, interleaved (each on its own
connection, in bursts of :data:`BURST` sends written at once (one write, so the server
reads a burst together, as from a client that emits several times in one tick), at most
:data:`~wsbench.conformance.checks.app_traffic.WINDOW` sends in flight), in rounds
(below), each send stamped. Two more sockets only listen. Every socket is in every room
the event targets (rooms named by the engine, as for the other app checks), and who must
get which copy is the semantics engine's outcome for that sender. The verdict: at every
recipient, each sender's copies arrive in that sender's order; how copies of different
senders interleave is free.

Power. A reordering fault swaps a delivery with the next delivery to the same socket
(reference ``--fault reorder``: a delivery held with probability 0.05 and written after the
next one). The swap is visible only when the two deliveries are copies from the same sender
with nothing else delivered between them; a swap with another sender's copy, or with an
ack, is a legal interleaving. So the check counts its *opportunities*: the pairs of
adjacent deliveries, at every socket, that are copies of one sender's sends with no ack
delivered between them (the peer notes after which event each ack arrived,
:attr:`~wsbench.conformance.peer.Peer.ack_after`; one connection delivers in order, so an
ack between two copies is seen as such). A sender that asks for acks counts too: the copies
of the other senders it gets back to back (``to: all``) are as good as a listener's. A fault that swaps each
delivery with its successor with probability q escapes m opportunities with probability
(1 - q)^m: for q = 0.01 (one delivery in 100) that is < 1 % once m >= 459; the reference
fault (q = 0.05) escapes m = 459 with probability 6e-11. The check is OK only with
m >= :data:`OPPORTUNITIES`, and every run reports m.

Rounds. How many opportunities a send yields is up to the server (and the machine's load):
the two listeners see about 2 x (1 - 1/L) per send for runs of mean length L of one
sender at the recipient, and on a loaded machine the server may alternate its senders'
reads so finely that L < 2 (measured: 200 from 462 sends). So the check sends in rounds
until m >= :data:`OPPORTUNITIES`: a first round of :data:`MESSAGES` sends (an event whose
copies reach a single counting socket, ``to: socket``, ``to: sender``, 924: about 2 x 460
copies reach it), each next round waited on until every copy of the previous one arrived
and sized by the rate seen so far (what is missing, a quarter more, at least
:data:`MIN_ROUND`). Whether to go on depends on m alone (a swap seen only ends the
rounds early, FAILED), so a fault escapes an OK with (1 - q)^m for the m >= 459 it was
given, as above. Bounded: at most :data:`CAP_FACTOR` times the first
round's sends in all (no round either when the rate seen would not give half of 459 even
at that cap), and no round is started that would end (at the pace of the rounds before)
later than :data:`ROUNDS_WITHIN` s (scaled) after the check's start; a run that stops
there short of 459 (or whose copies did not all arrive) is INFORMATIONAL with m and why.
A server may drop the copies of a ``volatile:`` push (the Node twin drops most of a burst
while its transport is not writable: 110 of 2310 arrived, 4 opportunities): then the check
says how many volatile copies arrived, and stays INFORMATIONAL. ``details.rounds`` lists the sends per round. Measured on the reference server with
reference.yaml: 680-1600 opportunities from the first round per behaviour (request ack,
whose sender asks an ack per send and so counts only its own copies: 434, one more round).
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from typing import Any

from wsbench.app.engine import Sock, View, outcome
from wsbench.app.model import App, EventSpec, Semantics
from wsbench.conformance.checks import app_traffic as traffic
from wsbench.conformance.context import CheckContext
from wsbench.conformance.peer import Peer, until_any
from wsbench.oracle.semantics import ROOM_BASED

__all__ = ["BURST", "CAP_FACTOR", "MESSAGES", "MIN_ROUND", "OPPORTUNITIES", "ROUNDS_WITHIN",
           "SENDERS", "run"]

SENDERS = 3
MESSAGES = 462
"""Sends in total (154 per sender): at least 460, as for every app behaviour."""
OPPORTUNITIES = 459
"""Adjacent same-sender deliveries needed: 0.99**459 < 0.01."""
BURST = 8
"""Sends of one sender between two turns of the event loop."""
CAP_FACTOR = 4
"""The sends of all rounds together: at most this many times the first round's."""
MIN_ROUND = 48
"""Sends of a later round at least (16 per sender)."""
ROUNDS_WITHIN = 30.0
"""Seconds (scaled by the run's factor) from the check's start in which a round must end:
no round is started that the previous rounds' pace says would end later."""
LISTENERS = ("L1", "L2")
_TOKEN = re.compile(r"wsb~([0-9a-f]{8})~(\d+)")


def _senders() -> tuple[str, ...]:
    return tuple(f"S{k + 1}" for k in range(SENDERS))


async def run(ctx: CheckContext, app: App, spec: EventSpec) -> str:
    if spec.join is not None or spec.leave is not None:
        ctx.unimplemented(f"{spec.name!r} changes membership: its copies are judged in join/leave "
                          "cycles of one sender, not in concurrent streams")
    ns = spec.namespace
    senders, roles = _senders(), (*_senders(), *LISTENERS)
    namespaces = tuple(dict.fromkeys([ns, *(p.namespace for p in spec.push if p.namespace)]))
    multi = any(p.to in (Semantics.ROOMS, Semantics.ROOMS_OTHERS) for p in spec.push)
    run_id = uuid.uuid4().hex[:8]
    values, targets, _ = traffic.derive_rooms(app, spec, run_id, multi)
    plan = traffic.plan_args(spec)
    exp = traffic.Experiment(spec.name, ns)
    peers: list[Peer] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.t(ROUNDS_WITHIN)
    try:
        for r in roles:
            peers.append(await Peer.open(ctx, namespaces, label=r))
        by_role = dict(zip(roles, peers, strict=True))
        for r, p in by_role.items():
            exp.sids[r] = p.sids[ns]
            exp.other_sids.update({p.sids[n]: r for n in namespaces if n != ns})
        rooms = {r: targets if any(p.to in ROOM_BASED for p in spec.push) else () for r in roles}
        if any(rooms.values()):
            await traffic._setup_rooms(ctx, app, ns, by_role, rooms)
        exp.rooms = rooms
        view = View([Sock(ns, exp.sids[r], frozenset(rooms[r])) for r in roles]
                    + [Sock(n, p.sids[n]) for n in namespaces if n != ns for p in peers])
        values = {**values, "sid": exp.sids[LISTENERS[0]]}
        first = _sends(app, spec, view, exp, plan, values, run_id)
        cap = CAP_FACTOR * first
        sends: list[list[Any]] = []
        who: list[str] = []
        futures: dict[int, asyncio.Future[list[Any]]] = {}
        upto: list[int] = []  # expected copies of sends 0..i
        before = {p.label: len(p.events) for p in peers}

        def prepare(n: int) -> None:
            """Build ``n`` more sends (stamps and indices go on from the last round's)."""
            nonlocal view
            for i in range(len(sends), len(sends) + n):
                s = senders[i % SENDERS]
                extra: dict[str, Any] = {"stamp": f"wsb~{run_id}~{i}"}
                if plan.binary:  # the file's binary: arguments carry a sized, stamped blob
                    extra["blob"] = b = traffic.blob(extra["stamp"], i)
                    exp.blobs[len(b)] = exp.blobs.get(len(b), 0) + 1
                args = traffic.build_args(plan, {**values, **extra})
                o = outcome(app, view, ns, exp.sids[s], spec.name, args)
                if o.unknown or o.refused:
                    ctx.unimplemented(f"cannot send {spec.name!r} as the file builds it: "
                                      f"{o.unknown or o.refused}")
                view = o.view_after or view
                sends.append(args)
                who.append(s)
                exp.outcomes.append(o)
                exp.tags.append(spec.name)
                upto.append((upto[-1] if upto else 0) + sum(
                    p.copies * len(p.recipients) for p in o.pushes if not p.volatile))
            exp.sent = len(sends)
            exp._stampless.clear()  # the stampless copies' candidates include the new sends

        def gone() -> bool:
            return any(p.closed for p in peers)

        def caught_up(j: int) -> bool:
            traffic._match(exp, peers, before, run_id)
            return gone() or exp._filled >= upto[j] and all(
                f.done() for i, f in futures.items() if i <= j)

        stalled = [False]

        async def send_all(s: str, start: int, end: int) -> None:
            peer = by_role[s]
            mine = list(range(start + senders.index(s), end, SENDERS))
            for b in range(0, len(mine), BURST):
                if gone():
                    return
                burst = mine[b:b + BURST]
                if burst[0] >= traffic.WINDOW and not stalled[0]:
                    stalled[0] = not await until_any(
                        peers, functools.partial(caught_up, burst[0] - traffic.WINDOW),
                        ctx.deliver_within)
                # one write per burst: the server reads a sender's burst together, so its
                # copies reach the recipients back to back (opportunities), as they would
                # from a client that emits several times in one tick
                got = await peer.burst(spec.name, [(list(sends[i]), exp.outcomes[i].ack is not None)
                                                   for i in burst], ns=ns)
                for i, fut in zip(burst, got, strict=True):
                    if fut is not None:
                        futures[i] = fut

        rounds: list[int] = []
        n, stop = first, ""
        while True:
            started, start = loop.time(), len(sends)
            prepare(n)
            if start == 0 and not any(f"wsb~{run_id}~0" in repr(p.payload.example())
                                      for p in exp.pushes(0)):
                ctx.unimplemented(f"no push of {spec.name!r} carries the check's stamp")
            await asyncio.gather(*(send_all(s, start, len(sends)) for s in senders))
            rounds.append(n)
            done = await until_any(peers, functools.partial(caught_up, len(sends) - 1),
                                   ctx.deliver_within)
            m = sum(_opportunities(p, before[p.label], run_id, who) for p in peers)
            if gone() or not done or m >= OPPORTUNITIES or _violation(exp, who) is not None:
                break  # judged as it is: closed, incomplete, enough power, or already out of order
            n = _next_round(m, len(sends), cap)
            took = (loop.time() - started) / rounds[-1]
            reach = m * cap // len(sends)
            if n == 0:
                stop = f"the cap of {cap} sends ({CAP_FACTOR} x {first}) is reached"
            elif 2 * reach < OPPORTUNITIES:
                stop = (f"at the rate seen ({m} in {len(sends)} sends) the cap of {cap} sends "
                        f"would give about {reach}")
            elif loop.time() + took * n > deadline:
                stop = (f"another {n} sends would end after the {ctx.t(ROUNDS_WITHIN):.0f} s "
                        "the rounds may take")
            if stop:
                break
        await ctx.quiet()
        traffic._match(exp, peers, before, run_id)
        closed = {p.label: p.close_reason() for p in peers if p.closed}
        if closed:
            ctx.fail("the server closed the connection of " + "; ".join(
                f"{r} ({why})" for r, why in closed.items()) + f" during {len(sends)} sends")
        return _judge(ctx, exp, spec, who, peers, before, run_id, bool(futures), done,
                      rounds, stop)
    finally:
        for p in peers:
            await p.close()


def _next_round(m: int, sent: int, cap: int) -> int:
    """Sends of the next round: what the rate seen so far (``m`` opportunities in ``sent``
    sends) says is missing to :data:`OPPORTUNITIES`, a quarter more, at least
    :data:`MIN_ROUND`, a multiple of :data:`SENDERS`, at most what ``cap`` leaves (0: none)."""
    left = cap - sent
    if left < SENDERS:
        return 0
    want = -(-(OPPORTUNITIES - m) * sent * 5 // (4 * m)) if m else sent
    want = max(MIN_ROUND, SENDERS * -(-want // SENDERS))
    return min(want, left - left % SENDERS)


def _sends(app: App, spec: EventSpec, view: View, exp: traffic.Experiment, plan: Any,
           values: dict[str, Any], run_id: str) -> int:
    """Sends in total: :data:`MESSAGES`, more when a send's copies reach fewer than two
    sockets that can count (an event to one socket, to the sender): then enough sends that
    about ``2 * MESSAGES`` copies reach them."""
    args = traffic.build_args(plan, {**values, "stamp": f"wsb~{run_id}~0"})
    o = outcome(app, view, spec.namespace, exp.sids[_senders()[0]], spec.name, args)
    clean = {exp.sids[r] for r in LISTENERS}
    if o.ack is None:
        clean |= {exp.sids[r] for r in _senders()}
    c = sum(len(p.recipients & clean) for p in o.pushes if not p.volatile)
    if c == 0 or c >= 2:
        return MESSAGES
    return max(MESSAGES, SENDERS * -(-2 * MESSAGES // (c * SENDERS)))


def _opportunities(peer: Peer, start: int, run_id: str, who: list[str]) -> int:
    """Adjacent deliveries to ``peer`` that are copies of one sender's two sends, with no
    ack delivered between them (:attr:`Peer.ack_after`: an ack is delivered after the
    event with that ``seq``)."""
    m, last, last_seq = 0, None, -1
    acks = set(peer.ack_after)
    for r in peer.events[start:]:
        mine = [int(i) for t, i in _TOKEN.findall(traffic.text(list(r.args))) if t == run_id]
        # a copy with several sends' stamps (a users list) is no one send's copy
        cur = (r.namespace, r.name, mine[0]) if len(set(mine)) == 1 and mine[0] < len(who) else None
        if cur is not None and last is not None and cur[:2] == last[:2] and cur[2] != last[2] \
                and who[cur[2]] == who[last[2]] and last_seq not in acks:
            m += 1
        last, last_seq = cur, r.seq
    return m


def _violation(exp: traffic.Experiment, who: list[str]) -> str | None:
    """The first copy that reached a recipient after a later send of its sender, or None."""
    for (role, event), seq in sorted(exp.order.items()):
        last: dict[str, int] = {}
        for i in seq:
            s = who[i]
            if i < last.get(s, -1):
                return (f"{role} got {event!r} of {s}'s send #{i} after its send #{last[s]} "
                        f"({s}'s order is lost; {SENDERS} senders, {exp.sent} sends)")
            last[s] = i
    return None


def _judge(ctx: CheckContext, exp: traffic.Experiment, spec: EventSpec, who: list[str],
           peers: list[Peer], before: dict[str, int], run_id: str, asked: bool,
           done: bool, rounds: list[int], stop: str) -> str:
    checked = sum(len(seq) for seq in exp.order.values())
    at = {p.label: _opportunities(p, before[p.label], run_id, who) for p in peers}
    m = sum(at.values())
    ctx.details.update(sent=exp.sent, senders=SENDERS, copies_checked=checked,
                       opportunities=m, opportunities_at=at, asked_acks=asked,
                       complete=done, rounds=rounds,
                       rooms={k: list(v) for k, v in exp.rooms.items()})
    blobs = ""
    if exp.blobs:
        ctx.details["blobs"] = {str(size): k for size, k in sorted(exp.blobs.items())}
        blobs = ", binary: " + ", ".join(f"{k} of {size} bytes"
                                          for size, k in sorted(exp.blobs.items()))
    bad = _violation(exp, who)
    if bad is not None:
        ctx.fail(bad)
    volatile = sum(p.copies * len(p.recipients) for o in exp.outcomes for p in o.pushes
                   if p.volatile)
    got = sum(n for (_, i, k), n in exp.got.items() if exp.pushes(i)[k].volatile)
    ctx.details["volatile_copies"] = {"expected": volatile, "arrived": got}
    if checked == 0:
        ctx.unimplemented(f"no stamped copy of {spec.name!r} reached a recipient")
    power = 1 - 0.99 ** m
    sent = f"{exp.sent} sends in {len(rounds)} round{'s' if len(rounds) > 1 else ''}"
    if m < OPPORTUNITIES:
        why = f"; no more rounds: {stop}" if stop else (
            "" if done else f"; not every copy arrived within {ctx.deliver_within:.1f} s")
        if got < volatile:  # a volatile copy may be dropped: fewer copies, fewer pairs
            why += (f"; {got} of {volatile} volatile copies arrived (the file's volatile: "
                    "the server may drop them)")
        ctx.informational(
            f"no copy out of its sender's order ({checked} copies of {sent} by "
            f"{SENDERS} concurrent senders{blobs}), but only {m} adjacent deliveries of one sender's "
            f"copies with no ack between them: a 1-in-100 swap would be caught "
            f"with {power:.0%} (>= {OPPORTUNITIES} needed for 99 %){why}")
    return (f"{checked} copies of {sent} by {SENDERS} concurrent senders{blobs}, "
            f"each sender's in its order at every recipient; {m} adjacent same-sender "
            f"deliveries with no ack between them (a 1-in-100 swap caught with {power:.4%})")
