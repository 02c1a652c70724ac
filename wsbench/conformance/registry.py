"""The check catalog: a registry filled by the ``@check`` decorator in ``checks/*.py``.

A check is an ``async def`` taking a :class:`~wsbench.conformance.context.CheckContext`.
It ends OK by returning (optionally a one-line reason), or raises a
:class:`~wsbench.conformance.model.Finding` through the context helpers
(``ctx.fail``, ``ctx.non_strict``, ``ctx.informational``, ``ctx.unimplemented``).

Fault coverage is declared next to the check: ``catches=("room-leak",)`` says this
check FAILS when the reference server runs with ``--fault room-leak``. The generated
docs/conformance.md prints that table, and the test suite proves each line.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsbench.conformance.model import DEFAULT_TIERS, TIER_ORDER, CheckSpec, Tier

if TYPE_CHECKING:
    from wsbench.conformance.context import CheckContext

__all__ = ["Check", "check", "catalog", "select", "CHECK_MODULES", "FAULTS", "ADAPTER_FAULTS"]

CheckFn = Callable[["CheckContext"], Awaitable[str | None]]

CHECK_MODULES: tuple[str, ...] = (
    "eio_handshake",
    "eio_message",
    "eio_heartbeat",
    "eio_upgrade",
    "eio_limits",
    "sio_connect",
    "sio_message",
    "sio_parser",
    "sio_recovery",
    "contract_broadcast",
    "contract_acks",
    "contract_rooms",
    "contract_apps",
    "contract_auth",
    "security",
    "load",
    "cluster",
)

FAULTS: tuple[str, ...] = (
    "broadcast-to-sender",
    "room-leak",
    "multi-room-duplicate",
    "drop-deliveries",
    "reorder",
    "drop-acks",
    "drop-some-acks",
    "late-acks",
    "ignore-leave",
    "accept-bad-token",
    "private-room-join",
    "document-state-wrong-doc",
    "ack-wrong-payload",
)
"""The reference server's ``--fault`` names (docs/events.md "Faults")."""

ADAPTER_FAULTS: tuple[str, ...] = (
    "adapter-double-emit",
    "adapter-drop-remote",
    "adapter-publish-per-room",
)
"""The reference server's Redis adapter faults (need ``--adapter``: caught by the cluster tier)."""


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check: its spec, the faults it catches, and the coroutine function."""

    spec: CheckSpec
    fn: CheckFn
    catches: tuple[str, ...] = ()


_REGISTRY: dict[str, Check] = {}


def check(
    id: str,
    title: str,
    *,
    tier: Tier,
    spec: str,
    official: Iterable[str] = (),
    official_name: str = "",
    notes: str = "",
    needs: Iterable[str] = (),
    catches: Iterable[str] = (),
    timeout: float = 10.0,
    exclusive: bool = False,
) -> Callable[[CheckFn], CheckFn]:
    """Register a check under a unique dotted id."""

    def register(fn: CheckFn) -> CheckFn:
        if id in _REGISTRY:
            raise ValueError(f"duplicate check id {id!r}")
        unknown = set(catches) - set(FAULTS) - set(ADAPTER_FAULTS)
        if unknown:
            raise ValueError(f"check {id!r} names unknown faults {sorted(unknown)}")
        spec_ = CheckSpec(
            id=id,
            title=title,
            tier=tier,
            spec=spec,
            official=tuple(official),
            official_name=official_name,
            notes=notes,
            needs=tuple(needs),
            timeout=timeout,
            exclusive=exclusive,
        )
        _REGISTRY[id] = Check(spec_, fn, tuple(catches))
        return fn

    return register


def _load() -> None:
    for name in CHECK_MODULES:
        importlib.import_module(f"wsbench.conformance.checks.{name}")


def catalog() -> list[Check]:
    """Every registered check, ordered by tier then by registration order."""
    _load()
    order = {tier: i for i, tier in enumerate(TIER_ORDER)}
    checks = list(_REGISTRY.values())
    return sorted(checks, key=lambda c: order[c.spec.tier])  # sort is stable


def select(
    tiers: Iterable[Tier | str] | None = None,
    cases: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> list[Check]:
    """Checks of the given tiers whose id matches a ``cases`` glob and no ``exclude`` glob.

    A glob also matches an official case name (``E1``, ``S27``), like Autobahn's ``cases``.
    No ``tiers``: every tier but ``cluster``, which only a cluster target can run.
    """
    wanted = {Tier(t) for t in tiers} if tiers else set(DEFAULT_TIERS)
    cases = list(cases)
    exclude = list(exclude)

    def matches(c: Check, globs: list[str]) -> bool:
        keys = (c.spec.id, *c.spec.official)
        return any(fnmatch.fnmatchcase(k, g) for g in globs for k in keys)

    return [
        c
        for c in catalog()
        if c.spec.tier in wanted
        and (not cases or matches(c, cases))
        and not (exclude and matches(c, exclude))
    ]


def official_index() -> dict[str, list[str]]:
    """Official case label (``E1``...) -> the ids of the checks carrying it."""
    index: dict[str, list[str]] = {}
    for c in catalog():
        for label in c.spec.official:
            index.setdefault(label, []).append(c.spec.id)
    return index


def fault_index() -> dict[str, list[str]]:
    """Fault name -> ids of the checks that catch it."""
    index: dict[str, list[str]] = {f: [] for f in (*FAULTS, *ADAPTER_FAULTS)}
    for c in catalog():
        for fault in c.catches:
            index[fault].append(c.spec.id)
    return index


def describe(c: Check) -> dict[str, Any]:
    """A JSON-ready description of one check (for docs and the JSON index)."""
    s = c.spec
    return {
        "id": s.id,
        "title": s.title,
        "tier": str(s.tier),
        "spec": s.spec,
        "official": list(s.official),
        "official_name": s.official_name,
        "notes": s.notes,
        "needs": list(s.needs),
        "catches": list(c.catches),
    }
