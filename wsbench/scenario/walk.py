"""Static facts about a scenario's flows, computed once before the run.

:func:`expected_events` — per namespace, the events some expectation names: only those
are searched for a stamp on receipt (the rest are just counted). :func:`max_within` —
the longest ``within``/``ack_timeout`` of the scenario: how long the end-of-run drain
may have to wait for in-flight emits.

With an app file (``app:``, :mod:`wsbench.scenario.interpreter` derives expectations from
it): :func:`correlations` — the pushes that carry no client value but the sender's sid
(``user joined`` carrying ``$sender.sid``), per ``(namespace, event)``, with where the
copy carries it; such a copy has no stamp, :func:`correlation_key` reads the sid out of a
received copy and the oracle matches it to the emit (the join) that caused it
(:meth:`~wsbench.oracle.DeliveryOracle.observe_correlated`). A push ``to: sender`` that
copies a client value but can carry no stamp (``document state`` answering ``subscribe
document`` with its ``docId``: a join step sends no stamp) is correlated by that value *and
the receiver* (its place ends with :data:`RECEIVER`): only the subscriber is owed it, so the
key is the pair and a copy of it anywhere else is one no emit explains.
:func:`derived_events` — per namespace, every event a derived expectation, a ``must_not`` or
a ``never:`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsbench.app import App
from wsbench.app.model import PushSpec
from wsbench.app.paths import Template, carried
from wsbench.oracle import Semantics
from wsbench.oracle.stamp import STRING_MARK
from wsbench.scenario import model as m
from wsbench.scenario.model import Scenario

__all__ = [
    "RECEIVER",
    "by_receiver",
    "correlation_key",
    "correlations",
    "disconnect_keyed",
    "origin_key",
    "derived_events",
    "expected_events",
    "max_within",
    "walk",
]


def walk(steps: tuple[Any, ...]):
    for step in steps:
        yield step
        inner = getattr(step, "steps", None)
        if inner:
            yield from walk(inner)


def expected_events(scenario: Scenario) -> dict[str, frozenset[str]]:
    """Per namespace, the events some expectation of the scenario names."""
    out: dict[str, set[str]] = {}
    all_ns = {"/"}
    for g in scenario.groups:
        for step in walk(g.flow):
            if isinstance(step, m.Connect):
                all_ns.update(step.namespaces)
            elif isinstance(step, m.Emit):
                all_ns.add(step.namespace)
    for g in scenario.groups:
        for step in walk(g.flow):
            if isinstance(step, m.Emit):
                for exp in step.expect:
                    if exp.to is Semantics.ALL_NAMESPACES:
                        for ns in all_ns:
                            out.setdefault(ns, set()).add(exp.event)
                    else:
                        out.setdefault(exp.namespace or step.namespace, set()).add(exp.event)
            elif type(step).__name__ == "Notify":
                out.setdefault("/", set()).add("notification")
    for ns, events in derived_events(scenario).items():
        out.setdefault(ns, set()).update(events)
    return {ns: frozenset(events) for ns, events in out.items()}


def max_within(scenario: Scenario) -> float:
    best = 0.0
    for g in scenario.groups:
        for step in walk(g.flow):
            for exp in getattr(step, "expect", ()) or ():
                best = max(best, exp.within)
            if isinstance(step, m.Emit) and step.ack:
                best = max(best, step.ack_timeout)
            if scenario.app is not None and isinstance(step, (m.Emit, m.Join, m.Leave)):
                best = max(best, step.ack_timeout, getattr(step, "within", 0.0))
            within = getattr(step, "within", None)
            if type(step).__name__ == "Notify" and within:
                best = max(best, within)
    return best

Place = tuple[int | str, ...]

#: The last step of a place whose correlation key is (the value there, the receiver)
RECEIVER = "\x1f@receiver"


def _place_of(args: tuple[Template, ...] | None, wanted: Callable[[Any], bool]) -> Place | None:
    """Where the pushed argument list carries exactly a reference ``wanted`` accepts."""

    def find(t: Template, at: Place) -> Place | None:
        if t.kind == "ref":
            return at if wanted(t.value) else None
        for key, sub in t.items:
            got = find(sub, (*at, key))
            if got is not None:
                return got
        return None

    for i, t in enumerate(args or ()):
        got = find(t, (i,))
        if got is not None:
            return got
    return None


def _sid_place(args: tuple[Template, ...] | None) -> Place | None:
    """Where the pushed argument list carries exactly ``$sender.sid``."""
    return _place_of(args, lambda p: p.root == "sender" and p.steps == ("sid",))


def _value_place(args: tuple[Template, ...] | None) -> Place | None:
    """Where the pushed argument list carries exactly a client value (``$args...``)."""
    return _place_of(args, lambda p: p.root == "args")


def _pushes(app: App) -> list[tuple[str, PushSpec]]:
    out: list[tuple[str, PushSpec]] = []
    for ns in app.namespaces:
        for e in ns.events:
            out.extend((ns.name, p) for p in e.push)
    return out


def correlations(app: App | None) -> dict[tuple[str, str], Place]:
    """``(namespace, event)`` -> where its copies carry the sender's sid, for the pushes
    that carry no client value (nothing a stamp could ride); for a push ``to: sender``
    that copies a client value, where it carries the first one, then :data:`RECEIVER`
    (keyed by that value and the receiving socket: ``document state`` by its ``docId``)."""
    out: dict[tuple[str, str], Place] = {}
    if app is None:
        return out
    for home, p in _pushes(app):
        if p.spread:
            continue
        if carried(p.args, p.spread):
            value = _value_place(p.args) if p.to is Semantics.SENDER else None
            if value is not None:
                out.setdefault((p.namespace or home, p.event), (*value, RECEIVER))
            continue
        place = _sid_place(p.args)
        if place is None:
            continue
        key = (p.namespace or home, p.event)
        out.setdefault(key, place)
    return out


def disconnect_keyed(app: App | None) -> frozenset[tuple[str, str]]:
    """``(namespace, event)`` of the pushes a disconnection causes (``disconnect:``) whose
    copies carry no sid to correlate by: such a copy carries what the gone socket's earlier
    emit (its ``if_sent`` event, e.g. /chat's ``join`` username) stamped, and is matched to
    the disconnection by that stamp's id (:func:`origin_key`)."""
    if app is None:
        return frozenset()
    sid_placed = correlations(app)
    return frozenset((ns.name, p.event) for ns in app.namespaces for p in ns.on_disconnect
                     if (ns.name, p.event) not in sid_placed)


def origin_key(namespace: str, event: str, stamp_id: str) -> str:
    """The correlation key of a disconnect push whose copy carries ``stamp_id``."""
    return f"{namespace}\x1f{event}\x1f~{stamp_id}"


def correlation_key(place: Place, namespace: str, event: str, args: Any,
                    receiver: Any = None) -> str | None:
    """The correlation key of a copy (``None``: it does not carry a sid there). A place
    ending with :data:`RECEIVER` keys the value there with ``receiver`` (the receiving
    socket's client; None: no key), and a value that carries a stamp gives no key (that
    copy is judged by its stamp)."""
    by_receiver = bool(place) and place[-1] == RECEIVER
    if by_receiver:
        if receiver is None:
            return None
        place = place[:-1]
    value: Any = list(args)
    for step in place:
        if isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return None
    if not isinstance(value, str):
        return None
    if by_receiver:
        if STRING_MARK in value:
            return None
        return f"{namespace}\x1f{event}\x1f{value}\x1f@{receiver}"
    return f"{namespace}\x1f{event}\x1f{value}"


def by_receiver(place: Place | None) -> bool:
    """Whether ``place`` keys its copies by value and receiver (see :data:`RECEIVER`)."""
    return bool(place) and place[-1] == RECEIVER  # type: ignore[index]


def derived_events(scenario: m.Scenario) -> dict[str, set[str]]:
    """Per namespace, the events derived expectations and negative ones name."""
    out: dict[str, set[str]] = {}
    app = scenario.app
    namespaces = {"/"} | {ns.name for ns in app.namespaces} if app is not None else {"/"}
    for g in scenario.groups:
        for step in walk(g.flow):
            if isinstance(step, m.Emit):
                for mn in step.must_not:
                    out.setdefault(mn.namespace or step.namespace, set()).add(mn.event)
            if app is None or not isinstance(step, (m.Emit, m.Join, m.Leave)):
                continue
            if isinstance(step, m.Emit) and step.expect:
                continue
            spec = app.event(step.namespace, step.event)
            if spec is None:
                continue
            for p in spec.push:
                if p.to is Semantics.ALL_NAMESPACES:
                    for ns in namespaces:
                        out.setdefault(ns, set()).add(p.event)
                else:
                    out.setdefault(p.namespace or step.namespace, set()).add(p.event)
            for n in spec.never:
                out.setdefault(step.namespace, set()).add(n.event)
    if app is not None:  # what a disconnection of a socket of the namespace causes
        for g in scenario.groups:
            for step in walk(g.flow):
                for name in getattr(step, "namespaces", ()) if isinstance(step, m.Connect) else ():
                    spec_ns = app.namespace(name)
                    for p in spec_ns.on_disconnect if spec_ns is not None else ():
                        out.setdefault(p.namespace or name, set()).add(p.event)
    return out
