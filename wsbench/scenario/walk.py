"""Static facts about a scenario's flows, computed once before the run.

:func:`expected_events` — per namespace, the events some expectation names: only those
are searched for a stamp on receipt (the rest are just counted). :func:`max_within` —
the longest ``within``/``ack_timeout`` of the scenario: how long the end-of-run drain
may have to wait for in-flight emits.
"""

from __future__ import annotations

from typing import Any

from wsbench.oracle import Semantics
from wsbench.scenario import model as m
from wsbench.scenario.model import Scenario

__all__ = ["expected_events", "max_within", "walk"]


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
    return {ns: frozenset(events) for ns, events in out.items()}


def max_within(scenario: Scenario) -> float:
    best = 0.0
    for g in scenario.groups:
        for step in walk(g.flow):
            for exp in getattr(step, "expect", ()) or ():
                best = max(best, exp.within)
            if isinstance(step, m.Emit) and step.ack:
                best = max(best, step.ack_timeout)
            within = getattr(step, "within", None)
            if type(step).__name__ == "Notify" and within:
                best = max(best, within)
    return best
