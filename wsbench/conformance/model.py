"""The conformance data model: tiers, verdicts, check specs and results (Autobahn's model).

Every check yields two verdicts, as Autobahn|Testsuite does (research conformance.md §3):

- :class:`Verdict`, the protocol outcome: ``OK`` (strict pass), ``NON-STRICT`` (conformant
  but misses a SHOULD or the canonical behaviour), ``INFORMATIONAL`` (records behaviour the
  spec leaves open; never a failure), ``UNIMPLEMENTED`` (an optional feature the target does
  not offer; not counted), ``FAILED`` (breaks a MUST or the event contract). ``MISSING`` marks
  a check that was selected for another target but not run for this one (matrix cells only).
- :class:`CloseVerdict`, the teardown outcome of checks that expect the server to close:
  ``OK`` (closed within the bound), ``NOT CLOSED`` (still open at the bound: a server may not
  pass by heartbeat timeout, so this is judged well under pingInterval), ``WRONG CODE``,
  ``INFORMATIONAL`` and ``-`` for checks that are not about closing.

Results are plain frozen data: the runner builds them, the writers render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "Tier",
    "Verdict",
    "CloseVerdict",
    "CheckSpec",
    "CheckResult",
    "Finding",
    "TIER_ORDER",
    "DEFAULT_TIERS",
]


class Tier(StrEnum):
    """Groups of checks, selectable with ``--tier``."""

    ENGINEIO = "engineio"
    SOCKETIO = "socketio"
    CONTRACT = "contract"
    SECURITY = "security"
    LOAD = "load"
    CLUSTER = "cluster"


TIER_ORDER: tuple[Tier, ...] = tuple(Tier)
DEFAULT_TIERS: tuple[Tier, ...] = tuple(t for t in Tier if t is not Tier.CLUSTER)
"""What ``wsbench conform`` runs without ``--tier``: the cluster tier only runs on a cluster
(``--cluster`` or ``--target embedded --nodes N``), where it is the default."""


class Verdict(StrEnum):
    """The protocol outcome of one check (Autobahn's ``behavior``)."""

    OK = "OK"
    NON_STRICT = "NON-STRICT"
    INFORMATIONAL = "INFORMATIONAL"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    FAILED = "FAILED"
    MISSING = "MISSING"

    @property
    def passed(self) -> bool:
        """Everything but FAILED passes the gate."""
        return self is not Verdict.FAILED


class CloseVerdict(StrEnum):
    """The teardown outcome of one check (Autobahn's ``behaviorClose``)."""

    OK = "OK"
    NOT_CLOSED = "NOT CLOSED"
    WRONG_CODE = "WRONG CODE"
    INFORMATIONAL = "INFORMATIONAL"
    NONE = "-"


class Finding(Exception):
    """Raised inside a check to end it with a verdict other than OK (or OK with a reason).

    This is control flow inside the runner's boundary only; it never escapes the runner,
    which turns it into a :class:`CheckResult`.
    """

    def __init__(self, verdict: Verdict, reason: str) -> None:
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One entry of the catalog.

    Attributes:
        id: dotted id, e.g. ``eio.handshake.polling.opens-session``.
        title: a behaviour sentence ("opens a session over HTTP long-polling").
        tier: the tier it belongs to.
        spec: the spec section or contract line it enforces.
        official: official suite cases it corresponds to, e.g. ``("E1", "S1")``.
        official_name: the official ``it(...)`` name, when it is an official case.
        notes: what NON-STRICT/INFORMATIONAL mean for this check, or other caveats.
        needs: what the target must offer beyond the wire (``harness``, ``contract``,
            ``jwt``, ``recovery``); checks whose needs are missing are UNIMPLEMENTED.
        timeout: seconds the whole check may take before it is FAILED.
        exclusive: run alone (timing-sensitive or heavy), not alongside other checks.
        last: run after every other check of the run, alone: a check that may kill the
            target (``app.security.malformed-payloads`` sends what crashed servers).
    """

    id: str
    title: str
    tier: Tier
    spec: str
    official: tuple[str, ...] = ()
    official_name: str = ""
    notes: str = ""
    needs: tuple[str, ...] = ()
    timeout: float = 10.0
    exclusive: bool = False
    last: bool = False

    @property
    def area(self) -> str:
        """The id without its last component: the group rows of the matrix."""
        return self.id.rsplit(".", 1)[0]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check against one target.

    Attributes:
        id: the check id.
        verdict: the protocol outcome.
        reason: one line saying why (always set, also for OK).
        close_verdict: the teardown outcome.
        close_code: the WebSocket close code seen, if any.
        time_to_close_ms: from the offending input to the close, if the check measured it.
        duration_ms: wall time of the whole check.
        transcript: the wire log, one rendered line per record.
        details: extra measured values (intervals, counts, ...).
    """

    id: str
    verdict: Verdict
    reason: str
    close_verdict: CloseVerdict = CloseVerdict.NONE
    close_code: int | None = None
    time_to_close_ms: float | None = None
    duration_ms: float = 0.0
    transcript: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": str(self.verdict),
            "close_verdict": str(self.close_verdict),
            "close_code": self.close_code,
            "time_to_close_ms": self.time_to_close_ms,
            "duration": round(self.duration_ms, 1),
            "reason": self.reason,
            "details": self.details,
            "transcript": list(self.transcript),
        }

    @classmethod
    def from_json(cls, case: str, obj: dict[str, Any]) -> CheckResult:
        return cls(
            id=case,
            verdict=Verdict(obj["verdict"]),
            reason=obj.get("reason", ""),
            close_verdict=CloseVerdict(obj.get("close_verdict", "-")),
            close_code=obj.get("close_code"),
            time_to_close_ms=obj.get("time_to_close_ms"),
            duration_ms=float(obj.get("duration", 0.0)),
            transcript=tuple(obj.get("transcript", ())),
            details=dict(obj.get("details", {})),
        )
