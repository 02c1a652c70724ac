"""``app.security.malformed-payloads``: no payload of the wrong shape may kill the server.

For every client event the app file declares, a throwaway socket sends the event with each
payload of :func:`malformed` (``null``, a number, a string, an array, an empty object, a
deeply nested object, the well-formed arguments with one object field missing, and no
arguments at all), then the check judges BY OUTCOME, after each single send:

- a fresh socket still connects and a round trip works within the delivery bound
  (:attr:`~wsbench.conformance.context.CheckContext.deliver_within`, from the handshake):
  the file's echo (an event acked with its own arguments, else one pushed back to the
  sender unchanged: the harness ``message`` -> ``message-back``); without one, the fresh
  CONNECT's answer is the round trip;
- a bystander socket, connected before the first send, is still connected and served.

What the server does with the bad send itself is its business: a refusal, silence or a
closed throwaway connection are all fine. A dead server (the fresh socket cannot connect
or gets no answer) or a dropped bystander is FAILED naming the event and the payload; the
run stops there, since a dead server answers nothing more.

Before judging a send the check waits until the server has handled it: the throwaway's own
echo answered (a server handles one connection's packets in order), or the throwaway's
connection closed, or, without an echo, its CONNECT to an undeclared namespace answered.

Because a crash kills the server for every later check, the check is ``last``
(:class:`~wsbench.conformance.model.CheckSpec`): the runner runs it after every tier.
UNIMPLEMENTED when the file declares no client event.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

from wsbench.app.model import App, EventSpec, Semantics
from wsbench.conformance.checks import app_traffic as traffic
from wsbench.conformance.context import CheckContext
from wsbench.conformance.model import CheckSpec, Finding, Tier, Verdict
from wsbench.conformance.peer import Peer
from wsbench.conformance.registry import Check

__all__ = ["CHECK_ID", "NESTING", "TITLE", "check", "echo_of", "malformed"]

CHECK_ID = "app.security.malformed-payloads"
TITLE = ("every declared event sent with payloads of the wrong shape (null, a number, a string, "
         "an array, {}, deep nesting, a missing field, no arguments) leaves the server alive: a "
         "fresh socket connects and round-trips, other sockets stay connected")
NESTING = 64
"""Depth of the deeply nested object."""


def _nested(depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"leaf": "wsbench"}
    for _ in range(depth - 1):
        out = {"a": out}
    return out


def _missing_fields(args: list[Any]) -> Iterator[tuple[str, list[Any]]]:
    """The well-formed ``args`` with one object field dropped, for every field."""
    for i, arg in enumerate(args):
        if isinstance(arg, dict):
            for key in arg:
                out = copy.deepcopy(args)
                del out[i][key]
                yield f"args[{i}] without {key!r}", out


def malformed(spec: EventSpec, run: str) -> list[tuple[str, list[Any]]]:
    """(label, argument list) for every wrong shape sent with ``spec``."""
    out: list[tuple[str, list[Any]]] = [
        ("null", [None]),
        ("a number", [42]),
        ("a string", [f"wsbench-malformed-{run}"]),
        ("an array", [[1, "two", None]]),
        ("an empty object", [{}]),
        (f"an object nested {NESTING} deep", [_nested(NESTING)]),
    ]
    try:
        good = traffic.build_args(traffic.plan_args(spec), {
            "room": f"wsb-malformed-{run}", "rooms": [f"wsb-malformed-{run}"],
            "sid": f"wsb-malformed-{run}", "key": f"wsb-malformed-{run}",
            "stamp": f"wsb~{run}~0", "blob": b"wsbench"})
    except (traffic.Unrunnable, KeyError):
        good = []
    out.extend(_missing_fields(good))
    out.append(("no arguments", []))
    return out


def echo_of(app: App) -> tuple[EventSpec, str | None] | None:
    """The file's echo: (event, None) when it is acked with its own arguments, (event, push
    event name) when it pushes them back to the sender unchanged; None without one."""
    plain = [s for s in app.events() if s.join is None and s.leave is None and not s.refuse]
    for spec in plain:
        if spec.ack is not None and spec.ack.spread:
            return spec, None
    for spec in plain:
        for p in spec.push:
            if p.to is Semantics.SENDER and p.spread and p.namespace in (None, spec.namespace):
                return spec, p.event
    return None


async def _open(ctx: CheckContext, namespaces: tuple[str, ...], label: str) -> Peer | str:
    """A connected peer, or why not (one line)."""
    try:
        return await Peer.open(ctx, namespaces, label=label)
    except Finding as f:
        if f.verdict is not Verdict.FAILED:
            raise
        return f.reason
    except Exception as exc:  # noqa: BLE001 - a dead server fails in many ways
        return f"{type(exc).__name__}: {exc}"


async def _round_trip(ctx: CheckContext, peer: Peer, echo: tuple[EventSpec, str | None] | None,
                      mark: str) -> bool:
    """The echo answered on ``peer`` within the delivery bound (no echo: True)."""
    if echo is None:
        return not peer.closed
    spec, pushed = echo
    ns = spec.namespace
    try:
        if pushed is None:
            fut = await peer.ask(spec.name, mark, ns=ns)
            return await peer.until(fut.done, ctx.deliver_within) and not fut.cancelled()
        await peer.emit(spec.name, mark, ns=ns)
        return await peer.until(lambda: any(mark in repr(e.args) for e in peer.got(pushed, ns)),
                                ctx.deliver_within)
    except Exception:  # noqa: BLE001 - a send on a closed connection
        return False


async def _settle(ctx: CheckContext, peer: Peer, echo: tuple[EventSpec, str | None] | None,
                  mark: str) -> str:
    """Wait until the server handled what ``peer`` sent before; says how we know."""
    if echo is not None and echo[0].namespace in peer.sids:
        if await _round_trip(ctx, peer, echo, mark):
            return "the throwaway's echo answered"
        return "the throwaway's connection closed" if peer.closed else "no answer to the throwaway"
    try:
        await peer.connect(f"/wsbench-settle-{mark[-6:]}", timeout=ctx.deliver_within / ctx.t(1.0))
        return "the throwaway's next CONNECT answered"
    except Finding:
        return "the throwaway's connection closed" if peer.closed else "no answer to the throwaway"
    except Exception:  # noqa: BLE001
        return "the throwaway's connection closed"


async def _run(app: App, ctx: CheckContext) -> str:
    events = app.events()
    if not events:
        ctx.unimplemented(f"{app.name}: the file declares no client event")
    echo = echo_of(app)
    home = echo[0].namespace if echo is not None else events[0].namespace
    run = uuid.uuid4().hex[:8]
    bystander = await Peer.open(ctx, (home,), label="bystander")
    sent: list[str] = []
    try:
        for spec in events:
            ns = spec.namespace
            for label, args in malformed(spec, run):
                what = f"{spec.namespace} {spec.name!r} with {label} ({args!r:.80})"
                n = len(sent)
                spaces = (ns,) if ns == home else (ns, home)
                t = await _open(ctx, spaces, "throwaway")
                if isinstance(t, str):
                    ctx.details.update(sent=n, last=sent[-1:] or None)
                    ctx.fail(f"the server stopped accepting connections after "
                             f"{sent[-1] if sent else 'the first connect'}: {t}")
                try:
                    try:
                        if spec.ack is not None:
                            await t.ask(spec.name, *args, ns=ns)
                        else:
                            await t.emit(spec.name, *args, ns=ns)
                    except Exception:  # noqa: BLE001 - closed under us: judged below
                        pass
                    sent.append(what)
                    settled = await _settle(ctx, t, echo, f"wsb~{run}~t{n}")
                finally:
                    await t.close()
                fresh = await _open(ctx, (home,), "fresh")
                if isinstance(fresh, str):
                    alive, why = False, f"a fresh socket could not connect: {fresh}"
                else:
                    try:
                        alive = await _round_trip(ctx, fresh, echo, f"wsb~{run}~f{n}")
                        why = "" if alive else (
                            f"a fresh socket connected but its {echo[0].name!r} got no answer "  # type: ignore[index]
                            f"within {ctx.deliver_within:.1f} s")
                    finally:
                        await fresh.close()
                ctx.details.update(sent=len(sent), events=len(events))
                if not alive:
                    gone = f"; the bystander: {bystander.close_reason()}" if bystander.closed else ""
                    ctx.fail(f"the server died after {what} ({settled}): {why}{gone} "
                             f"(send {len(sent)} of the check)")
                if bystander.closed or home in bystander.disconnected:
                    ctx.fail(f"after {what}, an already-connected socket was dropped "
                             f"({bystander.close_reason() or 'DISCONNECT of ' + home})")
                if not await _round_trip(ctx, bystander, echo, f"wsb~{run}~b{n}"):
                    ctx.fail(f"after {what}, an already-connected socket's "
                             f"{echo[0].name!r} got no answer")  # type: ignore[index]
    finally:
        await bystander.close()
    how = (f"{echo[0].name!r} round trip" if echo is not None else "CONNECT answer")
    return (f"{len(sent)} malformed sends over {len(events)} events: after each, a fresh socket "
            f"connected ({how}) and the bystander stayed connected and served")


def check(app: App) -> Check:
    """The check for ``app``: security tier, run last (it may kill the target)."""

    async def run(ctx: CheckContext) -> str:
        return await _run(app, ctx)

    return Check(CheckSpec(CHECK_ID, TITLE, Tier.SECURITY, f"{app.source} (derived)",
                           notes="runs after every other check: a crash kills the target",
                           timeout=180.0, exclusive=True, last=True), run)
